import re
from pathlib import Path

import pytest

from enclosure import errors

ROOT = Path(__file__).resolve().parents[1]


def test_every_error_is_one_line_with_its_code():
    exc = errors.ToolDenied("not\nallowed  here")
    assert str(exc) == "E-DENIED: not allowed here"
    assert exc.code == "E-DENIED"
    assert errors.RunKilled("x", code="E-CUSTOM").code == "E-CUSTOM"


def test_errors_subclass_the_builtin_they_behave_like():
    assert issubclass(errors.ManifestError, ValueError)
    assert issubclass(errors.ApprovalError, LookupError)
    assert issubclass(errors.AuditUnavailable, OSError)
    assert issubclass(errors.ToolDenied, errors.CallRefused)
    assert not issubclass(errors.RunKilled, errors.CallRefused)


def test_manifest_error_lists_every_issue_and_leads_with_the_first():
    issues = [
        errors.ManifestIssue("E-MANIFEST-TYPE", "bad", "m.yaml", 3, 4),
        errors.ManifestIssue("E-MANIFEST-VALUE", "worse", "m.yaml", 5, 1),
    ]
    exc = errors.ManifestError(issues)
    assert exc.code == "E-MANIFEST-TYPE"
    assert issues[0].format() == "m.yaml:3:4: E-MANIFEST-TYPE: bad"
    assert "(and 1 more)" in str(exc)
    with pytest.raises(ValueError, match="at least one"):
        errors.ManifestError([])


def test_approval_pending_names_the_approval():
    assert errors.ApprovalPending("wait", approval_id="apr_1").approval_id == "apr_1"


def test_every_code_in_the_source_is_documented():
    codes = set()
    for path in (ROOT / "src" / "enclosure").rglob("*.py"):
        codes |= set(re.findall(r'"(E-[A-Z0-9-]+)"', path.read_text(encoding="utf-8")))
    documented = set(
        re.findall(
            r"`(E-[A-Z0-9-]+)`",
            (ROOT / "docs" / "errors.md").read_text(encoding="utf-8"),
        )
    )
    assert codes - documented == set()
