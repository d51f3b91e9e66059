"""Where the decision log lives when no one says: a leaf, for light entry points."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["default_home"]


def default_home() -> Path:
    """``$ENCLOSURE_HOME``, or ``./.enclosure``: where the decision log lives."""
    return Path(os.environ.get("ENCLOSURE_HOME") or ".enclosure")
