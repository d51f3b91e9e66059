"""File-descriptor-relative file operations that never follow a symlink.

The quarantine holds whatever untrusted code wrote, so every path under it is
opened one component at a time from a directory descriptor with ``O_NOFOLLOW``:
a symlink, wherever it sits, is an entry to report and never a way out. Regular
files are opened non-blocking and re-checked with ``fstat`` after opening, so a
FIFO or device swapped in after ``lstat`` neither blocks nor gets read.
"""

from __future__ import annotations

import hashlib
import os
import stat
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Literal, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "CHUNK",
    "DIR_FLAGS",
    "FILE_FLAGS",
    "EntryKind",
    "FileRead",
    "Stat",
    "TooMany",
    "kind_of",
    "lstat_at",
    "open_chain",
    "open_dir",
    "open_dir_at",
    "open_path",
    "read_file_at",
    "remove_tree",
    "walk",
]

DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
FILE_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
CHUNK = 1 << 20
_PATH_FLAGS = os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_OWNER_RWX = stat.S_IRWXU

EntryKind = Literal["file", "symlink", "special"]
"""A non-directory entry: a regular file, a symlink, or a FIFO, socket or device."""


class Stat(NamedTuple):
    """What ``lstat`` said about one non-directory entry."""

    kind: EntryKind
    mode: int
    size: int
    nlink: int


class FileRead(NamedTuple):
    """A regular file read through a descriptor: its hash and its first bytes."""

    sha256: str
    size: int
    head: bytes
    """At most the ``keep`` bytes asked for."""
    nlink: int
    mode: int


class TooMany(Exception):
    """A tree has more entries, or more depth, than the caller allows."""


def kind_of(mode: int) -> EntryKind | Literal["dir"]:
    """The kind of an ``st_mode``."""
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "file"
    if stat.S_ISLNK(mode):
        return "symlink"
    return "special"


def open_path(path: Path) -> int:
    """Open a directory whose last component must not be a symlink.

    Raises:
        OSError: it is missing, a symlink (``ELOOP``) or not a directory.
    """
    return os.open(path, DIR_FLAGS)


def open_dir_at(dir_fd: int, name: str) -> int:
    """Open the subdirectory ``name`` of ``dir_fd`` without following a symlink."""
    return os.open(name, DIR_FLAGS, dir_fd=dir_fd)


def open_chain(dir_fd: int, parts: Sequence[str]) -> int:
    """Open the folder ``parts`` below ``dir_fd``, one ``O_NOFOLLOW`` step at a time.

    The caller closes the descriptor.

    Raises:
        OSError: a component is missing, a symlink, or not a directory.
    """
    fd = os.dup(dir_fd)
    try:
        for part in parts:
            sub = open_dir_at(fd, part)
            os.close(fd)
            fd = sub
    except BaseException:
        os.close(fd)
        raise
    return fd


@contextmanager
def open_dir(dir_fd: int, parts: Sequence[str]) -> Iterator[int]:
    """``open_chain`` as a context manager that closes the descriptor."""
    fd = open_chain(dir_fd, parts)
    try:
        yield fd
    finally:
        os.close(fd)


def lstat_at(dir_fd: int, name: str) -> os.stat_result | None:
    """``lstat`` relative to ``dir_fd``; ``None`` when nothing is there."""
    try:
        return os.stat(name, dir_fd=dir_fd, follow_symlinks=False)
    except FileNotFoundError:
        return None


def read_file_at(dir_fd: int, name: str, *, keep: int = 0) -> FileRead:
    """Hash a regular file, keeping its first ``keep`` bytes.

    Raises:
        OSError: it is not a regular file (``EINVAL``), a symlink (``ELOOP``), or
            cannot be read.
    """
    fd = os.open(name, FILE_FLAGS, dir_fd=dir_fd)
    try:
        st = os.fstat(fd)
        if not stat.S_ISREG(st.st_mode):
            raise OSError(22, "not a regular file", name)
        digest, size, head = hashlib.sha256(), 0, bytearray()
        while chunk := os.read(fd, CHUNK):
            digest.update(chunk)
            size += len(chunk)
            if len(head) < keep:
                head += chunk[: keep - len(head)]
        return FileRead(digest.hexdigest(), size, bytes(head), st.st_nlink, st.st_mode)
    finally:
        os.close(fd)


def walk(
    dir_fd: int, *, max_entries: int, max_depth: int
) -> dict[tuple[str, ...], Stat]:
    """Every non-directory entry under ``dir_fd``, by path components.

    Directories are entered only through ``O_NOFOLLOW`` descriptors; symlinks and
    special files are listed, never opened.

    Raises:
        TooMany: more than ``max_entries`` entries, or deeper than ``max_depth``.
        OSError: a directory cannot be read.
    """
    found: dict[tuple[str, ...], Stat] = {}
    count = 0

    def visit(fd: int, prefix: tuple[str, ...]) -> None:
        nonlocal count
        if len(prefix) > max_depth:
            msg = f"deeper than {max_depth} folders"
            raise TooMany(msg)
        for name in sorted(os.listdir(fd)):
            count += 1
            if count > max_entries:
                msg = f"more than {max_entries} entries"
                raise TooMany(msg)
            st = lstat_at(fd, name)
            if st is None:
                continue
            kind = kind_of(st.st_mode)
            if kind == "dir":
                sub = open_dir_at(fd, name)
                try:
                    visit(sub, (*prefix, name))
                finally:
                    os.close(sub)
            else:
                found[(*prefix, name)] = Stat(kind, st.st_mode, st.st_size, st.st_nlink)

    visit(dir_fd, ())
    return found


def remove_tree(path: Path) -> None:
    """Delete ``path`` and everything under it, following no symlink.

    Uses one directory descriptor at a time, climbing back through ``..``, so
    however deep the tree is, neither recursion nor open files run out.

    Raises:
        OSError: something could not be removed.
    """
    try:
        st = os.lstat(path)
    except FileNotFoundError:
        return
    if not stat.S_ISDIR(st.st_mode):
        path.unlink()
        return
    if st.st_mode & _OWNER_RWX != _OWNER_RWX:
        path.chmod(stat.S_IMODE(st.st_mode) | _OWNER_RWX)
    fd = open_path(path)
    names: list[str] = []
    try:
        while True:
            sub = _clear_files(fd)
            if sub is not None:
                child = open_dir_at(fd, sub)
                os.close(fd)
                fd, names = child, [*names, sub]
                continue
            if not names:
                break
            parent = os.open("..", DIR_FLAGS, dir_fd=fd)
            os.close(fd)
            fd = parent
            os.rmdir(names.pop(), dir_fd=fd)
    finally:
        os.close(fd)
    path.rmdir()


def _clear_files(fd: int) -> str | None:
    """Unlink every non-directory entry; return one subdirectory, if any is left."""
    for name in os.listdir(fd):
        st = lstat_at(fd, name)
        if st is None:
            continue
        if stat.S_ISDIR(st.st_mode):
            if st.st_mode & _OWNER_RWX != _OWNER_RWX:
                _unlock(fd, name, stat.S_IMODE(st.st_mode) | _OWNER_RWX)
            return name
        os.unlink(name, dir_fd=fd)
    return None


def _unlock(dir_fd: int, name: str, mode: int) -> None:
    """``chmod`` a directory that untrusted code locked, without following a link.

    ``chmod`` cannot refuse symlinks on Linux, so it goes through an ``O_PATH``
    descriptor opened with ``O_NOFOLLOW`` (no read permission needed for that).
    """
    fd = os.open(name, _PATH_FLAGS, dir_fd=dir_fd)
    try:
        Path(f"/proc/self/fd/{fd}").chmod(mode)
    finally:
        os.close(fd)
