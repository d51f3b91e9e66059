"""Tampering with a signed log: each change is caught, and the report names where.

The attacker edits the SQLite file directly (stdlib ``sqlite3``) and, where it
helps them, recomputes every hash after the change, moves the anchor, and even
re-signs checkpoints with a key of their own. The verifier trusts only the public
key saved before the attack and the checkpoint copy kept outside the database.
"""

import json

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from enclosure.audit import (
    GENESIS,
    ChainRow,
    CheckpointEvent,
    CheckpointFile,
    Checkpointing,
    DecisionLog,
    SigningKeys,
    encode_event,
    event_hash,
    parse_event,
    verify_log,
)
from enclosure.audit._checkpoint import sign_checkpoint
from enclosure.audit._export import read_copies
from enclosure.audit._merkle import CompactRange, leaf_hash
from enclosure.testing import FakeClock


@pytest.fixture
def signed(db_path, tmp_path, decision):
    """A closed log of 12 decisions, checkpointed every 4 events, with a copy file."""
    keys = SigningKeys(tmp_path / "keys")
    copies = (CheckpointFile(tmp_path / "copies.jsonl"),)
    settings = Checkpointing(
        keys=keys, clock=FakeClock(), every_events=4, copies=copies
    )
    with DecisionLog(f"sqlite:///{db_path}", checkpoints=settings) as log:
        for n in range(1, 13):
            log.append(decision(n))
    trusted = keys.public_keys()
    return keys, trusted, read_copies(tmp_path / "copies.jsonl")


def _verify(db_path, trusted, copies=()):
    with DecisionLog(f"sqlite:///{db_path}") as log:
        return log.verify(public_keys=trusted, copies=copies)


def _rehash(con, start=1, resign=None):
    """Recompute every hash from ``start`` on, re-sign checkpoints, move the anchor."""
    rows = con.execute(
        "SELECT seq, body, prev_hash FROM events ORDER BY seq"
    ).fetchall()
    prev, compact = GENESIS, CompactRange()
    for seq, stored_body, _ in rows:
        body = stored_body
        if seq >= start:
            event = parse_event(body)
            if resign is not None and event.kind == "checkpoint":
                cp = sign_checkpoint(
                    resign, compact.size, compact.root().hex(), event.ts
                )
                event = event.model_copy(
                    update={
                        "tree_size": cp.tree_size,
                        "root_hash": cp.root_hash,
                        "key_id": cp.key_id,
                        "signature": cp.signature,
                        "frontier": [h.hex() for h in compact.hashes],
                    }
                )
                body = encode_event(event).decode()
            digest = event_hash(prev, seq, body.encode())
            con.execute(
                "UPDATE events SET body=?, prev_hash=?, hash=? WHERE seq=?",
                (body, prev, digest, seq),
            )
        else:
            digest = con.execute(
                "SELECT hash FROM events WHERE seq=?", (seq,)
            ).fetchone()[0]
        prev = digest
        compact.append(leaf_hash(bytes.fromhex(digest)))
    last = rows[-1][0]
    con.execute("UPDATE meta SET value=? WHERE key='anchor'", (f"{last:020d}:{prev}",))


def test_an_untouched_log_verifies_with_its_key_and_copies(db_path, signed):
    _, trusted, copies = signed
    report = _verify(db_path, trusted, copies)
    assert report.ok, report.problem
    assert report.checkpoints >= 4


def test_edit_is_named(db_path, signed, raw_db):
    with raw_db(db_path) as con:
        con.execute(
            "UPDATE events SET body=replace(body,'call-3','call-X') WHERE seq=3"
        )
    report = _verify(db_path, signed[1])
    assert (report.first_bad_seq, "edited") == (3, "edited")
    assert "event 3: hash does not match" in report.problem


def test_delete_is_named(db_path, signed, raw_db):
    with raw_db(db_path) as con:
        con.execute("DELETE FROM events WHERE seq=3")
    report = _verify(db_path, signed[1])
    assert report.first_bad_seq == 3
    assert "event 3: missing" in report.problem


def test_insert_is_named(db_path, signed, raw_db, decision):
    with raw_db(db_path) as con:
        con.execute("UPDATE events SET seq = seq + 1000 WHERE seq > 6")
        con.execute("UPDATE events SET seq = seq - 999 WHERE seq > 1000")
        body = encode_event(decision(99))
        prev = con.execute("SELECT hash FROM events WHERE seq=6").fetchone()[0]
        con.execute(
            "INSERT INTO events (seq, ts, run_id, kind, tool, call_id, outcome,"
            " disposition, cost, body, prev_hash, hash) SELECT 7, ts, run_id, kind,"
            " tool, 'call-99', outcome, disposition, cost, ?, ?, ? FROM events"
            " WHERE seq=6",
            (body.decode(), prev, event_hash(prev, 7, body)),
        )
    report = _verify(db_path, signed[1])
    assert report.first_bad_seq in (7, 8)
    assert "inserted" in report.problem or "edited" in report.problem


def test_reorder_is_named(db_path, signed, raw_db):
    with raw_db(db_path) as con:
        con.execute("UPDATE events SET seq = -3 WHERE seq = 3")
        con.execute("UPDATE events SET seq = 3 WHERE seq = 4")
        con.execute("UPDATE events SET seq = 4 WHERE seq = -3")
    report = _verify(db_path, signed[1])
    assert report.first_bad_seq == 3
    assert "event 3" in report.problem


def test_truncation_is_named_by_the_anchor_and_by_the_copies(db_path, signed, raw_db):
    _, trusted, copies = signed
    with raw_db(db_path) as con:
        con.execute("DELETE FROM events WHERE seq > 9")
    report = _verify(db_path, trusted)
    assert report.first_bad_seq == 10
    assert "missing (deleted?)" in report.problem
    with raw_db(db_path) as con:
        _rehash(con, start=10)  # the attacker moves the anchor back too
    assert _verify(db_path, trusted).ok
    report = _verify(db_path, trusted, copies)
    assert not report.ok
    assert "truncated" in report.problem
    assert "checkpoint copy covers" in report.problem


def test_a_replaced_key_is_named(db_path, signed, raw_db, tmp_path):
    _, trusted, _ = signed
    attacker = Ed25519PrivateKey.generate()
    with raw_db(db_path) as con:
        con.execute(
            "UPDATE events SET body=replace(body,'call-2','call-Z') WHERE seq=2"
        )
        con.execute("UPDATE events SET call_id='call-Z' WHERE seq=2")
        _rehash(con, start=2, resign=attacker)
    assert _verify(db_path, None).ok  # the chain alone cannot tell
    report = _verify(db_path, trusted)
    assert report.first_bad_seq == 5
    assert "checkpoint at event 5" in report.problem
    assert "unknown key" in report.problem


def test_a_forged_checkpoint_is_named(db_path, signed, raw_db):
    with raw_db(db_path) as con:
        body = con.execute("SELECT body FROM events WHERE seq=5").fetchone()[0]
        data = json.loads(body)
        data["root_hash"] = "00" * 32
        forged = json.dumps(data, sort_keys=True, separators=(",", ":"))
        con.execute("UPDATE events SET body=? WHERE seq=5", (forged,))
        _rehash(con, start=5)
    report = _verify(db_path, signed[1])
    assert report.first_bad_seq == 5
    assert "checkpoint at event 5: root does not match" in report.problem


def test_a_rewritten_database_is_caught_by_the_copies(db_path, signed, raw_db):
    _, trusted, copies = signed
    with raw_db(db_path) as con:
        con.execute("DELETE FROM events WHERE kind='checkpoint' AND seq > 2")
        con.execute("UPDATE events SET seq = seq + 1000")
        rows = con.execute("SELECT seq FROM events ORDER BY seq").fetchall()
        for new, (old,) in enumerate(rows, 1):
            con.execute("UPDATE events SET seq=? WHERE seq=?", (new, old))
        _rehash(con)
    report = _verify(db_path, trusted, copies)
    assert not report.ok
    assert "database rewritten" in report.problem


def test_without_keys_every_row_gets_the_full_check(decision):
    body = encode_event(decision(1))
    bad = b'{"kind":"decision"}'
    rows = [
        ChainRow(1, GENESIS, event_hash(GENESIS, 1, body), body, None),
    ]
    rows.append(ChainRow(2, rows[0].hash, event_hash(rows[0].hash, 2, bad), bad, None))
    report = verify_log(rows)
    assert (report.ok, report.first_bad_seq) == (False, 2)
    assert "not a valid event" in report.problem
    assert verify_log(rows[:1]).ok
    signed_only = verify_log(rows[:1], public_keys={}, require_signed=True)
    assert "no checkpoint signed" in signed_only.problem


def _chain(bodies):
    rows, prev = [], GENESIS
    for seq, body in enumerate(bodies, 1):
        digest = event_hash(prev, seq, body)
        rows.append(ChainRow(seq, prev, digest, body, None))
        prev = digest
    return rows


def _trailing_log(decision, events, tree_size, *, root=None):
    """``events`` decisions, then a checkpoint of the first ``tree_size`` of them."""
    key = Ed25519PrivateKey.generate()
    rows = _chain([encode_event(decision(n)) for n in range(1, events + 1)])
    compact = CompactRange()
    for row in rows[:tree_size]:
        compact.append(leaf_hash(bytes.fromhex(row.hash)))
    ts = "2026-11-25T00:00:00.000000+00:00"
    cp = sign_checkpoint(key, tree_size, root or compact.root().hex(), ts)
    event = CheckpointEvent(
        run_id="run-1",
        ts=ts,
        tree_size=cp.tree_size,
        root_hash=cp.root_hash,
        key_id=cp.key_id,
        signature=cp.signature,
        frontier=[h.hex() for h in compact.hashes],
    )
    body = encode_event(event)
    seq, prev = events + 1, rows[-1].hash
    rows.append(ChainRow(seq, prev, event_hash(prev, seq, body), body, None))
    return rows, {cp.key_id: key.public_key()}


@pytest.mark.parametrize("behind", [0, 1, 63, 64, 65, 200, 4096])
def test_a_checkpoint_trailing_its_own_event_is_checked(decision, behind):
    events = 4200
    rows, trusted = _trailing_log(decision, events, events - behind)
    report = verify_log(rows, public_keys=trusted)
    assert report.ok, report.problem
    assert (report.checkpoints, report.signed_events) == (1, events - behind)


def test_a_trailing_checkpoint_with_a_wrong_root_is_named(decision):
    rows, trusted = _trailing_log(decision, 300, 230, root="ab" * 32)
    report = verify_log(rows, public_keys=trusted)
    assert report.first_bad_seq == 301
    assert "root does not match events 1-230" in report.problem


def test_a_checkpoint_too_far_behind_is_named(decision):
    rows, trusted = _trailing_log(decision, 4400, 10)
    report = verify_log(rows, public_keys=trusted)
    assert report.first_bad_seq == 4401
    assert "too far behind" in report.problem


def test_a_body_that_is_not_utf8_is_named_not_a_crash(db_path, signed, raw_db):
    with raw_db(db_path) as con:
        con.execute("UPDATE events SET body=CAST(X'7BFF7D' AS TEXT) WHERE seq=5")
    report = _verify(db_path, signed[1])
    assert report.first_bad_seq == 5
    assert "hash does not match" in report.problem
