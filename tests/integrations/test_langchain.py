"""The LangChain / LangGraph integration, driven through the real agent loop.

``create_agent`` runs offline with LangChain's own ``GenericFakeChatModel`` (taught to
accept ``bind_tools`` and to remember what it was shown), scripted to emit tool calls.
"""

import itertools
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import anyio
import pytest
from langchain.agents import create_agent
from langchain.agents.middleware import HumanInTheLoopMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_core.tools import BaseTool, StructuredTool, ToolException, tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.types import Command, interrupt
from pydantic import Field

from enclosure import Enclosure
from enclosure.audit import DecisionEvent, ResultEvent
from enclosure.errors import RunKilled
from enclosure.integrations.langchain import (
    EnclosureMiddleware,
    guard_tool,
    guard_tool_node,
)
from enclosure.testing import FakeClock, make_enclosure

MANIFEST = """
agent: {name: helper}
tools:
  lookup:
    effect: read
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
  draft:
    mode: simulate
  broken: {}
approvals:
  ttl: 10m
"""

THREAD = {"configurable": {"thread_id": "t1"}}
APPROVE = Command(resume={"decisions": [{"type": "approve"}]})


class ScriptedModel(GenericFakeChatModel):
    """LangChain's fake chat model, scripted, recording every prompt it gets."""

    seen: list[list[BaseMessage]] = Field(default_factory=list)

    def bind_tools(self, tools: Any, **kwargs: Any) -> "ScriptedModel":
        return self

    def _generate(self, messages: list[BaseMessage], *args: Any, **kwargs: Any):
        self.seen.append(list(messages))
        return super()._generate(messages, *args, **kwargs)

    def tool_results(self) -> list[ToolMessage]:
        return [m for m in self.seen[-1] if isinstance(m, ToolMessage)]


def calls(*proposed: tuple[str, dict[str, Any]], start: int = 0) -> AIMessage:
    return AIMessage(
        content="",
        tool_calls=[
            {"name": name, "args": args, "id": f"call_{start + i}"}
            for i, (name, args) in enumerate(proposed)
        ],
    )


def script(*turns: AIMessage) -> ScriptedModel:
    return ScriptedModel(messages=iter([*turns, AIMessage(content="done")]))


@pytest.fixture
def ran() -> list[tuple[str, dict[str, Any]]]:
    return []


@pytest.fixture
def tools(ran: list[tuple[str, dict[str, Any]]]) -> list[BaseTool]:
    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        ran.append(("lookup", {"key": key}))
        return f"value of {key}"

    @tool
    def send_email(to: str, body: str = "") -> str:
        """Send an email."""
        ran.append(("send_email", {"to": to}))
        return f"sent to {to}"

    @tool
    def refund(amount: float) -> str:
        """Refund an amount."""
        ran.append(("refund", {"amount": amount}))
        return f"refunded {amount}"

    @tool
    def draft(text: str) -> str:
        """Draft a text."""
        ran.append(("draft", {"text": text}))  # pragma: no cover -- simulated only
        return "live result must not happen"  # pragma: no cover

    @tool
    def broken() -> str:
        """Always fails."""
        msg = "upstream exploded"
        raise RuntimeError(msg)

    return [lookup, send_email, refund, draft, broken]


@pytest.fixture
def enc(tmp_path: Path) -> Enclosure:
    return make_enclosure(MANIFEST, tmp_path, clock=FakeClock())


def decisions(enc: Enclosure) -> list[DecisionEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["decision"])
        if isinstance(e.event, DecisionEvent)
    ]


def results(enc: Enclosure) -> list[ResultEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["result"])
        if isinstance(e.event, ResultEvent)
    ]


def agent_for(
    model: ScriptedModel,
    tools: list[BaseTool],
    run,
    checkpointer: InMemorySaver | None = None,
    **kwargs,
) -> Any:
    return create_agent(
        model=model,
        tools=tools,
        middleware=[EnclosureMiddleware(run, **kwargs)],
        checkpointer=checkpointer or InMemorySaver(),
    )


def ask(agent: Any, text: str = "go") -> dict[str, Any]:
    return agent.invoke({"messages": [HumanMessage(text)]}, THREAD)


# ---- each outcome through create_agent ---------------------------------------------


def test_allowed_call_runs_the_tool_and_is_one_logged_decision(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "k"})))
    ask(agent_for(model, tools, run))
    assert ran == [("lookup", {"key": "k"})]
    [msg] = model.tool_results()
    assert (msg.content, msg.status, msg.tool_call_id) == (
        "value of k",
        "success",
        "call_0",
    )
    [d] = decisions(enc)
    assert (d.tool, d.outcome, d.rule, d.disposition) == (
        "lookup",
        "allow",
        "tools.lookup.mode",
        "dispatched",
    )
    assert d.args == {"key": "k"}
    assert len(d.args_sha256) == 64
    assert d.run_id == run.id
    [r] = results(enc)
    assert (r.call_id, r.disposition) == (d.call_id, "executed")
    assert enc.verify().ok


def test_denied_call_never_runs_and_the_model_reads_why(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("send_email", {"to": "x@evil.example"})))
    ask(agent_for(model, tools, run))
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert msg.tool_call_id == "call_0"
    assert "customers only" in str(msg.content)
    assert "tools.send_email.rules[0]" in str(msg.content)
    [d] = decisions(enc)
    assert (d.outcome, d.rule, d.disposition) == (
        "deny",
        "tools.send_email.rules[0]",
        "blocked",
    )


def test_undeclared_tool_is_refused(enc, ran):
    @tool
    def wipe_disk() -> str:
        """Not in the manifest."""
        ran.append(("wipe_disk", {}))  # pragma: no cover -- denied
        return "gone"  # pragma: no cover

    run = enc.start_run(task="t")
    model = script(calls(("wipe_disk", {})))
    ask(agent_for(model, [wipe_disk], run))
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "error"
    [d] = decisions(enc)
    assert (d.outcome, d.rule) == ("deny", "default-deny")


def test_simulated_call_returns_the_simulated_value_without_running(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("draft", {"text": "hi"})))
    ask(agent_for(model, tools, run))
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "success"
    assert '"simulated": true' in str(msg.content)
    assert '"would_call_with": {"text": "hi"}' in str(msg.content)
    [d] = decisions(enc)
    assert (d.outcome, d.disposition) == ("simulate", "simulated")


def test_failing_tool_is_logged_as_failed_and_the_model_reads_the_code(enc, tools):
    run = enc.start_run(task="t")
    model = script(calls(("broken", {})))
    ask(agent_for(model, tools, run))
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert "E-TOOL-FAILED" in str(msg.content)
    assert "upstream exploded" in str(msg.content)
    [r] = results(enc)
    assert r.disposition == "failed"
    assert r.error is not None
    assert r.error.code == "E-TOOL-FAILED"


def test_tool_arguments_the_framework_rejects_count_as_failed(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": ["not", "text"]})))
    ask(agent_for(model, tools, run))
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert "lookup" in str(msg.content)  # the framework's own validation message
    [r] = results(enc)
    assert r.disposition == "failed"


SECRET = "hunter2-supersecret-XYZ"


def test_a_result_failing_the_output_schema_is_withheld_from_the_model(tmp_path):
    manifest = """
agent: {name: helper}
tools:
  lookup:
    effect: read
    output_schema: {type: string, pattern: "^[a-z ]*$"}
"""

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        return f"row for {key}: card=4111111111111111"

    enc = make_enclosure(manifest, tmp_path, clock=FakeClock())
    model = script(calls(("lookup", {"key": "bob"})))
    ask(agent_for(model, [lookup], enc.start_run(task="t")))
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert "E-RESULT-INVALID" in str(msg.content)
    assert str(msg.content).startswith("[enclosure] lookup failed")
    [r] = results(enc)
    assert (r.disposition, r.error.code if r.error else None) == (
        "failed",
        "E-RESULT-INVALID",
    )


def test_a_tool_error_the_framework_handles_reaches_the_model_redacted(tmp_path):
    def fetch(url: str) -> str:
        msg = f"401 from {url} with Authorization: Bearer {SECRET}"
        raise ToolException(msg)

    lookup = StructuredTool.from_function(
        fetch, name="lookup", description="Fetch a URL.", handle_tool_error=True
    )
    enc = make_enclosure(MANIFEST, tmp_path, clock=FakeClock(), secrets=[SECRET])
    model = script(calls(("lookup", {"url": "https://x"})))
    ask(agent_for(model, [lookup], enc.start_run(task="t")))
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert SECRET not in str(msg.content)
    assert "401 from https://x" in str(msg.content)
    assert "E-TOOL-FAILED" in str(msg.content)
    [r] = results(enc)
    assert r.disposition == "failed"
    assert r.error is not None
    assert SECRET not in r.error.message


# ---- approvals: interrupt and Command(resume=...) ----------------------------------


def test_approval_interrupts_with_the_human_in_the_loop_payload(enc, tools, ran):
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    out = ask(agent)
    assert ran == []
    [pending] = out["__interrupt__"]
    value = pending.value
    [action] = value["action_requests"]
    assert (action["name"], action["args"]) == ("refund", {"amount": 500})
    assert "large refunds need a human" in action["description"]
    assert value["review_configs"] == [
        {"action_name": "refund", "allowed_decisions": ["approve", "edit", "reject"]}
    ]
    [approval] = enc.approvals.list(status="pending")
    assert value["enclosure"]["approval_id"] == approval.approval_id
    assert value["enclosure"]["rule"] == "tools.refund.rules[0]"
    [d] = decisions(enc)
    assert (d.outcome, d.disposition) == ("approve", "pending")


def test_approve_decision_runs_the_call_once_with_its_exact_arguments(enc, tools, ran):
    run = enc.start_run(task="t", started_by="service")
    model = script(calls(("refund", {"amount": 500})))
    agent = agent_for(model, tools, run, reviewer="alice")
    ask(agent)
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    [msg] = model.tool_results()
    assert (msg.content, msg.status) == ("refunded 500.0", "success")
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decided_by) == ("consumed", "alice")
    # the proposal (pending) and the approved call; the replay adds nothing
    assert [(d.outcome, d.disposition) for d in decisions(enc)] == [
        ("approve", "pending"),
        ("allow", "dispatched"),
    ]
    assert decisions(enc)[1].approval_id == approval.approval_id


def test_a_bare_decision_resumes_too_and_may_name_its_reviewer(enc, tools, ran):
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    ask(agent)
    agent.invoke(Command(resume={"type": "approve", "by": "bob"}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    [approval] = enc.approvals.list()
    assert approval.decided_by == "bob"


def test_reject_decision_denies_the_approval_and_tells_the_model(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500})))
    agent = agent_for(model, tools, run)
    ask(agent)
    reject = {"type": "reject", "message": "not this customer"}
    agent.invoke(Command(resume={"decisions": [reject]}), THREAD)
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "error"
    assert "rejected refund: not this customer" in str(msg.content)
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decision_reason) == (
        "denied",
        "not this customer",
    )
    assert len(decisions(enc)) == 1


def test_edit_goes_through_policy_again_as_a_new_call(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500})))
    agent = agent_for(model, tools, run)
    ask(agent)
    edit = {"type": "edit", "edited_action": {"name": "refund", "args": {"amount": 50}}}
    agent.invoke(Command(resume={"decisions": [edit]}), THREAD)
    assert ran == [("refund", {"amount": 50})]
    [msg] = model.tool_results()
    assert "edited this call" in str(msg.content)
    assert "refunded 50" in str(msg.content)
    [approval] = enc.approvals.list()
    assert approval.status == "denied"
    assert [(d.args, d.outcome) for d in decisions(enc)] == [
        ({"amount": 500}, "approve"),
        ({"amount": 50}, "allow"),
    ]


def test_an_edit_that_still_needs_approval_asks_again(enc, tools, ran):
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    ask(agent)
    edit = {
        "type": "edit",
        "edited_action": {"name": "refund", "args": {"amount": 200}},
    }
    out = agent.invoke(Command(resume={"decisions": [edit]}), THREAD)
    [again] = out["__interrupt__"]
    assert again.value["action_requests"][0]["args"] == {"amount": 200}
    assert ran == []
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 200})]
    assert [(d.args, d.disposition) for d in decisions(enc)] == [
        ({"amount": 500}, "pending"),
        ({"amount": 200}, "pending"),
        ({"amount": 200}, "dispatched"),
    ]
    assert sorted(a.status for a in enc.approvals.list()) == ["consumed", "denied"]


def asked_again(out: dict[str, Any]) -> tuple[str, str]:
    """The refused answer's code and the request's first line, when asked again."""
    [again] = out["__interrupt__"]
    error = again.value["enclosure"]["error"]
    description = again.value["action_requests"][0]["description"]
    return error["code"], description.splitlines()[0]


def test_an_edit_may_not_switch_tools_and_the_reviewer_is_asked_again(enc, tools, ran):
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    ask(agent)
    edit = {"type": "edit", "edited_action": {"name": "lookup", "args": {"k": 1}}}
    out = agent.invoke(Command(resume={"decisions": [edit]}), THREAD)
    code, first_line = asked_again(out)
    assert code == "E-LANGCHAIN-EDIT-TOOL"
    assert first_line.startswith("The last answer was refused (E-LANGCHAIN-EDIT")
    assert ran == []
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 500})]


@pytest.mark.parametrize(
    "answer", ["yes", {"decisions": []}, {"type": "respond", "message": "hi"}]
)
def test_an_unreadable_decision_is_asked_again_and_the_thread_goes_on(
    enc, tools, ran, answer
):
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500})))
    agent = agent_for(model, tools, run)
    ask(agent)
    out = agent.invoke(Command(resume=answer), THREAD)
    assert asked_again(out)[0] == "E-LANGCHAIN-DECISION"
    assert ran == []
    [approval] = enc.approvals.list()
    assert approval.status == "pending"
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    [msg] = model.tool_results()
    assert (msg.content, msg.status) == ("refunded 500.0", "success")
    assert [(d.outcome, d.disposition) for d in decisions(enc)] == [
        ("approve", "pending"),
        ("allow", "dispatched"),
    ]


def test_the_runs_own_starter_cannot_approve_and_another_reviewer_still_can(
    enc, tools, ran
):
    run = enc.start_run(task="t", started_by="alice")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    ask(agent)
    mine = {"type": "approve", "by": "alice"}
    out = agent.invoke(Command(resume={"decisions": [mine]}), THREAD)
    assert asked_again(out)[0] == "E-APPROVAL-SELF"
    assert ran == []
    bob = {"type": "approve", "by": "bob"}
    agent.invoke(Command(resume={"decisions": [bob]}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decided_by) == ("consumed", "bob")


def test_a_refused_answer_and_a_tool_interrupt_replay_in_order(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), asking_tools, run)
    ask(agent)
    agent.invoke(Command(resume="yes"), THREAD)
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert [i.value for i in out["__interrupt__"]] == [{"q": "which account?"}]
    agent.invoke(Command(resume="ACC-1"), THREAD)
    assert ran == [("refund", {"amount": 500.0, "account": "ACC-1"})]
    assert len(decisions(enc)) == 2


@pytest.mark.parametrize("call_id", ["call_0", None])
def test_parallel_calls_sharing_an_id_or_without_one_get_their_own_approvals(
    enc, tools, ran, call_id
):
    run = enc.start_run(task="t")
    model = script(
        AIMessage(
            content="",
            tool_calls=[
                {"name": "refund", "args": {"amount": 500}, "id": call_id},
                {"name": "refund", "args": {"amount": 900}, "id": call_id},
            ],
        )
    )
    agent = agent_for(model, tools, run)
    out = ask(agent)
    asked = {
        i.value["action_requests"][0]["args"]["amount"]: i.value["enclosure"]
        for i in out["__interrupt__"]
    }
    by_args = {a.args["amount"]: a.approval_id for a in enc.approvals.list()}
    assert {k: v["approval_id"] for k, v in asked.items()} == by_args
    assert len(set(by_args.values())) == 2
    choice = {500: "reject", 900: "approve"}
    resume = {
        i.id: {
            "decisions": [
                {"type": choice[i.value["action_requests"][0]["args"]["amount"]]}
            ]
        }
        for i in out["__interrupt__"]
    }
    agent.invoke(Command(resume=resume), THREAD)
    assert [r[0] for r in ran] == ["refund"]
    assert ran[0][1]["amount"] == 900
    status = {a.args["amount"]: a.status for a in enc.approvals.list()}
    assert status == {500: "denied", 900: "consumed"}


def test_an_approval_decided_elsewhere_is_honoured_on_resume(enc, tools, ran):
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("refund", {"amount": 500}))), tools, run)
    ask(agent)
    [approval] = enc.approvals.list()
    enc.approvals.deny(approval.approval_id, by="carol", reason="no")
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == []
    assert decisions(enc)[-1].outcome == "deny"


# ---- resumed in another process ---------------------------------------------------


def restarted(enc: Enclosure, run: Any) -> tuple[Enclosure, Any]:
    """The process ends (its run stays open in the log) and a new one takes it up."""
    enc.log.close()
    again = make_enclosure(MANIFEST, enc.home, clock=FakeClock())
    return again, again.resume_run(run.id)


def asked_about(out: dict[str, Any]) -> dict[str, Any]:
    [pause] = out["__interrupt__"]
    about: dict[str, Any] = pause.value["enclosure"]
    return about


def paused(enc: Enclosure, tools: list[BaseTool], amount: float = 500) -> Any:
    """A run, its model, its checkpointer and the approval its reviewer was shown."""
    run, saver = enc.start_run(task="t"), InMemorySaver()
    model = script(calls(("refund", {"amount": amount})))
    shown = asked_about(ask(agent_for(model, tools, run, saver)))["approval_id"]
    return run, model, saver, shown


def test_an_answer_after_a_restart_goes_to_the_approval_the_reviewer_saw(
    enc, tools, ran
):
    run, model, saver, shown = paused(enc, tools)
    enc, run = restarted(enc, run)
    agent_for(model, tools, run, saver, reviewer="alice").invoke(APPROVE, THREAD)
    assert ran == [("refund", {"amount": 500})]
    [approval] = enc.approvals.list()  # the one shown; no second one asked
    assert (approval.approval_id, approval.status) == (shown, "consumed")
    assert approval.decided_by == "alice"


def test_a_denial_made_while_the_graph_was_down_stands(enc, tools, ran):
    run, model, saver, shown = paused(enc, tools)
    enc.approvals.deny(shown, by="ops", reason="not this one")  # through the server
    enc, run = restarted(enc, run)
    agent = agent_for(model, tools, run, saver, reviewer="alice")
    agent.invoke(APPROVE, THREAD)  # the graph's approve, sent before it knew
    assert ran == []
    [message] = model.tool_results()
    assert message.status == "error"
    assert "denied" in message.content
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decided_by) == ("denied", "ops")


def test_an_edit_survives_a_restart(enc, tools, ran):
    run, model, saver, shown = paused(enc, tools)
    edit = {
        "type": "edit",
        "edited_action": {"name": "refund", "args": {"amount": 200}},
    }
    out = agent_for(model, tools, run, saver).invoke(
        Command(resume={"decisions": [edit]}), THREAD
    )
    edited = asked_about(out)["approval_id"]  # 200 > 100: asked about again
    enc, run = restarted(enc, run)
    agent_for(model, tools, run, saver, reviewer="alice").invoke(APPROVE, THREAD)
    assert ran == [("refund", {"amount": 200})]
    statuses = {a.approval_id: a.status for a in enc.approvals.list()}
    assert statuses == {shown: "denied", edited: "consumed"}


def test_a_middleware_made_per_request_resumes_its_approval(enc, tools, ran):
    run, model, saver, shown = paused(enc, tools)
    agent_for(model, tools, run, saver, reviewer="alice").invoke(APPROVE, THREAD)
    assert ran == [("refund", {"amount": 500})]
    assert [a.approval_id for a in enc.approvals.list()] == [shown]


def test_an_async_graph_resumed_after_a_restart_answers_its_approval(enc, tools, ran):
    run, saver = enc.start_run(task="t"), InMemorySaver()
    model = script(calls(("refund", {"amount": 500})))

    async def go(agent: Any, value: Any) -> dict[str, Any]:
        with anyio.fail_after(5):
            out: dict[str, Any] = await agent.ainvoke(value, THREAD)
            return out

    start = {"messages": [HumanMessage("go")]}
    out = anyio.run(go, agent_for(model, tools, run, saver), start)
    shown = asked_about(out)["approval_id"]
    enc, run = restarted(enc, run)
    anyio.run(go, agent_for(model, tools, run, saver, reviewer="alice"), APPROVE)
    assert ran == [("refund", {"amount": 500})]
    assert [(a.approval_id, a.status) for a in enc.approvals.list()] == [
        (shown, "consumed")
    ]


def test_a_graph_resumed_twice_at_once_runs_the_call_once(enc, tools, ran):
    run, model, saver, shown = paused(enc, tools)
    enc, run = restarted(enc, run)
    first = agent_for(model, tools, run, saver, reviewer="alice")
    other = make_enclosure(MANIFEST, enc.home, clock=FakeClock())
    second = agent_for(model, tools, other.resume_run(run.id), saver, reviewer="bob")
    first.invoke(APPROVE, THREAD)
    second.invoke(APPROVE, THREAD)  # a resume delivered twice, to another worker
    assert ran == [("refund", {"amount": 500})]
    assert [(a.approval_id, a.status) for a in enc.approvals.list()] == [
        (shown, "consumed")
    ]


def test_a_tool_node_task_resumed_elsewhere_never_releases_a_call_twice(
    enc, tools, ran
):
    run, saver = enc.start_run(task="t"), InMemorySaver()
    turn = calls(("refund", {"amount": 500}), ("refund", {"amount": 600}))
    model = script(turn)

    def graph_for(run: Any) -> Any:
        node = guard_tool_node(run, tools)
        graph = StateGraph(MessagesState)
        graph.add_node("agent", lambda s: {"messages": [model.invoke(s["messages"])]})
        graph.add_node("tools", node)
        graph.add_edge(START, "agent")
        graph.add_conditional_edges("agent", tools_condition, ["tools", END])
        graph.add_edge("tools", "agent")
        return graph.compile(checkpointer=saver)

    out = ask(graph_for(run))
    [pause] = out["__interrupt__"]
    out = graph_for(run).invoke(Command(resume={pause.id: APPROVE.resume}), THREAD)
    assert ran == [("refund", {"amount": 500})]  # the second call now asks
    enc, run = restarted(enc, run)
    [pause] = out["__interrupt__"]
    graph_for(run).invoke(Command(resume={pause.id: APPROVE.resume}), THREAD)
    assert ran == [("refund", {"amount": 500}), ("refund", {"amount": 600})]
    first, second = model.tool_results()
    assert "already released" in first.content
    assert first.status == "error"  # not "refused", and no claim it succeeded
    assert second.content == "refunded 600.0"
    assert sorted(a.status for a in enc.approvals.list()) == ["consumed", "consumed"]
    assert [d.outcome for d in decisions(enc)].count("deny") == 0  # none made up
    assert run.state.denials == 0  # so max_denials never kills a healthy run


# ---- a tool that pauses the graph itself ------------------------------------------

ASKING = """
agent: {name: helper}
tools:
  ask_user: {effect: read}
  refund:
    rules:
      - when: "args.amount > 100"
        then: approve
        reason: large refunds need a human
kill_switch:
  max_consecutive_errors: 2
approvals:
  ttl: 10m
"""


@pytest.fixture
def asking_tools(ran: list[tuple[str, dict[str, Any]]]) -> list[BaseTool]:
    @tool
    def ask_user(question: str) -> str:
        """Ask the human two questions."""
        first = interrupt({"q": question})
        second = interrupt({"q": "and the second?"})
        ran.append(("ask_user", {"answers": [first, second]}))
        return f"{first}/{second}"

    @tool
    def refund(amount: float) -> str:
        """Refund after asking the user which account."""
        account = interrupt({"q": "which account?"})
        ran.append(("refund", {"amount": amount, "account": account}))
        return f"refunded {amount} to {account}"

    return [ask_user, refund]


def test_a_tool_that_interrupts_pauses_its_call_without_failing_it(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    model = script(calls(("ask_user", {"question": "name?"})))
    agent = agent_for(model, asking_tools, run)
    assert [i.value for i in ask(agent)["__interrupt__"]] == [{"q": "name?"}]
    out = agent.invoke(Command(resume="Ann"), THREAD)
    assert [i.value for i in out["__interrupt__"]] == [{"q": "and the second?"}]
    assert results(enc) == []  # a pause is no result
    agent.invoke(Command(resume="Bob"), THREAD)
    assert ran == [("ask_user", {"answers": ["Ann", "Bob"]})]
    [msg] = model.tool_results()
    assert (msg.content, msg.status) == ("Ann/Bob", "success")
    [d] = decisions(enc)  # one call, one decision across its pauses
    [r] = results(enc)
    assert (r.call_id, r.disposition) == (d.call_id, "executed")
    assert (run.status, run.state.errors) == ("running", 0)


def test_an_approved_tool_that_interrupts_uses_its_approval_once(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500})))
    agent = agent_for(model, asking_tools, run)
    ask(agent)
    approve = Command(resume={"decisions": [{"type": "approve"}]})
    out = agent.invoke(approve, THREAD)
    assert [i.value for i in out["__interrupt__"]] == [{"q": "which account?"}]
    agent.invoke(Command(resume="ACC-1"), THREAD)
    assert ran == [("refund", {"amount": 500.0, "account": "ACC-1"})]
    [msg] = model.tool_results()
    assert (msg.content, msg.status) == ("refunded 500.0 to ACC-1", "success")
    assert [(d.outcome, d.disposition) for d in decisions(enc)] == [
        ("approve", "pending"),
        ("allow", "dispatched"),
    ]
    [approval] = enc.approvals.list()
    assert approval.status == "consumed"
    assert [r.disposition for r in results(enc)] == ["executed"]


def test_a_tool_that_interrupts_in_an_async_graph_is_one_call(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    model = script(calls(("ask_user", {"question": "name?"})))
    agent = agent_for(model, asking_tools, run)

    async def main() -> None:
        with anyio.fail_after(5):
            await agent.ainvoke({"messages": [HumanMessage("go")]}, THREAD)
            await agent.ainvoke(Command(resume="Ann"), THREAD)
            await agent.ainvoke(Command(resume="Bob"), THREAD)

    anyio.run(main)
    assert ran == [("ask_user", {"answers": ["Ann", "Bob"]})]
    assert len(decisions(enc)) == 1
    assert [r.disposition for r in results(enc)] == ["executed"]


def test_a_run_killed_while_a_tool_is_paused_never_resumes_it(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    agent = agent_for(script(calls(("ask_user", {"question": "q"}))), asking_tools, run)
    ask(agent)
    run.kill("operator pressed stop")
    with pytest.raises(RunKilled):
        agent.invoke(Command(resume="Ann"), THREAD)
    assert ran == []
    [r] = results(enc)
    assert (r.disposition, r.error.code if r.error else None) == (
        "failed",
        "E-RUN-KILLED",
    )


# ---- kill -------------------------------------------------------------------------


def runaway() -> Iterator[AIMessage]:
    for n in itertools.count():
        yield calls(("send_email", {"to": "a@customers.example"}), start=n)


def test_runaway_loop_sends_three_emails_then_the_graph_run_ends(enc, tools, ran):
    run = enc.start_run(task="loop")
    model = ScriptedModel(messages=runaway())
    with pytest.raises(RunKilled) as exc:
        ask(agent_for(model, tools, run))
    assert exc.value.code == "E-RUN-KILLED"
    assert "tools.send_email.rate[0]" in exc.value.message
    assert ran == [("send_email", {"to": "a@customers.example"})] * 3
    assert len(model.seen) == 4  # three emails, then the fourth call is the kill
    assert run.status == "killed"
    assert [d.outcome for d in decisions(enc)] == ["allow"] * 3 + ["kill"]


def test_a_run_killed_from_outside_stops_before_the_next_model_call(enc, tools):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "k"})))
    run.kill("operator pressed stop")
    with pytest.raises(RunKilled):
        ask(agent_for(model, tools, run))
    assert model.seen == []


def test_a_run_killed_by_another_process_stops_before_the_next_model_call(enc, tools):
    run = enc.start_run(task="t")
    with make_enclosure(MANIFEST, enc.home, clock=FakeClock()) as operator:
        operator.resume_run(run.id).kill("operator saw a loop", by="ops")
    model = script(AIMessage(content="final answer"))
    with pytest.raises(RunKilled) as exc:
        ask(agent_for(model, tools, run))
    assert "operator saw a loop" in exc.value.message
    assert model.seen == []
    assert run.status == "killed"


def killing_lookup(enc: Enclosure, run_id: str, ran: list[Any]) -> BaseTool:
    """A ``lookup`` during which another process (an operator) kills the run."""

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        ran.append(("lookup", {"key": key}))
        with make_enclosure(MANIFEST, enc.home, clock=FakeClock()) as operator:
            operator.resume_run(run_id).kill("operator saw a loop", by="ops")
        return f"value of {key}"

    return lookup


def test_a_run_killed_elsewhere_during_a_tool_stops_before_the_next_model_call(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "a"})), calls(("lookup", {"key": "b"})))
    lookup = killing_lookup(enc, run.id, ran)
    with pytest.raises(RunKilled) as exc:
        ask(agent_for(model, [lookup, *tools[1:]], run))
    assert "operator saw a loop" in exc.value.message
    assert ran == [("lookup", {"key": "a"})]
    assert len(model.seen) == 1  # the model is never asked again
    assert run.status == "killed"
    results = [e.event for e in enc.log.events(kinds=["result"])]
    assert [(r.tool, r.disposition) for r in results] == [("lookup", "executed")]


def test_async_run_killed_elsewhere_during_a_tool_stops_before_the_next_model_call(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "a"})), calls(("lookup", {"key": "b"})))
    agent = agent_for(model, [killing_lookup(enc, run.id, ran), *tools[1:]], run)

    async def main() -> None:
        with anyio.fail_after(5):
            await agent.ainvoke({"messages": [HumanMessage("go")]}, THREAD)

    with pytest.raises(RunKilled, match="operator saw a loop"):
        anyio.run(main)
    assert ran == [("lookup", {"key": "a"})]
    assert len(model.seen) == 1
    assert run.status == "killed"


def test_a_killed_tool_step_keeps_its_message_so_the_tool_never_runs_again(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    saver = InMemorySaver()
    lookup = killing_lookup(enc, run.id, ran)
    agent = create_agent(
        model=script(calls(("lookup", {"key": "a"}))),
        tools=[lookup, *tools[1:]],
        middleware=[EnclosureMiddleware(run)],
        checkpointer=saver,
    )
    with pytest.raises(RunKilled):
        ask(agent)
    state = agent.get_state(THREAD)
    assert state.next == ("model",)  # the tool step is done and checkpointed
    [message] = [m for m in state.values["messages"] if isinstance(m, ToolMessage)]
    assert message.content == "value of a"
    again = create_agent(
        model=script(),
        tools=[lookup, *tools[1:]],
        middleware=[EnclosureMiddleware(enc.start_run(task="t2"))],
        checkpointer=saver,
    )
    again.invoke(None, THREAD)  # the thread goes on under a new run
    assert ran == [("lookup", {"key": "a"})]  # one side effect, not two


def test_a_run_killed_while_another_middleware_waits_gets_no_more_model_calls(
    enc, tools
):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "k"})))
    agent = create_agent(
        model=model,
        tools=tools,
        middleware=[
            EnclosureMiddleware(run),
            HumanInTheLoopMiddleware(interrupt_on={"lookup": True}),
        ],
        checkpointer=InMemorySaver(),
    )
    assert ask(agent)["__interrupt__"]
    with make_enclosure(MANIFEST, enc.home, clock=FakeClock()) as operator:
        operator.resume_run(run.id).kill("operator pressed stop", by="ops")
    reject = {"decisions": [{"type": "reject", "message": "no"}]}
    with pytest.raises(RunKilled, match="operator pressed stop"):
        agent.invoke(Command(resume=reject), THREAD)  # back to the model: refused
    assert len(model.seen) == 1


def test_a_kill_swallowed_by_tool_error_handling_still_ends_the_run(enc, tools, ran):
    run = enc.start_run(task="loop")
    model = ScriptedModel(messages=runaway())
    node = guard_tool_node(run, tools, handle_tool_errors=True)
    graph = chat_graph(model, node)
    with pytest.raises(RunKilled):
        graph.invoke({"messages": [HumanMessage("go")]}, THREAD)
    assert len(ran) == 3


# ---- async ------------------------------------------------------------------------


def test_async_agent_runs_allowed_calls_and_approvals(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("lookup", {"key": "k"}), ("refund", {"amount": 500})))
    agent = agent_for(model, tools, run)

    async def main() -> None:
        with anyio.fail_after(5):
            out = await agent.ainvoke({"messages": [HumanMessage("go")]}, THREAD)
            assert len(out["__interrupt__"]) == 1
            approve = Command(resume={"decisions": [{"type": "approve"}]})
            await agent.ainvoke(approve, THREAD)

    anyio.run(main)
    assert sorted(ran) == [("lookup", {"key": "k"}), ("refund", {"amount": 500})]
    assert [m.status for m in model.tool_results()] == ["success", "success"]


def test_async_kill_ends_the_graph_run(enc, tools, ran):
    run = enc.start_run(task="loop")
    agent = agent_for(ScriptedModel(messages=runaway()), tools, run)

    async def main() -> None:
        with anyio.fail_after(5):
            await agent.ainvoke({"messages": [HumanMessage("go")]}, THREAD)

    with pytest.raises(RunKilled):
        anyio.run(main)
    assert len(ran) == 3


# ---- ToolNode and BaseTool --------------------------------------------------------


def chat_graph(model: ScriptedModel, node: ToolNode) -> Any:
    def agent(state: MessagesState) -> dict[str, Any]:
        return {"messages": [model.invoke(state["messages"])]}

    graph = StateGraph(MessagesState)
    graph.add_node("agent", agent)
    graph.add_node("tools", node)
    graph.add_edge(START, "agent")
    graph.add_conditional_edges("agent", tools_condition, ["tools", END])
    graph.add_edge("tools", "agent")
    return graph.compile(checkpointer=InMemorySaver())


def answer_each_question(graph: Any, out: dict[str, Any]) -> list[float]:
    """Approve each question as it comes (one at a time); the amounts asked about."""
    asked: list[float] = []
    while "__interrupt__" in out:
        assert len(asked) < 5, asked  # never asked the same questions again
        [pause] = out["__interrupt__"]
        asked.append(pause.value["action_requests"][0]["args"]["amount"])
        out = graph.invoke(Command(resume={pause.id: APPROVE.resume}), THREAD)
    return asked


def test_a_tool_node_replayed_for_a_later_question_never_reruns_an_ended_call(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    model = script(
        calls(
            ("lookup", {"key": "k"}),
            ("refund", {"amount": 500}),
            ("refund", {"amount": 600}),
        )
    )
    graph = chat_graph(model, guard_tool_node(run, tools))
    asked = answer_each_question(graph, ask(graph))
    assert sorted(asked) == [500, 600]
    # LangGraph replays the whole ToolNode task after each answer: the calls that
    # had ended come again, with their ids, and are not decided or run again.
    assert sorted(ran, key=str) == sorted(
        [
            ("lookup", {"key": "k"}),
            ("refund", {"amount": 500}),
            ("refund", {"amount": 600}),
        ],
        key=str,
    )
    assert sorted(a.status for a in enc.approvals.list()) == ["consumed", "consumed"]
    assert [d.tool for d in decisions(enc) if d.outcome == "allow"].count("refund") == 2
    assert [m.status for m in model.tool_results()] == ["success"] * 3


def test_an_async_tool_node_replayed_for_a_later_question_never_reruns_a_call(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500}), ("refund", {"amount": 600})))
    graph = chat_graph(model, guard_tool_node(run, tools))

    async def go(value: Any) -> dict[str, Any]:
        with anyio.fail_after(10):
            out: dict[str, Any] = await graph.ainvoke(value, THREAD)
            return out

    out = anyio.run(go, {"messages": [HumanMessage("go")]})
    for _ in range(4):
        if "__interrupt__" not in out:
            break
        resume = {p.id: APPROVE.resume for p in out["__interrupt__"]}
        out = anyio.run(go, Command(resume=resume))
    assert "__interrupt__" not in out
    assert sorted(amount for _, args in ran for amount in args.values()) == [500, 600]


def same_id(name: str, args: dict[str, Any]) -> AIMessage:
    """A turn whose call has the id every turn gets (some adapters number them so)."""
    return AIMessage(
        content="", tool_calls=[{"name": name, "args": args, "id": "call_0"}]
    )


@pytest.mark.parametrize("door", ["middleware", "tool_node"])
def test_a_call_id_used_again_in_a_later_turn_is_decided_again(enc, tools, ran, door):
    run = enc.start_run(task="loop")
    email = {"to": "a@customers.example"}
    model = ScriptedModel(messages=(same_id("send_email", email) for _ in range(6)))
    if door == "middleware":
        graph = agent_for(model, tools, run)
    else:
        graph = chat_graph(model, guard_tool_node(run, tools))
    with pytest.raises(RunKilled):
        ask(graph)  # the 3/minute rate limit still kills the loop
    assert ran == [("send_email", {"to": "a@customers.example"})] * 3
    assert [d.outcome for d in decisions(enc)] == ["allow"] * 3 + ["kill"]


def test_another_thread_with_the_same_call_id_gets_its_own_result(enc):
    seen: list[str] = []

    @tool
    def lookup(key: str) -> str:
        """Look a key up."""
        seen.append(key)
        return f"secret-{len(seen)}"

    run = enc.start_run(task="t")
    model = script(same_id("lookup", {"key": "balance"}))
    agent = agent_for(model, [lookup], run)
    agent.invoke(
        {"messages": [HumanMessage("alice")]}, {"configurable": {"thread_id": "a"}}
    )
    model.messages = iter([same_id("lookup", {"key": "balance"}), AIMessage("done")])
    agent.invoke(
        {"messages": [HumanMessage("bob")]}, {"configurable": {"thread_id": "b"}}
    )
    assert seen == ["balance", "balance"]
    assert [m.content for m in model.tool_results()] == ["secret-2"]  # not alice's
    assert [d.outcome for d in decisions(enc)] == ["allow", "allow"]


def test_guarded_tool_node_decides_every_call(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(
        calls(("lookup", {"key": "k"}), ("send_email", {"to": "x@evil.example"}))
    )
    node = guard_tool_node(run, ToolNode(tools, name="tools"))
    chat_graph(model, node).invoke({"messages": [HumanMessage("go")]}, THREAD)
    assert ran == [("lookup", {"key": "k"})]
    assert [m.status for m in model.tool_results()] == ["success", "error"]
    assert {(d.tool, d.outcome) for d in decisions(enc)} == {
        ("lookup", "allow"),
        ("send_email", "deny"),
    }


def test_guarded_tool_node_asks_a_human_through_interrupt(enc, tools, ran):
    run = enc.start_run(task="t")
    model = script(calls(("refund", {"amount": 500})))
    graph = chat_graph(model, guard_tool_node(run, tools))
    out = graph.invoke({"messages": [HumanMessage("go")]}, THREAD)
    assert out["__interrupt__"][0].value["action_requests"][0]["name"] == "refund"
    graph.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 500})]


def test_guarded_base_tool_keeps_its_schema_and_refuses_with_a_tool_error(
    enc, tools, ran
):
    run = enc.start_run(task="t")
    guarded = [guard_tool(run, t) for t in tools]
    assert [g.name for g in guarded] == [t.name for t in tools]
    assert guarded[1].tool_call_schema.model_json_schema() == (
        tools[1].tool_call_schema.model_json_schema()
    )
    model = script(
        calls(
            ("lookup", {"key": "k"}),
            ("send_email", {"to": "x@evil.example"}),
            ("draft", {"text": "hi"}),
        )
    )
    create_agent(model=model, tools=guarded, checkpointer=InMemorySaver()).invoke(
        {"messages": [HumanMessage("go")]}, THREAD
    )
    assert ran == [("lookup", {"key": "k"})]
    lookup, email, draft = model.tool_results()
    assert (lookup.content, lookup.status) == ("value of k", "success")
    assert email.status == "error"
    assert "customers only" in str(email.content)
    assert "would_call_with" in str(draft.content)
    assert len(decisions(enc)) == 3


def test_guarded_base_tool_approval_and_rejection(enc, tools, ran):
    run = enc.start_run(task="t")
    guarded = [guard_tool(run, t) for t in tools]
    model = script(
        calls(("refund", {"amount": 500})), calls(("refund", {"amount": 900}), start=1)
    )
    agent = create_agent(model=model, tools=guarded, checkpointer=InMemorySaver())
    ask(agent)
    agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    reject = {"type": "reject", "message": "too much"}
    agent.invoke(Command(resume={"decisions": [reject]}), THREAD)
    assert ran == [("refund", {"amount": 500})]
    approved, rejected = model.tool_results()
    assert approved.content == "refunded 500.0"
    assert rejected.status == "error"
    assert "too much" in str(rejected.content)


def test_guarded_base_tool_logs_arguments_its_schema_refuses(enc, tools, ran):
    run = enc.start_run(task="t")
    guarded = [guard_tool(run, t) for t in tools]
    model = script(calls(("lookup", {"key": ["not", "text"]})))
    create_agent(model=model, tools=guarded, checkpointer=InMemorySaver()).invoke(
        {"messages": [HumanMessage("go")]}, THREAD
    )
    assert ran == []
    [msg] = model.tool_results()
    assert msg.status == "error"
    [d] = decisions(enc)
    assert (d.tool, d.outcome, d.disposition, d.rule) == (
        "lookup",
        "deny",
        "blocked",
        "langchain.args_schema",
    )
    assert d.error is not None
    assert d.error.code == "E-ARGS-INVALID"
    assert "key" in d.reason
    assert run.state.denials == 1


def test_guarded_base_tool_whose_tool_interrupts_is_one_approved_call(
    tmp_path, asking_tools, ran
):
    enc = make_enclosure(ASKING, tmp_path, clock=FakeClock())
    run = enc.start_run(task="t")
    guarded = [guard_tool(run, t) for t in asking_tools]
    model = script(calls(("refund", {"amount": 500})))
    agent = create_agent(model=model, tools=guarded, checkpointer=InMemorySaver())
    ask(agent)
    out = agent.invoke(Command(resume={"decisions": [{"type": "approve"}]}), THREAD)
    assert [i.value for i in out["__interrupt__"]] == [{"q": "which account?"}]
    agent.invoke(Command(resume="ACC-1"), THREAD)
    assert ran == [("refund", {"amount": 500.0, "account": "ACC-1"})]
    assert [d.disposition for d in decisions(enc)] == ["pending", "dispatched"]
    assert [r.disposition for r in results(enc)] == ["executed"]


def test_guarded_base_tool_invoked_directly(enc, tools, ran):
    run = enc.start_run(task="t")
    lookup = guard_tool(run, tools[0])
    assert lookup.invoke({"key": "k"}) == "value of k"

    async def main() -> Any:
        with anyio.fail_after(5):
            return await lookup.ainvoke({"key": "j"})

    assert anyio.run(main) == "value of j"
    assert ran == [("lookup", {"key": "k"}), ("lookup", {"key": "j"})]


def test_guarded_base_tool_kill_raises(enc, tools, ran):
    run = enc.start_run(task="loop")
    send = guard_tool(run, tools[1])
    for _ in range(3):
        send.invoke({"to": "a@customers.example"})
    with pytest.raises(RunKilled):
        send.invoke({"to": "a@customers.example"})
    assert len(ran) == 3


def test_guarded_base_tool_records_an_error_the_tool_handles_as_failed(tmp_path):
    def fetch(url: str) -> str:
        msg = f"boom {url} {SECRET}"
        raise ToolException(msg)

    inner = StructuredTool.from_function(
        fetch, name="lookup", description="Fetch a URL.", handle_tool_error=True
    )
    manifest = MANIFEST.replace(
        "approvals:", "kill_switch:\n  max_consecutive_errors: 2\napprovals:"
    )
    enc = make_enclosure(manifest, tmp_path, clock=FakeClock(), secrets=[SECRET])
    run = enc.start_run(task="t")
    guarded = guard_tool(run, inner)
    first = guarded.invoke({"url": "u0"})
    assert SECRET not in first
    assert first.startswith("[enclosure] lookup failed (E-TOOL-FAILED)")
    guarded.invoke({"url": "u1"})
    assert run.state.errors == 2
    with pytest.raises(RunKilled):
        guarded.invoke({"url": "u2"})
    assert [r.disposition for r in results(enc)] == ["failed", "failed"]
    assert all(SECRET not in (r.error.message if r.error else "") for r in results(enc))


def test_the_example_agent_runs_offline():
    example = Path(__file__).resolve().parents[2] / "examples" / "langchain"
    done = subprocess.run(
        [sys.executable, str(example / "agent.py")],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split(":")[:2] for line in lines[-4:-1]] == [
        ["lookup_order", " success"],
        ["send_email", " error"],
        ["refund", " success"],
    ]
    assert lines[-1] == "audit intact: True"
