"""The decision log: the one module of Enclosure that touches the audit database.

Everything else in ``audit/`` works on models and bytes; this edge turns them into
rows with SQLAlchemy Core. It appends events to the hash chain (redacted first),
answers queries over events and runs, verifies the stored chain, and implements the
``ApprovalStore`` protocol with atomic, single-use transitions.

It fails closed: any database, driver or OS error becomes ``AuditUnavailable`` with
a one-line message naming the database (never a value from the call), chained with
``from``. The caller must then refuse to run the call it could not record.

The URL decides the database. SQLite is the default; SQL that only SQLite accepts is
confined to the section marked "SQLite only" so that PostgreSQL can follow.
"""

from __future__ import annotations

import contextlib
import json
import threading
from typing import TYPE_CHECKING, Any, Literal, NamedTuple, Self

import sqlalchemy as sa
from pydantic import BaseModel, ConfigDict, ValidationError
from sqlalchemy import exc as sa_exc
from sqlalchemy.pool import StaticPool
from sqlalchemy.schema import CreateIndex, CreateTable

from enclosure._json import canonical_json
from enclosure.approvals import Approval, ApprovalStatus
from enclosure.audit._chain import (
    GENESIS,
    ChainRow,
    IndexColumns,
    VerifyReport,
    event_hash,
    index_columns,
    verify_rows,
)
from enclosure.audit._events import Event, parse_event
from enclosure.audit._redact import Redactor
from enclosure.errors import ApprovalError, AuditUnavailable, UsageError
from enclosure.types import RunStatus

if TYPE_CHECKING:
    from collections.abc import Collection, Iterable, Iterator, Sequence
    from pathlib import Path
    from types import TracebackType

    from sqlalchemy.engine import Connection, Engine, RowMapping
    from sqlalchemy.engine.interfaces import DBAPIConnection
    from sqlalchemy.pool import ConnectionPoolEntry, PoolProxiedConnection

__all__ = ["Appended", "DecisionLog", "RunRecord", "StoredEvent", "metadata"]

SCHEMA_VERSION = "1"
_MAX_APPEND_ATTEMPTS = 100
"""Appends lost to other writers before giving up; each loss means they progressed."""
_VERIFY_BATCH = 1000
_ANCHOR_EVERY = 64
"""An append whose seq crosses a multiple of this also moves the anchor (see
``_chain``), in the same transaction: deleting the newest events then shows, except
for the last few while a writer is running. ``close`` and ``append(anchor=True)``
(a run's end) anchor the head exactly. Anchoring every append would cost an extra
page write per commit (~10 µs here)."""
_NO_ANCHOR = f"{0:020d}:{GENESIS}"

_UNREDACTED_FIELDS = frozenset(
    {
        "kind", "ts", "run_id", "call_id", "approval_id", "args_sha256",
        "context_sha256", "binding_sha256", "manifest_sha256", "outcome",
        "disposition", "status", "action", "severity",
    }
)  # fmt: skip
"""Top-level event fields kept verbatim: literals that keep the event valid, and the
ids and digests that link events together. Every other field is redacted."""

metadata = sa.MetaData()
_SEQ = sa.BigInteger().with_variant(sa.Integer(), "sqlite")  # rowid alias in SQLite
_RUN_STATUSES = "status IN ('running', 'completed', 'killed')"
_APPROVAL_STATUSES = (
    "status IN ('pending', 'approved', 'denied', 'expired', 'consumed')"
)

events_table = sa.Table(
    "events",
    metadata,
    sa.Column("seq", _SEQ, primary_key=True, autoincrement=False),
    sa.Column("ts", sa.Text, nullable=False),
    sa.Column("run_id", sa.Text, nullable=False, index=True),
    sa.Column("kind", sa.Text, nullable=False, index=True),
    sa.Column("tool", sa.Text),
    sa.Column("call_id", sa.Text),
    sa.Column("outcome", sa.Text),
    sa.Column("disposition", sa.Text),
    sa.Column("cost", sa.Double),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)
runs_table = sa.Table(
    "runs",
    metadata,
    sa.Column("run_id", sa.Text, primary_key=True),
    sa.Column("agent", sa.Text, nullable=False),
    sa.Column("task", sa.Text, nullable=False),
    sa.Column("model", sa.Text),
    sa.Column("prompt_version", sa.Text),
    sa.Column("manifest_sha256", sa.Text, nullable=False),
    sa.Column("started_by", sa.Text),
    sa.Column("status", sa.Text, sa.CheckConstraint(_RUN_STATUSES), nullable=False),
    sa.Column("started_at", sa.Double, nullable=False),
    sa.Column("ended_at", sa.Double),
    sa.Column("end_reason", sa.Text),
)
approvals_table = sa.Table(
    "approvals",
    metadata,
    sa.Column("approval_id", sa.Text, primary_key=True),
    sa.Column("run_id", sa.Text, nullable=False, index=True),
    sa.Column("tool", sa.Text, nullable=False),
    sa.Column("args", sa.Text, nullable=False),  # canonical JSON
    sa.Column("binding_sha256", sa.Text, nullable=False),
    sa.Column(
        "status", sa.Text, sa.CheckConstraint(_APPROVAL_STATUSES), nullable=False
    ),
    sa.Column("rule", sa.Text, nullable=False),
    sa.Column("reason", sa.Text, nullable=False),
    sa.Column("requested_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False),
    sa.Column("requested_by", sa.Text),
    sa.Column("decided_by", sa.Text),
    sa.Column("decided_at", sa.Double),
    sa.Column("decision_reason", sa.Text),
)
meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_E = events_table.c
_A = approvals_table.c
_CHAIN_COLUMNS = (_E.seq, _E.prev_hash, _E.hash, _E.body, *(
    events_table.c[name] for name in IndexColumns._fields
))  # fmt: skip


_ANCHOR_OF = sa.select(meta_table.c.value).where(meta_table.c.key == "anchor")


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


class RunRecord(BaseModel):
    """A run and what happened in it, counted from its events in the log.

    Counts come from decision events (one per call) and result events (one per live
    call that ran): ``calls`` counts decisions; ``executed`` and ``failed`` count
    either kind with that disposition; ``denied``, ``simulated`` and ``pending``
    count decisions with disposition ``blocked``, ``simulated`` and ``pending``.
    ``cost`` sums the ``cost`` of result events plus simulated decisions: a live
    call's cost is on both its decision (projected) and its result (incurred), so
    only the result counts; blocked and pending calls cost nothing.
    """

    model_config = ConfigDict(frozen=True, extra="forbid")

    run_id: str
    agent: str
    task: str
    model: str | None
    prompt_version: str | None
    manifest_sha256: str
    started_by: str | None
    status: RunStatus
    started_at: float
    ended_at: float | None
    end_reason: str | None
    calls: int = 0
    executed: int = 0
    denied: int = 0
    simulated: int = 0
    pending: int = 0
    failed: int = 0
    cost: float = 0.0
    last_event_at: str | None = None
    """``ts`` of the run's latest event, if it has any."""


class _Prepared(NamedTuple):
    body: bytes
    text: str
    columns: IndexColumns


class DecisionLog:
    """The tamper-evident decision log and approval store on one database.

    Appends are serialised by a lock within the process; several processes may share
    one database, because an append that loses the race for the next sequence number
    reloads the chain head and tries again.

    Args:
        url: a SQLAlchemy database URL, such as ``sqlite:////var/enclosure.db``.
            ``sqlite://`` (in memory) is for tests: one connection, no durability.
        redactor: removes secrets from every event before it is hashed and stored;
            a default one (credential formats and key names only) when omitted.
        sync: SQLite ``synchronous`` level. ``normal`` may lose the last commits on
            power loss but never corrupts the chain; ``full`` syncs every commit.

    Raises:
        AuditUnavailable: the database cannot be opened, created or read, or has a
            schema this version does not know.
    """

    def __init__(
        self,
        url: str | sa.URL,
        *,
        redactor: Redactor | None = None,
        sync: Literal["normal", "full"] = "normal",
    ) -> None:
        if sync not in ("normal", "full"):
            msg = f"sync must be 'normal' or 'full', not {sync!r}"
            raise UsageError(msg)
        self._redactor = redactor if redactor is not None else Redactor()
        self._lock = threading.Lock()
        self._closed = False
        self._where = "(invalid database URL)"
        self._dbapi_error: type[Exception] = OSError  # until the driver is known
        with self._guard("open"):
            parsed = sa.make_url(url)
            self._where = _describe(parsed)
            self._engine = _make_engine(parsed, sync)
            try:
                self._open()
            except BaseException:
                self._engine.dispose()
                raise

    def _open(self) -> None:
        dbapi = self._engine.dialect.loaded_dbapi
        self._dbapi_error = dbapi.Error
        self._integrity_error: type[Exception] = dbapi.IntegrityError
        _create_schema(self._engine, self._where)
        self._insert_sql, self._as_params = _compile_insert(self._engine)
        self._anchor_sql, self._anchor_params = _compile_anchor(self._engine)
        self._head = self._load_head()
        self._anchored = self._head[0]
        # Appends hold one connection of their own, so the hot path never waits
        # for the pool; the lock keeps it to one thread at a time.
        self._raw: PoolProxiedConnection = self._engine.raw_connection()
        self._cursor = self._raw.cursor()

    @classmethod
    def open_home(
        cls,
        home: Path,
        *,
        redactor: Redactor | None = None,
        sync: Literal["normal", "full"] = "normal",
    ) -> Self:
        """Open (creating if needed) ``<home>/enclosure.db``; ``home`` gets mode 0700.

        Raises:
            AuditUnavailable: the directory or the database cannot be created.
        """
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the decision log directory {home}: {_reason(exc)}"
            raise AuditUnavailable(msg) from exc
        url = sa.URL.create("sqlite", database=str(home / "enclosure.db"))
        return cls(url, redactor=redactor, sync=sync)

    def __repr__(self) -> str:
        return f"<DecisionLog {self._where}>"

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Anchor the chain at its head and release the database.

        Later calls raise ``AuditUnavailable``; closing twice is harmless.

        Raises:
            AuditUnavailable: the anchor could not be written (the connections are
                released all the same).
        """
        with self._lock:
            if self._closed:
                return
            self._closed = True
            try:
                if self._head[0] > self._anchored:
                    with self._guard("anchor"):
                        self._cursor.execute(
                            self._anchor_sql, self._anchor(*self._head)
                        )
                        self._raw.commit()
            finally:
                with self._guard("close"):
                    self._cursor.close()
                    self._raw.close()
                    self._engine.dispose()

    # -- events ------------------------------------------------------------------

    def append(self, event: Event, *, anchor: bool = False) -> Appended:
        """Redact, encode, chain and store one event in its own transaction.

        ``anchor=True`` also moves the anchor to this event in the same
        transaction; runs do so when they end, so a finished run's events can
        never be cut from the end of the log unnoticed.

        Returns:
            The event's sequence number and chain hash, for its receipt.

        Raises:
            AuditUnavailable: the event could not be stored; the call it records
                must not run.
            ValueError: the event holds NaN or infinity, which JSON cannot carry.
        """
        return self._append_prepared((self._prepare(event),), anchor=anchor)[0]

    def append_many(self, events: Iterable[Event]) -> list[Appended]:
        """Store several events in one transaction: all of them or none.

        Raises:
            AuditUnavailable: nothing was stored.
            ValueError: an event holds NaN or infinity.
        """
        prepared = [self._prepare(event) for event in events]
        return self._append_prepared(prepared) if prepared else []

    def events(
        self,
        *,
        run_id: str | None = None,
        kinds: Collection[str] | None = None,
        after_seq: int = 0,
        limit: int | None = None,
    ) -> list[StoredEvent]:
        """Return stored events in chain order, optionally filtered.

        Args:
            run_id: only this run's events.
            kinds: only events whose ``kind`` is one of these.
            after_seq: only events after this sequence number (for paging).
            limit: at most this many events.

        Raises:
            AuditUnavailable: the log cannot be read, or an event in it no longer
                parses (run ``verify``).
        """
        stmt = sa.select(_E.seq, _E.hash, _E.prev_hash, _E.body)
        stmt = stmt.where(_E.seq > after_seq).order_by(_E.seq)
        if run_id is not None:
            stmt = stmt.where(_E.run_id == run_id)
        if kinds is not None:
            stmt = stmt.where(_E.kind.in_(list(kinds)))
        if limit is not None:
            stmt = stmt.limit(limit)
        with self._guard("read"), self._connect() as conn:
            rows = conn.execute(stmt).all()
        return [self._stored(*row) for row in rows]

    def verify(self) -> VerifyReport:
        """Check the whole stored chain and its anchor, streaming rows in batches.

        Returns:
            The first broken event, or ``ok`` with the number of events. Events
            deleted from the end are found up to the anchor: exactly after a clean
            ``close``, and up to the last multiple of 64 while a writer is running.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        with self._guard("verify"), self._connect() as conn:
            anchor = _parse_anchor(conn.execute(_ANCHOR_OF).scalar())
        with self._guard("verify"):
            report = verify_rows(self._chain_rows(), anchor=anchor)
        if anchor is None and report.ok:
            # The row is written when the log is created: gone or garbled, it was
            # tampered with, and the newest events may be missing unnoticed.
            problem = "the log's anchor is missing or unreadable (edited?)"
            return report._replace(
                ok=False, first_bad_seq=report.events + 1, problem=problem
            )
        return report

    # -- runs --------------------------------------------------------------------

    def create_run(
        self,
        run_id: str,
        *,
        agent: str,
        task: str,
        manifest_sha256: str,
        started_at: float,
        model: str | None = None,
        prompt_version: str | None = None,
        started_by: str | None = None,
    ) -> RunRecord:
        """Record a new run with status ``running``.

        Raises:
            UsageError: a run with this id exists.
            AuditUnavailable: the store cannot be written.
        """
        row = {
            "run_id": run_id,
            "agent": agent,
            "task": task,
            "model": model,
            "prompt_version": prompt_version,
            "manifest_sha256": manifest_sha256,
            "started_by": started_by,
            "status": "running",
            "started_at": started_at,
        }
        with self._guard("record a run in"), self._begin() as conn:
            try:
                conn.execute(runs_table.insert().values(row))
            except sa_exc.IntegrityError as exc:
                msg = f"run {run_id!r} already exists"
                raise UsageError(msg) from exc
        return RunRecord.model_validate({**row, "ended_at": None, "end_reason": None})

    def end_run(
        self,
        run_id: str,
        *,
        status: Literal["completed", "killed"],
        ended_at: float,
        reason: str | None = None,
    ) -> RunRecord:
        """End a running run; a run that has already ended keeps its first ending.

        Returns:
            The run as stored afterwards; check ``status`` to see which end won.

        Raises:
            UsageError: the run is unknown, or ``status`` is not an end state.
            AuditUnavailable: the store cannot be written.
        """
        if status not in ("completed", "killed"):
            msg = f"a run cannot end with status {status!r}"
            raise UsageError(msg)
        stmt = (
            runs_table.update()
            .where(runs_table.c.run_id == run_id, runs_table.c.status == "running")
            .values(status=status, ended_at=ended_at, end_reason=reason)
        )
        with self._guard("record a run in"), self._begin() as conn:
            conn.execute(stmt)
        record = self.get_run(run_id)
        if record is None:
            msg = f"run {run_id!r} is unknown"
            raise UsageError(msg)
        return record

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return one run with its counts, or ``None`` when it is unknown.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        records = self._runs(runs_table.c.run_id == run_id, limit=1)
        return records[0] if records else None

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """Return the most recently started runs first, with their counts.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._runs(sa.true(), limit=limit)

    # -- approvals (the ApprovalStore protocol) ------------------------------------

    def create_approval(self, approval: Approval) -> None:
        """Store a new pending approval; its arguments and reason are redacted.

        Raises:
            UsageError: the approval is not pending, or its id is taken.
            AuditUnavailable: the store cannot be written.
        """
        if approval.status != "pending":
            msg = f"a new approval must be pending, not {approval.status!r}"
            raise UsageError(msg)
        row = approval.model_dump()
        row["args"] = canonical_json(self._redactor.redact(approval.args)).decode()
        row["reason"] = self._redactor.redact_text(approval.reason)
        with self._guard("record an approval in"), self._begin() as conn:
            try:
                conn.execute(approvals_table.insert().values(row))
            except sa_exc.IntegrityError as exc:
                msg = f"approval {approval.approval_id!r} already exists"
                raise UsageError(msg) from exc

    def get_approval(self, approval_id: str) -> Approval:
        """Return one approval.

        Raises:
            ApprovalError: ``E-APPROVAL-NOT-FOUND``.
            AuditUnavailable: the store cannot be read.
        """
        with self._guard("read an approval from"), self._connect() as conn:
            approval = _fetch_approval(conn, approval_id)
        if approval is None:
            raise _not_found(approval_id)
        return approval

    def list_approvals(
        self, *, status: ApprovalStatus | None = None, run_id: str | None = None
    ) -> list[Approval]:
        """Return approvals, oldest first, optionally filtered.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        stmt = sa.select(approvals_table).order_by(_A.requested_at, _A.approval_id)
        if status is not None:
            stmt = stmt.where(_A.status == status)
        if run_id is not None:
            stmt = stmt.where(_A.run_id == run_id)
        with self._guard("read approvals from"), self._connect() as conn:
            rows = conn.execute(stmt).all()
        return [_approval(row._mapping) for row in rows]  # noqa: SLF001 -- public API despite the name

    def decide_approval(
        self,
        approval_id: str,
        *,
        approve: bool,
        by: str,
        reason: str | None,
        now: float,
    ) -> Approval:
        """Move a pending approval to approved or denied, atomically.

        Raises:
            ApprovalError: ``E-APPROVAL-NOT-FOUND``; ``E-APPROVAL-EXPIRED`` when it
                is (or has just become) expired; ``E-APPROVAL-DECIDED`` when it was
                already approved, denied or consumed.
            AuditUnavailable: the store cannot be written.
        """
        decided = "approved" if approve else "denied"
        pending = (_A.approval_id == approval_id) & (_A.status == "pending")
        with self._guard("decide an approval in"), self._begin() as conn:
            won = _update(
                conn,
                pending & (_A.expires_at > now),
                status=decided,
                decided_by=by,
                decided_at=now,
                decision_reason=reason,
            )
            if not won:
                _update(conn, pending & (_A.expires_at <= now), status="expired")
            current = _fetch_approval(conn, approval_id)
        if current is None:
            raise _not_found(approval_id)
        if won:
            return current
        if current.status == "expired":
            raise _refused(current, "has expired", "E-APPROVAL-EXPIRED")
        raise _refused(current, f"is already {current.status}", "E-APPROVAL-DECIDED")

    def consume_approval(
        self, approval_id: str, *, binding_sha256: str, now: float
    ) -> Approval:
        """Move an approved approval to consumed, exactly once.

        Raises:
            ApprovalError: ``E-APPROVAL-NOT-FOUND``; ``E-APPROVAL-MISMATCH`` when the
                call's binding differs; ``E-APPROVAL-EXPIRED`` past its expiry (it is
                marked expired); ``E-APPROVAL-NOT-APPROVED`` otherwise.
            AuditUnavailable: the store cannot be written.
        """
        this = _A.approval_id == approval_id
        with self._guard("consume an approval in"), self._begin() as conn:
            won = _update(
                conn,
                this
                & (_A.status == "approved")
                & (_A.binding_sha256 == binding_sha256)
                & (_A.expires_at > now),
                status="consumed",
            )
            if not won:
                _update(
                    conn,
                    this
                    & (_A.binding_sha256 == binding_sha256)
                    & _A.status.in_(("pending", "approved"))
                    & (_A.expires_at <= now),
                    status="expired",
                )
            current = _fetch_approval(conn, approval_id)
        if current is None:
            raise _not_found(approval_id)
        if won:
            return current
        if current.binding_sha256 != binding_sha256:
            raise _refused(
                current, "is bound to other arguments", "E-APPROVAL-MISMATCH"
            )
        if current.status == "expired":
            raise _refused(current, "has expired", "E-APPROVAL-EXPIRED")
        raise _refused(current, f"is {current.status}", "E-APPROVAL-NOT-APPROVED")

    def expire_approvals(self, *, now: float) -> list[Approval]:
        """Mark every pending or approved approval past its expiry as expired.

        Returns:
            The approvals this call expired, oldest first.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        stmt = (
            approvals_table.update()
            .where(_A.status.in_(("pending", "approved")), _A.expires_at <= now)
            .values(status="expired")
            .returning(*approvals_table.c)
        )
        with self._guard("expire approvals in"), self._begin() as conn:
            rows = conn.execute(stmt).all()
        approvals = [_approval(row._mapping) for row in rows]  # noqa: SLF001 -- public API despite the name
        return sorted(approvals, key=lambda a: (a.requested_at, a.approval_id))

    # -- internals ---------------------------------------------------------------

    def _prepare(self, event: Event) -> _Prepared:
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
                body = canonical_json(event.model_dump(mode="json"))
                text = body.decode("utf-8")
        return _Prepared(body, text, index_columns(event))

    def _append_prepared(
        self, prepared: Sequence[_Prepared], *, anchor: bool = False
    ) -> list[Appended]:
        # The hot path: a plain try instead of _guard saves a generator per append.
        try:
            with self._lock:
                if self._closed:
                    raise self._closed_error()
                for _ in range(_MAX_APPEND_ATTEMPTS):
                    appended = self._try_append(prepared, anchor=anchor)
                    if appended is not None:
                        return appended
        except AuditUnavailable:
            raise
        except (sa_exc.SQLAlchemyError, OSError, self._dbapi_error) as exc:
            raise self._unavailable("append to", exc) from exc
        msg = (
            f"cannot append to the decision log {self._where}: gave up after "
            f"{_MAX_APPEND_ATTEMPTS} attempts lost to other writers"
        )
        raise AuditUnavailable(msg)

    def _try_append(
        self, prepared: Sequence[_Prepared], *, anchor: bool
    ) -> list[Appended] | None:
        """Chain ``prepared`` after the cached head, insert and commit.

        Returns ``None`` when another writer took the next sequence number first;
        the head is then reloaded for the next try.

        The statement was compiled once and runs on the connection held for
        appends, skipping SQLAlchemy's execution layer: that halves its cost.
        """
        seq, prev = self._head
        rows: list[Any] = []
        appended: list[Appended] = []
        for item in prepared:
            seq += 1
            digest = event_hash(prev, seq, item.body)
            rows.append(self._as_params((seq, *item.columns, item.text, prev, digest)))
            appended.append(Appended(seq, digest))
            prev = digest
        anchor = anchor or (
            seq // _ANCHOR_EVERY != (appended[0].seq - 1) // _ANCHOR_EVERY
        )
        try:
            if len(rows) == 1:
                self._cursor.execute(self._insert_sql, rows[0])
            else:
                self._cursor.executemany(self._insert_sql, rows)
            if anchor:
                self._cursor.execute(self._anchor_sql, self._anchor(seq, prev))
            self._raw.commit()
        except self._dbapi_error as exc:
            # The rollback error, if any, would hide the one that matters.
            with contextlib.suppress(self._dbapi_error):
                self._raw.rollback()
            if not isinstance(exc, self._integrity_error):
                raise
            self._head = self._load_head()
            if self._head[0] < appended[0].seq:
                raise  # an integrity error that was not a lost race: a real fault
            return None
        self._head = (seq, prev)
        if anchor:
            self._anchored = seq
        return appended

    def _anchor(self, seq: int, digest: str) -> Any:
        """Parameters that move the anchor to ``(seq, digest)``, never backwards."""
        value = f"{seq:020d}:{digest}"
        return self._anchor_params({"new_value": value, "old_value": value})

    def _load_head(self) -> tuple[int, str]:
        stmt = sa.select(_E.seq, _E.hash).order_by(_E.seq.desc()).limit(1)
        with self._connect() as conn:
            row = conn.execute(stmt).first()
        return (0, GENESIS) if row is None else (int(row.seq), str(row.hash))

    def _chain_rows(self) -> Iterator[ChainRow]:
        last = None
        while True:
            stmt = sa.select(*_CHAIN_COLUMNS).order_by(_E.seq).limit(_VERIFY_BATCH)
            if last is not None:
                stmt = stmt.where(_E.seq > last)
            with self._connect() as conn:
                batch = conn.execute(stmt).all()
            for row in batch:
                seq, prev, digest, body, *columns = row
                yield ChainRow(
                    seq, prev, digest, _as_bytes(body), IndexColumns(*columns)
                )
            if len(batch) < _VERIFY_BATCH:
                return
            last = batch[-1].seq

    def _stored(self, seq: int, digest: str, prev: str, body: str) -> StoredEvent:
        try:
            event = parse_event(body)
        except ValidationError as exc:
            msg = f"event {seq} in {self._where} is unreadable; run verify"
            raise AuditUnavailable(msg) from exc
        return StoredEvent(seq, digest, prev, event)

    def _runs(self, where: sa.ColumnElement[bool], *, limit: int) -> list[RunRecord]:
        stmt = (
            sa.select(runs_table)
            .where(where)
            .order_by(runs_table.c.started_at.desc(), runs_table.c.run_id)
            .limit(limit)
        )
        with self._guard("read runs from"), self._connect() as conn:
            runs = [dict(row._mapping) for row in conn.execute(stmt)]  # noqa: SLF001 -- public API despite the name
            if not runs:
                return []
            ids = [run["run_id"] for run in runs]
            counts = {row.run_id: row._mapping for row in conn.execute(_counts(ids))}  # noqa: SLF001 -- as above
        records = []
        for run in runs:
            found = counts.get(run["run_id"])
            extra = {k: v for k, v in found.items() if k != "run_id"} if found else {}
            records.append(RunRecord.model_validate({**run, **extra}))
        return records

    def _connect(self) -> Connection:
        self._check_open()
        return self._engine.connect()

    def _begin(self) -> contextlib.AbstractContextManager[Connection]:
        self._check_open()
        return self._engine.begin()

    def _check_open(self) -> None:
        if self._closed:
            raise self._closed_error()

    def _closed_error(self) -> AuditUnavailable:
        return AuditUnavailable(f"the decision log {self._where} is closed")

    def _unavailable(self, action: str, exc: BaseException) -> AuditUnavailable:
        reason = _reason(exc)
        return AuditUnavailable(
            f"cannot {action} the decision log {self._where}: {reason}"
        )

    @contextlib.contextmanager
    def _guard(self, action: str) -> Iterator[None]:
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
            self._dbapi_error,
        ) as exc:
            raise self._unavailable(action, exc) from exc


def _describe(url: sa.URL) -> str:
    """Name the database for messages: a file path, or the URL without password."""
    if url.get_backend_name() == "sqlite":
        return url.database or ":memory:"
    return url.render_as_string(hide_password=True)


def _compile_insert(engine: Engine) -> tuple[str, Any]:
    """Compile the event insert once for this dialect; return it and a param maker."""
    compiled = events_table.insert().compile(dialect=engine.dialect)
    names = [column.name for column in events_table.c]
    if compiled.positional and list(compiled.positiontup or ()) == names:
        return str(compiled), _same
    return str(compiled), lambda row: dict(zip(names, row, strict=True))


def _compile_anchor(engine: Engine) -> tuple[str, Any]:
    """Compile the anchor update: zero-padded ``seq:hash`` text only ever grows."""
    stmt = (
        meta_table.update()
        .where(meta_table.c.key == "anchor")
        .where(meta_table.c.value < sa.bindparam("old_value"))
        .values(value=sa.bindparam("new_value"))
    )
    compiled = stmt.compile(dialect=engine.dialect)
    names = list(compiled.positiontup or ()) if compiled.positional else None

    def params(values: dict[str, str]) -> Any:
        full = compiled.construct_params(values)  # adds the literal "anchor"
        return full if names is None else tuple(full[name] for name in names)

    return str(compiled), params


def _parse_anchor(stored: object) -> tuple[int, str] | None:
    """Read the anchor's zero-padded ``seq:hash`` text; ``None`` if it is garbled."""
    if not isinstance(stored, str) or len(stored) != len(_NO_ANCHOR):
        return None
    seq, colon, digest = stored[:20], stored[20], stored[21:]
    return (int(seq), digest) if seq.isdigit() and colon == ":" else None


def _same(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row


def _create_schema(engine: Engine, where: str) -> None:
    with engine.begin() as conn:
        for table in metadata.sorted_tables:
            conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                conn.execute(CreateIndex(index, if_not_exists=True))
    version = _meta_default(engine, "schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        msg = (
            f"the decision log {where} has schema version {version}, "
            f"this Enclosure reads version {SCHEMA_VERSION}"
        )
        raise AuditUnavailable(msg)
    _meta_default(engine, "anchor", _NO_ANCHOR)


def _meta_default(engine: Engine, key: str, default: str) -> str | None:
    """Return the meta value under ``key``, first storing ``default`` if it has none."""
    value_of = sa.select(meta_table.c.value).where(meta_table.c.key == key)
    with engine.connect() as conn:
        value = conn.execute(value_of).scalar()
    if value is not None:
        return str(value)
    try:
        with engine.begin() as conn:
            conn.execute(meta_table.insert().values(key=key, value=default))
    except sa_exc.IntegrityError:
        pass  # another process stored it first; read what it stored
    with engine.connect() as conn:
        value = conn.execute(value_of).scalar()
    return None if value is None else str(value)


def _counts(run_ids: list[str]) -> sa.Select[Any]:
    """Per-run aggregates over the events table; see ``RunRecord`` for each sum."""
    decision = _E.kind == "decision"

    def count(condition: sa.ColumnElement[bool]) -> sa.ColumnElement[int]:
        return sa.func.count().filter(condition)

    charged = (_E.kind == "result") | (decision & (_E.disposition == "simulated"))
    return (
        sa.select(
            _E.run_id,
            count(decision).label("calls"),
            count(_E.disposition == "executed").label("executed"),
            count(decision & (_E.disposition == "blocked")).label("denied"),
            count(decision & (_E.disposition == "simulated")).label("simulated"),
            count(decision & (_E.disposition == "pending")).label("pending"),
            count(_E.disposition == "failed").label("failed"),
            sa.func.coalesce(sa.func.sum(_E.cost).filter(charged), 0.0).label("cost"),
            sa.func.max(_E.ts).label("last_event_at"),
        )
        .where(_E.run_id.in_(run_ids))
        .group_by(_E.run_id)
    )


def _update(conn: Connection, where: sa.ColumnElement[bool], **values: object) -> bool:
    """Run one conditional UPDATE on an approval; True when it changed the row."""
    result = conn.execute(approvals_table.update().where(where).values(**values))
    return result.rowcount == 1


def _fetch_approval(conn: Connection, approval_id: str) -> Approval | None:
    stmt = sa.select(approvals_table).where(_A.approval_id == approval_id)
    row = conn.execute(stmt).first()
    return None if row is None else _approval(row._mapping)  # noqa: SLF001 -- public API despite the name


def _approval(row: RowMapping) -> Approval:
    data = dict(row)
    data["args"] = json.loads(data["args"])
    return Approval.model_validate(data)


def _not_found(approval_id: str) -> ApprovalError:
    return ApprovalError(
        f"approval {approval_id!r} is unknown", code="E-APPROVAL-NOT-FOUND"
    )


def _refused(approval: Approval, what: str, code: str) -> ApprovalError:
    return ApprovalError(f"approval {approval.approval_id!r} {what}", code=code)


def _as_bytes(body: object) -> bytes:
    """Body bytes as hashed; whatever a tampered row holds, verification sees it."""
    if isinstance(body, bytes):
        return body
    return str(body).encode("utf-8", "surrogatepass")


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


def _reason(exc: BaseException) -> str:
    """Say why the database failed from the error's kind, never from its text."""
    cause = exc.orig if isinstance(exc, sa_exc.DBAPIError) else exc
    name = getattr(cause, "sqlite_errorname", None)
    if isinstance(name, str):
        reason = _SQLITE_REASONS.get("_".join(name.split("_")[:2]))
        if reason is not None:
            return reason
    if isinstance(cause, OSError) and cause.strerror:
        return cause.strerror
    if isinstance(cause, sa_exc.ArgumentError):
        return "the database URL is not valid"
    if isinstance(cause, ImportError):
        return "the database driver is not installed"
    return type(cause).__name__
