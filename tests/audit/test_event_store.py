import contextlib
import multiprocessing
import re
import sqlite3
import threading
from typing import Literal

import pytest
from sqlalchemy import Engine, event
from sqlalchemy.dialects import sqlite

from enclosure.audit import (
    AlertEvent,
    DecisionEvent,
    DecisionLog,
    KillEvent,
    Redactor,
    RunClosed,
    RunEndedEvent,
    event_hash,
)
from enclosure.audit._schema import compile_closing_check
from enclosure.errors import AuditUnavailable
from enclosure.models import ErrorInfo

# -- events ----------------------------------------------------------------------------


def test_appended_events_read_back_in_order_with_their_chain(log, decision):
    events = [decision(n) for n in range(1, 4)]
    appended = [log.append(e) for e in events]
    stored = log.events()
    assert [s.seq for s in stored] == [1, 2, 3]
    assert [s.event for s in stored] == events
    assert [(s.seq, s.hash) for s in stored] == [tuple(a) for a in appended]
    assert stored[1].prev_hash == stored[0].hash
    assert log.verify().ok


def test_append_many_stores_a_batch_in_one_go(log, decision):
    log.append(decision(1))
    appended = log.append_many([decision(2), decision(3)])
    assert [a.seq for a in appended] == [2, 3]
    assert log.append_many([]) == []
    assert log.verify().events == 3


def test_events_can_be_filtered_and_paged(log, decision, result, ts):
    log.append(decision(1))
    log.append(result(1, "executed", 1.0))
    log.append(decision(2, run_id="run-2"))
    log.append(
        AlertEvent(run_id="run-1", ts=ts(3), severity="info", rule="r", message="m")
    )
    assert [s.seq for s in log.events(run_id="run-1")] == [1, 2, 4]
    assert [s.seq for s in log.events(kinds=["result", "alert"])] == [2, 4]
    assert [s.seq for s in log.events(after_seq=2)] == [3, 4]
    assert [s.seq for s in log.events(limit=2)] == [1, 2]
    assert log.events(kinds=[]) == []


def test_a_log_reopened_continues_the_chain(db_path, decision):
    with DecisionLog(f"sqlite:///{db_path}") as first:
        first.append(decision(1))
    with DecisionLog(f"sqlite:///{db_path}") as second:
        assert second.append(decision(2)).seq == 2
        assert second.verify().ok


def test_two_logs_on_one_file_take_turns_without_breaking_the_chain(db_path, decision):
    url = f"sqlite:///{db_path}"
    with DecisionLog(url) as a, DecisionLog(url) as b:
        assert a.append(decision(1)).seq == 1
        assert b.append(decision(2)).seq == 2  # b's cached head was stale
        assert a.append(decision(3)).seq == 3
        report = a.verify()
    assert report.ok
    assert report.events == 3


def test_the_log_verifies_across_batch_boundaries(log, db_path, decision, raw_db):
    log.append_many([decision(n) for n in range(1, 2101)])
    assert log.verify().events == 2100
    with raw_db(db_path) as db:
        db.execute("UPDATE events SET hash = ? WHERE seq = 1500", ("e" * 64,))
    assert log.verify().first_bad_seq == 1500


def test_threads_sharing_one_log_append_in_turn(log, decision):
    barrier = threading.Barrier(4, timeout=10)

    def append_fifty(name):
        barrier.wait()
        for n in range(50):
            log.append(decision(n, run_id=name))

    threads = [
        threading.Thread(target=append_fifty, args=(f"run-{k}",)) for k in range(4)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    report = log.verify()
    assert report.ok
    assert report.events == 200


# -- tampering, done with sqlite3 on the file ------------------------------------------


def hash_of(db: sqlite3.Connection, seq: int) -> str:
    return str(
        db.execute("SELECT hash FROM events WHERE seq = ?", (seq,)).fetchone()[0]
    )


def edit_body(db):
    db.execute(
        "UPDATE events SET body = replace(body, 'call-3', 'call-9') WHERE seq = 3"
    )


def edit_hash(db):
    db.execute("UPDATE events SET hash = ? WHERE seq = 3", ("e" * 64,))


def delete_middle_row(db):
    db.execute("DELETE FROM events WHERE seq = 3")


def delete_first_row(db):
    db.execute("DELETE FROM events WHERE seq = 1")


def append_forged_row(db):
    db.execute(
        "INSERT INTO events SELECT 7, ts, run_id, kind, tool, call_id, outcome,"
        " disposition, cost, body, ?, ? FROM events WHERE seq = 2",
        (hash_of(db, 6), "1" * 64),
    )


def insert_forged_row(db):
    # A forger who knows the algorithm makes a row that links to event 2 and shifts
    # the rest up; the old event 3 (now 4) then no longer links.
    db.execute("UPDATE events SET seq = -seq WHERE seq >= 3")
    db.execute("UPDATE events SET seq = 1 - seq WHERE seq < 0")
    body = db.execute("SELECT body FROM events WHERE seq = 1").fetchone()[0]
    prev = hash_of(db, 2)
    db.execute(
        "INSERT INTO events SELECT 3, ts, run_id, kind, tool, call_id, outcome,"
        " disposition, cost, body, ?, ? FROM events WHERE seq = 1",
        (prev, event_hash(prev, 3, body.encode())),
    )


def swap_two_rows(db):
    db.execute("UPDATE events SET seq = -1 WHERE seq = 3")
    db.execute("UPDATE events SET seq = 3 WHERE seq = 5")
    db.execute("UPDATE events SET seq = 5 WHERE seq = -1")


def edit_tool_column(db):
    db.execute("UPDATE events SET tool = 'other' WHERE seq = 3")


def edit_cost_column(db):
    db.execute("UPDATE events SET cost = 0 WHERE seq = 3")


def replace_body_with_non_event(db):
    body = '{"kind":"bogus"}'
    prev = hash_of(db, 2)
    db.execute(
        "UPDATE events SET body = ?, hash = ? WHERE seq = 3",
        (body, event_hash(prev, 3, body.encode())),
    )


def renumber_everything(db):
    db.execute("UPDATE events SET seq = seq + 10")


@pytest.mark.parametrize(
    ("tamper", "first_bad"),
    [
        (edit_body, 3),
        (edit_hash, 3),
        (delete_middle_row, 3),
        (delete_first_row, 1),
        (append_forged_row, 7),
        (insert_forged_row, 4),
        (swap_two_rows, 3),
        (edit_tool_column, 3),
        (edit_cost_column, 3),
        (replace_body_with_non_event, 3),
        (renumber_everything, 1),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_tampering_with_the_file_is_found_at_the_first_bad_event(
    log, db_path, tamper, first_bad, decision, raw_db
):
    log.append_many([decision(n) for n in range(1, 7)])
    with raw_db(db_path) as db:
        tamper(db)
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert report.problem is not None
    assert re.match(rf"events? {first_bad}\b", report.problem)


def test_reading_an_event_that_no_longer_parses_fails_closed(
    log, db_path, decision, raw_db, assert_fails_closed
):
    log.append(decision(1))
    with raw_db(db_path) as db:
        db.execute("UPDATE events SET body = '{}' WHERE seq = 1")
    with pytest.raises(AuditUnavailable) as exc:
        log.events()
    assert_fails_closed(exc.value, db_path)


# -- redaction -------------------------------------------------------------------------


AWS = "AKIAIOSFODNN7EXAMPLE"


GITHUB = "ghp_" + "a1B2" * 9


def test_secrets_are_redacted_before_they_reach_the_file(db_path, decision):
    known = "hunter2-very-secret"
    leaks = [known, AWS, GITHUB, "pw-value-123456", "tok-abcdefgh1234"]
    event = decision(
        1,
        args={
            "password": "pw-value-123456",
            "note": f"use {known} please",
            "key": AWS,
            "headers": {"Authorization": "Bearer tok-abcdefgh1234"},
        },
        context_excerpt=f"token {GITHUB}",
        error=ErrorInfo(code="E-X", message=f"failed for {known}"),
    )
    with DecisionLog(f"sqlite:///{db_path}", redactor=Redactor([known])) as log:
        log.append(event)
        stored = log.events()[0].event
        assert log.verify().ok
        files = sorted(db_path.parent.glob("enclosure.db*"))
        assert len(files) >= 2  # the database and its write-ahead log
        for path in files:
            data = path.read_bytes()
            for leak in leaks:
                assert leak.encode() not in data, (path.name, leak)
    assert isinstance(stored, DecisionEvent)
    assert stored.args == {
        "password": "[REDACTED]",
        "note": "use [REDACTED] please",
        "key": "[REDACTED:aws_access_key]",
        "headers": {"Authorization": "[REDACTED]"},
    }
    assert stored.context_excerpt == "token [REDACTED:github_token]"
    assert stored.args_sha256 == event.args_sha256


# -- several processes -----------------------------------------------------------------


WORKER = """
from enclosure.audit import AlertEvent, DecisionLog

with DecisionLog(url) as log:
    barrier.wait(timeout=60)
    for n in range(count):
        log.append(
            AlertEvent(
                run_id=name,
                ts="2025-01-02T03:04:05.000006Z",
                severity="info",
                rule="worker",
                message=str(n),
            )
        )
"""


def test_two_processes_appending_at_once_keep_one_valid_chain(log, db_path):
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(2)
    url = f"sqlite:///{db_path}"
    workers = [
        ctx.Process(
            target=exec,
            args=(WORKER, {"url": url, "barrier": barrier, "name": name, "count": 200}),
        )
        for name in ("worker-a", "worker-b")
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0]
    report = log.verify()
    assert report.ok, report.problem
    assert report.events == 400
    for name in ("worker-a", "worker-b"):
        messages = [s.event.message for s in log.events(run_id=name)]
        assert messages == [str(n) for n in range(200)]


def test_writers_in_tight_loops_never_starve_one_another(postgres):
    """Four processes appending flat out: each loser backs off, none gives up.

    Without the back-off one of four writers lost 100 races in a row within the
    first few hundred appends on PostgreSQL; a kill it held would have been lost.
    """
    url = postgres.fresh_url()
    DecisionLog(url).close()
    ctx = multiprocessing.get_context("spawn")
    barrier = ctx.Barrier(4)
    names = [f"worker-{k}" for k in range(4)]
    workers = [
        ctx.Process(
            target=exec,
            args=(WORKER, {"url": url, "barrier": barrier, "name": name, "count": 400}),
        )
        for name in names
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=120)
    assert [w.exitcode for w in workers] == [0, 0, 0, 0]
    with DecisionLog(url) as log:
        report = log.verify()
        assert report.ok, report.problem
        assert report.events == 1600


# -- failing closed --------------------------------------------------------------------


def test_a_full_disk_fails_closed_and_keeps_the_chain(
    db_path, decision, assert_fails_closed
):
    DecisionLog(f"sqlite:///{db_path}").close()

    def cap_size(dbapi_connection, _record):
        dbapi_connection.execute("PRAGMA max_page_count = 1")  # the current size

    event.listen(Engine, "connect", cap_size)
    try:
        full = DecisionLog(f"sqlite:///{db_path}")
    finally:
        event.remove(Engine, "connect", cap_size)
    error = None
    stored = 0
    with full:
        for n in range(1, 1000):
            try:
                full.append(decision(n, args={"marker": "arg-value-never-shown"}))
            except AuditUnavailable as exc:
                error = exc
                break
            stored += 1
    assert error is not None
    assert_fails_closed(error, db_path)
    assert "arg-value-never-shown" not in str(error)
    with DecisionLog(f"sqlite:///{db_path}") as reopened:
        report = reopened.verify()
        assert report.ok
        assert report.events == stored
        assert reopened.append(decision(0)).seq == stored + 1


def test_a_read_only_database_fails_closed_on_write(
    db_path, decision, assert_fails_closed
):
    with DecisionLog(f"sqlite:///{db_path}") as writable:
        writable.append(decision(1))
    with DecisionLog(f"sqlite:///file:{db_path}?mode=ro&uri=true") as read_only:
        assert read_only.verify().ok
        with pytest.raises(AuditUnavailable) as exc:
            read_only.append(decision(2))
    assert_fails_closed(exc.value, db_path)


# -- the anchor ------------------------------------------------------------------------


def test_deleting_the_newest_events_after_close_is_found(db_path, decision, raw_db):
    with DecisionLog(f"sqlite:///{db_path}") as closed_cleanly:
        closed_cleanly.append_many([decision(n) for n in range(1, 11)])
    with raw_db(db_path) as db:
        db.execute("DELETE FROM events WHERE seq > 7")
    with DecisionLog(f"sqlite:///{db_path}") as reopened:
        report = reopened.verify()
    assert report.first_bad_seq == 8
    assert report.problem is not None
    assert report.problem.startswith("events 8-10: missing")


def test_deleting_events_while_the_log_runs_is_found_up_to_the_last_anchor(
    log, db_path, decision, raw_db
):
    for n in range(1, 131):
        log.append(decision(n))
    with raw_db(db_path) as db:
        db.execute("DELETE FROM events WHERE seq > 100")
    assert log.verify().first_bad_seq == 101  # anchored at 128


def test_the_anchor_never_moves_back(db_path, decision, raw_db):
    url = f"sqlite:///{db_path}"
    first, second = DecisionLog(url), DecisionLog(url)
    first.append_many([decision(n) for n in range(1, 4)])
    second.append_many([decision(n) for n in range(4, 6)])
    second.close()
    first.close()  # its head (3) is behind the anchor (5)
    with raw_db(db_path) as db:
        db.execute("DELETE FROM events WHERE seq = 5")
    with DecisionLog(url) as reopened:
        assert reopened.verify().first_bad_seq == 5


@pytest.mark.parametrize(
    "tamper",
    ["DELETE FROM meta WHERE key = 'anchor'", "UPDATE meta SET value = 'x'"],
)
def test_a_missing_or_garbled_anchor_fails_verification(
    log, db_path, tamper, decision, raw_db
):
    log.append(decision(1))
    with raw_db(db_path) as db:
        db.execute(tamper)
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.problem is not None
    assert "anchor" in report.problem


def test_two_writers_on_one_database_interleave_into_one_valid_chain(db_url, decision):
    with DecisionLog(db_url) as first, DecisionLog(db_url) as second:
        for n in range(1, 41):
            (first if n % 2 else second).append(decision(n))
        assert first.verify().ok
        assert [s.seq for s in second.events()] == list(range(1, 41))


# ---- actions of live runs only ----------------------------------------------------


def _kill(run_id: str, seq: int) -> KillEvent:
    return KillEvent(
        run_id=run_id,
        ts=f"2025-01-02T03:05:{seq:02d}.000000Z",
        rule="manual",
        reason="stop",
    )


def _ended(run_id: str, status: Literal["completed", "killed"]) -> RunEndedEvent:
    return RunEndedEvent(
        run_id=run_id,
        ts="2025-01-02T03:06:00.000000Z",
        status=status,
        calls=1,
        cost=0.0,
        denials=0,
        errors=0,
    )


def test_a_live_append_is_stored_while_its_run_is_open(db_url, decision):
    with DecisionLog(db_url) as log:
        log.append(_kill("run-other", 1))  # another run's kill changes nothing
        appended = log.append(decision(2), live=True)
        assert appended.seq == 2
        assert log.closing_event("run-1") is None
        assert log.verify().ok


@pytest.mark.parametrize("closing", ["kill", "completed", "killed"])
def test_a_live_append_after_its_run_closed_stores_nothing(db_url, decision, closing):
    with DecisionLog(db_url) as log, DecisionLog(db_url) as other:
        log.append(decision(1), live=True)
        # Another process closes the run; this log's cached head is now stale.
        other.append(
            _kill("run-1", 2) if closing == "kill" else _ended("run-1", closing)  # type: ignore[arg-type]
        )
        with pytest.raises(RunClosed) as caught:
            log.append(decision(3), live=True)
        assert caught.value.run_id == "run-1"
        assert [s.seq for s in log.events()] == [1, 2]
        closed = log.closing_event("run-1")
        assert closed is not None
        assert closed.seq == 2
        # Not a live action: the refusal itself can still be recorded.
        assert log.append(decision(3)).seq == 3
        assert log.verify().ok


def test_the_first_closing_event_is_the_kill_before_the_end(db_url, decision):
    with DecisionLog(db_url) as log:
        log.append(decision(1))
        log.append(_kill("run-1", 2))
        log.append(_ended("run-1", "killed"))
        closed = log.closing_event("run-1")
        assert closed is not None
        assert isinstance(closed.event, KillEvent)


def test_a_kill_racing_a_live_append_either_follows_it_or_refuses_it(db_url, decision):
    """Many rounds of a writer thread killing while another appends live."""
    refused = 0
    with DecisionLog(db_url) as log, DecisionLog(db_url) as killer:
        for round_ in range(20):
            run_id = f"run-{round_}"
            started = threading.Event()
            stored: list[int] = []

            def act(
                run_id: str = run_id,
                started: threading.Event = started,
                stored: list[int] = stored,
            ) -> None:
                started.set()
                for n in range(50):  # fewer than a loser's retries
                    try:
                        stored.append(
                            log.append(decision(n, run_id=run_id), live=True).seq
                        )
                    except RunClosed:
                        nonlocal refused
                        refused += 1
                        return

            worker = threading.Thread(target=act)
            worker.start()
            started.wait()
            try:
                kill_seq = killer.append(_kill(run_id, 1)).seq
            finally:
                worker.join()
            assert all(seq < kill_seq for seq in stored)  # nothing after the kill
        assert log.verify().ok
    assert refused > 0  # the kill did land while the other thread acted


def _plan(db_path, sql: str, params: object) -> str:
    with contextlib.closing(sqlite3.connect(db_path)) as db:
        plan = db.execute(f"EXPLAIN QUERY PLAN {sql}", params).fetchall()
    return " ".join(row[3] for row in plan)


def test_the_live_check_reads_the_partial_index_of_closing_events(db_path):
    DecisionLog(f"sqlite:///{db_path}").close()
    sql = compile_closing_check(sqlite.dialect())[0]
    details = _plan(db_path, sql, ("run-1",))
    assert "ix_events_closing" in details, details


def test_reading_a_runs_closing_event_uses_the_partial_index_too(db_path, decision):
    seen: list[tuple[str, object]] = []

    def capture(_conn, _cursor, statement, params, _context, _many):
        seen.append((statement, params))

    with DecisionLog(f"sqlite:///{db_path}") as log:
        log.append(decision(1))
        event.listen(Engine, "before_cursor_execute", capture)
        try:
            assert log.closing_event("run-1") is None
        finally:
            event.remove(Engine, "before_cursor_execute", capture)
    [(sql, params)] = [(q, p) for q, p in seen if "run_ended" in q]
    details = _plan(db_path, sql, params)
    assert "ix_events_closing" in details, details


def test_the_live_check_is_skipped_only_while_nobody_else_wrote(db_path, decision):
    checks: list[str] = []
    with DecisionLog(f"sqlite:///{db_path}") as log:
        raw = log._events._raw.driver_connection
        raw.set_trace_callback(
            lambda sql: checks.append(sql) if "run_ended" in sql else None
        )
        for n in range(1, 6):
            log.append(decision(n), live=True)
        assert len(checks) == 1  # the first append learnt the run is open
        with DecisionLog(f"sqlite:///{db_path}") as other:
            other.append(decision(6, run_id="run-2"))  # someone else wrote
        log.append(decision(7), live=True)
        assert len(checks) == 2  # lost the race, so checked again
        log.append(_kill("run-1", 8))  # this log's own kill closes the run
        with pytest.raises(RunClosed):
            log.append(decision(9), live=True)
        assert log.verify().ok


def test_run_closed_says_whether_a_run_has_its_kill_or_end(db_url, decision):
    with DecisionLog(db_url) as log:
        log.append(decision(1))
        assert log.run_closed("run-1") is False
        log.append(_kill("run-1", 2))
        assert log.run_closed("run-1") is True
        assert log.run_closed("run-2") is False
        log.append(decision(3, run_id="run-2"))  # the check left no transaction open
        assert log.verify().ok
    with pytest.raises(AuditUnavailable):
        log.run_closed("run-1")


def test_run_closed_asks_again_only_once_another_connection_committed(
    db_path, decision
):
    checks: list[str] = []
    url = f"sqlite:///{db_path}"
    with DecisionLog(url) as log:
        log.append(decision(1))
        raw = log._events._raw.driver_connection
        raw.set_trace_callback(
            lambda sql: checks.append(sql) if "run_ended" in sql else None
        )
        assert [log.run_closed("run-1") for _ in range(5)] == [False] * 5
        assert len(checks) == 1  # then PRAGMA data_version said nobody wrote
        log.append(decision(2))  # this connection's own decision changes nothing
        assert log.run_closed("run-1") is False
        assert len(checks) == 1
        with DecisionLog(url) as other:
            other.append(decision(3, run_id="run-2"))  # another connection wrote
        assert log.run_closed("run-1") is False
        assert len(checks) == 2
        with DecisionLog(url) as other:
            other.append(_kill("run-1", 4))
        assert log.run_closed("run-1") is True
        assert log.run_closed("run-2") is False
        log.append(_kill("run-2", 5))  # its own kill closes a run known open
        assert log.run_closed("run-2") is True


def test_run_head_is_the_newest_seq_among_the_runs_events(db_url, decision):
    with DecisionLog(db_url) as log:
        assert log.run_head("run-1") == 0
        log.append(decision(1))
        log.append(decision(2, run_id="run-2"))
        log.append(decision(3))
        assert (log.run_head("run-1"), log.run_head("run-2")) == (3, 2)
        log.append(decision(4, run_id="run-2"))  # the read left no transaction open
        assert log.run_head("run-2") == 4
        assert log.run_head("run-1", after=2) == log.run_head("run-1", after=3) == 3
        assert log.run_head("run-2", after=9) == 9  # nothing after: where it looked
        assert log.verify().ok
