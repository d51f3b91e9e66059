"""``enclosure audit verify``: exit 0 on an intact log, 1 naming the first bad event.

Each tamper works on the database file with the stdlib ``sqlite3`` module, as an
attacker with write access to the file would, never through Enclosure.
"""

from __future__ import annotations

import json
import sqlite3
from contextlib import closing, contextmanager
from typing import TYPE_CHECKING

import pytest

from enclosure._enclosure import open_log
from enclosure.audit._chain import event_hash
from enclosure.testing import make_enclosure

if TYPE_CHECKING:
    from collections.abc import Callable, Iterator
    from pathlib import Path

MANIFEST = """
agent: {name: clerk}
tools:
  lookup: {effect: read}
  send:
    rules:
      - {name: internal_only, when: "!args.to.endsWith('@example.com')", then: deny}
"""


@pytest.fixture
def home(home):
    """A home whose log holds two runs' worth of events (more than ten)."""
    with make_enclosure(MANIFEST, home) as enc:
        enc.tool("lookup")(lambda key: {"key": key})
        enc.tool("send")(lambda to: {"sent_to": to})
        for n in range(2):
            with enc.start_run(task=f"task {n}") as run:
                run.call("lookup", {"key": f"k{n}"})
                run.call("send", {"to": "x@evil.example"})
                run.call("send", {"to": "a@example.com"})
    return home


@contextmanager
def database(home: Path) -> Iterator[sqlite3.Connection]:
    with closing(sqlite3.connect(home / "enclosure.db")) as con:
        yield con
        con.commit()


def count_events(home: Path) -> int:
    with database(home) as con:
        return int(con.execute("SELECT count(*) FROM events").fetchone()[0])


# Each tamper changes the log and returns the sequence number verify must name.


def first_denial(con: sqlite3.Connection) -> tuple[int, str]:
    seq, body = con.execute(
        "SELECT seq, body FROM events WHERE outcome = 'deny' ORDER BY seq LIMIT 1"
    ).fetchone()
    assert seq > 1
    return seq, body


def edit_a_body(con: sqlite3.Connection) -> int:
    seq, body = first_denial(con)
    edited = body.replace("x@evil.example", "y@evil.example")
    assert edited != body
    con.execute("UPDATE events SET body = ? WHERE seq = ?", (edited, seq))
    return seq


def edit_an_indexed_column(con: sqlite3.Connection) -> int:
    seq, _ = first_denial(con)
    con.execute("UPDATE events SET outcome = 'allow' WHERE seq = ?", (seq,))
    return seq


def delete_a_middle_row(con: sqlite3.Connection) -> int:
    con.execute("DELETE FROM events WHERE seq = 6")
    return 6


def insert_a_forged_row_in_the_middle(con: sqlite3.Connection) -> int:
    """A forger who knows the hash rule re-hashes the row they insert: the forged
    event itself verifies, so the chain breaks at the event after it."""
    con.execute("UPDATE events SET seq = -seq WHERE seq >= 4")
    con.execute("UPDATE events SET seq = 1 - seq WHERE seq < 0")
    (prev,) = con.execute("SELECT hash FROM events WHERE seq = 3").fetchone()
    row = con.execute(
        "SELECT ts, run_id, kind, tool, call_id, outcome, disposition, cost, body "
        "FROM events WHERE seq = 5"
    ).fetchone()
    digest = event_hash(prev, 4, row[-1].encode("utf-8"))
    con.execute(
        "INSERT INTO events (seq, ts, run_id, kind, tool, call_id, outcome, "
        "disposition, cost, body, prev_hash, hash) "
        "VALUES (4, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        (*row, prev, digest),
    )
    return 5


def append_a_forged_row(con: sqlite3.Connection) -> int:
    last, body = con.execute(
        "SELECT seq, body FROM events ORDER BY seq DESC LIMIT 1"
    ).fetchone()
    con.execute(
        "INSERT INTO events (seq, ts, run_id, kind, body, prev_hash, hash) "
        "VALUES (?, 'ts', 'run_forged', 'decision', ?, ?, ?)",
        (last + 1, body, "0" * 64, "f" * 64),
    )
    return int(last) + 1


def swap_two_rows_seq(con: sqlite3.Connection) -> int:
    con.execute("UPDATE events SET seq = -1 WHERE seq = 3")
    con.execute("UPDATE events SET seq = 3 WHERE seq = 8")
    con.execute("UPDATE events SET seq = 8 WHERE seq = -1")
    return 3


TAMPERS: list[Callable[[sqlite3.Connection], int]] = [
    edit_a_body,
    edit_an_indexed_column,
    delete_a_middle_row,
    insert_a_forged_row_in_the_middle,
    append_a_forged_row,
    swap_two_rows_seq,
]


def test_verify_exits_0_on_an_intact_log(enclosure, home):
    result = enclosure("--home", home, "audit", "verify")
    assert result.status == 0
    assert result.err == ""
    assert result.out.startswith("audit: ok")
    assert f"{count_events(home)} events" in result.out


def test_verify_json_reports_an_intact_log(enclosure, home):
    result = enclosure("--home", home, "audit", "verify", "--json")
    assert result.status == 0
    assert json.loads(result.out) == {
        "ok": True,
        "events": count_events(home),
        "first_bad_seq": None,
        "problem": None,
        "checkpoints": 2,
        "signed_events": count_events(home) - 1,
    }


def test_verify_of_a_new_empty_log_is_ok(enclosure, tmp_path):
    open_log(tmp_path / "fresh").close()
    result = enclosure("--home", tmp_path / "fresh", "audit", "verify", "--json")
    assert result.status == 0
    assert json.loads(result.out)["events"] == 0


def test_verify_of_a_mistyped_home_fails_instead_of_passing_empty(enclosure, tmp_path):
    result = enclosure("--home", tmp_path / "typo", "audit", "verify")
    assert result.status == 2
    assert result.err.startswith("enclosure: E-AUDIT-NOT-FOUND: ")
    assert not (tmp_path / "typo").exists()


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.__name__)
def test_verify_exits_1_and_names_the_first_bad_event(enclosure, home, tamper):
    with database(home) as con:
        bad_seq = tamper(con)
    result = enclosure("--home", home, "audit", "verify")
    assert result.status == 1
    assert result.out == ""
    [line] = result.err_lines()
    assert line.startswith(f"audit: FAILED at event {bad_seq}: ")


@pytest.mark.parametrize("tamper", TAMPERS, ids=lambda t: t.__name__)
def test_verify_json_reports_the_first_bad_event(enclosure, home, tamper):
    with database(home) as con:
        bad_seq = tamper(con)
    result = enclosure("--home", home, "audit", "verify", "--json")
    assert result.status == 1
    report = json.loads(result.out)
    assert report["ok"] is False
    assert report["first_bad_seq"] == bad_seq
    assert report["events"] == bad_seq - 1
    assert report["problem"]


def test_verify_detects_that_the_newest_events_were_deleted(enclosure, home):
    total = count_events(home)
    with database(home) as con:
        con.execute("DELETE FROM events WHERE seq > ?", (total - 3,))
    result = enclosure("--home", home, "audit", "verify")
    assert result.status == 1


# ---- checkpoints, proofs, export and offline verify ---------------------------------


def test_prove_prints_a_verified_inclusion_proof_against_the_checkpoint(
    enclosure, home
):
    result = enclosure("--home", home, "audit", "prove", "3")
    assert result.status == 0
    proof = json.loads(result.out)
    assert proof["verified"] is True
    assert proof["tree_size"] == count_events(home) - 1
    assert proof["checkpoint"]["root_hash"] == proof["root_hash"]
    bad = enclosure("--home", home, "audit", "prove", "999")
    assert (bad.status, "E-USAGE-ARG") == (2, bad.err.split(":")[1].strip())


def test_consistency_proves_an_older_tree_is_a_prefix(enclosure, home):
    result = enclosure("--home", home, "audit", "consistency", "5", "11")
    assert result.status == 0
    out = json.loads(result.out)
    assert out["verified"] is True
    assert out["proof"]
    assert enclosure("--home", home, "audit", "consistency", "9", "5").status == 2


def test_export_verifies_offline_with_the_public_key_alone(enclosure, home, tmp_path):
    out = tmp_path / "log.jsonl"
    assert enclosure("--home", home, "audit", "export", "--out", out).status == 0
    pub = tmp_path / "pub.pem"
    pub.write_bytes((home / "keys" / "audit-public.pem").read_bytes())
    ok = enclosure("audit", "verify", "--offline", out, "--key", pub)
    assert ok.status == 0, ok.err
    assert "export intact" in ok.out
    lines = out.read_text(encoding="utf-8").splitlines()
    out.write_text("\n".join(lines[:-3]) + "\n", encoding="utf-8")  # cut the end
    cut = enclosure("audit", "verify", "--offline", out, "--key", pub, "--json")
    assert cut.status == 1
    assert "truncated" in json.loads(cut.out)["problem"]


def test_offline_verify_refuses_a_key_it_did_not_sign_with(enclosure, home, tmp_path):
    out = tmp_path / "log.jsonl"
    enclosure("--home", home, "audit", "export", "--out", out)
    from enclosure.audit import SigningKeys  # noqa: PLC0415

    other = SigningKeys(tmp_path / "other")
    other.signer()
    result = enclosure("audit", "verify", "--offline", out, "--key", other.public_path)
    assert result.status == 1
    assert "unknown key" in result.err
    no_key = enclosure("audit", "verify", "--offline", out)
    assert no_key.status == 2
    assert "E-USAGE-ARG" in no_key.err
    junk = tmp_path / "junk.jsonl"
    junk.write_text("not json\n", encoding="utf-8")
    bad = enclosure("audit", "verify", "--offline", junk, "--key", other.public_path)
    assert bad.status == 2
    assert "E-AUDIT-EXPORT" in bad.err
    assert f"{junk}:1" in bad.err


def test_checkpoint_and_rotate_key(enclosure, home):
    assert "nothing new" in enclosure("--home", home, "audit", "checkpoint").out
    rotated = enclosure("--home", home, "audit", "rotate-key")
    assert rotated.status == 0
    with make_enclosure(MANIFEST, home) as enc, enc.start_run(task="t") as run:
        enc.tool("lookup")(lambda key: {"key": key})
        run.call("lookup", {"key": "k"})
    report = json.loads(enclosure("--home", home, "audit", "verify", "--json").out)
    assert report["ok"] is True
    assert report["checkpoints"] == 3


def test_a_missing_signing_key_fails_closed_with_a_code(enclosure, home):
    (home / "keys" / "audit-signing.pem").unlink()
    with make_enclosure(MANIFEST, home) as enc:
        enc.tool("lookup")(lambda key: {"key": key})
        run = enc.start_run(task="t")
        run.call("lookup", {"key": "k"})
        with pytest.raises(OSError, match="refusing to sign") as caught:
            run.end()
        assert caught.value.code == "E-AUDIT-KEY"
        enc.log._checkpointer = None  # let the test close the log
    result = enclosure("--home", home, "audit", "checkpoint")
    assert result.status == 2
    assert "E-AUDIT-KEY" in result.err
