import json
import logging
from typing import Any

import pytest

from enclosure.agent import Dispatcher
from enclosure.agent._rpc import Fault, error_line
from enclosure.testing import make_enclosure


def ask(dispatcher: Dispatcher, message: object) -> dict[str, Any]:
    line = message if isinstance(message, bytes) else json.dumps(message).encode()
    answer = dispatcher.handle(line)
    assert answer is not None
    assert answer.endswith(b"\n")
    assert answer.count(b"\n") == 1
    decoded: dict[str, Any] = json.loads(answer)
    return decoded


def request(
    method: str, params: object = None, request_id: object = 1
) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": request_id, "method": method}
    if params is not None:
        message["params"] = params
    return message


@pytest.fixture
def dispatcher(enc, run) -> Dispatcher:
    return Dispatcher(enc, run, socket="/run/enclosure/agent.sock")


def test_a_call_runs_through_the_run_and_answers_the_call_result(dispatcher, enc, run):
    answer = ask(
        dispatcher, request("tools/call", {"tool": "echo", "args": {"text": "hi"}})
    )
    assert answer["id"] == 1
    result = answer["result"]
    assert result["status"] == "executed"
    assert result["value"] == "HI"
    assert result["decision"]["outcome"] == "allow"
    assert result["receipt"]["run_id"] == run.id
    decisions = enc.log.events(run_id=run.id, kinds={"decision"})
    assert [e.event.tool for e in decisions] == ["echo"]


@pytest.mark.parametrize(
    ("tool", "args", "status", "code"),
    [
        ("off", {}, "blocked", "E-DENIED"),
        ("no_such_tool", {}, "blocked", "E-DENIED"),
        ("lookup", {"key": 5}, "blocked", "E-ARGS-INVALID"),
        ("lookup", [1, 2], "blocked", "E-ARGS-INVALID"),
        ("lookup", "not an object", "blocked", "E-ARGS-INVALID"),
        ("refund", {"amount": 500}, "pending", "E-APPROVAL-PENDING"),
    ],
)
def test_refusals_are_results_and_are_logged(  # noqa: PLR0917 -- fixtures, one row
    dispatcher, enc, run, tool, args, status, code
):
    answer = ask(dispatcher, request("tools/call", {"tool": tool, "args": args}))
    result = answer["result"]
    assert result["status"] == status
    assert result["error"]["code"] == code
    decisions = enc.log.events(run_id=run.id, kinds={"decision"})
    assert [e.event.tool for e in decisions] == [tool]


def test_a_pending_call_names_its_approval(dispatcher):
    params = {"tool": "refund", "args": {"amount": 500}}
    result = ask(dispatcher, request("tools/call", params))["result"]
    assert result["approval_id"].startswith("apr_")


def test_simulated_calls_say_so(dispatcher):
    result = ask(dispatcher, request("tools/call", {"tool": "draft", "args": {}}))[
        "result"
    ]
    assert result["status"] == "simulated"
    assert result["value"]["simulated"] is True


def test_context_reaches_the_run(dispatcher, enc, run):
    params = {"tool": "echo", "args": {"text": "a"}, "context": {"ticket": "T-1"}}
    ask(dispatcher, request("tools/call", params))
    (decision,) = enc.log.events(run_id=run.id, kinds={"decision"})
    assert "T-1" in decision.event.context_excerpt


HOSTILE = [
    (b"{", -32700, "E-RPC-PARSE"),
    (b"\xff\xfe\x00", -32700, "E-RPC-PARSE"),
    (b"[" * 100_000, -32700, "E-RPC-PARSE"),
    (b'{"id": 1' + b"1" * 5000 + b"}", -32700, "E-RPC-PARSE"),
    (b"[]", -32600, "E-RPC-INVALID"),
    (b'[{"jsonrpc": "2.0", "id": 1, "method": "run/info"}]', -32600, "E-RPC-INVALID"),
    (b"42", -32600, "E-RPC-INVALID"),
    (b'"tools/list"', -32600, "E-RPC-INVALID"),
    (b"null", -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": 1}', -32600, "E-RPC-INVALID"),
    (b'{"id": 1, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "1.0", "id": 1, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": 7}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": {}, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": true, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": 1.5, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": 1e400, "method": "run/info"}', -32600, "E-RPC-INVALID"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "tools/delete"}', -32601, "E-RPC-METHOD"),
    (b'{"jsonrpc": "2.0", "id": 1, "method": "__init__"}', -32601, "E-RPC-METHOD"),
]


@pytest.mark.parametrize(("line", "rpc_code", "code"), HOSTILE)
def test_malformed_requests_get_a_coded_error(dispatcher, run, line, rpc_code, code):
    answer = ask(dispatcher, line)
    assert answer["jsonrpc"] == "2.0"
    assert answer["error"]["code"] == rpc_code
    assert answer["error"]["data"]["code"] == code
    assert "Traceback" not in answer["error"]["message"]
    assert run.state.calls == 0


def test_a_long_id_is_refused_not_echoed(dispatcher):
    answer = ask(dispatcher, request("run/info", request_id="x" * 10_000))
    assert answer["id"] is None
    assert answer["error"]["data"]["code"] == "E-RPC-INVALID"


BAD_PARAMS: list[tuple[str, Any]] = [
    ("tools/call", None),
    ("tools/call", []),
    ("tools/call", "echo"),
    ("tools/call", {"args": {}}),
    ("tools/call", {"tool": 42}),
    ("tools/call", {"tool": ""}),
    ("tools/call", {"tool": "x" * 300}),
    ("tools/call", {"tool": "echo", "context": ["a"]}),
    ("tools/call", {"tool": "echo", "approval_id": 5}),
    ("tools/call", {"tool": "echo", "approval_id": "a" * 500}),
    ("tools/call", {"name": "echo", "arguments": {}}),
    ("tools/list", {"all": True}),
    ("run/info", [1]),
    ("run/prompt", "x"),
]


@pytest.mark.parametrize(("method", "params"), BAD_PARAMS)
def test_wrong_params_are_refused_and_nothing_runs(dispatcher, run, method, params):
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": "a", "method": method}
    if params is not None:
        message["params"] = params
    answer = ask(dispatcher, message)
    assert answer["id"] == "a"
    assert answer["error"]["code"] == -32602
    assert answer["error"]["data"]["code"] == "E-RPC-PARAMS"
    assert run.state.calls == 0


def test_notifications_get_no_answer_and_run_nothing(dispatcher, run):
    message = {"jsonrpc": "2.0", "method": "tools/call", "params": {"tool": "echo"}}
    assert dispatcher.handle(json.dumps(message).encode()) is None
    assert run.state.calls == 0


def test_a_call_on_an_ended_run_answers_run_ended(dispatcher, run):
    run.end()
    answer = ask(dispatcher, request("tools/call", {"tool": "echo", "args": {}}))
    assert answer["error"]["code"] == -32000
    assert answer["error"]["data"]["code"] == "E-RUN-ENDED"


def test_a_call_on_a_killed_run_is_a_killed_result(dispatcher, run):
    run.kill("test")
    params = {"tool": "echo", "args": {"text": "a"}}
    result = ask(dispatcher, request("tools/call", params))["result"]
    assert result["status"] == "killed"
    assert result["error"]["code"] == "E-RUN-KILLED"


def test_a_bug_answers_an_internal_error_without_a_traceback(dispatcher, caplog):
    def broken(params):
        raise RuntimeError("secret internals")

    dispatcher._methods["run/info"] = broken
    with caplog.at_level(logging.ERROR, logger="enclosure"):
        answer = ask(dispatcher, request("run/info"))
    assert answer["error"]["code"] == -32603
    assert answer["error"]["data"]["code"] == "E-RPC-INTERNAL"
    assert "secret internals" not in json.dumps(answer)
    assert "run/info" in caplog.text


def test_an_answer_over_the_cap_is_refused_but_the_call_is_logged(enc, run):
    dispatcher = Dispatcher(enc, run, max_message=200)
    params = {"tool": "echo", "args": {"text": "a" * 1000}}
    answer = ask(dispatcher, request("tools/call", params))
    assert answer["error"]["data"]["code"] == "E-RPC-RESULT-TOO-LARGE"
    assert len(enc.log.events(run_id=run.id, kinds={"result"})) == 1


def test_a_value_that_is_not_json_comes_back_as_its_repr(tmp_path):
    with make_enclosure("agent: {name: a}\ntools: {odd: {}}", tmp_path) as enc:

        class Opaque:
            def __repr__(self):
                return "<opaque>"

        @enc.tool()
        def odd():
            return {"set": {1, 2}, "thing": Opaque()}

        dispatcher = Dispatcher(enc, enc.start_run(task="t"))
        params = {"tool": "odd", "args": {}}
        result = ask(dispatcher, request("tools/call", params))["result"]
    assert result["status"] == "executed"
    assert sorted(result["value"]["set"]) == [1, 2]
    assert result["value"]["thing"] == "<opaque>"


def test_tools_list_says_how_each_tool_is_handled(dispatcher):
    tools = {
        t["name"]: t for t in ask(dispatcher, request("tools/list"))["result"]["tools"]
    }
    assert list(tools) == ["echo", "lookup", "draft", "refund", "off", "spare"]
    assert tools["echo"]["description"] == "says it back, louder"
    assert tools["echo"]["effect"] == "read"
    assert tools["echo"]["input_schema"]["properties"]["text"]["type"] == "string"
    assert tools["lookup"]["input_schema"]["required"] == ["key"]
    assert tools["draft"]["simulated"] is True
    assert tools["refund"]["needs_approval"] is False
    assert tools["refund"]["may_need_approval"] is True
    assert tools["off"]["available"] is False


def test_empty_params_are_accepted_for_methods_without_params(dispatcher):
    params: Any
    for params in ({}, []):
        assert "result" in ask(dispatcher, request("tools/list", params))


def test_run_info_reports_the_run_and_its_budget(dispatcher, run):
    ask(dispatcher, request("tools/call", {"tool": "off", "args": {}}))
    info = ask(dispatcher, request("run/info"))["result"]
    assert info["run_id"] == run.id
    assert info["status"] == "running"
    assert info["socket"] == "/run/enclosure/agent.sock"
    assert info["usage"]["calls"] == 1
    assert info["usage"]["denials"] == 1
    assert info["remaining"] == {"calls": 49, "denials": 9}
    assert info["kill_switch"]["max_calls"] == 50
    assert info["compute"]["network"] == "none"


def test_run_prompt_is_the_system_prompt_for_this_socket(dispatcher):
    text = ask(dispatcher, request("run/prompt"))["result"]["prompt"]
    assert "/run/enclosure/agent.sock" in text
    assert "`echo`" in text


def test_error_line_marks_a_hang_up():
    fault = Fault(-32000, "E-RPC-BUSY", "busy", closed=True)
    answer = json.loads(error_line(None, fault))
    assert answer["error"]["data"] == {"code": "E-RPC-BUSY", "closed": True}
