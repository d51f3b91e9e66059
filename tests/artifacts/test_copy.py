import hashlib
import os
import stat
from pathlib import Path

import pytest

from enclosure.artifacts._copy import copy_in, write_all
from enclosure.errors import ArtifactError


def sha(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def test_a_folder_is_copied_twice_with_its_originals_recorded(tmp_path, host):
    dests = [tmp_path / "base", tmp_path / "data"]
    layout, originals = copy_in(host, dests)
    assert layout == "dir"
    assert set(originals) == {"a.txt", "b.txt", "sub/c.txt"}
    assert originals["b.txt"] == ("file", sha(b"bee\n"), 0o644, 4)
    for dest in dests:
        assert (dest / "sub" / "c.txt").read_text(encoding="utf-8") == "sea\n"


def test_a_missing_path_becomes_an_empty_folder(tmp_path):
    dests = [tmp_path / "base", tmp_path / "data"]
    assert copy_in(tmp_path / "missing", dests) == ("dir", {})
    assert all(d.is_dir() and not any(d.iterdir()) for d in dests)


def test_a_single_file_is_copied_as_a_file(tmp_path):
    report = tmp_path / "report.txt"
    report.write_bytes(b"v1")
    dests = [tmp_path / "base", tmp_path / "data"]
    assert copy_in(report, dests) == (
        "file",
        {"": ("file", sha(b"v1"), 0o644, 2)},
    )
    assert all(d.read_bytes() == b"v1" for d in dests)


def test_symlinks_are_copied_as_links_never_followed(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    (src / "pw").symlink_to("/etc/passwd")
    (src / "outside").symlink_to(tmp_path)
    _, originals = copy_in(src, [tmp_path / "base"])
    assert (tmp_path / "base" / "pw").readlink() == Path("/etc/passwd")
    assert (tmp_path / "base" / "outside").is_symlink()
    assert originals["pw"] == ("symlink", sha(b"/etc/passwd"), 0o777, 11)
    assert "outside/src" not in originals


def test_special_files_are_left_out_and_setuid_bits_dropped(tmp_path):
    src = tmp_path / "src"
    src.mkdir()
    os.mkfifo(src / "fifo")
    (src / "tool").write_bytes(b"#!/bin/sh\n")
    (src / "tool").chmod(0o4755)
    _, originals = copy_in(src, [tmp_path / "base"])
    assert set(originals) == {"tool"}
    assert originals["tool"].mode == 0o755
    assert stat.S_IMODE((tmp_path / "base" / "tool").stat().st_mode) == 0o755
    assert not (tmp_path / "base" / "fifo").exists()


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_a_write_path_that_is_a_symlink_or_special_is_refused(tmp_path, kind):
    path = tmp_path / "out"
    if kind == "symlink":
        path.symlink_to(tmp_path)
    else:
        os.mkfifo(path)
    with pytest.raises(ArtifactError) as exc:
        copy_in(path, [tmp_path / "base"])
    assert exc.value.code == "E-ARTIFACT-UNSAFE"


def test_write_all_writes_everything(tmp_path):
    fd = os.open(tmp_path / "f", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        write_all(fd, b"x" * 300_000)
    finally:
        os.close(fd)
    assert (tmp_path / "f").stat().st_size == 300_000
