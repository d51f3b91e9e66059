"""Copy a host write path into quarantine: a pristine base and a working copy.

Both copies come from one read of the host, so they start identical, and the
hashes taken while copying become the record of the originals. Symlinks are
copied as symlinks (never followed), special files are left out, and modes lose
setuid, setgid and sticky bits.
"""

from __future__ import annotations

import hashlib
import os
import stat
from typing import TYPE_CHECKING, Literal

from enclosure.artifacts._fs import CHUNK, DIR_FLAGS, FILE_FLAGS, kind_of, open_path
from enclosure.artifacts._model import Original
from enclosure.errors import ArtifactError

if TYPE_CHECKING:
    from collections.abc import Sequence
    from pathlib import Path

__all__ = ["NEW_FILE", "copy_in", "stream", "write_all"]

NEW_FILE = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
PERMS = 0o777


def write_all(fd: int, data: bytes) -> None:
    """``os.write`` until every byte is written."""
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def stream(src: int, dsts: Sequence[int]) -> tuple[str, int]:
    """Copy ``src`` to every descriptor in ``dsts``; return the SHA-256 and size."""
    digest, size = hashlib.sha256(), 0
    while chunk := os.read(src, CHUNK):
        digest.update(chunk)
        size += len(chunk)
        for dst in dsts:
            write_all(dst, chunk)
    return digest.hexdigest(), size


def copy_in(
    host: Path, dests: Sequence[Path]
) -> tuple[Literal["file", "dir"], dict[str, Original]]:
    """Copy ``host`` to each of ``dests`` (which must not exist yet).

    A missing ``host`` becomes an empty folder.

    Returns:
        ``file`` or ``dir``, and the originals by ``/``-joined relative path
        (``""`` for a single file).

    Raises:
        ArtifactError: ``host`` is a symlink or a special file
            (``E-ARTIFACT-UNSAFE``).
        OSError: reading the host or writing the copies failed.
    """
    try:
        st = os.lstat(host)
    except FileNotFoundError:
        for dest in dests:
            dest.mkdir(mode=0o700)
        return "dir", {}
    kind = kind_of(st.st_mode)
    if kind == "file":
        parent = os.open(host.parent, DIR_FLAGS & ~os.O_NOFOLLOW)
        try:
            outs = [os.open(d, NEW_FILE, 0o600) for d in dests]
            return "file", {"": _copy_file(parent, host.name, outs)}
        finally:
            os.close(parent)
    if kind != "dir":
        msg = f"filesystem.write path {host} is a {kind}, not a file or folder"
        raise ArtifactError(msg, code="E-ARTIFACT-UNSAFE")
    originals: dict[str, Original] = {}
    src = open_path(host)
    outs = []
    try:
        for dest in dests:
            dest.mkdir(mode=0o700)
            outs.append(open_path(dest))
        _copy_dir(src, outs, "", originals)
        for out in outs:
            os.fchmod(out, (st.st_mode & PERMS) | stat.S_IRWXU)
    finally:
        for fd in (src, *outs):
            os.close(fd)
    return "dir", originals


def _copy_dir(
    src: int, dsts: list[int], prefix: str, into: dict[str, Original]
) -> None:
    for name in sorted(os.listdir(src)):
        st = os.stat(name, dir_fd=src, follow_symlinks=False)
        rel = f"{prefix}{name}"
        kind = kind_of(st.st_mode)
        if kind == "dir":
            sub = os.open(name, DIR_FLAGS, dir_fd=src)
            subs: list[int] = []
            try:
                for dst in dsts:
                    os.mkdir(name, 0o700, dir_fd=dst)
                    subs.append(os.open(name, DIR_FLAGS, dir_fd=dst))
                _copy_dir(sub, subs, f"{rel}/", into)
                for fd in subs:
                    os.fchmod(fd, (st.st_mode & PERMS) | stat.S_IRWXU)
            finally:
                for fd in (sub, *subs):
                    os.close(fd)
        elif kind == "symlink":
            target = os.readlink(name, dir_fd=src)
            for dst in dsts:
                os.symlink(target, name, dir_fd=dst)
            digest = hashlib.sha256(os.fsencode(target)).hexdigest()
            into[rel] = Original("symlink", digest, 0o777, len(os.fsencode(target)))
        elif kind == "file":
            outs = [os.open(name, NEW_FILE, 0o600, dir_fd=dst) for dst in dsts]
            into[rel] = _copy_file(src, name, outs)
        # special files (FIFOs, sockets, devices) are not copied


def _copy_file(src_dir: int, name: str, outs: list[int]) -> Original:
    """Copy one regular file to the open ``outs``, then close them."""
    try:
        src = os.open(name, FILE_FLAGS, dir_fd=src_dir)
        try:
            mode = os.fstat(src).st_mode
            if not stat.S_ISREG(mode):
                raise OSError(22, "not a regular file", name)
            digest, size = stream(src, outs)
        finally:
            os.close(src)
        for out in outs:
            os.fchmod(out, mode & PERMS)
    finally:
        for out in outs:
            os.close(out)
    return Original("file", digest, mode & PERMS, size)
