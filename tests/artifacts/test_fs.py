import errno
import os
import threading

import pytest

from enclosure.artifacts._fs import (
    TooMany,
    open_dir,
    open_path,
    read_file_at,
    remove_tree,
    walk,
)


def test_walk_lists_symlinks_and_fifos_without_entering_or_opening_them(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret").write_text("host", encoding="utf-8")
    root = tmp_path / "root"
    (root / "d").mkdir(parents=True)
    (root / "d" / "f").write_bytes(b"x")
    (root / "linkdir").symlink_to(outside)
    (root / "pw").symlink_to("/etc/passwd")
    os.mkfifo(root / "fifo")
    fd = open_path(root)
    try:
        found = walk(fd, max_entries=100, max_depth=10)
    finally:
        os.close(fd)
    assert {parts: st.kind for parts, st in found.items()} == {
        ("d", "f"): "file",
        ("linkdir",): "symlink",
        ("pw",): "symlink",
        ("fifo",): "special",
    }


@pytest.mark.parametrize(
    ("entries", "depth"), [(3, 10), (100, 2)], ids=["entries", "depth"]
)
def test_walk_refuses_trees_past_its_limits(tmp_path, entries, depth):
    deep = tmp_path.joinpath("a", "b", "c", "d")
    deep.mkdir(parents=True)
    for n in range(5):
        (tmp_path / f"f{n}").write_bytes(b"")
    fd = open_path(tmp_path)
    try:
        with pytest.raises(TooMany):
            walk(fd, max_entries=entries, max_depth=depth)
    finally:
        os.close(fd)


def test_open_path_refuses_a_symlink(tmp_path):
    (tmp_path / "real").mkdir()
    (tmp_path / "link").symlink_to(tmp_path / "real")
    with pytest.raises(OSError, match="link") as exc:
        open_path(tmp_path / "link")
    assert exc.value.errno in {errno.ELOOP, errno.ENOTDIR}


def test_open_dir_refuses_a_symlinked_component(tmp_path):
    (tmp_path / "real" / "inner").mkdir(parents=True)
    (tmp_path / "top").mkdir()
    (tmp_path / "top" / "via").symlink_to(tmp_path / "real")
    fd = open_path(tmp_path / "top")
    try:
        with pytest.raises(NotADirectoryError), open_dir(fd, ["via", "inner"]):
            pass
    finally:
        os.close(fd)


def test_read_file_at_hashes_and_keeps_only_the_head(tmp_path):
    (tmp_path / "f").write_bytes(b"abcdef")
    fd = open_path(tmp_path)
    try:
        read = read_file_at(fd, "f", keep=3)
    finally:
        os.close(fd)
    assert read.head == b"abc"
    assert read.size == 6
    assert read.sha256 == (
        "bef57ec7f53a6d40beb640a780a639c83bc29ac8a9816f1fc6c5c6dcd93c4721"
    )


def test_read_file_at_refuses_a_symlink(tmp_path):
    (tmp_path / "pw").symlink_to("/etc/passwd")
    fd = open_path(tmp_path)
    try:
        with pytest.raises(OSError, match="pw") as exc:
            read_file_at(fd, "pw")
        assert exc.value.errno == errno.ELOOP
    finally:
        os.close(fd)


def test_read_file_at_refuses_a_fifo_without_blocking(tmp_path):
    os.mkfifo(tmp_path / "fifo")
    fd = open_path(tmp_path)
    outcome: list[BaseException] = []

    def read() -> None:
        try:
            read_file_at(fd, "fifo")
        except OSError as exc:
            outcome.append(exc)

    worker = threading.Thread(target=read, daemon=True)
    worker.start()
    worker.join(5)
    os.close(fd)
    assert not worker.is_alive()
    assert len(outcome) == 1


def test_remove_tree_removes_a_very_deep_tree(tmp_path):
    top = tmp_path / "top"
    top.mkdir()
    fd = open_path(top)
    for _ in range(1500):  # deeper than Python's recursion limit
        os.mkdir("d", dir_fd=fd)
        sub = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
        os.close(fd)
        fd = sub
    os.close(fd)
    remove_tree(top)
    assert not top.exists()


def test_remove_tree_does_not_follow_symlinks_out(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "keep").write_text("host", encoding="utf-8")
    top = tmp_path / "top"
    top.mkdir()
    (top / "link").symlink_to(outside)
    (top / "file").symlink_to(outside / "keep")
    remove_tree(top)
    assert not top.exists()
    assert (outside / "keep").read_text(encoding="utf-8") == "host"


def test_remove_tree_of_nothing_is_a_no_op(tmp_path):
    remove_tree(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    remove_tree(tmp_path / "file")
    assert list(tmp_path.iterdir()) == []
