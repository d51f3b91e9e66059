"""The decision log: the audit database behind one object, ``DecisionLog``.

Everything else in ``audit/`` works on models and bytes; this edge turns them into
rows. ``DecisionLog`` is the public face and documents the contract; it opens the
database and hands each call straight to the part that does the work, composed
side by side (no part knows another):

- ``_database``: the engine and the guard that turns every database, driver or OS
  error into ``AuditUnavailable`` (the caller must then refuse the call it could not
  record), and all that is SQLite's alone;
- ``_schema``: the tables, their creation, and the statements compiled once;
- ``_migrate``: Alembic migrations, which manage the schema on PostgreSQL;
- ``_event_store``: the hash chain: appends (the hot path), reads and ``verify``;
- ``_run_store`` and ``_approval_store``: runs, and approvals with atomic,
  single-use transitions;
- ``_pin_store``: the MCP gateway's tool pins;
- ``_token_store``: the server's API tokens, hashed;
- ``_manifest_store``: manifest versions uploaded to the server;
- ``_session_store``: the dashboard's sessions, hashed;
- ``_changes``: hearing what other processes commit (NOTIFY, ``data_version``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal, Self, TypeAlias

import sqlalchemy as sa

from enclosure.audit._approval_store import ApprovalTable
from enclosure.audit._changes import Changes
from enclosure.audit._checkpointer import Checkpointer, CheckpointTimer
from enclosure.audit._database import Database, reason
from enclosure.audit._event_store import EventTable
from enclosure.audit._manifest_store import ManifestRecord, ManifestTable
from enclosure.audit._pin_store import PinTable
from enclosure.audit._redact import Redactor
from enclosure.audit._run_store import RunTable, seen_names
from enclosure.audit._schema import create_schema
from enclosure.audit._session_store import SessionTable
from enclosure.audit._token_store import TokenRecord, TokenTable
from enclosure.errors import AuditUnavailable, UsageError

if TYPE_CHECKING:
    import contextlib
    from collections.abc import Callable, Collection, Iterable, Iterator, Mapping
    from pathlib import Path
    from types import TracebackType

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from enclosure.approvals import Approval, ApprovalStatus
    from enclosure.audit._chain import ChainRow, VerifyReport
    from enclosure.audit._checkpoint import Checkpoint
    from enclosure.audit._checkpointer import Checkpointing
    from enclosure.audit._event_store import Appended, StoredEvent
    from enclosure.audit._events import Event
    from enclosure.audit._run_store import RunRecord
    from enclosure.audit._verify import CheckpointCopyRecord

__all__ = ["DecisionLog", "Observer"]

Observer: TypeAlias = "Callable[[Appended, Event], None]"
"""Sees each event once it is stored; see ``DecisionLog.subscribe``."""


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
        checkpoints: sign Merkle checkpoints as events are appended (see
            ``Checkpointing``); none when omitted.

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
        checkpoints: Checkpointing | None = None,
    ) -> None:
        if sync not in ("normal", "full"):
            msg = f"sync must be 'normal' or 'full', not {sync!r}"
            raise UsageError(msg)
        redactor = redactor if redactor is not None else Redactor()
        self._db = db = Database(url, sync)
        with db.guard("open"):
            try:
                if db.engine.dialect.name == "postgresql":
                    # Alembic costs ~80 ms to import: only PostgreSQL needs it.
                    from enclosure.audit._migrate import upgrade  # noqa: PLC0415

                    upgrade(db.engine)
                create_schema(db.engine, db.where)
                self._events = EventTable(db, redactor)
            except BaseException:
                db.dispose()
                raise
        self._runs = RunTable(db)
        self._approvals = ApprovalTable(db, redactor)
        self._observers: list[Observer] = []
        self._checkpointer: Checkpointer | None = None
        self._timer: CheckpointTimer | None = None
        if checkpoints is not None:
            try:
                self._checkpointer = Checkpointer(self._events, checkpoints)
            except BaseException:
                self._events.close()
                raise
            if checkpoints.timer:
                events = self._events
                self._timer = CheckpointTimer(self._checkpointer, lambda: events.closed)
                self._timer.start()
        self._pins = PinTable(db)
        self._tokens = TokenTable(db)
        self._manifests = ManifestTable(db)
        self._sessions = SessionTable(db)

    @classmethod
    def open_home(
        cls,
        home: Path,
        *,
        redactor: Redactor | None = None,
        sync: Literal["normal", "full"] = "normal",
        checkpoints: Checkpointing | None = None,
    ) -> Self:
        """Open (creating if needed) ``<home>/enclosure.db``; ``home`` gets mode 0700.

        Raises:
            AuditUnavailable: the directory or the database cannot be created.
        """
        try:
            home.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            msg = f"cannot create the decision log directory {home}: {reason(exc)}"
            raise AuditUnavailable(msg) from exc
        url = sa.URL.create("sqlite", database=str(home / "enclosure.db"))
        return cls(url, redactor=redactor, sync=sync, checkpoints=checkpoints)

    def __repr__(self) -> str:
        return f"<DecisionLog {self._db.where}>"

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
        """Checkpoint what is new, anchor the chain at its head, release the database.

        Later calls raise ``AuditUnavailable``; closing twice is harmless.

        Raises:
            AuditUnavailable: the checkpoint or the anchor could not be written
                (the connections are released all the same).
        """
        if self._timer is not None:
            self._timer.stop()
        try:
            if self._checkpointer is not None and not self._db.closed:
                self._checkpointer.checkpoint("")
        finally:
            self._events.close()

    @property
    def closed(self) -> bool:
        """Whether ``close`` was called."""
        return self._db.closed

    @property
    def head(self) -> int:
        """The ``seq`` of the newest event this process appended or found."""
        return self._events.head

    def subscribe(self, observer: Observer) -> None:
        """Call ``observer(appended, event)`` after every event is durably stored.

        Observers run in the appending thread, after the commit and outside the
        log's lock; monitoring uses this to see every event of every part. An
        observer must be quick and must not raise.
        """
        self._observers.append(observer)

    def changes(self) -> Changes:
        """Listen for what other processes (and connections) commit to this log.

        ``wait`` on the result returns as soon as something committed elsewhere:
        ``approval:<id>`` and ``event:<seq>`` on PostgreSQL, ``*`` on SQLite. Close
        it when done. See ``_changes`` for the mechanisms and their limits.

        Raises:
            AuditUnavailable: the listening connection cannot be opened.
        """
        self._db.check_open()
        return Changes(self._db)

    def checkpoint(self, run_id: str = "") -> Checkpoint | None:
        """Sign and chain a checkpoint now (a run's end does), if anything is new.

        Returns:
            The signed tree head, or ``None`` if checkpoints are off or nothing
            was appended since the last one.

        Raises:
            AuditUnavailable: the log cannot be written, or the signing key is
                missing or unusable (``E-AUDIT-KEY``).
        """
        if self._checkpointer is None:
            return None
        return self._checkpointer.checkpoint(run_id)

    def _after_append(self, appended: Appended, event: Event) -> None:
        for observer in self._observers:
            observer(appended, event)
        cp = self._checkpointer
        if cp is not None and cp.due(appended.seq):
            cp.checkpoint(event.run_id)

    # -- events ------------------------------------------------------------------

    def append(
        self, event: Event, *, anchor: bool = False, live: bool = False
    ) -> Appended:
        """Redact, encode, chain and store one event in its own transaction.

        ``anchor=True`` also moves the anchor to this event in the same
        transaction; runs do so when they end, so a finished run's events can
        never be cut from the end of the log unnoticed.

        ``live=True`` stores it only while its run has no ``kill`` or
        ``run_ended`` event, checked by the database in the same transaction: a
        run killed or ended by another process (a server, the CLI) takes no
        further action from this one. Runs store the decision that lets a call
        run this way.

        Returns:
            The event's sequence number and chain hash, for its receipt.

        Raises:
            AuditUnavailable: the event could not be stored; the call it records
                must not run.
            RunClosed: ``live`` and the run was killed or ended; nothing stored.
            ValueError: the event holds NaN or infinity, which JSON cannot carry.
        """
        # The hot path: the same calls as ever, no layer added in between.
        table = self._events
        appended = table.append(
            (table.prepare(event),), anchor=anchor, live=event.run_id if live else None
        )[0]
        if self._observers or self._checkpointer is not None:
            self._after_append(appended, event)
        return appended

    def append_many(self, events: Iterable[Event]) -> list[Appended]:
        """Store several events in one transaction: all of them or none.

        Raises:
            AuditUnavailable: nothing was stored.
            ValueError: an event holds NaN or infinity.
        """
        table = self._events
        listed = list(events)
        prepared = [table.prepare(event) for event in listed]
        appended = table.append(prepared) if prepared else []
        if self._observers or self._checkpointer is not None:
            for one, event in zip(appended, listed, strict=True):
                self._after_append(one, event)
        return appended

    def run_lock(self, run_id: str) -> contextlib.AbstractContextManager[None]:
        """Hold ``run_id``'s lock against every process on this log, for a block.

        Servers sharing one database decide the calls of a run one at a time
        under it (see ``Run.exclusively``).

        Raises:
            AuditUnavailable: the lock cannot be taken; the block does not run.
        """
        return self._db.exclusive(f"run:{run_id}")

    def run_head(self, run_id: str, *, after: int = 0) -> int:
        """The seq of ``run_id``'s newest event after ``after``; else ``after``.

        ``Run.exclusively`` asks from where it last looked: the range is short.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        return self._events.run_head(run_id, after=after)

    def run_closed(self, run_id: str) -> bool:
        """Whether ``run_id`` has a ``kill`` or ``run_ended`` event (a cheap check).

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        return self._events.is_closed(run_id)

    def closing_event(self, run_id: str) -> StoredEvent | None:
        """The event that closed ``run_id``: its first kill, else its end; or none.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        return self._events.closing(run_id)

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
        return self._events.select(
            run_id=run_id, kinds=kinds, after_seq=after_seq, limit=limit
        )

    def verify(
        self,
        *,
        public_keys: Mapping[str, Ed25519PublicKey] | None = None,
        copies: Iterable[CheckpointCopyRecord] = (),
    ) -> VerifyReport:
        """Check the whole stored chain and its anchor, streaming rows in batches.

        Every checkpoint's root is recomputed from the events; with
        ``public_keys`` its signature is checked too, and rows a good checkpoint
        covers skip the full schema check (see ``_verify``). ``copies`` are
        checkpoints kept outside the database: the log must still match each.

        Returns:
            The first broken event, or ``ok`` with the number of events. Events
            deleted from the end are found up to the anchor: exactly after a clean
            ``close``, and up to the last multiple of 64 while a writer is running.

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        return self._events.verify(public_keys=public_keys, copies=copies)

    def event_hashes(self) -> Iterator[str]:
        """Every event's chain hash in order: the Merkle tree's leaves.

        Raises:
            AuditUnavailable: the log cannot be read, or an event is missing.
        """
        return self._events.hashes(after=0)

    def chain_rows(self) -> Iterator[ChainRow]:
        """Every stored event with its chain fields, in order (``export`` uses it).

        Raises:
            AuditUnavailable: the log cannot be read.
        """
        return self._events.chain_rows()

    # -- runs (the SQL is in _run_store) -------------------------------------------

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
        return self._runs.create(
            run_id,
            agent=agent,
            task=task,
            manifest_sha256=manifest_sha256,
            started_at=started_at,
            model=model,
            prompt_version=prompt_version,
            started_by=started_by,
        )

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
        return self._runs.end(run_id, status=status, ended_at=ended_at, reason=reason)

    def get_run(self, run_id: str) -> RunRecord | None:
        """Return one run with its counts, or ``None`` when it is unknown.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._runs.get(run_id)

    def seen_names(self) -> tuple[dict[str, set[str]], dict[str, set[str]]]:
        """Per agent, the tools it called and the egress hosts it reached so far.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return seen_names(self._db)

    def list_runs(self, limit: int = 50) -> list[RunRecord]:
        """Return the most recently started runs first, with their counts.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._runs.latest(limit)

    # -- approvals (the ApprovalStore protocol; the SQL is in _approval_store) -----

    def create_approval(self, approval: Approval) -> None:
        """Store a new pending approval; its arguments and reason are redacted.

        Raises:
            UsageError: the approval is not pending, or its id is taken.
            AuditUnavailable: the store cannot be written.
        """
        self._approvals.create(approval)

    def get_approval(self, approval_id: str) -> Approval:
        """Return one approval.

        Raises:
            ApprovalError: ``E-APPROVAL-NOT-FOUND``.
            AuditUnavailable: the store cannot be read.
        """
        return self._approvals.get(approval_id)

    def list_approvals(
        self, *, status: ApprovalStatus | None = None, run_id: str | None = None
    ) -> list[Approval]:
        """Return approvals, oldest first, optionally filtered.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._approvals.select(status=status, run_id=run_id)

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
        return self._approvals.decide(
            approval_id, approve=approve, by=by, reason=reason, now=now
        )

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
        return self._approvals.consume(
            approval_id, binding_sha256=binding_sha256, now=now
        )

    def expire_approvals(self, *, now: float) -> list[Approval]:
        """Mark every pending or approved approval past its expiry as expired.

        Returns:
            The approvals this call expired, oldest first.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        return self._approvals.expire(now=now)

    # -- tool pins (the SQL is in _pin_store) --------------------------------------

    def get_pin(self, agent: str, upstream: str, tool: str) -> str | None:
        """The hash pinned for an MCP upstream's tool, or None if never pinned.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._pins.get(agent, upstream, tool)

    def set_pin(
        self, agent: str, upstream: str, tool: str, sha256: str, *, now: float
    ) -> None:
        """Pin (or re-pin) the hash of an MCP upstream's tool.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        self._pins.put(agent, upstream, tool, sha256, now=now)

    # -- API tokens (the SQL is in _token_store) -----------------------------------

    def create_token(self, record: TokenRecord, sha256: str) -> None:
        """Store a new API token under the SHA-256 of its secret.

        Raises:
            UsageError: the id is taken, or the role is unknown (``E-USAGE-ROLE``).
            AuditUnavailable: the store cannot be written.
        """
        self._tokens.create(record, sha256)

    def find_token(self, sha256: str) -> TokenRecord | None:
        """The token whose secret hashes to ``sha256``, revoked or not.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._tokens.find(sha256)

    def list_tokens(self) -> list[TokenRecord]:
        """Every API token, oldest first (hashes are never returned).

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._tokens.select()

    def revoke_token(self, token_id: str, *, now: float) -> bool:
        """Revoke a token; False when it is unknown or was already revoked.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        return self._tokens.revoke(token_id, now=now)

    # -- manifest versions (the SQL is in _manifest_store) -------------------------

    def add_manifest(
        self, text: str, *, manifest_sha256: str, by: str, now: float
    ) -> tuple[ManifestRecord, bool]:
        """Store a manifest text as the next version, unless it is stored already.

        The caller checks the text first: this stores whatever it is given.

        Returns:
            The version and whether this call created it (False: the same text
            was stored before, and its existing version is returned).

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        return self._manifests.add(
            text, manifest_sha256=manifest_sha256, by=by, now=now
        )

    def get_manifest(self, version: int) -> tuple[ManifestRecord, str] | None:
        """One manifest version and its text, or None if there is no such version.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._manifests.get(version)

    def list_manifests(self) -> list[ManifestRecord]:
        """Every manifest version, oldest first (without their texts).

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._manifests.select()

    # -- dashboard sessions (the SQL is in _session_store) -------------------------

    def create_session(
        self, sha256: str, token_sha256: str, *, expires_at: float, now: float
    ) -> None:
        """Store a dashboard session under the SHA-256 of its cookie.

        Sessions expired at ``now`` are deleted on the way.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        self._sessions.create(sha256, token_sha256, expires_at=expires_at, now=now)

    def find_session(self, sha256: str, *, now: float) -> tuple[str, float] | None:
        """The token hash and expiry of the live session with that cookie hash.

        Raises:
            AuditUnavailable: the store cannot be read.
        """
        return self._sessions.find(sha256, now=now)

    def drop_session(self, sha256: str) -> None:
        """End a dashboard session.

        Raises:
            AuditUnavailable: the store cannot be written.
        """
        self._sessions.drop(sha256)
