"""One HTTP request through the proxy: decide, inject, forward, relay, record.

An ``Exchange`` serves one request read from the client: an absolute-form
request on a plain connection, or an origin-form one inside an inspected tunnel.
It asks the network policy, refuses with a JSON body when the answer is no,
injects the credential the deciding rule names, takes an idle connection to the
origin from the binding's pool or connects to the SSRF-checked address, streams
the body each way under the size caps, strips every materialised secret from
what comes back, puts a clean connection back in the pool, and emits exactly one
``RequestRecord``. A request that can be replayed (an idempotent method, no
body) and fails on a pooled connection before any byte of a response (the
origin closed it as it was taken) is sent once more on a fresh connection.

Everything runs on the proxy's event loop; the only thread hop is the credential
broker's ``materialise`` (a source may run a command for seconds).
"""

from __future__ import annotations

import asyncio
import functools
from typing import TYPE_CHECKING, Any

import h11

from enclosure.egress._proxy_peer import refuse
from enclosure.egress._proxy_record import (
    Draft,
    StreamStripper,
    hold_for,
    logged_headers,
)
from enclosure.egress._proxy_wire import (
    BAD_REQUEST,
    CLOSED,
    RESPONSE_TOO_LARGE,
    TIMEOUT,
    TOO_LARGE,
    UNSUPPORTED,
    UPSTREAM,
    Target,
    body_length,
    clean_headers,
    parse_absolute,
    parse_origin,
    wants_upgrade,
)
from enclosure.errors import CredentialError, EgressRefused

if TYPE_CHECKING:
    from collections.abc import Callable, Iterable
    from types import TracebackType

    from enclosure.egress._proxy_peer import Context, Peer, Slot, Upstream
    from enclosure.egress._rules import Principal, Verdict

__all__ = ["Exchange"]

_SCOPE_CODES = frozenset({"E-CREDENTIAL-SCOPE", "E-CREDENTIAL-REVOKED"})
_IDEMPOTENT = frozenset({b"GET", b"HEAD", b"OPTIONS", b"TRACE", b"PUT", b"DELETE"})
"""RFC 9110 9.2.2: methods whose request may be sent twice to the same effect."""
_DEFAULT_PROTOCOL_ERROR = "malformed HTTP/1.1"
_Head = tuple[bytes, bytes, list[tuple[bytes, bytes]]]
"""A request head to send: method, origin-form target, headers."""


class _UpstreamErrors:
    """Translates failures talking to the upstream into coded refusals."""

    __slots__ = ("_idle", "_what")

    def __init__(self, what: str, idle: float) -> None:
        self._what = what
        self._idle = idle

    def __enter__(self) -> None:
        return None

    def __exit__(
        self,
        kind: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if exc is None:
            return
        refused = self.translate(exc)
        if refused is not None:
            raise refused from exc

    def translate(self, exc: BaseException | None) -> EgressRefused | None:
        """The refusal for ``exc``, or None when it is not an upstream failure."""
        if isinstance(exc, TimeoutError):
            return EgressRefused(
                f"{self._what} sent nothing for {self._idle:g} s",
                code=TIMEOUT,
                status=504,
            )
        if isinstance(exc, h11.ProtocolError):
            # h11 quotes the offending bytes, which may echo an injected secret.
            return EgressRefused(
                f"{self._what} broke HTTP/1.1", code=UPSTREAM, status=502
            )
        if isinstance(exc, OSError):
            why = exc.strerror or type(exc).__name__
            return EgressRefused(
                f"{self._what} failed: {why}", code=UPSTREAM, status=502
            )
        return None


class Exchange:
    """One request from the client, answered by its upstream or by the proxy.

    Args:
        ctx: the proxy's shared parts.
        who: the binding's principal.
        client: the client connection (h11 server role).
        slot: holds the upstream while the request uses it; the way to the pool.
        request: the request head h11 just read.
        tunnel: ``(host, port)`` inside an inspected CONNECT, else None.
    """

    def __init__(
        self,
        ctx: Context,
        who: Principal,
        client: Peer,
        slot: Slot,
        request: h11.Request,
        tunnel: tuple[str, int] | None,
    ) -> None:
        self.ctx = ctx
        self.who = who
        self.client = client
        self.slot = slot
        self.request = request
        self.fields: list[tuple[bytes, bytes]] = list(request.headers)
        """The request's headers, names in lower case (read once)."""
        self.tunnel = tunnel
        self.draft = Draft(
            who,
            method=request.method.decode("ascii", "replace"),
            scheme="https" if tunnel else "http",
        )
        if tunnel is not None:  # known before the target parses
            self.draft.host, self.draft.port = tunnel
        self.responded: int | None = None
        """``client.sent`` when the response head was written, if it was."""
        self.upstream_used = False
        self.reused = False
        """The upstream came from the pool (and no retry has replaced it)."""
        self.idle = ctx.spec.idle_timeout

    async def run(self) -> bool:
        """Serve the request; whether the client connection can take another."""
        draft = self.draft
        try:
            await self._serve()
        except EgressRefused as exc:
            return await self._failed(exc)
        except h11.RemoteProtocolError as exc:  # the client's body broke HTTP
            reason = str(exc) or _DEFAULT_PROTOCOL_ERROR
            return await self._failed(
                EgressRefused(reason, code=BAD_REQUEST, status=400)
            )
        except asyncio.CancelledError:
            draft.fail(draft.status, CLOSED, "the proxy closed the connection", "error")
            raise
        except OSError as exc:  # the client went away or stalled mid-request
            why = "stalled" if isinstance(exc, TimeoutError) else "failed"
            draft.fail(draft.status, CLOSED, f"the client connection {why}", "error")
            self.slot.abort()
            return False
        finally:
            logged = draft.request_sample or draft.response_sample
            self.ctx.emit(draft.finish(self.ctx.strip() if logged else None))
        return True

    async def _failed(self, exc: EgressRefused) -> bool:
        if self.upstream_used:
            self.slot.abort()
        else:  # taken or dialled but never written to: still clean
            self.slot.release()
        if self.responded is not None and self.client.sent > self.responded:
            # Too late for a refusal: cut, so the client sees the response fail.
            self.draft.fail(self.draft.status, exc.code, exc.message, "error")
            self.client.abort()
            return False
        if self.responded is not None:  # the head is still ours: answer instead
            self.client.pending.clear()
        return await refuse(self.client, exc, self.draft, strip=self.ctx.strip())

    def _target(self) -> Target:
        raw = self.request.target
        if self.tunnel is None:
            target = parse_absolute(raw)
        else:
            target = parse_origin(raw, "https", *self.tunnel)
        draft = self.draft
        draft.scheme = target.scheme
        draft.host, draft.port, draft.path = target.host, target.port, target.path
        return target

    def _decide(self, target: Target) -> Verdict:
        draft = self.draft
        if wants_upgrade(self.fields):
            raise EgressRefused(
                "protocol upgrades (WebSocket, h2c) are not supported by the proxy",
                code=UNSUPPORTED,
                status=403,
            )
        verdict = self.ctx.policy.request(
            self.who,
            draft.method,
            target.host,
            target.port,
            target.target,
            scheme=target.scheme,
            literal=target.literal,
        )
        return draft.decided(verdict)

    async def _serve(self) -> None:
        target = self._target()
        verdict = self._decide(target)
        ctx, request, draft = self.ctx, self.request, self.draft
        length = body_length(self.fields)
        cap = ctx.spec.max_request_body
        if length is not None and length > cap:
            raise EgressRefused(
                f"the request body ({length} bytes) is over the {cap}-byte limit",
                code=TOO_LARGE,
                status=413,
                rule=verdict.rule,
            )
        if ctx.spec.log_bodies:
            draft.request_headers = logged_headers(self.fields, ctx.strip())
            draft.request_sample = ctx.sample()
        headers = [(b"host", target.authority.encode())]
        headers += clean_headers(self.fields, keep_length=True)
        if length is None:
            headers.append((b"transfer-encoding", b"chunked"))
        origin = target.target
        # Connect (SSRF check included) before a secret is fetched for it.
        upstream = await self._upstream(target, verdict)
        if verdict.credential is not None:
            headers, origin = await self._inject(verdict, target.host, headers, origin)
        if ctx.strip() is not None:
            # A compressed echo would carry a secret past the stripper.
            headers = [(n, v) for n, v in headers if n.lower() != b"accept-encoding"]
            headers.append((b"accept-encoding", b"identity"))
        if self.client.conn.they_are_waiting_for_100_continue:
            self.client.write(h11.InformationalResponse(status_code=100, headers=[]))
        errors = _UpstreamErrors(f"the upstream {draft.host}:{draft.port}", self.idle)
        head = (request.method, origin.encode(), headers)
        await self._send_request(upstream, head, cap)
        replayable = length == 0 and request.method in _IDEMPOTENT
        upstream, response = await self._answer(
            upstream, head, target, verdict, errors, replayable=replayable
        )
        await self._relay(upstream, response, errors)

    async def _inject(
        self,
        verdict: Verdict,
        host: str,
        headers: list[tuple[bytes, bytes]],
        origin: str,
    ) -> tuple[list[tuple[bytes, bytes]], str]:
        name = verdict.credential
        assert name is not None  # noqa: S101 -- the caller checked
        broker = self.ctx.broker
        if broker is None:
            raise EgressRefused(
                f"credential {name} is needed but the proxy has no credential broker",
                code="E-CREDENTIAL-UNAVAILABLE",
                status=502,
                rule=verdict.rule,
            )
        loop = asyncio.get_running_loop()
        fetch = functools.partial(broker.materialise, name, self.who, host=host)
        try:
            secret = await loop.run_in_executor(self.ctx.executor, fetch)
        except CredentialError as exc:
            status = 403 if exc.code in _SCOPE_CODES else 502
            raise EgressRefused(
                exc.message, code=exc.code, status=status, rule=verdict.rule
            ) from exc
        self.draft.credential = name
        return broker.apply(secret, headers, origin)

    async def _upstream(self, target: Target, verdict: Verdict) -> Upstream:
        """A pooled connection this request may use, else a fresh one; held."""
        key = (target.scheme, target.host, target.port)
        upstream = self.slot.take(key, allow_private=verdict.allow_private)
        if upstream is None:
            return await self._dial(target, verdict)
        self.reused = True
        self.draft.address = upstream.shown
        return upstream

    async def _dial(self, target: Target, verdict: Verdict) -> Upstream:
        """Resolve and check once, connect to a checked address; held in the slot."""
        draft, dialer = self.draft, self.ctx.dialer
        addresses = await dialer.check(
            target.host,
            target.port,
            allow_private=verdict.allow_private,
            rule=verdict.rule,
        )
        draft.address = str(addresses[0])
        upstream = await dialer.open(target.scheme, target.host, target.port, addresses)
        self.slot.put(upstream)
        draft.address = upstream.shown
        return upstream

    async def _send_request(self, upstream: Upstream, head: _Head, cap: int) -> None:
        draft, client = self.draft, self.client
        errors = _UpstreamErrors(f"the upstream {draft.host}:{draft.port}", self.idle)
        self.upstream_used = True
        with errors:  # the head is checked here, injected credential included
            upstream.write_request(*head)
        sample = draft.request_sample
        while True:
            event = client.poll()
            if event is h11.NEED_DATA:
                with errors:
                    await upstream.flush()
                event = await client.next_event(self.idle)
            if isinstance(event, h11.Data):
                draft.bytes_up += len(event.data)
                if draft.bytes_up > cap:
                    raise EgressRefused(
                        f"the request body is over the {cap}-byte limit",
                        code=TOO_LARGE,
                        status=413,
                        rule=draft.rule,
                    )
                if sample is not None:
                    sample.add(event.data)
                with errors:
                    upstream.write(h11.Data(data=event.data))
            elif isinstance(event, h11.EndOfMessage):
                with errors:
                    upstream.write(h11.EndOfMessage())
                return  # flushed by the read of the response
            else:  # pragma: no cover -- h11 raises before anything else
                raise h11.RemoteProtocolError(_DEFAULT_PROTOCOL_ERROR)

    async def _answer(
        self,
        upstream: Upstream,
        head: _Head,
        target: Target,
        verdict: Verdict,
        errors: _UpstreamErrors,
        *,
        replayable: bool,
    ) -> tuple[Upstream, h11.Response]:
        """The response head, and the upstream it came over.

        A pooled connection the origin closed just as it was taken fails before
        any byte of a response: a replayable request then goes once more over a
        fresh connection (checked and dialled as any new one is). A timeout is
        not retried: the origin may be working on the request.
        """
        received = upstream.received
        try:
            return upstream, await self._response_head(upstream)
        except (OSError, h11.ProtocolError) as exc:
            stale = (
                self.reused
                and replayable
                and upstream.received == received
                and not isinstance(exc, TimeoutError)
            )
            if not stale:
                refused = errors.translate(exc)
                assert refused is not None  # noqa: S101 -- both kinds translate
                raise refused from exc
        self.reused = False
        self.slot.abort()
        upstream = await self._dial(target, verdict)
        with errors:
            upstream.write_request(*head)
            upstream.write(h11.EndOfMessage())
            return upstream, await self._response_head(upstream)

    async def _response_head(self, upstream: Upstream) -> h11.Response:
        while True:
            event = await upstream.next_event(self.idle)
            if isinstance(event, h11.Response):
                return event
            if not isinstance(event, h11.InformationalResponse):
                raise h11.RemoteProtocolError("closed before a response")
            if event.status_code == 101:  # noqa: PLR2004 -- we never asked to switch
                raise h11.RemoteProtocolError("switched protocols unasked")

    def _check_response_length(self, fields: list[tuple[bytes, bytes]]) -> None:
        cap = self.ctx.spec.max_response_body
        for name, value in fields:
            if name == b"content-length" and int(value) > cap:
                raise EgressRefused(
                    f"the response body ({int(value)} bytes) is over the "
                    f"{cap}-byte limit",
                    code=RESPONSE_TOO_LARGE,
                    status=502,
                    rule=self.draft.rule,
                )

    async def _relay(
        self, upstream: Upstream, response: h11.Response, errors: _UpstreamErrors
    ) -> None:
        draft, client, ctx = self.draft, self.client, self.ctx
        fields = list(response.headers)
        self._check_response_length(fields)
        strip = ctx.strip()
        bodiless = self.request.method == b"HEAD" or response.status_code in {204, 304}
        if strip is not None and not bodiless and _encoded(fields):
            raise EgressRefused(
                f"the upstream {draft.host}:{draft.port} sent an encoded body "
                "(Content-Encoding) although the proxy asked for identity; it "
                "cannot be checked for secrets",
                code=UPSTREAM,
                status=502,
            )
        headers = clean_headers(fields, keep_length=strip is None or bodiless)
        reason = response.reason
        if strip is not None:
            headers = [(name, strip(value)) for name, value in headers]
            reason = strip(reason)
        draft.status = response.status_code
        if ctx.spec.log_bodies:
            draft.response_headers = logged_headers(headers, strip)
            draft.response_sample = ctx.sample()
        client.write_response(response.status_code, reason, headers)
        self.responded = client.sent
        await self._relay_body(upstream, errors, strip)
        if upstream.next_cycle():
            self.slot.release()  # to the pool, when clean
        else:
            self.slot.abort()

    async def _relay_body(
        self,
        upstream: Upstream,
        errors: _UpstreamErrors,
        strip: Callable[[bytes], bytes] | None,
    ) -> None:
        draft, client = self.draft, self.client
        cap = self.ctx.spec.max_response_body
        broker = self.ctx.broker
        hold = hold_for(broker.secrets()) if broker is not None else 0
        stripper = StreamStripper(strip, hold) if strip else None
        sample = draft.response_sample
        while True:
            with errors:
                event: Any = upstream.poll()
            if event is h11.NEED_DATA:
                await client.flush()
                with errors:
                    event = await upstream.next_event(self.idle)
            if isinstance(event, h11.Data):
                draft.bytes_down += len(event.data)
                if draft.bytes_down > cap:
                    raise EgressRefused(
                        f"the response body is over the {cap}-byte limit",
                        code=RESPONSE_TOO_LARGE,
                        status=502,
                    )
                data = stripper.feed(event.data) if stripper else event.data
            elif isinstance(event, h11.EndOfMessage):
                data = stripper.flush() if stripper else b""
            else:  # pragma: no cover -- h11 raises on a truncated body
                raise EgressRefused(
                    "the upstream closed mid-body", code=UPSTREAM, status=502
                )
            if data:
                if sample is not None:
                    sample.add(data)
                client.write(h11.Data(data=data))
            if isinstance(event, h11.EndOfMessage):
                await client.send(h11.EndOfMessage())
                return


def _encoded(headers: Iterable[tuple[bytes, bytes]]) -> bool:
    """Whether a response body is compressed or otherwise encoded."""
    return any(
        name == b"content-encoding" and value.strip().lower() not in {b"", b"identity"}
        for name, value in headers
    )
