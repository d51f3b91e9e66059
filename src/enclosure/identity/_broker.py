"""The credential broker: secrets fetched just in time, injected, and stripped again.

The egress proxy asks the broker for a credential only after the network policy
allowed a request that names it (``materialise``), puts it on the outgoing request
(``apply``) and passes everything coming back through ``strip``. The sandbox never
holds a secret: it is not in its environment, its files or its requests.

A fetched secret is cached per run for the credential's ``ttl``; a run token
(``token:AUDIENCE``) per run, principal, tool call and host, for half its ``ttl``
so that a token handed out always has at least half its life left. ``strip`` and
``secrets`` know every value materialised so far, in the forms it may come back
in: raw, base64 (standard and URL-safe, padded or not, and at any alignment inside
a longer base64 text), percent-encoded, JSON-escaped, and for basic auth the
encoded ``user:secret`` pair. Values stay known after ``revoke_run`` so that late
log lines are still redacted.

``materialise`` may run a command for up to ten seconds: call it from a worker
thread, not from an event loop.
"""

from __future__ import annotations

import base64
import json
import re
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote, quote_plus, unquote_plus

from enclosure._clock import SystemClock
from enclosure.errors import CredentialError
from enclosure.identity._sources import SecretSource, TokenSource, load_source
from enclosure.identity._tokens import Requester, RunTokens

if TYPE_CHECKING:
    from collections.abc import Mapping

    from enclosure.manifest import CredentialSpec, Injection
    from enclosure.types import Clock

__all__ = ["CredentialBroker", "Secret", "encoded_forms"]

_SCOPE = "E-CREDENTIAL-SCOPE"
_REVOKED = "E-CREDENTIAL-REVOKED"
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PERCENT = re.compile(rb"%[0-9A-F]{2}")
_MIN_DERIVED = 8
"""Encoded forms shorter than this are not stripped: they would hit unrelated text."""

_CacheKey = tuple[str | None, ...]


@dataclass(frozen=True, slots=True)
class Secret:
    """A materialised credential; its ``repr`` and ``str`` never show the value."""

    name: str
    value: str
    inject: Injection
    expires: float
    """Monotonic time after which the broker fetches (or mints) it again."""

    def __repr__(self) -> str:
        return f"Secret({self.name!r}, value=[REDACTED])"

    __str__ = __repr__


def _base64_forms(raw: bytes) -> set[bytes]:
    """Standard and URL-safe base64, padded or not, and at each of the 3 alignments.

    Inside a longer base64 text (a JSON body, a JWT payload) the secret may start
    at any byte offset, and whatever follows changes its last character; so for
    each offset only the characters made of the secret's bits alone are kept.
    """
    std = base64.b64encode(raw)
    forms = {std, std.rstrip(b"=")}
    for offset in range(3):
        encoded = base64.b64encode(b"\0" * offset + raw)
        first = -(-8 * offset // 6)  # the first character made only of secret bits
        last = 8 * (offset + len(raw)) // 6  # characters before this one are whole
        forms.add(encoded[first:last])
    urlsafe = bytes.maketrans(b"+/", b"-_")
    return forms | {form.translate(urlsafe) for form in forms}


def _percent_forms(value: str) -> set[bytes]:
    forms = {
        quote(value, safe="").encode(),
        quote(value).encode(),
        quote_plus(value, safe="").encode(),
    }
    return forms | {_PERCENT.sub(lambda m: m.group().lower(), f) for f in forms}


def encoded_forms(value: str, inject: Injection | None = None) -> set[bytes]:
    """Every form of ``value`` that ``strip`` removes (see the module docstring)."""
    raw = value.encode()
    derived = _base64_forms(raw) | _percent_forms(value)
    derived.add(json.dumps(value)[1:-1].encode())
    if inject is not None and inject.basic_username is not None:
        pair = f"{inject.basic_username}:{value}".encode()
        derived |= _base64_forms(pair)
    return {raw} | {f for f in derived if len(f) >= _MIN_DERIVED}


def _basic(user: str, value: str) -> bytes:
    return b"Basic " + base64.b64encode(f"{user}:{value}".encode())


def _with_query(target: str, param: str, value: str) -> str:
    """``target`` with ``param=value`` as its only ``param``; the rest kept as sent."""
    before, hash_, fragment = target.partition("#")
    path, _, query = before.partition("?")
    kept = [
        part
        for part in query.split("&")
        if part and unquote_plus(part.partition("=")[0]) != param
    ]
    kept.append(f"{quote(param, safe='')}={quote(value, safe='')}")
    return f"{path}?{'&'.join(kept)}{hash_}{fragment}"


class _Redactor:
    """Values and their forms -> ``[REDACTED:name]``.

    Each new value replaces the snapshot (pattern, names, forms longest first) as
    a whole, so ``strip`` and ``secrets`` read one consistent state without the
    broker's lock and without sorting on every call.
    """

    def __init__(self) -> None:
        self.snapshot: tuple[re.Pattern[bytes] | None, dict[bytes, str]] = (None, {})
        self.ordered: tuple[str, ...] = ()

    def add(self, name: str, forms: set[bytes]) -> None:
        names = self.snapshot[1]
        new = {f: name for f in forms if f not in names}
        if not new:
            return
        names = {**names, **new}
        ordered = sorted(names, key=len, reverse=True)
        pattern = re.compile(b"|".join(re.escape(f) for f in ordered))
        self.snapshot = (pattern, names)
        self.ordered = tuple(f.decode() for f in ordered)


class CredentialBroker:
    """Fetches, caches, injects and strips the credentials of a manifest; thread-safe.

    Args:
        credentials: the manifest's ``credentials``, by name. Plugin sources are
            imported now, so a broken one fails here rather than mid-run.
        tokens: mints ``token:`` credentials; a fresh ``RunTokens`` (random key,
            read it back from ``broker.tokens.key``) when None.
        clock: ``monotonic()`` for the cache; ``time()`` for a fresh ``RunTokens``.

    Raises:
        CredentialError: a command cannot be split or a plugin cannot be loaded.
    """

    def __init__(
        self,
        credentials: Mapping[str, CredentialSpec],
        *,
        tokens: RunTokens | None = None,
        clock: Clock | None = None,
    ) -> None:
        self._clock: Clock = clock or SystemClock()
        self._specs = dict(credentials)
        self._sources: dict[str, SecretSource] = {
            name: load_source(spec, name=name) for name, spec in self._specs.items()
        }
        self.tokens = tokens if tokens is not None else RunTokens(clock=self._clock)
        self._lock = threading.Lock()
        self._fetching = {name: threading.Lock() for name in self._specs}
        self._cache: dict[_CacheKey, Secret] = {}
        self._revoked: set[str] = set()
        self._redactor = _Redactor()

    def __repr__(self) -> str:
        return f"CredentialBroker(credentials={sorted(self._specs)!r})"

    def materialise(self, name: str, who: Requester, *, host: str) -> Secret:
        """The secret for a request the network policy has already allowed.

        Args:
            name: the credential the deciding rule names.
            who: the principal making the request.
            host: where the request goes (the ``hosts`` of a run token).

        Raises:
            CredentialError: ``E-CREDENTIAL-SCOPE`` when ``who`` is not in the
                credential's ``tools``; ``E-CREDENTIAL-REVOKED`` after the run
                ended; ``E-CREDENTIAL-UNAVAILABLE`` when the credential is unknown
                or its source fails. The message never holds the secret.
        """
        spec = self._specs.get(name)
        if spec is None:
            raise CredentialError(f"no credential named {name}")
        if spec.tools and who.name not in spec.tools:
            raise CredentialError(
                f"credential {name} is for {', '.join(spec.tools)}, not {who.name}",
                code=_SCOPE,
            )
        source = self._sources[name]
        key: _CacheKey = (name, who.run_id)
        if isinstance(source, TokenSource):  # one per principal, call and host
            key = (*key, who.name, who.call_id, host.lower())
        with self._fetching[name]:
            with self._lock:
                self._check_live(who.run_id)
                cached = self._cache.get(key)
                now = self._clock.monotonic()
                if cached is not None and now < cached.expires:
                    return cached
            if isinstance(source, TokenSource):
                value = self.tokens.mint(
                    who, audience=source.audience, hosts=[host], ttl_s=spec.ttl
                )
                life = spec.ttl / 2
            else:
                value = _checked(name, _fetch(source, name, spec))
                life = spec.ttl
            secret = Secret(name, value, spec.inject, now + life)
            with self._lock:
                self._check_live(who.run_id)
                self._prune(now)
                self._cache[key] = secret
                self._redactor.add(name, encoded_forms(value, spec.inject))
            return secret

    def apply(
        self, secret: Secret, headers: list[tuple[bytes, bytes]], target: str
    ) -> tuple[list[tuple[bytes, bytes]], str]:
        """Put ``secret`` on a request as its credential says; inputs are not changed.

        A header (``format`` with ``{secret}`` replaced) or basic auth replaces any
        header of that name the client sent; a query parameter replaces any of that
        name in ``target`` (origin or absolute form) and is percent-encoded.

        Returns:
            The new header list and request target.
        """
        inject = secret.inject
        if inject.query is not None:
            return list(headers), _with_query(target, inject.query, secret.value)
        if inject.header is not None:
            field = inject.header.encode("ascii")
            value = inject.format.replace("{secret}", secret.value).encode()
        else:
            assert inject.basic_username is not None  # noqa: S101 -- one of three
            field = b"Authorization"
            value = _basic(inject.basic_username, secret.value)
        kept = [(k, v) for k, v in headers if k.lower() != field.lower()]
        return [*kept, (field, value)], target

    def strip(self, data: bytes) -> bytes:
        """``data`` with every materialised secret replaced by ``[REDACTED:name]``."""
        pattern, names = self._redactor.snapshot
        if pattern is None:
            return data
        return pattern.sub(lambda m: f"[REDACTED:{names[m.group()]}]".encode(), data)

    def secrets(self) -> list[str]:
        """Every materialised value and its encoded forms, longest first, for logs."""
        return list(self._redactor.ordered)

    def revoke_run(self, run_id: str) -> None:
        """End a run: forget its cached secrets, refuse it more, revoke its tokens."""
        with self._lock:
            self._revoked.add(run_id)
            for key in [k for k in self._cache if k[1] == run_id]:
                del self._cache[key]
        self.tokens.revoke(run_id)

    def _check_live(self, run_id: str) -> None:
        if run_id in self._revoked:
            raise CredentialError(
                f"run {run_id} has ended; its credentials are revoked", code=_REVOKED
            )

    def _prune(self, now: float) -> None:
        for key in [k for k, s in self._cache.items() if now >= s.expires]:
            del self._cache[key]


def _fetch(source: SecretSource, name: str, spec: CredentialSpec) -> str:
    """Call the source, keeping whatever it raises out of our errors.

    Anything but ``CredentialError`` is named by type only and raised outside the
    ``except``, so nothing chains to an exception that may hold the secret.
    """
    failure: str | None = None
    value: object = None
    try:
        value = source.fetch(name, spec)
    except CredentialError:
        raise
    except Exception as exc:  # noqa: BLE001 -- a plugin may raise anything
        failure = type(exc).__name__
    if failure is not None:
        raise CredentialError(f"credential {name}: its source raised {failure}")
    if not isinstance(value, str):
        kind = type(value).__name__
        raise CredentialError(
            f"credential {name}: its source returned {kind}, not text"
        )
    return value


def _checked(name: str, value: str) -> str:
    if not value:
        raise CredentialError(f"credential {name}: its source returned an empty value")
    if _CONTROL.search(value):
        raise CredentialError(
            f"credential {name}: the value holds a control character (refused: it "
            "could split an HTTP header)"
        )
    return value
