import pytest
from pydantic import BaseModel, Field, PrivateAttr, ValidationError

from enclosure.audit import DecisionEvent, ResultEvent, ValidatorResult
from enclosure.errors import ApprovalPending, RunKilled, ToolDenied, ToolFailed
from enclosure.models import CallResult, Decision, ErrorInfo, ToolCall, trusted
from enclosure.testing import decision_event


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


def built_both_ways(cls, **values):
    return cls.model_construct(**values), trusted(cls, **values)


@pytest.mark.parametrize(
    ("cls", "values"),
    [
        (ToolCall, {"call_id": "c1", "context": {}, "args": {"a": [1]}, "tool": "t"}),
        (
            DecisionEvent,
            {
                **decision_event(3, approval_id="ap").model_dump(),
                "validator": ValidatorResult(ok=False, errors=["bad"]),
                "error": ErrorInfo(code="E-X", message="m"),
            },
        ),
        (
            ResultEvent,
            {
                "kind": "result",
                "run_id": "r",
                "ts": "2025-01-02T03:04:05.000006Z",
                "call_id": "c",
                "tool": "t",
                "disposition": "failed",
                "receipt": None,
                "error": ErrorInfo(code="E-X", message="m"),
                "latency_us": 4,
                "cost": 0.5,
            },
        ),
    ],
)
def test_trusted_builds_what_model_construct_builds(cls, values):
    reference, fast = built_both_ways(cls, **values)
    assert type(fast) is cls
    assert fast == reference
    assert list(fast.__dict__) == list(reference.__dict__)  # field order
    assert fast.model_fields_set == reference.model_fields_set
    assert fast.__pydantic_extra__ is reference.__pydantic_extra__ is None
    assert fast.__pydantic_private__ is reference.__pydantic_private__ is None
    assert fast.model_dump(mode="json") == reference.model_dump(mode="json")
    assert repr(fast) == repr(reference)
    with pytest.raises(ValidationError):
        fast.call_id = "other"  # still frozen


def test_trusted_refuses_missing_unknown_and_unsuitable_fields():
    with pytest.raises(TypeError, match="missing field 'call_id'"):
        trusted(ToolCall, tool="t", args={}, context={}, callid="c")
    with pytest.raises(TypeError, match="exactly the fields"):
        trusted(ToolCall, tool="t", args={}, context={})
    with pytest.raises(TypeError, match="exactly the fields"):
        trusted(ToolCall, tool="t", args={}, context={}, call_id="", bogus=1)

    class Aliased(BaseModel):
        x: int = Field(alias="y")

    class Private(BaseModel):
        _p: int = PrivateAttr(default=0)

    for cls in (Aliased, Private):
        with pytest.raises(TypeError, match="use model_construct"):
            trusted(cls, x=1)
