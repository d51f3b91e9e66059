"""``enclosure approvals list|approve|deny`` against runs that parked calls.

The run lives in the test (in Python); people decide through the command line, which
shares nothing with it but the database. The command line decides with the system
clock, so runs whose approvals it decides get a fake clock set to the present.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from enclosure.errors import ApprovalError
from enclosure.testing import FakeClock, make_enclosure

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

    from enclosure._enclosure import Enclosure
    from enclosure._run import Run

TTL = 600.0

MANIFEST = f"""
agent: {{name: payer}}
tools:
  pay:
    mode: approve
    input_schema:
      type: object
      properties: {{amount: {{type: number}}}}
      required: [amount]
approvals:
  ttl: {TTL:g}
"""

ENTRYPOINT = "from enclosure.cli import entrypoint; entrypoint()"


class Parked(NamedTuple):
    enc: Enclosure
    run: Run
    clock: FakeClock
    approval_id: str
    paid: list[float]


def park(home: Path, clock: FakeClock) -> Parked:
    enc = make_enclosure(MANIFEST, home, clock=clock)
    paid: list[float] = []

    @enc.tool()
    def pay(amount: float) -> dict[str, float]:
        paid.append(amount)
        return {"paid": amount}

    run = enc.start_run(task="pay invoice 7", started_by="alice")
    result = run.call("pay", {"amount": 5})
    assert result.status == "pending"
    assert result.error is not None
    assert result.error.code == "E-APPROVAL-PENDING"
    assert result.approval_id is not None
    return Parked(enc, run, clock, result.approval_id, paid)


@pytest.fixture
def parked(home) -> Iterator[Parked]:
    """A run started by alice whose ``pay`` call waits for a human."""
    parked = park(home, FakeClock(epoch=time.time()))
    yield parked
    parked.enc.close()


def decide(
    enclosure: Callable[..., Any],
    home: Path,
    verb: str,
    approval_id: str,
    *options: str,
) -> Any:
    return enclosure("--home", home, "approvals", verb, approval_id, *options)


def listed(enclosure, home, *options) -> list[dict[str, Any]]:
    result = enclosure("--home", home, "approvals", "list", "--json", *options)
    assert result.status == 0
    approvals: list[dict[str, Any]] = json.loads(result.out)
    return approvals


def assert_refused(result, code: str) -> None:
    assert result.status == 2
    assert result.out == ""
    [line] = result.err_lines()
    assert line.startswith(f"enclosure: {code}: ")


# ---- list ---------------------------------------------------------------------------


def test_list_json_shows_the_parked_call(enclosure, home, parked):
    [approval] = listed(enclosure, home)
    assert approval["approval_id"] == parked.approval_id
    assert approval["run_id"] == parked.run.id
    assert approval["tool"] == "pay"
    assert approval["args"] == {"amount": 5}
    assert approval["status"] == "pending"
    assert approval["requested_by"] == "alice"
    assert approval["decided_by"] is None


def test_list_table_names_the_approval(enclosure, home, parked):
    result = enclosure("--home", home, "approvals", "list")
    assert result.status == 0
    assert parked.approval_id in result.out
    assert "pending" in result.out


def test_list_filters_by_status_and_run(enclosure, home, parked):
    assert len(listed(enclosure, home, "--status", "pending")) == 1
    assert listed(enclosure, home, "--status", "approved") == []
    assert len(listed(enclosure, home, "--run", parked.run.id)) == 1
    assert listed(enclosure, home, "--run", "run_other") == []


# ---- approve and deny ---------------------------------------------------------------


def test_approve_by_another_person_lets_the_run_resume_exactly_once(
    enclosure, home, parked
):
    result = decide(enclosure, home, "approve", parked.approval_id, "--by", "bob")
    assert result.status == 0
    assert result.out.strip() == f"{parked.approval_id}: approved by bob (pay)"
    [approval] = listed(enclosure, home)
    assert (approval["status"], approval["decided_by"]) == ("approved", "bob")

    resumed = parked.run.resume(parked.approval_id)
    assert resumed.status == "executed"
    assert resumed.value == {"paid": 5}
    assert parked.paid == [5]

    with pytest.raises(ApprovalError) as exc:
        parked.run.resume(parked.approval_id)
    assert exc.value.code == "E-APPROVAL-NOT-FOUND"
    again = parked.run.call("pay", {"amount": 5}, approval_id=parked.approval_id)
    assert again.status == "blocked"
    assert again.error is not None
    assert again.error.code == "E-APPROVAL-NOT-APPROVED"
    assert parked.paid == [5]
    assert listed(enclosure, home)[0]["status"] == "consumed"


def test_deny_blocks_the_resumed_call(enclosure, home, parked):
    result = decide(
        enclosure, home, "deny", parked.approval_id, "--by", "bob", "--reason", "no"
    )
    assert result.status == 0
    assert "denied by bob" in result.out

    resumed = parked.run.resume(parked.approval_id)
    assert resumed.status == "blocked"
    assert resumed.error is not None
    assert resumed.error.code == "E-APPROVAL-NOT-APPROVED"
    assert parked.paid == []


def test_decisions_are_recorded_in_the_decision_log(enclosure, home, parked):
    decide(enclosure, home, "approve", parked.approval_id, "--by", "bob")
    parked.run.resume(parked.approval_id).unwrap()
    result = enclosure("--home", home, "log", "--kind", "approval", "--json")
    events = [json.loads(line) for line in result.out.splitlines()]
    assert [(e["action"], e["by"]) for e in events] == [
        ("requested", None),
        ("approved", "bob"),
        ("consumed", "bob"),
    ]
    assert {e["approval_id"] for e in events} == {parked.approval_id}
    assert enclosure("--home", home, "audit", "verify").status == 0


@pytest.mark.parametrize("verb", ["approve", "deny"])
def test_the_person_who_started_the_run_cannot_decide_it(enclosure, home, parked, verb):
    result = decide(enclosure, home, verb, parked.approval_id, "--by", "alice")
    assert_refused(result, "E-APPROVAL-SELF")
    assert listed(enclosure, home)[0]["status"] == "pending"


def test_the_default_decider_is_the_current_user(enclosure, home, parked, monkeypatch):
    monkeypatch.setattr("getpass.getuser", lambda: "alice")
    refused = decide(enclosure, home, "approve", parked.approval_id)
    assert_refused(refused, "E-APPROVAL-SELF")

    monkeypatch.setattr("getpass.getuser", lambda: "carol")
    result = decide(enclosure, home, "approve", parked.approval_id)
    assert result.status == 0
    assert "approved by carol" in result.out


@pytest.mark.parametrize(
    ("first", "second"),
    [("approve", "approve"), ("approve", "deny"), ("deny", "approve")],
)
def test_deciding_twice_is_refused(enclosure, home, parked, first, second):
    assert decide(enclosure, home, first, parked.approval_id, "--by", "bob").status == 0
    result = decide(enclosure, home, second, parked.approval_id, "--by", "dave")
    assert_refused(result, "E-APPROVAL-DECIDED")


@pytest.mark.parametrize("verb", ["approve", "deny"])
@pytest.mark.usefixtures("parked")
def test_an_unknown_approval_is_not_found(enclosure, home, verb):
    result = decide(enclosure, home, verb, "apr_0000000000000000", "--by", "bob")
    assert_refused(result, "E-APPROVAL-NOT-FOUND")


def test_an_approval_past_its_ttl_cannot_be_decided(parked):
    parked.clock.advance(TTL + 1)
    with pytest.raises(ApprovalError) as exc:
        parked.enc.approvals.approve(parked.approval_id, by="bob")
    assert exc.value.code == "E-APPROVAL-EXPIRED"
    assert parked.enc.approvals.get(parked.approval_id).status == "expired"
    resumed = parked.run.resume(parked.approval_id)
    assert resumed.status == "blocked"
    assert parked.paid == []


def test_the_command_line_refuses_an_approval_that_expired(enclosure, home):
    an_hour_ago = FakeClock(epoch=time.time() - 3600)
    parked = park(home, an_hour_ago)
    try:
        result = decide(enclosure, home, "approve", parked.approval_id, "--by", "bob")
        assert_refused(result, "E-APPROVAL-EXPIRED")
        assert listed(enclosure, home)[0]["status"] == "expired"
    finally:
        parked.enc.close()


def test_list_marks_expired_approvals(enclosure, home):
    parked = park(home, FakeClock(epoch=time.time() - 3600))
    try:
        assert listed(enclosure, home, "--status", "pending") == []
        [approval] = listed(enclosure, home, "--status", "expired")
        assert approval["approval_id"] == parked.approval_id
    finally:
        parked.enc.close()


# ---- across processes ---------------------------------------------------------------


def test_another_process_approves_a_call_parked_in_this_one(home, parked):
    decided = subprocess.run(
        [
            sys.executable,
            "-c",
            ENTRYPOINT,
            "--home",
            str(home),
            "approvals",
            "approve",
            parked.approval_id,
            "--by",
            "bob",
        ],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )
    assert decided.returncode == 0, decided.stderr
    assert f"{parked.approval_id}: approved by bob" in decided.stdout

    assert parked.enc.approvals.get(parked.approval_id).decided_by == "bob"
    resumed = parked.run.resume(parked.approval_id)
    assert resumed.status == "executed"
    assert parked.paid == [5]
    assert parked.enc.verify().ok
