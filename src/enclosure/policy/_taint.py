"""The data-flow guard: values untrusted tools returned, remembered per run.

A tool marked ``untrusted`` (web pages, emails, tickets) hands back text an
attacker may have written. Its string and number leaves are normalised (NFKC,
casefold, every run of punctuation or space made one space) and kept; a
``sensitive`` argument of a later call is tainted when, normalised, it appears in
one of them on word boundaries (an exact match, whatever the punctuation or case)
or when most of its words do (a close match). Short values never match, so a
``1`` or ``yes`` is not evidence of anything.
"""

from __future__ import annotations

import re
import unicodedata
from bisect import bisect_right
from typing import Any, NamedTuple

__all__ = ["Taint", "TaintMatch", "normalise"]

_NON_WORD = re.compile(r"[\W_]+", re.UNICODE)
_MAX_LEAVES = 10_000
"""Leaves kept per value: a huge page still counts, but bounded work per call."""
_MIN_TOKEN = 3


def normalise(text: str) -> str:
    """Casefolded, NFKC, punctuation and spaces collapsed to single spaces.

    >>> normalise("Attacker@Evil.example ")
    'attacker evil example'
    """
    return _NON_WORD.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def _leaves(value: Any, out: list[str]) -> None:
    if len(out) >= _MAX_LEAVES:
        return
    if isinstance(value, str):
        out.append(value)
    elif isinstance(value, bool) or value is None:
        return
    elif isinstance(value, int | float):
        out.append(str(value))
    elif isinstance(value, dict):
        for v in value.values():
            _leaves(v, out)
    elif isinstance(value, list | tuple):
        for v in value:
            _leaves(v, out)


class TaintMatch(NamedTuple):
    """Why an argument is tainted: ``exact`` or ``close``, and by which tool."""

    kind: str
    source: str


class Taint:
    """The untrusted text one run has seen; empty until an untrusted tool returns."""

    __slots__ = ("_haystack", "_sources", "_starts", "_text", "_tokens")

    def __init__(self) -> None:
        self._text: list[str] = []
        """One `` part `` per source, padded so matches keep to word boundaries."""
        self._sources: list[str] = []
        self._tokens: dict[str, str] = {}
        self._haystack: str | None = None
        """Every text joined, built when first searched: one scan per value."""
        self._starts: list[int] = []

    def __bool__(self) -> bool:
        return bool(self._text)

    def __len__(self) -> int:
        return len(self._text)

    def add(self, source: str, value: Any) -> None:
        """Remember every string and number ``source`` returned in ``value``."""
        leaves: list[str] = []
        _leaves(value, leaves)
        parts = [n for n in (normalise(leaf) for leaf in leaves) if n]
        if not parts:
            return
        self._text.append(" " + " \n ".join(parts) + " ")
        self._sources.append(source)
        self._haystack = None
        for part in parts:
            for token in part.split():
                if len(token) >= _MIN_TOKEN:
                    self._tokens.setdefault(token, source)

    def match(
        self, value: Any, *, min_chars: int, min_overlap: float
    ) -> TaintMatch | None:
        """Whether ``value`` (a sensitive argument) carries remembered text."""
        leaves: list[str] = []
        _leaves(value, leaves)
        for leaf in leaves:
            found = self._match_one(normalise(leaf), min_chars, min_overlap)
            if found is not None:
                return found
        return None

    def _match_one(
        self, needle: str, min_chars: int, min_overlap: float
    ) -> TaintMatch | None:
        if len(needle) < min_chars:
            return None
        if self._haystack is None:
            self._starts = []
            at = 0
            for text in self._text:
                self._starts.append(at)
                at += len(text) + 1
            self._haystack = "\n".join(self._text)
        at = self._haystack.find(f" {needle} ")
        if at >= 0:
            return TaintMatch(
                "exact", self._sources[bisect_right(self._starts, at) - 1]
            )
        words = [w for w in needle.split() if len(w) >= _MIN_TOKEN]
        if len(words) < 2:  # noqa: PLR2004 -- one word is an exact match or none
            return None
        hits = [self._tokens[w] for w in words if w in self._tokens]
        if len(hits) / len(words) >= min_overlap:
            return TaintMatch("close", hits[0])
        return None
