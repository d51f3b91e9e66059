"""What the proxy tells the audit log about each request, and secret redaction.

A ``Draft`` collects the facts of one request (or tunnel) as the proxy learns
them and becomes a frozen ``RequestRecord`` once the exchange is over. Headers
and bodies reach a record only when the manifest asks (``log_bodies``), capped,
with credential-bearing headers blanked and every materialised secret stripped.

``StreamStripper`` strips secrets from a body that arrives in pieces: a secret
cut in two by a read boundary is still found, because the last bytes of each
piece are held back until the next one arrives.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from enclosure.egress._proxy_wire import PolicyRefused

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable

    from enclosure.egress._rules import Principal, Verdict

__all__ = [
    "REDACTED",
    "BodySample",
    "Draft",
    "RequestRecord",
    "StreamStripper",
    "hold_for",
    "logged_headers",
]

REDACTED = "[REDACTED]"
_SENSITIVE = frozenset(
    {b"authorization", b"proxy-authorization", b"cookie", b"set-cookie"}
)


@dataclass(frozen=True, slots=True)
class RequestRecord:
    """One request (or CONNECT tunnel) through the proxy, for the audit log.

    Never holds a secret: ``credential`` is the credential's name, and headers
    and bodies (present only with ``log_bodies``) are redacted.
    """

    principal: Principal
    method: str
    """``CONNECT`` for a tunnel; empty when the request could not be parsed."""
    scheme: str
    """``http``, ``https`` (inside an inspected tunnel) or ``tunnel``."""
    host: str
    port: int
    path: str
    """Without the query; empty for tunnels."""
    status: int
    """What the client got: the upstream's status, or the proxy's refusal."""
    outcome: str
    """``allowed``, ``denied`` (the proxy refused) or ``error``."""
    rule: str | None
    reason: str
    code: str
    """``allowed`` or the ``E-...`` code of the refusal or failure."""
    address: str | None
    """The IP address the proxy connected to, once SSRF checks passed."""
    credential: str | None
    """The NAME of the credential injected, never its value."""
    bytes_up: int
    """Request body bytes from the client (tunnels: every byte it sent)."""
    bytes_down: int
    """Response body bytes from the upstream (tunnels: every byte it sent)."""
    duration_ms: float
    request_headers: dict[str, str] | None
    response_headers: dict[str, str] | None
    request_body: str | None
    response_body: str | None


class BodySample:
    """The first ``limit`` bytes of a body for a record.

    A margin beyond ``limit`` is kept so that stripping sees a secret whole
    even where the cut falls inside it.
    """

    __slots__ = ("_limit", "_margin", "_parts", "_size")

    def __init__(self, limit: int, margin: int) -> None:
        self._limit = limit
        self._margin = margin
        self._parts: list[bytes] = []
        self._size = 0

    def add(self, data: bytes) -> None:
        room = self._limit + self._margin - self._size
        if room > 0 and data:
            piece = data[:room]
            self._parts.append(piece)
            self._size += len(piece)

    def text(self, strip: Callable[[bytes], bytes] | None) -> str:
        data = b"".join(self._parts)
        if strip is not None:
            data = strip(data)
        return data[: self._limit].decode("utf-8", "replace")


def logged_headers(
    headers: Iterable[tuple[bytes, bytes]], strip: Callable[[bytes], bytes] | None
) -> dict[str, str]:
    """Headers for a record: credential headers blanked, secrets stripped."""
    out: dict[str, str] = {}
    for name, value in headers:
        if name.lower() in _SENSITIVE:
            shown = REDACTED
        else:
            shown = (strip(value) if strip else value).decode("latin-1")
        key = name.decode("latin-1").lower()
        out[key] = f"{out[key]}, {shown}" if key in out else shown
    return out


def hold_for(forms: Iterable[str]) -> int:
    """How many trailing bytes a stream holds back to catch a secret form.

    ``forms`` is what the broker strips (every encoding of every value), so the
    longest of them, cut by a read boundary, is still seen whole next time.
    """
    return max((len(f.encode()) for f in forms), default=0) + 16


class StreamStripper:
    """Strips secrets from a stream of chunks; holds back the last ``hold`` bytes."""

    __slots__ = ("_carry", "_hold", "_strip")

    def __init__(self, strip: Callable[[bytes], bytes], hold: int) -> None:
        self._strip = strip
        self._hold = hold
        self._carry = b""

    def feed(self, data: bytes) -> bytes:
        """Stripped bytes safe to send now (possibly none)."""
        # A secret not wholly inside carry+data ends past it, so it starts within
        # the last hold bytes: those wait for the next chunk, unsent.
        buf = self._strip(self._carry + data)
        if len(buf) <= self._hold:
            self._carry = buf
            return b""
        self._carry = buf[-self._hold :]
        return buf[: -self._hold]

    def flush(self) -> bytes:
        """What is still held back, at the end of the stream."""
        out, self._carry = self._carry, b""
        return out


@dataclass(slots=True)
class Draft:
    """A record in the making; ``finish`` freezes it."""

    principal: Principal
    method: str
    scheme: str
    host: str = ""
    port: int = 0
    path: str = ""
    status: int = 0
    outcome: str = "allowed"
    rule: str | None = None
    reason: str = ""
    code: str = "allowed"
    address: str | None = None
    credential: str | None = None
    bytes_up: int = 0
    bytes_down: int = 0
    started: float = field(default_factory=time.perf_counter)
    request_headers: dict[str, str] | None = None
    response_headers: dict[str, str] | None = None
    request_sample: BodySample | None = None
    response_sample: BodySample | None = None

    def decided(self, verdict: Verdict) -> Verdict:
        """Note the policy's verdict; raise ``PolicyRefused`` when it says no."""
        self.rule, self.reason, self.code = verdict.rule, verdict.reason, verdict.code
        if not verdict.allowed:
            raise PolicyRefused(verdict)
        return verdict

    def fail(self, status: int, code: str, reason: str, outcome: str) -> None:
        """The exchange ended in a refusal or an error."""
        self.status, self.code, self.reason, self.outcome = (
            status,
            code,
            reason,
            outcome,
        )

    def finish(self, strip: Callable[[bytes], bytes] | None) -> RequestRecord:
        """The frozen record; samples stripped with ``strip`` one last time."""
        return RequestRecord(
            principal=self.principal,
            method=self.method,
            scheme=self.scheme,
            host=self.host,
            port=self.port,
            path=self.path,
            status=self.status,
            outcome=self.outcome,
            rule=self.rule,
            reason=self.reason,
            code=self.code,
            address=self.address,
            credential=self.credential,
            bytes_up=self.bytes_up,
            bytes_down=self.bytes_down,
            duration_ms=(time.perf_counter() - self.started) * 1000.0,
            request_headers=self.request_headers,
            response_headers=self.response_headers,
            request_body=self.request_sample.text(strip)
            if self.request_sample
            else None,
            response_body=self.response_sample.text(strip)
            if self.response_sample
            else None,
        )
