"""The gateway's two transports: stdio (the default) and streamable HTTP.

stdio: the gateway's own stdin and stdout carry the protocol; everything else
the process writes goes to stderr. A line from the client that is not JSON-RPC
is answered with a parse error and the session goes on.

HTTP: the SDK's streamable HTTP app on a loopback address only (with its Host
and Origin checks), served by uvicorn. It stops by itself when ``stop`` is set,
when no request came for ``idle_timeout`` seconds, or when the run is killed.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import time
from typing import TYPE_CHECKING, Any

import anyio

from enclosure.errors import UsageError
from enclosure.gateway._wire import claimed_stdio, parse_error_line, pipe_streams

if TYPE_CHECKING:
    from collections.abc import Callable

    from mcp.shared.message import SessionMessage

    from enclosure.gateway._fast import Inbox
    from enclosure.gateway._gateway import Gateway
    from enclosure.gateway._wire import PipeStreams

__all__ = ["loopback_address", "serve_http", "serve_stdio"]

logger = logging.getLogger("enclosure")

_IDLE_CHECK_S = 0.25


async def serve_stdio(
    gateway: Gateway, *, read_fd: int | None = None, write_fd: int | None = None
) -> None:
    """Serve one client on stdin/stdout (or the given descriptors) until it leaves.

    The gateway must be ``running``.
    """
    if read_fd is None or write_fd is None:
        with claimed_stdio() as (rfd, wfd):
            await serve_stdio(gateway, read_fd=rfd, write_fd=wfd)
        return
    holder: list[PipeStreams] = []
    inboxes: list[Inbox] = []

    async def bad(reason: str) -> bool:
        logger.warning("the MCP client sent %s", reason)
        if holder:
            await holder[0].send_raw(parse_error_line(f"Parse error: {reason}"))
        return True  # one bad line from the client does not end its session

    def take(item: SessionMessage) -> bool:
        # A plain tools/call starts as soon as it is read: no hop through the
        # SDK's queue and relay (see ``_fast``).
        return bool(inboxes) and inboxes[0].take(item)

    async with pipe_streams(
        read_fd, write_fd, on_bad_line=bad, intercept=take
    ) as pipes:
        holder.append(pipes)
        await gateway.serve(pipes.read, pipes.write, on_inbox=inboxes.append)


def loopback_address(host: str) -> str:
    """``host`` if it is a loopback address or ``localhost``.

    Raises:
        UsageError: anything else (``E-USAGE-ARG``): the gateway has no
            authentication of its own, so it listens on this machine only.
    """
    if host == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        address = None
    if address is None or not address.is_loopback:
        msg = (
            f"--http must listen on a loopback address (127.0.0.1, ::1 or "
            f"localhost), not {host!r}: the gateway has no authentication"
        )
        raise UsageError(msg, code="E-USAGE-ARG")
    return str(address)


async def serve_http(
    gateway: Gateway,
    host: str = "127.0.0.1",
    port: int = 0,
    *,
    ready: Callable[[str], None] | None = None,
    stop: anyio.Event | None = None,
    idle_timeout: float | None = None,
) -> None:
    """Serve streamable HTTP at ``http://host:port/mcp`` until told to stop.

    ``ready`` is called with the URL once the socket listens (``port=0`` picks a
    free port). The gateway must be ``running``; every session shares its run.

    Raises:
        UsageError: ``host`` is not a loopback address (``E-USAGE-ARG``).
    """
    import uvicorn  # noqa: PLC0415 -- a dependency of the mcp extra

    host = loopback_address(host)
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((host, port))
    sock.listen(64)
    sock.setblocking(False)  # noqa: FBT003 -- the socket API
    bound = sock.getsockname()[1]
    shown = f"[{host}]" if family == socket.AF_INET6 else host
    url = f"http://{shown}:{bound}/mcp"
    server = gateway.server()
    app = _Activity(server.streamable_http_app(host=host))
    config = uvicorn.Config(app, log_level="warning", lifespan="on")
    uv = uvicorn.Server(config)

    async def watch() -> None:
        while not uv.should_exit:
            idle = time.monotonic() - app.last
            if (
                gateway.ended.is_set()
                or (stop is not None and stop.is_set())
                or (idle_timeout is not None and idle > idle_timeout and not app.busy)
            ):
                uv.should_exit = True
                return
            await anyio.sleep(_IDLE_CHECK_S)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            if ready is not None:
                ready(url)
            await uv.serve(sockets=[sock])
            tg.cancel_scope.cancel()
    finally:
        sock.close()


class _Activity:
    """An ASGI wrapper that notes when the last request came and how many run."""

    def __init__(self, app: Any) -> None:
        self.app = app
        self.last = time.monotonic()
        self.busy = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        self.busy += 1
        self.last = time.monotonic()
        try:
            await self.app(scope, receive, send)
        finally:
            self.busy -= 1
            self.last = time.monotonic()
