"""``run_demo``: 3 emails reach a real SMTP sink, the 4th kills the loop, the
injected refund is denied by a person, and the decision log verifies."""

from __future__ import annotations

import io
from typing import TYPE_CHECKING, NamedTuple

import pytest
from rich.console import Console

from enclosure._enclosure import open_log
from enclosure.demo import DemoOutcome, run_demo

if TYPE_CHECKING:
    from collections.abc import Iterator
    from pathlib import Path

    from enclosure.audit import DecisionLog


class Demo(NamedTuple):
    outcome: DemoOutcome
    output: str
    log: DecisionLog


def quiet() -> tuple[Console, io.StringIO]:
    buffer = io.StringIO()
    return Console(file=buffer, width=120, highlight=False), buffer


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Demo]:
    """One demo run, shared by the tests that only read what it left behind."""
    home = tmp_path_factory.mktemp("demo") / "home"
    out, buffer = quiet()
    outcome = run_demo(home, out)
    with open_log(home) as log:
        yield Demo(outcome, buffer.getvalue(), log)


def test_the_demo_outcome_is_the_expected_ending(demo):
    outcome = demo.outcome
    assert outcome.emails_delivered == 3
    assert outcome.loop_killed
    assert outcome.kill_reason
    assert outcome.injected_refund == "denied"
    assert outcome.audit_ok
    assert outcome.audit_events == demo.log.verify().events
    assert outcome.ok


def test_the_demo_narrates_the_kill_and_the_verdict(demo):
    assert "ALERT" in demo.output
    assert "killed" in demo.output
    assert "intact" in demo.output


def test_the_log_holds_exactly_one_kill_and_one_alert(demo):
    [kill] = demo.log.events(kinds=["kill"])
    [alert] = demo.log.events(kinds=["alert"])
    assert kill.event.run_id == alert.event.run_id
    assert kill.event.rule == "tools.send_email.rate[0]"
    assert alert.event.severity == "critical"


def test_the_fourth_email_is_the_call_that_kills_the_run(demo):
    sends = [
        e.event
        for e in demo.log.events(kinds=["decision"])
        if e.event.tool == "send_email"
    ]
    assert len(sends) == 4
    assert [d.outcome for d in sends[:3]] == ["allow"] * 3
    fourth = sends[3]
    assert fourth.outcome == "kill"
    assert fourth.rule == "tools.send_email.rate[0]"
    assert fourth.disposition == "killed"
    executed = [
        e.event
        for e in demo.log.events(kinds=["result"])
        if e.event.tool == "send_email" and e.event.disposition == "executed"
    ]
    assert len(executed) == demo.outcome.emails_delivered


def test_the_injected_refund_is_denied_by_the_finance_lead(demo):
    [approval] = demo.log.list_approvals()
    assert approval.tool == "refund"
    assert approval.args["account"] == "EXT-99-0001"
    assert approval.status == "denied"
    assert approval.decided_by == "finance-lead"
    assert approval.requested_by == "billing-service"

    actions = [
        (e.event.action, e.event.by) for e in demo.log.events(kinds=["approval"])
    ]
    assert actions == [("requested", None), ("denied", "finance-lead")]


def test_the_refund_to_the_account_on_file_runs_and_the_retry_is_blocked(demo):
    refunds = [
        e.event for e in demo.log.events(kinds=["decision"]) if e.event.tool == "refund"
    ]
    assert [d.disposition for d in refunds] == ["dispatched", "pending", "blocked"]
    assert refunds[1].approval_id is not None
    assert refunds[2].error is not None
    assert refunds[2].error.code == "E-APPROVAL-NOT-APPROVED"


def test_the_demo_records_two_runs_one_killed(demo):
    runs = demo.log.list_runs()
    assert sorted(r.status for r in runs) == ["completed", "killed"]
    [killed] = [r for r in runs if r.status == "killed"]
    assert killed.end_reason == demo.outcome.kill_reason


def test_running_the_demo_twice_on_one_home_starts_fresh_runs(tmp_path: Path):
    home = tmp_path / "home"
    first = run_demo(home, quiet()[0])
    second = run_demo(home, quiet()[0])
    assert first.ok
    assert second.ok
    assert second.audit_events > first.audit_events
    with open_log(home) as log:
        runs = log.list_runs()
        assert len(runs) == 4
        assert len({r.run_id for r in runs}) == 4
        assert len(log.events(kinds=["kill"])) == 2
        assert log.verify().ok
