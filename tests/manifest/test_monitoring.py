"""The ``audit``, ``monitoring`` and ``cost`` sections: good values load, bad ones
give one coded issue at the offending key or value, as the rest of the manifest."""

from __future__ import annotations

import pytest

from enclosure.errors import ManifestError
from enclosure.manifest import load_manifest_text

HEAD = "agent:\n  name: bot\n"
DETECTORS = "monitoring:\n  detectors:\n"


def issues_of(text: str) -> list[tuple[str, int, int]]:
    with pytest.raises(ManifestError) as info:
        load_manifest_text(HEAD + text, "m.yaml")
    assert info.value.code == info.value.issues[0].code
    assert all("\n" not in issue.format() for issue in info.value.issues)
    return [(issue.code, issue.line, issue.col) for issue in info.value.issues]


def case(text: str, code: str, line: int, col: int, name: str):
    return pytest.param(text, code, line, col, id=name)


BAD = [
    # audit
    case("audit: 5\n", "E-MANIFEST-TYPE", 3, 8, "audit-not-a-mapping"),
    case("audit:\n  checkpoint_every: 0\n", "E-MANIFEST-VALUE", 4, 21, "every-zero"),
    case("audit:\n  checkpoint_every: lots\n", "E-MANIFEST-TYPE", 4, 21, "every-str"),
    case(
        "audit:\n  checkpoint_every: 10000001\n",
        "E-MANIFEST-VALUE",
        4,
        21,
        "every-too-many",
    ),
    case(
        "audit:\n  checkpoint_interval: -5s\n",
        "E-MANIFEST-VALUE",
        4,
        24,
        "interval-negative",
    ),
    case(
        "audit:\n  checkpoint_interval: 5 parsecs\n",
        "E-MANIFEST-VALUE",
        4,
        24,
        "interval-unit",
    ),
    case(
        "audit:\n  checkpoint_copies:\n    - {}\n",
        "E-MANIFEST-VALUE",
        5,
        7,
        "copy-with-no-place",
    ),
    case(
        "audit:\n  checkpoint_copies:\n    - file: a.jsonl\n"
        "      webhook: https://h.test/c\n",
        "E-MANIFEST-VALUE",
        5,
        7,
        "copy-with-two-places",
    ),
    case(
        "audit:\n  checkpoint_copies:\n    - file: a.jsonl\n      secret_env: KEY\n",
        "E-MANIFEST-VALUE",
        5,
        7,
        "copy-file-with-secret",
    ),
    case(
        "audit:\n  checkpoint_copies:\n    - webhook: ftp://h.test/c\n",
        "E-MANIFEST-VALUE",
        5,
        16,
        "copy-webhook-scheme",
    ),
    case("audit:\n  keys: ''\n", "E-MANIFEST-VALUE", 4, 9, "keys-empty"),
    case("audit:\n  every: 5\n", "E-MANIFEST-UNKNOWN-KEY", 4, 3, "audit-unknown"),
    # monitoring.detectors
    case("monitoring: 5\n", "E-MANIFEST-TYPE", 3, 13, "monitoring-not-a-mapping"),
    case(DETECTORS + "    spikes: {}\n", "E-MANIFEST-UNKNOWN-KEY", 5, 5, "unknown"),
    case(
        DETECTORS + "    call_rate: {factor: 1}\n",
        "E-MANIFEST-VALUE",
        5,
        25,
        "call-rate-factor-one",
    ),
    case(
        DETECTORS + "    call_rate: {factor: .nan}\n",
        "E-MANIFEST-VALUE",
        5,
        25,
        "call-rate-factor-nan",
    ),
    case(
        DETECTORS + "    call_rate:\n      min_calls: 0\n",
        "E-MANIFEST-VALUE",
        6,
        18,
        "call-rate-min-calls",
    ),
    case(
        DETECTORS + "    call_rate:\n      baseline: 0s\n",
        "E-MANIFEST-VALUE",
        6,
        17,
        "call-rate-baseline",
    ),
    case(
        DETECTORS + "    cost_burn: {}\n",
        "E-MANIFEST-MISSING-KEY",
        5,
        16,
        "cost-burn-without-max",
    ),
    case(
        DETECTORS + "    cost_burn:\n      max_per_minute: 0\n",
        "E-MANIFEST-VALUE",
        6,
        23,
        "cost-burn-zero",
    ),
    case(
        DETECTORS + "    denials: {max: 0}\n",
        "E-MANIFEST-VALUE",
        5,
        20,
        "denials-zero",
    ),
    case(
        DETECTORS + "    repeated_calls: {max: 3, window: soon}\n",
        "E-MANIFEST-VALUE",
        5,
        38,
        "repeated-window",
    ),
    case(
        DETECTORS + "    error_streak: {max: 2, kill: maybe}\n",
        "E-MANIFEST-TYPE",
        5,
        34,
        "kill-not-a-bool",
    ),
    case(
        DETECTORS + "    error_streak: {}\n",
        "E-MANIFEST-MISSING-KEY",
        5,
        19,
        "streak-without-max",
    ),
    case(
        DETECTORS + "    new_tool: {kill: true, after: 1}\n",
        "E-MANIFEST-UNKNOWN-KEY",
        5,
        28,
        "new-tool-unknown-key",
    ),
    # monitoring.notify and otlp
    case(
        "monitoring:\n  notify:\n    stdout: loud\n",
        "E-MANIFEST-TYPE",
        5,
        13,
        "stdout-not-a-bool",
    ),
    case(
        "monitoring:\n  notify:\n    webhooks:\n      - url: not a url\n",
        "E-MANIFEST-VALUE",
        6,
        14,
        "webhook-url",
    ),
    case(
        "monitoring:\n  notify:\n    webhooks:\n      - url: https://h.test/a\n"
        "        secret_env: 1BAD\n",
        "E-MANIFEST-VALUE",
        7,
        21,
        "webhook-secret-env",
    ),
    case(
        "monitoring:\n  otlp: {}\n",
        "E-MANIFEST-MISSING-KEY",
        4,
        9,
        "otlp-without-endpoint",
    ),
    case(
        "monitoring:\n  otlp:\n    endpoint: localhost:4318\n",
        "E-MANIFEST-VALUE",
        5,
        15,
        "otlp-endpoint-scheme",
    ),
    case(
        "monitoring:\n  otlp:\n    endpoint: http://127.0.0.1:4318\n"
        "    metrics_interval: 0s\n",
        "E-MANIFEST-VALUE",
        6,
        23,
        "otlp-interval",
    ),
    # cost
    case("cost:\n  models: [a]\n", "E-MANIFEST-TYPE", 4, 11, "models-a-list"),
    case(
        "cost:\n  models:\n    gpt-x: {input: -1, output: 2}\n",
        "E-MANIFEST-VALUE",
        5,
        20,
        "price-negative",
    ),
    case(
        "cost:\n  models:\n    gpt-x: {input: 1, output: .inf}\n",
        "E-MANIFEST-VALUE",
        5,
        31,
        "price-infinite",
    ),
    case(
        "cost:\n  models:\n    gpt-x: {input: 1}\n",
        "E-MANIFEST-MISSING-KEY",
        5,
        12,
        "price-without-output",
    ),
    case(
        "cost:\n  models:\n    '': {input: 1, output: 1}\n",
        "E-MANIFEST-VALUE",
        5,
        5,
        "model-name-empty",
    ),
]


@pytest.mark.parametrize(("text", "code", "line", "col"), BAD)
def test_bad_values_give_a_coded_issue_at_the_right_place(text, code, line, col):
    assert issues_of(text) == [(code, line, col)]


def test_each_bad_value_in_the_sections_is_reported_in_order():
    text = (
        "audit:\n  checkpoint_every: 0\n"
        "monitoring:\n  detectors:\n    denials: {max: 0}\n"
        "cost:\n  models:\n    m: {input: -1, output: 1}\n"
    )
    assert issues_of(text) == [
        ("E-MANIFEST-VALUE", 4, 21),
        ("E-MANIFEST-VALUE", 7, 20),
        ("E-MANIFEST-VALUE", 10, 16),
    ]


def test_the_sections_load_with_their_values():
    text = """\
audit:
  checkpoint_every: 50
  checkpoint_interval: 2m
  checkpoint_copies:
    - file: copies.jsonl
    - webhook: https://h.test/checkpoints
      secret_env: CHECKPOINT_KEY
monitoring:
  detectors:
    call_rate: {factor: 3, window: 5s, min_calls: 4, baseline: 1m}
    new_tool: {kill: true}
    cost_burn: {max_per_minute: 0.5}
    repeated_calls: {max: 3, window: 1h, kill: true}
    error_streak: {max: 4}
  notify:
    stdout: false
    webhooks: [{url: 'http://127.0.0.1:9/alerts'}]
  otlp: {endpoint: 'http://127.0.0.1:4318', metrics_interval: 1s}
cost:
  models:
    my-model: {input: 0.5, output: 1.5}
"""
    manifest = load_manifest_text(HEAD + text, "m.yaml")
    assert (manifest.audit.checkpoint_every, manifest.audit.checkpoint_interval) == (
        50,
        120.0,
    )
    assert [c.webhook for c in manifest.audit.checkpoint_copies] == [
        None,
        "https://h.test/checkpoints",
    ]
    detectors = manifest.monitoring.detectors
    assert (detectors.call_rate.factor, detectors.call_rate.baseline) == (3.0, 60.0)
    assert detectors.new_tool.kill
    assert detectors.denials is None
    assert (detectors.repeated_calls.max, detectors.repeated_calls.window) == (3, 3600)
    assert not manifest.monitoring.notify.stdout
    assert manifest.monitoring.otlp.metrics_interval == 1.0
    assert manifest.cost.models["my-model"].output == 1.5
