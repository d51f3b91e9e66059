"""Server-Sent Events: the decision log as a live stream, resumable by event id.

Each message is one stored event: ``id`` is its seq, ``event`` its kind, ``data``
``{"seq", "hash", "event"}`` as JSON. A client that reconnects with
``Last-Event-ID`` (or ``?after=``) first gets what it missed from the log, then
live events; the listener is subscribed before the backlog is read, so none fall
between. A comment line every ``HEARTBEAT`` seconds keeps proxies from timing out.

A stream outlives no credential: it asks ``alive`` (the caller's check: the API's
token, the dashboard's session) and ends once the token was revoked or expired or
the session logged out. It asks at once when this server revokes its token or ends
a session of it (a ``Recheck`` from the hub; a stream reading the log asks after any
``Recheck``), before sending an event when it last asked more than ``RECHECK``
seconds ago (so a revocation made by another process lets through at most that
long of events), and otherwise at least every ``HEARTBEAT`` seconds.

Live events may come from other processes (through the watcher), so they can reach
the hub out of order: an event that does not directly follow the last one sent is
taken as a sign to read the log from there instead, which is ordered and complete.

Must not know: roles, storage beyond ``DecisionLog.events``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, TypeGuard

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse

from enclosure.server._hub import Item, Live

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable

    from enclosure.audit import DecisionLog, Event, StoredEvent
    from enclosure.server._api import Ctx

__all__ = ["HEARTBEAT", "RECHECK", "format_message", "stream_events"]

HEARTBEAT = 15.0
RECHECK = 1.0
"""Seconds a stream sends events on one credential check, at most."""
_BACKLOG = 1000


def format_message(seq: int, digest: str, event: Event) -> bytes:
    """One SSE message for a stored event."""
    data = {"seq": seq, "hash": digest, "event": event.model_dump(mode="json")}
    text = json.dumps(data, separators=(",", ":"))
    return f"id: {seq}\nevent: {event.kind}\ndata: {text}\n\n".encode()


def _page(log: DecisionLog, run_id: str | None, after: int) -> list[StoredEvent]:
    return log.events(run_id=run_id, after_seq=after, limit=_BACKLOG)


async def _from_log(
    log: DecisionLog, run_id: str | None, after: int
) -> AsyncIterator[StoredEvent]:
    """The stored events (of ``run_id``) after ``after``, in pages, to the end."""
    while True:
        page = await anyio.to_thread.run_sync(_page, log, run_id, after)
        for stored in page:
            after = stored.seq
            yield stored
        if len(page) < _BACKLOG:
            return


def _fresh(item: Item, run_id: str | None, last: int) -> TypeGuard[Live]:
    """Whether ``item`` is an event of the stream newer than the last one sent."""
    return (
        isinstance(item, Live)
        and item.seq > last
        and (not run_id or item.event.run_id == run_id)
    )


class _Credential:
    """What a stream was opened with, asked about again when the answer is old."""

    def __init__(self, alive: Callable[[], Awaitable[bool]] | None) -> None:
        self._alive = alive
        self._checked = anyio.current_time()

    async def holds(self, within: float) -> bool:
        """Whether it still holds, asking unless asked in the last ``within`` s."""
        if self._alive is None or anyio.current_time() - self._checked < within:
            return True
        self._checked = anyio.current_time()
        return await self._alive()


class _Ended(Exception):
    """The stream's credential no longer holds."""


class _Stream:
    """One client's stream: where it is, its credential, its listener."""

    def __init__(
        self, ctx: Ctx, alive: Callable[[], Awaitable[bool]] | None, after: int
    ) -> None:
        self.last = after
        self.run_id = ctx.query("run_id")
        self.log = ctx.state.enc.log
        self.hub = ctx.state.hub
        self.beat = ctx.state.heartbeat
        self.sending = min(ctx.state.recheck, self.beat)
        self.credential = _Credential(alive)
        self.token_id = ctx.identity.token_id
        self.rechecks = self.hub.rechecks(self.token_id)
        self.listener = self.hub.listen()
        self.wrote = anyio.current_time()

    async def messages(self) -> AsyncIterator[bytes]:
        """The whole stream: the backlog, then live events and heartbeats."""
        try:
            yield b": stream open\n\n"
            async for message in self._from_log():
                yield message
                self.wrote = anyio.current_time()
            while True:
                # A heartbeat when nothing was written for a beat, even while
                # events of other runs keep coming (a proxy's idle timeout).
                quiet = self.beat - (anyio.current_time() - self.wrote)
                item: Item = None
                with anyio.move_on_after(max(0.0, quiet)) as scope:
                    item = await self.listener.queue.get()
                if item is None and not scope.cancelled_caught:  # CLOSED
                    return
                if not await self._holds(item):
                    return
                async for message in self._send(item):
                    yield message
                    self.wrote = anyio.current_time()
        except _Ended:
            return
        finally:
            self.hub.leave(self.listener)

    def _revoked_here(self) -> bool:
        """Whether this server revoked the token since the stream last looked.

        Its token, or a session of it: then the stream asks at once, whatever
        waits in its queue before the ``Recheck``.
        """
        now = self.hub.rechecks(self.token_id)
        moved, self.rechecks = now != self.rechecks, now
        return moved

    async def _holds(self, item: Item) -> bool:
        """Whether the credential holds, asked as ``item`` calls for."""
        if self._revoked_here():
            return await self.credential.holds(0.0)
        if isinstance(item, Live) and _fresh(item, self.run_id, self.last):
            return await self.credential.holds(self.sending)
        # Idle, or nothing for this stream: at least every heartbeat all the same.
        return await self.credential.holds(self.beat)

    async def _send(self, item: Item) -> AsyncIterator[bytes]:
        if item is None:
            yield b": heartbeat\n\n"
        elif isinstance(item, Live) and _fresh(item, self.run_id, self.last):
            if item.seq == self.last + 1:
                self.last = item.seq
                yield format_message(item.seq, item.hash, item.event)
                return
            # Maybe a gap: an event of another process may still be on its way
            # here. The log has them all, in order.
            async for message in self._from_log():
                yield message

    async def _from_log(self) -> AsyncIterator[bytes]:
        async for stored in _from_log(self.log, self.run_id, self.last):
            within = 0.0 if self._revoked_here() else self.sending
            if not await self.credential.holds(within):
                raise _Ended
            self.last = stored.seq
            yield format_message(stored.seq, stored.hash, stored.event)


async def stream_events(
    ctx: Ctx, alive: Callable[[], Awaitable[bool]] | None = None
) -> Any:
    """``GET /api/events``: every event (of ``run_id``) after ``after``, then live.

    ``alive`` is asked as the module says (every ``state.heartbeat`` seconds
    idle, ``state.recheck`` while sending); the stream ends when it says no
    (none: the stream ends only with the server).
    """
    header = ctx.request.headers.get("last-event-id", "")
    resume = header.isascii() and header.isdigit() and int(header) <= 2**62
    after = int(header) if resume else ctx.query_int("after", 0, 2**62)
    stream = _Stream(ctx, alive, after)
    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        stream.messages(), media_type="text/event-stream", headers=headers
    )
