"""The Agents SDK's real ``Runner.run`` loop, driven offline by ``ScriptedModel``."""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import anyio
import pytest
from agents import (
    Agent,
    AgentsException,
    FunctionTool,
    RunConfig,
    Runner,
    UserError,
    WebSearchTool,
    function_tool,
)
from agents.testing import (
    ModelCall,
    ModelStep,
    ScriptedModel,
    assistant_message,
    function_call,
)

from enclosure.audit import DecisionEvent, ResultEvent
from enclosure.errors import RunKilled, ToolFailed, UsageError
from enclosure.integrations.openai_agents import (
    GUARDRAIL_PASSED,
    enclosure_input_guardrail,
    guard,
    guard_tools,
)
from enclosure.testing import FakeClock, make_enclosure

if TYPE_CHECKING:
    from pathlib import Path

    from enclosure import Enclosure

MANIFEST = """
agent: {name: mailer}
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
  strict_broken: {}
approvals:
  ttl: 10m
"""

NO_TRACING = RunConfig(tracing_disabled=True)


@pytest.fixture
def enc(tmp_path: Path) -> Enclosure:
    return make_enclosure(MANIFEST, tmp_path, clock=FakeClock())


@pytest.fixture
def ran() -> list[tuple[str, Any]]:
    """Every time a tool body actually ran: (tool, argument)."""
    return []


@pytest.fixture
def tools(ran: list[tuple[str, Any]]) -> list[FunctionTool]:
    @function_tool
    def lookup(key: str) -> str:
        """Look a key up."""
        ran.append(("lookup", key))
        return f"value of {key}"

    @function_tool
    def send_email(to: str) -> str:
        """Send an email."""
        ran.append(("send_email", to))
        return f"sent to {to}"

    @function_tool
    def refund(amount: int) -> str:
        """Refund an amount."""
        ran.append(("refund", amount))
        return f"refunded {amount}"

    @function_tool
    def draft(text: str) -> str:
        """Draft a text."""
        ran.append(("draft", text))
        return text

    @function_tool
    def broken(x: int) -> str:
        """Always fails."""
        ran.append(("broken", x))
        msg = "boom"
        raise ValueError(msg)

    @function_tool(failure_error_function=None)
    def strict_broken(x: int) -> str:
        """Always fails, and asks the SDK to raise."""
        ran.append(("strict_broken", x))
        msg = "strict boom"
        raise ValueError(msg)

    return [lookup, send_email, refund, draft, broken, strict_broken]


def call(name: str, args: dict[str, Any] | str, call_id: str) -> Any:
    return function_call(name, args, call_id=call_id)


def run_agent(tools: list[Any], steps: list[Any]) -> tuple[Any, ScriptedModel]:
    model = ScriptedModel(steps)
    agent = Agent(name="mailer", model=model, tools=tools)

    async def bounded() -> Any:
        with anyio.fail_after(5):  # a tool that never finishes fails the test
            return await Runner.run(agent, "go", run_config=NO_TRACING)

    return anyio.run(bounded), model


def seen(model: ScriptedModel, turn: int, call_id: str) -> str:
    """The tool output the model read for ``call_id`` at the start of ``turn``."""
    items = model.calls[turn].input
    assert isinstance(items, list)
    outputs = [
        item["output"]
        for item in items
        if item.get("type") == "function_call_output" and item["call_id"] == call_id
    ]
    assert len(outputs) == 1, items
    return str(outputs[0])


def decisions(enc: Enclosure, run_id: str) -> list[DecisionEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["decision"])
        if isinstance(e.event, DecisionEvent) and e.event.run_id == run_id
    ]


def results(enc: Enclosure, run_id: str) -> list[ResultEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["result"])
        if isinstance(e.event, ResultEvent) and e.event.run_id == run_id
    ]


def done() -> list[Any]:
    return [assistant_message("done")]


# ---- every outcome, through guard_tools ---------------------------------------------


def test_allowed_call_runs_the_tool_and_the_model_reads_its_output(enc, tools, ran):
    run = enc.start_run("t")
    result, model = run_agent(
        guard_tools(run, tools), [[call("lookup", {"key": "k"}, "c1")], done()]
    )
    assert result.final_output == "done"
    assert ran == [("lookup", "k")]
    assert seen(model, 1, "c1") == "value of k"
    [decision] = decisions(enc, run.id)
    assert (decision.tool, decision.outcome, decision.disposition) == (
        "lookup",
        "allow",
        "dispatched",
    )
    assert decision.args == {"key": "k"}
    assert len(decision.args_sha256) == 64
    assert decision.rule
    [outcome] = results(enc, run.id)
    assert outcome.call_id == decision.call_id
    assert outcome.disposition == "executed"


def test_denied_call_does_not_run_and_the_model_reads_the_reason(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guard_tools(run, tools),
        [[call("send_email", {"to": "x@evil.example"}, "c1")], done()],
    )
    assert ran == []
    text = seen(model, 1, "c1")
    assert "send_email was refused: customers only" in text
    assert "tools.send_email.rules[0]" in text
    [decision] = decisions(enc, run.id)
    assert (decision.outcome, decision.disposition, decision.rule) == (
        "deny",
        "blocked",
        "tools.send_email.rules[0]",
    )


def test_simulated_call_returns_the_simulated_value_without_running(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guard_tools(run, tools), [[call("draft", {"text": "hi"}, "c1")], done()]
    )
    assert ran == []
    assert '"would_call_with": {"text": "hi"}' in seen(model, 1, "c1")
    [decision] = decisions(enc, run.id)
    assert (decision.outcome, decision.disposition) == ("simulate", "simulated")


def approve_then_retry(enc: Enclosure, *, approve: bool):
    """Turn 2 reads the pending approval, a human decides it, the model retries."""

    def decide_and_retry(model_call: ModelCall) -> list[Any]:
        [item] = [
            i for i in model_call.input if i.get("type") == "function_call_output"
        ]
        match = re.search(r"apr_[0-9a-f]+", str(item["output"]))
        assert match, item
        approval_id = match.group()
        if approve:
            enc.approvals.approve(approval_id, by="finance-lead")
        else:
            enc.approvals.deny(approval_id, by="finance-lead", reason="no")
        return [call("refund", {"amount": 500}, "c2")]

    return [
        [call("refund", {"amount": 500}, "c1")],
        ModelStep.respond(decide_and_retry),
        [call("refund", {"amount": 500}, "c3")],
        done(),
    ]


def test_pending_approval_names_its_id_and_approved_retry_runs_once(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(guard_tools(run, tools), approve_then_retry(enc, approve=True))
    events = decisions(enc, run.id)
    assert [(e.outcome, e.disposition) for e in events] == [
        ("approve", "pending"),
        ("allow", "dispatched"),
        ("approve", "pending"),
    ]
    approval_id = events[0].approval_id
    assert approval_id
    first = seen(model, 1, "c1")
    assert "refund needs a human's approval (large refunds need a human)" in first
    assert approval_id in first
    assert events[1].approval_id == approval_id
    assert enc.approvals.get(approval_id).status == "consumed"
    assert seen(model, 2, "c2") == "refunded 500"
    assert ran == [("refund", 500)]
    # the same call again is a new request, not a second use of the approval
    assert "needs a human's approval" in seen(model, 3, "c3")
    assert approval_id not in seen(model, 3, "c3")


def test_a_retry_while_the_approval_is_pending_is_not_a_denial(tmp_path, tools, ran):
    enc = make_enclosure(
        MANIFEST + "kill_switch:\n  max_denials: 2\n", tmp_path, clock=FakeClock()
    )
    run = enc.start_run("t")
    steps = [[call("refund", {"amount": 500}, f"c{i}")] for i in range(4)]
    _, model = run_agent(guard_tools(run, tools), [*steps, done()])
    [approval] = enc.approvals.list()
    for turn in range(1, 5):
        text = seen(model, turn, f"c{turn - 1}")
        assert "needs a human's approval (large refunds need a human)" in text
        assert approval.approval_id in text
    assert (run.status, run.state.denials, ran) == ("running", 0, [])
    assert {e.approval_id for e in decisions(enc, run.id)} == {approval.approval_id}


def test_rejected_approval_never_runs_and_the_model_reads_it(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guard_tools(run, tools), approve_then_retry(enc, approve=False)
    )
    assert ran == []
    assert "is denied" in seen(model, 2, "c2")
    assert "is denied" in seen(model, 3, "c3")  # no new request to the human
    assert [e.disposition for e in decisions(enc, run.id)] == [
        "pending",
        "blocked",
        "blocked",
    ]


def test_failed_tool_is_logged_and_the_model_reads_the_code(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guard_tools(run, tools), [[call("broken", {"x": 1}, "c1")], done()]
    )
    assert ran == [("broken", 1)]
    assert seen(model, 1, "c1") == (
        "[enclosure] broken failed (E-TOOL-FAILED): ValueError: boom"
    )
    [outcome] = results(enc, run.id)
    assert outcome.disposition == "failed"


def test_tool_without_failure_function_still_raises_from_runner(enc, tools, ran):
    run = enc.start_run("t")
    with pytest.raises(UserError, match="strict boom"):
        run_agent(
            guard_tools(run, tools), [[call("strict_broken", {"x": 1}, "c1")], done()]
        )
    [outcome] = results(enc, run.id)
    assert outcome.disposition == "failed"


def test_a_raising_tool_reaches_the_runner_with_its_secret_redacted(tmp_path):
    secret = "hunter2-supersecret-XYZ"
    enc = make_enclosure(MANIFEST, tmp_path, clock=FakeClock(), secrets=[secret])

    @function_tool(failure_error_function=None)
    def strict_broken(x: int) -> str:
        """Fails with a secret in its message."""
        msg = f"401 using key {secret}"
        raise RuntimeError(msg)

    run = enc.start_run("t")
    with pytest.raises(UserError) as caught:
        run_agent(
            guard_tools(run, [strict_broken]),
            [[call("strict_broken", {"x": 1}, "c1")], done()],
        )
    assert isinstance(caught.value, ToolFailed)
    assert caught.value.code == "E-TOOL-FAILED"
    assert "RuntimeError: 401 using key [REDACTED]" in caught.value.message
    chain = [caught.value, caught.value.__cause__, caught.value.__context__]
    assert all(secret not in str(e) for e in chain if e is not None)


def test_arguments_that_are_not_json_are_refused_as_one_decision(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guard_tools(run, tools), [[call("lookup", "{not json", "c1")], done()]
    )
    assert ran == []
    assert "lookup was refused" in seen(model, 1, "c1")
    [decision] = decisions(enc, run.id)
    assert decision.disposition == "blocked"


# ---- kill: the runaway loop ---------------------------------------------------------


def keep_emailing(model_call: ModelCall) -> list[Any]:
    n = sum(1 for i in model_call.input if i.get("type") == "function_call") + 1
    return [call("send_email", {"to": f"c{n}@customers.example"}, f"c{n}")]


def test_runaway_loop_sends_three_emails_then_runner_stops(enc, tools, ran):
    run = enc.start_run("t")
    steps = [ModelStep.respond(keep_emailing) for _ in range(10)]
    with pytest.raises(RunKilled) as caught:
        run_agent(guard_tools(run, tools), steps)
    assert isinstance(caught.value, AgentsException)
    assert caught.value.code == "E-RUN-KILLED"
    assert "rate limit 3/minute exceeded" in caught.value.message
    assert [to for tool, to in ran if tool == "send_email"] == [
        "c1@customers.example",
        "c2@customers.example",
        "c3@customers.example",
    ]
    assert run.status == "killed"
    events = decisions(enc, run.id)
    assert [e.outcome for e in events] == ["allow", "allow", "allow", "kill"]
    assert events[-1].rule == "tools.send_email.rate[0]"


def test_parallel_calls_in_one_turn_still_stop_after_three(enc, tools, ran):
    run = enc.start_run("t")
    burst = [
        call("send_email", {"to": f"c{n}@customers.example"}, f"c{n}") for n in range(5)
    ]
    with pytest.raises(RunKilled):
        run_agent(guard_tools(run, tools), [burst, done()])
    assert len([r for r in ran if r[0] == "send_email"]) == 3
    outcomes = [e.outcome for e in decisions(enc, run.id)]
    assert outcomes[:4] == ["allow", "allow", "allow", "kill"]
    assert set(outcomes[4:]) <= {"kill"}  # a sibling decided after the kill


def hanging_email(started: list[str]) -> FunctionTool:
    @function_tool
    async def send_email(to: str) -> str:
        """Send an email; never finishes (only a cancellation ends it)."""
        started.append(to)
        await anyio.Event().wait()
        return "sent"

    return send_email


def test_a_kill_cancelling_parallel_calls_logs_each_as_cancelled(enc):
    run = enc.start_run("t")
    started: list[str] = []
    burst = [
        call("send_email", {"to": f"c{n}@customers.example"}, f"c{n}") for n in range(5)
    ]
    with pytest.raises(RunKilled):
        run_agent(guard_tools(run, [hanging_email(started)]), [burst, done()])
    assert len(started) == 3
    dispatched = {
        e.call_id for e in decisions(enc, run.id) if e.disposition == "dispatched"
    }
    closed = {r.call_id: r for r in results(enc, run.id)}
    assert len(dispatched) == 3
    assert set(closed) == dispatched
    assert {r.error.code for r in closed.values() if r.error} == {"E-TOOL-CANCELLED"}


def test_an_sdk_timeout_is_a_failed_result_and_counts_as_an_error(enc):
    run = enc.start_run("t")
    started: list[str] = []
    slow = hanging_email(started)
    slow.timeout_seconds = 0.01  # the SDK cancels the call: no test sleeps
    _, model = run_agent(
        guard_tools(run, [slow]),
        [[call("send_email", {"to": "a@customers.example"}, "c1")], done()],
    )
    assert "timed out" in seen(model, 1, "c1")
    [result] = results(enc, run.id)
    assert result.error is not None
    assert result.error.code == "E-TOOL-CANCELLED"
    assert run.state.errors == 1


def test_a_killed_run_refuses_the_next_agent_too(enc, tools, ran):
    run = enc.start_run("t")
    run.kill("operator pressed stop")
    with pytest.raises(RunKilled, match="operator pressed stop"):
        run_agent(guard_tools(run, tools), [[call("lookup", {"key": "k"}, "c1")]])
    assert ran == []


def test_a_kill_from_another_process_stops_the_runner_at_its_next_call(
    enc, ran, tmp_path
):
    run = enc.start_run("t")

    @function_tool
    def send_email(to: str) -> str:
        """Send an email; the operator kills the run after the first one."""
        ran.append(("send_email", to))
        if len(ran) == 1:  # another process on the same log, as a server would be
            with make_enclosure(MANIFEST, tmp_path, clock=FakeClock()) as operator:
                operator.resume_run(run.id).kill("operator saw a loop", by="ops")
        return f"sent to {to}"

    steps = [ModelStep.respond(keep_emailing) for _ in range(10)]
    with pytest.raises(RunKilled, match="operator saw a loop"):
        run_agent(guard_tools(run, [send_email]), steps)
    assert ran == [("send_email", "c1@customers.example")]
    assert run.status == "killed"


# ---- the guardrail form -------------------------------------------------------------


def guarded_by_rail(run, tools: list[FunctionTool]) -> list[FunctionTool]:
    rail = enclosure_input_guardrail(run)
    for tool in tools:
        tool.tool_input_guardrails = [rail]
    return tools


def test_guardrail_decides_without_running_and_rejects_with_the_reason(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guarded_by_rail(run, tools),
        [
            [
                call("lookup", {"key": "k"}, "c1"),
                call("send_email", {"to": "x@evil.example"}, "c2"),
                call("draft", {"text": "hi"}, "c3"),
            ],
            done(),
        ],
    )
    assert ran == [("lookup", "k")]
    assert seen(model, 1, "c1") == "value of k"
    assert "customers only" in seen(model, 1, "c2")
    assert "would_call_with" in seen(model, 1, "c3")
    by_tool = {e.tool: e for e in decisions(enc, run.id)}
    assert {t: e.outcome for t, e in by_tool.items()} == {
        "lookup": "allow",
        "send_email": "deny",
        "draft": "simulate",
    }
    guardrail_results = [r for r in results(enc, run.id) if r.tool == "lookup"]
    assert [r.disposition for r in guardrail_results] == ["executed"]
    assert GUARDRAIL_PASSED.startswith("[enclosure] allowed")


def test_guardrail_does_not_check_its_placeholder_against_the_output_schema(
    tmp_path, tools, ran
):
    schema = "    output_schema: {type: string, maxLength: 20}\n"
    lookup = "  lookup:\n    effect: read\n"
    manifest = MANIFEST.replace(lookup, lookup + schema)
    enc = make_enclosure(manifest, tmp_path, clock=FakeClock())
    run = enc.start_run("t")
    _, model = run_agent(
        guarded_by_rail(run, tools), [[call("lookup", {"key": "k"}, "c1")], done()]
    )
    assert ran == [("lookup", "k")]
    assert seen(model, 1, "c1") == "value of k"
    [result] = results(enc, run.id)
    assert (result.disposition, result.error) == ("executed", None)


def test_guardrail_approval_runs_the_tool_once_after_approval(enc, tools, ran):
    run = enc.start_run("t")
    _, model = run_agent(
        guarded_by_rail(run, tools), approve_then_retry(enc, approve=True)
    )
    assert "needs a human's approval" in seen(model, 1, "c1")
    assert seen(model, 2, "c2") == "refunded 500"
    assert ran == [("refund", 500)]


def test_guardrail_kill_stops_the_runner(enc, tools, ran):
    run = enc.start_run("t")
    steps = [ModelStep.respond(keep_emailing) for _ in range(10)]
    with pytest.raises(RunKilled):
        run_agent(guarded_by_rail(run, tools), steps)
    assert len(ran) == 3


def test_guarded_tool_with_the_guardrail_is_decided_once(enc, tools, ran):
    run = enc.start_run("t")
    rail = enclosure_input_guardrail(run)
    for tool in tools:
        tool.tool_input_guardrails = [rail]
    guarded = guard_tools(run, tools)
    assert all(not t.tool_input_guardrails for t in guarded)
    guarded[0].tool_input_guardrails = [rail]  # added back after guarding
    run_agent(guarded, [[call("lookup", {"key": "k"}, "c1")], done()])
    assert len(decisions(enc, run.id)) == 1
    assert ran == [("lookup", "k")]


# ---- usage errors -------------------------------------------------------------------


def test_hosted_tools_cannot_be_guarded(enc):
    run = enc.start_run("t")
    with pytest.raises(UsageError) as caught:
        guard(run, WebSearchTool())
    assert caught.value.code == "E-INTEGRATION-TOOL"


def test_guarding_twice_is_idempotent_but_not_across_runs(enc, tools):
    run, other = enc.start_run("t"), enc.start_run("u")
    once = guard(run, tools[0])
    assert guard(run, once) is once
    with pytest.raises(UsageError) as caught:
        guard(other, once)
    assert caught.value.code == "E-INTEGRATION-GUARDED"
    assert tools[0].on_invoke_tool is not once.on_invoke_tool  # the original is kept


def test_context_builder_sees_the_sdk_tool_context(enc, tools):
    run = enc.start_run("t")
    guarded = guard_tools(
        run, tools, context=lambda ctx: {"sdk_call_id": ctx.tool_call_id}
    )
    run_agent(guarded, [[call("lookup", {"key": "k"}, "c1")], done()])
    [decision] = decisions(enc, run.id)
    assert '"sdk_call_id":"c1"' in decision.context_excerpt
