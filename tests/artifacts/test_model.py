import os
from pathlib import Path

import pydantic
import pytest

from enclosure.artifacts import Artifact, ScanLimits, printable


@pytest.mark.parametrize(
    ("text", "shown"),
    [
        ("plain/path.txt", "plain/path.txt"),
        ("tab\tkept", "tab\tkept"),
        ("new\nline", "new\\nline"),
        ("esc\x1b[31m", "esc\\x1b[31m"),
        ("bidi\u202e", "bidi\\u202e"),
        (os.fsdecode(b"bad-\xff"), "bad-\\xff"),
        ("ünïcode", "ünïcode"),
    ],
)
def test_printable_escapes_what_a_terminal_would_interpret(text, shown):
    assert printable(text) == shown


def test_artifacts_are_frozen():
    a = Artifact(
        id="art_1", run_id="run_1", path=Path("/x"), change="added", kind="file"
    )
    assert a.state == "pending"
    with pytest.raises(pydantic.ValidationError):
        a.state = "promoted"  # type: ignore[misc]


def test_scan_limits_have_sane_defaults():
    limits = ScanLimits()
    assert limits.secret_scan < limits.max_size
    assert limits.max_depth > 0
