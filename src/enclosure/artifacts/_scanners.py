"""Scanners: turn what a quarantined entry is and holds into finding codes.

Each scanner is a small pure function over names, modes and bytes already read;
none opens a file. A finding blocks promotion until someone accepts it, except
the ``UNSAFE`` ones, which no acceptance can promote.
"""

from __future__ import annotations

import codecs
import stat
import unicodedata
from typing import TYPE_CHECKING

from enclosure.artifacts._secrets import find_secrets

if TYPE_CHECKING:
    from collections.abc import Sequence

    from enclosure.artifacts._model import ScanLimits

__all__ = [
    "SNIFF",
    "UNSAFE",
    "content_findings",
    "is_binary",
    "link_findings",
    "mode_findings",
    "name_findings",
]

SNIFF = 8192
"""Bytes looked at to tell text from binary when the whole file is not read."""

UNSAFE = frozenset({"special-file", "path-traversal"})
"""Findings that forbid promotion outright."""


def name_findings(parts: Sequence[str]) -> list[str]:
    """Findings about a path's components.

    ``bad-name`` for bytes that are not UTF-8 or for control characters;
    ``path-traversal`` for components that could climb out (``..``, ``/``).
    """
    found = []
    if any(part in {"", ".", ".."} or "/" in part or "\0" in part for part in parts):
        found.append("path-traversal")
    if any(_bad_name(part) for part in parts):
        found.append("bad-name")
    return found


def _bad_name(part: str) -> bool:
    try:
        part.encode("utf-8")
    except UnicodeEncodeError:  # surrogates: bytes os.listdir could not decode
        return True
    return any(unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"} for ch in part)


def mode_findings(mode: int) -> list[str]:
    """``executable`` for any execute bit; ``setuid`` for setuid or setgid."""
    found = []
    if mode & (stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH):
        found.append("executable")
    if mode & (stat.S_ISUID | stat.S_ISGID):
        found.append("setuid")
    return found


def link_findings(target: str, depth: int | None) -> list[str]:
    """A symlink is always a finding; pointing out of the write path is another.

    ``path-traversal`` is added for an absolute target or one that climbs out.

    Args:
        target: the link's target, never resolved.
        depth: how many folders below the write path the link sits (0 directly
            in it), or ``None`` when the write path is itself a single file.
    """
    found = ["symlink"]
    if depth is None or target.startswith("/") or _climbs_out(target, depth):
        found.append("path-traversal")
    return found


def _climbs_out(target: str, depth: int) -> bool:
    level = depth
    for part in target.split("/"):
        if part == "..":
            level -= 1
            if level < 0:
                return True
        elif part not in {"", "."}:
            level += 1
    return False


def is_binary(head: bytes, *, complete: bool) -> bool:
    """Whether bytes look binary: a NUL, or not UTF-8.

    A sequence cut at the end of an incomplete sample is allowed.
    """
    if b"\0" in head[:SNIFF]:
        return True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        decoder.decode(head, final=complete)
    except UnicodeDecodeError:
        return True
    return False


def content_findings(
    head: bytes, size: int, name: str, limits: ScanLimits
) -> list[str]:
    """Size, type and secrets of a regular file.

    Args:
        head: the file's first bytes, at least ``limits.secret_scan`` + 1 of them
            when it has that many.
        size: its full size.
        name: its file name (picks a parser for the secret scan).
        limits: the size caps.
    """
    found = []
    if size > limits.max_size:
        found.append("too-large")
    complete = len(head) >= size
    if is_binary(head if complete else head[:SNIFF], complete=complete):
        found.append("binary")
    elif size > limits.secret_scan:
        found.append("unscanned")
    else:
        found.extend(f"secret:{kind}" for kind in find_secrets(head, name))
    return found
