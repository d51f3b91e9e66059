"""A run's quarantined artifacts over HTTP: list, diff, promote, reject.

The routes open the run's ``Quarantine`` as ``enclosure artifacts`` does and
call the same methods, so every check holds here too (findings must be accepted,
nothing changed since the scan, the host unchanged since the run started) and
each decision is an ``ArtifactEvent`` naming the approver who made it.
Separation of duties: the identity that started a run never decides its
artifacts, as it never decides its calls.

Must not know: how quarantines are laid out, scanned or promoted; roles.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import anyio.to_thread

from enclosure.artifacts import PromotionApproval, Quarantine
from enclosure.errors import ArtifactError
from enclosure.server._errors import HttpError

if TYPE_CHECKING:
    from enclosure.artifacts import Artifact
    from enclosure.server._api import Ctx
    from enclosure.server._models import PromoteBody, RejectBody

__all__ = ["artifact_diff", "list_artifacts", "promote_artifact", "reject_artifact"]


def _quarantine(ctx: Ctx, *, decider: bool = False) -> Quarantine | None:
    """The run's quarantine, None if it never had one; 404 for an unknown run.

    With ``decider``, refuse the identity that started the run.
    """
    enc = ctx.state.enc
    run_id = ctx.path("run_id")
    record = enc.log.get_run(run_id)
    if record is None:
        raise HttpError(404, "E-RUN-UNKNOWN", f"run {run_id!r} is not in the log")
    if decider and record.started_by == ctx.identity.name:
        msg = (
            f"{ctx.identity.name} started run {run_id} and cannot decide its artifacts"
        )
        raise HttpError(403, "E-ARTIFACT-SELF", msg)
    try:
        return Quarantine.open(enc.quarantine_root, run_id)
    except ArtifactError:
        return None  # the run never opened a sandbox: it left nothing behind


def _one(ctx: Ctx, *, decider: bool = False) -> tuple[Quarantine, str]:
    quarantine = _quarantine(ctx, decider=decider)
    artifact_id = ctx.path("artifact_id")
    if quarantine is None:
        msg = f"run {ctx.path('run_id')} has no artifact {artifact_id!r}"
        raise HttpError(404, "E-ARTIFACT-NOT-FOUND", msg)
    return quarantine, artifact_id


def _artifact(artifact: Artifact) -> dict[str, Any]:
    return artifact.model_dump(mode="json")


async def list_artifacts(ctx: Ctx) -> Any:
    def work() -> list[Artifact]:
        quarantine = _quarantine(ctx)
        return [] if quarantine is None else quarantine.artifacts()

    found = await anyio.to_thread.run_sync(work)
    return {"artifacts": [_artifact(a) for a in found]}


async def artifact_diff(ctx: Ctx) -> Any:
    def work() -> dict[str, Any]:
        quarantine, artifact_id = _one(ctx)
        return {
            "artifact": _artifact(quarantine.get(artifact_id)),
            "diff": quarantine.diff(artifact_id),
        }

    return await anyio.to_thread.run_sync(work)


async def promote_artifact(ctx: Ctx) -> Any:
    body: PromoteBody = ctx.body
    enc = ctx.state.enc

    def work() -> Artifact:
        quarantine, artifact_id = _one(ctx, decider=True)
        [done] = quarantine.promote(
            [artifact_id],
            approval=PromotionApproval(by=ctx.identity.name),
            log=enc.log,
            now=enc.clock.time(),
            accept_findings=body.accept_findings,
        )
        return done

    return _artifact(await anyio.to_thread.run_sync(work))


async def reject_artifact(ctx: Ctx) -> Any:
    body: RejectBody = ctx.body
    enc = ctx.state.enc

    def work() -> Artifact:
        quarantine, artifact_id = _one(ctx, decider=True)
        [done] = quarantine.reject(
            [artifact_id],
            by=ctx.identity.name,
            reason=body.reason,
            log=enc.log,
            now=enc.clock.time(),
        )
        return done

    return _artifact(await anyio.to_thread.run_sync(work))
