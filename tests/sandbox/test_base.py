from __future__ import annotations

import hashlib

import pytest

from enclosure.sandbox import ExecResult
from enclosure.sandbox._base import _file_error


def result(**kw) -> ExecResult:
    fields = {"argv": ("x",), "exit_code": 0, "stdout": b"", "stderr": b""}
    return ExecResult(duration_s=0.01, **(fields | kw))


def test_ok_needs_a_zero_exit_and_no_limit():
    assert result().ok
    assert not result(exit_code=1).ok
    assert not result(limit="wall_time").ok


def test_output_digest_separates_stdout_from_stderr():
    a = result(stdout=b"ab", stderr=b"")
    b = result(stdout=b"a", stderr=b"b")
    assert a.output_sha256 != b.output_sha256
    assert len(a.output_sha256) == len(hashlib.sha256().hexdigest())


def test_summary_keeps_the_digest_not_the_output():
    s = result(stdout=b"secret output", exit_code=3, limit="output").summary()
    assert "secret output" not in repr(s)
    assert s["exit_code"] == 3
    assert s["limit"] == "output"
    assert s["stdout_bytes"] == len(b"secret output")


def test_text_replaces_invalid_utf8():
    assert result(stdout=b"a\xffb").text() == "a\ufffdb"
    assert result(stderr=b"err").text(stream="stderr") == "err"


@pytest.mark.parametrize(
    ("stderr", "kind"),
    [
        (b"cat: x: No such file or directory", FileNotFoundError),
        (b"cat: x: Is a directory", IsADirectoryError),
        (b"sh: 1: cannot create x: Permission denied", PermissionError),
        (b"sh: 1: cannot create x: Read-only file system", PermissionError),
        (b"weird", OSError),
    ],
)
def test_file_errors_map_to_the_stdlib_exception(stderr, kind):
    exc = _file_error(result(exit_code=1, stderr=stderr), "/x")
    assert type(exc) is kind
    assert exc.filename == "/x"
