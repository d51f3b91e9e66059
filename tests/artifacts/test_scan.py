import hashlib
import os
from pathlib import Path

from enclosure.artifacts import Original, ScanLimits
from enclosure.artifacts._fs import open_path
from enclosure.artifacts._scan import WritePath, artifact_id, scan_write_path, split


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def scan(slot: Path, wp: WritePath):
    fd = open_path(slot)
    try:
        return scan_write_path("run_1", 0, wp, fd, ScanLimits())
    finally:
        os.close(fd)


def test_ids_depend_on_run_write_path_and_name_only():
    assert artifact_id("run_1", 0, "a") == artifact_id("run_1", 0, "a")
    others = {artifact_id("run_2", 0, "a"), artifact_id("run_1", 1, "a")}
    assert artifact_id("run_1", 0, "a") not in others
    assert artifact_id("run_1", 0, os.fsdecode(b"\xff")).startswith("art_")


def test_split_turns_relative_paths_into_parts():
    assert split("") == ()
    assert split("a/b") == ("a", "b")


def test_unchanged_entries_are_not_artifacts(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "same").write_bytes(b"x")
    (tmp_path / "data" / "link").symlink_to("same")
    wp = WritePath(
        Path("/out"),
        "dir",
        existed=True,
        originals={
            "same": Original("file", sha(b"x"), 0o644, 1),
            "link": Original("symlink", sha(b"same"), 0o777, 4),
        },
    )
    (tmp_path / "data" / "same").chmod(0o644)
    assert scan(tmp_path, wp) == []


def test_a_file_replaced_by_a_link_is_modified(tmp_path):
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "f").symlink_to("elsewhere")
    wp = WritePath(
        Path("/out"),
        "dir",
        existed=True,
        originals={"f": Original("file", sha(b"x"), 0o644, 1)},
    )
    [found] = scan(tmp_path, wp)
    assert (found.slot, found.rel) == (0, "f")
    assert (found.artifact.change, found.artifact.kind) == ("modified", "symlink")
    assert found.artifact.base_sha256 == sha(b"x")


def test_a_single_file_replaced_by_a_folder_is_special(tmp_path):
    (tmp_path / "data").mkdir()
    wp = WritePath(
        Path("/report.txt"),
        "file",
        existed=True,
        originals={"": Original("file", sha(b"x"), 0o644, 1)},
    )
    [found] = scan(tmp_path, wp)
    assert found.artifact.findings == ("special-file",)
    assert found.artifact.path == Path("/report.txt")
