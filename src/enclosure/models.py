"""Frozen value types passed between the parts: calls, decisions, receipts, results."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from enclosure.types import Disposition, JSONObject, Outcome

__all__ = ["CallResult", "Decision", "ErrorInfo", "Receipt", "ToolCall"]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ToolCall(_Frozen):
    """One action an agent proposes."""

    tool: str
    """Name of the tool as declared in the manifest."""
    args: JSONObject = Field(default_factory=dict)
    """Proposed arguments, before validation."""
    context: JSONObject = Field(default_factory=dict)
    """What led to the call (the input the agent was reading, a ticket, an email):
    visible to rule conditions as ``context`` and logged as a hash and an excerpt."""
    call_id: str = ""
    """Unique id the run gives the call; empty until the run assigns it."""


class Decision(_Frozen):
    """The policy engine's verdict on one call, with everything needed to explain it."""

    outcome: Outcome
    rule: str
    """Which rule decided, as a stable path: ``tools.send_email.rules[0]``,
    ``tools.send_email.rate[0]``, ``kill_switch.max_calls``, ``default-deny``."""
    reason: str
    """One sentence a person (or the agent) can read."""
    tool: str
    manifest_sha256: str
    cost: float = 0.0
    """Cost the call will add if it runs."""
    via_approval: bool = False
    """True when ``allow`` stands on a human approval of exactly this call."""


class ErrorInfo(_Frozen):
    """A coded error as it appears in results and the decision log."""

    code: str
    message: str


class Receipt(_Frozen):
    """Proof that a call was decided and recorded: where it sits in the log."""

    call_id: str
    run_id: str
    tool: str
    args_sha256: str
    disposition: Disposition
    event_seq: int
    event_hash: str
    latency_us: int
    output_sha256: str | None = None
    sandbox: JSONObject | None = None
    """For a ``command`` tool: exit status, the limit that fired, output digest."""


class CallResult(_Frozen):
    """What ``Run.call`` returns for every outcome; it never raises for a refusal."""

    status: Disposition
    decision: Decision
    value: Any = None
    """The tool's (or simulator's) return value when the call ran or was simulated."""
    receipt: Receipt | None = None
    error: ErrorInfo | None = None
    approval_id: str | None = None

    @property
    def ok(self) -> bool:
        """True when the call ran (or was simulated) without error."""
        return self.status in ("executed", "simulated")

    def unwrap(self) -> Any:
        """Return ``value``, or raise the coded error that explains why there is none.

        Raises:
            ToolDenied: the call was blocked.
            ApprovalPending: the call waits for a human decision.
            RunKilled: the run was killed.
            ToolFailed: the tool raised.
        """
        from enclosure import errors  # noqa: PLC0415 -- keeps models import-light

        if self.ok:
            return self.value
        message = self.error.message if self.error else self.decision.reason
        code = self.error.code if self.error else None
        if self.status == "pending" and self.approval_id is not None:
            raise errors.ApprovalPending(message, approval_id=self.approval_id)
        if self.status == "killed":
            raise errors.RunKilled(message, code=code)
        if self.status == "failed":
            raise errors.ToolFailed(message, code=code)
        raise errors.ToolDenied(message, code=code)
