import json
import threading

from enclosure._webhook import Webhook
from enclosure.audit import (
    CheckpointEvent,
    CheckpointFile,
    Checkpointing,
    CheckpointWebhook,
    DecisionLog,
    MerkleTree,
    SigningKeys,
    leaf_hash,
)
from enclosure.audit._checkpointer import CheckpointTimer
from enclosure.testing import FakeClock


def _open(db_path, keys, clock, **kw):
    settings = Checkpointing(keys=keys, clock=clock, **kw)
    return DecisionLog(f"sqlite:///{db_path}", checkpoints=settings)


def _checkpoints(log):
    return list(log.events(kinds=["checkpoint"]))


def test_a_checkpoint_every_n_events_signs_the_merkle_root(db_path, tmp_path, decision):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    with _open(db_path, keys, clock, every_events=4) as log:
        for n in range(1, 10):
            log.append(decision(n))
        found = _checkpoints(log)
        assert [(s.seq, s.event.tree_size) for s in found] == [(5, 4), (9, 8)]
        tree = MerkleTree(leaf_hash(bytes.fromhex(h)) for h in log.event_hashes())
        assert found[1].event.root_hash == tree.root(8).hex()
        report = log.verify(public_keys=keys.public_keys())
        assert report.ok
        assert (report.checkpoints, report.signed_events) == (2, 8)


def test_time_run_end_and_close_checkpoint_what_is_new(db_path, tmp_path, decision):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    log = _open(db_path, keys, clock, every_events=1000, every_seconds=60)
    log.append(decision(1))
    assert _checkpoints(log) == []
    clock.advance(61)
    log.append(decision(2))
    assert [s.event.tree_size for s in _checkpoints(log)] == [2]
    assert log.checkpoint("run-1") is None  # nothing new since
    log.append(decision(3))
    assert log.checkpoint("run-1").tree_size == 4
    log.append(decision(4))
    log.close()
    with DecisionLog(f"sqlite:///{db_path}") as reopened:
        assert [s.event.tree_size for s in _checkpoints(reopened)] == [2, 4, 6]
        assert reopened.verify(public_keys=keys.public_keys()).signed_events == 6


def test_a_reopened_log_resumes_from_the_last_frontier(db_path, tmp_path, decision):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    with _open(db_path, keys, clock, every_events=3) as log:
        for n in range(1, 5):
            log.append(decision(n))
    with _open(db_path, keys, clock, every_events=3) as log:
        for n in range(5, 9):
            log.append(decision(n))
        assert log.verify(public_keys=keys.public_keys()).ok
        last = _checkpoints(log)[-1].event
        assert isinstance(last, CheckpointEvent)
        assert len(last.frontier) == last.tree_size.bit_count()


def test_copies_go_to_a_file_and_a_signed_webhook(
    db_path, tmp_path, decision, receiver
):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    hook = Webhook(receiver.url + "/cp", secret=b"k")
    copies = (CheckpointFile(tmp_path / "copies.jsonl"), CheckpointWebhook(hook))
    with _open(db_path, keys, clock, every_events=2, copies=copies) as log:
        log.append(decision(1))
        log.append(decision(2))
    lines = (tmp_path / "copies.jsonl").read_text(encoding="utf-8").splitlines()
    assert [json.loads(x)["tree_size"] for x in lines] == [2]
    posted = json.loads(receiver.wait_for(1, "/cp")[0].body)
    assert posted["type"] == "enclosure.checkpoint"
    assert posted["root_hash"] == json.loads(lines[0])["root_hash"]
    hook.close()


def test_a_failing_copy_is_logged_and_the_log_goes_on(
    db_path, tmp_path, decision, caplog
):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    (tmp_path / "dir").mkdir()
    copies = (CheckpointFile(tmp_path / "dir"),)
    with _open(db_path, keys, clock, every_events=1, copies=copies) as log:
        log.append(decision(1))
    assert "copy to" in caplog.text


# --- checkpoints on time while the log is quiet -------------------------------------


class ScriptedStop:
    """Stands in for the timer's ``threading.Event``: ``wait`` answers from a
    script at once (``True``: stop) and records the timeout it was asked for."""

    def __init__(self, answers):
        self.answers = list(answers)
        self.waits = []

    def wait(self, timeout=None):
        self.waits.append(timeout)
        return self.answers.pop(0) if self.answers else True

    def set(self):
        self.answers = []


def test_a_quiet_log_signs_once_the_interval_has_passed(db_path, tmp_path, decision):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    with _open(db_path, keys, clock, every_seconds=60, timer=False) as log:
        checkpointer = log._checkpointer
        log.append(decision(1))
        assert checkpointer.tick() == 60
        clock.advance(45)
        assert checkpointer.tick() == 15  # not yet: it says how long to sleep
        assert _checkpoints(log) == []
        clock.advance(15)
        assert checkpointer.tick() == 60
        assert [s.event.tree_size for s in _checkpoints(log)] == [1]
        clock.advance(60)
        assert checkpointer.tick() == 0.05  # due, but nothing new: no checkpoint
        assert len(_checkpoints(log)) == 1
        assert log.verify(public_keys=keys.public_keys()).signed_events == 1


def test_the_timer_sleeps_until_a_checkpoint_may_be_due_and_signs_it(
    db_path, tmp_path, decision
):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    with _open(db_path, keys, clock, every_seconds=60, timer=False) as log:
        log.append(decision(1))
        clock.advance(60)
        stop = ScriptedStop([False, False, True])
        CheckpointTimer(log._checkpointer, lambda: False, stop).run()
        assert stop.waits == [60, 60, 60]
        assert [s.event.tree_size for s in _checkpoints(log)] == [1]


def test_the_timer_ends_by_itself_once_the_log_is_closed(db_path, tmp_path, decision):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    log = _open(db_path, keys, clock, every_seconds=60, timer=False)
    log.append(decision(1))
    log.close()
    clock.advance(60)
    stop = ScriptedStop([False] * 10)
    CheckpointTimer(log._checkpointer, lambda: log._events.closed, stop).run()
    assert stop.waits == [60]  # woke once, saw the log closed, and ended


def test_a_failing_timed_checkpoint_is_logged_and_tried_again(
    db_path, tmp_path, decision, caplog
):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    with _open(db_path, keys, clock, every_seconds=60, timer=False) as log:
        log.append(decision(1))
        keys.signer()  # made on first use
        good = keys.private_path.read_bytes()
        keys.private_path.write_text("not a key", encoding="utf-8")
        clock.advance(60)
        stop = ScriptedStop([False, False, True])
        CheckpointTimer(log._checkpointer, lambda: False, stop).run()
        assert stop.waits == [60, 60, 60]
        failures = [
            r for r in caplog.records if r.getMessage() == "timed checkpoint failed"
        ]
        assert len(failures) == 2
        assert _checkpoints(log) == []
        keys.private_path.write_bytes(good)  # closing signs again


def test_a_log_runs_its_timer_thread_until_it_is_closed(db_path, tmp_path):
    keys, clock = SigningKeys(tmp_path / "keys"), FakeClock()
    log = _open(db_path, keys, clock, every_seconds=3600)
    timer = log._timer
    assert timer.alive
    assert "enclosure-checkpoints" in {t.name for t in threading.enumerate()}
    log.close()  # wakes it: nothing waits out the hour
    assert not timer.alive
    with _open(db_path, keys, clock, timer=False) as quiet:
        assert quiet._timer is None
