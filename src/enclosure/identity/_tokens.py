"""Run-scoped tokens for services the user controls, and the verifier they run.

A ``token:AUDIENCE`` credential is not fetched from anywhere: the broker mints a
short-lived JWT (HS256, ``joserfc``) naming the run, the principal, the tool call,
the hosts and the tools it is good for. The user's own API checks it with
``verify_token`` and the shared key; a token whose run has ended is refused once
the API is told so (``revoked``), and every token expires on its own.

Claims: ``iss``, ``sub`` (the principal: a tool name or ``agent``), ``run``,
``call`` (only when a tool call made the request), ``aud``, ``hosts``, ``tools``,
``iat``, ``exp`` (whole seconds since the epoch) and ``jti``.
"""

from __future__ import annotations

import math
import secrets
import threading
from typing import TYPE_CHECKING, Any, Protocol

from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import OctKey

from enclosure._clock import SystemClock
from enclosure.errors import CredentialError, UsageError
from enclosure.manifest import host_matches

if TYPE_CHECKING:
    from collections.abc import Callable

    from enclosure.types import Clock

__all__ = [
    "ALGORITHM",
    "ISSUER",
    "Requester",
    "RunTokens",
    "TokenRefused",
    "verify_token",
]

ALGORITHM = "HS256"
ISSUER = "enclosure"
_MIN_KEY = 32  # bytes: HS256 wants a key as long as its hash
_MAX_TOKEN = 8192  # characters; anything longer is not one of ours
_INVALID = "E-TOKEN-INVALID"
_EXPIRED = "E-TOKEN-EXPIRED"
_REVOKED = "E-TOKEN-REVOKED"
_SCOPE = "E-TOKEN-SCOPE"


class Requester(Protocol):
    """Who asks for a credential; ``enclosure.egress.Principal`` is one.

    A protocol rather than an import, so this service room does not depend on the
    proxy's package.
    """

    @property
    def run_id(self) -> str:
        """The run the request belongs to."""
        ...

    @property
    def name(self) -> str:
        """A tool name, or ``agent``."""
        ...

    @property
    def call_id(self) -> str | None:
        """The tool call that made the request, if any."""
        ...


class TokenRefused(CredentialError):
    """A run token was refused; ``code`` says why and ``reason`` says it in words.

    ``E-TOKEN-INVALID`` (signature, format, issuer), ``E-TOKEN-EXPIRED``,
    ``E-TOKEN-REVOKED`` (its run has ended) or ``E-TOKEN-SCOPE`` (audience, host or
    tool not covered).
    """

    default_code = _INVALID

    def __init__(self, code: str, reason: str) -> None:
        super().__init__(reason, code=code)
        self.reason = self.message


def _never(_run: str) -> bool:
    return False


def _import_key(key: bytes) -> OctKey:
    if len(key) < _MIN_KEY:
        raise UsageError(f"a run token key needs at least {_MIN_KEY} bytes")
    return OctKey.import_key(key)


class RunTokens:
    """Mints and revokes the run-scoped tokens of one enclosure; thread-safe.

    Args:
        key: the HS256 key shared with the services that verify the tokens; 32
            random bytes are generated when None (read them back from ``key``).
        issuer: the ``iss`` claim.
        clock: wall time for ``iat`` and ``exp``.
    """

    def __init__(
        self,
        key: bytes | None = None,
        *,
        issuer: str = ISSUER,
        clock: Clock | None = None,
    ) -> None:
        self._key_bytes = secrets.token_bytes(_MIN_KEY) if key is None else bytes(key)
        self._key = _import_key(self._key_bytes)
        self.issuer = issuer
        self._clock: Clock = clock or SystemClock()
        self._revoked: set[str] = set()
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"RunTokens(issuer={self.issuer!r}, key=[REDACTED])"

    @property
    def key(self) -> bytes:
        """The shared HS256 key: give it to the services that call ``verify_token``."""
        return self._key_bytes

    def mint(
        self,
        who: Requester,
        *,
        audience: str,
        hosts: list[str],
        ttl_s: float,
        tools: list[str] | None = None,
    ) -> str:
        """A signed token for ``who``, good for ``hosts`` and ``tools`` until ``ttl_s``.

        Args:
            who: the principal; ``sub``, ``run`` and ``call`` come from it.
            audience: the service the token is for (``aud``).
            hosts: host names (or ``*.suffix`` patterns) it may be sent to.
            ttl_s: seconds until it expires (rounded up to a whole second).
            tools: principals it covers; ``[who.name]`` when None.

        Raises:
            CredentialError: ``E-CREDENTIAL-REVOKED`` once the run was revoked.
        """
        if self.is_revoked(who.run_id):
            raise CredentialError(
                f"run {who.run_id} has ended; no more tokens are minted for it",
                code="E-CREDENTIAL-REVOKED",
            )
        now = self._clock.time()
        claims: dict[str, Any] = {
            "iss": self.issuer,
            "sub": who.name,
            "run": who.run_id,
            "aud": audience,
            "hosts": list(hosts),
            "tools": [who.name] if tools is None else list(tools),
            "iat": math.floor(now),
            "exp": math.ceil(now + ttl_s),
            "jti": secrets.token_urlsafe(16),
        }
        if who.call_id is not None:
            claims["call"] = who.call_id
        return jwt.encode({"alg": ALGORITHM, "typ": "JWT"}, claims, self._key)

    def revoke(self, run_id: str) -> None:
        """Refuse every token of ``run_id`` from now on (pass ``is_revoked`` on)."""
        with self._lock:
            self._revoked.add(run_id)

    def is_revoked(self, run_id: str) -> bool:
        """Whether ``run_id`` was revoked: ``verify_token``'s ``revoked`` callback."""
        with self._lock:
            return run_id in self._revoked

    def verify(
        self,
        token: str,
        *,
        audience: str,
        host: str | None = None,
        tool: str | None = None,
    ) -> dict[str, Any]:
        """``verify_token`` with this issuer's key, clock and revocations."""
        return verify_token(
            token,
            key=self._key_bytes,
            audience=audience,
            host=host,
            tool=tool,
            revoked=self.is_revoked,
            clock=self._clock,
            issuer=self.issuer,
        )


def _decode(token: str, key: OctKey) -> dict[str, Any]:
    if len(token) > _MAX_TOKEN:
        raise TokenRefused(_INVALID, "token is too long to be a run token")
    try:
        decoded = jwt.decode(token, key, algorithms=[ALGORITHM])
    except JoseError as exc:
        raise TokenRefused(
            _INVALID, f"token is malformed or its signature is wrong ({exc.error})"
        ) from None
    except (ValueError, TypeError):
        raise TokenRefused(_INVALID, "token is malformed") from None
    claims = decoded.claims
    if not isinstance(claims, dict):  # pragma: no cover -- joserfc returns a dict
        raise TokenRefused(_INVALID, "token claims are not an object")
    return claims


def _strings(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _check_shape(claims: dict[str, Any], issuer: str) -> None:
    if claims.get("iss") != issuer:
        raise TokenRefused(_INVALID, "token was issued by someone else")
    for claim in ("sub", "run", "jti"):
        if not isinstance(claims.get(claim), str):
            raise TokenRefused(
                _INVALID, f"token claim {claim!r} is missing or not a string"
            )
    for claim in ("hosts", "tools"):
        if not _strings(claims.get(claim)):
            raise TokenRefused(
                _INVALID, f"token claim {claim!r} is missing or not a list of strings"
            )
    for claim in ("iat", "exp"):
        if not _number(claims.get(claim)):
            raise TokenRefused(
                _INVALID, f"token claim {claim!r} is missing or not a number"
            )
    aud = claims.get("aud")
    if not (isinstance(aud, str) or _strings(aud)):
        raise TokenRefused(_INVALID, "token claim 'aud' is missing or malformed")
    if "call" in claims and not isinstance(claims["call"], str):
        raise TokenRefused(_INVALID, "token claim 'call' is not a string")


def _normalise(host: str) -> str:
    host = host.strip().lower().rstrip(".")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host


def verify_token(  # noqa: PLR0913 -- every check is a keyword a caller may need
    token: str,
    *,
    key: bytes,
    audience: str,
    host: str | None = None,
    tool: str | None = None,
    revoked: Callable[[str], bool] = _never,
    clock: Clock | None = None,
    issuer: str = ISSUER,
    leeway_s: float = 0.0,
) -> dict[str, Any]:
    """Check a run token and return its claims; the verifier for the user's own API.

    Checks, in order: signature and format (HS256 only, so ``alg: none`` and other
    algorithms are refused), issuer and claim types, expiry (``exp``; an ``iat``
    in the future is invalid), revocation of its run, audience, host, tool.

    Args:
        token: the compact JWT, without ``Bearer``.
        key: the HS256 key (``RunTokens.key``).
        audience: this service's name; must be the token's ``aud`` (or in it).
        host: the host the request came to, when the service checks it.
        tool: the tool the service expects, when it checks it.
        revoked: tells whether a run id was revoked (``RunTokens.is_revoked``).
        clock: wall time (``time()``); the system clock when None.
        issuer: the expected ``iss``.
        leeway_s: clock skew tolerated on ``exp`` and ``iat``.

    Raises:
        TokenRefused: ``E-TOKEN-INVALID``, ``E-TOKEN-EXPIRED``, ``E-TOKEN-REVOKED``
            or ``E-TOKEN-SCOPE``, with a one-line ``reason``.
    """
    claims = _decode(token, _import_key(key))
    _check_shape(claims, issuer)
    now = (clock or SystemClock()).time()
    if now >= claims["exp"] + leeway_s:
        ago = now - claims["exp"]
        raise TokenRefused(_EXPIRED, f"token expired {ago:.0f} s ago")
    if claims["iat"] > now + leeway_s:
        raise TokenRefused(_INVALID, "token was issued in the future")
    if revoked(claims["run"]):
        raise TokenRefused(_REVOKED, "token's run has ended and its tokens are revoked")
    audiences = [claims["aud"]] if isinstance(claims["aud"], str) else claims["aud"]
    if audience not in audiences:
        raise TokenRefused(_SCOPE, "token is for another audience")
    if host is not None:
        wanted = _normalise(host)
        if not any(host_matches(_normalise(p), wanted) for p in claims["hosts"]):
            raise TokenRefused(_SCOPE, "token does not cover this host")
    if tool is not None and tool not in claims["tools"]:
        raise TokenRefused(_SCOPE, "token does not cover this tool")
    return claims
