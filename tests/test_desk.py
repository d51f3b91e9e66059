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
