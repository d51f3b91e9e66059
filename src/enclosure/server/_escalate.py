"""Escalations: an agent asks for a tool its manifest switches off, with a reason.

The request becomes an approval like any other (tool ``escalation:<tool>``, the
justification as its reason, decided by an approver who did not start the run). A
granted escalation holds for that run only: while the run is running, calls of
that tool in it are let through by the grant, each logged as a decision with rule
``escalation.<approval_id>`` before the handler runs, then its result. It ends with
the run; no other run sees it. Its first use marks the approval ``consumed``, so
the expiry that turns unused approvals into denials does not end it; a grant not
used before the approval's TTL does expire.

Only tools the manifest declares with ``mode: deny`` can be escalated: an
undeclared tool has no handler or schema to run it with.

Must not know: HTTP or roles; it works through the facade's run and log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from enclosure.approvals import Approval, binding_sha256
from enclosure.errors import UsageError
from enclosure.models import ToolCall

if TYPE_CHECKING:
    from enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.models import CallResult

__all__ = ["PREFIX", "escalate", "granted", "run_granted"]

PREFIX = "escalation:"


def escalate(enc: Enclosure, run: Run, tool: str, justification: str) -> Approval:
    """Ask for ``tool`` in ``run``; return the pending approval.

    Raises:
        UsageError: ``E-ESCALATION-TOOL`` when the tool is not declared with
            ``mode: deny``; ``E-RUN-ENDED``/``E-RUN-KILLED`` style refusals when
            the run is not running (``ensure_running``).
        AuditUnavailable: the request cannot be stored.
    """
    run.ensure_running()
    spec = enc.manifest.tools.get(tool)
    if spec is None or spec.mode != "deny":
        msg = f"{tool!r} is not a tool the manifest switches off (mode: deny)"
        raise UsageError(msg, code="E-ESCALATION-TOOL")
    args = {"tool": tool}
    return enc.approvals.request(
        run_id=run.id,
        tool=PREFIX + tool,
        args=args,
        binding_sha256=binding_sha256(run.id, PREFIX + tool, args),
        rule="escalation",
        reason=justification,
        ttl=enc.manifest.approvals.ttl,
        requested_by=run.started_by,
    )


def granted(enc: Enclosure, run_id: str, tool: str) -> Approval | None:
    """The granted escalation for ``tool`` in this run (approved or in use)."""
    for approval in enc.log.list_approvals(run_id=run_id):
        if approval.tool == PREFIX + tool and approval.status in (
            "approved",
            "consumed",
        ):
            return approval
    return None


def run_granted(
    enc: Enclosure, run: Run, grant: Approval, tool: str, args: dict[str, Any]
) -> CallResult:
    """Run one call of an escalated tool: decision logged first, then the result."""
    if grant.status == "approved":
        # The first use moves the grant to ``consumed``: in use for the rest of
        # the run, and out of reach of the expiry that ends unused approvals.
        enc.log.consume_approval(
            grant.approval_id, binding_sha256=grant.binding_sha256, now=enc.clock.time()
        )
    reason = f"escalation granted by {grant.decided_by}: {grant.reason}"
    admitted = run.admit(
        tool, args, rule=f"escalation.{grant.approval_id}", reason=reason
    )
    if admitted.status != "dispatched" or admitted.receipt is None:
        return admitted
    call_id = admitted.receipt.call_id
    call = ToolCall(tool=tool, args=args, call_id=call_id)
    checked = enc.router.check_args(call)
    if not checked.ok:
        return run.record_result(
            call_id, error="; ".join(checked.errors), code="E-ESCALATION-ARGS"
        )
    try:
        value = enc.router.execute(call.model_copy(update={"args": checked.value}))
    except Exception as exc:  # noqa: BLE001 -- the tool boundary, as in Run.call
        return run.record_result(call_id, error=type(exc).__name__)
    return run.record_result(call_id, value=value)
