import json

from enclosure.errors import (
    ApprovalError,
    AuditUnavailable,
    ManifestError,
    ManifestIssue,
    UsageError,
)
from enclosure.server._errors import error_response, from_enclosure_error


def body(response):
    return response.status_code, json.loads(response.body)["error"]["code"]


def test_errors_map_to_a_status_by_code_then_by_class():
    assert body(from_enclosure_error(ApprovalError("x"))) == (
        404,
        "E-APPROVAL-NOT-FOUND",
    )
    assert body(from_enclosure_error(ApprovalError("x", code="E-APPROVAL-SELF"))) == (
        403,
        "E-APPROVAL-SELF",
    )
    assert body(
        from_enclosure_error(ApprovalError("x", code="E-APPROVAL-DECIDED"))
    ) == (
        409,
        "E-APPROVAL-DECIDED",
    )
    assert body(from_enclosure_error(AuditUnavailable("db down"))) == (
        503,
        "E-AUDIT-UNAVAILABLE",
    )
    issue = ManifestIssue(
        file="m.yaml", line=1, col=1, code="E-MANIFEST-X", message="x"
    )
    assert body(from_enclosure_error(ManifestError([issue]))) == (422, "E-MANIFEST-X")
    assert body(from_enclosure_error(UsageError("x"))) == (400, "E-USAGE")


def test_an_error_body_is_one_line():
    response = error_response(400, "E-X", "two\nlines")
    assert json.loads(response.body) == {
        "error": {"code": "E-X", "message": "two lines"}
    }
