"""Both ends of a proxied exchange: HTTP/1.1 over asyncio streams, and dialling out.

A ``Peer`` is one HTTP/1.1 connection (``_proxy_h1``: h11's events and rules)
on one stream pair: the client (the proxy plays the server role) or an
``Upstream`` (the proxy plays the client role). A ``Dialer`` turns a host into
an ``Upstream`` the only safe way: the name is resolved once and every answer
checked (``_ssrf``), and the proxy connects to one of exactly those addresses,
in order (TLS with SNI and verification for the host name). A ``Slot`` holds
the upstream a client connection is using: taken from the proxy's ``Pool`` of
idle connections or freshly dialled, put back when its exchange ends clean, and
aborted by a binding close. ``Context`` is what all connections of a proxy
share; ``refuse`` answers a client with the proxy's JSON refusal.
"""

from __future__ import annotations

import asyncio
import ssl
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import h11

from enclosure.egress._proxy_h1 import Connection
from enclosure.egress._proxy_record import BodySample
from enclosure.egress._proxy_wire import (
    TIMEOUT,
    UPSTREAM,
    PolicyRefused,
    outcome_of,
    raw_refusal,
    refusal_response,
)
from enclosure.egress._ssrf import checked_address, refusal
from enclosure.errors import EgressRefused

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Hashable
    from concurrent.futures import Executor
    from ipaddress import IPv4Address, IPv6Address

    from enclosure.egress._ca import RunCA
    from enclosure.egress._proxy_pool import Pool
    from enclosure.egress._proxy_record import Draft, RequestRecord
    from enclosure.egress._rules import NetworkPolicy
    from enclosure.egress._ssrf import Resolver
    from enclosure.identity import CredentialBroker
    from enclosure.manifest import NetworkSpec

    IPAddress = IPv4Address | IPv6Address
    Connect = Callable[
        ..., Awaitable[tuple[asyncio.StreamReader, asyncio.StreamWriter]]
    ]

__all__ = ["READ_SIZE", "Context", "Dialer", "Peer", "Slot", "Upstream", "refuse"]

READ_SIZE = 64 * 1024


class Peer:
    """One side's HTTP/1.1 connection (``_proxy_h1``) over its stream pair.

    What ``write`` produces is held until ``flush`` (or the next read from this
    peer), so a response head and a small body leave in one packet.
    """

    __slots__ = ("conn", "pending", "reader", "received", "sent", "writer")

    def __init__(
        self,
        role: type[h11.CLIENT | h11.SERVER],
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        self.conn = Connection(role)
        self.pending: list[bytes] = []
        self.sent = 0
        """Bytes handed to the transport so far."""
        self.received = 0
        """Bytes read from the peer so far."""
        self.reader = reader
        self.writer = writer

    def poll(self) -> Any:
        """The next event already received, or ``h11.NEED_DATA``; never waits."""
        return self.conn.next_event()

    async def next_event(self, idle_s: float) -> Any:
        """The next h11 event, reading as needed; ``PAUSED`` after a CONNECT.

        Whatever is pending for this peer is flushed before waiting on it.

        Raises:
            TimeoutError: nothing arrived for ``idle_s`` seconds.
            h11.RemoteProtocolError: the peer broke HTTP/1.1.
            OSError: the connection failed.
        """
        conn = self.conn
        while True:
            event = conn.next_event()
            if event is not h11.NEED_DATA:
                return event
            if self.pending:
                await self.flush()
            async with asyncio.timeout(idle_s):
                data = await self.reader.read(READ_SIZE)
            self.received += len(data)
            conn.receive_data(data)

    def write(self, event: Any) -> None:
        """Hold ``event``'s bytes for the next ``flush``."""
        data = self.conn.send(event)
        if data:
            self.pending.append(data)

    def write_request(
        self, method: bytes, target: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Hold a request head, checked (``Connection.send_request``)."""
        self.pending.append(self.conn.send_request(method, target, headers))

    def write_response(
        self, status: int, reason: bytes, headers: list[tuple[bytes, bytes]]
    ) -> None:
        """Hold a response head, checked and framed (``Connection.send_response``)."""
        self.pending.append(self.conn.send_response(status, reason, headers))

    def write_raw(self, data: bytes) -> None:
        """Hold bytes h11 did not make (a refusal after h11 gave up)."""
        self.pending.append(data)

    async def flush(self) -> None:
        """Write what is pending; wait while the transport's buffer is full."""
        pending = self.pending
        if pending:
            data = pending[0] if len(pending) == 1 else b"".join(pending)
            pending.clear()
            self.sent += len(data)
            self.writer.write(data)
        await self.writer.drain()

    async def send(self, event: Any) -> None:
        """Write ``event`` and flush."""
        self.write(event)
        await self.flush()

    def next_cycle(self) -> bool:
        """Get ready for the next request on this connection, if it can take one."""
        conn = self.conn
        if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
            conn.start_next_cycle()
            return True
        return False

    def abort(self) -> None:
        """Drop the connection now (RST where the kernel can), buffers discarded."""
        self.writer.transport.abort()


class Upstream(Peer):
    """A connection to an origin, for one (scheme, host, port)."""

    __slots__ = ("address", "key", "public", "shown")

    def __init__(
        self,
        key: tuple[str, str, int],
        address: IPAddress,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
    ) -> None:
        super().__init__(h11.CLIENT, reader, writer)
        self.key = key
        self.address = address
        self.shown = str(address)
        """The address as records show it."""
        self.public = refusal(address) is None

    def clean(self) -> bool:
        """Whether a request may be sent now: idle both ways, nothing unread, open.

        Bytes the origin sent while idle (a 408 before it closes, say) make a
        connection unclean: the next response would not be the next request's.
        """
        conn = self.conn
        if conn.our_state is not h11.IDLE or conn.their_state is not h11.IDLE:
            return False
        unread, closed = conn.trailing_data
        reader = self.reader
        return (
            not unread
            and not closed
            # asyncio has no public peek; at_eof() is False while bytes wait.
            and not getattr(reader, "_buffer", None)
            and not reader.at_eof()
            and reader.exception() is None
            and not self.writer.is_closing()
        )

    def reusable_for(self, key: tuple[str, str, int], *, allow_private: bool) -> bool:
        """Whether the next request may go over this connection, as it is now.

        Same origin, an address the request's verdict may reach, and clean.
        """
        return key == self.key and (allow_private or self.public) and self.clean()


class Slot:
    """The upstream one client connection is using, and its way to the pool.

    An upstream sits here from the moment a request takes or dials it until its
    exchange ends: then ``release`` puts it back in the pool (when clean) or
    ``abort`` closes it. A binding close aborts what is here; the pool closes
    the binding's idle ones.

    Args:
        pool: the proxy's idle connections.
        owner: the binding the client connection belongs to; pool entries are
            never shared between owners.
    """

    __slots__ = ("owner", "pool", "upstream")

    def __init__(self, pool: Pool, owner: Hashable) -> None:
        self.pool = pool
        self.owner = owner
        self.upstream: Upstream | None = None

    def take(
        self, key: tuple[str, str, int], *, allow_private: bool
    ) -> Upstream | None:
        """An idle pooled connection that may carry this request, held here; or None."""
        self.release()
        upstream = self.pool.take(self.owner, key, allow_private=allow_private)
        self.upstream = upstream
        return upstream

    def put(self, upstream: Upstream) -> None:
        """Hold a freshly dialled upstream (whatever was held is closed)."""
        self.abort()
        self.upstream = upstream

    def release(self) -> None:
        """Give the held upstream back to the pool, or close it if it is not clean."""
        upstream, self.upstream = self.upstream, None
        if upstream is not None and not self.pool.put(self.owner, upstream):
            upstream.abort()

    def abort(self) -> None:
        """Close the held upstream now.

        Never a graceful TLS shutdown: a connection the proxy gives up is done
        with (or failed), and waiting for the origin's close_notify would keep
        a transport alive past the proxy's own shutdown.
        """
        if self.upstream is not None:
            self.upstream.abort()
            self.upstream = None


class Dialer:
    """SSRF-checked connections to upstreams.

    Args:
        resolver: where names are resolved (once per connection).
        is_literal_allowed: whether a rule names an IP-literal host.
        tls: makes the context that verifies upstreams; called once, lazily.
        timeout: the connect (and TLS handshake) timeout in seconds.
    """

    def __init__(
        self,
        *,
        resolver: Resolver,
        is_literal_allowed: Callable[[str], bool],
        tls: Callable[[], ssl.SSLContext],
        timeout: float,
    ) -> None:
        self._resolver = resolver
        self._literal = is_literal_allowed
        self._tls_factory = tls
        self._tls: ssl.SSLContext | None = None
        self._timeout = timeout
        self.connect: Connect = asyncio.open_connection
        """How to open a TCP connection; tests swap it where a real one would
        leave the machine."""

    async def check(
        self, host: str, port: int, *, allow_private: bool, rule: str | None
    ) -> list[IPAddress]:
        """Resolve once and check; the addresses to try, in order.

        Raises:
            EgressRefused: ``E-EGRESS-SSRF`` (403) or ``E-EGRESS-DNS`` (502).
        """
        recording = _Recording(self._resolver)
        first = await checked_address(
            host,
            port,
            resolver=recording,
            allow_private=allow_private,
            is_literal_allowed=self._literal(host),
            rule=rule,
        )
        # checked_address passed the whole answer, so the others may be dialled
        # too (filtered again all the same); nothing resolves the name twice.
        rest = [
            a
            for a in recording.answers
            if a != first and (allow_private or refusal(a) is None)
        ]
        return [first, *rest]

    async def open(
        self, scheme: str, host: str, port: int, addresses: list[IPAddress]
    ) -> Upstream:
        """Connect to the first of ``addresses`` that answers.

        TLS for ``https``, verified against ``host``. The connect timeout covers
        all the attempts together.

        Raises:
            EgressRefused: ``E-EGRESS-TIMEOUT`` (504) or ``E-EGRESS-UPSTREAM`` (502).
        """
        tls: ssl.SSLContext | None = None
        if scheme == "https":
            if self._tls is None:
                self._tls = self._tls_factory()
            tls = self._tls
        deadline = asyncio.get_running_loop().time() + self._timeout
        failures: list[str] = []
        for address in addresses:
            try:
                async with asyncio.timeout_at(deadline):
                    reader, writer = await self.connect(
                        str(address),
                        port,
                        ssl=tls,
                        server_hostname=host if tls is not None else None,
                        limit=READ_SIZE,
                    )
            except TimeoutError as exc:
                raise EgressRefused(
                    f"{host}:{port} ({address}) did not answer within "
                    f"{self._timeout:g} s",
                    code=TIMEOUT,
                    status=504,
                ) from exc
            except ssl.SSLCertVerificationError as exc:
                raise EgressRefused(
                    f"the certificate of {host} is not trusted: {exc.verify_message}",
                    code=UPSTREAM,
                    status=502,
                ) from exc
            except OSError as exc:  # refused, unreachable, TLS failed: the next one
                failures.append(f"{address}: {exc.strerror or type(exc).__name__}")
                continue
            return Upstream((scheme, host, port), address, reader, writer)
        raise EgressRefused(
            f"cannot connect to {host}:{port} ({'; '.join(failures)})",
            code=UPSTREAM,
            status=502,
        )


class _Recording:
    """A resolver that keeps its last answer, so every checked address is known."""

    __slots__ = ("_inner", "answers")

    def __init__(self, inner: Resolver) -> None:
        self._inner = inner
        self.answers: list[IPAddress] = []

    async def resolve(self, host: str, port: int) -> list[IPAddress]:
        self.answers = await self._inner.resolve(host, port)
        return self.answers


@dataclass(frozen=True, slots=True)
class Context:
    """What every connection of one proxy shares."""

    spec: NetworkSpec
    policy: NetworkPolicy
    broker: CredentialBroker | None
    ca: RunCA
    dialer: Dialer
    emit: Callable[[RequestRecord], None]
    executor: Executor
    """Runs ``broker.materialise`` off the event loop."""
    pool: Pool
    """Idle upstream connections, for the next request of the same binding."""

    def strip(self) -> Callable[[bytes], bytes] | None:
        """The broker's ``strip`` once any secret is known; None (no work) before."""
        broker = self.broker
        return broker.strip if broker is not None and broker.secrets() else None

    def sample(self) -> BodySample | None:
        """A body sample for a record, when the manifest logs bodies."""
        spec = self.spec
        return BodySample(spec.log_body_bytes, 1024) if spec.log_bodies else None


async def refuse(
    client: Peer,
    exc: EgressRefused,
    draft: Draft,
    *,
    strip: Callable[[bytes], bytes] | None = None,
) -> bool:
    """Answer ``exc`` as JSON and note it on ``draft``; whether to keep the client.

    The connection is kept when the client's request was read in full. With
    ``strip``, secrets are stripped from the reason first (it may quote what an
    upstream sent).
    """
    if strip is not None and not isinstance(exc, PolicyRefused):
        reason = strip(exc.message.encode()).decode("utf-8", "replace")
        exc = EgressRefused(reason, code=exc.code, status=exc.status, rule=exc.rule)
    draft.fail(exc.status, exc.code, exc.message, outcome_of(exc.status))
    if exc.rule is not None:
        draft.rule = exc.rule
    close = not _settled(client.conn)
    head, body = refusal_response(
        exc,
        host=draft.host,
        method=draft.method,
        close=close,
        retry_after_s=exc.retry_after_s if isinstance(exc, PolicyRefused) else None,
    )
    try:
        client.write(head)
        client.write(h11.Data(data=body))
        client.write(h11.EndOfMessage())
    except h11.LocalProtocolError:
        client.write_raw(raw_refusal(exc, host=draft.host, method=draft.method))
        close = True
    await client.flush()
    return not close


def _settled(conn: Connection) -> bool:
    """Read the rest of the request if it is already buffered (a GET's end).

    True when the client's side is complete, so the connection can go on.
    """
    try:
        while conn.their_state is h11.SEND_BODY:
            if not isinstance(conn.next_event(), (h11.Data, h11.EndOfMessage)):
                break
    except h11.RemoteProtocolError:
        return False
    return conn.their_state not in {h11.SEND_BODY, h11.ERROR}
