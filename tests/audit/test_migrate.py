import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext

from enclosure.audit import DecisionLog
from enclosure.audit._migrate import HEAD, current_revision, upgrade
from enclosure.audit._schema import metadata
from enclosure.testing import decision_event


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
    from alembic import command  # noqa: PLC0415

    from enclosure.audit._migrate import alembic_config  # noqa: PLC0415

    config = alembic_config()
    with engine.begin() as conn:
        config.attributes["connection"] = conn
        command.downgrade(config, "base")
    assert set(sa.inspect(engine).get_table_names()) <= {"alembic_version"}
    engine.dispose()
