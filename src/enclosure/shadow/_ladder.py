"""The maturity ladder's arithmetic: what a stage means, what a gate still lacks.

Pure: the evidence arrives as numbers, the gates from the manifest; the caller
reads the decision log and records every change as a ``ladder`` event.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from enclosure.manifest import DemoteSpec, Gate

__all__ = ["DEMOTED_TO", "STAGES", "Evidence", "demotion", "missing"]

STAGES = {
    1: "read-only",
    2: "shadow",
    3: "approval-gated",
    4: "autonomous within limits",
    5: "broad autonomy",
}
DEMOTED_TO = 2
"""An incident sends a tool back to shadow: it keeps proposing, nothing acts."""


class Evidence(NamedTuple):
    """What the log shows for one tool since it last changed stage."""

    shadow_cases: int
    agreed: int
    approvals: int
    """Approval requests a human decided."""
    rejected: int
    incidents: int
    """Kills and alerts in runs that called it."""

    @property
    def agreement(self) -> float | None:
        return self.agreed / self.shadow_cases if self.shadow_cases else None

    @property
    def rejected_share(self) -> float | None:
        return self.rejected / self.approvals if self.approvals else None


def missing(gate: Gate | None, ev: Evidence) -> list[str]:
    """What ``ev`` lacks to pass ``gate``, one phrase each; empty when it passes.

    No gate declared for a stage means nobody said what earns it: refused.
    """
    if gate is None:
        return ["no gate is declared for this stage in 'ladder.gates'"]
    lacks = []
    if ev.shadow_cases < gate.min_shadow_cases:
        lacks.append(f"{gate.min_shadow_cases} shadow cases (has {ev.shadow_cases})")
    if gate.min_agreement > 0 and (ev.agreement or 0.0) < gate.min_agreement:
        have = "none" if ev.agreement is None else f"{ev.agreement:.1%}"
        lacks.append(f"agreement >= {gate.min_agreement:.1%} (has {have})")
    if ev.approvals < gate.min_approvals:
        lacks.append(f"{gate.min_approvals} decided approvals (has {ev.approvals})")
    share = ev.rejected_share
    if share is not None and share > gate.max_rejected:
        lacks.append(f"rejected <= {gate.max_rejected:.1%} (has {share:.1%})")
    if gate.no_incident and ev.incidents:
        lacks.append(f"no incident (has {ev.incidents})")
    return lacks


def demotion(
    spec: DemoteSpec, *, kind: str, decided: int = 0, rejected: int = 0
) -> str | None:
    """Why an event of ``kind`` demotes a tool at stage 3 or above, or None.

    ``kind`` is ``kill``, ``alert`` (alerts and anomalies) or ``approval`` (a
    denial; ``decided`` and ``rejected`` count the tool's approvals so far).
    """
    if kind == "kill" and spec.on_kill:
        return "a run that used it was killed"
    if kind == "alert" and spec.on_alert:
        return "an alert was raised on a run that used it"
    if (
        kind == "approval"
        and decided >= spec.min_decided
        and rejected / decided > spec.max_rejected
    ):
        return (
            f"{rejected} of {decided} approvals denied, over "
            f"{spec.max_rejected:.0%} (ladder.demote.max_rejected)"
        )
    return None
