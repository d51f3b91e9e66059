"""The approval desk: where humans (or CI) decide parked calls.

It needs only the decision log, so the CLI can decide approvals for runs that live
in another process. Every decision is an audit event naming who decided.
"""

from __future__ import annotations

import secrets
from typing import TYPE_CHECKING, Any

from enclosure._clock import SystemClock, iso
from enclosure.approvals import Approval
from enclosure.audit import ApprovalEvent, DecisionLog
from enclosure.errors import ApprovalError, UsageError

if TYPE_CHECKING:
    from enclosure.approvals import ApprovalStatus
    from enclosure.types import Clock

__all__ = ["ApprovalDesk"]


class ApprovalDesk:
    """List, approve and deny pending approvals."""

    def __init__(self, log: DecisionLog, clock: Clock | None = None) -> None:
        self._log = log
        self._clock = clock or SystemClock()

    def request(  # noqa: PLR0913 -- the approval's record, field by field
        self,
        *,
        run_id: str,
        tool: str,
        args: dict[str, Any],
        binding_sha256: str,
        rule: str,
        reason: str,
        ttl: float,
        requested_by: str | None,
        approval_id: str | None = None,
    ) -> Approval:
        """Park a request for a human: a pending approval and its ``requested`` event.

        ``args`` are stored as given (redacted and bounded by the caller);
        ``binding_sha256`` binds the approval to the exact call it releases.
        ``approval_id`` (derived from a caller's key for a call it may ask about
        again): an approval already under it for this run, tool and arguments is
        returned as it stands, nothing stored; one for another call leaves it to
        a new approval under a fresh id.

        Raises:
            AuditUnavailable: the request cannot be stored.
        """
        if approval_id is not None:
            asked = self._asked(approval_id)
            if asked is not None:
                if _binds(asked, run_id, tool, binding_sha256):
                    return asked
                approval_id = None  # another call's: not this one's to wait on
        now = self._clock.time()
        approval = Approval(
            approval_id=approval_id or "apr_" + secrets.token_hex(8),
            run_id=run_id,
            tool=tool,
            args=args,
            binding_sha256=binding_sha256,
            status="pending",
            rule=rule,
            reason=reason,
            requested_at=now,
            expires_at=now + ttl,
            requested_by=requested_by,
        )
        try:
            self._log.create_approval(approval)
        except UsageError:
            if approval_id is None:
                raise
            # Another process asked under the same id in between: that one,
            # if it is this call's; another call's leaves a fresh id to this one.
            asked = self._asked(approval_id)
            if asked is not None and _binds(asked, run_id, tool, binding_sha256):
                return asked
            approval = approval.model_copy(
                update={"approval_id": "apr_" + secrets.token_hex(8)}
            )
            self._log.create_approval(approval)
        self._event(approval, "requested", by=None, reason=reason)
        return approval

    def _asked(self, approval_id: str) -> Approval | None:
        """The approval stored under ``approval_id``, if any."""
        try:
            return self._log.get_approval(approval_id)
        except ApprovalError:
            return None

    def expire(self) -> list[Approval]:
        """Turn every approval past its expiry into ``expired``, with an event each."""
        expired = self._log.expire_approvals(now=self._clock.time())
        for a in expired:
            self._event(a, "expired", by=None, reason="not decided in time")
        return expired

    def list(
        self, *, status: ApprovalStatus | None = None, run_id: str | None = None
    ) -> list[Approval]:
        """Approvals, oldest first; expired ones are marked first."""
        self.expire()
        return self._log.list_approvals(status=status, run_id=run_id)

    def get(self, approval_id: str) -> Approval:
        """Raises ApprovalError (E-APPROVAL-NOT-FOUND)."""
        return self._log.get_approval(approval_id)

    def approve(
        self, approval_id: str, *, by: str, reason: str | None = None
    ) -> Approval:
        """Approve one parked call; it can then run once, with exactly its arguments.

        Raises:
            ApprovalError: unknown (E-APPROVAL-NOT-FOUND), already decided
                (E-APPROVAL-DECIDED), expired (E-APPROVAL-EXPIRED), or the approver
                started the run (E-APPROVAL-SELF).
        """
        return self._decide(approval_id, approve=True, by=by, reason=reason)

    def deny(self, approval_id: str, *, by: str, reason: str | None = None) -> Approval:
        """Deny one parked call. Raises as ``approve`` does."""
        return self._decide(approval_id, approve=False, by=by, reason=reason)

    def _decide(
        self, approval_id: str, *, approve: bool, by: str, reason: str | None
    ) -> Approval:
        current = self._log.get_approval(approval_id)
        if current.requested_by is not None and current.requested_by == by:
            msg = f"{by!r} started run {current.run_id} and cannot decide its approvals"
            raise ApprovalError(msg, code="E-APPROVAL-SELF")
        try:
            decided = self._log.decide_approval(
                approval_id,
                approve=approve,
                by=by,
                reason=reason,
                now=self._clock.time(),
            )
        except ApprovalError as exc:
            if exc.code == "E-APPROVAL-EXPIRED":
                self._event(current, "expired", by=None, reason="not decided in time")
            raise
        self._event(decided, "approved" if approve else "denied", by=by, reason=reason)
        return decided

    def _event(
        self, a: Approval, action: str, *, by: str | None, reason: str | None
    ) -> None:
        self._log.append(
            ApprovalEvent(
                run_id=a.run_id,
                ts=iso(self._clock.time()),
                approval_id=a.approval_id,
                action=action,  # type: ignore[arg-type]  # one of the Literal values
                tool=a.tool,
                binding_sha256=a.binding_sha256,
                by=by,
                reason=reason,
            )
        )


def _binds(approval: Approval, run_id: str, tool: str, binding_sha256: str) -> bool:
    """Whether ``approval`` was asked for this run's call of ``tool``, these args."""
    return (approval.run_id, approval.tool, approval.binding_sha256) == (
        run_id,
        tool,
        binding_sha256,
    )
