"""The package surface of enclosure.manifest: the JSON Schema export."""

from __future__ import annotations

import json

import jsonschema_rs
import pytest

from enclosure.errors import ManifestError
from enclosure.manifest import json_schema, load_manifest_text


def validator() -> jsonschema_rs.Validator:
    return jsonschema_rs.validator_for(json_schema())


def test_json_schema_declares_its_dialect_and_title():
    schema = json_schema()
    assert schema["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    assert schema["title"] == "Enclosure permission manifest"
    assert schema["type"] == "object"


def test_json_schema_is_plain_json():
    schema = json_schema()
    assert json.loads(json.dumps(schema)) == schema


def test_json_schema_requires_the_agent_and_forbids_unknown_sections():
    schema = json_schema()
    assert schema["required"] == ["agent"]
    assert schema["additionalProperties"] is False
    assert {"version", "agent", "tools", "rules", "kill_switch"} <= set(
        schema["properties"]
    )


def test_json_schema_returns_a_fresh_copy_each_time():
    first = json_schema()
    first["title"] = "changed"
    assert json_schema()["title"] == "Enclosure permission manifest"


def test_json_schema_is_itself_a_valid_schema():
    jsonschema_rs.meta.validate(json_schema())


# Manifests the loader accepts: the schema must accept them too, or editors and CI
# would flag valid files.
ACCEPTED = {
    "minimal": {"agent": {"name": "bot"}},
    "rate-string": {"agent": {"name": "bot"}, "tools": {"t": {"rate": "3/minute"}}},
    "rate-mapping": {
        "agent": {"name": "bot"},
        "tools": {"t": {"rate": {"limit": "3/minute", "key": "args.to"}}},
    },
    "rate-list": {
        "agent": {"name": "bot"},
        "tools": {
            "t": {
                "rate": [
                    "3/minute",
                    {"limit": "5/hour", "key": "args.to", "on_exceed": "kill"},
                ]
            }
        },
    },
    "duration-strings": {
        "agent": {"name": "bot"},
        "approvals": {"ttl": "15m"},
        "kill_switch": {"repeated_calls": {"max": 3, "window": "1h"}},
    },
    "duration-number": {"agent": {"name": "bot"}, "approvals": {"ttl": 90}},
    "rules-and-kill-switch": {
        "agent": {"name": "bot"},
        "tools": {
            "t": {
                "effect": "read",
                "mode": "approve",
                "cost": 1.5,
                "rules": [{"when": "args.x > 1", "then": "deny"}],
            }
        },
        "rules": [{"tools": ["t"], "effect": "read", "then": "simulate"}],
        "kill_switch": {
            "max_calls": 10,
            "max_cost": 5,
            "conditions": [{"name": "slow", "when": "run.elapsed_s > 60"}],
        },
    },
}

# Manifests both the schema and the loader refuse.
REFUSED = {
    "no-agent": {"tools": {}},
    "unknown-top-key": {"agent": {"name": "bot"}, "foo": 1},
    "unknown-tool-key": {"agent": {"name": "bot"}, "tools": {"t": {"efect": "read"}}},
    "bad-effect": {"agent": {"name": "bot"}, "tools": {"t": {"effect": "delete"}}},
    "bad-then": {
        "agent": {"name": "bot"},
        "tools": {"t": {"rules": [{"then": "perhaps"}]}},
    },
    "negative-cost": {"agent": {"name": "bot"}, "tools": {"t": {"cost": -1}}},
    "zero-max-calls": {"agent": {"name": "bot"}, "kill_switch": {"max_calls": 0}},
    "repeated-calls-max-1": {
        "agent": {"name": "bot"},
        "kill_switch": {"repeated_calls": {"max": 1}},
    },
    "version-2": {"version": 2, "agent": {"name": "bot"}},
    "agent-name-pattern": {"agent": {"name": "has space"}},
}


@pytest.mark.parametrize("name", sorted(ACCEPTED))
def test_json_schema_accepts_what_the_loader_accepts(name):
    data = ACCEPTED[name]
    load_manifest_text(json.dumps(data))
    assert validator().is_valid(data)


@pytest.mark.parametrize("name", sorted(REFUSED))
def test_json_schema_refuses_what_the_loader_refuses(name):
    data = REFUSED[name]
    with pytest.raises(ManifestError):
        load_manifest_text(json.dumps(data))
    assert not validator().is_valid(data)
