"""Value types of the data layer: an artifact, the original it replaces, the limits."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, NamedTuple

from pydantic import BaseModel, ConfigDict

__all__ = [
    "Artifact",
    "ArtifactState",
    "Change",
    "Original",
    "ScanLimits",
    "printable",
]

Change = Literal["added", "modified", "deleted"]
ArtifactState = Literal["pending", "promoted", "rejected"]

MiB = 1 << 20
_LATIN1 = 0xFF


@dataclass(frozen=True, slots=True)
class ScanLimits:
    """Bounds on work done over hostile quarantine contents."""

    max_size: int = 16 * MiB
    """Larger files get the ``too-large`` finding."""
    secret_scan: int = 1 * MiB
    """Larger text files are not searched for secrets: ``unscanned``."""
    max_entries: int = 10_000
    """More entries than this under one write path and the scan refuses."""
    max_depth: int = 64
    """Deeper folders than this and the scan refuses."""
    max_total: int = 4096 * MiB
    """More bytes than this in one write path (sparse files count in full, as
    they are read in full to be hashed) and the scan refuses."""
    diff_bytes: int = 1 * MiB
    """Each side of a diff reads at most this much."""
    diff_lines: int = 2_000
    """A diff is cut after this many lines."""


class Original(NamedTuple):
    """One non-directory entry of a write path as the run found it on the host."""

    kind: Literal["file", "symlink"]
    sha256: str
    """Of the content, or of the link target's bytes."""
    mode: int
    """Permission bits (no file type)."""
    size: int


class Artifact(BaseModel):
    """One file a run added, changed or deleted under a ``filesystem.write`` path."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    id: str
    """Stable: ``art_`` and a hash of the run, the write path and the file's path."""
    run_id: str
    path: Path
    """Host path a promotion writes (or deletes), safe to print and log: control
    characters and bytes that are not UTF-8 are escaped (``printable``), and such
    a name has the ``bad-name`` finding. Promotion uses the exact name."""
    change: Change
    kind: Literal["file", "symlink", "special"]
    """What the quarantine holds there; for a deletion, what the host had."""
    sha256: str | None = None
    """Content hash (a symlink: of its target) at scan time; None for a deletion
    or a special file."""
    base_sha256: str | None = None
    """Hash of the original on the host when the run started; None when added."""
    size: int = 0
    mode: int | None = None
    """Permission bits in quarantine, setuid and friends included."""
    link_target: str | None = None
    findings: tuple[str, ...] = ()
    """Scanner findings by code, e.g. ``secret:AWS Access Key``, ``executable``."""
    state: ArtifactState = "pending"
    decided_by: str | None = None
    reason: str | None = None


def printable(text: str) -> str:
    r"""Escape what a terminal would interpret or cannot show.

    >>> printable("a\nb\x1b[31m")
    'a\\nb\\x1b[31m'
    """
    try:
        raw = text.encode(
            "utf-8", "surrogateescape"
        )  # bytes os.listdir could not decode
    except UnicodeEncodeError:
        raw = text.encode("utf-8", "backslashreplace")
    decoded = raw.decode("utf-8", errors="backslashreplace")
    out = []
    for ch in decoded:
        if ch == "\n":
            out.append("\\n")
        elif ch != "\t" and unicodedata.category(ch) in {"Cc", "Cf", "Zl", "Zp"}:
            out.append(
                f"\\x{ord(ch):02x}" if ord(ch) <= _LATIN1 else f"\\u{ord(ch):04x}"
            )
        else:
            out.append(ch)
    return "".join(out)
