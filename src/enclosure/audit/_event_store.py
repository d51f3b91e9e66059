"""Events: the hash chain as stored, appended to on the hot path, read and verified.

``EventTable`` redacts each event, chains it after the cached head (see ``_chain``)
and inserts it on a raw DBAPI connection of its own with a statement compiled once:
that halves the cost of an append. It also moves the anchor, reads events back, and
streams the stored chain through ``verify_rows``. ``DecisionLog`` documents the
contract and calls it directly, with no layer between.

Must not know: runs, approvals, or how the database was opened.
"""

from __future__ import annotations

import contextlib
import random
import threading
import time
from typing import TYPE_CHECKING, Any, NamedTuple

import sqlalchemy as sa
from pydantic import ValidationError
from sqlalchemy import exc as sa_exc

from enclosure._json import canonical_json
from enclosure.audit._chain import (
    GENESIS,
    ChainRow,
    IndexColumns,
    VerifyReport,
    data_columns,
    event_hash,
)
from enclosure.audit._changes import notify_raw
from enclosure.audit._events import Event, parse_event
from enclosure.audit._schema import (
    ANCHOR_OF,
    CHAIN_COLUMNS,
    CLOSING,
    CLOSING_KINDS,
    compile_anchor,
    compile_closing_check,
    compile_insert,
    compile_run_head,
    events_table,
    of_kinds,
    parse_anchor,
)
from enclosure.audit._verify import CheckpointCopyRecord, verify_log
from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from collections.abc import (
        Callable,
        Collection,
        Iterable,
        Iterator,
        Mapping,
        Sequence,
    )

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    from sqlalchemy.engine import Dialect
    from sqlalchemy.pool import PoolProxiedConnection

    from enclosure.audit._database import Database
    from enclosure.audit._redact import Redactor

__all__ = ["Appended", "EventTable", "Prepared", "RunClosed", "StoredEvent"]

_MAX_APPEND_ATTEMPTS = 100
"""Appends lost to other writers before giving up; each loss means they progressed."""
_BACKOFF_AFTER = 2
"""Races lost in a row before a loser waits a little: writers in tight loops would
otherwise keep one of them losing until it gave up (seen on PostgreSQL with four
writers). That writer may hold a kill, so it must get through."""
_BACKOFF_FIRST = 0.0005
_BACKOFF_MOST = 0.02
_VERIFY_BATCH = 2_000
"""Rows per query when verify streams the log; more is slower (cache misses)."""
_HASHES_BATCH = 10_000
_ANCHOR_EVERY = 64
"""An append whose seq crosses a multiple of this also moves the anchor (see
``_chain``), in the same transaction: deleting the newest events then shows, except
for the last few while a writer is running. ``close`` and ``append(anchor=True)``
(a run's end) anchor the head exactly. Anchoring every append would cost an extra
page write per commit (~10 µs here)."""

_UNREDACTED_FIELDS = frozenset(
    {
        "kind", "ts", "run_id", "call_id", "approval_id", "args_sha256",
        "context_sha256", "binding_sha256", "manifest_sha256", "outcome",
        "disposition", "status", "action", "severity",
    }
)  # fmt: skip
"""Top-level event fields kept verbatim: literals that keep the event valid, and the
ids and digests that link events together. Every other field is redacted."""

_E = events_table.c


class Appended(NamedTuple):
    """Where an appended event now sits in the chain."""

    seq: int
    hash: str


class StoredEvent(NamedTuple):
    """An event as read back from the log, with its place in the chain."""

    seq: int
    hash: str
    prev_hash: str
    event: Event


class Prepared(NamedTuple):
    """An event redacted and encoded, ready to be chained."""

    body: bytes
    text: str
    columns: IndexColumns


class RunClosed(Exception):
    """The run an action belongs to was killed or ended: its event was not stored.

    Raised by ``append(..., live=True)`` when the database already holds the run's
    kill or end event, usually committed by another process (a server, the CLI).
    """

    def __init__(self, run_id: str) -> None:
        super().__init__(f"run {run_id} was killed or ended")
        self.run_id = run_id


class EventTable:
    """The events of one database; see ``DecisionLog.append`` and the rest.

    Appends are serialised by a lock and hold one connection of their own, so the
    hot path never waits for the pool. Closing it closes the whole database.

    Args:
        db: the database the decision log holds open, its schema created.
        redactor: applied to every event before it is hashed.
    """

    def __init__(self, db: Database, redactor: Redactor) -> None:
        self._db = db
        self._redactor = redactor
        self._lock = threading.Lock()
        self._closed = False  # the append path's own flag: one lookup less
        dialect = db.engine.dialect
        self._insert_sql, self._as_params = compile_insert(dialect)
        self._closed_sql, self._closed_params = compile_closing_check(dialect)
        self._head_sql, self._head_params = compile_run_head(dialect)
        self._anchor_sql, self._anchor_params = compile_anchor(dialect)
        self._head = self._load_head()
        # Runs known to have no kill or end event up to seq ``_open_at``: a live
        # append for one of them at ``_open_at + 1`` needs no check (``_learn``).
        self._open_runs: set[str] = set()
        self._open_at = -1
        self._anchored = self._head[0]
        self._last_params = _param_maker(dialect)
        self._notifies = dialect.name == "postgresql"
        # SQLite: runs ``is_closed`` found open while ``PRAGMA data_version`` read
        # ``_quiet_version``, i.e. while no other connection has committed since.
        self._quiet = dialect.name == "sqlite"
        self._quiet_version: Any = None
        self._quiet_open: set[str] = set()
        self._raw: PoolProxiedConnection = db.engine.raw_connection()
        self._cursor = self._raw.cursor()

    @property
    def head(self) -> int:
        """The ``seq`` of the newest event this process appended or found."""
        return self._head[0]

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._closed

    def close(self) -> None:
        """Anchor the chain at its head, then release the database; once only."""
        with self._lock:
            if self._closed:
                return
            self._closed = self._db.closed = True
            try:
                if self._head[0] > self._anchored:
                    with self._db.guard("anchor"):
                        self._cursor.execute(
                            self._anchor_sql, self._anchor(*self._head)
                        )
                        self._raw.commit()
            finally:
                with self._db.guard("close"):
                    self._cursor.close()
                    self._raw.close()
                    self._db.dispose()

    def prepare(self, event: Event) -> Prepared:
        """Redact and encode ``event``; ``ValueError`` for NaN or infinity."""
        data = event.model_dump(mode="json")
        body = canonical_json(data)
        text = body.decode("utf-8")
        if self._redactor.may_change(text):  # rare: most events hold no secret
            redact = self._redactor.redact
            redacted = {
                k: v if k in _UNREDACTED_FIELDS else redact(v) for k, v in data.items()
            }
            if any(redacted[k] is not v for k, v in data.items()):
                # Re-validate, so the stored body is an event that parses back as is.
                event = type(event).model_validate(redacted)
                data = event.model_dump(mode="json")
                body = canonical_json(data)
                text = body.decode("utf-8")
        return Prepared(body, text, data_columns(data))

    def append(
        self,
        prepared: Sequence[Prepared],
        *,
        anchor: bool = False,
        live: str | None = None,
    ) -> list[Appended]:
        """Chain and store ``prepared`` in one transaction, retrying lost races.

        ``live`` (a run id) stores them only while that run has no kill or end
        event: ``RunClosed`` otherwise, with nothing stored.
        """
        # The hot path: a plain try instead of a guard saves a generator per append.
        try:
            for attempt in range(_MAX_APPEND_ATTEMPTS):
                with self._lock:
                    if self._closed:
                        raise self._db.closed_error()
                    appended = self._try_append(prepared, anchor=anchor, live=live)
                if appended is not None:
                    return appended
                if attempt >= _BACKOFF_AFTER:
                    # Outside the lock: this process's other threads (one may hold a
                    # kill) go on appending meanwhile.
                    time.sleep(_backoff(attempt - _BACKOFF_AFTER))
        except (AuditUnavailable, RunClosed):
            raise
        except (sa_exc.SQLAlchemyError, OSError, self._db.dbapi_error) as exc:
            raise self._db.unavailable("append to", exc) from exc
        msg = (
            f"cannot append to the decision log {self._db.where}: gave up after "
            f"{_MAX_APPEND_ATTEMPTS} attempts lost to other writers"
        )
        raise AuditUnavailable(msg)

    def select(
        self,
        *,
        run_id: str | None,
        kinds: Collection[str] | None,
        after_seq: int,
        limit: int | None,
    ) -> list[StoredEvent]:
        """Stored events in chain order, filtered."""
        stmt = sa.select(_E.seq, _E.hash, _E.prev_hash, _E.body)
        stmt = stmt.where(_E.seq > after_seq).order_by(_E.seq)
        if run_id is not None:
            stmt = stmt.where(_E.run_id == run_id)
        if kinds is not None:
            stmt = stmt.where(of_kinds(kinds, self._db.engine.dialect))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._db.guard("read"), self._db.connect() as conn:
            rows = conn.execute(stmt).all()
        return [self._stored(*row) for row in rows]

    def verify(
        self,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        copies: Iterable[CheckpointCopyRecord] = (),
    ) -> VerifyReport:
        """Check the stored chain, checkpoints and copies, and the anchor."""
        with self._db.guard("verify"), self._db.connect() as conn:
            anchor = parse_anchor(conn.execute(ANCHOR_OF).scalar())
        with self._db.guard("verify"):
            report = verify_log(
                self._chain_rows(),
                anchor=anchor,
                public_keys=public_keys,
                copies=copies,
            )
        if anchor is None and report.ok:
            # The row is written when the log is created: gone or garbled, it was
            # tampered with, and the newest events may be missing unnoticed.
            problem = "the log's anchor is missing or unreadable (edited?)"
            return report._replace(
                ok=False, first_bad_seq=report.events + 1, problem=problem
            )
        return report

    def hashes(self, *, after: int) -> Iterator[str]:
        """The chain hashes of the events after ``after``, in order, to the end."""
        stmt = sa.select(_E.seq, _E.hash).order_by(_E.seq)
        last = after
        while True:
            with self._db.guard("read"), self._db.connect() as conn:
                batch = conn.execute(
                    stmt.where(_E.seq > last).limit(_HASHES_BATCH)
                ).all()
            for seq, digest in batch:
                if seq != last + 1:
                    msg = (
                        f"event {last + 1} is missing from {self._db.where}; run verify"
                    )
                    raise AuditUnavailable(msg)
                last = seq
                yield str(digest)
            if len(batch) < _HASHES_BATCH:
                return

    def last_of_kind(self, kind: str) -> StoredEvent | None:
        """The newest stored event of ``kind``, if any."""
        stmt = sa.select(_E.seq, _E.hash, _E.prev_hash, _E.body)
        stmt = stmt.where(of_kinds((kind,), self._db.engine.dialect))
        stmt = stmt.order_by(_E.seq.desc()).limit(1)
        with self._db.guard("read"), self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return None if row is None else self._stored(*row)

    def chain_rows(self) -> Iterator[ChainRow]:
        """Every stored event as ``verify`` reads it, in order (for export)."""
        with self._db.guard("read"):
            yield from self._chain_rows()

    def is_closed(self, run_id: str) -> bool:
        """Whether ``run_id`` has a kill or end event: the append path's own query.

        Run on the append connection with the statement compiled once, so it
        costs what the live check costs, not a pooled SQLAlchemy query. On
        SQLite a run found open is not looked up again until another connection
        commits (``PRAGMA data_version`` says so) or this table stores its kill
        or end (``_learn``): an integration asks before every model call.
        """
        # The hot path: a plain try instead of the guard saves a generator.
        try:
            with self._lock:
                if self._closed:
                    raise self._db.closed_error()
                if self._quiet:
                    return self._is_closed_sqlite(run_id)
                cursor = self._cursor
                try:
                    cursor.execute(self._closed_sql, self._closed_params(run_id))
                    return bool(cursor.fetchall()[0][0])
                finally:
                    # PostgreSQL: end the transaction it opened; a failed
                    # rollback must not hide the error that matters.
                    with contextlib.suppress(self._db.dbapi_error):
                        self._raw.rollback()
        except AuditUnavailable:
            raise
        except (sa_exc.SQLAlchemyError, OSError, self._db.dbapi_error) as exc:
            raise self._db.unavailable("read", exc) from exc

    def _is_closed_sqlite(self, run_id: str) -> bool:
        """``is_closed`` on SQLite, where reads open no transaction to end."""
        cursor = self._cursor
        cursor.execute("PRAGMA data_version")  # moves when another connection commits
        version = cursor.fetchall()[0][0]
        if version != self._quiet_version:
            self._quiet_open.clear()
            self._quiet_version = version
        elif run_id in self._quiet_open:
            return False
        cursor.execute(self._closed_sql, self._closed_params(run_id))
        closed = bool(cursor.fetchall()[0][0])
        if not closed:
            self._quiet_open.add(run_id)
        return closed

    def run_head(self, run_id: str, *, after: int = 0) -> int:
        """The newest seq among ``run_id``'s events after ``after``, else ``after``.

        On the append connection, compiled once: asked around every call of a
        run that servers share (``Run.exclusively``), from where it last looked.
        """
        with self._db.guard("read"), self._lock:
            if self._closed:
                raise self._db.closed_error()
            cursor = self._cursor
            try:
                cursor.execute(self._head_sql, self._head_params(run_id, after))
                return int(cursor.fetchall()[0][0] or after)
            finally:
                if not self._quiet:  # PostgreSQL: end the transaction it opened
                    with contextlib.suppress(self._db.dbapi_error):
                        self._raw.rollback()

    def closing(self, run_id: str) -> StoredEvent | None:
        """The first event that closed ``run_id`` (its kill, else its end), if any."""
        # No ORDER BY: SQLite would walk the run's every event by ix_events_run_id
        # to keep seq order. A run has one or two closing events; the first wins.
        stmt = (
            sa.select(_E.seq, _E.hash, _E.prev_hash, _E.body)
            .where(sa.text(CLOSING_KINDS))
            .where(_E.run_id == run_id)
        )
        with self._db.guard("read"), self._db.connect() as conn:
            rows = conn.execute(stmt).all()
        return None if not rows else self._stored(*min(rows, key=lambda r: r[0]))

    def _try_append(
        self, prepared: Sequence[Prepared], *, anchor: bool, live: str | None
    ) -> list[Appended] | None:
        """Chain ``prepared`` after the cached head, insert and commit.

        Returns ``None`` when another writer took the next sequence number first;
        the head is then reloaded for the next try.

        The statement was compiled once and runs on the connection held for
        appends, skipping SQLAlchemy's execution layer: that halves its cost.
        """
        seq, prev = self._head
        rows: list[tuple[Any, ...]] = []
        appended: list[Appended] = []
        for item in prepared:
            seq += 1
            digest = event_hash(prev, seq, item.body)
            rows.append((seq, *item.columns, item.text, prev, digest))
            appended.append(Appended(seq, digest))
            prev = digest
        anchor = anchor or (
            seq // _ANCHOR_EVERY != (appended[0].seq - 1) // _ANCHOR_EVERY
        )
        try:
            if live is not None and not (
                self._open_at == appended[0].seq - 1 and live in self._open_runs
            ):
                self._check_live(live)
            if len(rows) == 1:
                self._cursor.execute(self._insert_sql, self._as_params(rows[0]))
            else:
                as_params = self._as_params
                self._cursor.executemany(
                    self._insert_sql, [as_params(row) for row in rows]
                )
            if anchor:
                self._cursor.execute(self._anchor_sql, self._anchor(seq, prev))
            if self._notifies:  # live events for other processes (see _changes)
                notify_raw(self._cursor, f"event:{seq}")
            self._raw.commit()
        except self._db.dbapi_error as exc:
            # The rollback error, if any, would hide the one that matters.
            with contextlib.suppress(self._db.dbapi_error):
                self._raw.rollback()
            if not isinstance(exc, self._db.integrity_error):
                raise
            self._head = self._load_head()
            if self._head[0] < appended[0].seq:
                raise  # an integrity error that was not a lost race: a real fault
            return None
        self._head = (seq, prev)
        self._learn(appended[0].seq, rows, live)
        if anchor:
            self._anchored = seq
        return appended

    def _learn(self, first: int, rows: list[tuple[Any, ...]], live: str | None) -> None:
        """Carry what is known of open runs past rows just stored from ``first``.

        Rows commit only at seq = the newest seq + 1, so this append's success
        says the log ended at ``first - 1`` when it was stored: nobody else wrote
        in between. Knowledge as of exactly ``first - 1`` therefore still holds,
        and ``live`` (checked, or known) was open then too; older knowledge is
        dropped, because others wrote since. Our own kill and end rows close
        their runs.
        """
        if self._open_at != first - 1:
            self._open_runs.clear()
        if live is not None:
            self._open_runs.add(live)
        for row in rows:
            if row[3] in CLOSING:  # (seq, ts, run_id, kind, ...)
                self._open_runs.discard(row[2])
                self._quiet_open.discard(row[2])
        self._open_at = first + len(rows) - 1

    def _check_live(self, run_id: str) -> None:
        """Raise ``RunClosed`` if ``run_id`` has a kill or end event.

        Checked first, then inserted at the cached head: a kill committed in
        between took that seq, so this try loses and the next one checks again.
        (One INSERT ... SELECT WHERE NOT EXISTS would cost SQLite a temporary
        table per append, because it reads the table it writes.) ``_learn``
        skips it where this table's own appends show nobody else wrote since.
        """
        cursor = self._cursor
        cursor.execute(self._closed_sql, self._closed_params(run_id))
        if cursor.fetchall()[0][0]:
            self._raw.rollback()  # PostgreSQL: the check opened a transaction
            raise RunClosed(run_id)

    def _anchor(self, seq: int, digest: str) -> Any:
        """Parameters that move the anchor to ``(seq, digest)``, never backwards."""
        value = f"{seq:020d}:{digest}"
        return self._anchor_params({"new_value": value, "old_value": value})

    def _load_head(self) -> tuple[int, str]:
        stmt = sa.select(_E.seq, _E.hash).order_by(_E.seq.desc()).limit(1)
        with self._db.connect() as conn:
            row = conn.execute(stmt).first()
        return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))

    def _chain_rows(self) -> Iterator[ChainRow]:
        """Stream rows in batches on a raw DBAPI cursor (the SQL compiled once).

        SQLAlchemy's result layer costs more per row than hashing it does, so the
        million-event verify reads through the driver directly.
        """
        columns: list[sa.ColumnElement[Any]] = list(CHAIN_COLUMNS)
        if self._db.engine.dialect.name == "sqlite":
            # The stored bytes as they are: no UTF-8 decode to undo, and a body
            # tampered into invalid UTF-8 reaches the hash check, not a crash.
            columns[3] = sa.cast(_E.body, sa.LargeBinary)
        sql = str(
            sa.select(*columns)
            .where(_E.seq > sa.bindparam("last"))
            .order_by(_E.seq)
            .limit(_VERIFY_BATCH)
            .compile(dialect=self._db.engine.dialect)
        )
        params = self._last_params
        last = 0
        self._db.check_open()
        raw = self._db.engine.raw_connection()
        try:
            cursor = raw.cursor()
            new = tuple.__new__
            while True:
                cursor.execute(sql, params(last))
                batch = cursor.fetchall()
                # ``NamedTuple._make`` without its length check (the query fixes
                # the length): half the cost of calling the classes, per row.
                for r in batch:
                    body = r[3]
                    if body.__class__ is not bytes:
                        body = _as_bytes(body)
                    values = new(IndexColumns, r[4:])
                    yield new(ChainRow, (r[0], r[1], r[2], body, values))
                if len(batch) < _VERIFY_BATCH:
                    return
                last = batch[-1][0]
        finally:
            raw.close()

    def _stored(self, seq: int, digest: str, prev: str, body: str) -> StoredEvent:
        try:
            event = parse_event(body)
        except ValidationError as exc:
            msg = f"event {seq} in {self._db.where} is unreadable; run verify"
            raise AuditUnavailable(msg) from exc
        return StoredEvent(seq, digest, prev, event)


def _backoff(losses: int) -> float:
    """Seconds to wait after ``losses`` more lost races: random, doubling, capped."""
    most = min(_BACKOFF_MOST, _BACKOFF_FIRST * 2.0 ** min(losses, 16))
    return random.uniform(0.0, most)  # noqa: S311 -- jitter, not a secret


def _param_maker(dialect: Dialect) -> Callable[[int], Any]:
    """Bind ``last`` (and the batch size) for the raw verify query of ``dialect``."""
    compiled = (
        sa.select(_E.seq)
        .where(_E.seq > sa.bindparam("last"))
        .limit(_VERIFY_BATCH)
        .compile(dialect=dialect)
    )
    names = list(compiled.positiontup or ()) if compiled.positional else None

    def params(last: int) -> Any:
        full = compiled.construct_params({"last": last})
        return full if names is None else tuple(full[name] for name in names)

    return params


def _as_bytes(body: object) -> bytes:
    """Body bytes as hashed; whatever a tampered row holds, verification sees it."""
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8", "surrogatepass")
