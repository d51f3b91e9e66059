"""The egress proxy: one thread, one event loop, any number of bindings.

A run's proxy serves every sandboxed command of the run. Each command gets a
listening socket (made inside its own network namespace by the caller) and
``serve`` attributes every connection accepted on it to one principal: the tool
and call, or the agent. All I/O happens on the proxy's own thread; the public
methods may be called from any thread. ``Binding.close`` cuts every connection
of one binding at once, which is how a killed run loses its network mid-request.

The HTTP work lives in ``_proxy_conn`` (a client connection, CONNECT tunnels and
TLS interception), ``_proxy_http`` (one request), ``_proxy_peer`` (HTTP/1.1 over
streams and SSRF-checked dialling), ``_proxy_h1`` (HTTP/1.1 framing with
h11's rules), ``_proxy_pool`` (idle upstream connections,
per binding), ``_proxy_wire`` (parsing, refusals) and ``_proxy_record`` (records
and redaction).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import functools
import logging
import socket
import threading
from typing import TYPE_CHECKING

from enclosure._clock import SystemClock
from enclosure.egress._ca import upstream_context
from enclosure.egress._proxy_conn import ClientConnection
from enclosure.egress._proxy_peer import READ_SIZE, Context, Dialer
from enclosure.egress._proxy_pool import Pool
from enclosure.egress._proxy_record import RequestRecord
from enclosure.egress._rules import NetworkPolicy
from enclosure.egress._ssrf import SystemResolver
from enclosure.errors import UsageError

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine
    from typing import Any

    from enclosure.egress._ca import RunCA
    from enclosure.egress._rules import Grants, Principal
    from enclosure.egress._ssrf import Resolver
    from enclosure.identity import CredentialBroker
    from enclosure.manifest import NetworkSpec
    from enclosure.types import Clock

__all__ = ["Binding", "EgressProxy", "RequestRecord"]

logger = logging.getLogger("enclosure")

_BACKLOG = 128
_CREDENTIAL_WORKERS = 4
_JOIN_S = 10.0


def _new_loop() -> asyncio.AbstractEventLoop:
    """The proxy thread's event loop: uvloop's (libuv) where it is installed.

    It takes about 80 us off each proxied request; asyncio's own loop is the
    fallback on a platform uvloop has no wheel for.
    """
    try:
        import uvloop  # noqa: PLC0415 -- optional by platform
    except ImportError:  # pragma: no cover
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()


class Binding:
    """One listening socket, served for one principal.

    Made by ``EgressProxy.serve``; it owns the socket from then on.
    """

    def __init__(
        self, proxy: EgressProxy, who: Principal, address: tuple[str, int]
    ) -> None:
        self.who = who
        self.address = address
        """Where the socket listens (in its own network namespace)."""
        self._proxy = proxy
        self._server: asyncio.Server | None = None
        self._connections: set[ClientConnection] = set()
        self.closed = False

    def __repr__(self) -> str:
        host, port = self.address
        state = "closed" if self.closed else f"{len(self._connections)} open"
        return f"Binding({self.who.name!r} on {host}:{port}, {state})"

    def close(self) -> None:
        """Stop accepting and cut every open connection of this binding, now.

        Clients see their connection reset; each request in flight is recorded
        with ``E-EGRESS-CLOSED``. The binding's idle pooled upstream connections
        are closed too. Idempotent, callable from any thread.
        """
        self._proxy._call(self._close_now)  # noqa: SLF001 -- the proxy's own helper

    def _close_now(self) -> None:
        self.closed = True
        if self._server is not None:
            self._server.close()
        for connection in list(self._connections):
            connection.abort()
        # Idle upstreams that served this binding go too: simpler than proving
        # each clean, and no other binding may use them anyway.
        self._proxy._ctx.pool.close_owner(self)  # noqa: SLF001 -- the proxy's pool
        self._proxy._bindings.discard(self)  # noqa: SLF001 -- the proxy's registry

    async def _accept(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        if self.closed:
            writer.transport.abort()
            return
        if not self._proxy._nodelay:  # noqa: SLF001 -- the proxy's loop
            with contextlib.suppress(OSError):  # asyncio skips proto-0 sockets
                writer.get_extra_info("socket").setsockopt(
                    socket.IPPROTO_TCP, socket.TCP_NODELAY, 1
                )
        connection = ClientConnection(
            self._proxy._ctx,  # noqa: SLF001 -- the proxy's shared parts
            self.who,
            reader,
            writer,
            owner=self,
        )
        self._connections.add(connection)
        try:
            await connection.run()
        except asyncio.CancelledError:
            pass  # cut by close(): this task is the connection's top, nobody awaits it
        except Exception:  # the connection's boundary: log, cut, go on
            logger.exception("egress proxy: a connection failed")
            connection.abort()
        finally:
            self._connections.discard(connection)


class EgressProxy:
    """A run's HTTP(S) forward proxy: default deny, SSRF-safe, audited.

    Args:
        spec: the manifest's ``network`` section.
        broker: injects and strips credentials; None when the manifest has none.
        ca: the run's CA, for TLS interception.
        on_record: gets one ``RequestRecord`` per request or tunnel, on the
            proxy's thread; what it raises is logged and counted in
            ``record_errors``, never raised into the proxy.
        resolver: resolves upstream names; the system resolver when None.
        upstream_ca: a CA bundle to verify upstreams with instead of the system's
            (tests).
        clock: for rate limits and for how long idle upstream connections are
            kept; the system clock when None.
        grants: the run's host grants (escalations), asked for when the
            manifest's rules refuse a request.
    """

    def __init__(
        self,
        spec: NetworkSpec,
        *,
        broker: CredentialBroker | None,
        ca: RunCA,
        on_record: Callable[[RequestRecord], None],
        resolver: Resolver | None = None,
        upstream_ca: str | None = None,
        clock: Clock | None = None,
        grants: Grants | None = None,
    ) -> None:
        clock = clock or SystemClock()
        policy = NetworkPolicy(spec, clock=clock, grants=grants)
        self.spec = spec
        self.record_errors = 0
        """How many times ``on_record`` raised."""
        self._on_record = on_record
        self._executor = concurrent.futures.ThreadPoolExecutor(
            max_workers=_CREDENTIAL_WORKERS, thread_name_prefix="enclosure-credentials"
        )
        self._ctx = Context(
            spec=spec,
            policy=policy,
            broker=broker,
            ca=ca,
            dialer=Dialer(
                resolver=resolver or SystemResolver(),
                is_literal_allowed=policy.is_literal_allowed,
                tls=functools.partial(upstream_context, upstream_ca),
                timeout=spec.connect_timeout,
            ),
            emit=self._emit,
            executor=self._executor,
            pool=Pool(clock),
        )
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._stopped = False
        self._bindings: set[Binding] = set()
        self._nodelay = False
        """The loop sets TCP_NODELAY on accepted sockets itself (uvloop does)."""

    def __repr__(self) -> str:
        state = "closed" if self._stopped else "running" if self._thread else "new"
        return f"EgressProxy({len(self.spec.rules)} rules, {state})"

    def start(self) -> None:
        """Start the proxy's thread and event loop; idempotent.

        Raises:
            UsageError: the proxy was closed.
        """
        with self._lock:
            if self._stopped:
                raise UsageError("this egress proxy is closed; make a new one")
            if self._thread is not None:
                return
            loop = _new_loop()
            self._nodelay = type(loop).__module__.startswith("uvloop")
            ready = threading.Event()
            thread = threading.Thread(
                target=self._run,
                args=(loop, ready),
                name="enclosure-egress",
                daemon=True,
            )
            thread.start()
            ready.wait()
            self._loop, self._thread = loop, thread

    def serve(self, sock: socket.socket, who: Principal) -> Binding:
        """Accept connections on a listening TCP socket, attributed to ``who``.

        The socket may live in another network namespace. It belongs to the
        proxy from this call on: the binding closes it with ``Binding.close``,
        and it is closed at once if it cannot be served. Starts the proxy if
        needed.

        Raises:
            UsageError: the proxy is closed, or this is the proxy's own thread.
            OSError: the socket cannot be served.
        """
        try:
            self.start()
            return self._submit(self._bind(sock, who))
        except BaseException:
            sock.close()
            raise

    def serve_tcp(
        self, who: Principal, host: str = "127.0.0.1", port: int = 0
    ) -> Binding:
        """``serve`` on a new socket listening on ``host:port`` (tests, benchmarks)."""
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.bind((host, port))
            sock.listen(_BACKLOG)
        except OSError:
            sock.close()
            raise
        return self.serve(sock, who)

    def close(self) -> None:
        """Close every binding and connection, stop the loop, join the thread.

        Idempotent. From the proxy's own thread (``on_record``) it only
        schedules the stop: a thread cannot wait for itself.
        """
        with self._lock:
            if self._stopped:
                return
            self._stopped = True
            loop, thread = self._loop, self._thread
        if loop is not None and thread is not None:
            loop.call_soon_threadsafe(self._close_bindings)
            loop.call_soon_threadsafe(loop.stop)
            if thread is threading.current_thread():
                return
            thread.join(_JOIN_S)
            if thread.is_alive():  # pragma: no cover -- a stuck on_record
                logger.warning(
                    "egress proxy: its thread did not stop within %g s", _JOIN_S
                )
        self._executor.shutdown(wait=False, cancel_futures=True)

    # --- the proxy's thread --------------------------------------------------------

    def _run(self, loop: asyncio.AbstractEventLoop, ready: threading.Event) -> None:
        asyncio.set_event_loop(loop)
        loop.call_soon(ready.set)
        try:
            loop.run_forever()
            self._close_bindings()
            tasks = asyncio.all_tasks(loop)
            for task in tasks:
                task.cancel()
            if tasks:
                loop.run_until_complete(asyncio.wait(tasks, timeout=_JOIN_S))
            # Aborted transports close their sockets in a callback: let it run.
            loop.run_until_complete(asyncio.sleep(0))
            loop.run_until_complete(loop.shutdown_asyncgens())
            loop.run_until_complete(loop.shutdown_default_executor())
        finally:
            loop.close()

    async def _bind(self, sock: socket.socket, who: Principal) -> Binding:
        host, port = sock.getsockname()[:2]
        binding = Binding(self, who, (str(host), int(port)))
        binding._server = await asyncio.start_server(  # noqa: SLF001 -- made here
            binding._accept,  # noqa: SLF001
            sock=sock,
            limit=READ_SIZE,
            backlog=_BACKLOG,
        )
        self._bindings.add(binding)
        return binding

    def _close_bindings(self) -> None:
        for binding in list(self._bindings):
            binding._close_now()  # noqa: SLF001 -- the proxy's own bindings
        self._ctx.pool.close()

    def _emit(self, record: RequestRecord) -> None:
        try:
            self._on_record(record)
        except Exception:  # a broken audit sink must not stop the proxy
            self.record_errors += 1
            logger.exception("egress proxy: on_record failed")

    # --- crossing into the proxy's thread -----------------------------------------

    def _submit(self, coro: Coroutine[Any, Any, Binding]) -> Binding:
        with self._lock:
            loop = self._loop
            if self._stopped or loop is None:
                coro.close()
                raise UsageError("this egress proxy is closed; make a new one")
            if threading.current_thread() is self._thread:
                coro.close()
                raise UsageError("serve() cannot be called from the proxy's own thread")
            future = asyncio.run_coroutine_threadsafe(coro, loop)
        try:
            return future.result()
        except concurrent.futures.CancelledError:  # closed while binding
            raise UsageError("this egress proxy is closed; make a new one") from None

    def _call(self, fn: Callable[[], None]) -> None:
        """Run ``fn`` on the proxy's thread and wait for it; nothing once stopped."""
        if threading.current_thread() is self._thread:
            fn()
            return
        done = threading.Event()

        def run() -> None:
            try:
                fn()
            finally:
                done.set()

        with self._lock:
            if self._stopped or self._loop is None:
                return
            self._loop.call_soon_threadsafe(run)
        done.wait(_JOIN_S)
