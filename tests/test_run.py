import os
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import anyio
import pytest

from enclosure import Enclosure
from enclosure._run import _call_ids, _CallIds
from enclosure.audit import DecisionEvent, ResultEvent
from enclosure.errors import (
    ApprovalError,
    ApprovalPending,
    AuditUnavailable,
    RunKilled,
    ToolDenied,
    ToolFailed,
    UsageError,
)
from enclosure.testing import FakeClock, make_enclosure

MANIFEST = """
agent: {name: billing}
tools:
  lookup:
    effect: read
  send_email:
    cost: 0.5
    input_schema:
      type: object
      properties: {to: {type: string}, body: {type: string}}
      required: [to]
      additionalProperties: false
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
  off:
    mode: deny
kill_switch:
  max_consecutive_errors: 2
approvals:
  ttl: 10m
"""


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def enc(tmp_path: Path, clock: FakeClock) -> Enclosure:
    e = make_enclosure(MANIFEST, tmp_path, clock=clock)
    sent: list[dict[str, Any]] = []
    e.sent = sent  # type: ignore[attr-defined]

    @e.tool()
    def lookup(key: str) -> str:
        return f"value of {key}"

    @e.tool()
    def send_email(to: str, body: str = "") -> dict[str, str]:
        sent.append({"to": to, "body": body})
        return {"id": f"m{len(sent)}"}

    @e.tool()
    def refund(amount: float) -> float:
        return amount

    @e.tool()
    def draft(text: str) -> str:
        return "live result must not happen"

    @e.tool()
    def broken() -> None:
        msg = "upstream exploded"
        raise RuntimeError(msg)

    return e


def decisions(enc: Enclosure) -> list[DecisionEvent]:
    return [
        e.event
        for e in enc.log.events(kinds=["decision"])
        if isinstance(e.event, DecisionEvent)
    ]


def test_allowed_call_runs_and_returns_a_receipt_in_the_log(enc: Enclosure):
    run = enc.start_run(task="t", model="m1", prompt_version="p7")
    result = run.call("lookup", {"key": "k"}, context={"ticket": "T-1"})
    assert result.status == "executed"
    assert result.value == "value of k"
    assert result.receipt is not None
    stored = {e.seq: e for e in enc.log.events()}
    assert isinstance(stored[result.receipt.event_seq].event, ResultEvent)
    assert stored[result.receipt.event_seq].hash == result.receipt.event_hash
    [d] = decisions(enc)
    assert (d.outcome, d.disposition, d.rule) == (
        "allow",
        "dispatched",
        "tools.lookup.mode",
    )
    assert (d.model, d.prompt_version, d.agent) == ("m1", "p7", "billing")
    assert d.validator.ok
    assert d.args == {"key": "k"}
    assert d.context_excerpt == '{"ticket":"T-1"}'
    assert d.manifest_sha256 == enc.manifest.sha256


def test_decision_is_on_record_before_the_handler_runs(enc: Enclosure):
    seen: list[list[str]] = []

    @enc.tool("draft", simulator=True)
    def never(text: str) -> None:  # pragma: no cover -- a simulate tool only
        pass

    def spy(call: Any, nxt: Any) -> Any:
        seen.append(
            [d.disposition for d in decisions(enc) if d.call_id == call.call_id]
        )
        return nxt(call)

    enc.router.use(spy)
    enc.start_run(task="t").call("lookup", {"key": "k"})
    assert seen == [["dispatched"]]


def test_denied_call_does_not_run_and_explains_why(enc: Enclosure):
    run = enc.start_run(task="t")
    result = run.call("send_email", {"to": "x@evil.example"})
    assert result.status == "blocked"
    assert result.error is not None
    assert result.error.code == "E-DENIED"
    assert result.decision.reason == "customers only"
    assert enc.sent == []  # type: ignore[attr-defined]
    with pytest.raises(ToolDenied) as exc:
        result.unwrap()
    assert exc.value.code == "E-DENIED"


def test_undeclared_tool_is_denied_by_default(enc: Enclosure):
    result = enc.start_run(task="t").call("rm_rf", {})
    assert (result.status, result.decision.rule) == ("blocked", "default-deny")


def test_switched_off_tool_is_denied(enc: Enclosure):
    result = enc.start_run(task="t").call("off", {})
    assert (result.status, result.decision.rule) == ("blocked", "tools.off.mode")


def test_invalid_arguments_are_refused_with_the_validator_result(enc: Enclosure):
    result = enc.start_run(task="t").call("send_email", {"to": 5, "cc": "x"})
    assert result.status == "blocked"
    assert result.error is not None
    assert result.error.code == "E-ARGS-INVALID"
    [d] = decisions(enc)
    assert not d.validator.ok
    assert len(d.validator.errors) == 2
    assert d.rule == "tools.send_email.input_schema"


@pytest.mark.parametrize(
    "args", [["not", "a", "dict"], {"x": float("nan")}, {"x": object()}]
)
def test_arguments_that_are_not_json_objects_are_refused(enc: Enclosure, args: Any):
    result = enc.start_run(task="t").call("lookup", args)
    assert result.status == "blocked"
    assert result.error is not None
    assert result.error.code == "E-ARGS-INVALID"
    assert enc.verify().ok


def test_rate_limit_with_kill_lets_exactly_three_through(enc: Enclosure):
    run = enc.start_run(task="loop")
    killed: list[str] = []
    run.on_kill(lambda r, reason: killed.append(reason))
    statuses = [
        run.call("send_email", {"to": "a@customers.example"}).status for _ in range(6)
    ]
    assert statuses == ["executed"] * 3 + ["killed"] * 3
    assert len(enc.sent) == 3  # type: ignore[attr-defined]
    assert run.status == "killed"
    assert len(killed) == 1
    later = run.call("lookup", {"key": "k"})
    assert later.status == "killed"
    assert later.decision.rule == "run.killed"
    with pytest.raises(RunKilled):
        later.unwrap()
    kinds = [e.event.kind for e in enc.log.events()]
    assert kinds.count("kill") == 1
    assert kinds.count("alert") == 1
    assert enc.log.get_run(run.id).status == "killed"  # type: ignore[union-attr]


def test_enclosure_kill_hooks_fire_once_and_a_failing_hook_does_not_stop_others(
    enc: Enclosure,
):
    fired: list[str] = []

    @enc.on_kill
    def bad(run: Any, reason: str) -> None:
        msg = "hook bug"
        raise ValueError(msg)

    enc.on_kill(lambda run, reason: fired.append(run.id))
    run = enc.start_run(task="t")
    run.kill("operator pressed the button")
    run.kill("again")
    assert fired == [run.id]
    assert run.call("lookup", {"key": "k"}).status == "killed"


def test_simulate_mode_never_runs_the_handler(enc: Enclosure):
    result = enc.start_run(task="t").call("draft", {"text": "hello"})
    assert result.status == "simulated"
    assert result.value == {
        "simulated": True,
        "tool": "draft",
        "would_call_with": {"text": "hello"},
    }
    assert result.receipt is not None
    assert result.receipt.output_sha256


def test_simulator_registered_for_a_tool_is_used(enc: Enclosure):
    @enc.tool("draft", simulator=True)
    def preview(text: str) -> dict[str, str]:
        return {"preview": text.upper()}

    result = enc.start_run(task="t").call("draft", {"text": "hi"})
    assert result.value == {"preview": "HI"}


def test_failing_handler_gives_a_coded_result_and_errors_feed_the_kill_switch(
    enc: Enclosure,
):
    run = enc.start_run(task="t")
    first = run.call("broken", {})
    assert first.status == "failed"
    assert first.error is not None
    assert first.error.code == "E-TOOL-FAILED"
    assert "RuntimeError" in first.error.message
    with pytest.raises(ToolFailed):
        first.unwrap()
    assert run.call("broken", {}).status == "failed"
    third = run.call("lookup", {"key": "k"})
    assert third.status == "killed"
    assert third.decision.rule == "kill_switch.max_consecutive_errors"


def test_result_not_matching_output_schema_is_withheld(tmp_path: Path):
    enc = make_enclosure(
        """
        agent: {name: a}
        tools:
          t:
            output_schema: {type: object, required: [id]}
        """,
        tmp_path,
    )
    enc.tool("t")(lambda: {"secret_internal": 1})
    result = enc.start_run(task="x").call("t", {})
    assert result.status == "failed"
    assert result.value is None
    assert result.error is not None
    assert result.error.code == "E-RESULT-INVALID"


def test_a_withheld_result_is_never_quoted_to_the_model_or_the_log(tmp_path: Path):
    secret = "hunter2-supersecret-XYZ"
    enc = make_enclosure(
        """
        agent: {name: a}
        tools:
          lookup:
            effect: read
            output_schema: {type: object}
          count: {effect: read}
        """,
        tmp_path,
        secrets=[secret],
    )
    enc.tool("lookup")(lambda: f"postgres://app:{secret}@db is the value-xyz")

    @enc.tool()
    def count() -> int:
        return "value-xyz"  # type: ignore[return-value]

    run = enc.start_run(task="x")
    results = [run.call("lookup", {}), run.call("count", {})]
    logged = [
        e.event.error
        for e in enc.log.events(kinds=["result"])
        if isinstance(e.event, ResultEvent)
    ]
    messages = [r.error.message for r in results if r.error] + [
        e.message for e in logged if e
    ]
    assert [r.error.code for r in results if r.error] == ["E-RESULT-INVALID"] * 2
    assert len(messages) == 4
    assert "(root): fails the schema's type" in messages[0]
    for message in messages:
        assert "value-xyz" not in message
        assert "hunter2" not in message


def test_approval_parks_the_call_then_runs_it_once_when_approved(enc: Enclosure):
    run = enc.start_run(task="t", started_by="agent-svc")
    parked = run.call("refund", {"amount": 500})
    assert parked.status == "pending"
    assert parked.approval_id is not None
    with pytest.raises(ApprovalPending) as exc:
        parked.unwrap()
    assert exc.value.approval_id == parked.approval_id
    enc.approvals.approve(parked.approval_id, by="finance")
    done = run.resume(parked.approval_id)
    assert (done.status, done.value) == ("executed", 500)
    assert done.decision.via_approval
    dispatched = [d for d in decisions(enc) if d.disposition == "dispatched"]
    assert dispatched[-1].approval_id == parked.approval_id
    again = run.call("refund", {"amount": 500}, approval_id=parked.approval_id)
    assert again.status == "blocked"
    assert again.error is not None
    assert again.error.code == "E-APPROVAL-NOT-APPROVED"


def test_a_retry_while_its_approval_is_pending_waits_and_is_no_denial(
    tmp_path: Path, clock: FakeClock
):
    manifest = MANIFEST.replace("kill_switch:\n", "kill_switch:\n  max_denials: 2\n")
    enc = make_enclosure(manifest, tmp_path, clock=clock)
    enc.tool("refund")(lambda amount: amount)
    run = enc.start_run(task="t")
    parked = run.call("refund", {"amount": 500})
    assert parked.approval_id is not None
    retries = [
        run.call("refund", {"amount": 500}, approval_id=parked.approval_id)
        for _ in range(3)
    ]
    assert {(r.status, r.approval_id) for r in retries} == {
        ("pending", parked.approval_id)
    }
    assert {r.error.code for r in retries if r.error} == {"E-APPROVAL-PENDING"}
    assert (run.status, run.state.denials) == ("running", 0)
    assert [a.approval_id for a in enc.approvals.list()] == [parked.approval_id]
    assert {(d.outcome, d.disposition) for d in decisions(enc)} == {
        ("approve", "pending")
    }
    enc.approvals.approve(parked.approval_id, by="finance")
    done = run.call("refund", {"amount": 500}, approval_id=parked.approval_id)
    assert (done.status, done.value) == ("executed", 500)


def test_approval_for_one_argument_set_never_releases_another(enc: Enclosure):
    run = enc.start_run(task="t")
    parked = run.call("refund", {"amount": 500})
    assert parked.approval_id is not None
    enc.approvals.approve(parked.approval_id, by="finance")
    other = run.call("refund", {"amount": 5000}, approval_id=parked.approval_id)
    assert other.status == "blocked"
    assert other.error is not None
    assert other.error.code == "E-APPROVAL-MISMATCH"
    second_run = enc.start_run(task="t2")
    stolen = second_run.call("refund", {"amount": 500}, approval_id=parked.approval_id)
    assert stolen.error is not None
    assert stolen.error.code == "E-APPROVAL-MISMATCH"
    assert run.resume(parked.approval_id).status == "executed"


def test_denied_or_expired_approvals_deny_the_call(enc: Enclosure, clock: FakeClock):
    run = enc.start_run(task="t")
    a = run.call("refund", {"amount": 200}).approval_id
    b = run.call("refund", {"amount": 300}).approval_id
    assert a is not None
    assert b is not None
    enc.approvals.deny(a, by="finance", reason="no")
    assert run.resume(a).status == "blocked"
    clock.advance(601)
    with pytest.raises(ApprovalError) as exc:
        enc.approvals.approve(b, by="finance")
    assert exc.value.code == "E-APPROVAL-EXPIRED"
    assert run.resume(b).status == "blocked"
    statuses = {x.approval_id: x.status for x in enc.approvals.list()}
    assert statuses == {a: "denied", b: "expired"}


def test_the_run_starter_cannot_approve_its_own_call(enc: Enclosure):
    run = enc.start_run(task="t", started_by="alice")
    parked = run.call("refund", {"amount": 500})
    assert parked.approval_id is not None
    with pytest.raises(ApprovalError) as exc:
        enc.approvals.approve(parked.approval_id, by="alice")
    assert exc.value.code == "E-APPROVAL-SELF"


def test_resume_of_a_call_this_process_did_not_park_is_refused(enc: Enclosure):
    with pytest.raises(ApprovalError) as exc:
        enc.start_run(task="t").resume("apr_unknown")
    assert exc.value.code == "E-APPROVAL-NOT-FOUND"


def test_resume_without_a_handler_fails_and_leaves_the_approval_unused(
    tmp_path: Path,
):
    enc = make_enclosure(MANIFEST, tmp_path)
    run = enc.start_run(task="t")
    parked = run.call("refund", {"amount": 500}, handler=lambda amount: amount)
    assert parked.approval_id is not None
    enc.approvals.approve(parked.approval_id, by="finance")
    with pytest.raises(UsageError) as missing:
        run.resume(parked.approval_id)
    assert missing.value.code == "E-TOOL-NO-HANDLER"

    async def async_refund(amount: float) -> float:
        return amount

    with pytest.raises(UsageError) as not_sync:
        run.resume(parked.approval_id, handler=async_refund)
    assert not_sync.value.code == "E-TOOL-ASYNC"
    assert enc.approvals.get(parked.approval_id).status == "approved"
    done = run.resume(parked.approval_id, handler=lambda amount: amount * 2)
    assert (done.status, done.value) == ("executed", 1000)


def test_run_tool_guards_a_function_and_run_dispatch_answers_tool_calls(
    enc: Enclosure,
):
    run = enc.start_run(task="t")

    @run.tool
    def send_email(to: str, body: str = "") -> dict[str, str]:
        return {"id": f"to {to}"}

    refund = run.tool(lambda amount: amount, name="refund")
    assert send_email("a@customers.example") == {"id": "to a@customers.example"}
    with pytest.raises(ToolDenied):
        send_email("x@evil.example")
    with pytest.raises(ApprovalPending):
        refund(500)
    call = {"id": "c1", "function": {"name": "lookup", "arguments": '{"key": "k"}'}}
    assert run.dispatch([call]) == [
        {"role": "tool", "tool_call_id": "c1", "content": "value of k"}
    ]
    assert [(d.tool, d.outcome) for d in decisions(enc)] == [
        ("send_email", "allow"),
        ("send_email", "deny"),
        ("refund", "approve"),
        ("lookup", "allow"),
    ]


def test_ended_run_refuses_calls_and_records_its_end(enc: Enclosure):
    with enc.start_run(task="t") as run:
        run.call("lookup", {"key": "k"})
    with pytest.raises(UsageError) as exc:
        run.call("lookup", {"key": "k"})
    assert exc.value.code == "E-RUN-ENDED"
    record = enc.log.get_run(run.id)
    assert record is not None
    assert (record.status, record.calls, record.executed) == ("completed", 1, 1)


def test_a_cancelled_call_gets_a_failed_result_then_the_cancellation_goes_on(
    enc: Enclosure,
):
    run = enc.start_run(task="t")
    started = anyio.Event()
    finished: list[Any] = []

    async def hang(key: str) -> str:
        started.set()
        await anyio.Event().wait()  # never set: only a cancel ends it
        return key

    async def main() -> None:
        with anyio.fail_after(5):
            async with anyio.create_task_group() as tg:

                async def one() -> None:
                    finished.append(
                        await run.acall("lookup", {"key": "k"}, handler=hang)
                    )

                tg.start_soon(one)
                await started.wait()
                tg.cancel_scope.cancel()

    anyio.run(main)
    assert finished == []  # the cancellation reached the caller
    [result] = [
        e.event
        for e in enc.log.events(kinds=["result"])
        if isinstance(e.event, ResultEvent)
    ]
    assert result.disposition == "failed"
    assert result.error is not None
    assert result.error.code == "E-TOOL-CANCELLED"
    assert run.state.errors == 1  # a timeout counts toward max_consecutive_errors
    assert run.open_call("lookup", {"key": "k"}) is None


def test_async_api_awaits_async_handlers_and_threads_sync_ones(tmp_path: Path):
    enc = make_enclosure(
        """
        agent: {name: a}
        tools:
          slow: {effect: read}
          plain: {effect: read}
        """,
        tmp_path,
    )

    @enc.tool()
    async def slow(n: int) -> int:
        await anyio.lowlevel.checkpoint()
        return n * 2

    enc.tool("plain")(lambda n: n + 1)

    async def main() -> list[Any]:
        run = enc.start_run(task="t")
        with anyio.fail_after(5):
            return [
                (await run.acall("slow", {"n": 2})).value,
                (await run.acall("plain", {"n": 2})).value,
            ]

    assert anyio.run(main) == [4, 3]
    sync_run = enc.start_run(task="t")
    result = sync_run.call("slow", {"n": 1})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error.code == "E-TOOL-ASYNC"


def test_secrets_never_reach_the_database_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    secret = "s3cr3t-value-that-must-not-leak"
    monkeypatch.setenv("BILLING_API_KEY", secret)
    enc = make_enclosure(
        """
        agent: {name: a}
        tools:
          t: {effect: read}
        redact:
          env: [BILLING_API_KEY]
        """,
        tmp_path,
        secrets=["explicit-secret-9f8e7d"],
    )

    @enc.tool()
    def t(note: str, password: str = "") -> str:
        raise RuntimeError(note)

    run = enc.start_run(task="t")
    result = run.call(
        "t",
        {
            "note": f"key={secret} and explicit-secret-9f8e7d",
            "password": "hunter2hunter2",
        },
        context={"email": f"your key is {secret}", "aws": "AKIAIOSFODNN7EXAMPLE"},
    )
    assert result.error is not None
    assert secret not in result.error.message
    enc.close()
    blob = b"".join(p.read_bytes() for p in tmp_path.rglob("enclosure.db*"))
    for leaked in (
        secret,
        "explicit-secret-9f8e7d",
        "hunter2hunter2",
        "AKIAIOSFODNN7EXAMPLE",
    ):
        assert leaked.encode() not in blob


def block_inserts(home: Path) -> None:
    """Make every append fail the way a full disk does, from another connection."""
    conn = sqlite3.connect(home / "enclosure.db")
    conn.execute(
        "CREATE TRIGGER no_more BEFORE INSERT ON events "
        "BEGIN SELECT RAISE(ABORT, 'database or disk is full'); END"
    )
    conn.commit()
    conn.close()


def test_unwritable_log_denies_the_call_and_the_handler_never_runs(
    enc: Enclosure, tmp_path: Path
):
    run = enc.start_run(task="t")
    block_inserts(tmp_path)
    result = run.call("send_email", {"to": "a@customers.example"})
    assert result.status == "blocked"
    assert result.error is not None
    assert result.error.code == "E-AUDIT-UNAVAILABLE"
    assert enc.sent == []  # type: ignore[attr-defined]


def test_starting_a_run_fails_closed_when_the_log_cannot_be_written(
    enc: Enclosure, tmp_path: Path
):
    block_inserts(tmp_path)
    with pytest.raises(AuditUnavailable) as exc:
        enc.start_run(task="t")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"


def test_every_call_is_one_decision_event_and_the_chain_verifies(enc: Enclosure):
    run = enc.start_run(task="t")
    run.call("lookup", {"key": "a"})
    run.call("send_email", {"to": "x@evil.example"})
    run.call("draft", {"text": "x"})
    run.call("refund", {"amount": 1000})
    assert [d.disposition for d in decisions(enc)] == [
        "dispatched",
        "blocked",
        "simulated",
        "pending",
    ]
    assert len({d.call_id for d in decisions(enc)}) == 4
    assert enc.verify().ok


def test_a_per_call_handler_runs_instead_of_the_registered_one(enc: Enclosure):
    seen: list[str] = []

    def framework_tool(key: str) -> str:
        seen.append(key)
        return f"framework says {key}"

    with enc.start_run(task="t") as run:
        result = run.call("lookup", {"key": "k"}, handler=framework_tool)
        denied = run.call(
            "send_email", {"to": "x@evil.example"}, handler=framework_tool
        )
    assert result.value == "framework says k"
    assert seen == ["k"]  # the denied call never reached it
    assert denied.status == "blocked"
    assert [d.tool for d in decisions(enc)] == ["lookup", "send_email"]


def test_a_per_call_handler_works_for_undeclared_handlers_and_async(tmp_path: Path):
    enc = make_enclosure(
        "agent: {name: a}\ntools:\n  noted: {effect: read}\n", tmp_path
    )

    async def framework_tool(text: str) -> str:
        return text.upper()

    with enc.start_run(task="t") as run:
        sync = run.call("noted", {"text": "a"}, handler=framework_tool)
        result = anyio.run(
            lambda: run.acall("noted", {"text": "b"}, handler=framework_tool)
        )
    assert sync.status == "failed"
    assert sync.error is not None
    assert sync.error.code == "E-TOOL-ASYNC"
    assert result.value == "B"


# --- propose / record_result: calls the caller runs itself ---------------------------

SELF_RUN = """
agent: {name: a}
tools:
  edit:
    cost: 0.5
    rules:
      - when: "args.path == '/etc/passwd'"
        then: deny
        reason: not that file
      - when: "args.path == 'ask'"
        then: approve
"""


def test_propose_logs_the_decision_and_record_result_closes_it(tmp_path: Path):
    enc = make_enclosure(SELF_RUN, tmp_path)
    run = enc.start_run(task="t")
    proposed = run.propose("edit", {"path": "a.py"})
    assert proposed.status == "dispatched"
    assert proposed.receipt is not None
    call_id = proposed.receipt.call_id
    assert run.open_call("edit", {"path": "a.py"}) == call_id
    assert run.open_call("edit", {"path": "b.py"}) is None
    done = run.record_result(call_id, value={"ok": True})
    assert done.status == "executed"
    assert run.open_call("edit", {"path": "a.py"}) is None
    [decision] = [e.event for e in enc.log.events(kinds=["decision"])]
    [result] = [e.event for e in enc.log.events(kinds=["result"])]
    assert isinstance(decision, DecisionEvent)
    assert isinstance(result, ResultEvent)
    assert (decision.disposition, result.call_id) == ("dispatched", decision.call_id)
    assert (result.disposition, result.cost) == ("executed", 0.5)
    enc.close()


def test_record_result_of_a_failed_call_and_of_an_unknown_one(tmp_path: Path):
    enc = make_enclosure(SELF_RUN, tmp_path)
    run = enc.start_run(task="t")
    call_id = run.propose("edit", {"path": "a.py"}).receipt.call_id
    failed = run.record_result(call_id, error="disk full")
    assert failed.status == "failed"
    assert failed.error is not None
    assert "disk full" in failed.error.message
    with pytest.raises(UsageError) as exc:
        run.record_result(call_id)
    assert exc.value.code == "E-CALL-UNKNOWN"
    enc.close()


def test_propose_refuses_and_parks_as_call_does(tmp_path: Path):
    enc = make_enclosure(SELF_RUN, tmp_path)
    run = enc.start_run(task="t")
    assert run.propose("edit", {"path": "/etc/passwd"}).status == "blocked"
    parked = run.propose("edit", {"path": "ask"})
    assert parked.status == "pending"
    # a human let it run elsewhere (a coding agent's own prompt): its result is kept
    call_id = run.open_call("edit", {"path": "ask"})
    assert call_id is not None
    assert run.record_result(call_id).status == "executed"
    enc.close()


def test_a_front_door_admits_and_refuses_calls_outside_the_policy(tmp_path: Path):
    enc = make_enclosure(SELF_RUN, tmp_path)
    run = enc.start_run(task="t")
    args = {"uri": "memo://public"}
    admitted = run.admit(
        "resources/read", args, rule="upstreams.up.resources", reason="allowed"
    )
    assert admitted.status == "dispatched"
    assert admitted.receipt is not None
    assert run.record_result(admitted.receipt.call_id, value={"x": 1}).ok
    refused = run.refuse(
        "resources/read", args, rule="upstreams.resources", reason="not listed"
    )
    assert refused.status == "blocked"
    assert run.state.calls == 0  # neither counts toward a tool limit
    run.kill("enough")
    after = run.admit("resources/read", args, rule="upstreams.up.resources", reason="-")
    assert after.status == "killed"
    assert after.error is not None
    assert after.error.code == "E-RUN-KILLED"
    events = [s.event for s in enc.log.events(run_id=run.id)]
    decided = [(e.tool, e.outcome) for e in events if e.kind == "decision"]
    assert decided == [
        ("resources/read", "allow"),
        ("resources/read", "deny"),
        ("resources/read", "kill"),
    ]
    assert [e.disposition for e in events if e.kind == "result"] == ["executed"]
    enc.close()


# ---- a run killed or ended by another process -------------------------------------

_KILLER = """
import sys
from pathlib import Path
from enclosure import Enclosure
from enclosure.testing import manifest_from

home, run_id, manifest = Path(sys.argv[1]), sys.argv[2], sys.argv[3]
with Enclosure(manifest_from(manifest), home=home) as enc:
    enc.resume_run(run_id).kill("stopped from the other process", by="ops")
"""


def test_a_kill_from_another_process_stops_the_run_at_its_next_call(
    enc: Enclosure, tmp_path: Path
):
    fired: list[str] = []
    run = enc.start_run(task="t")
    run.on_kill(lambda _run, reason: fired.append(reason))
    assert run.call("send_email", {"to": "a@customers.example"}).status == "executed"
    subprocess.run(  # a real second process, as a server or operator would be
        [sys.executable, "-c", _KILLER, str(tmp_path), run.id, MANIFEST],
        check=True,
        timeout=60,
    )
    assert run.status == "running"  # nothing in this process has heard of it yet
    result = run.call("send_email", {"to": "b@customers.example"})
    assert result.status == "killed"
    assert result.error is not None
    assert result.error.code == "E-RUN-KILLED"
    assert "stopped from the other process" in result.error.message
    assert enc.sent == [{"to": "a@customers.example", "body": ""}]  # type: ignore[attr-defined]
    assert run.status == "killed"
    assert fired == ["stopped from the other process"]  # this process's hooks, once
    # The refused call is on record, after the kill, as the kill switch's decision.
    last = decisions(enc)[-1]
    assert (last.outcome, last.rule, last.disposition) == (
        "kill",
        "run.killed",
        "killed",
    )
    kinds = [e.event.kind for e in enc.log.events(run_id=run.id)]
    assert kinds.count("kill") == 1  # not logged a second time
    assert kinds.index("kill") < len(kinds) - 1
    assert run.call("lookup", {"key": "k"}).status == "killed"
    assert fired == ["stopped from the other process"]
    assert enc.log.verify().ok


def test_every_way_of_acting_is_refused_once_another_process_killed_the_run(
    tmp_path: Path, clock: FakeClock
):
    first = make_enclosure(MANIFEST, tmp_path, clock=clock)
    other = make_enclosure(MANIFEST, tmp_path, clock=clock)
    proposed = first.start_run(task="proposed")
    admitted = first.start_run(task="admitted")
    for run in (proposed, admitted):
        other.resume_run(run.id).kill("operator")
    assert proposed.propose("lookup", {"key": "k"}).status == "killed"
    result = admitted.admit("resource", {"uri": "x"}, rule="r", reason="front door")
    assert result.status == "killed"
    assert (proposed.status, admitted.status) == ("killed", "killed")
    first.close()
    other.close()


def test_a_run_ended_by_another_process_takes_no_further_call(
    tmp_path: Path, clock: FakeClock
):
    first = make_enclosure(MANIFEST, tmp_path, clock=clock)
    ran: list[str] = []

    @first.tool()
    def lookup(key: str) -> str:
        ran.append(key)
        return key

    run = first.start_run(task="t")
    other = make_enclosure(MANIFEST, tmp_path, clock=clock)
    other.resume_run(run.id).end()
    with pytest.raises(UsageError) as caught:
        run.call("lookup", {"key": "k"})
    assert caught.value.code == "E-RUN-ENDED"
    assert ran == []
    assert run.status == "completed"
    with pytest.raises(UsageError):
        run.call("lookup", {"key": "k"})
    first.close()
    other.close()


def test_a_log_that_cannot_say_how_the_run_closed_refuses_the_call(
    enc: Enclosure, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
):
    run = enc.start_run(task="t")
    make_enclosure(MANIFEST, tmp_path, clock=clock).resume_run(run.id).kill("x")

    def unreadable(run_id: str) -> None:
        msg = "the decision log cannot be read"
        raise AuditUnavailable(msg)

    monkeypatch.setattr(enc.log, "closing_event", unreadable)
    result = run.call("send_email", {"to": "a@customers.example"})
    assert result.status == "blocked"
    assert result.error is not None
    assert result.error.code == "E-AUDIT-UNAVAILABLE"
    assert enc.sent == []  # type: ignore[attr-defined]


def _kill_elsewhere(home: Path, clock: FakeClock, run_id: str, reason: str) -> None:
    with make_enclosure(MANIFEST, home, clock=clock) as other:
        other.resume_run(run_id).kill(reason, by="ops")


def test_no_approval_is_asked_and_nothing_simulated_for_a_run_killed_elsewhere(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    run = enc.start_run(task="t", started_by="agent-svc")
    _kill_elsewhere(tmp_path, clock, run.id, "stop")
    parked = run.call("refund", {"amount": 500})
    assert parked.status == "killed"
    assert enc.approvals.list(status="pending") == []
    assert run.call("draft", {"text": "hi"}).status == "killed"
    with pytest.raises(RunKilled):
        run.record_usage("gpt-4o", input_tokens=10, output_tokens=10)


def test_an_approved_call_of_a_run_killed_elsewhere_leaves_its_approval_unused(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    run = enc.start_run(task="t", started_by="agent-svc")
    parked = run.call("refund", {"amount": 500})
    assert parked.approval_id is not None
    enc.approvals.approve(parked.approval_id, by="finance")
    _kill_elsewhere(tmp_path, clock, run.id, "stop")
    assert run.resume(parked.approval_id).status == "killed"
    assert enc.approvals.get(parked.approval_id).status == "approved"


def test_ending_or_killing_a_run_killed_elsewhere_takes_the_first_kill_on(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    fired: list[str] = []
    ended = enc.start_run(task="ended")
    killed = enc.start_run(task="killed")
    for run in (ended, killed):
        run.on_kill(lambda _run, reason: fired.append(reason))
        _kill_elsewhere(tmp_path, clock, run.id, f"first kill of {run.task}")
    ended.end()
    killed.kill("second kill")
    assert (ended.status, killed.status) == ("killed", "killed")
    assert killed.state.killed == "first kill of killed"
    assert fired == ["first kill of ended", "first kill of killed"]
    for run in (ended, killed):
        kinds = [e.event.kind for e in enc.log.events(run_id=run.id)]
        assert kinds.count("kill") == 1
        assert kinds.count("run_ended") == 1
    assert enc.log.get_run(ended.id).status == "killed"  # type: ignore[union-attr]
    assert enc.log.verify().ok


def test_kill_hooks_fire_even_when_the_workspace_closes_off_the_record(
    enc: Enclosure, tmp_path: Path, clock: FakeClock, monkeypatch: pytest.MonkeyPatch
):
    fired: list[str] = []
    run = enc.start_run(task="t")
    run.on_kill(lambda _run, reason: fired.append(reason))
    _kill_elsewhere(tmp_path, clock, run.id, "stop")

    def unloggable() -> None:  # the quarantine's artifact events fail to store
        msg = "the decision log cannot be written"
        raise AuditUnavailable(msg)

    monkeypatch.setattr(run.workspace, "close", unloggable)
    assert run.call("lookup", {"key": "k"}).status == "killed"
    assert fired == ["stop"]


def test_runs_deciding_exclusively_in_two_processes_share_one_rate_limit(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    other = make_enclosure(MANIFEST, tmp_path, clock=clock)  # a second server's
    other.tool("send_email")(lambda to, body="": enc.sent.append(to) or {"id": to})  # type: ignore[attr-defined]
    mine = enc.start_run(task="mail loop")
    theirs = other.resume_run(mine.id)
    statuses = []
    for i in range(6):
        run = (mine, theirs)[i % 2]
        with run.exclusively():
            result = run.call("send_email", {"to": "a@customers.example"})
        statuses.append(result.status)
    assert statuses == ["executed"] * 3 + ["killed"] * 3  # 3/minute, on_exceed: kill
    assert len(enc.sent) == 3  # type: ignore[attr-defined]
    with theirs.exclusively():  # counted in: the three that ran, one of them its own
        assert theirs.state.executed == 3
    other.close()


def test_a_lagging_clock_elsewhere_cannot_age_calls_out_of_a_rate_window(
    enc: Enclosure, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    # The second server's wall clock is 30 s behind: mapped through the wall
    # clocks, its two calls looked 30 s older than they were, and a 3/minute
    # limit let a fourth call through 45 s after the first.
    lagging = FakeClock(monotonic=5.0, epoch=clock.time() - 30)
    other = make_enclosure(MANIFEST, tmp_path, clock=lagging)
    other.tool("send_email")(lambda to, body="": enc.sent.append(to) or {"id": to})  # type: ignore[attr-defined]
    mine = enc.start_run(task="mail loop")
    theirs = other.resume_run(mine.id)
    statuses = []
    for run, wait in ((theirs, 0), (theirs, 5), (mine, 5), (mine, 35)):
        clock.advance(wait)
        lagging.advance(wait)
        with run.exclusively():
            statuses.append(
                run.call("send_email", {"to": "a@customers.example"}).status
            )
    assert statuses == ["executed"] * 3 + ["killed"]
    assert len(enc.sent) == 3  # type: ignore[attr-defined]
    told = [r.getMessage() for r in caplog.records if "clocks" in r.getMessage()]
    assert len(told) == 1  # once per run object, however many events
    assert " dated -30.0 s " in told[0]


def test_an_event_dated_ahead_elsewhere_counts_as_of_now(
    enc: Enclosure, tmp_path: Path, clock: FakeClock, caplog: pytest.LogCaptureFixture
):
    # The second server's clock is 30 s ahead: its call, counted where its time
    # put it, held the 3/minute window 29 s longer than it can have, and a call
    # a minute after the three was refused and killed the run.
    ahead = FakeClock(monotonic=5.0, epoch=clock.time() + 30)
    other = make_enclosure(MANIFEST, tmp_path, clock=ahead)
    other.tool("send_email")(lambda to, body="": {"id": to})
    mine = enc.start_run(task="mail loop")
    theirs = other.resume_run(mine.id)
    statuses = []
    for run, wait in ((theirs, 0), (mine, 1), (mine, 1), (mine, 60)):
        clock.advance(wait)
        ahead.advance(wait)
        with run.exclusively():
            statuses.append(
                run.call("send_email", {"to": "a@customers.example"}).status
            )
    assert statuses == ["executed"] * 4
    told = [r.getMessage() for r in caplog.records if "clocks" in r.getMessage()]
    assert len(told) == 1
    assert " dated +29.0 s " in told[0]
    other.close()


def test_without_exclusively_each_process_counts_only_its_own_calls(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    other = make_enclosure(MANIFEST, tmp_path, clock=clock)
    other.tool("send_email")(lambda to, body="": {"id": to})
    mine = enc.start_run(task="mail loop")
    theirs = other.resume_run(mine.id)
    for run in (mine, theirs, mine, theirs):
        run.call("send_email", {"to": "a@customers.example"})
    # What ``exclusively`` is for: apart, each saw two calls of the four.
    assert mine.state.calls == theirs.state.calls == 2
    other.close()


def test_refresh_takes_on_a_kill_made_elsewhere_once(
    enc: Enclosure, tmp_path: Path, clock: FakeClock
):
    run = enc.start_run(task="watched")
    killed: list[str] = []
    run.on_kill(lambda r, reason: killed.append(reason))
    assert run.refresh() == "running"
    assert run.enclosure is enc
    _kill_elsewhere(tmp_path, clock, run.id, "stopped from the CLI")
    assert run.refresh() == "killed"
    assert run.refresh() == "killed"
    assert killed == ["stopped from the CLI"]
    assert run.state.killed == "stopped from the CLI"


def test_retries_an_approval_cannot_release_take_no_rate_slot(
    tmp_path: Path, clock: FakeClock
):
    manifest = """
agent: {name: payer}
tools:
  pay: {mode: approve, rate: 1/hour, on_exceed: kill}
approvals: {ttl: 10m}
"""
    enc = make_enclosure(manifest, tmp_path, clock=clock)
    enc.tool("pay")(lambda amount: amount)
    run = enc.start_run(task="t")
    parked = run.call("pay", {"amount": 5})
    for _ in range(3):  # polite retries while no human has answered
        waiting = run.call("pay", {"amount": 5}, approval_id=parked.approval_id)
        assert waiting.status == "pending"
    other = run.call("pay", {"amount": 6}, approval_id=parked.approval_id)
    assert (other.status, other.error.code) == ("blocked", "E-APPROVAL-MISMATCH")
    assert run.status == "running"  # no slot taken: on_exceed: kill never fired
    enc.approvals.approve(parked.approval_id, by="finance")
    done = run.call("pay", {"amount": 5}, approval_id=parked.approval_id)
    assert (done.status, done.value) == ("executed", 5)  # the hour's one slot
    spent = run.call("pay", {"amount": 5}, approval_id=parked.approval_id)
    assert (spent.status, spent.error.code) == ("blocked", "E-APPROVAL-NOT-APPROVED")
    assert run.status == "running"
    replayed = make_enclosure(manifest, tmp_path, clock=clock).resume_run(run.id)
    live, again = run.state, replayed.state
    assert (again.calls, again.executed, again.denials) == (
        live.calls,
        live.executed,
        live.denials,
    )


def test_call_ids_are_unique_random_hex_across_threads_and_refills():
    ids = _CallIds()
    seen: list[str] = []

    def take() -> None:
        seen.extend(ids.next() for _ in range(3_000))  # several 4 KiB refills

    workers = [threading.Thread(target=take) for _ in range(4)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    assert len(set(seen)) == len(seen) == 12_000
    assert all(len(i) == 16 and int(i, 16) >= 0 for i in seen)


def test_a_forked_child_never_repeats_its_parents_call_ids(enc: Enclosure):
    enc.start_run(task="warm").call("lookup", {"key": "k"})  # the buffer is filled
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: its next ids, then out without pytest's teardown
        os.write(write, " ".join(_call_ids.next() for _ in range(50)).encode())
        os._exit(0)
    os.close(write)
    with os.fdopen(read) as pipe:
        child = set(pipe.read().split())
    os.waitpid(pid, 0)
    parent = {_call_ids.next() for _ in range(50)}
    assert len(child) == 50
    assert not child & parent


def test_a_decisions_validator_result_is_its_own(enc: Enclosure):
    seen: list[DecisionEvent] = []
    enc.log.subscribe(
        lambda _, event: (
            seen.append(event) if isinstance(event, DecisionEvent) else None
        )
    )
    run = enc.start_run(task="t")
    run.call("lookup", {"key": "a"})
    seen[0].validator.errors.append("an observer scribbled here")  # a list: mutable
    run.call("lookup", {"key": "b"})
    assert seen[1].validator.errors == []
    assert seen[1].validator is not seen[0].validator


KEY = "apr_" + "0123456789abcdef" * 2


def test_a_proposal_under_an_approval_key_waits_on_the_approval_asked_before(
    enc: Enclosure,
):
    run = enc.start_run(task="t")
    first = run.propose("refund", {"amount": 500}, approval_key=KEY)
    again = run.propose("refund", {"amount": 500}, approval_key=KEY)  # a replay
    assert first.status == again.status == "pending"
    assert first.approval_id == again.approval_id
    assert first.approval_id is not None
    [approval] = enc.approvals.list()
    assert approval.approval_id == first.approval_id
    requested = list(enc.log.events(kinds=["approval"]))
    assert len(requested) == 1  # asked once
    enc.approvals.deny(approval.approval_id, by="ops")
    decided = run.propose("refund", {"amount": 500}, approval_key=KEY)
    assert (decided.status, decided.approval_id) == ("pending", first.approval_id)
    released = run.propose("refund", {"amount": 500}, approval_id=first.approval_id)
    assert released.status == "blocked"
    assert released.error is not None
    assert released.error.code == "E-APPROVAL-NOT-APPROVED"


def test_an_approval_key_never_reaches_another_call_or_run(enc: Enclosure):
    run = enc.start_run(task="t")
    mine = run.propose("refund", {"amount": 500}, approval_key=KEY)
    other_args = run.propose("refund", {"amount": 900}, approval_key=KEY)
    other_run = enc.start_run(task="other").propose(
        "refund", {"amount": 500}, approval_key=KEY
    )
    ids = {mine.approval_id, other_args.approval_id, other_run.approval_id}
    assert len(ids) == 3  # each call asks its own
    assert sorted(a.approval_id for a in enc.approvals.list()) == sorted(ids)
    assert [r.status for r in (mine, other_args, other_run)] == ["pending"] * 3


@pytest.mark.parametrize(
    "key", ["apr_xyz", "apr_0123", "x" * 20, KEY + "\n", KEY.upper()]
)
def test_a_malformed_approval_key_is_refused(enc: Enclosure, key: str):
    with pytest.raises(UsageError) as exc:
        enc.start_run(task="t").propose("refund", {"amount": 500}, approval_key=key)
    assert exc.value.code == "E-APPROVAL-KEY"
    assert enc.approvals.list() == []


def test_an_approval_key_is_unused_when_nothing_needs_approval(enc: Enclosure):
    result = enc.start_run(task="t").propose("lookup", {"key": "k"}, approval_key=KEY)
    assert result.status == "dispatched"
    assert enc.approvals.list() == []
