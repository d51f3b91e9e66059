"""Changes: hear what other processes commit to the same database, without polling.

Several processes may share one decision log (a server, a second server, the CLI
deciding an approval). ``Changes`` lets one of them wait until another has committed
something, so a waiting agent is woken the moment a decision lands:

- **PostgreSQL**: ``LISTEN``/``NOTIFY``. Writers send ``pg_notify`` on ``CHANNEL``
  inside the transaction that records the change (an approval's transition, an
  event's insert), so a notification is delivered if and only if the change
  committed. Payloads are ``approval:<id>`` and ``event:<seq>``. The listener holds
  one connection of its own, in autocommit mode; it also listens on a channel of
  its own, on which ``close`` wakes a wait in another thread at once.
- **SQLite** has no notifications. Two real mechanisms exist: watching the WAL file
  with inotify, or ``PRAGMA data_version``. We use the second: its value changes on
  a connection exactly when *another* connection (in any process) has committed,
  and reading it costs a look at the WAL index in shared memory, no disk I/O and
  no lock. inotify would need a new compiled dependency, sees writes rather than
  commits (a rolled-back write wakes it; a checkpoint too), and is not delivered
  on network file systems; WAL mode already requires all writers to share memory
  on one host, so ``data_version`` covers exactly the writers that can exist. One
  listener per server checks it every ``SQLITE_TICK`` seconds; clients never
  poll. A change is reported as ``*`` (something committed; read to see what).

A missed notification (a dropped listener connection) must be made good by the
caller: re-read what it waits for after (re)subscribing.

Must not know: the tables, events, runs or approvals (payloads are opaque strings).
"""

from __future__ import annotations

import contextlib
import threading
from typing import TYPE_CHECKING, Any

from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from sqlalchemy.engine import Connection

    from enclosure.audit._database import Database

__all__ = ["ANY", "CHANNEL", "SQLITE_TICK", "Changes", "notify", "notify_raw"]

CHANNEL = "enclosure"
"""The PostgreSQL notification channel every writer of a decision log uses."""
ANY = "*"
"""The payload reported when the database says only that something committed."""
SQLITE_TICK = 0.05
"""Seconds between two looks at SQLite's ``data_version`` (a shared-memory read)."""
_PG_TICK = 0.5
_NOTIFY = "SELECT pg_notify(%s, %s)"


def notify(db: Database, conn: Connection, payload: str) -> None:
    """Announce ``payload`` when ``conn``'s transaction commits (PostgreSQL only)."""
    if db.engine.dialect.name == "postgresql":
        conn.exec_driver_sql(_NOTIFY, (CHANNEL, payload))


def notify_raw(cursor: Any, payload: str) -> None:
    """``notify`` on a raw psycopg cursor; the caller checks the dialect."""
    cursor.execute(_NOTIFY, (CHANNEL, payload))


class Changes:
    """Waits for commits by other connections to one database; see the module.

    Args:
        db: the open database; the listener opens a connection of its own.

    Raises:
        AuditUnavailable: the listening connection cannot be opened.
    """

    def __init__(self, db: Database) -> None:
        self._db = db
        self._closed = threading.Event()
        self._lock = threading.Lock()  # guards _waiting and closing the connection
        self._waiting = False
        self._raw: Any = None
        self._version: int | None = None
        self._wake = ""  # PostgreSQL: this listener's own channel (see close)
        dialect = db.engine.dialect
        self._kind = dialect.name
        if self._kind == "sqlite" and db.engine.url.database in (None, "", ":memory:"):
            self._kind = "memory"  # one connection, one process: nothing to hear
            return
        with db.guard("listen to"):
            cargs, cparams = dialect.create_connect_args(db.engine.url)
            if self._kind == "postgresql":
                self._raw = dialect.loaded_dbapi.connect(
                    *cargs, **cparams, autocommit=True
                )
                self._wake = f"{CHANNEL}_wake_{self._raw.info.backend_pid}"
                self._raw.execute(f"LISTEN {self._wake}")
                self._raw.execute(f"LISTEN {CHANNEL}")
            else:
                cparams["check_same_thread"] = False
                self._raw = dialect.loaded_dbapi.connect(*cargs, **cparams)
                self._version = self._data_version()

    def wait(self, timeout: float) -> list[str]:
        """The payloads committed since the last call, waiting up to ``timeout``.

        Returns an empty list at the timeout, once closed, or (PostgreSQL) after
        at most half a second, so that a ``close`` is seen: call it in a loop.

        Raises:
            AuditUnavailable: the listening connection failed; open a new
                ``Changes`` and re-read what you wait for.
        """
        if self._kind == "memory":
            self._closed.wait(timeout)
            return []
        with self._lock:
            if self._closed.is_set():
                return []
            self._waiting = True
        try:
            with self._db.guard("listen to"):
                if self._kind == "postgresql":
                    return self._notifications(timeout)
                return self._sqlite_changes(timeout)
        finally:
            with self._lock:
                self._waiting = False
                if self._closed.is_set():
                    self._release()

    def close(self) -> None:
        """Release the connection; a ``wait`` in progress returns at once.

        (On PostgreSQL a notification on the listener's own channel wakes it;
        once the log is closed there is no connection to send one, and the wait
        sees ``close`` at its next tick.)

        A connection another thread waits on is released by that thread when its
        ``wait`` returns: drivers must not close a connection in use elsewhere.
        """
        with self._lock:
            self._closed.set()
            if not self._waiting:
                self._release()
                return
        if self._kind == "postgresql":
            # Wake the wait now rather than at its next tick. Best effort: a
            # closed log has no connection to send it on, and the tick remains.
            with (
                contextlib.suppress(AuditUnavailable),
                self._db.guard("wake"),
                self._db.begin() as conn,
            ):
                conn.exec_driver_sql(_NOTIFY, (self._wake, ""))

    def _release(self) -> None:
        raw, self._raw = self._raw, None
        if raw is not None:
            with self._db.guard("stop listening to"):
                raw.close()

    def _notifications(self, timeout: float) -> list[str]:
        raw = self._raw
        # Wake at least every _PG_TICK seconds to see ``close``.
        heard = list(raw.notifies(timeout=min(timeout, _PG_TICK), stop_after=1))
        if heard:  # take whatever else arrived with it, without waiting
            heard += raw.notifies(timeout=0)
        return [n.payload for n in heard if n.channel == CHANNEL]  # not the wake

    def _sqlite_changes(self, timeout: float) -> list[str]:
        left = timeout
        while not self._closed.is_set():
            version = self._data_version()
            if version != self._version:
                self._version = version
                return [ANY]
            if left <= 0:
                break
            self._closed.wait(min(SQLITE_TICK, left))
            left -= SQLITE_TICK
        return []

    def _data_version(self) -> int:
        cursor = self._raw.execute("PRAGMA data_version")
        return int(cursor.fetchone()[0])
