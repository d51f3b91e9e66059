"""One client connection: its requests, its CONNECT tunnels, and how it is cut.

A plain connection carries absolute-form requests (each an ``Exchange``) and
CONNECTs. A CONNECT the policy allows becomes either a plain tunnel to the
SSRF-checked address (every matching rule is host-only: the proxy copies bytes
and sees nothing) or an inspected one: the proxy answers TLS itself with a leaf
from the run's CA and serves the origin-form requests inside, each decided on
its own. ``abort`` cuts the client, the upstream and the task at once; it is how
a binding close (a run kill) ends open connections.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import h11

from enclosure.egress._proxy_http import Exchange
from enclosure.egress._proxy_peer import READ_SIZE, Peer, Slot, refuse
from enclosure.egress._proxy_record import Draft
from enclosure.egress._proxy_wire import (
    BAD_REQUEST,
    CLOSED,
    bad_request,
    parse_authority,
    raw_refusal,
)
from enclosure.errors import EgressRefused

if TYPE_CHECKING:
    from collections.abc import Hashable

    from enclosure.egress._proxy_peer import Context, Upstream
    from enclosure.egress._rules import Principal, Verdict

__all__ = ["CLIENT_TLS", "ClientConnection"]

CLIENT_TLS = "E-EGRESS-CLIENT-TLS"
"""Records only: the TLS handshake with the sandboxed client failed."""
_ESTABLISHED = b"Connection established"
_CLOSE_S = 5.0
"""How long a closing client may take to answer TLS close_notify."""


class ClientConnection:
    """Serves one accepted client socket until it closes, idles out or is cut.

    ``owner`` is the binding that accepted it: upstream connections are pooled
    per owner, never shared with another binding.
    """

    def __init__(
        self,
        ctx: Context,
        who: Principal,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        *,
        owner: Hashable,
    ) -> None:
        self.ctx = ctx
        self.who = who
        self.client = Peer(h11.SERVER, reader, writer)
        self.slot = Slot(ctx.pool, owner)
        self.task = asyncio.current_task()
        self.cut = False
        self.ended: set[bool] = set()
        """Tunnel directions that reached end of stream (True: the client's)."""

    def abort(self) -> None:
        """Cut the client and upstream connections now and stop serving."""
        self.cut = True
        self.client.abort()
        self.slot.abort()
        if self.task is not None:
            self.task.cancel()

    async def run(self) -> None:
        """Serve requests until the client is done; never raises but cancellation."""
        try:
            await self._serve(self.client, None)
        except (OSError, h11.ProtocolError):
            pass  # the client went away, idled out, or broke HTTP mid-response
        finally:
            self.slot.abort()
            await self._close()

    async def _close(self) -> None:
        """Close the client connection, TLS politely, within a bound."""
        writer = self.client.writer
        if self.client.pending:  # a last answer not yet flushed
            writer.write(b"".join(self.client.pending))
        writer.close()
        if self.cut:
            return
        try:
            async with asyncio.timeout(_CLOSE_S):
                await writer.wait_closed()
        except (OSError, TimeoutError):
            writer.transport.abort()

    async def _serve(self, peer: Peer, tunnel: tuple[str, int] | None) -> None:
        idle = self.ctx.spec.idle_timeout
        while True:
            try:
                event = await peer.next_event(idle)
            except h11.RemoteProtocolError as exc:
                await self._malformed(peer, exc, tunnel)
                return
            if not isinstance(event, h11.Request):
                return  # ConnectionClosed
            if tunnel is None and event.method == b"CONNECT":
                if not await self._connect(event):
                    return
            elif not await Exchange(
                self.ctx, self.who, peer, self.slot, event, tunnel
            ).run():
                return
            if not peer.next_cycle():
                return

    async def _malformed(
        self, peer: Peer, exc: h11.RemoteProtocolError, tunnel: tuple[str, int] | None
    ) -> None:
        """Answer bad HTTP with a raw 400 (h11 will not send any more) and record it."""
        draft = Draft(self.who, method="", scheme="https" if tunnel else "http")
        if tunnel is not None:
            draft.host, draft.port = tunnel
        refusal = EgressRefused(
            str(exc) or "malformed HTTP/1.1", code=BAD_REQUEST, status=400
        )
        draft.fail(400, refusal.code, refusal.message, "denied")
        try:
            peer.write_raw(raw_refusal(refusal, host=draft.host))
            await peer.flush()
        except OSError:
            pass  # nobody left to tell
        finally:
            self.ctx.emit(draft.finish(None))

    async def _connect(self, request: h11.Request) -> bool:
        """Decide a CONNECT, then tunnel or intercept; whether to read on."""
        draft = Draft(self.who, method="CONNECT", scheme="tunnel")
        inner: Peer | None = None
        try:
            verdict = await self._decide_connect(request, draft)
            if not verdict.inspect:
                await self._tunnel(draft.host, draft.port, verdict, draft)
            elif await self._intercept(draft.host, draft):
                inner = Peer(h11.SERVER, self.client.reader, self.client.writer)
        except EgressRefused as exc:
            return await refuse(self.client, exc, draft)
        except asyncio.CancelledError:
            if True in self.ended:  # the client had finished: a normal end
                draft.reason = f"{draft.reason}; closed after the client finished"
            else:
                why = "the proxy closed the connection"
                draft.fail(draft.status, CLOSED, why, "error")
            raise
        finally:
            if inner is None:  # an intercepted tunnel's requests have their own
                self.ctx.emit(draft.finish(None))
        if inner is not None:
            await self._serve(inner, (draft.host, draft.port))
        return False

    async def _decide_connect(self, request: h11.Request, draft: Draft) -> Verdict:
        """Parse and decide a CONNECT; the verdict, when it allows the tunnel."""
        ctx = self.ctx
        target = request.target.decode("ascii", "replace")
        draft.host, draft.port = parse_authority(target, None)
        if not isinstance(
            await self.client.next_event(ctx.spec.idle_timeout), h11.EndOfMessage
        ):
            raise bad_request("a CONNECT request has no body")
        verdict = ctx.policy.connect(self.who, draft.host, draft.port)
        return draft.decided(verdict)

    async def _tunnel(
        self, host: str, port: int, verdict: Verdict, draft: Draft
    ) -> None:
        """A plain tunnel: connect to the checked address, then copy bytes."""
        ctx, client = self.ctx, self.client
        addresses = await ctx.dialer.check(
            host, port, allow_private=verdict.allow_private, rule=verdict.rule
        )
        draft.address = str(addresses[0])
        upstream = await ctx.dialer.open("tunnel", host, port, addresses)
        self.slot.put(upstream)
        draft.address = str(upstream.address)
        await client.send(
            h11.Response(status_code=200, headers=[], reason=_ESTABLISHED)
        )
        draft.status = 200
        early, _ = client.conn.trailing_data
        if early:
            draft.bytes_up += len(early)
            upstream.writer.write(early)
        idle = ctx.spec.idle_timeout
        try:
            async with asyncio.timeout(idle) as deadline:
                async with asyncio.TaskGroup() as tasks:
                    tasks.create_task(
                        _copy(client, upstream, deadline, idle, draft, self.ended)
                    )
                    tasks.create_task(
                        _copy(upstream, client, deadline, idle, draft, self.ended)
                    )
        except TimeoutError:
            draft.reason = f"{draft.reason}; closed after {idle:g} s idle"
            self.slot.abort()

    async def _intercept(self, host: str, draft: Draft) -> bool:
        """Accept the tunnel and answer TLS with the run CA's leaf for ``host``."""
        ctx, client = self.ctx, self.client
        draft.scheme = "https"
        await client.send(
            h11.Response(status_code=200, headers=[], reason=_ESTABLISHED)
        )
        draft.status = 200
        early, _ = client.conn.trailing_data
        if early:  # a ClientHello h11 already read cannot be handed to TLS
            draft.fail(
                200,
                BAD_REQUEST,
                "the client sent data before the tunnel was up",
                "error",
            )
            client.abort()
            return False
        try:
            await client.writer.start_tls(
                ctx.ca.server_context(host),
                ssl_handshake_timeout=ctx.spec.connect_timeout,
            )
        except (OSError, TimeoutError) as exc:  # ssl.SSLError is an OSError
            why = str(exc) or type(exc).__name__
            draft.fail(
                200,
                CLIENT_TLS,
                f"TLS with the client failed (does it trust the run CA?): {why}",
                "error",
            )
            client.abort()
            return False
        return True


async def _copy(
    src: Peer | Upstream,
    dst: Peer | Upstream,
    deadline: asyncio.Timeout,
    idle: float,
    draft: Draft,
    ended: set[bool],
) -> None:
    """Copy one direction of a tunnel, pushing the shared idle deadline back.

    ``ended`` gets ``up`` (whether the client is the source) at end of stream.
    """
    loop = asyncio.get_running_loop()
    up = src.conn.our_role is h11.SERVER  # only the client side plays server
    try:
        while data := await src.reader.read(READ_SIZE):
            if up:
                draft.bytes_up += len(data)
            else:
                draft.bytes_down += len(data)
            deadline.reschedule(loop.time() + idle)
            dst.writer.write(data)
            await dst.writer.drain()
        ended.add(up)
        # The other direction may have failed and aborted both transports; a
        # closing transport's write_eof raises (RuntimeError under uvloop).
        if not dst.writer.is_closing() and dst.writer.can_write_eof():
            dst.writer.write_eof()
    except OSError:  # one side failed: end both directions
        src.abort()
        dst.abort()
