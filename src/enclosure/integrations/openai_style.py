"""Plain Python and OpenAI-style tool calls: guard a function, dispatch ``tool_calls``.

No framework needed. ``guard(run, fn)`` (also ``run.tool(fn)``) returns a function
that proposes every call to the run and returns the tool's value, or raises the
coded error (``ToolDenied``, ``ApprovalPending``, ``RunKilled``, ``ToolFailed``).

``dispatch(run, tool_calls)`` (also ``run.dispatch``) takes the ``tool_calls`` of a
Chat Completions assistant message, or the ``function_call`` items of a Responses
API output, as dicts or as the OpenAI SDK's objects, and returns the messages to
send back: ``{"role": "tool", ...}`` or ``{"type": "function_call_output", ...}``.
Refusals and pending approvals come back as text the model can read; a killed run
raises ``RunKilled`` so the caller's loop stops.
"""

from __future__ import annotations

import functools
import inspect
import json
from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from enclosure.errors import RunKilled
from enclosure.integrations._common import model_text

if TYPE_CHECKING:
    from enclosure._run import Run
    from enclosure.models import CallResult

__all__ = ["dispatch", "guard", "tool_output"]

F = TypeVar("F", bound=Callable[..., Any])


def guard(run: Run, fn: F, *, name: str | None = None) -> F:
    """``fn`` behind the enclosure: each call is decided, logged, then run (or not).

    Args:
        run: the run the calls belong to.
        fn: the function; its name (or ``name``) must be a tool in the manifest.
        name: the manifest tool, when it differs from ``fn.__name__``.

    Positional arguments are bound to parameter names, so the policy always sees
    named arguments.
    """
    tool = name or fn.__name__
    signature = inspect.signature(fn)

    def args_of(*args: Any, **kwargs: Any) -> dict[str, Any]:
        bound = signature.bind(*args, **kwargs)
        return dict(bound.arguments)

    if inspect.iscoroutinefunction(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            result = await run.acall(tool, args_of(*args, **kwargs), handler=fn)
            return result.unwrap()

        return cast("F", guarded_async)

    @functools.wraps(fn)
    def guarded(*args: Any, **kwargs: Any) -> Any:
        return run.call(tool, args_of(*args, **kwargs), handler=fn).unwrap()

    return cast("F", guarded)


def tool_output(result: CallResult) -> str:
    """The text a model gets back for one call: the value (JSON unless a string)."""
    if result.status != "executed":
        return model_text(result)
    value = result.value
    if isinstance(value, str):
        return value
    return json.dumps(value, default=str)


def dispatch(
    run: Run,
    tool_calls: Sequence[Any],
    *,
    tools: Mapping[str, Callable[..., Any]] | None = None,
) -> list[dict[str, Any]]:
    """Run each tool call through the enclosure; return the messages for the model.

    Args:
        run: the run the calls belong to.
        tool_calls: Chat Completions ``message.tool_calls`` (``{"id", "function":
            {"name", "arguments"}}``) or Responses API ``function_call`` items
            (``{"type": "function_call", "call_id", "name", "arguments"}``), as
            dicts or SDK objects.
        tools: handlers by tool name; without one, the tool's registered handler.

    Raises:
        RunKilled: the run was killed (by these calls or before); stop the loop.
    """
    out = []
    for item in tool_calls:
        call_id, name, raw, responses = _parse(item)
        text = _one(run, name, raw, (tools or {}).get(name))
        if responses:
            out.append(
                {"type": "function_call_output", "call_id": call_id, "output": text}
            )
        else:
            out.append({"role": "tool", "tool_call_id": call_id, "content": text})
    return out


def _one(run: Run, name: str, raw: str, handler: Callable[..., Any] | None) -> str:
    try:
        args = json.loads(raw or "{}")
    except ValueError:
        return f"[enclosure] {name} was not called: its arguments are not valid JSON"
    if not isinstance(args, dict):
        return f"[enclosure] {name} was not called: its arguments must be a JSON object"
    result = run.call(name, args, handler=handler)
    if result.status == "killed":
        message = result.error.message if result.error else result.decision.reason
        raise RunKilled(message)
    return tool_output(result)


def _field(item: Any, key: str) -> Any:
    if isinstance(item, Mapping):
        return item.get(key)
    return getattr(item, key, None)


def _parse(item: Any) -> tuple[str, str, str, bool]:
    """(call id, tool name, JSON arguments, whether it is a Responses API item)."""
    function = _field(item, "function")
    if function is not None:  # Chat Completions
        return (
            str(_field(item, "id") or ""),
            str(_field(function, "name") or ""),
            str(_field(function, "arguments") or ""),
            False,
        )
    return (  # Responses API function_call
        str(_field(item, "call_id") or _field(item, "id") or ""),
        str(_field(item, "name") or ""),
        str(_field(item, "arguments") or ""),
        True,
    )
