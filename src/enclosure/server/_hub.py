"""Live events: the decision log's observer fans each stored event out to listeners.

The log calls ``Hub.observe`` in the appending thread, after the commit; each
listener (an SSE stream, a waiting agent's long poll) owns an asyncio queue on its
event loop and gets every event from then on. Listeners subscribe before reading
the backlog from the log, so nothing falls between the two; the seq dedupes.

Events other processes store arrive through ``publish`` (see ``_watch``), as does a
``Poke``: an approval changed elsewhere, re-read it. A ``Recheck`` says a token was
revoked or one of its sessions ended here: the streams opened with that token ask at
once whether it still holds: ``rechecks(token_id)`` counts them, so a stream sees
one at once whatever waits in its queue before it. The hub drops an event it has
already handed out (the watcher also reads this process's own events), but it
cannot promise order across processes: a stream that needs order re-reads the log.

Must not know: HTTP, routes or roles.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import threading
from typing import TYPE_CHECKING, NamedTuple

if TYPE_CHECKING:
    from enclosure.audit import Appended, Event

__all__ = ["CLOSED", "Hub", "Item", "Listener", "Live", "Poke", "Recheck"]

_RECENT = 4096
"""How many handed-out seqs the hub remembers to drop duplicates."""


class Live(NamedTuple):
    """One stored event as listeners see it."""

    seq: int
    hash: str
    event: Event


class Poke(NamedTuple):
    """An approval changed in another process: re-read it (``None``: any of them)."""

    approval_id: str | None


class Recheck(NamedTuple):
    """A token was revoked or a session of it ended in this process."""

    token_id: str


CLOSED: None = None
"""What a listener's queue yields when the hub closes (the server is stopping)."""

Item = Live | Poke | Recheck | None
"""What a listener's queue holds."""


class Listener:
    """One subscriber's queue, fed from any thread."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self.queue: asyncio.Queue[Item] = asyncio.Queue()

    def put(self, item: Item) -> None:
        """Hand ``item`` to the listener's loop (thread-safe)."""
        with contextlib.suppress(RuntimeError):  # its loop closed: the listener left
            self.loop.call_soon_threadsafe(self.queue.put_nowait, item)


class Hub:
    """Fans out stored events to listeners; see the module docstring."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: set[Listener] = set()
        self._recent: collections.deque[int] = collections.deque(maxlen=_RECENT)
        self._seen: set[int] = set()
        self.closed = False
        self._rechecks: dict[str, int] = {}

    def observe(self, appended: Appended, event: Event) -> None:
        """The decision log's observer: quick, never raises."""
        self.publish(Live(appended.seq, appended.hash, event))

    def publish(self, item: Live | Poke | Recheck) -> None:
        """Hand ``item`` to every listener, unless it is an event already handed out."""
        with self._lock:
            if isinstance(item, Recheck):
                count = self._rechecks.get(item.token_id, 0)
                self._rechecks[item.token_id] = count + 1
            elif isinstance(item, Live):
                if item.seq in self._seen:
                    return
                if len(self._recent) == _RECENT:
                    self._seen.discard(self._recent[0])
                self._recent.append(item.seq)
                self._seen.add(item.seq)
            listeners = list(self._listeners)
        for listener in listeners:
            listener.put(item)

    def rechecks(self, token_id: str) -> int:
        """How many ``Recheck`` of ``token_id`` were published so far."""
        return self._rechecks.get(token_id, 0)

    @property
    def heard(self) -> bool:
        """Whether anyone listens now (a stream, a waiting agent)."""
        return bool(self._listeners)

    def listen(self) -> Listener:
        """A new listener on the running loop; ``leave`` it when done."""
        listener = Listener(asyncio.get_running_loop())
        with self._lock:
            if self.closed:
                listener.queue.put_nowait(CLOSED)
            self._listeners.add(listener)
        return listener

    def leave(self, listener: Listener) -> None:
        """Stop feeding ``listener``."""
        with self._lock:
            self._listeners.discard(listener)

    def close(self) -> None:
        """End every stream: each listener gets ``CLOSED``, later ones at once."""
        with self._lock:
            self.closed = True
            listeners = list(self._listeners)
        for listener in listeners:
            listener.put(CLOSED)
