import json
from typing import Any

import pytest
from pydantic import ValidationError

from enclosure.audit import (
    AlertEvent,
    DecisionEvent,
    KillEvent,
    ManifestEvent,
    ResultEvent,
    RunStartedEvent,
    ValidatorResult,
    parse_event,
)

TS = "2025-01-02T03:04:05.000006Z"


def test_parse_event_picks_the_model_by_its_kind():
    event = parse_event(
        json.dumps(
            {"kind": "kill", "run_id": "r", "ts": TS, "rule": "k", "reason": "x"}
        )
    )
    assert isinstance(event, KillEvent)
    assert event.call_id is None


@pytest.mark.parametrize(
    "event",
    [
        RunStartedEvent(run_id="r", ts=TS, agent="a", task="t", manifest_sha256="c"),
        AlertEvent(run_id="r", ts=TS, severity="critical", rule="r", message="m"),
        ManifestEvent(
            run_id="",
            ts=TS,
            action="uploaded",
            version=2,
            sha256="a" * 64,
            manifest_sha256="b" * 64,
            by="ann",
        ),
        ResultEvent(
            run_id="r",
            ts=TS,
            call_id="c",
            tool="t",
            disposition="failed",
            latency_us=1,
            cost=0.0,
        ),
    ],
    ids=lambda e: e.kind,
)
def test_events_round_trip_through_json(event):
    assert parse_event(event.model_dump_json()) == event


def test_unknown_kinds_are_rejected():
    with pytest.raises(ValidationError):
        parse_event(json.dumps({"kind": "bogus", "run_id": "r", "ts": TS}))


def test_unknown_fields_are_rejected():
    with pytest.raises(ValidationError):
        parse_event(
            json.dumps(
                {
                    "kind": "kill",
                    "run_id": "r",
                    "ts": TS,
                    "rule": "x",
                    "reason": "y",
                    "z": 1,
                }
            )
        )


def test_events_are_frozen():
    event = KillEvent(run_id="r", ts=TS, rule="x", reason="y")
    with pytest.raises(ValidationError):
        event.reason = "changed"  # type: ignore[misc]  # the point of the test


def test_a_decision_event_needs_its_validator_result():
    fields: dict[str, Any] = {
        "run_id": "r",
        "ts": TS,
        "call_id": "c",
        "tool": "t",
        "args": {},
        "args_sha256": "a",
        "context_sha256": "b",
        "context_excerpt": "",
        "agent": "a",
        "outcome": "deny",
        "rule": "default-deny",
        "reason": "no rule allows it",
        "disposition": "blocked",
        "latency_us": 1,
        "cost": 0.0,
        "manifest_sha256": "c",
    }
    with pytest.raises(ValidationError):
        DecisionEvent(**fields)
    event = DecisionEvent(**fields, validator=ValidatorResult(ok=False, errors=["e"]))
    assert event.validator.errors == ["e"]
