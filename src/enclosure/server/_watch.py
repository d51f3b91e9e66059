"""The watcher: what other processes store in the same database reaches the hub.

A decision made by the CLI, or by a second server on the same database, must wake
the agents waiting here at once, and appear on this server's live streams. One
thread per server listens with ``DecisionLog.changes`` (PostgreSQL NOTIFY, SQLite
``data_version``; see ``audit._changes`` for why those): an ``approval:<id>``
becomes a ``Poke`` for that approval, and any other change makes the watcher read
the events stored after the last one it saw and publish them (the hub drops those
this process already handed out). While nobody listens it reads nothing, and skips
past what this process stored itself, so a busy server without live streams does
not parse its own events twice. Clients never poll.

Each time it starts listening (at first, and again after a failure such as a
database restart, ``retry`` seconds later, logged) it reads the events it missed
and pokes every waiter, so a lost notification strands nobody. Waiters also
re-check on their own now and then (``_wait``), so even a watcher that cannot
reconnect only delays them.

Must not know: HTTP, routes, roles or SQL.
"""

from __future__ import annotations

import logging
import threading
from typing import TYPE_CHECKING

from enclosure.audit import Appended
from enclosure.errors import AuditUnavailable
from enclosure.server._hub import Poke

if TYPE_CHECKING:
    from enclosure.audit import DecisionLog
    from enclosure.audit._changes import Changes
    from enclosure.server._hub import Hub

__all__ = ["Watcher"]

logger = logging.getLogger("enclosure")

_PAGE = 1000
_WAIT = 1.0
_APPROVAL = "approval:"


class Watcher:
    """Feeds ``hub`` with what other processes commit to ``log``; see the module.

    Args:
        log: the decision log this server writes to.
        hub: where live events and pokes go.
        retry: seconds between attempts to listen again after a failure.
    """

    def __init__(self, log: DecisionLog, hub: Hub, *, retry: float = 1.0) -> None:
        self._log = log
        self._hub = hub
        self._retry = retry
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._changes: Changes | None = None
        self._cursor: int | None = None  # the last seq published (or skipped)
        self.listening = threading.Event()
        """Set while a listener is open and the backlog it may have missed is read."""
        self._thread = threading.Thread(
            target=self._run, name="enclosure watcher", daemon=True
        )

    def start(self) -> None:
        """Start listening in a background thread."""
        self._thread.start()

    def stop(self) -> None:
        """Stop listening and wait (briefly) for the thread to end."""
        self._stop.set()
        with self._lock:
            changes = self._changes
        if changes is not None:
            try:
                changes.close()
            except AuditUnavailable:
                if self._stopping():
                    return
                logger.warning("could not stop listening to the decision log")
        if self._thread.is_alive():
            self._thread.join(5)

    def _run(self) -> None:
        while not self._stopping():
            try:
                self._watch()
            except AuditUnavailable:
                if self._stopping():
                    return
                logger.warning("listening to the decision log failed; retrying")
                self._stop.wait(self._retry)

    def _stopping(self) -> bool:
        """Stopped, or the log closed under us (its owner is shutting down)."""
        return self._stop.is_set() or self._log.closed

    def _watch(self) -> None:
        """Listen until stopped or failed, publishing as things change."""
        changes = self._log.changes()  # listen first, then read: nothing falls between
        try:
            with self._lock:
                self._changes = changes
            if self._cursor is None:  # the first time: only what comes from now on
                self._cursor = self._publish(self._log.head, publish=False)
            else:  # listening again: events may have been missed
                self._cursor = self._publish(self._cursor)
            # Decisions may have landed while nobody listened: waiters re-read.
            self._hub.publish(Poke(None))
            self.listening.set()
            while not self._stopping():
                read = False
                for payload in changes.wait(_WAIT):
                    if payload.startswith(_APPROVAL):
                        self._hub.publish(Poke(payload.removeprefix(_APPROVAL)))
                    else:
                        read = True
                if read and self._hub.heard:
                    self._cursor = self._publish(self._cursor)
                elif read:  # nobody to tell: skip what this process stored itself
                    self._cursor = max(self._cursor, self._log.head)
        finally:
            self.listening.clear()
            with self._lock:
                self._changes = None
            changes.close()

    def _publish(self, after: int, *, publish: bool = True) -> int:
        """Publish the events stored after ``after``; return the last seq seen."""
        while True:
            page = self._log.events(after_seq=after, limit=_PAGE)
            for stored in page:
                after = stored.seq
                if publish:
                    self._hub.observe(Appended(stored.seq, stored.hash), stored.event)
            if len(page) < _PAGE:
                return after
