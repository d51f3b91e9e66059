"""Server-Sent Events: the decision log as a live stream, resumable by event id.

Each message is one stored event: ``id`` is its seq, ``event`` its kind, ``data``
``{"seq", "hash", "event"}`` as JSON. A client that reconnects with
``Last-Event-ID`` (or ``?after=``) first gets what it missed from the log, then
live events; the listener is subscribed before the backlog is read, so none fall
between. A comment line every ``HEARTBEAT`` seconds keeps proxies from timing out.

A stream outlives no credential: every ``HEARTBEAT`` seconds (busy or idle) it asks
``alive`` (the caller's check: the API's token, the dashboard's session) and ends
once the token was revoked or expired or the session logged out.

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

__all__ = ["HEARTBEAT", "format_message", "stream_events"]

HEARTBEAT = 15.0
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
    """What a stream was opened with, asked about at most once per ``every`` s."""

    def __init__(
        self, alive: Callable[[], Awaitable[bool]] | None, every: float
    ) -> None:
        self._alive = alive
        self._every = every
        self._checked = anyio.current_time()

    async def holds(self) -> bool:
        if self._alive is None or anyio.current_time() - self._checked < self._every:
            return True
        self._checked = anyio.current_time()
        return await self._alive()


async def stream_events(
    ctx: Ctx, alive: Callable[[], Awaitable[bool]] | None = None
) -> Any:
    """``GET /api/events``: every event (of ``run_id``) after ``after``, then live.

    ``alive`` is asked every ``state.heartbeat`` seconds (``HEARTBEAT``); the
    stream ends when it says no (none: the stream ends only with the server).
    """
    header = ctx.request.headers.get("last-event-id", "")
    resume = header.isascii() and header.isdigit() and int(header) <= 2**62
    after = int(header) if resume else ctx.query_int("after", 0, 2**62)
    run_id = ctx.query("run_id")
    log = ctx.state.enc.log
    hub = ctx.state.hub
    beat = ctx.state.heartbeat
    listener = hub.listen()

    async def messages() -> AsyncIterator[bytes]:
        last = after
        credential = _Credential(alive, beat)
        try:
            yield b": stream open\n\n"
            async for stored in _from_log(log, run_id, last):  # the backlog
                last = stored.seq
                yield format_message(stored.seq, stored.hash, stored.event)
            while True:
                item: Item = None
                with anyio.move_on_after(beat) as scope:
                    item = await listener.queue.get()
                if not await credential.holds():
                    return
                if scope.cancelled_caught:
                    yield b": heartbeat\n\n"
                    continue
                if item is None:  # CLOSED
                    return
                if not _fresh(item, run_id, last):
                    continue
                if item.seq == last + 1:
                    last = item.seq
                    yield format_message(item.seq, item.hash, item.event)
                    continue
                # Maybe a gap: an event of another process may still be on its
                # way here. The log has them all, in order.
                async for stored in _from_log(log, run_id, last):
                    last = stored.seq
                    yield format_message(stored.seq, stored.hash, stored.event)
        finally:
            hub.leave(listener)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        messages(), media_type="text/event-stream", headers=headers
    )
