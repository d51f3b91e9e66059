import pytest

from enclosure.audit import DecisionLog
from enclosure.audit._export import read_copies, read_export, write_export


def test_an_export_reads_back_row_for_row(db_path, tmp_path, decision):
    out = tmp_path / "e.jsonl"
    with DecisionLog(f"sqlite:///{db_path}") as log:
        log.append(decision(1))
        log.append(decision(2, args={"note": "héllo"}))
        rows = list(log.chain_rows())
        assert write_export(iter(rows), out) == 2
    assert oct(out.stat().st_mode & 0o777) == "0o600"
    back = read_export(out)
    assert back.events == 2
    assert [(r.seq, r.hash, r.body) for r in back.rows] == [
        (r.seq, r.hash, r.body) for r in rows
    ]


@pytest.mark.parametrize(
    ("text", "where"),
    [
        ('{"format": "other", "version": 1}\n', ":1:"),
        ('{"format": "enclosure-audit-export", "version": 1}\n{"seq": "x"}\n', ":2:"),
        ("[1]\n", ":1:"),
        ("", ":1:"),
    ],
)
def test_a_bad_export_names_its_line(tmp_path, text, where):
    path = tmp_path / "bad.jsonl"
    path.write_text(text, encoding="utf-8")
    with pytest.raises(ValueError, match=where) as caught:
        read_export(path)
    assert caught.value.code == "E-AUDIT-EXPORT"


def test_copies_read_back_and_junk_is_refused(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text(
        '{"seq": 5, "tree_size": 4, "root_hash": "ab", "ts": "t", "key_id": "k",'
        ' "signature": "s"}\n{"seq": 6}\n',
        encoding="utf-8",
    )
    with pytest.raises(ValueError, match=":2: not a checkpoint"):
        read_copies(path)
    with pytest.raises(ValueError, match="cannot read"):
        read_copies(tmp_path / "missing.jsonl")
