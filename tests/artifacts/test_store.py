import fcntl
import json
import os
from pathlib import Path

import pytest

from enclosure.artifacts import Artifact, Original
from enclosure.artifacts._scan import Found, WritePath
from enclosure.artifacts._store import (
    LOCK,
    META,
    load_meta,
    load_scan,
    locked,
    save_meta,
    save_scan,
)

ODD = os.fsdecode(b"caf\xe9\nname")


def test_meta_round_trips_undecodable_names(tmp_path):
    paths = [
        WritePath(
            Path("/out") / ODD,
            "dir",
            existed=True,
            originals={
                f"sub/{ODD}": Original("file", "ab" * 32, 0o644, 3),
            },
        ),
        WritePath(Path("/report.txt"), "file", existed=True, originals={}),
    ]
    save_meta(tmp_path, "run_1", paths)
    assert load_meta(tmp_path) == paths
    assert "\\udce9" in (tmp_path / META).read_text(encoding="ascii")


def test_meta_of_another_version_is_refused(tmp_path):
    (tmp_path / META).write_text(json.dumps({"version": 99}), encoding="ascii")
    with pytest.raises(ValueError, match="not a quarantine record"):
        load_meta(tmp_path)


def test_scan_round_trips_and_starts_empty(tmp_path):
    assert load_scan(tmp_path) == []
    artifact = Artifact(
        id="art_1", run_id="run_1", path=Path("/out/x"), change="added", kind="file"
    )
    found = [Found(0, ODD, artifact)]
    save_scan(tmp_path, found)
    assert load_scan(tmp_path) == found


def test_the_lock_excludes_a_second_holder_until_released(tmp_path):
    with locked(tmp_path):
        other = os.open(tmp_path / LOCK, os.O_RDWR)
        try:
            with pytest.raises(BlockingIOError):
                fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
        finally:
            os.close(other)
    other = os.open(tmp_path / LOCK, os.O_RDWR)
    try:
        fcntl.flock(other, fcntl.LOCK_EX | fcntl.LOCK_NB)
    finally:
        os.close(other)
