"""Compare one write path's working copy with its originals, and scan what changed."""

from __future__ import annotations

import hashlib
import os
import stat
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

from enclosure.artifacts._fs import (
    Stat,
    TooMany,
    kind_of,
    lstat_at,
    open_dir,
    open_dir_at,
    read_file_at,
    walk,
)
from enclosure.artifacts._model import Artifact, Change, printable
from enclosure.artifacts._scanners import (
    content_findings,
    link_findings,
    mode_findings,
    name_findings,
)

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.artifacts._model import Original, ScanLimits

__all__ = ["Found", "WritePath", "artifact_id", "scan_write_path", "split"]


class WritePath(NamedTuple):
    """One ``filesystem.write`` path and what it held when the run started."""

    host: Path
    layout: Literal["file", "dir"]
    existed: bool
    originals: Mapping[str, Original]
    """By ``/``-joined path below ``host`` (``""`` for a single file)."""


class Found(NamedTuple):
    """A scanned artifact and where it lives in quarantine."""

    slot: int
    """Which write path (its index)."""
    rel: str
    artifact: Artifact


def split(rel: str) -> tuple[str, ...]:
    """Path components of a ``/``-joined relative path (``""`` has none)."""
    return tuple(rel.split("/")) if rel else ()


def artifact_id(run_id: str, index: int, rel: str) -> str:
    """The stable id of the entry ``rel`` under write path ``index`` of a run."""
    key = f"{run_id}\0{index}\0{rel}".encode("utf-8", "surrogateescape")
    return "art_" + hashlib.sha256(key).hexdigest()[:16]


def scan_write_path(
    run_id: str, index: int, wp: WritePath, slot_fd: int, limits: ScanLimits
) -> list[Found]:
    """Artifacts of write path ``index``, whose copies live under ``slot_fd``.

    Raises:
        TooMany: the working copy is too big or too deep to scan.
        OSError: it cannot be read.
    """
    found = []
    if wp.layout == "file":
        st = lstat_at(slot_fd, "data")
        current = {"": _stat(st)} if st is not None else {}
        data_fd = os.dup(slot_fd)
    else:
        data_fd = open_dir_at(slot_fd, "data")
    try:
        if wp.layout == "dir":
            entries = walk(
                data_fd, max_entries=limits.max_entries, max_depth=limits.max_depth
            )
            current = {"/".join(parts): st for parts, st in entries.items()}
        total = sum(st.size for st in current.values() if st.kind == "file")
        if total > limits.max_total:
            msg = f"more than {limits.max_total} bytes"
            raise TooMany(msg)
        for rel in sorted(set(current) | set(wp.originals)):
            artifact = _compare(
                run_id,
                index,
                wp,
                rel,
                st=current.get(rel),
                data_fd=data_fd,
                limits=limits,
            )
            if artifact is not None:
                found.append(Found(index, rel, artifact))
    finally:
        os.close(data_fd)
    return found


def _stat(st: os.stat_result) -> Stat:
    kind = kind_of(st.st_mode)
    return Stat(
        "special" if kind == "dir" else kind, st.st_mode, st.st_size, st.st_nlink
    )


class _Seen(NamedTuple):
    """What the scan saw in quarantine at one path."""

    kind: Literal["file", "symlink", "special"]
    sha256: str | None
    size: int
    mode: int | None
    link_target: str | None
    findings: list[str]


def _compare(
    run_id: str,
    index: int,
    wp: WritePath,
    rel: str,
    *,
    st: Stat | None,
    data_fd: int,
    limits: ScanLimits,
) -> Artifact | None:
    parts = split(rel)
    original = wp.originals.get(rel)
    names = name_findings(parts)
    if st is None:
        assert original is not None  # noqa: S101 -- rel came from one of the two
        seen = _Seen(original.kind, None, original.size, None, None, names)
    else:
        with open_dir(data_fd, parts[:-1]) as parent:
            seen = _look(wp, parts, st, parent, limits)
        if seen.kind != "special" and original is not None:
            same = (original.kind, original.sha256) == (seen.kind, seen.sha256)
            if same and seen.kind == "symlink":
                return None
            if same and (original.mode, original.size) == (seen.mode, seen.size):
                return None
        seen.findings[:0] = names
    change: Change = "deleted" if st is None else "modified" if original else "added"
    return Artifact(
        id=artifact_id(run_id, index, rel),
        run_id=run_id,
        path=Path(printable(str(Path(wp.host, *parts)))),
        change=change,
        kind=seen.kind,
        sha256=seen.sha256,
        base_sha256=original.sha256 if original else None,
        size=seen.size,
        mode=seen.mode,
        link_target=seen.link_target,
        findings=tuple(seen.findings),
    )


def _look(
    wp: WritePath, parts: tuple[str, ...], st: Stat, parent: int, limits: ScanLimits
) -> _Seen:
    """Read one quarantined entry (never following it) and run the scanners."""
    name = parts[-1] if parts else "data"
    if st.kind == "symlink":
        target = os.readlink(name, dir_fd=parent)
        raw = os.fsencode(target)
        depth = None if wp.layout == "file" else len(parts) - 1
        digest = hashlib.sha256(raw).hexdigest()
        return _Seen(
            "symlink", digest, len(raw), None, target, link_findings(target, depth)
        )
    if st.kind == "file":
        try:
            read = read_file_at(parent, name, keep=limits.secret_scan + 1)
        except OSError:  # swapped for something else while we looked
            read = None
        if read is not None:
            mode = stat.S_IMODE(read.mode)
            findings = mode_findings(mode)
            if read.nlink > 1:
                findings.append("hard-link")
            label = wp.host.name if wp.layout == "file" else name
            findings += content_findings(read.head, read.size, label, limits)
            return _Seen("file", read.sha256, read.size, mode, None, findings)
    return _Seen(
        "special", None, st.size, stat.S_IMODE(st.mode), None, ["special-file"]
    )
