"""``DecisionLog.changes``: hearing what another connection commits (both databases)."""

import threading

from enclosure._desk import ApprovalDesk
from enclosure.audit import DecisionLog, _changes
from enclosure.audit._changes import ANY


def request(log):
    return ApprovalDesk(log).request(
        run_id="r1",
        tool="pay",
        args={},
        binding_sha256="0" * 64,
        rule="r",
        reason="why",
        ttl=60,
        requested_by="ada",
    )


def test_a_commit_elsewhere_ends_the_wait_with_what_changed(db_url):
    with DecisionLog(db_url) as log, DecisionLog(db_url) as other:
        other.create_run("r1", agent="a", task="t", manifest_sha256="0" * 64,
                         started_at=1)  # fmt: skip
        changes = log.changes()
        assert changes.wait(0) == []
        approval = request(other)
        got = changes.wait(5)
        ApprovalDesk(other).deny(approval.approval_id, by="bob")
        decided = changes.wait(5)
        changes.close()
    if db_url.startswith("sqlite"):
        assert got == [ANY]
        assert decided == [ANY]
    else:
        assert got[0].startswith("event:")
        assert f"approval:{approval.approval_id}" in decided


def test_nothing_committed_means_an_empty_answer_at_the_timeout(db_url):
    with DecisionLog(db_url) as log:
        changes = log.changes()
        assert changes.wait(0.01) == []
        changes.close()


def test_closing_ends_a_wait_in_another_thread(db_url):
    with DecisionLog(db_url) as log:
        changes = log.changes()
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(changes.wait(30)))
        waiting.start()
        changes.close()
        waiting.join(5)
        assert not waiting.is_alive()
        assert answers == [[]]


def test_closing_wakes_a_postgresql_wait_at_once(postgres, monkeypatch):
    # A server's stop waits for its watcher's wait to end: without a wake, the
    # wait saw ``close`` only at its next tick (half a second per server stop).
    monkeypatch.setattr(_changes, "_PG_TICK", 60.0)
    with DecisionLog(postgres.fresh_url()) as log:
        changes = log.changes()
        entered = threading.Event()
        notifies = changes._raw.notifies

        def waits(**options):
            entered.set()
            return notifies(**options)

        changes._raw.notifies = waits
        answers = []
        waiting = threading.Thread(target=lambda: answers.append(changes.wait(60)))
        waiting.start()
        assert entered.wait(5)
        changes.close()
        waiting.join(5)
        assert not waiting.is_alive()
        assert answers == [[]]  # the wake is no change


def test_an_in_memory_log_has_no_one_else_to_hear():
    with DecisionLog("sqlite://") as log:
        changes = log.changes()
        assert changes.wait(0.01) == []
        changes.close()
        assert changes.wait(30) == []
