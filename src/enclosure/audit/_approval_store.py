"""Approvals: the ``approvals`` table, with atomic, single-use transitions.

``ApprovalTable`` holds the SQL behind ``DecisionLog``'s approval methods (the
``ApprovalStore`` protocol), which document the contract. Every transition is one
conditional UPDATE, so two callers racing for one approval cannot both win: the
loser reads the row back and is told why it lost. It shares the log's ``Database``
and its fail-closed guard; arguments and reasons are redacted before they are stored.
Each transition announces ``approval:<id>`` in its own transaction (``_changes``), so
a waiter in another process hears of it the moment it commits.

Must not know: the hash chain, runs, or how the database was opened.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import sqlalchemy as sa

from enclosure._json import canonical_json
from enclosure.approvals import Approval, ApprovalStatus
from enclosure.audit._changes import notify
from enclosure.audit._schema import approvals_table
from enclosure.errors import ApprovalError, UsageError

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection, RowMapping

    from enclosure.audit._database import Database
    from enclosure.audit._redact import Redactor

__all__ = ["ApprovalTable"]

_A = approvals_table.c


class ApprovalTable:
    """The approvals of one database; see ``DecisionLog.create_approval`` and the rest.

    Args:
        db: the database the decision log holds open.
        redactor: applied to each new approval's arguments and reason.
    """

    def __init__(self, db: Database, redactor: Redactor) -> None:
        self._db = db
        self._redactor = redactor

    def create(self, approval: Approval) -> None:
        """Insert a new pending approval, redacted; ``UsageError`` if not new."""
        if approval.status != "pending":
            msg = f"a new approval must be pending, not {approval.status!r}"
            raise UsageError(msg)
        row = approval.model_dump()
        row["args"] = canonical_json(self._redactor.redact(approval.args)).decode()
        row["reason"] = self._redactor.redact_text(approval.reason)
        self._db.insert_new(approvals_table, row, f"approval {approval.approval_id!r}")

    def get(self, approval_id: str) -> Approval:
        """One approval; ``E-APPROVAL-NOT-FOUND`` if unknown."""
        with self._db.guard("read an approval from"), self._db.connect() as conn:
            approval = _fetch(conn, approval_id)
        if approval is None:
            raise _not_found(approval_id)
        return approval

    def select(
        self, *, status: ApprovalStatus | None, run_id: str | None
    ) -> list[Approval]:
        """Approvals oldest first, optionally filtered."""
        stmt = sa.select(approvals_table).order_by(_A.requested_at, _A.approval_id)
        if status is not None:
            stmt = stmt.where(_A.status == status)
        if run_id is not None:
            stmt = stmt.where(_A.run_id == run_id)
        with self._db.guard("read approvals from"), self._db.connect() as conn:
            rows = conn.execute(stmt).all()
        return [_approval(row._mapping) for row in rows]  # noqa: SLF001 -- public API despite the name

    def decide(
        self,
        approval_id: str,
        *,
        approve: bool,
        by: str,
        reason: str | None,
        now: float,
    ) -> Approval:
        """Approve or deny if still pending and unexpired, else expire if overdue."""
        decided = "approved" if approve else "denied"
        pending = (_A.approval_id == approval_id) & (_A.status == "pending")
        with self._db.guard("decide an approval in"), self._db.begin() as conn:
            won = _update(
                conn,
                pending & (_A.expires_at > now),
                status=decided,
                decided_by=by,
                decided_at=now,
                decision_reason=reason,
            )
            if not won:
                _update(conn, pending & (_A.expires_at <= now), status="expired")
            notify(self._db, conn, "approval:" + approval_id)
            current = _fetch(conn, approval_id)
        if current is None:
            raise _not_found(approval_id)
        if won:
            return current
        if current.status == "expired":
            raise _refused(current, "has expired", "E-APPROVAL-EXPIRED")
        raise _refused(current, f"is already {current.status}", "E-APPROVAL-DECIDED")

    def consume(self, approval_id: str, *, binding_sha256: str, now: float) -> Approval:
        """Consume if approved, bound to these arguments and unexpired, else expire."""
        this = _A.approval_id == approval_id
        with self._db.guard("consume an approval in"), self._db.begin() as conn:
            won = _update(
                conn,
                this
                & (_A.status == "approved")
                & (_A.binding_sha256 == binding_sha256)
                & (_A.expires_at > now),
                status="consumed",
            )
            if not won:
                _update(
                    conn,
                    this
                    & (_A.binding_sha256 == binding_sha256)
                    & _A.status.in_(("pending", "approved"))
                    & (_A.expires_at <= now),
                    status="expired",
                )
            notify(self._db, conn, "approval:" + approval_id)
            current = _fetch(conn, approval_id)
        if current is None:
            raise _not_found(approval_id)
        if won:
            return current
        if current.binding_sha256 != binding_sha256:
            raise _refused(
                current, "is bound to other arguments", "E-APPROVAL-MISMATCH"
            )
        if current.status == "expired":
            raise _refused(current, "has expired", "E-APPROVAL-EXPIRED")
        raise _refused(current, f"is {current.status}", "E-APPROVAL-NOT-APPROVED")

    def expire(self, *, now: float) -> list[Approval]:
        """Expire every open approval past its expiry; return them oldest first."""
        stmt = (
            approvals_table.update()
            .where(_A.status.in_(("pending", "approved")), _A.expires_at <= now)
            .values(status="expired")
            .returning(*approvals_table.c)
        )
        with self._db.guard("expire approvals in"), self._db.begin() as conn:
            rows = conn.execute(stmt).all()
            for row in rows:
                notify(self._db, conn, "approval:" + row.approval_id)
        approvals = [_approval(row._mapping) for row in rows]  # noqa: SLF001 -- public API despite the name
        return sorted(approvals, key=lambda a: (a.requested_at, a.approval_id))


def _update(conn: Connection, where: sa.ColumnElement[bool], **values: object) -> bool:
    """Run one conditional UPDATE on an approval; True when it changed the row."""
    result = conn.execute(approvals_table.update().where(where).values(**values))
    return result.rowcount == 1


def _fetch(conn: Connection, approval_id: str) -> Approval | None:
    stmt = sa.select(approvals_table).where(_A.approval_id == approval_id)
    row = conn.execute(stmt).first()
    return None if row is None else _approval(row._mapping)  # noqa: SLF001 -- public API despite the name


def _approval(row: RowMapping) -> Approval:
    data = dict(row)
    data["args"] = json.loads(data["args"])
    return Approval.model_validate(data)


def _not_found(approval_id: str) -> ApprovalError:
    return ApprovalError(
        f"approval {approval_id!r} is unknown", code="E-APPROVAL-NOT-FOUND"
    )


def _refused(approval: Approval, what: str, code: str) -> ApprovalError:
    return ApprovalError(f"approval {approval.approval_id!r} {what}", code=code)
