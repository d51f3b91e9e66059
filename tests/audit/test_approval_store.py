import threading
from collections.abc import Callable
from typing import Any

import pytest

from enclosure.approvals import Approval, binding_sha256
from enclosure.audit import DecisionLog, Redactor
from enclosure.audit._approval_store import ApprovalTable
from enclosure.audit._database import Database
from enclosure.audit._schema import create_schema
from enclosure.errors import ApprovalError, UsageError

ARGS = {"to": "a@example.com", "amount": 40}


BINDING = binding_sha256("run-1", "refund", ARGS)


@pytest.fixture
def log(db_url):
    """The decision log on SQLite, then on PostgreSQL: both must behave the same."""
    with DecisionLog(db_url) as opened:
        yield opened


def approval(approval_id: str = "ap-1", **overrides: Any) -> Approval:
    fields: dict[str, Any] = {
        "approval_id": approval_id,
        "run_id": "run-1",
        "tool": "refund",
        "args": ARGS,
        "binding_sha256": BINDING,
        "status": "pending",
        "rule": "tools.refund.rules[0]",
        "reason": "refunds need a human",
        "requested_at": 100.0,
        "expires_at": 200.0,
        "requested_by": "alice",
    }
    return Approval.model_validate(fields | overrides)


def code_of(call: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApprovalError) as exc:
        call(*args, **kwargs)
    return exc.value.code


def test_an_approval_is_stored_and_read_back(log):
    log.create_approval(approval())
    assert log.get_approval("ap-1") == approval()


def test_approvals_are_listed_oldest_first_and_filtered(log):
    log.create_approval(approval("ap-2", requested_at=120.0))
    log.create_approval(approval("ap-1"))
    log.create_approval(approval("ap-3", run_id="run-2", requested_at=130.0))
    log.decide_approval("ap-3", approve=False, by="bob", reason=None, now=140.0)
    assert [a.approval_id for a in log.list_approvals()] == ["ap-1", "ap-2", "ap-3"]
    assert [a.approval_id for a in log.list_approvals(status="denied")] == ["ap-3"]
    assert [a.approval_id for a in log.list_approvals(run_id="run-1")] == [
        "ap-1",
        "ap-2",
    ]


def test_an_approved_approval_is_consumed_exactly_once(log):
    log.create_approval(approval())
    decided = log.decide_approval(
        "ap-1", approve=True, by="bob", reason="ok", now=150.0
    )
    assert (decided.status, decided.decided_by, decided.decided_at) == (
        "approved",
        "bob",
        150.0,
    )
    assert decided.decision_reason == "ok"
    consumed = log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0)
    assert consumed.status == "consumed"
    assert code_of(log.consume_approval, "ap-1", binding_sha256=BINDING, now=161.0) == (
        "E-APPROVAL-NOT-APPROVED"
    )


def test_an_approval_for_other_arguments_is_refused_and_left_usable(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    other = binding_sha256("run-1", "refund", {**ARGS, "amount": 4000})
    assert code_of(log.consume_approval, "ap-1", binding_sha256=other, now=160.0) == (
        "E-APPROVAL-MISMATCH"
    )
    assert log.get_approval("ap-1").status == "approved"
    assert log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0).status == (
        "consumed"
    )


def test_pending_and_denied_approvals_cannot_be_consumed(log):
    log.create_approval(approval("ap-1"))
    log.create_approval(approval("ap-2"))
    log.decide_approval("ap-2", approve=False, by="bob", reason="no", now=150.0)
    for approval_id in ("ap-1", "ap-2"):
        assert code_of(
            log.consume_approval, approval_id, binding_sha256=BINDING, now=160.0
        ) == ("E-APPROVAL-NOT-APPROVED")


def test_deciding_twice_is_refused(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=False, by="bob", reason=None, now=150.0)
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="carol", reason=None, now=151.0
    ) == ("E-APPROVAL-DECIDED")
    assert log.get_approval("ap-1").status == "denied"


def test_deciding_after_expiry_expires_the_approval(log):
    log.create_approval(approval())
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="bob", reason=None, now=200.0
    ) == ("E-APPROVAL-EXPIRED")
    assert log.get_approval("ap-1").status == "expired"
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="bob", reason=None, now=201.0
    ) == ("E-APPROVAL-EXPIRED")


def test_consuming_after_expiry_expires_the_approval(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    assert code_of(log.consume_approval, "ap-1", binding_sha256=BINDING, now=250.0) == (
        "E-APPROVAL-EXPIRED"
    )
    assert log.get_approval("ap-1").status == "expired"


def test_expire_approvals_marks_only_overdue_open_ones(log):
    log.create_approval(approval("ap-1", expires_at=140.0))
    log.create_approval(approval("ap-2", expires_at=140.0))
    log.create_approval(approval("ap-3", expires_at=140.0))
    log.create_approval(approval("ap-4", expires_at=300.0))
    log.decide_approval("ap-2", approve=True, by="bob", reason=None, now=130.0)
    log.decide_approval("ap-3", approve=False, by="bob", reason=None, now=130.0)
    expired = log.expire_approvals(now=150.0)
    assert [a.approval_id for a in expired] == ["ap-1", "ap-2"]
    assert all(a.status == "expired" for a in expired)
    assert log.get_approval("ap-3").status == "denied"
    assert log.get_approval("ap-4").status == "pending"
    assert log.expire_approvals(now=150.0) == []


def test_unknown_approvals_are_not_found(log):
    assert code_of(log.get_approval, "nope") == "E-APPROVAL-NOT-FOUND"
    assert code_of(
        log.decide_approval, "nope", approve=True, by="bob", reason=None, now=1.0
    ) == ("E-APPROVAL-NOT-FOUND")
    assert code_of(log.consume_approval, "nope", binding_sha256=BINDING, now=1.0) == (
        "E-APPROVAL-NOT-FOUND"
    )


def test_only_new_pending_approvals_can_be_created(log):
    log.create_approval(approval())
    with pytest.raises(UsageError):
        log.create_approval(approval())
    with pytest.raises(UsageError):
        log.create_approval(approval("ap-2", status="approved"))


def test_two_threads_consuming_one_approval_succeed_once(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def consume():
        barrier.wait()
        try:
            log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0)
        except ApprovalError as exc:
            outcomes.append(exc.code)
        else:
            outcomes.append("consumed")

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["E-APPROVAL-NOT-APPROVED", "consumed"]


def test_an_approvals_secrets_are_redacted_before_they_reach_the_file(db_path):
    known = "hunter2-very-secret"
    with DecisionLog(f"sqlite:///{db_path}", redactor=Redactor([known])) as log:
        log.create_approval(
            approval(
                args={"password": "pw-value-123456", "note": f"use {known}"},
                reason=f"refund for {known}",
            )
        )
        stored = log.get_approval("ap-1")
        for path in sorted(db_path.parent.glob("enclosure.db*")):
            data = path.read_bytes()
            for leak in (known, "pw-value-123456"):
                assert leak.encode() not in data, (path.name, leak)
    assert stored.args == {"password": "[REDACTED]", "note": "use [REDACTED]"}
    assert stored.reason == "refund for [REDACTED]"
    assert stored.binding_sha256 == BINDING  # bound to the arguments as requested


def test_the_approval_table_needs_only_a_database_with_the_schema():
    db = Database("sqlite://", "normal")
    create_schema(db.engine, db.where)
    table = ApprovalTable(db, Redactor())
    table.create(approval())
    table.decide("ap-1", approve=True, by="bob", reason=None, now=150.0)
    assert table.consume("ap-1", binding_sha256=BINDING, now=160.0).status == (
        "consumed"
    )
    assert [a.approval_id for a in table.select(status=None, run_id="run-1")] == [
        "ap-1"
    ]
    db.engine.dispose()
