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
