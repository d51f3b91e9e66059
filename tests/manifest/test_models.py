from __future__ import annotations

import pytest
from pydantic import ValidationError
from pydantic_core import PydanticCustomError

from enclosure.manifest import (
    AgentSpec,
    GlobalRule,
    KillSwitch,
    Manifest,
    RateLimit,
    Rule,
    ToolSpec,
    parse_duration,
    parse_rate,
)
from enclosure.testing import manifest_from

# --- parse_duration and parse_rate ---------------------------------------------------


@pytest.mark.parametrize(
    ("value", "seconds"),
    [
        (90, 90.0),
        (0.5, 0.5),
        ("90s", 90.0),
        ("15m", 900.0),
        ("1h", 3600.0),
        ("1d", 86400.0),
        ("1.5h", 5400.0),
        ("500ms", 0.5),
        ("2 hours", 7200.0),
        ("10mins", 600.0),
        ("5 secs", 5.0),
        ("1 day", 86400.0),
        (" 30S ", 30.0),
        ("366d", 366 * 86400.0),
    ],
)
def test_parse_duration_reads_numbers_and_units(value, seconds):
    assert parse_duration(value) == seconds


@pytest.mark.parametrize(
    "value",
    [
        pytest.param(0, id="zero"),
        pytest.param(-5, id="negative"),
        pytest.param("0s", id="zero-string"),
        pytest.param("-5s", id="negative-string"),
        pytest.param("367d", id="over-a-year"),
        pytest.param(10**400, id="int-too-big-for-float"),
        pytest.param(float("inf"), id="infinity"),
        pytest.param(float("nan"), id="nan"),
        pytest.param(True, id="bool"),
        pytest.param("5 fortnights", id="unknown-unit"),
        pytest.param("abc", id="no-number"),
        pytest.param("", id="empty"),
        pytest.param("1h30m", id="compound"),
        pytest.param(None, id="none"),
        pytest.param([1], id="list"),
    ],
)
def test_parse_duration_refuses_bad_values_with_a_coded_error(value):
    with pytest.raises(PydanticCustomError) as info:
        parse_duration(value)
    assert info.value.type == "E-MANIFEST-VALUE"


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        ("3/minute", (3, 60.0)),
        ("3/minutes", (3, 60.0)),
        ("3 / min", (3, 60.0)),
        ("100/hour", (100, 3600.0)),
        ("5/10s", (5, 10.0)),
        ("5/10ms", (5, 0.01)),
        ("2/1.5h", (2, 5400.0)),
        ("1/day", (1, 86400.0)),
        ("10/SECOND", (10, 1.0)),
    ],
)
def test_parse_rate_gives_count_and_window_seconds(rate, expected):
    assert parse_rate(rate) == expected


@pytest.mark.parametrize(
    "rate",
    [
        "3/century",
        "abc",
        "0/minute",
        "3/0s",
        "-1/minute",
        "3",
        "/minute",
        "3/",
        "3/367d",
        "1.5/minute",
        "",
    ],
)
def test_parse_rate_refuses_bad_rates_with_a_coded_error(rate):
    with pytest.raises(PydanticCustomError) as info:
        parse_rate(rate)
    assert info.value.type == "E-MANIFEST-VALUE"


# --- defaults: default deny all the way down ----------------------------------------


def test_a_tool_defaults_to_a_live_write_tool_that_denies_over_its_rate():
    tool = ToolSpec()
    assert tool.effect == "write"
    assert tool.mode == "live"
    assert tool.on_exceed == "deny"
    assert tool.cost == 0.0
    assert tool.rules == []
    assert tool.rate == []
    assert tool.handler is None


def test_a_manifest_needs_only_an_agent():
    manifest = Manifest.model_validate({"agent": {"name": "bot"}})
    assert manifest.version == 1
    assert manifest.agent == AgentSpec(name="bot")
    assert manifest.tools == {}
    assert manifest.rules == []
    assert manifest.kill_switch == KillSwitch()
    assert manifest.approvals.ttl == 900.0
    assert manifest.redact.env == []


def test_kill_switch_limits_are_off_by_default():
    ks = KillSwitch()
    assert ks.max_calls is None
    assert ks.max_cost is None
    assert ks.max_denials is None
    assert ks.max_consecutive_errors is None
    assert ks.repeated_calls is None
    assert ks.conditions == []


def test_a_rule_matches_always_unless_given_a_condition():
    rule = Rule(then="deny")
    assert rule.when == "true"
    assert rule.name is None


def test_a_global_rule_applies_to_every_tool_and_effect_by_default():
    rule = GlobalRule(then="approve")
    assert rule.tools is None
    assert rule.effect is None


def test_repeated_calls_window_defaults_to_a_minute():
    ks = KillSwitch.model_validate({"repeated_calls": {"max": 3}})
    assert ks.repeated_calls is not None
    assert ks.repeated_calls.window == 60.0


# --- rate shorthands ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("rate", "expected"),
    [
        pytest.param("3/minute", [("3/minute", None, None)], id="one-string"),
        pytest.param(
            ["3/minute", "5/hour"],
            [("3/minute", None, None), ("5/hour", None, None)],
            id="list-of-strings",
        ),
        pytest.param(
            {"limit": "2/minute", "key": "args.to"},
            [("2/minute", "args.to", None)],
            id="one-mapping",
        ),
        pytest.param(
            [
                {"limit": "2/minute", "key": "args.to", "on_exceed": "kill"},
                "10/hour",
            ],
            [("2/minute", "args.to", "kill"), ("10/hour", None, None)],
            id="mixed-list",
        ),
        pytest.param([], [], id="empty-list"),
    ],
)
def test_rate_accepts_shorthand_forms(rate, expected):
    tool = ToolSpec.model_validate({"rate": rate})
    assert [(r.limit, r.key, r.on_exceed) for r in tool.rate] == expected


def test_rate_limit_exposes_count_and_window():
    limit = RateLimit(limit="5/10s")
    assert limit.count == 5
    assert limit.window_s == 10.0


def test_durations_in_the_manifest_accept_numbers_and_strings():
    ks = KillSwitch.model_validate({"repeated_calls": {"max": 2, "window": "15m"}})
    assert ks.repeated_calls is not None
    assert ks.repeated_calls.window == 900.0
    manifest = Manifest.model_validate(
        {"agent": {"name": "bot"}, "approvals": {"ttl": 90}}
    )
    assert manifest.approvals.ttl == 90.0


# --- validation at the model level ---------------------------------------------------


def test_models_are_frozen():
    tool = ToolSpec()
    with pytest.raises(ValidationError) as info:
        tool.mode = "deny"  # type: ignore[misc]  # the point: assignment is refused
    assert info.value.errors()[0]["type"] == "frozen_instance"


def test_strings_are_stripped():
    rule = Rule(when="  args.x > 1 ", then="allow")
    assert rule.when == "args.x > 1"


@pytest.mark.parametrize(
    "upstream",
    [
        {},
        {"command": ["x"], "url": "http://h/mcp"},
        {"url": "ftp://h"},
        {"url": "http://h/mcp", "sandbox": "none"},
        {"command": ["x"], "env": {"LD_PRELOAD": "x"}},
    ],
)
def test_an_upstream_is_a_command_or_a_url_and_nothing_odd(upstream):
    with pytest.raises(ValidationError) as info:
        Manifest.model_validate(
            {"agent": {"name": "bot"}, "upstreams": {"u": upstream}}
        )
    assert info.value.errors()[0]["type"] == "E-MANIFEST-VALUE"


def test_upstream_resources_and_prompts_read_as_globs():
    m = Manifest.model_validate(
        {
            "agent": {"name": "bot"},
            "upstreams": {"u": {"command": ["x"], "resources": True, "prompts": "g*"}},
        }
    )
    spec = m.upstreams["u"]
    assert spec.allows_resource("file:///any")
    assert spec.allows_prompt("greet")
    assert not spec.allows_prompt("hidden")


@pytest.mark.parametrize(
    "name",
    ["bot", "_bot", "bot-1.v2", "a" * 64],
)
def test_names_follow_the_name_pattern(name):
    assert AgentSpec(name=name).name == name


@pytest.mark.parametrize("name", ["", "1bot", "has space", "a" * 65, "bot/1"])
def test_names_outside_the_pattern_are_refused(name):
    with pytest.raises(ValidationError):
        AgentSpec(name=name)


# --- the manifest hash ---------------------------------------------------------------

BASE = """\
agent:
  name: bot
tools:
  send:
    effect: write
    rate: 3/minute
  read:
    effect: read
kill_switch:
  max_calls: 10
"""

SAME_MEANING = {
    "comments": (
        "# the agent\nagent:\n  name: bot   # trailing\ntools:\n  send:\n"
        "    effect: write\n    rate: 3/minute\n  read:\n    effect: read\n"
        "kill_switch:\n  max_calls: 10\n"
    ),
    "key-order": (
        "kill_switch:\n  max_calls: 10\ntools:\n  read:\n    effect: read\n"
        "  send:\n    rate: 3/minute\n    effect: write\nagent:\n  name: bot\n"
    ),
    "flow-style": (
        "{agent: {name: bot}, tools: {send: {effect: write, rate: [3/minute]},"
        " read: {effect: read}}, kill_switch: {max_calls: 10}}\n"
    ),
    "explicit-defaults": (
        BASE + "version: 1\nrules: []\napprovals:\n  ttl: 15m\nredact:\n  env: []\n"
    ),
    "quoted-scalars": BASE.replace("name: bot", "name: 'bot'").replace(
        "rate: 3/minute", 'rate: "3/minute"'
    ),
}


@pytest.mark.parametrize("variant", sorted(SAME_MEANING))
def test_sha256_is_stable_under_formatting_that_keeps_the_meaning(variant):
    assert manifest_from(SAME_MEANING[variant]).sha256 == manifest_from(BASE).sha256


@pytest.mark.parametrize(
    ("old", "new"),
    [
        ("name: bot", "name: bot2"),
        ("max_calls: 10", "max_calls: 11"),
        ("rate: 3/minute", "rate: 4/minute"),
        ("effect: read", "effect: write"),
        ("  read:\n", "  fetch:\n"),
    ],
)
def test_sha256_changes_when_a_value_changes(old, new):
    changed = BASE.replace(old, new)
    assert changed != BASE
    assert manifest_from(changed).sha256 != manifest_from(BASE).sha256


def test_sha256_is_a_hex_digest_and_equals_for_models_built_in_code():
    loaded = manifest_from("agent:\n  name: bot\n")
    built = Manifest(agent=AgentSpec(name="bot"))
    assert len(loaded.sha256) == 64
    assert int(loaded.sha256, 16) >= 0
    assert loaded.sha256 == built.sha256
