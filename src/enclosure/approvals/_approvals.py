"""Pending approvals: parked calls bound to their exact arguments, single use.

An approval is bound to the SHA-256 of (run, tool, canonical arguments), so approving
one argument set can never release another. It is used at most once and turns into a
denial when it expires. This module holds the model and the storage protocol; the
decision log implements the protocol, and the facade wires the two together.
"""

from __future__ import annotations

from typing import Literal, Protocol

from pydantic import BaseModel, ConfigDict

from enclosure._json import sha256_json
from enclosure.types import JSONObject

__all__ = ["Approval", "ApprovalStatus", "ApprovalStore", "binding_sha256"]

ApprovalStatus = Literal["pending", "approved", "denied", "expired", "consumed"]


def binding_sha256(run_id: str, tool: str, args: JSONObject) -> str:
    """Return the hash an approval is bound to: run, tool and canonical arguments."""
    return sha256_json({"run_id": run_id, "tool": tool, "args": args})


class Approval(BaseModel):
    """One request for a human decision, and what became of it."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    approval_id: str
    run_id: str
    tool: str
    args: JSONObject
    """Arguments as shown to the approver, after redaction."""
    binding_sha256: str
    status: ApprovalStatus
    rule: str
    reason: str
    requested_at: float
    """Unix epoch seconds."""
    expires_at: float
    requested_by: str | None = None
    """Who started the run; they may not approve their own calls."""
    decided_by: str | None = None
    decided_at: float | None = None
    decision_reason: str | None = None


class ApprovalStore(Protocol):
    """Durable storage for approvals; every transition is atomic.

    Each method raises ``ApprovalError`` with code ``E-APPROVAL-NOT-FOUND``,
    ``E-APPROVAL-DECIDED``, ``E-APPROVAL-EXPIRED``, ``E-APPROVAL-NOT-APPROVED`` or
    ``E-APPROVAL-MISMATCH`` as named below, and ``AuditUnavailable`` when the store
    cannot be reached.
    """

    def create_approval(self, approval: Approval) -> None:
        """Store a new pending approval."""
        ...

    def get_approval(self, approval_id: str) -> Approval:
        """Return one approval. Raises E-APPROVAL-NOT-FOUND."""
        ...

    def list_approvals(
        self, *, status: ApprovalStatus | None = None, run_id: str | None = None
    ) -> list[Approval]:
        """Return approvals, oldest first, optionally filtered."""
        ...

    def decide_approval(
        self,
        approval_id: str,
        *,
        approve: bool,
        by: str,
        reason: str | None,
        now: float,
    ) -> Approval:
        """Move a pending approval to approved or denied.

        A pending approval past ``expires_at`` becomes ``expired`` and the call raises
        E-APPROVAL-EXPIRED; one that is not pending raises E-APPROVAL-DECIDED.
        """
        ...

    def consume_approval(
        self, approval_id: str, *, binding_sha256: str, now: float
    ) -> Approval:
        """Move an approved approval to consumed, exactly once.

        Raises E-APPROVAL-MISMATCH when the binding differs, E-APPROVAL-EXPIRED past
        ``expires_at`` (and marks it expired), E-APPROVAL-NOT-APPROVED otherwise.
        """
        ...

    def expire_approvals(self, *, now: float) -> list[Approval]:
        """Mark every pending or approved approval past its expiry as expired."""
        ...
