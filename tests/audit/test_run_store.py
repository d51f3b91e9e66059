import pytest

from enclosure.audit import AlertEvent, DecisionLog, RunRecord
from enclosure.errors import UsageError


@pytest.fixture
def log(db_url):
    """The decision log on SQLite, then on PostgreSQL: both must behave the same."""
    with DecisionLog(db_url) as opened:
        yield opened


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


def test_run_counts_come_from_its_events(log, decision, result, ts):
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
