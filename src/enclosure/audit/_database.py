"""The audit database connection, and how its failures become ``AuditUnavailable``.

``Database`` opens the engine a URL names and hands out guarded connections: any
database, driver or OS error raised under ``guard`` becomes ``AuditUnavailable`` with
a one-line message naming the database (never a value from the call), chained with
``from``. The caller must then refuse to run the call it could not record.

The URL decides the database. SQLite is the default; what only SQLite has (engine
options, pragmas, error names) is confined to the section marked "SQLite only".
PostgreSQL runs on psycopg 3: ``postgresql://`` means ``postgresql+psycopg://``.

Must not know: the tables (``_schema``), events, runs or approvals.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import logging
import os
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool

from enclosure.errors import AuditUnavailable, UsageError

if TYPE_CHECKING:
    from collections.abc import Iterator

    from sqlalchemy.engine import Connection, Engine
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry

__all__ = ["Database", "describe", "reason"]

logger = logging.getLogger("enclosure")


class Database:
    """One audit database: its engine, its name in messages, and guarded access.

    Args:
        url: a SQLAlchemy database URL.
        sync: SQLite ``synchronous`` level; other databases ignore it.

    Raises:
        AuditUnavailable: the URL is not valid, or its driver is not installed.
    """

    def __init__(self, url: str | sa.URL, sync: Literal["normal", "full"]) -> None:
        self.where = "(invalid database URL)"  # as messages name it; see describe()
        self.closed = False  # set by the owner on close: no connections from then on
        self._locks: Engine | None = None  # see _locks_engine
        self._locks_guard = threading.Lock()
        self._locks_made = False  # SQLite: the lock files' folder exists
        self.dbapi_error: type[Exception] = OSError  # until the driver is known
        with self.guard("open"):
            parsed = sa.make_url(url)
            self.where = describe(parsed)
            self.engine: Engine = _make_engine(parsed, sync)
            dbapi = self.engine.dialect.loaded_dbapi
            self.dbapi_error = dbapi.Error
            self.integrity_error: type[Exception] = dbapi.IntegrityError

    def connect(self) -> Connection:
        """A connection from the pool; ``AuditUnavailable`` once closed."""
        self.check_open()
        return self.engine.connect()

    def begin(self) -> contextlib.AbstractContextManager[Connection]:
        """A connection in a transaction that commits on leaving the block."""
        self.check_open()
        return self.engine.begin()

    def insert_new(self, table: sa.Table, row: dict[str, Any], what: str) -> None:
        """Insert a row whose key must be new, in its own transaction.

        Raises:
            UsageError: a row with that key exists (``what`` names it).
            AuditUnavailable: the database cannot be written.
        """
        with self.guard(f"record {what} in"), self.begin() as conn:
            try:
                conn.execute(table.insert().values(row))
            except sa_exc.IntegrityError as exc:
                msg = f"{what} already exists"
                raise UsageError(msg) from exc

    def check_open(self) -> None:
        """Raise ``AuditUnavailable`` if the owner has closed the database."""
        if self.closed:
            raise self.closed_error()

    def closed_error(self) -> AuditUnavailable:
        """The error for any use after close."""
        return AuditUnavailable(f"the decision log {self.where} is closed")

    def unavailable(self, action: str, exc: BaseException) -> AuditUnavailable:
        """The error for a failed ``action``, its reason drawn from ``exc``'s kind."""
        return AuditUnavailable(
            f"cannot {action} the decision log {self.where}: {reason(exc)}"
        )

    @contextlib.contextmanager
    def exclusive(self, key: str) -> Iterator[None]:
        """Hold the lock named ``key`` against every process on this database.

        PostgreSQL: a session advisory lock, on a connection of its own for the
        block. SQLite: ``flock`` on a file of its own beside the database file
        (``<database>-locks/``), which also excludes this process's other
        threads; an in-memory database is this process's alone, so a thread
        lock. A process that dies lets go of its locks with it.

        Raises:
            AuditUnavailable: the lock cannot be taken (the block does not run).
        """
        digest = hashlib.sha256(key.encode("utf-8")).digest()
        if self.engine.dialect.name == "postgresql":
            number = int.from_bytes(digest[:8], "big", signed=True)
            with self.guard("lock"):
                self.check_open()
                conn = self._locks_engine().connect()
                try:
                    conn.exec_driver_sql(f"SELECT pg_advisory_lock({number})")
                    conn.commit()  # the lock is the session's; no open transaction
                except BaseException:
                    conn.close()
                    raise
            try:
                yield
            finally:
                try:
                    conn.exec_driver_sql(f"SELECT pg_advisory_unlock({number})")
                    conn.commit()
                    conn.close()
                except (sa_exc.SQLAlchemyError, self.dbapi_error):
                    # What the block did stands; a session that ends lets go of
                    # its locks, so end this one rather than report a failure.
                    logger.warning("cannot unlock %s on %s", key, self.where)
                    conn.invalidate()
                    conn.close()
            return
        database = self.engine.url.database
        if database in (None, "", ":memory:"):
            with _MEMORY_LOCKS.setdefault(digest, threading.Lock()):
                yield
            return
        folder = f"{database}-locks"
        with self.guard("lock"):
            if not self._locks_made:
                Path(folder).mkdir(mode=0o700, exist_ok=True)
                self._locks_made = True
            fd = os.open(f"{folder}/{digest.hex()[:32]}", os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException:
                os.close(fd)
                raise
        try:
            yield
        finally:
            os.close(fd)  # closing lets go of the lock

    def _locks_engine(self) -> Engine:
        """PostgreSQL: the engine whose connections hold advisory locks.

        Its own pool, without a cap: a lock is held for as long as a call runs,
        and calls of many runs at once must not use up the pool appends need.
        """
        with self._locks_guard:
            if self._locks is None:
                self._locks = sa.create_engine(
                    self.engine.url, pool_size=2, max_overflow=-1, pool_pre_ping=True
                )
            return self._locks

    def dispose(self) -> None:
        """Close every pooled connection (the owner closes the log).

        A connection in use meanwhile (a thread still reading) is closed when it
        is given back, rather than pooled again (``_close_late``).
        """
        engines = [self.engine]
        with self._locks_guard:
            if self._locks is not None:
                engines.append(self._locks)
        for engine in engines:
            # Before the pool is dropped, so that a connection given back from
            # now on is closed; not earlier, or it would run at every checkin.
            if not sa.event.contains(engine, "checkin", _close_late):
                sa.event.listen(engine, "checkin", _close_late)
            engine.dispose()

    @contextlib.contextmanager
    def guard(self, action: str) -> Iterator[None]:
        """Translate every database, driver and OS error into ``AuditUnavailable``.

        The message names the database and a reason drawn from the error's kind,
        never the error's text: SQLAlchemy puts statements and parameters there.
        """
        try:
            yield
        except AuditUnavailable:
            raise
        except (
            sa_exc.SQLAlchemyError,
            OSError,
            ImportError,
            self.dbapi_error,
        ) as exc:
            raise self.unavailable(action, exc) from exc


_MEMORY_LOCKS: dict[bytes, threading.Lock] = {}
"""``Database.exclusive`` on in-memory SQLite: one process, thread locks."""


def _close_late(
    _dbapi_connection: DBAPIConnection | None, record: ConnectionPoolEntry
) -> None:
    """Close a connection given back to a disposed pool instead of pooling it.

    A pool's ``dispose`` closes only the connections it holds; one in use then
    (a server's watcher reading as the log closes) would go back to the pool
    SQLAlchemy dropped and stay open until the garbage collector found it
    (psycopg then warns, in whatever runs at the time).
    """
    record.close()


def describe(url: sa.URL) -> str:
    """Name the database for messages: a file path, or the URL without password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


# ---- SQLite only ------------------------------------------------------------------
# Engine options, connection pragmas and error names that only SQLite has. Another
# database needs its own entries here and nowhere else.

_SQLITE_REASONS = {
    "SQLITE_BUSY": "the database stayed locked by another writer",
    "SQLITE_LOCKED": "the database is locked",
    "SQLITE_FULL": "the disk (or the database size limit) is full",
    "SQLITE_CANTOPEN": "the database file cannot be opened or created",
    "SQLITE_NOTADB": "the file is not a database",
    "SQLITE_CORRUPT": "the database file is corrupt",
    "SQLITE_READONLY": "the database is read-only",
    "SQLITE_IOERR": "a disk I/O error occurred",
    "SQLITE_PERM": "permission denied",
}


def _make_engine(url: sa.URL, sync: Literal["normal", "full"]) -> Engine:
    if url.get_backend_name() == "postgresql":
        if url.drivername == "postgresql":  # the default driver here is psycopg 3
            url = url.set(drivername="postgresql+psycopg")
        return sa.create_engine(url, pool_pre_ping=True)
    if url.get_backend_name() != "sqlite":
        return sa.create_engine(url)
    options: dict[str, Any] = {"connect_args": {"check_same_thread": False}}
    if url.database in (None, "", ":memory:"):
        options["poolclass"] = StaticPool  # one shared connection, or no database
    engine = sa.create_engine(url, **options)
    # busy_timeout first: switching to WAL needs a lock another process may hold.
    pragmas = (
        "PRAGMA busy_timeout=5000",
        "PRAGMA journal_mode=WAL",
        f"PRAGMA synchronous={sync.upper()}",
        "PRAGMA foreign_keys=ON",
    )

    def set_pragmas(
        dbapi_connection: DBAPIConnection, _record: ConnectionPoolEntry
    ) -> None:
        cursor = dbapi_connection.cursor()
        try:
            for pragma in pragmas:
                cursor.execute(pragma)
        finally:
            cursor.close()

    sa.event.listen(engine, "connect", set_pragmas)
    return engine


def reason(exc: BaseException) -> str:
    """Say why the database failed from the error's kind, never from its text."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    name = getattr(cause, "sqlite_errorname", None)
    if isinstance(name, str):
        found = _SQLITE_REASONS.get("_".join(name.split("_")[:2]))
        if found is not None:
            return found
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(cause, sa_exc.ArgumentError):
        return "the database URL is not valid"
    if isinstance(cause, ImportError):
        return "the database driver is not installed"
    return type(cause).__name__
