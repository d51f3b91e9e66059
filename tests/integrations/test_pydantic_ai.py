from __future__ import annotations

import dataclasses
import importlib
import itertools
import sys
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from pydantic_ai import Agent, FunctionToolset, ModelRetry
from pydantic_ai.messages import (
    ModelMessage,
    ModelRequest,
    ModelResponse,
    TextPart,
    ToolCallPart,
    ToolReturnPart,
)
from pydantic_ai.models.function import AgentInfo, FunctionModel
from pydantic_ai.tools import (
    DeferredToolRequests,
    DeferredToolResults,
    ToolApproved,
    ToolDenied,
)

from enclosure._json import sha256_json
from enclosure.audit import DecisionEvent
from enclosure.errors import ApprovalError, RunKilled, UsageError
from enclosure.integrations.pydantic_ai import EnclosureToolset
from enclosure.testing import make_enclosure

if TYPE_CHECKING:
    from collections.abc import Iterable, Iterator
    from pathlib import Path

    from enclosure import Enclosure
    from enclosure._run import Run

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
  broken: {}
  nudge: {}
"""

Call = tuple[str, dict[str, Any], str]
"""A scripted tool call: name, arguments, tool_call_id."""


class Tools:
    """The agent's own tools, recording what actually ran."""

    def __init__(self) -> None:
        self.ran: list[tuple[str, dict[str, Any]]] = []
        self.toolset: FunctionToolset[None] = FunctionToolset()
        ts = self.toolset

        @ts.tool_plain
        def lookup(key: str) -> str:
            self.ran.append(("lookup", {"key": key}))
            return f"value of {key}"

        @ts.tool_plain
        def send_email(to: str, body: str = "") -> dict[str, str]:
            self.ran.append(("send_email", {"to": to}))
            return {"id": f"m{len(self.ran)}"}

        @ts.tool_plain
        def refund(amount: int) -> str:
            self.ran.append(("refund", {"amount": amount}))
            return f"refunded {amount}"

        @ts.tool_plain
        def draft(text: str) -> str:  # pragma: no cover -- simulate mode only
            self.ran.append(("draft", {"text": text}))
            return "live draft must not happen"

        @ts.tool_plain
        def broken() -> str:
            self.ran.append(("broken", {}))
            msg = "upstream exploded"
            raise RuntimeError(msg)

        @ts.tool_plain(retries=3)
        def nudge(n: int) -> str:
            self.ran.append(("nudge", {"n": n}))
            if n == 0:
                msg = "use n=1"
                raise ModelRetry(msg)
            return "nudged"


class Script:
    """A FunctionModel that makes the scripted tool calls turn by turn.

    Each turn is a list of calls; after the script it answers "done". It keeps
    every tool return it was shown, so tests assert on what the model read.
    """

    def __init__(self, turns: Iterable[list[Call]]) -> None:
        self.turns: Iterator[list[Call]] = iter(turns)
        self.seen: list[ToolReturnPart] = []
        self.model = FunctionModel(self.respond)

    def respond(self, messages: list[ModelMessage], _: AgentInfo) -> ModelResponse:
        last = messages[-1]
        if isinstance(last, ModelRequest):
            self.seen += [p for p in last.parts if isinstance(p, ToolReturnPart)]
        turn = next(self.turns, None)
        if turn is None:
            return ModelResponse(parts=[TextPart("done")])
        return ModelResponse(parts=[ToolCallPart(n, a, i) for n, a, i in turn])

    def read(self) -> list[tuple[str, str]]:
        return [(p.outcome, p.model_response_str()) for p in self.seen]


@pytest.fixture
def enc(tmp_path: Path) -> Enclosure:
    return make_enclosure(MANIFEST, tmp_path)


@pytest.fixture
def tools() -> Tools:
    return Tools()


def agent_for(
    script: Script, run: Run, tools: Tools
) -> Agent[None, str | DeferredToolRequests]:
    toolset = EnclosureToolset(run, tools.toolset, approver="finance-lead")
    return Agent(
        script.model,
        toolsets=[toolset],
        output_type=[str, DeferredToolRequests],
    )


def decisions(enc: Enclosure) -> list[DecisionEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["decision"])
        if isinstance(e.event, DecisionEvent)
    ]


def run_agent(agent: Agent[None, Any], **kwargs: Any) -> Any:
    async def go() -> Any:
        with anyio.fail_after(5):
            return await agent.run(**kwargs)

    return anyio.run(go)


# ---- each outcome, through the real Agent.run ---------------------------------------


def test_allowed_call_runs_the_wrapped_tool_and_is_one_decision_event(
    enc: Enclosure, tools: Tools
):
    script = Script([[("lookup", {"key": "k"}, "c1")]])
    run = enc.start_run(task="t")
    agent = agent_for(script, run, tools)
    result = run_agent(agent, user_prompt="go")
    assert result.output == "done"
    assert tools.ran == [("lookup", {"key": "k"})]
    assert script.read() == [("success", "value of k")]
    [d] = decisions(enc)
    assert (d.tool, d.outcome, d.rule, d.disposition) == (
        "lookup",
        "allow",
        "tools.lookup.mode",
        "dispatched",
    )
    assert d.args == {"key": "k"}
    assert d.args_sha256 == sha256_json({"key": "k"})
    assert d.context_excerpt == '{"tool_call_id":"c1"}'
    assert d.manifest_sha256 == enc.manifest.sha256


def test_denied_call_is_a_tool_denied_the_model_reads_and_the_run_goes_on(
    enc: Enclosure, tools: Tools
):
    evil = {"to": "x@evil.example"}
    script = Script(
        [
            [("send_email", evil, "c1")],
            [("send_email", evil, "c2")],  # twice: no retry budget is spent
            [("rm_rf", {}, "c3")],  # not in this toolset: Pydantic AI answers
        ]
    )
    run = enc.start_run(task="t")
    agent = agent_for(script, run, tools)
    result = run_agent(agent, user_prompt="go")
    assert result.output == "done"
    assert tools.ran == []
    [(outcome, text), again, _unknown] = script.read()
    assert outcome == "denied"
    assert "send_email was refused: customers only" in text
    assert "rule tools.send_email.rules[0]" in text
    assert again == (outcome, text)
    assert [(d.outcome, d.rule, d.disposition) for d in decisions(enc)] == [
        ("deny", "tools.send_email.rules[0]", "blocked"),
    ] * 2


def test_a_tool_missing_from_the_manifest_is_denied_by_default(
    enc: Enclosure, tmp_path: Path
):
    extra: FunctionToolset[None] = FunctionToolset()

    @extra.tool_plain
    def wipe_disk() -> str:  # pragma: no cover -- denied before it can run
        return "wiped"

    script = Script([[("wipe_disk", {}, "c1")]])
    run = enc.start_run(task="t")
    agent = Agent(script.model, toolsets=[EnclosureToolset(run, extra)])
    assert run_agent(agent, user_prompt="go").output == "done"
    [(outcome, text)] = script.read()
    assert outcome == "denied"
    assert "default-deny" in text
    [d] = decisions(enc)
    assert (d.tool, d.rule, d.disposition) == ("wipe_disk", "default-deny", "blocked")


def test_simulated_call_returns_the_simulated_value_and_never_runs_the_tool(
    enc: Enclosure, tools: Tools
):
    script = Script([[("draft", {"text": "hi"}, "c1")]])
    run = enc.start_run(task="t")
    agent = agent_for(script, run, tools)
    run_agent(agent, user_prompt="go")
    assert tools.ran == []
    [p] = script.seen
    assert p.outcome == "success"
    assert p.content == {
        "simulated": True,
        "tool": "draft",
        "would_call_with": {"text": "hi"},
    }
    [d] = decisions(enc)
    assert (d.outcome, d.disposition) == ("simulate", "simulated")


def test_a_failing_tool_becomes_text_the_model_reads_and_is_logged_failed(
    enc: Enclosure, tools: Tools
):
    script = Script([[("broken", {}, "c1")]])
    run = enc.start_run(task="t")
    agent = agent_for(script, run, tools)
    assert run_agent(agent, user_prompt="go").output == "done"
    [(outcome, text)] = script.read()
    assert outcome == "failed"
    assert "broken failed (E-TOOL-FAILED): RuntimeError: upstream exploded" in text
    [d] = decisions(enc)
    assert d.disposition == "dispatched"
    [r] = [e.event for e in enc.log.events(kinds=["result"])]
    assert r.disposition == "failed"  # type: ignore[union-attr]


def test_model_retry_from_the_wrapped_tool_keeps_its_meaning(
    enc: Enclosure, tools: Tools
):
    script = Script([[("nudge", {"n": 0}, "c1")], [("nudge", {"n": 1}, "c2")]])
    run = enc.start_run(task="t")
    agent = agent_for(script, run, tools)
    assert run_agent(agent, user_prompt="go").output == "done"
    outcomes = [o for o, _ in script.read()]
    assert outcomes == ["retried", "success"]
    assert "use n=1" in script.read()[0][1]
    assert [d.disposition for d in decisions(enc)] == ["dispatched"] * 2


def test_runaway_loop_is_killed_after_three_emails_and_agent_run_stops(
    enc: Enclosure, tools: Tools
):
    forever = (
        [("send_email", {"to": "a@customers.example"}, f"c{n}")]
        for n in itertools.count()
    )
    script = Script(forever)
    run = enc.start_run(task="loop")
    killed: list[str] = []
    run.on_kill(lambda _, reason: killed.append(reason))
    agent = agent_for(script, run, tools)
    with pytest.raises(RunKilled) as exc:
        run_agent(agent, user_prompt="spam")
    assert exc.value.code == "E-RUN-KILLED"
    assert [t for t, _ in tools.ran] == ["send_email"] * 3
    assert run.status == "killed"
    assert len(killed) == 1
    assert [(d.outcome, d.disposition) for d in decisions(enc)] == [
        ("allow", "dispatched")
    ] * 3 + [("kill", "killed")]
    assert decisions(enc)[-1].rule == "tools.send_email.rate[0]"
    assert enc.verify().ok


# ---- approvals: DeferredToolRequests out, DeferredToolResults back ----------------


def park(enc: Enclosure, tools: Tools, calls: list[Call]) -> tuple[Any, ...]:
    """Run until the agent stops with DeferredToolRequests for ``calls``."""
    script = Script([calls])
    run = enc.start_run(task="t", started_by="agent-svc")
    agent = agent_for(script, run, tools)
    first = run_agent(agent, user_prompt="refund")
    assert isinstance(first.output, DeferredToolRequests)
    return script, run, agent, first


def test_approval_required_ends_the_run_with_the_enclosure_approval(
    enc: Enclosure, tools: Tools
):
    _, _, _, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    requests: DeferredToolRequests = first.output
    assert [(c.tool_name, c.args, c.tool_call_id) for c in requests.approvals] == [
        ("refund", {"amount": 500}, "c1")
    ]
    [pending] = enc.approvals.list(status="pending")
    assert requests.metadata["c1"] == {
        "enclosure_approval_id": pending.approval_id,
        "rule": "tools.refund.rules[0]",
        "reason": "large refunds need a human",
    }
    assert tools.ran == []
    [d] = decisions(enc)
    assert (d.outcome, d.disposition) == ("approve", "pending")


@pytest.mark.parametrize("answer", [True, ToolApproved()])
def test_approved_call_runs_once_with_exactly_its_arguments(
    enc: Enclosure, tools: Tools, answer: Any
):
    script, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    results = DeferredToolResults(
        approvals={"c1": answer}, metadata={"c1": {"approved_by": "alice"}}
    )
    done = run_agent(
        agent, message_history=first.all_messages(), deferred_tool_results=results
    )
    assert done.output == "done"
    assert tools.ran == [("refund", {"amount": 500})]
    assert script.read() == [("success", "refunded 500")]
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decided_by) == ("consumed", "alice")
    assert [(d.disposition, d.approval_id) for d in decisions(enc)] == [
        ("pending", approval.approval_id),
        ("dispatched", approval.approval_id),
    ]


def test_tool_denied_denies_the_enclosure_approval_with_its_message(
    enc: Enclosure, tools: Tools
):
    script, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    results = DeferredToolResults(approvals={"c1": ToolDenied("not this quarter")})
    done = run_agent(
        agent, message_history=first.all_messages(), deferred_tool_results=results
    )
    assert done.output == "done"
    assert tools.ran == []
    assert script.read() == [("denied", "not this quarter")]
    [approval] = enc.approvals.list()
    assert (approval.status, approval.decided_by, approval.decision_reason) == (
        "denied",
        "finance-lead",
        "not this quarter",
    )


def tampered(messages: list[ModelMessage], call_id: str, args: dict[str, Any]) -> None:
    """Edit the arguments of one tool call in the history, in place."""
    for i, message in enumerate(messages):
        if isinstance(message, ModelResponse):
            parts = [
                ToolCallPart(p.tool_name, args, call_id)
                if isinstance(p, ToolCallPart) and p.tool_call_id == call_id
                else p
                for p in message.parts
            ]
            messages[i] = dataclasses.replace(message, parts=parts)


def test_true_for_arguments_changed_in_the_history_does_not_release_the_call(
    enc: Enclosure, tools: Tools
):
    script, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    history = first.all_messages()
    tampered(history, "c1", {"amount": 5000})
    done = run_agent(
        agent,
        message_history=history,
        deferred_tool_results=DeferredToolResults(approvals={"c1": True}),
    )
    assert done.output == "done"
    assert tools.ran == []
    [(outcome, text)] = script.read()
    assert outcome == "denied"
    assert "bound to other arguments" in text
    [approval] = enc.approvals.list()
    assert approval.status == "pending"  # never approved for other arguments
    last = decisions(enc)[-1]
    assert (last.disposition, last.args) == ("blocked", {"amount": 5000})
    assert last.error is not None
    assert last.error.code == "E-APPROVAL-MISMATCH"


def test_override_args_are_not_released_by_the_approval(enc: Enclosure, tools: Tools):
    _, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    answer = ToolApproved(override_args={"amount": 900})
    run_agent(
        agent,
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"c1": answer}),
    )
    assert tools.ran == []
    last = decisions(enc)[-1]
    assert last.error is not None
    assert last.error.code == "E-APPROVAL-MISMATCH"


def test_approving_one_call_id_never_releases_another_calls_arguments(
    enc: Enclosure, tools: Tools
):
    calls = [("refund", {"amount": 500}, "c1"), ("refund", {"amount": 7000}, "c2")]
    script, _, agent, first = park(enc, tools, calls)
    history = first.all_messages()
    # The human approves c1 (500) and denies c2 (7000); the history is edited so
    # that c1 now carries c2's arguments.
    tampered(history, "c1", {"amount": 7000})
    tampered(history, "c2", {"amount": 500})
    results = DeferredToolResults(approvals={"c1": True, "c2": ToolDenied("no")})
    run_agent(agent, message_history=history, deferred_tool_results=results)
    assert tools.ran == []
    assert sorted(o for o, _ in script.read()) == ["denied", "denied"]
    statuses = sorted(a.status for a in enc.approvals.list())
    assert statuses == ["denied", "pending"]


def test_an_approval_is_used_once_and_a_replayed_resume_is_refused(
    enc: Enclosure, tools: Tools
):
    script, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    results = DeferredToolResults(approvals={"c1": True})
    for _ in range(2):
        run_agent(
            agent, message_history=first.all_messages(), deferred_tool_results=results
        )
    assert tools.ran == [("refund", {"amount": 500})]
    [(ok, _), (outcome, text)] = script.read()
    assert (ok, outcome) == ("success", "denied")
    assert "cannot be used" in text
    last = decisions(enc)[-1]
    assert last.error is not None
    assert last.error.code == "E-APPROVAL-NOT-APPROVED"


def test_the_run_starter_cannot_approve_through_deferred_results(
    enc: Enclosure, tools: Tools
):
    _, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    results = DeferredToolResults(
        approvals={"c1": True}, metadata={"c1": {"approved_by": "agent-svc"}}
    )
    with pytest.raises(ApprovalError) as exc:
        run_agent(
            agent, message_history=first.all_messages(), deferred_tool_results=results
        )
    assert exc.value.code == "E-APPROVAL-SELF"
    assert tools.ran == []


def test_a_call_approved_by_a_human_elsewhere_still_needs_the_same_arguments(
    enc: Enclosure, tools: Tools
):
    _, _, agent, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    [pending] = enc.approvals.list()
    enc.approvals.approve(pending.approval_id, by="cli-user")  # e.g. the CLI
    run_agent(
        agent,
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"c1": True}),
    )
    assert tools.ran == [("refund", {"amount": 500})]
    assert enc.approvals.get(pending.approval_id).decided_by == "cli-user"


def test_a_toolset_that_did_not_park_the_call_asks_a_human_again(
    enc: Enclosure, tools: Tools
):
    script, run, _, first = park(enc, tools, [("refund", {"amount": 500}, "c1")])
    fresh = Agent(  # e.g. another process: this toolset knows no approvals
        script.model,
        toolsets=[EnclosureToolset(run, tools.toolset)],
        output_type=[str, DeferredToolRequests],
    )
    again = run_agent(
        fresh,
        message_history=first.all_messages(),
        deferred_tool_results=DeferredToolResults(approvals={"c1": True}),
    )
    assert isinstance(again.output, DeferredToolRequests)
    assert tools.ran == []
    assert [a.status for a in enc.approvals.list()] == ["pending", "pending"]


# ---- packaging ----------------------------------------------------------------------


def test_without_the_extra_the_import_names_the_install_command(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setitem(sys.modules, "pydantic_ai", None)
    monkeypatch.delitem(sys.modules, "enclosure.integrations.pydantic_ai")
    with pytest.raises(UsageError) as exc:
        importlib.import_module("enclosure.integrations.pydantic_ai")
    assert exc.value.code == "E-INTEGRATION-MISSING"
    assert "enclosure[pydantic-ai]" in exc.value.message
