"""Secrets in an artifact's bytes, found by detect-secrets (offline, no git).

detect-secrets scans files by name and keeps its settings in a process-wide
singleton. So the bytes (already read from the quarantine through a descriptor)
are written to a private temporary file with a neutral name, which no hostile
path or extension can steer past its filters, and scans are serialised.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path, PurePath

from detect_secrets.core.scan import scan_file
from detect_secrets.settings import default_settings

__all__ = ["find_secrets"]

# Extensions whose parsers (YAML, INI) find more; any other name is scanned as
# plain text, so naming a text file ".png" cannot make detect-secrets skip it.
_PARSED_SUFFIXES = frozenset({".yaml", ".yml", ".ini", ".cfg"})

_SCAN_LOCK = threading.Lock()  # detect-secrets' settings are a global singleton


def find_secrets(data: bytes, name: str = "") -> list[str]:
    """The kinds of secret in ``data`` (``AWS Access Key``, ``Private Key``...).

    Args:
        data: the file's content.
        name: its file name, used only to pick a YAML or INI parser.

    Returns:
        Secret types, sorted, each once.
    """
    suffix = PurePath(name).suffix.lower() if name else ""
    filename = "artifact" + (suffix if suffix in _PARSED_SUFFIXES else "")
    with tempfile.TemporaryDirectory(prefix="enclosure-secrets-") as tmp:
        path = Path(tmp) / filename
        path.write_bytes(data)
        with _SCAN_LOCK, default_settings():
            return sorted({secret.type for secret in scan_file(str(path))})
