import stat

import pytest

from enclosure.audit import DecisionLog
from enclosure.errors import AuditUnavailable, UsageError

# -- opening ---------------------------------------------------------------------------


def test_an_in_memory_log_works_for_tests(decision):
    with DecisionLog("sqlite://") as memory:
        memory.append(decision(1))
        assert memory.verify().ok
        assert len(memory.events()) == 1


def test_open_home_creates_a_private_directory(tmp_path, decision):
    home = tmp_path / "a" / "home"
    with DecisionLog.open_home(home) as opened:
        opened.append(decision(1))
    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    assert (home / "enclosure.db").is_file()


def test_a_database_under_a_regular_file_fails_closed(tmp_path, assert_fails_closed):
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


def test_a_bad_sync_level_is_a_usage_error(db_path):
    with pytest.raises(UsageError):
        DecisionLog(f"sqlite:///{db_path}", sync="sometimes")  # type: ignore[arg-type]  # the point of the test


# -- closing ---------------------------------------------------------------------------


def test_a_closed_log_fails_closed(db_path, decision):
    closed = DecisionLog(f"sqlite:///{db_path}")
    closed.close()
    closed.close()
    for call in (lambda: closed.append(decision(1)), closed.verify, closed.events):
        with pytest.raises(AuditUnavailable) as exc:
            call()
        assert exc.value.code == "E-AUDIT-UNAVAILABLE"


def test_closing_the_log_closes_its_runs_and_approvals_too(log):
    log.close()
    for call in (
        lambda: log.get_run("run-1"),
        log.list_runs,
        lambda: log.get_approval("ap-1"),
        log.list_approvals,
        lambda: log.expire_approvals(now=1.0),
    ):
        with pytest.raises(AuditUnavailable) as exc:
            call()
        assert exc.value.message.endswith("is closed")


def test_a_log_names_its_database(db_path):
    with DecisionLog(f"sqlite:///{db_path}") as log:
        assert repr(log) == f"<DecisionLog {db_path}>"


_WRITER = """
import sys
from enclosure.audit import DecisionLog
from enclosure.testing import decision_event

log = DecisionLog(f"sqlite:///{sys.argv[1]}", sync="full")
n = 0
while True:
    n += 1
    if n % 3:
        done = [log.append(decision_event(n))]
    else:
        done = log.append_many(decision_event(n * 1000 + i) for i in range(20))
    for a in done:
        sys.stdout.write(f"{a.seq} {a.hash}\\n")
    sys.stdout.flush()  # acknowledged: append returned
"""


def test_every_acknowledged_event_survives_sigkill_and_the_chain_verifies(db_path):
    import select  # noqa: PLC0415
    import signal  # noqa: PLC0415
    import subprocess  # noqa: PLC0415
    import sys  # noqa: PLC0415

    proc = subprocess.Popen(
        [sys.executable, "-c", _WRITER, str(db_path)],
        stdout=subprocess.PIPE,
        text=True,
    )
    acked: dict[int, str] = {}
    try:
        assert proc.stdout is not None
        while len(acked) < 400:
            ready, _, _ = select.select([proc.stdout], [], [], 30)
            assert ready, "the writer stopped acknowledging"
            seq, digest = proc.stdout.readline().split()
            acked[int(seq)] = digest
    finally:
        proc.send_signal(signal.SIGKILL)  # mid-load: more appends are under way
        proc.wait(10)
        assert proc.stdout is not None
        proc.stdout.close()
    assert proc.returncode == -signal.SIGKILL
    with DecisionLog(f"sqlite:///{db_path}") as log:
        stored = {s.seq: s.hash for s in log.events()}
        assert {seq: stored.get(seq) for seq in acked} == acked
        report = log.verify()
        assert report.ok, report.problem
        assert report.events >= max(acked)
