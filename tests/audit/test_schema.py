import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from enclosure.audit import GENESIS, DecisionLog, KillEvent
from enclosure.audit._migrate import upgrade
from enclosure.audit._schema import (
    NO_ANCHOR,
    RARE_KINDS,
    SCHEMA_VERSION,
    compile_insert,
    compile_run_head,
    create_schema,
    meta_table,
    parse_anchor,
)
from enclosure.errors import AuditUnavailable
from enclosure.testing import decision_event


def meta(engine):
    with engine.connect() as conn:
        return dict(conn.execute(sa.select(meta_table)).all())


def test_creating_the_schema_twice_keeps_what_is_stored():
    engine = sa.create_engine("sqlite://", poolclass=sa.StaticPool)
    create_schema(engine, "test.db")
    assert meta(engine) == {"schema_version": SCHEMA_VERSION, "anchor": NO_ANCHOR}
    with engine.begin() as conn:
        conn.execute(
            meta_table.update().values(value="x").where(meta_table.c.key == "anchor")
        )
    create_schema(engine, "test.db")
    assert meta(engine)["anchor"] == "x"
    engine.dispose()


def test_an_unknown_schema_version_fails_closed(db_path, raw_db):
    DecisionLog(f"sqlite:///{db_path}").close()
    with raw_db(db_path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog(f"sqlite:///{db_path}")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    assert str(db_path) in exc.value.message


@pytest.mark.parametrize(
    ("stored", "parsed"),
    [
        (NO_ANCHOR, (0, GENESIS)),
        (f"{42:020d}:{'e' * 64}", (42, "e" * 64)),
        (None, None),
        (7, None),
        ("x", None),
        (f"{42:020d};{'e' * 64}", None),
        (f"{-4:020d}:{'e' * 64}", None),
    ],
)
def test_only_a_well_formed_anchor_parses(stored, parsed):
    assert parse_anchor(stored) == parsed


@pytest.mark.parametrize("dialect", [sqlite.dialect(), postgresql.dialect()])
def test_the_compiled_insert_takes_rows_in_the_dialects_paramstyle(dialect):
    sql, as_params = compile_insert(dialect)
    assert sql.startswith("INSERT INTO events")
    row = tuple(range(12))
    params = as_params(row)
    if dialect.positional:
        assert params is row  # no copy on the hot path
    else:
        assert params["seq"] == 0
        assert params["hash"] == 11


@pytest.mark.parametrize("every", [None, 10, 2])
def test_a_runs_head_on_postgresql_is_one_range_of_its_index(postgres, every):
    # Run "a" holds one event, or every 10th or 2nd of the first 20,000; then
    # 100,000 of other runs. Its newest event after its last known one must be
    # one short range of the run's index: not a walk back along the primary key
    # past every newer event, nor a read of all the run's entries.
    engine = sa.create_engine(postgres.fresh_url())
    upgrade(engine)
    sql, params = compile_run_head(engine.dialect)
    insert = sa.text(
        "INSERT INTO events VALUES "
        "(:s, 't', :r, 'decision', 'x', 'c', 'allow', 'executed', 0, '{}', 'p', 'h')"
    )

    def run_of(seq: int) -> str:
        mine = seq == 1 if every is None else seq <= 20_000 and seq % every == 0
        return "a" if mine else f"b{seq % 500}"

    rows = [{"s": seq, "r": run_of(seq)} for seq in range(1, 120_001)]
    with engine.begin() as conn:
        conn.execute(insert, rows)
        conn.execute(sa.text("ANALYZE events"))
        last = conn.execute(
            sa.text("SELECT max(seq) FROM events WHERE run_id = 'a'")
        ).scalar_one()
        plan = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params("a", last - 1)
        ).scalar_one()[0]["Plan"]
        assert conn.exec_driver_sql(sql, params("a", last - 1)).scalar_one() == last
        assert conn.exec_driver_sql(sql, params("a", last)).scalar_one() is None

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    indexed = [n for n in nodes(plan) if "Index Name" in n]
    assert [n["Index Name"] for n in indexed] == ["ix_events_run_id"]
    assert "seq" in indexed[0]["Index Cond"]
    assert all(n["Node Type"] != "Seq Scan" for n in nodes(plan))
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 10
    engine.dispose()


TS = "2025-01-02T03:04:05.000006Z"


TS = "2025-01-02T03:04:05.000006Z"


def indexes_of_events(conn) -> dict[str, str]:
    rows = conn.execute(
        "SELECT name, sql FROM sqlite_master "
        "WHERE type = 'index' AND tbl_name = 'events'"
    )
    return {name: sql for name, sql in rows if sql}


def test_only_rare_kinds_are_indexed_by_kind(db_path, raw_db):
    with DecisionLog(f"sqlite:///{db_path}") as log:
        log.append(decision_event(1))
        log.append(KillEvent(run_id="run-1", ts=TS, rule="r", reason="r"))
    with raw_db(db_path) as db:
        indexes = indexes_of_events(db)
        assert "ix_events_kind" not in indexes
        assert f"WHERE {RARE_KINDS}" in indexes["ix_events_rare_kind"]
        in_index = db.execute(
            "SELECT kind FROM events INDEXED BY ix_events_rare_kind "
            "WHERE kind = 'kill' AND kind NOT IN ('decision', 'result')"
        ).fetchall()
        assert in_index == [("kill",)]


def test_queries_for_rare_kinds_use_the_partial_index(db_path, raw_db):
    queries: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if statement.startswith("SELECT events.seq"):
            queries.append((statement, parameters))

    with DecisionLog(f"sqlite:///{db_path}") as log:
        log.append(decision_event(1))
        engine = log._db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        assert log.events(kinds=["checkpoint", "manifest"]) == []
        assert log._events.last_of_kind("checkpoint") is None
        assert [e.seq for e in log.events(kinds=["decision"])] == [1]
        sa.event.remove(engine, "before_cursor_execute", record)
    with raw_db(db_path) as db:
        rare, last, hot = (
            " ".join(str(row[-1]) for row in db.execute(f"EXPLAIN QUERY PLAN {sql}", p))
            for sql, p in queries
        )
    assert "ix_events_rare_kind" in rare
    assert "ix_events_rare_kind" in last
    assert "ix_events_rare_kind" not in hot


def test_an_older_log_keeps_its_index_on_every_kind(db_path, raw_db):
    # Opening builds and drops nothing under the write lock, and an older
    # Enclosure sharing the file finds what it made: the full index serves the
    # same queries as the partial one.
    DecisionLog(f"sqlite:///{db_path}").close()
    with raw_db(db_path) as db:  # as a log made before revision 0007
        db.execute("DROP INDEX ix_events_rare_kind")
        db.execute("CREATE INDEX ix_events_kind ON events (kind)")
        db.commit()
    with DecisionLog(f"sqlite:///{db_path}") as log:
        log.append(decision_event(1))
        log.append(KillEvent(run_id="run-1", ts=TS, rule="r", reason="r"))
        assert log.verify().ok
        assert [s.seq for s in log.events(kinds=["kill"])] == [2]
    with raw_db(db_path) as db:
        indexes = indexes_of_events(db)
        assert "ix_events_kind" in indexes
        assert "ix_events_rare_kind" not in indexes
        rare = "SELECT seq FROM events WHERE kind IN ('kill') AND " + RARE_KINDS  # noqa: S608 -- constants
        plan = db.execute(f"EXPLAIN QUERY PLAN {rare}").fetchall()
        assert "ix_events_kind" in str(plan)


def test_the_agents_baseline_reads_egress_through_the_partial_index(db_path, raw_db):
    queries: list[tuple[str, object]] = []

    def record(conn, cursor, statement, parameters, context, executemany):
        if "body" in statement and "JOIN runs" in statement:
            queries.append((statement, parameters))

    with DecisionLog(f"sqlite:///{db_path}") as log:
        engine = log._db.engine
        sa.event.listen(engine, "before_cursor_execute", record)
        log.seen_names()
        sa.event.remove(engine, "before_cursor_execute", record)
    ((egress, params),) = queries
    with raw_db(db_path) as db:
        plan = db.execute(f"EXPLAIN QUERY PLAN {egress}", params).fetchall()
    assert "ix_events_rare_kind" in str(plan)
