import sqlite3

import pytest
import sqlalchemy as sa

from enclosure.audit import DecisionLog
from enclosure.audit._database import Database, describe, reason
from enclosure.errors import AuditUnavailable


def test_a_corrupt_database_fails_closed(db_path, assert_fails_closed):
    db_path.write_bytes(b"this is not a database, just bytes " * 200)
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog(f"sqlite:///{db_path}")
    assert_fails_closed(exc.value, db_path)


def test_an_unreachable_server_fails_closed_without_showing_the_password():
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog("postgresql://app:pw-in-the-url@127.0.0.1:1/enclosure")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    assert "pw-in-the-url" not in str(exc.value)
    assert "127.0.0.1" in exc.value.message


def test_a_closed_database_refuses_connections(db_path):
    db = Database(f"sqlite:///{db_path}", "normal")
    with db.connect():
        pass
    db.closed = True
    for connect in (db.connect, db.begin):
        with pytest.raises(AuditUnavailable) as exc:
            connect()
        assert exc.value.message == f"the decision log {db_path} is closed"
    db.engine.dispose()


def test_the_guard_turns_driver_errors_into_audit_unavailable(db_path):
    db = Database(f"sqlite:///{db_path}", "normal")
    cause = sqlite3.OperationalError("no such table: secret_value")
    with pytest.raises(AuditUnavailable) as exc, db.guard("read"):
        raise cause
    assert exc.value.__cause__ is cause
    assert exc.value.message == (
        f"cannot read the decision log {db_path}: OperationalError"
    )
    untouched = AuditUnavailable("already translated")
    with pytest.raises(AuditUnavailable) as exc, db.guard("read"):
        raise untouched
    assert exc.value is untouched
    db.engine.dispose()


def test_a_url_names_its_database_without_the_password():
    assert describe(sa.make_url("sqlite:////var/enclosure.db")) == "/var/enclosure.db"
    assert describe(sa.make_url("sqlite://")) == ":memory:"
    named = describe(sa.make_url("postgresql://app:hunter2@db.internal/enclosure"))
    assert "hunter2" not in named
    assert "db.internal" in named


@pytest.mark.parametrize(
    ("error", "said"),
    [
        (PermissionError(13, "Permission denied"), "Permission denied"),
        (sa.exc.ArgumentError("bad url"), "the database URL is not valid"),
        (ModuleNotFoundError("psycopg2"), "the database driver is not installed"),
        (RuntimeError("secret text"), "RuntimeError"),
    ],
)
def test_the_reason_comes_from_the_errors_kind_never_its_text(error, said):
    assert reason(error) == said


def test_sqlite_error_names_get_a_plain_reason():
    full = sqlite3.OperationalError("database or disk is full")
    full.sqlite_errorname = "SQLITE_FULL"
    wrapped = sa.exc.OperationalError("INSERT ...", {}, full)
    assert reason(wrapped) == "the disk (or the database size limit) is full"
