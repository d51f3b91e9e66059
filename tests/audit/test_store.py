import contextlib
import multiprocessing
import re
import sqlite3
import stat
import threading
from collections.abc import Callable
from typing import Any, Literal

import pytest
from sqlalchemy import Engine, event

from enclosure.approvals import Approval, binding_sha256
from enclosure.audit import (
    AlertEvent,
    DecisionEvent,
    DecisionLog,
    Redactor,
    ResultEvent,
    RunRecord,
    ValidatorResult,
    event_hash,
)
from enclosure.errors import ApprovalError, AuditUnavailable, UsageError
from enclosure.models import ErrorInfo

AWS = "AKIAIOSFODNN7EXAMPLE"
GITHUB = "ghp_" + "a1B2" * 9


def ts(n: int) -> str:
    return f"2025-01-02T03:04:{n // 1000000:02d}.{n % 1000000:06d}Z"


def decision(n: int, **overrides: Any) -> DecisionEvent:
    fields: dict[str, Any] = {
        "run_id": "run-1",
        "ts": ts(n),
        "call_id": f"call-{n}",
        "tool": "send_email",
        "args": {"to": "a@example.com", "n": n},
        "args_sha256": "a" * 64,
        "context_sha256": "b" * 64,
        "context_excerpt": "",
        "agent": "mailer",
        "validator": ValidatorResult(ok=True),
        "outcome": "allow",
        "rule": "tools.send_email.rules[0]",
        "reason": "allowed",
        "disposition": "dispatched",
        "latency_us": 12,
        "cost": 0.25,
        "manifest_sha256": "c" * 64,
    }
    return DecisionEvent.model_validate(fields | overrides)


def result(
    n: int, disposition: Literal["executed", "failed"], cost: float, run_id="run-1"
):
    return ResultEvent(
        run_id=run_id,
        ts=ts(n),
        call_id=f"call-{n}",
        tool="send_email",
        disposition=disposition,
        latency_us=5,
        cost=cost,
    )


@pytest.fixture
def db_path(tmp_path):
    return tmp_path / "enclosure.db"


@pytest.fixture
def log(db_path):
    with DecisionLog(f"sqlite:///{db_path}") as opened:
        yield opened


@contextlib.contextmanager
def raw_db(path):
    """A plain sqlite3 connection, as an attacker with file access would use."""
    with contextlib.closing(sqlite3.connect(path)) as db:
        yield db
        db.commit()


def assert_fails_closed(error: AuditUnavailable, where) -> None:
    assert error.code == "E-AUDIT-UNAVAILABLE"
    assert str(where) in error.message
    assert "\n" not in str(error)
    assert "Traceback" not in str(error)
    assert "SELECT" not in str(error)
    assert "INSERT" not in str(error)
    assert error.__cause__ is not None


# -- events -------------------------------------------------------------------------


def test_appended_events_read_back_in_order_with_their_chain(log):
    events = [decision(n) for n in range(1, 4)]
    appended = [log.append(e) for e in events]
    stored = log.events()
    assert [s.seq for s in stored] == [1, 2, 3]
    assert [s.event for s in stored] == events
    assert [(s.seq, s.hash) for s in stored] == [tuple(a) for a in appended]
    assert stored[1].prev_hash == stored[0].hash
    assert log.verify().ok


def test_append_many_stores_a_batch_in_one_go(log):
    log.append(decision(1))
    appended = log.append_many([decision(2), decision(3)])
    assert [a.seq for a in appended] == [2, 3]
    assert log.append_many([]) == []
    assert log.verify().events == 3


def test_events_can_be_filtered_and_paged(log):
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


def test_a_log_reopened_continues_the_chain(db_path):
    with DecisionLog(f"sqlite:///{db_path}") as first:
        first.append(decision(1))
    with DecisionLog(f"sqlite:///{db_path}") as second:
        assert second.append(decision(2)).seq == 2
        assert second.verify().ok


def test_two_logs_on_one_file_take_turns_without_breaking_the_chain(db_path):
    url = f"sqlite:///{db_path}"
    with DecisionLog(url) as a, DecisionLog(url) as b:
        assert a.append(decision(1)).seq == 1
        assert b.append(decision(2)).seq == 2  # b's cached head was stale
        assert a.append(decision(3)).seq == 3
        report = a.verify()
    assert report.ok
    assert report.events == 3


def test_an_in_memory_log_works_for_tests():
    with DecisionLog("sqlite://") as memory:
        memory.append(decision(1))
        assert memory.verify().ok
        assert len(memory.events()) == 1


def test_open_home_creates_a_private_directory(tmp_path):
    home = tmp_path / "a" / "home"
    with DecisionLog.open_home(home) as opened:
        opened.append(decision(1))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "enclosure.db").is_file()


def test_the_log_verifies_across_batch_boundaries(log, db_path):
    log.append_many([decision(n) for n in range(1, 2101)])
    assert log.verify().events == 2100
    with raw_db(db_path) as db:
        db.execute("UPDATE events SET hash = ? WHERE seq = 1500", ("e" * 64,))
    assert log.verify().first_bad_seq == 1500


def test_threads_sharing_one_log_append_in_turn(log):
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
    log, db_path, tamper, first_bad
):
    log.append_many([decision(n) for n in range(1, 7)])
    with raw_db(db_path) as db:
        tamper(db)
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == first_bad
    assert report.problem is not None
    assert re.match(rf"events? {first_bad}\b", report.problem)


def test_reading_an_event_that_no_longer_parses_fails_closed(log, db_path):
    log.append(decision(1))
    with raw_db(db_path) as db:
        db.execute("UPDATE events SET body = '{}' WHERE seq = 1")
    with pytest.raises(AuditUnavailable) as exc:
        log.events()
    assert_fails_closed(exc.value, db_path)


# -- redaction ------------------------------------------------------------------------


def test_secrets_are_redacted_before_they_reach_the_file(db_path):
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
        log.create_approval(approval(args={"password": "pw-value-123456"}))
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


# -- several processes ---------------------------------------------------------------

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


# -- runs -----------------------------------------------------------------------------


def new_run(
    log: DecisionLog, run_id: str = "run-1", started_at: float = 1.0
) -> RunRecord:
    return log.create_run(
        run_id,
        agent="mailer",
        task="send the newsletter",
        manifest_sha256="c" * 64,
        started_at=started_at,
        model="model-x",
        started_by="alice",
    )


def test_a_new_run_is_running_with_nothing_counted(log):
    created = new_run(log)
    assert created.status == "running"
    assert log.get_run("run-1") == created
    assert created.calls == 0
    assert created.cost == 0.0
    assert created.last_event_at is None


def test_run_counts_come_from_its_events(log):
    new_run(log)
    log.append_many(
        [
            decision(1, cost=0.5),
            result(1, "executed", 0.7),
            decision(2, outcome="deny", disposition="blocked", cost=0.3),
            decision(3, outcome="simulate", disposition="simulated", cost=0.2),
            decision(4, outcome="approve", disposition="pending", cost=1.0),
            decision(5, cost=0.1),
            result(5, "failed", 0.1),
            AlertEvent(
                run_id="run-1", ts=ts(9), severity="info", rule="r", message="m"
            ),
            decision(6, run_id="run-2", cost=5.0),
        ]
    )
    record = log.get_run("run-1")
    assert record is not None
    assert (record.calls, record.executed, record.denied) == (5, 1, 1)
    assert (record.simulated, record.pending, record.failed) == (1, 1, 1)
    assert record.cost == pytest.approx(0.7 + 0.2 + 0.1)
    assert record.last_event_at == ts(9)


def test_runs_are_listed_newest_first(log):
    for n in range(1, 4):
        new_run(log, f"run-{n}", started_at=float(n))
    assert [r.run_id for r in log.list_runs()] == ["run-3", "run-2", "run-1"]
    assert [r.run_id for r in log.list_runs(limit=1)] == ["run-3"]


def test_the_first_end_of_a_run_wins(log):
    new_run(log)
    ended = log.end_run("run-1", status="killed", ended_at=5.0, reason="loop")
    assert (ended.status, ended.ended_at, ended.end_reason) == ("killed", 5.0, "loop")
    again = log.end_run("run-1", status="completed", ended_at=6.0)
    assert again.status == "killed"


def test_unknown_runs(log):
    assert log.get_run("nope") is None
    with pytest.raises(UsageError) as exc:
        log.end_run("nope", status="completed", ended_at=1.0)
    assert exc.value.code == "E-USAGE"


def test_a_run_cannot_be_created_twice_or_ended_as_running(log):
    new_run(log)
    with pytest.raises(UsageError):
        new_run(log)
    with pytest.raises(UsageError):
        log.end_run("run-1", status="running", ended_at=1.0)


# -- approvals -----------------------------------------------------------------------

ARGS = {"to": "a@example.com", "amount": 40}
BINDING = binding_sha256("run-1", "refund", ARGS)


def approval(approval_id: str = "ap-1", **overrides: Any) -> Approval:
    fields: dict[str, Any] = {
        "approval_id": approval_id,
        "run_id": "run-1",
        "tool": "refund",
        "args": ARGS,
        "binding_sha256": BINDING,
        "status": "pending",
        "rule": "tools.refund.rules[0]",
        "reason": "refunds need a human",
        "requested_at": 100.0,
        "expires_at": 200.0,
        "requested_by": "alice",
    }
    return Approval.model_validate(fields | overrides)


def code_of(call: Callable[..., object], *args: Any, **kwargs: Any) -> str:
    with pytest.raises(ApprovalError) as exc:
        call(*args, **kwargs)
    return exc.value.code


def test_an_approval_is_stored_and_read_back(log):
    log.create_approval(approval())
    assert log.get_approval("ap-1") == approval()


def test_approvals_are_listed_oldest_first_and_filtered(log):
    log.create_approval(approval("ap-2", requested_at=120.0))
    log.create_approval(approval("ap-1"))
    log.create_approval(approval("ap-3", run_id="run-2", requested_at=130.0))
    log.decide_approval("ap-3", approve=False, by="bob", reason=None, now=140.0)
    assert [a.approval_id for a in log.list_approvals()] == ["ap-1", "ap-2", "ap-3"]
    assert [a.approval_id for a in log.list_approvals(status="denied")] == ["ap-3"]
    assert [a.approval_id for a in log.list_approvals(run_id="run-1")] == [
        "ap-1",
        "ap-2",
    ]


def test_an_approved_approval_is_consumed_exactly_once(log):
    log.create_approval(approval())
    decided = log.decide_approval(
        "ap-1", approve=True, by="bob", reason="ok", now=150.0
    )
    assert (decided.status, decided.decided_by, decided.decided_at) == (
        "approved",
        "bob",
        150.0,
    )
    assert decided.decision_reason == "ok"
    consumed = log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0)
    assert consumed.status == "consumed"
    assert code_of(log.consume_approval, "ap-1", binding_sha256=BINDING, now=161.0) == (
        "E-APPROVAL-NOT-APPROVED"
    )


def test_an_approval_for_other_arguments_is_refused_and_left_usable(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    other = binding_sha256("run-1", "refund", {**ARGS, "amount": 4000})
    assert code_of(log.consume_approval, "ap-1", binding_sha256=other, now=160.0) == (
        "E-APPROVAL-MISMATCH"
    )
    assert log.get_approval("ap-1").status == "approved"
    assert log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0).status == (
        "consumed"
    )


def test_pending_and_denied_approvals_cannot_be_consumed(log):
    log.create_approval(approval("ap-1"))
    log.create_approval(approval("ap-2"))
    log.decide_approval("ap-2", approve=False, by="bob", reason="no", now=150.0)
    for approval_id in ("ap-1", "ap-2"):
        assert code_of(
            log.consume_approval, approval_id, binding_sha256=BINDING, now=160.0
        ) == ("E-APPROVAL-NOT-APPROVED")


def test_deciding_twice_is_refused(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=False, by="bob", reason=None, now=150.0)
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="carol", reason=None, now=151.0
    ) == ("E-APPROVAL-DECIDED")
    assert log.get_approval("ap-1").status == "denied"


def test_deciding_after_expiry_expires_the_approval(log):
    log.create_approval(approval())
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="bob", reason=None, now=200.0
    ) == ("E-APPROVAL-EXPIRED")
    assert log.get_approval("ap-1").status == "expired"
    assert code_of(
        log.decide_approval, "ap-1", approve=True, by="bob", reason=None, now=201.0
    ) == ("E-APPROVAL-EXPIRED")


def test_consuming_after_expiry_expires_the_approval(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    assert code_of(log.consume_approval, "ap-1", binding_sha256=BINDING, now=250.0) == (
        "E-APPROVAL-EXPIRED"
    )
    assert log.get_approval("ap-1").status == "expired"


def test_expire_approvals_marks_only_overdue_open_ones(log):
    log.create_approval(approval("ap-1", expires_at=140.0))
    log.create_approval(approval("ap-2", expires_at=140.0))
    log.create_approval(approval("ap-3", expires_at=140.0))
    log.create_approval(approval("ap-4", expires_at=300.0))
    log.decide_approval("ap-2", approve=True, by="bob", reason=None, now=130.0)
    log.decide_approval("ap-3", approve=False, by="bob", reason=None, now=130.0)
    expired = log.expire_approvals(now=150.0)
    assert [a.approval_id for a in expired] == ["ap-1", "ap-2"]
    assert all(a.status == "expired" for a in expired)
    assert log.get_approval("ap-3").status == "denied"
    assert log.get_approval("ap-4").status == "pending"
    assert log.expire_approvals(now=150.0) == []


def test_unknown_approvals_are_not_found(log):
    assert code_of(log.get_approval, "nope") == "E-APPROVAL-NOT-FOUND"
    assert code_of(
        log.decide_approval, "nope", approve=True, by="bob", reason=None, now=1.0
    ) == ("E-APPROVAL-NOT-FOUND")
    assert code_of(log.consume_approval, "nope", binding_sha256=BINDING, now=1.0) == (
        "E-APPROVAL-NOT-FOUND"
    )


def test_only_new_pending_approvals_can_be_created(log):
    log.create_approval(approval())
    with pytest.raises(UsageError):
        log.create_approval(approval())
    with pytest.raises(UsageError):
        log.create_approval(approval("ap-2", status="approved"))


def test_two_threads_consuming_one_approval_succeed_once(log):
    log.create_approval(approval())
    log.decide_approval("ap-1", approve=True, by="bob", reason=None, now=150.0)
    barrier = threading.Barrier(2, timeout=10)
    outcomes: list[str] = []

    def consume():
        barrier.wait()
        try:
            log.consume_approval("ap-1", binding_sha256=BINDING, now=160.0)
        except ApprovalError as exc:
            outcomes.append(exc.code)
        else:
            outcomes.append("consumed")

    threads = [threading.Thread(target=consume) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    assert sorted(outcomes) == ["E-APPROVAL-NOT-APPROVED", "consumed"]


# -- failing closed -------------------------------------------------------------------


def test_a_database_under_a_regular_file_fails_closed(tmp_path):
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("x", encoding="utf-8")
    target = blocker / "enclosure.db"
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog(f"sqlite:///{target}")
    assert_fails_closed(exc.value, target)
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog.open_home(blocker / "home")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    assert str(blocker / "home") in exc.value.message


def test_a_corrupt_database_fails_closed(db_path):
    db_path.write_bytes(b"this is not a database, just bytes " * 200)
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog(f"sqlite:///{db_path}")
    assert_fails_closed(exc.value, db_path)


def test_a_full_disk_fails_closed_and_keeps_the_chain(db_path):
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


def test_a_read_only_database_fails_closed_on_write(db_path):
    with DecisionLog(f"sqlite:///{db_path}") as writable:
        writable.append(decision(1))
    with DecisionLog(f"sqlite:///file:{db_path}?mode=ro&uri=true") as read_only:
        assert read_only.verify().ok
        with pytest.raises(AuditUnavailable) as exc:
            read_only.append(decision(2))
    assert_fails_closed(exc.value, db_path)


def test_an_unknown_schema_version_fails_closed(db_path):
    DecisionLog(f"sqlite:///{db_path}").close()
    with raw_db(db_path) as db:
        db.execute("UPDATE meta SET value = '99' WHERE key = 'schema_version'")
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog(f"sqlite:///{db_path}")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    assert str(db_path) in exc.value.message


def test_a_closed_log_fails_closed(db_path):
    closed = DecisionLog(f"sqlite:///{db_path}")
    closed.close()
    closed.close()
    for call in (lambda: closed.append(decision(1)), closed.verify, closed.events):
        with pytest.raises(AuditUnavailable) as exc:
            call()
        assert exc.value.code == "E-AUDIT-UNAVAILABLE"


def test_an_unreachable_server_fails_closed_without_showing_the_password():
    with pytest.raises(AuditUnavailable) as exc:
        DecisionLog("postgresql://app:pw-in-the-url@127.0.0.1:1/enclosure")
    assert exc.value.code == "E-AUDIT-UNAVAILABLE"
    assert "pw-in-the-url" not in str(exc.value)
    assert "127.0.0.1" in exc.value.message


def test_a_bad_sync_level_is_a_usage_error(db_path):
    with pytest.raises(UsageError):
        DecisionLog(f"sqlite:///{db_path}", sync="sometimes")  # type: ignore[arg-type]  # the point of the test


# -- the anchor ----------------------------------------------------------------------


def test_deleting_the_newest_events_after_close_is_found(db_path):
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
    log, db_path
):
    for n in range(1, 131):
        log.append(decision(n))
    with raw_db(db_path) as db:
        db.execute("DELETE FROM events WHERE seq > 100")
    assert log.verify().first_bad_seq == 101  # anchored at 128


def test_the_anchor_never_moves_back(db_path):
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
def test_a_missing_or_garbled_anchor_fails_verification(log, db_path, tamper):
    log.append(decision(1))
    with raw_db(db_path) as db:
        db.execute(tamper)
    report = log.verify()
    assert not report.ok
    assert report.first_bad_seq == 2
    assert report.problem is not None
    assert "anchor" in report.problem
