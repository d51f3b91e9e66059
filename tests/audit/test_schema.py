import pytest
import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from enclosure.audit import GENESIS, DecisionLog
from enclosure.audit._migrate import upgrade
from enclosure.audit._schema import (
    NO_ANCHOR,
    SCHEMA_VERSION,
    compile_insert,
    compile_run_head,
    create_schema,
    meta_table,
    parse_anchor,
)
from enclosure.errors import AuditUnavailable


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


def test_a_runs_head_on_postgresql_is_one_range_of_its_index(postgres):
    # One event of run "a", then 20,000 of other runs: asking for "a"'s newest
    # event after seq 0 must read the run's own index range, not walk the
    # primary key back past every newer event nor sort the run's events.
    engine = sa.create_engine(postgres.fresh_url())
    upgrade(engine)
    sql, params = compile_run_head(engine.dialect)
    insert = sa.text(
        "INSERT INTO events VALUES "
        "(:s, 't', :r, 'decision', 'x', 'c', 'allow', 'executed', 0, '{}', 'p', 'h')"
    )
    with engine.begin() as conn:
        conn.execute(insert, {"s": 1, "r": "a"})
        conn.execute(insert, [{"s": s, "r": f"b{s % 50}"} for s in range(2, 20_002)])
        conn.execute(sa.text("ANALYZE events"))
        plan = conn.exec_driver_sql(
            f"EXPLAIN (ANALYZE, BUFFERS, FORMAT JSON) {sql}", params("a", 0)
        ).scalar_one()[0]["Plan"]
        assert conn.exec_driver_sql(sql, params("a", 0)).scalar_one() == 1

    def nodes(node):
        yield node
        for child in node.get("Plans", []):
            yield from nodes(child)

    scans = [n for n in nodes(plan) if "Scan" in n["Node Type"]]
    assert [n.get("Index Name") for n in scans] == ["ix_events_run_id"]
    assert "seq" in scans[0]["Index Cond"]
    assert plan["Shared Hit Blocks"] + plan.get("Shared Read Blocks", 0) < 10
    engine.dispose()
