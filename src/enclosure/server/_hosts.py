"""The Host header check: requests must name this server, against DNS rebinding.

A page on another site can point its own name at 127.0.0.1 and so reach a
server on loopback from the victim's browser; the ``Host`` header then still
carries the attacker's name. ``HostCheck`` refuses every request whose host is
not one of ``allowed`` (``*.example.org`` matches subdomains; ``*`` allows any)
with a coded 400, before any route or the dashboard sees it.

Must not know: routes, tokens or sessions.
"""

from __future__ import annotations

import ipaddress
from typing import TYPE_CHECKING

from starlette.datastructures import Headers

from enclosure.errors import UsageError
from enclosure.server._errors import error_response

if TYPE_CHECKING:
    from collections.abc import Iterable

    from starlette.types import ASGIApp, Receive, Scope, Send

__all__ = ["HostCheck", "default_hosts", "host_of"]

_LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
_WILDCARD_BINDS = ("0.0.0.0", "::", "")  # noqa: S104 -- names of binds, not a bind


def host_of(header: str) -> str:
    """The host of a ``Host`` header, without its port or IPv6 brackets, lowercase.

    >>> host_of("[::1]:8350"), host_of("Example.org:80"), host_of("localhost")
    ('::1', 'example.org', 'localhost')
    >>> host_of("[localhost]evil.com")
    ''
    """
    header = header.strip().lower()
    if header.startswith("["):
        inside, _, rest = header[1:].partition("]")
        # Only ":port" may follow the brackets: "[localhost]evil.com" names nothing.
        return inside if not rest or rest.startswith(":") else ""
    return header.partition(":")[0]


def default_hosts(bind: str, extra: Iterable[str] = ()) -> list[str]:
    """The hosts a server bound to ``bind`` answers to: its address, plus ``extra``.

    A loopback bind also answers to ``localhost``; a wildcard bind (all
    interfaces) cannot know the names clients use, so it needs ``extra``.

    Raises:
        UsageError: ``E-USAGE-HOST``, a wildcard bind without ``extra``.
    """
    hosts = [h.strip().lower() for h in extra if h.strip()]
    if bind in _WILDCARD_BINDS:
        if not hosts:
            msg = (
                f"--host {bind or '(all)'} listens on every interface: name the "
                "hosts clients use with --allowed-host (or '*' for any)"
            )
            raise UsageError(msg, code="E-USAGE-HOST")
        return hosts
    hosts.append(host_of(bind) if bind.startswith("[") else bind.lower())
    try:
        loopback = ipaddress.ip_address(hosts[-1]).is_loopback
    except ValueError:
        loopback = hosts[-1] == "localhost"
    if loopback:
        hosts += _LOOPBACK_NAMES
    return list(dict.fromkeys(hosts))


class HostCheck:
    """ASGI middleware: answer 400 ``E-HTTP-HOST`` unless the host is allowed."""

    def __init__(self, app: ASGIApp, allowed: Iterable[str]) -> None:
        self.app = app
        self.allowed = frozenset(h.lower() for h in allowed)

    def permits(self, host: str) -> bool:
        """Whether ``host`` (as ``host_of`` returns it) may be served."""
        if "*" in self.allowed or host in self.allowed:
            return True
        return any(
            pattern.startswith("*.") and host.endswith(pattern[1:])
            for pattern in self.allowed
        )

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            host = host_of(Headers(scope=scope).get("host", ""))
            if not self.permits(host):
                response = error_response(
                    400, "E-HTTP-HOST", "the Host header does not name this server"
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)
