"""Canonical JSON and digests: the one byte form every hash in Enclosure is taken over.

Canonical here means: keys sorted, no insignificant white space, UTF-8, no NaN or
infinity. Two equal JSON values always give the same bytes, so a hash of the bytes
names the value. This module must not know about manifests, policy or storage.

The bytes are those of the standard library's ``json.dumps(value, sort_keys=True,
separators=(",", ":"), ensure_ascii=False, allow_nan=False)`` encoded as UTF-8, and
always have been: every stored hash, args digest and approval binding was taken
over them. ``orjson`` writes the same bytes for plain JSON values about ten times
faster, so it goes first, and the standard library takes every value where the
two could differ (see ``canonical_json``). No byte changed when it came in: logs,
argument digests and approval bindings made before verify and match as they did;
``tests/test_json.py`` holds every float spelling, every character and key order
to the standard library's bytes.

One known exception, for values no call path makes (a review's find): orjson
writes an ``Enum`` member as its ``.value`` whatever its type, and the check that
sends other values to the standard library compares with ``==``. So a member of
an ``int``/``float``/``str`` mixin enum whose ``.value`` is spelled unlike its
content (a custom ``__new__`` making ``2`` with the value ``2.0``), or an enum
whose ``__eq__`` says yes to anything, is written by orjson where the standard
library writes the content or refuses. Arguments reach digests from JSON, from
framework models dumped to JSON, or from callers of the Python API, who would
have to build such a member.
"""

from __future__ import annotations

import hashlib
import json
import re
from typing import Any, NoReturn

import orjson

__all__ = ["canonical_json", "sha256_hex", "sha256_json"]

_FAST = (
    orjson.OPT_SORT_KEYS
    | orjson.OPT_PASSTHROUGH_SUBCLASS
    | orjson.OPT_PASSTHROUGH_DATACLASS
    | orjson.OPT_PASSTHROUGH_DATETIME
)
"""Sorted keys; subclasses, dataclasses and dates go to ``_not_plain`` (refused)."""

_EXPONENT = re.compile(rb"e[-+][0-9](?<=[0-9]e[-+][0-9])")
"""A float in exponent form: orjson writes ``1e-5`` where ``repr`` writes ``1e-05``.
(Each pattern starts with a literal and looks behind last: the engine then skips
to candidates in C, ~1 ns a byte.)"""

_SMALL = re.compile(rb"0\.0000(?<![0-9.]0\.0000)")
"""A float below 0.0001 in fixed form: orjson writes ``0.00001`` where ``repr``
writes ``1e-05``. A timestamp's ``:00.0000`` does not match."""


def canonical_json(value: Any) -> bytes:
    """Return the canonical UTF-8 JSON encoding of ``value``.

    orjson encodes it first; its bytes are returned only when they must be the
    standard library's: orjson encoded it at all (exact ``dict``, ``list``,
    ``str``, 64-bit ``int``, ``float``, ``bool``, ``None``, string keys,
    no lone surrogates, nesting under 255), decoding them gives back a value
    equal to ``value`` (so no NaN or infinity, which orjson writes as ``null``,
    no tuple, enum or UUID), and no float in them is spelled in exponent form or
    below ``0.0001`` (the only spellings where the two differ). Anything else is
    encoded by the standard library as before, with its errors.

    Raises:
        ValueError: ``value`` holds NaN or infinity, a lone surrogate, or a
            circular reference.
        TypeError: ``value`` holds a type JSON cannot represent.
    """
    try:
        out = orjson.dumps(value, default=_not_plain, option=_FAST)
    except orjson.JSONEncodeError:
        return _stdlib(value)
    if (
        _EXPONENT.search(out) is not None
        or _SMALL.search(out) is not None
        or orjson.loads(out) != value
    ):
        return _stdlib(value)
    return out


def _not_plain(value: object) -> NoReturn:
    """Orjson's ``default``: a value it does not encode natively is not for it."""
    raise TypeError(type(value).__name__)


def _stdlib(value: Any) -> bytes:
    """The reference encoding: what ``canonical_json`` returns, whichever encodes."""
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
