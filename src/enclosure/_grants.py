"""Escalation grants: what a human granted one run beyond its manifest.

An escalation is an approval whose ``tool`` says what it asks for (tool names
cannot hold a colon, so the three forms never collide):

- ``escalation:<tool>``: a tool the manifest switches off (``server._escalate``
  runs its calls);
- ``escalation:host:<host>``: a host, with ``args`` ``{"host", "ports",
  "methods"}``; the run's egress proxy allows it (``egress.HostGrant``);
- ``escalation:limit:<tool>``: a higher rate limit, ``args`` ``{"tool",
  "rate", "limit"}``; the run's policy state counts against it
  (``RunState.limits``).

A grant holds while it is ``approved`` and unexpired, or ``consumed``: its first
use moves it there (``use``), so the expiry that turns unused approvals into
denials does not end it; it ends with its run, since it is looked up by run id
and honoured only while that run is running. Names and values are read from
the ``tool`` field where they can be, because ``args`` are stored redacted.

Must not know: HTTP, roles, or how the proxy and the engine apply a grant.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from enclosure.egress import HostGrant
from enclosure.errors import ApprovalError

if TYPE_CHECKING:
    from enclosure._enclosure import Enclosure
    from enclosure.approvals import Approval

__all__ = [
    "HOST",
    "LIMIT",
    "PREFIX",
    "RULE",
    "grants",
    "host_grants",
    "limit_of",
    "limits",
    "rule_name",
    "use",
]

PREFIX = "escalation:"
HOST = PREFIX + "host:"
LIMIT = PREFIX + "limit:"
RULE = "escalation."
"""What decisions and egress records a grant allowed name their rule with."""


def rule_name(approval_id: str) -> str:
    """How decisions and egress records name the grant."""
    return RULE + approval_id


def grants(enc: Enclosure, run_id: str) -> list[Approval]:
    """The run's escalations that hold now, oldest first.

    Raises:
        AuditUnavailable: the log cannot be read.
    """
    now = enc.clock.time()
    return [
        a
        for a in enc.log.list_approvals(run_id=run_id)
        if a.tool.startswith(PREFIX)
        and (a.status == "consumed" or (a.status == "approved" and a.expires_at > now))
    ]


def host_grants(enc: Enclosure, run_id: str) -> tuple[HostGrant, ...]:
    """The hosts granted to the run, as its egress proxy checks them.

    A grant may let its host resolve to a private address only when a manifest
    rule naming the very same host does.

    Raises:
        AuditUnavailable: the log cannot be read.
    """
    private = {r.host for r in enc.manifest.network.rules if r.allow_private}
    found = []
    for a in grants(enc, run_id):
        if a.tool.startswith(HOST):
            host = a.tool.removeprefix(HOST)
            found.append(
                HostGrant(
                    name=rule_name(a.approval_id),
                    host=host,
                    ports=frozenset(int(str(p)) for p in _list(a.args.get("ports"))),
                    methods=frozenset(str(m) for m in _list(a.args.get("methods"))),
                    allow_private=host in private,
                )
            )
    return tuple(found)


def limits(enc: Enclosure, run_id: str, tool: str) -> dict[int, Approval]:
    """The raised rate limits of ``tool`` in the run: the highest grant per rate.

    Raises:
        AuditUnavailable: the log cannot be read.
    """
    raised: dict[int, Approval] = {}
    for a in grants(enc, run_id):
        if a.tool == LIMIT + tool:
            index = int(str(a.args.get("rate", 0)))
            if index not in raised or limit_of(a) > limit_of(raised[index]):
                raised[index] = a
    return raised


def limit_of(grant: Approval) -> int:
    """The number of calls a limit grant allows per window."""
    return int(str(grant.args.get("limit", 0)))


def use(enc: Enclosure, grant: Approval) -> None:
    """Mark a grant in use (``consumed``) on its first use; later uses change nothing.

    Raises:
        AuditUnavailable: the log cannot be written.
    """
    if grant.status != "approved":
        return
    try:
        enc.log.consume_approval(
            grant.approval_id, binding_sha256=grant.binding_sha256, now=enc.clock.time()
        )
    except ApprovalError as exc:
        if exc.code != "E-APPROVAL-NOT-APPROVED":  # consumed by a racing first use
            raise


def _list(value: object) -> list[object]:
    return list(value) if isinstance(value, list) else []
