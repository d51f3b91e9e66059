import pytest
from pydantic import ValidationError

from enclosure.errors import ApprovalPending, RunKilled, ToolDenied, ToolFailed
from enclosure.models import CallResult, Decision, ErrorInfo, ToolCall


def decision(outcome: str = "allow") -> Decision:
    return Decision(
        outcome=outcome, rule="r", reason="why", tool="t", manifest_sha256="0"
    )  # type: ignore[arg-type]


def test_value_types_are_frozen_and_reject_unknown_fields():
    call = ToolCall(tool="t", args={"a": 1})
    with pytest.raises(ValidationError):
        call.tool = "u"  # type: ignore[misc]
    with pytest.raises(ValidationError):
        ToolCall(tool="t", bogus=1)  # type: ignore[call-arg]


@pytest.mark.parametrize(
    ("status", "approval_id", "error"),
    [
        ("blocked", None, ToolDenied),
        ("pending", "apr_1", ApprovalPending),
        ("killed", None, RunKilled),
        ("failed", None, ToolFailed),
    ],
)
def test_unwrap_raises_the_coded_error_for_each_refusal(
    status: str, approval_id: str | None, error: type[Exception]
):
    result = CallResult(
        status=status,  # type: ignore[arg-type]
        decision=decision("deny"),
        approval_id=approval_id,
        error=ErrorInfo(code="E-X", message="m"),
    )
    assert not result.ok
    with pytest.raises(error):
        result.unwrap()


def test_unwrap_returns_the_value_when_the_call_ran():
    assert CallResult(status="executed", decision=decision(), value=3).unwrap() == 3
    assert CallResult(status="simulated", decision=decision(), value=4).ok
