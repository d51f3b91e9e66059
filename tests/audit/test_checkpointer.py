import json

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
