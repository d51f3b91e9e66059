"""Redaction: take secrets out of a value before it reaches the decision log.

The log is kept forever and read by people who must not learn credentials, so every
event passes through here on the hot path. Three nets catch a secret: values the
caller names as secret (the credential broker knows what it handed out), values under
key names that hold secrets (``password``, ``github_token``), and text that looks like
a well-known credential format (AWS keys, GitHub and Slack tokens, JWTs, PEM keys).

All formats and known secrets are joined into one compiled regular expression, so a
string is scanned once. Walking a whole event is still the slowest step of an append,
so ``Redactor.may_change`` first reads the event's canonical JSON text in two regex
passes and says whether redaction could change anything at all; the decision log
walks the event only when it says yes, which is rare.

This module is pure: it touches no file, clock or logger.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING, Any, NamedTuple

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.types import JSONValue

__all__ = ["REDACTED", "Redactor"]

REDACTED = "[REDACTED]"
"""What replaces a known secret, or the whole value under a sensitive key."""

_MIN_SECRET_LEN = 6
"""Shorter known secrets are ignored: redacting ``"abc"`` would shred ordinary text."""

_SENSITIVE_KEYS = (
    "password",
    "passwd",
    "secret",
    "secret_key",
    "token",
    "api_key",
    "apikey",
    "access_key",
    "private_key",
    "authorization",
    "cookie",
    "set_cookie",
    "client_secret",
)
"""Key names (lower case, ``-`` read as ``_``) whose value is dropped wholesale; a key
that ends with one of them (``github_token``, ``x-api-key``) counts too."""

_KEY_CACHE_LIMIT = 4096
_KNOWN_SUBSTRING_TESTS = 4


class _Format(NamedTuple):
    kind: str
    """Shown as ``[REDACTED:<kind>]``."""
    prefixes: tuple[str, ...]
    """Literal starts of a match; they tell the kind of a match apart."""
    pattern: str
    bounded: bool = True
    """The match must start at a word boundary (checked in ``_Scanner.replace``)."""


# Every alternative starts with a plain literal character, never with ``\b``, a group
# or a class: then the regex engine looks for candidate first characters in C, which
# makes a search over ordinary text about fifteen times faster. The leading word
# boundary is therefore checked in ``_Scanner.replace``. Order matters: ``sk-ant-``
# before ``sk-``.
_FORMATS = (
    _Format(
        "private_key",
        ("-----",),
        r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY-----[\s\S]*?"
        r"(?:-----END (?:[A-Z0-9]+ )*PRIVATE KEY-----|\Z)",
        bounded=False,
    ),
    _Format("url_password", ("://",), r"://[^\s:/@]*:[^\s/@]+@", bounded=False),
    _Format("bearer", ("Bearer",), r"Bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    _Format("bearer", ("bearer",), r"bearer\s+[A-Za-z0-9._~+/=-]{8,}"),
    _Format("aws_access_key", ("AKIA",), r"AKIA[0-9A-Z]{16}\b"),
    _Format("aws_access_key", ("ASIA",), r"ASIA[0-9A-Z]{16}\b"),
    _Format("github_token", ("gh",), r"gh[pousr]_[A-Za-z0-9]{20,}"),
    _Format("github_token", ("github_pat_",), r"github_pat_[A-Za-z0-9_]{20,}"),
    _Format("slack_token", ("xox",), r"xox[abprs]-[A-Za-z0-9-]{10,}"),
    _Format("anthropic_key", ("sk-ant-",), r"sk-ant-[A-Za-z0-9_-]{20,}"),
    _Format("openai_key", ("sk-",), r"sk-(?:proj-)?[A-Za-z0-9_-]{20,}"),
    _Format("stripe_key", ("sk_",), r"sk_(?:live|test)_[A-Za-z0-9]{10,}"),
    _Format("stripe_key", ("rk_",), r"rk_(?:live|test)_[A-Za-z0-9]{10,}"),
    _Format("google_api_key", ("AIza",), r"AIza[0-9A-Za-z_-]{35}"),
    _Format("jwt", ("eyJ",), r"eyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*"),
)

# The JSON probe: each format again, as it reads in canonical JSON text, where only
# quotes, backslashes and control characters are escaped, so no format changes but
# for the whitespace after "Bearer", which is left to a test for "bearer". Each line
# may match more than its format (a shorter tail), never less, and starts at a
# character that is rare in events (a look-behind checks the letters before it),
# which keeps one search over a whole event at a few microseconds.
_PROBE_FORMATS = r"""
B(?<=-----B)EGIN[ ](?:[A-Z0-9]+[ ])*PRIVATE[ ]KEY-----
|://[^\s:/@]*:[^\s/@]+@
|A(?:KIA[0-9A-Z]{16}\b|SIA[0-9A-Z]{16}\b|Iza[0-9A-Za-z_-]{35})
|_(?:(?<=gh[pousr]_)[A-Za-z0-9]{20,}|(?<=github_)pat_[A-Za-z0-9_]{20,}
    |(?<=[rs]k_)(?:live|test)_[A-Za-z0-9]{10,})
|-(?:(?<=xox[abprs]-)[A-Za-z0-9-]{10,}|(?<=sk-)[A-Za-z0-9_-]{20,})
|J(?<=eyJ)[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*
"""

_PROBE = re.compile(_PROBE_FORMATS, re.ASCII | re.VERBOSE)

# The key pass reads the text lower-cased (``str.lower`` is what ``_sensitive``
# applies to keys) and reversed, so that a sensitive key, which ends in ``<name>":``,
# starts with the literal ``:"`` that the engine finds fast.
_PROBE_KEYS = re.compile(
    ':"(?:'
    + "|".join(re.escape(n[::-1]).replace("_", "[-_]") for n in _SENSITIVE_KEYS)
    + ")"
)


def _compile(secrets: Iterable[str]) -> re.Pattern[str]:
    # Known secrets come first and longest first, so a secret that contains another
    # (or looks like a known format) is replaced whole as "[REDACTED]".
    known = [re.escape(s) for s in sorted(secrets, key=len, reverse=True)]
    return re.compile("|".join(known + [f.pattern for f in _FORMATS]), re.ASCII)


class _KnownProbe(NamedTuple):
    """Finds known secrets in JSON text, as they are and as JSON escapes them.

    It is kept apart from the format probe so that search keeps its rare first
    characters. A few secrets are found fastest by plain substring tests; many, by
    one alternation.
    """

    forms: tuple[str, ...]
    pattern: re.Pattern[str] | None

    @classmethod
    def build(cls, secrets: Iterable[str]) -> _KnownProbe:
        forms = set()
        for secret in secrets:
            forms.add(secret)
            forms.add(json.dumps(secret, ensure_ascii=False)[1:-1])
        if len(forms) <= _KNOWN_SUBSTRING_TESTS:
            return cls(tuple(forms), None)
        longest_first = sorted(forms, key=len, reverse=True)
        return cls((), re.compile("|".join(re.escape(f) for f in longest_first)))

    def search(self, text: str) -> bool:
        if self.pattern is not None:
            return self.pattern.search(text) is not None
        return any(form in text for form in self.forms)


def _is_word_char(char: str) -> bool:
    return char == "_" or (char.isascii() and char.isalnum())


class Redactor:
    """Returns copies of JSON-like values with secrets replaced.

    Redaction is copy-on-write: a dict, list or string that needed no change is
    returned as the same object, so the common case allocates nothing. Callers must
    treat the result as read-only. The redactor never shows its secrets, not even in
    its ``repr``. It is safe to share between threads.

    Args:
        secrets: values to replace wherever they appear inside strings; see
            :meth:`add_secret`.
    """

    __slots__ = ("_key_cache", "_known_probe", "_scanner", "_secrets")

    def __init__(self, secrets: Iterable[str] = ()) -> None:
        self._secrets: set[str] = set()
        self._key_cache: dict[str, bool] = {}
        for secret in secrets:
            self._remember(secret)
        known = frozenset(self._secrets)
        self._known_probe = _KnownProbe.build(known)
        self._scanner = _Scanner(_compile(known), known)

    def __repr__(self) -> str:
        return f"<Redactor with {len(self._secrets)} known secrets>"

    def add_secret(self, value: str) -> None:
        """Redact ``value`` from now on wherever it appears inside a string.

        Values shorter than six characters are ignored: they would match ordinary
        words and shred the log without protecting anything.
        """
        if self._remember(value):
            known = frozenset(self._secrets)
            # Rebinding an attribute is atomic, so a concurrent redact() sees the old
            # or the new scanner, each with its own secrets. The probe goes first:
            # meanwhile it may find more than the scanner replaces, never less.
            self._known_probe = _KnownProbe.build(known)
            self._scanner = _Scanner(_compile(known), known)

    def may_change(self, canonical: str) -> bool:
        """Tell, from a value's canonical JSON text, whether redacting it can help.

        ``False`` is a guarantee that ``redact`` would return the value unchanged, so
        the caller may skip the walk; ``True`` means it may change (false alarms are
        possible). The text must be ``enclosure._json.canonical_json`` of the value
        (compact separators, no ASCII escaping), decoded from UTF-8.
        """
        if self._known_probe.search(canonical):
            return True
        if _PROBE.search(canonical) is not None:
            return True
        lowered = canonical.lower()
        return "bearer" in lowered or _PROBE_KEYS.search(lowered[::-1]) is not None

    def redact_text(self, text: str) -> str:
        """Return ``text`` with known secrets and credential formats replaced."""
        scanner = self._scanner
        if len(text) < _MIN_SECRET_LEN or scanner.pattern.search(text) is None:
            return text
        return scanner.pattern.sub(scanner.replace, text)

    def redact(self, value: JSONValue) -> JSONValue:
        """Return ``value`` with every secret inside it replaced.

        Dicts and lists are walked; strings (dict keys included) are scanned; the
        value under a sensitive key becomes ``"[REDACTED]"`` whatever its type,
        unless it is ``None``; other scalars pass through.
        """
        if isinstance(value, str):
            return self.redact_text(value)
        if isinstance(value, dict):
            return self._redact_dict(value)
        if isinstance(value, list | tuple):
            items = [self.redact(item) for item in value]
            if all(new is old for new, old in zip(items, value, strict=True)):
                return value
            return items
        return value

    def _redact_dict(self, value: dict[Any, Any]) -> dict[Any, Any]:
        out: dict[Any, Any] = {}
        changed = False
        for key, item in value.items():
            new_key = key
            new_item = item
            if not isinstance(key, str):
                new_item = self.redact(item)
            elif self._sensitive(key):
                new_key = self.redact_text(key)
                if item is not None and item != REDACTED:
                    new_item = REDACTED
            else:
                new_key = self.redact_text(key)
                new_item = self.redact(item)
            changed = changed or new_key is not key or new_item is not item
            out[new_key] = new_item
        return out if changed else value

    def _sensitive(self, key: str) -> bool:
        hit = self._key_cache.get(key)
        if hit is None:
            hit = key.lower().replace("-", "_").endswith(_SENSITIVE_KEYS)
            if len(self._key_cache) >= _KEY_CACHE_LIMIT:
                self._key_cache.clear()
            self._key_cache[key] = hit
        return hit

    def _remember(self, secret: str) -> bool:
        if len(secret) < _MIN_SECRET_LEN or secret in self._secrets:
            return False
        self._secrets.add(secret)
        return True


class _Scanner(NamedTuple):
    """A compiled pattern together with the known secrets it was built from."""

    pattern: re.Pattern[str]
    known: frozenset[str]

    def replace(self, match: re.Match[str]) -> str:
        text = match.group()
        if text in self.known:
            return REDACTED
        start = match.start()
        bounded_ok = start == 0 or not _is_word_char(match.string[start - 1])
        for fmt in _FORMATS:
            if text.startswith(fmt.prefixes) and (bounded_ok or not fmt.bounded):
                return self._mask(fmt.kind, text)
        return text  # a format match glued to a preceding word: not a credential

    def _mask(self, kind: str, text: str) -> str:
        if kind == "url_password":
            # The user name stays readable, unless it is itself a known secret.
            user = self.pattern.sub(self.replace, text[3 : text.index(":", 3)])
            return f"://{user}:[REDACTED:url_password]@"
        if kind == "bearer":
            token = text[6:].lstrip()
            return f"{text[: len(text) - len(token)]}[REDACTED:bearer]"
        return f"[REDACTED:{kind}]"
