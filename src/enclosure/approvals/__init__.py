"""Approvals: parked calls that wait for a human, bound to their exact arguments.

Must not know: how approvals are stored (``ApprovalStore`` is a protocol the decision
log implements), HTTP, or the CLI.
"""

from enclosure.approvals._approvals import (
    Approval,
    ApprovalStatus,
    ApprovalStore,
    binding_sha256,
)

__all__ = ["Approval", "ApprovalStatus", "ApprovalStore", "binding_sha256"]
