"""Promotion: copy one approved artifact from quarantine onto the host, atomically.

The host side is walked from the write path down with ``O_NOFOLLOW``, so a
symlink planted on the host (or left by an earlier promotion) cannot redirect a
write. Content is copied from a descriptor into a temporary file beside the
destination, checked against the scan's hash, synced, and renamed into place:
the destination holds either the old file or the whole new one, never a part.
The decision log records the promotion before the rename, as calls are logged
before they run.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import stat
from contextlib import contextmanager, suppress
from typing import TYPE_CHECKING, NamedTuple

from enclosure.artifacts._copy import NEW_FILE, stream
from enclosure.artifacts._fs import (
    FILE_FLAGS,
    kind_of,
    lstat_at,
    open_dir_at,
    open_path,
    read_file_at,
)
from enclosure.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator

    from enclosure.artifacts._model import Artifact
    from enclosure.artifacts._scan import WritePath

__all__ = ["Destination", "check_source", "commit", "conflict"]

_PERMS = 0o777  # setuid, setgid and sticky bits never reach the host


class Destination(NamedTuple):
    """Where an artifact goes: its write path and the components below it."""

    write_path: WritePath
    parts: tuple[str, ...]

    @property
    def rel(self) -> str:
        return "/".join(self.parts)


def _changed(artifact: Artifact, why: str) -> ArtifactError:
    msg = f"{artifact.id} ({artifact.path}) {why} since the scan; scan again"
    return ArtifactError(msg, code="E-ARTIFACT-CHANGED")


def _conflict(artifact: Artifact, why: str) -> ArtifactError:
    msg = f"{artifact.id}: the host's {artifact.path} {why}"
    return ArtifactError(msg, code="E-ARTIFACT-CONFLICT")


def check_source(artifact: Artifact, source: tuple[int, str] | None) -> None:
    """Check that quarantine still holds what the scan saw at ``source``.

    ``source`` is the entry's folder and name, ``None`` when that folder is gone.

    Raises:
        ArtifactError: it changed (``E-ARTIFACT-CHANGED``).
    """
    if source is None:
        if artifact.change != "deleted":
            raise _changed(artifact, "was removed")
        return
    src_dir, name = source
    st = lstat_at(src_dir, name)
    if artifact.change == "deleted":
        if st is not None:
            raise _changed(artifact, "was created again")
        return
    if st is None or kind_of(st.st_mode) != artifact.kind:
        raise _changed(artifact, "was removed or replaced")
    if artifact.kind == "symlink":
        digest = hashlib.sha256(os.fsencode(os.readlink(name, dir_fd=src_dir)))
        if digest.hexdigest() != artifact.sha256:
            raise _changed(artifact, "points elsewhere")
    elif read_file_at(src_dir, name).sha256 != artifact.sha256:
        raise _changed(artifact, "was modified")


@contextmanager
def host_dir(
    artifact: Artifact, dest: Destination, *, create: bool
) -> Iterator[tuple[int, str] | None]:
    """The host folder that holds the destination, and its name there.

    Yields ``None`` when a folder on the way is missing and ``create`` is false.

    Raises:
        ArtifactError: a folder on the way is a symlink or a file, or the write
            path vanished from the host (``E-ARTIFACT-CONFLICT``).
    """
    wp = dest.write_path
    if wp.layout == "file":
        try:
            fd = os.open(wp.host.parent, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        except FileNotFoundError:
            if create:
                raise _conflict(artifact, "folder was removed") from None
            fd = None
        parts: tuple[str, ...] = ()
        name = wp.host.name
    else:
        fd = _open_write_path(artifact, wp, create=create)
        parts, name = dest.parts[:-1], dest.parts[-1]
    if fd is None:
        yield None
        return
    try:
        for part in parts:
            try:
                sub = open_dir_at(fd, part)
            except FileNotFoundError:
                if not create:
                    yield None
                    return
                os.mkdir(part, 0o777, dir_fd=fd)
                sub = open_dir_at(fd, part)
            except OSError as exc:
                why = "has a symlink or a file where a folder should be"
                raise _conflict(artifact, why) from exc
            os.close(fd)
            fd = sub
        yield fd, name
    finally:
        os.close(fd)


def _open_write_path(artifact: Artifact, wp: WritePath, *, create: bool) -> int | None:
    try:
        return open_path(wp.host)
    except FileNotFoundError:
        if create and not wp.existed:
            wp.host.mkdir(parents=True)
            return open_path(wp.host)
        if create:
            raise _conflict(artifact, "folder was removed") from None
        return None
    except OSError as exc:
        raise _conflict(artifact, "folder is no longer a folder") from exc


def _observe(where: tuple[int, str] | None) -> tuple[str, str | None]:
    """What the host has at a destination: its kind and hash, never followed."""
    if where is None:
        return "absent", None
    fd, name = where
    st = lstat_at(fd, name)
    if st is None:
        return "absent", None
    kind = kind_of(st.st_mode)
    if kind == "file":
        return kind, read_file_at(fd, name).sha256
    if kind == "symlink":
        return kind, hashlib.sha256(
            os.fsencode(os.readlink(name, dir_fd=fd))
        ).hexdigest()
    return kind, None


def conflict(artifact: Artifact, dest: Destination) -> None:
    """Check that the host still holds what the run started from.

    Raises:
        ArtifactError: it does not (``E-ARTIFACT-CONFLICT``).
    """
    with host_dir(artifact, dest, create=False) as where:
        _expect(artifact, dest, _observe(where))


def _expect(
    artifact: Artifact, dest: Destination, seen: tuple[str, str | None]
) -> None:
    original = dest.write_path.originals.get(dest.rel)
    wanted = ("absent", None) if original is None else original[:2]
    if seen != wanted:
        if original is None:
            why = "was created"
        elif seen[0] == "absent":
            why = "was removed"
        else:
            why = "was changed"
        raise _conflict(artifact, f"{why} since the run started")


def commit(
    artifact: Artifact,
    dest: Destination,
    source: tuple[int, str] | None,
    record: Callable[[], object],
) -> None:
    """Write ``artifact`` from ``source`` to the host; ``record`` logs it first.

    Raises:
        ArtifactError: the quarantined file changed (``E-ARTIFACT-CHANGED``), or
            the host changed (``E-ARTIFACT-CONFLICT``); nothing was written.
        OSError: the host refused the write; nothing was written.
    """
    check_source(artifact, source)
    with host_dir(artifact, dest, create=artifact.change != "deleted") as where:
        assert where is not None  # noqa: S101 -- create=True, or it raised
        fd, name = where
        if artifact.change == "deleted":
            _expect(artifact, dest, _observe(where))
            record()
            os.unlink(name, dir_fd=fd)
            os.fsync(fd)
            return
        assert source is not None  # noqa: S101 -- check_source refused a gone file
        tmp = f".enclosure-{secrets.token_hex(8)}.tmp"
        try:
            _stage(artifact, source, fd, tmp)
            _expect(artifact, dest, _observe(where))
            record()
            os.replace(tmp, name, src_dir_fd=fd, dst_dir_fd=fd)
        except BaseException:
            with suppress(FileNotFoundError):
                os.unlink(tmp, dir_fd=fd)
            raise
        os.fsync(fd)


def _stage(artifact: Artifact, source: tuple[int, str], fd: int, tmp: str) -> None:
    """Write the new content under ``tmp`` beside the destination, synced."""
    src_dir, src_name = source
    if artifact.kind == "symlink":
        target = os.readlink(src_name, dir_fd=src_dir)
        if hashlib.sha256(os.fsencode(target)).hexdigest() != artifact.sha256:
            raise _changed(artifact, "points elsewhere")
        os.symlink(target, tmp, dir_fd=fd)
        return
    out = os.open(tmp, NEW_FILE, 0o600, dir_fd=fd)
    try:
        src = os.open(src_name, FILE_FLAGS, dir_fd=src_dir)
        try:
            if not stat.S_ISREG(os.fstat(src).st_mode):
                raise _changed(artifact, "was replaced")
            digest, _ = stream(src, [out])
        finally:
            os.close(src)
        if digest != artifact.sha256:
            raise _changed(artifact, "was modified")
        os.fchmod(out, (artifact.mode or 0o644) & _PERMS)
        os.fsync(out)
    finally:
        os.close(out)
