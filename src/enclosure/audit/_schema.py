"""The audit database's tables, their creation, and the statements compiled once.

Eight tables: ``events`` (the hash chain, with a few columns copied out of each
body for queries), ``runs``, ``approvals``, ``tool_pins`` (the MCP gateway's
hash of each upstream tool), ``api_tokens`` (the server's tokens, hashed),
``manifests`` (manifest versions uploaded to the server), ``ui_sessions`` (the
dashboard's logins, hashed) and ``meta`` (the schema version and the anchor).
A table added later is created on first open of an older database, so adding
one needs no new schema version. Creating them is idempotent and safe when
several processes open one database at once. The event insert and the anchor
update are compiled once per dialect, so the append path can run them on a raw
DBAPI cursor.

Must not know: which database it runs on (``_database`` holds what is SQLite's
alone), redaction, or the public ``DecisionLog`` API built on these tables.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy import exc as sa_exc
from sqlalchemy.schema import CreateIndex, CreateTable

from enclosure.audit._chain import GENESIS, IndexColumns
from enclosure.errors import AuditUnavailable

if TYPE_CHECKING:
    from collections.abc import Callable, Collection

    from sqlalchemy.engine import Dialect, Engine

__all__ = [
    "ANCHOR_OF",
    "CHAIN_COLUMNS",
    "CLOSING",
    "CLOSING_KINDS",
    "HOT",
    "NO_ANCHOR",
    "RARE_KINDS",
    "SCHEMA_VERSION",
    "TOKEN_ROLES",
    "approvals_table",
    "compile_anchor",
    "compile_closing_check",
    "compile_insert",
    "compile_run_head",
    "create_schema",
    "events_table",
    "manifests_table",
    "meta_table",
    "metadata",
    "of_kinds",
    "parse_anchor",
    "pins_table",
    "runs_table",
    "sessions_table",
    "tokens_table",
]

SCHEMA_VERSION = "1"
NO_ANCHOR = f"{0:020d}:{GENESIS}"
"""The anchor of an empty log. Anchors are zero-padded ``seq:hash`` text, so that
comparing them as text compares their ``seq``."""

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
    sa.Column("run_id", sa.Text, nullable=False),
    sa.Column("kind", sa.Text, nullable=False),
    sa.Column("tool", sa.Text),
    sa.Column("call_id", sa.Text),
    sa.Column("outcome", sa.Text),
    sa.Column("disposition", sa.Text),
    sa.Column("cost", sa.Double),
    sa.Column("body", sa.Text, nullable=False),
    sa.Column("prev_hash", sa.Text, nullable=False),
    sa.Column("hash", sa.Text, nullable=False),
)
sa.Index("ix_events_run_id", events_table.c.run_id, events_table.c.seq)
# A run's events in order, and its newest after a given seq, as one range of the
# index. (SQLite appends the rowid, which ``seq`` is, to every index anyway: a log
# made before revision 0006 has ``(run_id)`` alone, and the same order.)
CLOSING = frozenset({"kill", "run_ended"})
"""The kinds of event after which a run takes no call: its kill, its end."""
CLOSING_KINDS = "kind IN ({})".format(", ".join(f"'{k}'" for k in sorted(CLOSING)))
"""``CLOSING`` as SQL text, the same in the partial index and in every query meant
to use it: SQLite uses a partial index only for a query whose WHERE holds the
index's own term, literally."""
sa.Index(
    "ix_events_closing",
    events_table.c.run_id,
    events_table.c.kind,
    sqlite_where=sa.text(CLOSING_KINDS),
    postgresql_where=sa.text(CLOSING_KINDS),
)
# Only kills and run ends enter it: a decision's insert never touches this index.
HOT = frozenset({"decision", "result"})
"""The kinds of two events of every call: no index on ``kind`` holds them."""
RARE_KINDS = "kind NOT IN ({})".format(", ".join(f"'{k}'" for k in sorted(HOT)))
"""The other kinds as SQL text, for ``ix_events_rare_kind`` as ``CLOSING_KINDS``
is for ``ix_events_closing``: a SQLite query for rare kinds adds it, literally
(``of_kinds``)."""
sa.Index(
    "ix_events_rare_kind",
    events_table.c.kind,
    sqlite_where=sa.text(RARE_KINDS),
    postgresql_where=sa.text(RARE_KINDS),
)
# Every page an insert changes is written once more at its commit, and again when
# the WAL is checkpointed: a full index on kind cost each call's two appends ~8 µs
# apiece. Queries by kind ask for rare kinds (checkpoints, manifests, outcomes);
# those of a call's events go by run (ix_events_run_id).
_SUPERSEDES = {"ix_events_rare_kind": "ix_events_kind"}
"""Indexes that take over from an older one: not made where the older one is.

A SQLite log made before keeps its full ``ix_events_kind``, which serves the same
queries: opening it builds and drops nothing under the write lock (0.2-0.4 s per
million events, and an older Enclosure sharing the file would build it again).
On PostgreSQL migration 0007 replaces it."""
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
pins_table = sa.Table(
    "tool_pins",
    metadata,
    sa.Column("agent", sa.Text, primary_key=True),
    sa.Column("upstream", sa.Text, primary_key=True),
    sa.Column("tool", sa.Text, primary_key=True),
    sa.Column("sha256", sa.Text, nullable=False),
    sa.Column("pinned_at", sa.Double, nullable=False),
)
TOKEN_ROLES = ("agent", "approver", "operator", "viewer", "admin")
tokens_table = sa.Table(
    "api_tokens",
    metadata,
    sa.Column("token_id", sa.Text, primary_key=True),
    sa.Column("name", sa.Text, nullable=False),
    sa.Column(
        "role",
        sa.Text,
        sa.CheckConstraint(
            "role IN ('agent', 'approver', 'operator', 'viewer', 'admin')"
        ),
        nullable=False,
    ),
    sa.Column("sha256", sa.Text, nullable=False, unique=True),
    sa.Column("created_at", sa.Double, nullable=False),
    sa.Column("expires_at", sa.Double),
    sa.Column("revoked_at", sa.Double),
)
manifests_table = sa.Table(
    "manifests",
    metadata,
    sa.Column("version", sa.Integer, primary_key=True, autoincrement=False),
    sa.Column("sha256", sa.Text, nullable=False, unique=True),  # of the text
    sa.Column("manifest_sha256", sa.Text, nullable=False),  # as runs record it
    sa.Column("text", sa.Text, nullable=False),
    sa.Column("uploaded_by", sa.Text, nullable=False),
    sa.Column("uploaded_at", sa.Double, nullable=False),
)
sessions_table = sa.Table(
    "ui_sessions",
    metadata,
    sa.Column("sha256", sa.Text, primary_key=True),  # of the cookie's value
    sa.Column("token_sha256", sa.Text, nullable=False),
    sa.Column("expires_at", sa.Double, nullable=False, index=True),
)
meta_table = sa.Table(
    "meta",
    metadata,
    sa.Column("key", sa.Text, primary_key=True),
    sa.Column("value", sa.Text, nullable=False),
)

_E = events_table.c


def of_kinds(kinds: Collection[str], dialect: Dialect) -> sa.ColumnElement[bool]:
    """``kind IN kinds``, written so that ``dialect`` finds its index.

    SQLite uses a partial index only for a query that states the index's own
    term: for rare kinds alone ``RARE_KINDS`` is added there. PostgreSQL proves
    the match itself, and the literal term only spoils its row estimates.
    """
    condition = _E.kind.in_(sorted(kinds))
    if dialect.name == "sqlite" and not HOT.intersection(kinds):
        return sa.and_(condition, sa.text(RARE_KINDS))
    return condition


CHAIN_COLUMNS = (_E.seq, _E.prev_hash, _E.hash, _E.body, *(
    events_table.c[name] for name in IndexColumns._fields
))  # fmt: skip
"""What ``verify`` reads of each event: its place in the chain, body and columns."""
ANCHOR_OF = sa.select(meta_table.c.value).where(meta_table.c.key == "anchor")


_EXISTING = {
    "sqlite": sa.text(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'index')"
    ),
    "postgresql": sa.text(
        "SELECT c.relname FROM pg_class c "
        "JOIN pg_namespace n ON n.oid = c.relnamespace "
        "WHERE n.nspname = current_schema() AND c.relkind IN ('r', 'p', 'i')"
    ),
}
"""The names of this schema's tables and indexes, in one cheap query."""


def create_schema(engine: Engine, where: str) -> None:
    """Create whatever tables and indexes are missing, and check the schema version.

    Raises:
        AuditUnavailable: the database has a schema version this one cannot read.
    """
    with engine.begin() as conn:
        made = set(conn.execute(_EXISTING[conn.dialect.name]).scalars())
        for table in metadata.sorted_tables:
            if table.name not in made:
                conn.execute(CreateTable(table, if_not_exists=True))
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                name = str(index.name)
                # Only what is missing: on PostgreSQL even ``IF NOT EXISTS`` locks
                # the table, behind any open write transaction, and every other
                # writer behind it.
                if name not in made and _SUPERSEDES.get(name) not in made:
                    conn.execute(CreateIndex(index, if_not_exists=True))
    version = _meta_default(engine, "schema_version", SCHEMA_VERSION)
    if version != SCHEMA_VERSION:
        msg = (
            f"the decision log {where} has schema version {version}, "
            f"this Enclosure reads version {SCHEMA_VERSION}"
        )
        raise AuditUnavailable(msg)
    _meta_default(engine, "anchor", NO_ANCHOR)


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


def compile_insert(dialect: Dialect) -> tuple[str, Callable[[tuple[Any, ...]], Any]]:
    """Compile the event insert once for this dialect; return it and a param maker.

    The param maker turns a row of values in column order into what the dialect's
    DBAPI takes: the row itself when the statement is positional in that order.
    """
    compiled = events_table.insert().compile(dialect=dialect)
    names = [column.name for column in events_table.c]
    if compiled.positional and list(compiled.positiontup or ()) == names:
        return str(compiled), _same
    return str(compiled), lambda row: dict(zip(names, row, strict=True))


def compile_closing_check(dialect: Dialect) -> tuple[str, Callable[[str], Any]]:
    """Compile the check that a run has no kill or end event; and its param maker.

    The query yields one row, ``1`` when the run is closed (``CLOSING_KINDS``, read
    through ``ix_events_closing``) and ``0`` while it is live. An append checks it
    just before inserting an action's event: a kill committed in between takes
    the ``seq`` that append was about to use, so the append loses the race, and
    its retry checks again (see ``EventTable``).
    """
    closing: sa.Select[Any] = (
        sa.select(sa.literal_column("1"))
        .select_from(events_table)
        .where(sa.text(CLOSING_KINDS))
        .where(_E.run_id == sa.bindparam("live_run", type_=sa.Text))
    )
    compiled = sa.select(sa.exists(closing)).compile(dialect=dialect)
    if compiled.positional:
        return str(compiled), lambda run_id: (run_id,)
    return str(compiled), lambda run_id: {"live_run": run_id}


def compile_run_head(
    dialect: Dialect,
) -> tuple[str, Callable[[str, int], Any]]:
    """Compile the query for a run's newest ``seq`` after a given one; its params.

    ``NULL`` when the run has none after it. Asked around every call of a run
    servers share (``Run.exclusively``), from a recent ``seq``: one range of
    ``ix_events_run_id`` (``(run_id, seq)``). PostgreSQL's ``max`` over the run
    alone walked the primary key back past every newer run's events.
    Compiled once, run on the append connection like the closing check.
    """
    # ``seq + 0``: PostgreSQL would take ``max(seq)`` of a run that holds many
    # of the events by walking the primary key back (12 ms at 120,000 events).
    head = sa.select(sa.func.max(_E.seq + sa.literal_column("0"))).where(
        _E.run_id == sa.bindparam("head_run", type_=sa.Text),
        _E.seq > sa.bindparam("head_after", type_=_SEQ),
    )
    compiled = head.compile(dialect=dialect)
    if compiled.positional:
        return str(compiled), lambda run_id, after: (run_id, after)
    return str(compiled), lambda run_id, after: {
        "head_run": run_id,
        "head_after": after,
    }


def compile_anchor(dialect: Dialect) -> tuple[str, Callable[[dict[str, str]], Any]]:
    """Compile the anchor update: zero-padded ``seq:hash`` text only ever grows."""
    value: sa.ColumnElement[str] = meta_table.c.value
    if dialect.name == "postgresql":
        value = value.collate("C")  # compare bytes, whatever the database's locale
    stmt = (
        meta_table.update()
        .where(meta_table.c.key == "anchor")
        .where(value < sa.bindparam("old_value"))
        .values(value=sa.bindparam("new_value"))
    )
    compiled = stmt.compile(dialect=dialect)
    names = list(compiled.positiontup or ()) if compiled.positional else None

    def params(values: dict[str, str]) -> Any:
        full = compiled.construct_params(values)  # adds the literal "anchor"
        return full if names is None else tuple(full[name] for name in names)

    return str(compiled), params


def parse_anchor(stored: object) -> tuple[int, str] | None:
    """Read the anchor's zero-padded ``seq:hash`` text; ``None`` if it is garbled."""
    if not isinstance(stored, str) or len(stored) != len(NO_ANCHOR):
        return None
    seq, colon, digest = stored[:20], stored[20], stored[21:]
    return (int(seq), digest) if seq.isdigit() and colon == ":" else None


def _same(row: tuple[Any, ...]) -> tuple[Any, ...]:
    return row
