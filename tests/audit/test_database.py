import contextlib
import gc
import sqlite3
import subprocess
import sys
import threading
import warnings

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


HOLDER = """
import sys
from enclosure.audit._database import Database
db = Database(sys.argv[1], "normal")
with db.exclusive("run:shared"):
    print("held", flush=True)
    sys.stdin.read()  # until the test kills this process
"""


def _try_in_thread(db, key):
    """Take ``key`` in a thread: (taken event, let-go event, thread)."""
    taken, let_go = threading.Event(), threading.Event()

    def take():
        with db.exclusive(key):
            taken.set()
            let_go.wait(10)

    thread = threading.Thread(target=take)
    thread.start()
    return taken, let_go, thread


def test_a_lock_holds_against_another_process_until_that_process_dies(db_url):
    DecisionLog(db_url).close()  # the schema, as every real log has it
    db = Database(db_url, "normal")
    with subprocess.Popen(
        [sys.executable, "-c", HOLDER, db_url],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    ) as holder:
        try:
            assert holder.stdout.readline() == "held\n"
            with db.exclusive("run:other"):  # another key is free
                pass
            taken, let_go, thread = _try_in_thread(db, "run:shared")
            assert not taken.wait(0.3)  # held elsewhere: it waits
            holder.kill()  # a process that dies lets go of its locks
            assert taken.wait(10)
            let_go.set()
            thread.join()
        finally:
            holder.kill()
    db.dispose()


def test_a_lock_excludes_this_processs_other_threads_too(db_url):
    DecisionLog(db_url).close()
    db = Database(db_url, "normal")
    first = _try_in_thread(db, "run:r1")
    assert first[0].wait(10)
    second = _try_in_thread(db, "run:r1")
    assert not second[0].wait(0.3)
    first[1].set()  # the first lets go: the second gets it
    assert second[0].wait(10)
    second[1].set()
    for _, _, thread in (first, second):
        thread.join()
    db.dispose()


def test_a_lock_that_cannot_be_taken_is_audit_unavailable(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    db = Database(f"sqlite:///{folder / 'enclosure.db'}", "normal")
    (folder / "enclosure.db-locks").write_text("a file where the folder goes")
    with pytest.raises(AuditUnavailable) as exc, db.exclusive("run:r1"):
        pytest.fail("the block ran without its lock")
    assert exc.value.message.startswith(f"cannot lock the decision log {folder}")
    db.dispose()


def test_locks_held_at_once_do_not_use_up_the_connections_appends_need(db_url):
    DecisionLog(db_url).close()
    db = Database(db_url, "normal")
    with contextlib.ExitStack() as held:
        for i in range(24):  # more than the engine's pool and overflow (5 + 10)
            held.enter_context(db.exclusive(f"run:r{i}"))
        with db.connect() as conn:
            assert conn.exec_driver_sql("SELECT 1").scalar() == 1
    db.dispose()


def test_a_lock_whose_connection_died_is_let_go_without_failing_the_block(
    postgres, caplog
):
    url = postgres.fresh_url()
    DecisionLog(url).close()
    db = Database(url, "normal")
    with db.exclusive("run:r1"):
        with db.connect() as conn:  # the lock's session dies under it
            conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_locks "
                "WHERE locktype = 'advisory'"
            )
            conn.commit()
        ran = True
    assert ran
    assert "cannot unlock run:r1" in caplog.text
    with db.exclusive("run:r1"):  # and it is free
        pass
    db.dispose()


def test_a_connection_given_back_after_dispose_is_closed_not_left_open(postgres):
    # A thread still reading when the owner closes the log gives its connection
    # back afterwards. SQLAlchemy keeps it open in the pool it dropped, until the
    # garbage collector finds it and psycopg warns (ResourceWarning), in
    # whichever test then runs: a server's watcher did that in a CI run.
    url = postgres.fresh_url()
    DecisionLog(url).close()
    db = Database(url, "normal")
    conn = db.connect()
    raw = conn.connection.dbapi_connection
    with db.exclusive("run:r1"):  # the lock's connection too (its own pool)
        db.dispose()
    conn.close()
    assert raw.closed
    del conn, raw
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        gc.collect()
    assert [str(w.message) for w in caught] == []
