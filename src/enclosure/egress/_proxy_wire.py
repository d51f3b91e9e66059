"""The proxy's HTTP plumbing that needs no socket: targets, headers, refusals.

Everything here is a pure function of bytes and strings, so the socket code in
``_proxy_http`` and ``_proxy_conn`` reads as a sequence of decisions. Parsing
errors are ``EgressRefused`` with ``E-EGRESS-BAD-REQUEST`` (400): the client sees
a JSON body, never a traceback.
"""

from __future__ import annotations

import ipaddress
import json
import re
from http import HTTPStatus
from typing import TYPE_CHECKING, NamedTuple

import h11

from enclosure.egress._rules import host_ip
from enclosure.errors import EgressRefused

if TYPE_CHECKING:
    from collections.abc import Iterable

    from enclosure.egress._rules import Verdict

__all__ = [
    "BAD_REQUEST",
    "CLOSED",
    "RATE",
    "RESPONSE_TOO_LARGE",
    "TIMEOUT",
    "TOO_LARGE",
    "UNSUPPORTED",
    "UPSTREAM",
    "PolicyRefused",
    "Target",
    "bad_request",
    "body_length",
    "clean_headers",
    "outcome_of",
    "parse_absolute",
    "parse_authority",
    "parse_origin",
    "raw_refusal",
    "refusal_response",
    "wants_upgrade",
]

BAD_REQUEST = "E-EGRESS-BAD-REQUEST"
TOO_LARGE = "E-EGRESS-TOO-LARGE"
RESPONSE_TOO_LARGE = "E-EGRESS-RESPONSE-TOO-LARGE"
UPSTREAM = "E-EGRESS-UPSTREAM"
TIMEOUT = "E-EGRESS-TIMEOUT"
UNSUPPORTED = "E-EGRESS-UNSUPPORTED"
RATE = "E-EGRESS-RATE"
CLOSED = "E-EGRESS-CLOSED"
"""Records only: the proxy cut the connection (binding or proxy closed)."""

_DEFAULT_PORT = {"http": 80, "https": 443}
_NAME = re.compile(r"[a-z0-9_-]{1,63}(?:\.[a-z0-9_-]{1,63})*")
_MAX_NAME = 253
_PORT = re.compile(r"[0-9]{1,5}")
_HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
        b"host",  # set from the target, never copied (RFC 9112 §3.2.2)
        b"expect",  # the proxy answers 100-continue itself
    }
)
_SHOWN = 200


class PolicyRefused(EgressRefused):
    """The network policy said no: 403, or 429 with a ``Retry-After``."""

    def __init__(self, verdict: Verdict) -> None:
        rate = verdict.code == RATE
        super().__init__(
            verdict.reason,
            code=verdict.code,
            status=429 if rate else 403,
            rule=verdict.rule,
        )
        self.retry_after_s = verdict.retry_after_s if rate else None


def bad_request(reason: str) -> EgressRefused:
    """The refusal for a request the proxy cannot parse or does not serve."""
    return EgressRefused(reason, code=BAD_REQUEST, status=400)


def _shown(raw: bytes) -> str:
    text = raw[:_SHOWN].decode("ascii", "replace")
    return "".join(c if c.isprintable() and not c.isspace() else "?" for c in text)


class Target(NamedTuple):
    """Where one request goes: origin, and the origin-form target sent upstream."""

    scheme: str
    """``http`` or ``https`` (the upstream speaks TLS)."""
    host: str
    """Normalised: lower case, no trailing dot, IPv6 without brackets."""
    port: int
    target: str
    """Origin-form, query included (``/a/b?c``): the request line upstream."""
    literal: bool = False
    """The host is an IP address, not a name."""

    @property
    def path(self) -> str:
        """The target without its query: what records show."""
        return self.target.partition("?")[0]

    @property
    def authority(self) -> str:
        """The ``Host`` header: ``host`` or ``host:port``, IPv6 in brackets."""
        host = f"[{self.host}]" if ":" in self.host else self.host
        if self.port == _DEFAULT_PORT[self.scheme]:
            return host
        return f"{host}:{self.port}"


def parse_authority(text: str, default_port: int | None) -> tuple[str, int]:
    """``host[:port]`` or ``[v6][:port]`` -> normalised host and port.

    >>> parse_authority("API.Example.com.:8443", None)
    ('api.example.com', 8443)
    >>> parse_authority("[::1]", 80)
    ('::1', 80)

    Raises:
        EgressRefused: ``E-EGRESS-BAD-REQUEST`` for anything else, or a missing
            port when ``default_port`` is None (CONNECT).
    """
    host, port, _ = _authority(text, default_port)
    return host, port


def _authority(text: str, default_port: int | None) -> tuple[str, int, bool]:
    """``parse_authority``, and whether the host is an IP literal (parsed once)."""
    port_text: str | None
    address: ipaddress.IPv4Address | ipaddress.IPv6Address | None
    if text.startswith("["):
        close = text.find("]")
        host, rest = text[1:close], text[close + 1 :]
        if close < 0 or (rest and not rest.startswith(":")):
            raise bad_request(f"bad authority {_shown(text.encode())}")
        port_text = rest[1:] if rest else None
        try:  # lower case as normalise_host does (a scope id keeps it)
            address = ipaddress.IPv6Address(host.lower())
        except ValueError:
            raise bad_request(f"bad IPv6 address {_shown(host.encode())}") from None
    else:
        host, sep, port_text = text.partition(":")
        port_text = port_text if sep else None
        host = host.strip().lower().rstrip(".")  # as normalise_host does
        address = host_ip(host)
    if port_text is None:
        if default_port is None:
            raise bad_request("CONNECT needs host:port")
        port = default_port
    elif _PORT.fullmatch(port_text) and 0 < int(port_text) < 65536:  # noqa: PLR2004
        port = int(port_text)
    else:
        raise bad_request(f"bad port in {_shown(text.encode())}")
    if address is not None:
        return str(address), port, True
    if len(host) > _MAX_NAME or not _NAME.fullmatch(host):
        raise bad_request(f"bad host {_shown(host.encode())}")
    return host, port, False


def parse_absolute(raw: bytes) -> Target:
    """An absolute-form target (``http://host[:port]/path?query``).

    >>> parse_absolute(b"http://API.test:8080/a?b=1#frag")
    Target(scheme='http', host='api.test', port=8080, target='/a?b=1', literal=False)

    Raises:
        EgressRefused: ``E-EGRESS-BAD-REQUEST``: origin-form on a plain
            connection, another scheme, user info, or a malformed authority.
    """
    text = raw.decode("ascii", "replace")
    scheme, sep, rest = text.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in _DEFAULT_PORT:
        if text.startswith("/") or text == "*":
            raise bad_request(
                "this is a proxy: send absolute-form requests (GET http://host/path) "
                "or CONNECT host:port"
            )
        raise bad_request(f"request target {_shown(raw)} is not an http(s) URL")
    end = len(rest)
    for stop in "/?#":
        at = rest.find(stop)
        if 0 <= at < end:
            end = at
    authority, tail = rest[:end], rest[end:].partition("#")[0]
    if "@" in authority:
        raise bad_request("user info in the request target is not accepted")
    host, port, literal = _authority(authority, _DEFAULT_PORT[scheme])
    path = tail if tail.startswith("/") else "/" + tail
    return Target(scheme, host, port, path, literal)


def parse_origin(raw: bytes, scheme: str, host: str, port: int) -> Target:
    """An origin-form target (``/path?query``) inside a tunnel to ``host:port``.

    Raises:
        EgressRefused: ``E-EGRESS-BAD-REQUEST`` for any other form.
    """
    text = raw.decode("ascii", "replace")
    if not text.startswith("/"):
        raise bad_request(
            f"inside a tunnel to {host}:{port} send origin-form targets (/path), "
            f"not {_shown(raw)}"
        )
    literal = host_ip(host) is not None
    return Target(scheme, host, port, text.partition("#")[0], literal)


def _connection_tokens(headers: Iterable[tuple[bytes, bytes]]) -> set[bytes]:
    return {
        token.strip().lower()
        for name, value in headers
        if name == b"connection"
        for token in value.split(b",")
    }


def clean_headers(
    headers: Iterable[tuple[bytes, bytes]], *, keep_length: bool
) -> list[tuple[bytes, bytes]]:
    """Drop hop-by-hop headers, ``Proxy-*``, ``Host`` and ``Expect``.

    Also drops headers the ``Connection`` header names, and ``Content-Length``
    unless ``keep_length`` (a body the proxy rewrites changes length). The
    connection (``_proxy_h1``) sets the framing of what it sends.
    """
    headers = list(headers)
    named = (
        _connection_tokens(headers)
        if any(n == b"connection" for n, _ in headers)
        else ()
    )
    return [
        (name, value)
        for name, value in headers
        if name not in _HOP_BY_HOP
        and not name.startswith(b"proxy-")
        and name not in named
        and (keep_length or name != b"content-length")
    ]


def wants_upgrade(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a request asks to switch protocols (WebSocket, h2c)."""
    return any(name == b"upgrade" for name, _ in headers)


def body_length(headers: Iterable[tuple[bytes, bytes]]) -> int | None:
    """The declared body length; None when chunked (the parser validated the framing).

    Raises:
        EgressRefused: ``E-EGRESS-BAD-REQUEST`` when both framings are present
            (a request-smuggling shape).
    """
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            length = int(value)
        elif name == b"transfer-encoding":
            chunked = True
    if chunked and length is not None:  # even "Content-Length: 0"
        raise bad_request("both Content-Length and Transfer-Encoding")
    return None if chunked else (length or 0)


def _status_line(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode()
    except ValueError:
        return b""


def _body(exc: EgressRefused, *, host: str, method: str) -> bytes:
    return json.dumps(
        {
            "error": exc.code,
            "rule": exc.rule,
            "reason": exc.message,
            "host": host,
            "method": method,
        }
    ).encode()


def refusal_response(
    exc: EgressRefused,
    *,
    host: str,
    method: str,
    close: bool,
    retry_after_s: float | None = None,
) -> tuple[h11.Response, bytes]:
    """The JSON refusal the contract promises: a head for h11 and its body."""
    body = _body(exc, host=host, method=method)
    headers = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"cache-control", b"no-store"),
    ]
    if retry_after_s is not None:
        headers.append((b"retry-after", str(max(1, round(retry_after_s))).encode()))
    if close:
        headers.append((b"connection", b"close"))
    head = h11.Response(
        status_code=exc.status, headers=headers, reason=_status_line(exc.status)
    )
    return head, body


def raw_refusal(exc: EgressRefused, *, host: str = "", method: str = "") -> bytes:
    """The same refusal as raw bytes, for when h11 can no longer send (bad HTTP)."""
    body = _body(exc, host=host, method=method)
    head = (
        f"HTTP/1.1 {exc.status} {_status_line(exc.status).decode()}\r\n"
        "content-type: application/json\r\n"
        f"content-length: {len(body)}\r\n"
        "connection: close\r\n\r\n"
    )
    return head.encode() + body


def outcome_of(status: int) -> str:
    """``denied`` for the proxy's own 4xx, ``error`` for 5xx and cut connections."""
    return "denied" if status < 500 else "error"  # noqa: PLR2004
