import json
from pathlib import Path
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
    encode_event,
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


def test_a_kill_logged_before_kills_named_who_still_encodes_as_it_was_hashed():
    # The body a kill had before KillEvent.by existed: verify re-encodes it.
    before = (
        b'{"call_id":null,"kind":"kill","reason":"rate limit","rule":"tools.x.rate[0]",'
        b'"run_id":"r","ts":"2025-01-02T03:04:05.000006Z"}'
    )
    assert encode_event(parse_event(before)) == before
    by = KillEvent(run_id="r", ts=TS, rule="operator", reason="stop", by="olga")
    assert json.loads(encode_event(by))["by"] == "olga"
    assert parse_event(encode_event(by)) == by


STORED = Path(__file__).with_name("data") / "stored_events.jsonl"
"""One body of each kind, as an earlier Enclosure stored it (from the demo's log)."""


@pytest.mark.parametrize(
    "body", STORED.read_bytes().splitlines(), ids=lambda b: json.loads(b)["kind"]
)
def test_bodies_stored_by_an_earlier_version_encode_as_they_were_hashed(body):
    # verify re-encodes every body: a field added to an event later must leave
    # these bytes as they are, or every existing log would read as tampered with.
    assert encode_event(parse_event(body)) == body
