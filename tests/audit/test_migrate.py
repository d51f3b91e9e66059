import threading

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from enclosure.audit import DecisionLog
from enclosure.audit._migrate import HEAD, alembic_config, current_revision, upgrade
from enclosure.audit._schema import metadata
from enclosure.errors import AuditUnavailable
from enclosure.testing import decision_event


def downgrade(engine, revision):
    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, revision)


def differences(engine):
    with engine.connect() as conn:
        return compare_metadata(MigrationContext.configure(conn), metadata)


def test_the_migrations_build_exactly_the_schema_the_code_declares(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine)
    assert current_revision(engine) == HEAD
    assert differences(engine) == []
    engine.dispose()


def test_migrating_twice_changes_nothing(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine)
    upgrade(engine)
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_a_postgresql_log_is_migrated_to_the_newest_revision(postgres):
    url = postgres.fresh_url()
    with DecisionLog(url) as log:
        log.append(decision_event(1))
    engine = sa.create_engine(url)
    assert current_revision(engine) == HEAD
    assert differences(engine) == []
    engine.dispose()
    with DecisionLog(url) as again:  # reopening migrates nothing and keeps the chain
        again.append(decision_event(2))
        assert again.verify().ok


def test_a_sqlite_log_is_still_created_without_alembic(tmp_path):
    url = f"sqlite:///{tmp_path / 'enclosure.db'}"
    DecisionLog(url).close()
    engine = sa.create_engine(url)
    assert current_revision(engine) is None
    assert differences(engine) == []
    engine.dispose()


def test_the_downgrade_removes_every_table(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine)
    downgrade(engine, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()


def test_a_database_a_newer_enclosure_migrated_is_refused_plainly(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("UPDATE alembic_version SET version_num = '9999'"))
    with pytest.raises(AuditUnavailable) as exc:
        upgrade(engine)
    assert "schema revision 9999" in exc.value.message
    assert f"knows up to {HEAD}" in exc.value.message
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    with engine.connect() as conn:  # nothing changed
        assert conn.execute(
            sa.text("SELECT version_num FROM alembic_version")
        ).all() == [("9999",)]
    engine.dispose()


def test_the_run_index_swap_goes_both_ways_with_events_in_place(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine, "0005")
    with DecisionLog(db_url) as log:  # migrates to the newest revision
        log.append(decision_event(1))
        log.append(decision_event(2, run_id="run-2"))
    downgrade(engine, "0005")
    columns = {
        ix["name"]: ix["column_names"]
        for ix in sa.inspect(engine).get_indexes("events")
    }
    assert columns["ix_events_run_id"] == ["run_id"]
    upgrade(engine)
    assert differences(engine) == []
    engine.dispose()
    with DecisionLog(db_url) as log:
        assert [s.seq for s in log.events(run_id="run-2")] == [2]
        assert log.verify().ok


def test_revision_0007_indexes_only_rare_kinds(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine, "0006")
    assert "ix_events_kind" in index_names(engine)
    upgrade(engine)
    names = index_names(engine)
    assert "ix_events_kind" not in names
    assert "ix_events_rare_kind" in names
    assert differences(engine) == []
    engine.dispose()
    with DecisionLog(db_url) as log:
        log.append(decision_event(1))
        assert log.events(kinds=["checkpoint"]) == []
        assert [e.seq for e in log.events(kinds=["decision"])] == [1]
        assert log.verify().ok


def index_names(engine) -> set[str]:
    return {str(ix["name"]) for ix in sa.inspect(engine).get_indexes("events")}


def test_a_migration_waits_for_a_long_reader_no_longer_than_its_lock_timeout(postgres):
    # Dropping an index waits for every reader of the table, and every later
    # read and write waits behind the drop: an older server's long verify would
    # stall them all for as long as it runs. The migration gives up instead.
    url = postgres.fresh_url()
    engine = sa.create_engine(url)
    upgrade(engine, "0006")
    reader = sa.create_engine(url)
    with reader.connect() as held:
        held.execute(sa.text("SELECT count(*) FROM events")).all()  # holds its lock
        with pytest.raises(AuditUnavailable) as exc:
            upgrade(engine, lock_timeout=0.05, attempts=2)
        assert "within 0.05 s in 2 tries" in exc.value.message
        assert current_revision(engine) == "0006"  # nothing changed
        held.rollback()
    upgrade(engine)  # the next open goes through
    assert current_revision(engine) == HEAD
    reader.dispose()
    engine.dispose()


def test_the_rare_kind_index_downgrades_where_the_full_one_is_back(db_url):
    engine = sa.create_engine(db_url)
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE INDEX ix_events_kind ON events (kind)"))
    downgrade(engine, "0006")
    indexes = {ix["name"] for ix in sa.inspect(engine).get_indexes("events")}
    assert "ix_events_kind" in indexes
    assert "ix_events_rare_kind" not in indexes
    upgrade(engine)
    assert differences(engine) == []
    engine.dispose()


def test_threads_opening_a_log_together_migrate_it_once(postgres):
    # Alembic keeps its context in module globals: a review saw two threads
    # tear each other's down (KeyError: 'config') after a failed try released
    # the advisory lock early; ``upgrade`` now lets one thread in at a time.
    url = postgres.fresh_url()
    engine = sa.create_engine(url)
    upgrade(engine, "0005")
    errors: list[BaseException] = []

    def open_log() -> None:
        try:
            DecisionLog(url).close()
        except BaseException as exc:  # noqa: BLE001 -- collected for the assert
            errors.append(exc)

    threads = [threading.Thread(target=open_log) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert current_revision(engine) == HEAD
    engine.dispose()


def test_opening_a_log_waits_for_no_open_write(postgres):
    # On PostgreSQL even CREATE INDEX IF NOT EXISTS takes a lock on the table:
    # an open at the newest revision waited for any open write transaction (and
    # every later writer waited for it). It now creates only what is missing.
    url = postgres.fresh_url()
    DecisionLog(url).close()
    writer = sa.create_engine(url)
    opened = threading.Event()
    with writer.connect() as held:
        held.execute(sa.text("UPDATE events SET kind = kind WHERE false"))
        thread = threading.Thread(
            target=lambda: (DecisionLog(url).close(), opened.set())
        )
        thread.start()
        assert opened.wait(10)
        held.rollback()
    thread.join(10)
    writer.dispose()
