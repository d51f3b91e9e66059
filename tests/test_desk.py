from pathlib import Path

import pytest

from enclosure._desk import ApprovalDesk
from enclosure.audit import ApprovalEvent
from enclosure.errors import ApprovalError
from enclosure.testing import FakeClock, make_enclosure

MANIFEST = "agent: {name: a}\ntools:\n  pay: {mode: approve}\napprovals: {ttl: 60s}\n"


def parked(tmp_path: Path, clock: FakeClock) -> tuple[ApprovalDesk, str, object]:
    enc = make_enclosure(MANIFEST, tmp_path, clock=clock)
    enc.tool("pay")(lambda amount: amount)
    run = enc.start_run(task="t", started_by="alice")
    approval_id = run.call("pay", {"amount": 3}).approval_id
    assert approval_id is not None
    return enc.approvals, approval_id, enc


def approval_actions(enc: object) -> list[str]:
    log = enc.log  # type: ignore[attr-defined]
    return [
        e.event.action
        for e in log.events(kinds=["approval"])
        if isinstance(e.event, ApprovalEvent)
    ]


def test_each_decision_is_an_audit_event_naming_who_decided(tmp_path: Path):
    desk, approval_id, enc = parked(tmp_path, FakeClock())
    decided = desk.approve(approval_id, by="bob", reason="ok")
    assert (decided.status, decided.decided_by) == ("approved", "bob")
    events = [e.event for e in enc.log.events(kinds=["approval"])]  # type: ignore[attr-defined]
    assert [(e.action, e.by) for e in events] == [
        ("requested", None),
        ("approved", "bob"),
    ]


def test_listing_expires_overdue_approvals_with_an_event(tmp_path: Path):
    clock = FakeClock()
    desk, _approval_id, enc = parked(tmp_path, clock)
    clock.advance(61)
    [item] = desk.list()
    assert item.status == "expired"
    assert approval_actions(enc) == ["requested", "expired"]
    assert desk.list(status="pending") == []


def test_deciding_after_expiry_is_refused_and_recorded(tmp_path: Path):
    clock = FakeClock()
    desk, approval_id, enc = parked(tmp_path, clock)
    clock.advance(61)
    with pytest.raises(ApprovalError) as exc:
        desk.deny(approval_id, by="bob")
    assert exc.value.code == "E-APPROVAL-EXPIRED"
    assert approval_actions(enc)[-1] == "expired"


def test_separation_of_duties(tmp_path: Path):
    desk, approval_id, _ = parked(tmp_path, FakeClock())
    with pytest.raises(ApprovalError) as exc:
        desk.deny(approval_id, by="alice")
    assert exc.value.code == "E-APPROVAL-SELF"
    assert desk.get(approval_id).status == "pending"


class _RacedLog:
    """The real log, but another call's approval lands under the id just read."""

    def __init__(self, log: object, other: object) -> None:
        self._log, self._other, self._raced = log, other, False

    def __getattr__(self, name: str) -> object:
        return getattr(self._log, name)

    def create_approval(self, approval: object) -> None:
        if not self._raced:  # another process wins the id between read and write
            self._raced = True
            self._log.create_approval(self._other)  # type: ignore[attr-defined]
        self._log.create_approval(approval)  # type: ignore[attr-defined]


def test_an_id_taken_by_another_call_in_a_race_asks_under_a_fresh_id(tmp_path: Path):
    clock = FakeClock()
    _, first_id, enc = parked(tmp_path, clock)
    other = enc.approvals.get(first_id).model_copy(  # type: ignore[attr-defined]
        update={"approval_id": "apr_" + "ab" * 16, "binding_sha256": "0" * 64}
    )
    raced = ApprovalDesk(_RacedLog(enc.log, other), clock)  # type: ignore[attr-defined,arg-type]
    mine = raced.request(
        run_id=other.run_id,
        tool="pay",
        args={"amount": 4},
        binding_sha256="1" * 64,
        rule="tools.pay.mode",
        reason="r",
        ttl=60,
        requested_by=None,
        approval_id=other.approval_id,
    )
    assert mine.approval_id not in (other.approval_id, first_id)
    assert mine.binding_sha256 == "1" * 64
    assert enc.approvals.get(other.approval_id).binding_sha256 == "0" * 64  # type: ignore[attr-defined]
