"""Server-Sent Events: the decision log as a live stream, resumable by event id.

Each message is one stored event: ``id`` is its seq, ``event`` its kind, ``data``
``{"seq", "hash", "event"}`` as JSON. A client that reconnects with
``Last-Event-ID`` (or ``?after=``) first gets what it missed from the log, then
live events; the listener is subscribed before the backlog is read, so none fall
between. A comment line every ``HEARTBEAT`` seconds keeps proxies from timing out.

Must not know: roles, storage beyond ``DecisionLog.events``.
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import anyio
import anyio.to_thread
from starlette.responses import StreamingResponse

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

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


async def stream_events(ctx: Ctx) -> Any:
    """``GET /api/events``: every event (of ``run_id``) after ``after``, then live."""
    header = ctx.request.headers.get("last-event-id", "")
    resume = header.isascii() and header.isdigit() and int(header) <= 2**62
    after = int(header) if resume else ctx.query_int("after", 0, 2**62)
    run_id = ctx.query("run_id")
    log = ctx.state.enc.log
    hub = ctx.state.hub
    listener = hub.listen()

    async def messages() -> AsyncIterator[bytes]:
        last = after
        try:
            yield b": stream open\n\n"
            while True:  # the backlog, in pages
                page = await anyio.to_thread.run_sync(_page, log, run_id, last)
                for stored in page:
                    last = stored.seq
                    yield format_message(stored.seq, stored.hash, stored.event)
                if len(page) < _BACKLOG:
                    break
            while True:
                item = None
                with anyio.move_on_after(HEARTBEAT) as scope:
                    item = await listener.queue.get()
                if scope.cancelled_caught:
                    yield b": heartbeat\n\n"
                    continue
                if item is None:  # CLOSED
                    return
                if item.seq <= last or (run_id and item.event.run_id != run_id):
                    continue
                last = item.seq
                yield format_message(item.seq, item.hash, item.event)
        finally:
            hub.leave(listener)

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(
        messages(), media_type="text/event-stream", headers=headers
    )
