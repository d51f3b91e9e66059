"""Escalations: an agent asks for what its manifest does not grant, with a reason.

The request becomes an approval like any other (see ``_grants`` for how its
``tool`` names what is asked; the justification is its reason; it is decided by
an approver who did not start the run). A granted escalation holds for that run
only, while it is running; no other run sees it. Its first use marks the approval
``consumed``, so the expiry that turns unused approvals into denials does not end
it; a grant not used before the approval's TTL does expire. Three kinds:

- ``tool``: a tool the manifest declares with ``mode: deny`` (an undeclared tool
  has no handler or schema to run it with). Calls of it in the run are decided
  as any other call (the tool's rules, its rate limits, the kill switch), the
  escalation standing in for ``mode: deny``: allowed, the decision names rule
  ``escalation.<approval_id>`` (``unlock``).
- ``host``: a host name (exact or ``*.suffix``, never an IP literal) with ports
  (443 by default) and optionally methods, checked as a manifest network rule
  would be. The run's egress proxy allows it (``_egress``), logging each request
  with the grant as its rule; SSRF checks still apply. The manifest must give
  runs a network (some ``network`` rule, and a sandbox), or there is no proxy
  to extend.
- ``limit``: a higher count for one of a tool's rate windows; the run's policy
  state counts against it from the next call (``raise_limits``).

Bad requests are ``UsageError``s with codes ``E-ESCALATION-TOOL``,
``E-ESCALATION-HOST`` and ``E-ESCALATION-LIMIT``; nothing is written then.

Must not know: HTTP or roles; it works through the facade's run and log.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from pydantic import ValidationError

from enclosure._grants import (
    HOST,
    LIMIT,
    PREFIX,
    grants,
    limit_of,
    limits,
    rule_name,
    use,
)
from enclosure.approvals import Approval, binding_sha256
from enclosure.errors import UsageError
from enclosure.manifest import NetworkRule
from enclosure.server._models import HostEscalation, LimitEscalation

if TYPE_CHECKING:
    from enclosure import Enclosure
    from enclosure._run import Run
    from enclosure.server._models import Escalation
    from enclosure.types import JSONObject

__all__ = ["PREFIX", "escalate", "granted", "raise_limits", "unlock"]


def escalate(enc: Enclosure, run: Run, body: Escalation) -> Approval:
    """Ask for what ``body`` names in ``run``; return the pending approval.

    Raises:
        UsageError: ``E-ESCALATION-TOOL``, ``E-ESCALATION-HOST`` or
            ``E-ESCALATION-LIMIT`` when the request is not one that can be
            granted (see the module); ``E-RUN-ENDED``/``E-RUN-KILLED`` style
            refusals when the run is not running (``ensure_running``).
        AuditUnavailable: the request cannot be stored.
    """
    run.ensure_running()
    if isinstance(body, HostEscalation):
        tool, args = _host(enc, body)
    elif isinstance(body, LimitEscalation):
        tool, args = _limit(enc, run, body)
    else:
        tool, args = _tool(enc, body.tool)
    return enc.approvals.request(
        run_id=run.id,
        tool=tool,
        args=args,
        binding_sha256=binding_sha256(run.id, tool, args),
        rule="escalation",
        reason=body.justification,
        ttl=enc.manifest.approvals.ttl,
        requested_by=run.started_by,
    )


def _tool(enc: Enclosure, tool: str) -> tuple[str, JSONObject]:
    spec = enc.manifest.tools.get(tool)
    if spec is None or spec.mode != "deny":
        msg = f"{tool!r} is not a tool the manifest switches off (mode: deny)"
        raise UsageError(msg, code="E-ESCALATION-TOOL")
    return PREFIX + tool, {"tool": tool}


def _host(enc: Enclosure, body: HostEscalation) -> tuple[str, JSONObject]:
    manifest = enc.manifest
    if not manifest.network.rules or manifest.compute.backend == "none":
        msg = "runs of this manifest have no network to extend (no network rules)"
        raise UsageError(msg, code="E-ESCALATION-HOST")
    try:
        rule = NetworkRule(
            host=body.host, ports=body.ports or [443], methods=body.methods
        )
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first["loc"])
        msg = f"{where}: {first['msg']}"
        raise UsageError(msg, code="E-ESCALATION-HOST") from None
    if rule.is_ip:
        msg = f"{rule.host!r} is an IP address; escalations name hosts"
        raise UsageError(msg, code="E-ESCALATION-HOST")
    args: JSONObject = {
        "host": rule.host,
        "ports": sorted(set(rule.ports)),
        "methods": sorted(set(rule.methods)),
    }
    return HOST + rule.host, args


def _limit(enc: Enclosure, run: Run, body: LimitEscalation) -> tuple[str, JSONObject]:
    tool, index, wanted = body.tool, body.rate, body.limit
    spec = enc.manifest.tools.get(tool)
    if spec is None:
        msg = f"{tool!r} is not a tool the manifest declares"
        raise UsageError(msg, code="E-ESCALATION-TOOL")
    if index >= len(spec.rate):
        msg = f"tool {tool!r} has no rate limit rate[{index}] to raise"
        raise UsageError(msg, code="E-ESCALATION-LIMIT")
    raised = limits(enc, run.id, tool).get(index)
    current = spec.rate[index].count if raised is None else limit_of(raised)
    if wanted <= current:
        msg = (
            f"tool {tool!r} already allows {current} calls per window in this run; "
            f"ask for more than that"
        )
        raise UsageError(msg, code="E-ESCALATION-LIMIT")
    return LIMIT + tool, {"tool": tool, "rate": index, "limit": wanted}


def raise_limits(enc: Enclosure, run: Run, tool: str) -> None:
    """Let ``run``'s policy state count ``tool``'s calls against its granted limits.

    Each grant is marked in use the first time it applies.

    Raises:
        AuditUnavailable: the log cannot be read or written.
    """
    for index, grant in limits(enc, run.id, tool).items():
        path = f"tools.{tool}.rate[{index}]"  # as the policy engine names the window
        run.state.limits[path] = limit_of(grant)
        use(enc, grant)


def granted(enc: Enclosure, run_id: str, tool: str) -> Approval | None:
    """The granted escalation for ``tool`` in this run (approved or in use)."""
    return next((a for a in grants(enc, run_id) if a.tool == PREFIX + tool), None)


def unlock(enc: Enclosure, run: Run, tool: str) -> None:
    """Let ``run`` use ``tool``, switched off by the manifest, if an escalation allows.

    The call is then decided like any other (the tool's rules, rate limits, the
    kill switch, the ladder), the escalation standing in for ``mode: deny`` and
    named as the rule; the grant is marked in use the first time.

    Raises:
        AuditUnavailable: the log cannot be read or written.
    """
    grant = granted(enc, run.id, tool)
    if grant is not None:
        run.state.unlocked[tool] = rule_name(grant.approval_id)
        use(enc, grant)
