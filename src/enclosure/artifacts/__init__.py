"""Artifacts: what a run wrote, held in quarantine until someone promotes it.

The manifest's ``filesystem.write`` paths are never the host's: a run writes
into a per-run quarantine, which is scanned when the run ends (size, type,
executable bits, symlinks, special files, odd names, secrets) and diffed against
the originals. Only ``Quarantine.promote``, given an explicit approval, writes to
the host, atomically and logged.

Room: an edge. It may touch files and use the sandbox's ``Mount`` and the
decision log; it must not know runs, the facade or the CLI (they call in).
"""

from enclosure.artifacts._diff import Side, render_diff
from enclosure.artifacts._model import (
    Artifact,
    ArtifactState,
    Change,
    Original,
    ScanLimits,
    printable,
)
from enclosure.artifacts._quarantine import Quarantine
from enclosure.artifacts._scanners import UNSAFE
from enclosure.artifacts._secrets import find_secrets
from enclosure.artifacts._token import TOKEN_FILE, PromotionApproval, PromotionTokens

__all__ = [
    "TOKEN_FILE",
    "UNSAFE",
    "Artifact",
    "ArtifactState",
    "Change",
    "Original",
    "PromotionApproval",
    "PromotionTokens",
    "Quarantine",
    "ScanLimits",
    "Side",
    "find_secrets",
    "printable",
    "render_diff",
]
