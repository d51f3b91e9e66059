"""Manifest versions over HTTP: check, upload, list, show and diff.

Checking and uploading validate exactly as ``enclosure check`` does
(``Enclosure.check_text``: YAML, models, CEL conditions and schemas; handlers are
not imported). A check writes nothing. An upload of a valid manifest stores its
text as the next version (the same text again returns the version it has) and
appends a ``ManifestEvent`` naming the uploader; an invalid one is a 422 listing
every issue, and stores nothing. Stored versions are for review and diffs: the
server keeps running the manifest it was started with (``active`` marks the
versions that mean the same).

Must not know: SQL, how manifests are parsed or compared, roles.
"""

from __future__ import annotations

import difflib
from typing import TYPE_CHECKING, Any

import anyio.to_thread
from starlette.responses import JSONResponse

from enclosure import Enclosure
from enclosure._clock import iso
from enclosure.audit import ManifestEvent, manifest_text_sha256
from enclosure.errors import ManifestError
from enclosure.manifest import diff_manifests, load_manifest_text
from enclosure.server._errors import HttpError

if TYPE_CHECKING:
    from enclosure.audit import ManifestRecord
    from enclosure.server._api import Ctx, State
    from enclosure.server._models import ManifestBody

__all__ = [
    "check_manifest",
    "diff_versions",
    "list_manifests",
    "show_manifest",
    "upload_manifest",
]

UPLOAD = "<upload>"
"""The file name issues of a checked or uploaded text are located in."""
_MAX_VERSION = 10**9


def _issues(exc: ManifestError) -> list[dict[str, Any]]:
    return [
        {"code": i.code, "message": i.message, "line": i.line, "col": i.col}
        for i in exc.issues
    ]


def _record(state: State, record: ManifestRecord) -> dict[str, Any]:
    active = record.manifest_sha256 == state.enc.manifest.sha256
    return {**record._asdict(), "active": active}


def _version(ctx: Ctx, name: str) -> int:
    raw = ctx.path(name)
    if raw.isascii() and raw.isdigit() and 0 < int(raw) < _MAX_VERSION:
        return int(raw)
    raise HttpError(404, "E-MANIFEST-UNKNOWN", f"no manifest version {raw!r}")


def _stored(state: State, version: int) -> tuple[ManifestRecord, str]:
    found = state.enc.log.get_manifest(version)
    if found is None:
        raise HttpError(404, "E-MANIFEST-UNKNOWN", f"no manifest version {version}")
    return found


async def check_manifest(ctx: Ctx) -> Any:
    body: ManifestBody = ctx.body
    try:
        manifest = await anyio.to_thread.run_sync(
            Enclosure.check_text, body.text, UPLOAD
        )
    except ManifestError as exc:
        return {"ok": False, "issues": _issues(exc)}
    return {
        "ok": True,
        "issues": [],
        "sha256": manifest_text_sha256(body.text),
        "manifest_sha256": manifest.sha256,
        "tools": sorted(manifest.tools),
    }


async def upload_manifest(ctx: Ctx) -> Any:
    body: ManifestBody = ctx.body
    enc = ctx.state.enc
    by = ctx.identity.name

    def work() -> Any:
        try:
            manifest = Enclosure.check_text(body.text, UPLOAD)
        except ManifestError as exc:
            error = {
                "code": "E-MANIFEST-INVALID",
                "message": " ".join(exc.message.split()),
                "issues": _issues(exc),
            }
            return JSONResponse({"error": error}, status_code=422)
        now = enc.clock.time()
        record, created = enc.log.add_manifest(
            body.text, manifest_sha256=manifest.sha256, by=by, now=now
        )
        if created or not _logged(enc, record.version):
            # A version stored before its event could be logged gets it on retry.
            event = ManifestEvent(
                run_id="",
                ts=iso(now),
                action="uploaded",
                version=record.version,
                sha256=record.sha256,
                manifest_sha256=record.manifest_sha256,
                by=by,
            )
            enc.log.append(event)
        return {**_record(ctx.state, record), "created": created}

    return await anyio.to_thread.run_sync(work)


def _logged(enc: Enclosure, version: int) -> bool:
    """Whether the upload of ``version`` is in the log."""
    return any(
        isinstance(stored.event, ManifestEvent) and stored.event.version == version
        for stored in enc.log.events(kinds=["manifest"])
    )


async def list_manifests(ctx: Ctx) -> Any:
    records = await anyio.to_thread.run_sync(ctx.state.enc.log.list_manifests)
    return {"manifests": [_record(ctx.state, r) for r in records]}


async def show_manifest(ctx: Ctx) -> Any:
    version = _version(ctx, "version")
    record, text = await anyio.to_thread.run_sync(_stored, ctx.state, version)
    return {**_record(ctx.state, record), "text": text}


def _changes(old: str, new: str) -> dict[str, Any] | None:
    """What the change means by name; None if a text no longer loads."""
    try:
        diff = diff_manifests(load_manifest_text(old), load_manifest_text(new))
    except ManifestError:
        return None
    named = {
        key: value._asdict()
        for key, value in diff._asdict().items()
        if key != "sections"
    }
    return {**named, "sections": diff.sections}


async def diff_versions(ctx: Ctx) -> Any:
    old_version, new_version = _version(ctx, "a"), _version(ctx, "b")

    def work() -> dict[str, Any]:
        _, old = _stored(ctx.state, old_version)
        _, new = _stored(ctx.state, new_version)
        lines = difflib.unified_diff(
            old.splitlines(keepends=True),
            new.splitlines(keepends=True),
            fromfile=f"manifest v{old_version}",
            tofile=f"manifest v{new_version}",
        )
        return {
            "from": old_version,
            "to": new_version,
            "unified": "".join(
                line if line.endswith("\n") else line + "\n" for line in lines
            ),
            "changes": _changes(old, new),
        }

    return await anyio.to_thread.run_sync(work)
