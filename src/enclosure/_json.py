"""Canonical JSON and digests: the one byte form every hash in Enclosure is taken over.

Canonical here means: keys sorted, no insignificant white space, UTF-8, no NaN or
infinity. Two equal JSON values always give the same bytes, so a hash of the bytes
names the value. This module must not know about manifests, policy or storage.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["canonical_json", "sha256_hex", "sha256_json"]


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``value``.

    Raises:
        ValueError: ``value`` holds NaN or infinity, or is not JSON.
        TypeError: ``value`` holds a type JSON cannot represent.
    """
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    """Return the hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_json(value: Any) -> str:
    """Return the hex SHA-256 of the canonical JSON of ``value``."""
    return hashlib.sha256(canonical_json(value)).hexdigest()
