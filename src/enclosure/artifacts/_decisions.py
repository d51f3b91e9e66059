"""The rules of deciding artifacts: which may be decided, and what gets logged.

Pure functions over artifacts; the quarantine applies them under its lock.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import TYPE_CHECKING, Literal

from enclosure.artifacts._scan import Found
from enclosure.artifacts._scanners import UNSAFE
from enclosure.audit import ArtifactEvent
from enclosure.errors import ArtifactError, UsageError

if TYPE_CHECKING:
    from collections.abc import Sequence

    from enclosure.artifacts._model import Artifact
    from enclosure.artifacts._token import PromotionApproval

__all__ = [
    "check_findings",
    "decided",
    "event",
    "keep_decision",
    "pick",
    "promotion_reason",
    "replace",
]


def pick(
    found: Sequence[Found], ids: Sequence[str], *, pending: bool = False
) -> list[Found]:
    """The entries named by ``ids`` (each once, in order).

    Raises:
        UsageError: ``ids`` is empty (``E-USAGE``).
        ArtifactError: an id is unknown (``E-ARTIFACT-NOT-FOUND``), or, with
            ``pending``, already decided (``E-ARTIFACT-DECIDED``).
    """
    if not ids:
        msg = "name at least one artifact"
        raise UsageError(msg, code="E-USAGE")
    by_id = {f.artifact.id: f for f in found}
    chosen = []
    for artifact_id in dict.fromkeys(ids):
        entry = by_id.get(artifact_id)
        if entry is None:
            msg = f"no artifact {artifact_id!r} in this run's last scan"
            raise ArtifactError(msg, code="E-ARTIFACT-NOT-FOUND")
        a = entry.artifact
        if pending and a.state != "pending":
            msg = f"{artifact_id} was already {a.state} by {a.decided_by}"
            raise ArtifactError(msg, code="E-ARTIFACT-DECIDED")
        chosen.append(entry)
    return chosen


def check_findings(artifact: Artifact, *, accept_findings: bool) -> None:
    """Refuse an artifact whose findings were not accepted, or can never be.

    Raises:
        ArtifactError: a special file or a link out of the write path
            (``E-ARTIFACT-UNSAFE``), or findings not accepted
            (``E-ARTIFACT-FINDINGS``).
    """
    if unsafe := sorted(UNSAFE & set(artifact.findings)):
        why = ", ".join(unsafe)
        msg = f"{artifact.id} ({artifact.path}) can never be promoted: {why}"
        raise ArtifactError(msg, code="E-ARTIFACT-UNSAFE")
    if artifact.findings and not accept_findings:
        msg = (
            f"{artifact.id} ({artifact.path}) has findings "
            f"({', '.join(artifact.findings)}); review them, then accept them"
        )
        raise ArtifactError(msg, code="E-ARTIFACT-FINDINGS")


def promotion_reason(artifact: Artifact, approval: PromotionApproval) -> str | None:
    """What the log says about how a promotion was approved."""
    reasons = []
    if approval.via == "token":
        reasons.append("approved with the CI promotion token")
    if artifact.findings:
        reasons.append("findings accepted: " + ", ".join(artifact.findings))
    return "; ".join(reasons) or None


def event(
    artifact: Artifact,
    action: Literal["promoted", "rejected"],
    *,
    by: str,
    reason: str | None,
    now: float,
) -> ArtifactEvent:
    """The decision-log record of a decision."""
    return ArtifactEvent(
        run_id=artifact.run_id,
        ts=datetime.fromtimestamp(now, UTC).isoformat(timespec="microseconds"),
        action=action,
        artifact_id=artifact.id,
        path=str(artifact.path),
        change=artifact.change,
        sha256=artifact.sha256,
        findings=list(artifact.findings),
        by=by,
        reason=reason,
    )


def decided(
    artifact: Artifact,
    state: Literal["promoted", "rejected"],
    *,
    by: str,
    reason: str | None,
) -> Artifact:
    """``artifact`` after the decision."""
    return artifact.model_copy(
        update={"state": state, "decided_by": by, "reason": reason}
    )


def replace(entries: Sequence[Found], artifact: Artifact) -> list[Found]:
    """``entries`` with the one of the same id replaced by ``artifact``."""
    return [
        Found(e.slot, e.rel, artifact) if e.artifact.id == artifact.id else e
        for e in entries
    ]


def keep_decision(new: Found, old: Artifact | None) -> Found:
    """A decided artifact keeps its decision while what it decided on is unchanged."""
    if old is None or old.state == "pending":
        return new
    if (old.change, old.sha256) != (new.artifact.change, new.artifact.sha256):
        return new
    return Found(new.slot, new.rel, old)
