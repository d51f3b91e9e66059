from typing import Any

import anyio
import pytest

from enclosure.errors import UsageError
from enclosure.models import ToolCall
from enclosure.router import HandlerProblem, SchemaProblem, ToolRouter, import_callable
from enclosure.testing import manifest_from

MANIFEST = """
agent: {name: a}
tools:
  echo:
    effect: read
  shout:
    input_schema:
      type: object
      properties: {text: {type: string}}
      required: [text]
"""


def call(tool: str, **args: Any) -> ToolCall:
    return ToolCall(tool=tool, args=args, call_id="c1")


def router() -> ToolRouter:
    return ToolRouter(manifest_from(MANIFEST))


def test_registered_handler_runs_with_args_as_keywords():
    r = router()
    r.register("echo", lambda text: text)
    assert r.execute(call("echo", text="hi")) == "hi"


def test_registering_an_undeclared_tool_is_refused():
    with pytest.raises(UsageError) as exc:
        router().register("nope", lambda: None)
    assert exc.value.code == "E-TOOL-UNDECLARED"


def test_a_second_handler_for_a_tool_is_refused():
    r = router()
    r.register("echo", lambda: None)
    with pytest.raises(UsageError) as exc:
        r.register("echo", lambda: None)
    assert exc.value.code == "E-TOOL-DUPLICATE"


def test_executing_a_tool_without_handler_names_the_fix():
    with pytest.raises(UsageError) as exc:
        router().execute(call("echo"))
    assert exc.value.code == "E-TOOL-NO-HANDLER"


def test_interceptors_wrap_in_registration_order():
    r = router()
    seen: list[str] = []
    r.register("echo", lambda text: seen.append("handler") or text)

    def outer(c: ToolCall, nxt: Any) -> Any:
        seen.append("outer-in")
        value = nxt(c)
        seen.append("outer-out")
        return value

    def inner(c: ToolCall, nxt: Any) -> Any:
        seen.append("inner")
        return nxt(c.model_copy(update={"args": {"text": "changed"}}))

    r.use(outer)
    r.use(inner)
    assert r.execute(call("echo", text="x")) == "changed"
    assert seen == ["outer-in", "inner", "handler", "outer-out"]


def test_async_handlers_need_aexecute_and_sync_ones_run_in_a_thread():
    r = router()

    async def shout(text: str) -> str:
        return text.upper()

    r.register("shout", shout)
    r.register("echo", lambda text: text)
    with pytest.raises(UsageError) as exc:
        r.execute(call("shout", text="a"))
    assert exc.value.code == "E-TOOL-ASYNC"

    async def main() -> tuple[Any, Any]:
        seen: list[str] = []

        async def spy(c: ToolCall, nxt: Any) -> Any:
            seen.append(c.tool)
            return await nxt(c)

        r.use_async(spy)
        with anyio.fail_after(5):
            a = await r.aexecute(call("shout", text="a"))
            b = await r.aexecute(call("echo", text="b"))
        assert seen == ["shout", "echo"]
        return a, b

    assert anyio.run(main) == ("A", "b")


def test_check_args_uses_manifest_schema_and_passes_unknown_tools_to_policy():
    r = router()
    assert not r.check_args(call("shout")).ok
    assert r.check_args(call("shout", text="x")).ok
    assert r.check_args(call("undeclared", anything=1)).ok


def test_handler_schema_is_used_when_manifest_has_none():
    r = router()

    def echo(text: str) -> str:
        return text

    r.register("echo", echo)
    assert not r.check_args(call("echo", other=1)).ok


def test_simulate_uses_simulator_or_returns_a_preview():
    r = router()
    assert r.simulate(call("echo", text="x")) == {
        "simulated": True,
        "tool": "echo",
        "would_call_with": {"text": "x"},
    }
    r.register("echo", lambda text: {"draft": text}, simulator=True)
    assert r.simulate(call("echo", text="x")) == {"draft": "x"}


def test_manifest_handlers_are_imported_and_bad_references_located():
    m = manifest_from("""
        agent: {name: a}
        tools:
          dumps: {handler: "json:dumps"}
    """)
    r = ToolRouter(m)
    assert r.execute(call("dumps", obj=[1])) == "[1]"
    bad = manifest_from("""
        agent: {name: a}
        tools:
          t: {handler: "no_such_module_xyz:f"}
    """)
    with pytest.raises(HandlerProblem) as exc:
        ToolRouter(bad)
    assert exc.value.loc == ("tools", "t", "handler")
    ToolRouter(bad, import_handlers=False)  # check mode does not import


def test_invalid_manifest_schema_is_located():
    m = manifest_from("""
        agent: {name: a}
        tools:
          t: {input_schema: {type: 12}}
    """)
    with pytest.raises(SchemaProblem) as exc:
        ToolRouter(m)
    assert exc.value.loc == ("tools", "t", "input_schema")


@pytest.mark.parametrize("ref", ["json:nope", "json:__doc__", "no_such_module_xyz:f"])
def test_import_callable_refuses_missing_or_non_callable(ref: str):
    with pytest.raises(HandlerProblem):
        import_callable(ref)
