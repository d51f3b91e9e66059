from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from openai.types.chat import ChatCompletionMessageToolCall
from openai.types.responses import (
    ResponseFunctionToolCall,
    ResponseOutputMessage,
    ResponseOutputText,
    ResponseReasoningItem,
)

from enclosure.audit import DecisionEvent
from enclosure.errors import ApprovalPending, RunKilled, ToolDenied
from enclosure.integrations.openai_style import dispatch, guard
from enclosure.testing import make_enclosure

if TYPE_CHECKING:
    from pathlib import Path

    from enclosure import Enclosure

MANIFEST = """
agent: {name: billing}
tools:
  lookup: {effect: read}
  send_email:
    rules:
      - when: "!args.to.endsWith('@customers.example')"
        then: deny
        reason: customers only
    rate: 3/minute
    on_exceed: kill
  refund:
    rules:
      - when: "args.amount > 100"
        then: approve
        reason: large refunds need a human
  draft: {mode: simulate}
"""


@pytest.fixture
def enc(tmp_path: Path) -> Enclosure:
    return make_enclosure(MANIFEST, tmp_path)


sent: list[str] = []


def send_email(to: str, body: str = "") -> dict[str, str]:
    sent.append(to)
    return {"id": f"m{len(sent)}"}


def lookup(key: str) -> str:
    return f"value of {key}"


def refund(amount: float) -> float:
    return amount


def draft(text: str) -> str:
    return "never runs live"


TOOLS = {f.__name__: f for f in (send_email, lookup, refund, draft)}


def decisions(enc: Enclosure) -> list[DecisionEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["decision"])
        if isinstance(e.event, DecisionEvent)
    ]


@pytest.fixture(autouse=True)
def clear_sent():
    sent.clear()


def chat_call(i: int, name: str, **args: Any) -> dict[str, Any]:
    return {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps(args)},
    }


def test_a_guarded_function_runs_when_allowed_and_raises_when_refused(enc):
    with enc.start_run(task="t") as run:
        guarded = guard(run, send_email)
        assert guarded("a@customers.example", body="hi") == {"id": "m1"}
        with pytest.raises(ToolDenied) as denied:
            guarded(to="x@evil.example")
        with pytest.raises(ApprovalPending):
            guard(run, refund)(500)
        assert guard(run, refund)(5) == 5
    assert denied.value.code
    assert sent == ["a@customers.example"]
    assert [(d.tool, d.outcome) for d in decisions(enc)] == [
        ("send_email", "allow"),
        ("send_email", "deny"),
        ("refund", "approve"),
        ("refund", "allow"),
    ]


def test_a_guarded_async_function_is_awaited(enc):
    async def lookup_async(key: str) -> str:
        return key.upper()

    with enc.start_run(task="t") as run:
        guarded = guard(run, lookup_async, name="lookup")
        assert anyio.run(guarded, "k") == "K"


def test_dispatch_answers_chat_completions_tool_calls_in_order(enc):
    calls = [
        chat_call(1, "lookup", key="k"),
        chat_call(2, "send_email", to="x@evil.example"),
        chat_call(3, "refund", amount=500),
        chat_call(4, "draft", text="hello"),
        {"id": "call_5", "function": {"name": "lookup", "arguments": "{not json"}},
        chat_call(6, "unknown_tool"),
    ]
    with enc.start_run(task="t") as run:
        out = dispatch(run, calls, tools=TOOLS)
    assert [m["tool_call_id"] for m in out] == [f"call_{i}" for i in range(1, 7)]
    assert all(m["role"] == "tool" for m in out)
    texts = [m["content"] for m in out]
    assert texts[0] == "value of k"
    assert "refused: customers only" in texts[1]
    assert "needs a human's approval" in texts[2]
    assert "simulated" in texts[3]
    assert "refused: arguments do not match" in texts[4]
    assert "refused" in texts[5]
    assert sent == []


def test_dispatch_takes_the_openai_sdk_objects_and_responses_items(enc):
    chat = ChatCompletionMessageToolCall(
        id="call_a",
        type="function",
        function={"name": "lookup", "arguments": '{"key": "x"}'},
    )
    responses = ResponseFunctionToolCall(
        type="function_call", call_id="fc_1", name="lookup", arguments='{"key": "y"}'
    )
    with enc.start_run(task="t") as run:
        (a,) = dispatch(run, [chat], tools=TOOLS)
        (b,) = dispatch(run, [responses], tools=TOOLS)
    assert a == {"role": "tool", "tool_call_id": "call_a", "content": "value of x"}
    assert b == {
        "type": "function_call_output",
        "call_id": "fc_1",
        "output": "value of y",
    }


def test_a_runaway_loop_sends_three_emails_and_then_stops(enc):
    def loop(run) -> int:
        for i in range(4000):
            try:
                dispatch(run, [chat_call(i, "send_email", to="a@customers.example")])
            except RunKilled:
                return i
        return -1

    with enc.start_run(task="t") as run:
        enc.tool("send_email")(send_email)
        stopped_at = loop(run)
        assert run.status == "killed"
    assert stopped_at == 3
    assert len(sent) == 3


GUARD_MANIFEST = """
agent: {name: billing}
tools:
  refund:
    rules:
      - when: "args.amount > 100"
        then: approve
        reason: large refunds need a human
  send_email:
    rules:
      - when: "has(args.to) && !args.to.endsWith('@customers.example')"
        then: deny
        reason: customers only
  lookup: {effect: read}
  notify: {effect: read}
"""


def test_the_policy_sees_the_defaults_a_guarded_function_runs_with(tmp_path):
    enc = make_enclosure(GUARD_MANIFEST, tmp_path)
    ran: list[Any] = []

    def refund(amount: float = 5000) -> float:
        ran.append(amount)
        return amount

    def send_email(to: str = "ceo@evil.example", body: str = "") -> str:
        ran.append(to)
        return "sent"

    with enc.start_run(task="t") as run:
        with pytest.raises(ApprovalPending):
            guard(run, refund)()
        with pytest.raises(ToolDenied):
            guard(run, send_email)(body="x")
    assert ran == []
    assert [(d.args, d.outcome) for d in decisions(enc)] == [
        ({"amount": 5000}, "approve"),
        ({"to": "ceo@evil.example", "body": "x"}, "deny"),
    ]


def test_star_args_and_keyword_arguments_reach_the_policy_and_the_function(tmp_path):
    enc = make_enclosure(GUARD_MANIFEST, tmp_path)

    def lookup(key: str, /, *more: str, **extra: str) -> dict[str, Any]:
        return {"key": key, "more": list(more), **extra}

    async def notify(*targets: str) -> list[str]:
        return list(targets)

    with enc.start_run(task="t") as run:
        looked = guard(run, lookup)("k", "l", region="eu")
        notified = anyio.run(guard(run, notify), "a", "b")
    assert looked == {"key": "k", "more": ["l"], "region": "eu"}
    assert notified == ["a", "b"]
    assert [d.args for d in decisions(enc)] == [
        {"key": "k", "more": ["l"], "region": "eu"},
        {"targets": ["a", "b"]},
    ]


def test_a_call_that_does_not_fit_the_signature_is_one_refused_decision(tmp_path):
    enc = make_enclosure(GUARD_MANIFEST, tmp_path)
    ran: list[str] = []

    def lookup(key: str) -> str:
        ran.append(key)
        return key

    with enc.start_run(task="t") as run:
        with pytest.raises(ToolDenied) as missing:
            guard(run, lookup)()
        with pytest.raises(ToolDenied) as extra:
            guard(run, lookup)("k", region="eu")
        assert run.state.denials == 2
    assert missing.value.code == extra.value.code == "E-ARGS-INVALID"
    assert ran == []
    assert [(d.tool, d.outcome, d.rule) for d in decisions(enc)] == [
        ("lookup", "deny", "guard.signature"),
    ] * 2


def test_arguments_that_are_not_a_json_object_are_one_refused_decision(tmp_path):
    enc = make_enclosure(MANIFEST + "kill_switch:\n  max_denials: 2\n", tmp_path)
    bad = [
        {"id": "c1", "function": {"name": "lookup", "arguments": "{not json"}},
        {"id": "c2", "function": {"name": "lookup", "arguments": "[1, 2]"}},
    ]
    with enc.start_run(task="t") as run:
        out = dispatch(run, bad, tools=TOOLS)
        assert run.state.denials == 2
        with pytest.raises(RunKilled):  # both counted: max_denials kills
            dispatch(run, bad[:1], tools=TOOLS)
        with pytest.raises(RunKilled):  # and a killed run raises, bad JSON or not
            dispatch(run, bad[1:], tools=TOOLS)
    assert all("lookup was refused" in m["content"] for m in out)
    assert [(d.outcome, d.disposition) for d in decisions(enc)] == [
        ("deny", "blocked"),
        ("deny", "blocked"),
        ("kill", "killed"),
        ("kill", "killed"),
    ]
    first = decisions(enc)[0]
    assert not first.validator.ok


def test_arguments_already_parsed_into_a_dict_are_taken_as_they_are(enc):
    call = {"id": "c1", "function": {"name": "lookup", "arguments": {"key": "k"}}}
    with enc.start_run(task="t") as run:
        (answer,) = dispatch(run, [call], tools=TOOLS)
    assert answer["content"] == "value of k"
    assert [d.args for d in decisions(enc)] == [{"key": "k"}]


def test_a_whole_responses_output_answers_only_its_function_calls(enc):
    output = [
        ResponseReasoningItem(id="rs_1", type="reasoning", summary=[]),
        ResponseFunctionToolCall(
            id="fc_1",
            call_id="call_1",
            type="function_call",
            name="lookup",
            arguments='{"key": "k"}',
        ),
        ResponseOutputMessage(
            id="msg_1",
            type="message",
            role="assistant",
            status="completed",
            content=[ResponseOutputText(type="output_text", text="hi", annotations=[])],
        ),
        {"type": "message", "role": "assistant", "content": "hi"},
    ]
    with enc.start_run(task="t") as run:
        out = dispatch(run, output, tools=TOOLS)
    assert out == [
        {"type": "function_call_output", "call_id": "call_1", "output": "value of k"}
    ]
    assert [d.tool for d in decisions(enc)] == ["lookup"]


def test_an_approved_call_runs_once_when_dispatch_or_guard_retries_it(enc):
    refunds: list[float] = []

    def refund(amount: float) -> str:
        refunds.append(amount)
        return f"refunded {amount}"

    def ask() -> str:
        (answer,) = dispatch(
            run, [chat_call(1, "refund", amount=500)], tools={"refund": refund}
        )
        return answer["content"]

    with enc.start_run(task="t", started_by="svc") as run:
        first = ask()
        [approval] = enc.approvals.list()
        assert approval.approval_id in first
        assert approval.approval_id in ask()  # still pending: the same wait
        enc.approvals.approve(approval.approval_id, by="finance")
        assert ask() == "refunded 500"
        again = ask()  # used once: the next identical call asks a human again
        guarded = guard(run, refund)
        with pytest.raises(ApprovalPending) as pending:
            guarded(700)
        enc.approvals.approve(pending.value.approval_id, by="finance")
        assert guarded(700) == "refunded 700"
        assert run.state.denials == 0
    assert refunds == [500, 700]
    assert "needs a human's approval" in again
    assert approval.approval_id not in again
    statuses = sorted(a.status for a in enc.approvals.list())
    assert statuses == ["consumed", "consumed", "pending"]
