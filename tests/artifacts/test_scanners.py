import os

import pytest

from enclosure.artifacts import ScanLimits
from enclosure.artifacts._scanners import (
    UNSAFE,
    content_findings,
    is_binary,
    link_findings,
    mode_findings,
    name_findings,
)


@pytest.mark.parametrize(
    ("parts", "expected"),
    [
        (("ok.txt",), []),
        (("sub", "ünïcode.md"), []),
        (("..",), ["path-traversal"]),
        (("a", ".", "b"), ["path-traversal"]),
        (("a/b",), ["path-traversal"]),
        (("nul\0",), ["path-traversal", "bad-name"]),
        (("line\nbreak",), ["bad-name"]),
        (("esc\x1b[31m",), ["bad-name"]),
        (("bidi\u202etxt.exe",), ["bad-name"]),
        ((os.fsdecode(b"latin1-\xe9"),), ["bad-name"]),
    ],
)
def test_names(parts, expected):
    assert name_findings(parts) == expected


@pytest.mark.parametrize(
    ("mode", "expected"),
    [
        (0o644, []),
        (0o755, ["executable"]),
        (0o640 | 0o001, ["executable"]),
        (0o4644, ["setuid"]),
        (0o2755, ["executable", "setuid"]),
    ],
)
def test_modes(mode, expected):
    assert mode_findings(mode) == expected


@pytest.mark.parametrize(
    ("target", "depth", "out"),
    [
        ("sibling.txt", 0, False),
        ("../up.txt", 1, False),
        ("../up.txt", 0, True),
        ("a/../../x", 0, True),
        ("./a/./b", 0, False),
        ("/etc/passwd", 3, True),
        ("anything", None, True),
    ],
)
def test_links_are_findings_and_links_out_are_traversal(target, depth, out):
    expected = ["symlink", "path-traversal"] if out else ["symlink"]
    assert link_findings(target, depth) == expected


def test_unsafe_findings_are_special_files_and_traversal():
    assert frozenset({"special-file", "path-traversal"}) == UNSAFE


@pytest.mark.parametrize(
    ("head", "complete", "binary"),
    [
        (b"plain text\n", True, False),
        ("ünïcode".encode(), True, False),
        (b"a\0b", True, True),
        (b"\xff\xfe", True, True),
        ("é".encode()[:1], False, False),  # cut mid-character, more to come
        ("é".encode()[:1], True, True),
    ],
)
def test_binary_sniffing(head, complete, binary):
    assert is_binary(head, complete=complete) is binary


def test_content_findings_report_size_type_and_unscanned_text():
    limits = ScanLimits(max_size=100, secret_scan=10)
    assert content_findings(b"short", 5, "a.txt", limits) == []
    assert content_findings(b"x" * 11, 50, "a.txt", limits) == ["unscanned"]
    assert content_findings(b"\0" * 11, 500, "a.bin", limits) == [
        "too-large",
        "binary",
    ]


def test_content_findings_include_secrets():
    key = b'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'
    found = content_findings(key, len(key), "config", ScanLimits())
    assert "secret:AWS Access Key" in found
