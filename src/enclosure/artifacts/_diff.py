"""Unified diffs of an artifact against its original, bounded and safe to print.

Contents were written by untrusted code, so every line is escaped (no terminal
control sequences get through) and the output is cut at a fixed size. Binaries
and symlinks are described, never dumped.
"""

from __future__ import annotations

import difflib
from typing import NamedTuple

from enclosure.artifacts._model import printable
from enclosure.artifacts._scanners import is_binary

__all__ = ["Side", "render_diff"]


class Side(NamedTuple):
    """One side of a diff: what kind of entry, its hash, and its first bytes."""

    kind: str
    """``file``, ``symlink``, ``special``, ``absent`` or ``unreadable``."""
    sha256: str | None = None
    data: bytes = b""
    """A file's first bytes, or a symlink's target."""
    complete: bool = True
    """False when ``data`` is only the start of the file."""


def render_diff(label: str, old: Side, new: Side, *, max_lines: int) -> str:
    """``diff -u`` of ``old`` and ``new``, cut after ``max_lines`` lines.

    Args:
        label: the path to show (escaped here).
        old: the original (``absent`` when the file was added).
        new: the quarantined version (``absent`` when deleted).
        max_lines: output lines kept before a ``... diff cut`` marker.
    """
    name = printable(label)
    header = [f"--- a/{name.lstrip('/')}", f"+++ b/{name.lstrip('/')}"]
    if old.kind == "absent":
        header[0] = "--- /dev/null"
    if new.kind == "absent":
        header[1] = "+++ /dev/null"
    if not (_textual(old) and _textual(new)):
        if {old.kind, new.kind} <= {"file", "absent"}:
            line = f"binary files differ: a sha256:{old.sha256} b sha256:{new.sha256}"
        else:
            line = f"{_describe(old)} -> {_describe(new)}"
        return "\n".join([*header, line]) + "\n"
    old_lines = _lines(old)
    new_lines = _lines(new)
    body = list(difflib.unified_diff(old_lines, new_lines, lineterm="", n=3))[2:]
    for side, tag in ((old, "a"), (new, "b")):
        if not side.complete:
            body.append(f"... only the start of {tag} is shown ({side.sha256})")
    lines = [*header, *body]
    if len(lines) > max_lines:
        cut = len(lines) - max_lines
        lines = [*lines[:max_lines], f"... diff cut: {cut} more lines"]
    return "\n".join(lines) + "\n"


def _textual(side: Side) -> bool:
    if side.kind == "absent":
        return True
    return side.kind == "file" and not is_binary(side.data, complete=side.complete)


def _lines(side: Side) -> list[str]:
    text = side.data.decode("utf-8", errors="replace")
    return [printable(line) for line in text.splitlines()]


def _describe(side: Side) -> str:
    if side.kind == "absent":
        return "nothing"
    if side.kind == "symlink":
        target = printable(side.data.decode("utf-8", errors="surrogateescape"))
        return f"symlink to {target}"
    if side.kind == "file":
        return f"file sha256:{side.sha256}"
    if side.kind == "special":
        return "special file"
    return "unreadable (a folder on its path was replaced)"
