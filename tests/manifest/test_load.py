from __future__ import annotations

import re
import textwrap

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from enclosure.errors import ManifestError
from enclosure.manifest import (
    AgentSpec,
    Manifest,
    Position,
    load_manifest,
    load_manifest_text,
    manifest_source,
)
from enclosure.manifest._yaml import MAX_BYTES
from enclosure.policy import Policy, PolicyCompileError, compile_policy
from enclosure.testing import manifest_from

HEAD = "agent:\n  name: bot\n"


def issues_of(text: str, file: str = "m.yaml") -> list[tuple[str, int, int]]:
    with pytest.raises(ManifestError) as info:
        load_manifest_text(text, file)
    assert info.value.code == info.value.issues[0].code
    assert all(issue.file == file for issue in info.value.issues)
    return [(issue.code, issue.line, issue.col) for issue in info.value.issues]


def case(text: str, code: str, line: int, col: int, name: str):
    return pytest.param(text, code, line, col, id=name)


# --- one table: every kind of bad manifest, with its code and position ---------------

BAD_MANIFESTS = [
    # the top level
    case("- a\n- b\n", "E-MANIFEST-TYPE", 1, 1, "top-level-list"),
    case("hello\n", "E-MANIFEST-TYPE", 1, 1, "top-level-string"),
    case("42\n", "E-MANIFEST-TYPE", 1, 1, "top-level-int"),
    case("~\n", "E-MANIFEST-EMPTY", 1, 1, "top-level-null"),
    case("---\n", "E-MANIFEST-EMPTY", 2, 1, "document-marker-only"),
    case("\n\n  - a\n", "E-MANIFEST-TYPE", 3, 3, "top-level-list-after-blank-lines"),
    # wrong types
    case("agent: bot\n", "E-MANIFEST-TYPE", 1, 8, "agent-is-a-string"),
    case("agent: [bot]\n", "E-MANIFEST-TYPE", 1, 8, "agent-is-a-list"),
    case("agent:\n  name: 5\n", "E-MANIFEST-TYPE", 2, 9, "name-is-an-int"),
    case(HEAD + "tools:\n  - send\n", "E-MANIFEST-TYPE", 4, 3, "tools-is-a-list"),
    case(HEAD + "tools:\n  send:\n", "E-MANIFEST-TYPE", 4, 8, "tool-is-null"),
    case(HEAD + "tools:\n  t:\n    cost: lots\n", "E-MANIFEST-TYPE", 5, 11, "cost-str"),
    case(HEAD + "tools:\n  t:\n    cost: [1]\n", "E-MANIFEST-TYPE", 5, 11, "cost-list"),
    case(HEAD + "tools:\n  t:\n    rate: 5\n", "E-MANIFEST-TYPE", 5, 11, "rate-is-int"),
    case(
        HEAD + "tools:\n  t:\n    rate: [5]\n",
        "E-MANIFEST-TYPE",
        5,
        12,
        "rate-item-int",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules: {then: allow}\n",
        "E-MANIFEST-TYPE",
        5,
        12,
        "rules-is-a-mapping",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - when: 5\n        then: allow\n",
        "E-MANIFEST-TYPE",
        6,
        15,
        "when-is-an-int",
    ),
    case(
        HEAD + "tools:\n  t:\n    input_schema: [1]\n",
        "E-MANIFEST-TYPE",
        5,
        19,
        "input-schema-is-a-list",
    ),
    case(HEAD + "kill_switch: [1]\n", "E-MANIFEST-TYPE", 3, 14, "kill-switch-list"),
    case(
        HEAD + "kill_switch:\n  max_calls: ten\n",
        "E-MANIFEST-TYPE",
        4,
        14,
        "max-calls-str",
    ),
    case(HEAD + "rules: {then: deny}\n", "E-MANIFEST-TYPE", 3, 8, "rules-mapping"),
    case(HEAD + "redact:\n  env: X\n", "E-MANIFEST-TYPE", 4, 8, "redact-env-str"),
    # unknown keys, at every level: located at the key
    case(HEAD + "foo: 1\n", "E-MANIFEST-UNKNOWN-KEY", 3, 1, "unknown-top-key"),
    case("agent:\n  name: a\n  nam: b\n", "E-MANIFEST-UNKNOWN-KEY", 3, 3, "agent-key"),
    case(
        HEAD + "tools:\n  t:\n    efect: read\n",
        "E-MANIFEST-UNKNOWN-KEY",
        5,
        5,
        "unknown-tool-key",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - then: allow\n        wen: 'true'\n",
        "E-MANIFEST-UNKNOWN-KEY",
        7,
        9,
        "unknown-rule-key",
    ),
    case(
        HEAD + "tools:\n  t:\n    rate:\n      - limit: 3/minute\n        keyy: x\n",
        "E-MANIFEST-UNKNOWN-KEY",
        7,
        9,
        "unknown-rate-key",
    ),
    case(
        HEAD + "tools:\n  t:\n    rate: {limit: 3/minute, keyy: x}\n",
        "E-MANIFEST-UNKNOWN-KEY",
        5,
        29,
        "unknown-key-in-rate-mapping-shorthand",
    ),
    case(
        HEAD + "kill_switch:\n  max_call: 3\n",
        "E-MANIFEST-UNKNOWN-KEY",
        4,
        3,
        "unknown-kill-switch-key",
    ),
    case(
        HEAD + "kill_switch:\n  repeated_calls:\n    max: 3\n    windw: 5s\n",
        "E-MANIFEST-UNKNOWN-KEY",
        6,
        5,
        "unknown-repeated-calls-key",
    ),
    case(
        HEAD + "kill_switch:\n  conditions:\n    - when: 'true'\n      then: kill\n",
        "E-MANIFEST-UNKNOWN-KEY",
        6,
        7,
        "unknown-kill-condition-key",
    ),
    case(
        HEAD + "rules:\n  - then: deny\n    tool: [x]\n",
        "E-MANIFEST-UNKNOWN-KEY",
        5,
        5,
        "unknown-global-rule-key",
    ),
    case(
        HEAD + "approvals:\n  timeout: 5\n",
        "E-MANIFEST-UNKNOWN-KEY",
        4,
        3,
        "unknown-approvals-key",
    ),
    case(HEAD + "redact:\n  envs: [X]\n", "E-MANIFEST-UNKNOWN-KEY", 4, 3, "redact-key"),
    # missing required keys
    case("version: 1\n", "E-MANIFEST-MISSING-KEY", 1, 1, "missing-agent"),
    case("agent:\n  description: x\n", "E-MANIFEST-MISSING-KEY", 2, 3, "agent-name"),
    case("agent: {}\n", "E-MANIFEST-MISSING-KEY", 1, 8, "agent-name-empty-mapping"),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - when: 'true'\n",
        "E-MANIFEST-MISSING-KEY",
        6,
        9,
        "rule-then",
    ),
    case(
        HEAD + "rules:\n  - when: 'true'\n",
        "E-MANIFEST-MISSING-KEY",
        4,
        5,
        "global-then",
    ),
    case(
        HEAD + "tools:\n  t:\n    rate:\n      - key: args.to\n",
        "E-MANIFEST-MISSING-KEY",
        6,
        9,
        "rate-limit",
    ),
    case(
        HEAD + "kill_switch:\n  conditions:\n    - name: x\n",
        "E-MANIFEST-MISSING-KEY",
        5,
        7,
        "kill-condition-when",
    ),
    case(
        HEAD + "kill_switch:\n  repeated_calls:\n    window: 5s\n",
        "E-MANIFEST-MISSING-KEY",
        5,
        5,
        "repeated-calls-max",
    ),
    # bad enum values
    case("version: 2\n" + HEAD, "E-MANIFEST-VALUE", 1, 10, "version-2"),
    case(
        HEAD + "tools:\n  t:\n    effect: delete\n", "E-MANIFEST-VALUE", 5, 13, "effect"
    ),
    case(HEAD + "tools:\n  t:\n    mode: maybe\n", "E-MANIFEST-VALUE", 5, 11, "mode"),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - then: perhaps\n",
        "E-MANIFEST-VALUE",
        6,
        15,
        "then",
    ),
    case(
        HEAD + "tools:\n  t:\n    on_exceed: warn\n",
        "E-MANIFEST-VALUE",
        5,
        16,
        "tool-on-exceed",
    ),
    case(
        HEAD
        + "tools:\n  t:\n    rate:\n      - limit: 3/minute\n        on_exceed: x\n",
        "E-MANIFEST-VALUE",
        7,
        20,
        "rate-on-exceed",
    ),
    case(
        HEAD + "rules:\n  - then: deny\n    effect: exec\n",
        "E-MANIFEST-VALUE",
        5,
        13,
        "global-rule-effect",
    ),
    # negative or zero limits
    case(
        HEAD + "tools:\n  t:\n    cost: -1\n",
        "E-MANIFEST-VALUE",
        5,
        11,
        "cost-negative",
    ),
    case(
        HEAD + "tools:\n  t:\n    cost: .inf\n", "E-MANIFEST-VALUE", 5, 11, "cost-inf"
    ),
    case(
        HEAD + "tools:\n  t:\n    cost: .nan\n", "E-MANIFEST-VALUE", 5, 11, "cost-nan"
    ),
    case(HEAD + "kill_switch:\n  max_calls: 0\n", "E-MANIFEST-VALUE", 4, 14, "calls-0"),
    case(
        HEAD + "kill_switch:\n  max_cost: -1\n", "E-MANIFEST-VALUE", 4, 13, "cost-neg"
    ),
    case(
        HEAD + "kill_switch:\n  max_denials: 0\n",
        "E-MANIFEST-VALUE",
        4,
        16,
        "denials-0",
    ),
    case(
        HEAD + "kill_switch:\n  max_consecutive_errors: 0\n",
        "E-MANIFEST-VALUE",
        4,
        27,
        "consecutive-errors-0",
    ),
    case(
        HEAD + "kill_switch:\n  repeated_calls:\n    max: 1\n",
        "E-MANIFEST-VALUE",
        5,
        10,
        "repeated-calls-max-1",
    ),
    # bad rate strings
    case(
        HEAD + "tools:\n  t:\n    rate: 3/century\n",
        "E-MANIFEST-VALUE",
        5,
        11,
        "century",
    ),
    case(HEAD + "tools:\n  t:\n    rate: abc\n", "E-MANIFEST-VALUE", 5, 11, "rate-abc"),
    case(
        HEAD + "tools:\n  t:\n    rate: 0/minute\n", "E-MANIFEST-VALUE", 5, 11, "zero"
    ),
    case(
        HEAD + "tools:\n  t:\n    rate:\n      - 3/minute\n      - 0/minute\n",
        "E-MANIFEST-VALUE",
        7,
        9,
        "bad-rate-second-in-list",
    ),
    case(
        HEAD + "tools:\n  t:\n    rate: {limit: abc}\n",
        "E-MANIFEST-VALUE",
        5,
        19,
        "bad-rate-in-mapping-shorthand",
    ),
    # bad durations
    case(
        HEAD
        + "kill_switch:\n  repeated_calls:\n    max: 3\n    window: 5 fortnights\n",
        "E-MANIFEST-VALUE",
        6,
        13,
        "unknown-duration-unit",
    ),
    case(HEAD + "approvals:\n  ttl: 0\n", "E-MANIFEST-VALUE", 4, 8, "ttl-zero"),
    case(HEAD + "approvals:\n  ttl: -5\n", "E-MANIFEST-VALUE", 4, 8, "ttl-negative"),
    case(HEAD + "approvals:\n  ttl: 400d\n", "E-MANIFEST-VALUE", 4, 8, "ttl-400d"),
    case(HEAD + "approvals:\n  ttl: true\n", "E-MANIFEST-VALUE", 4, 8, "ttl-bool"),
    case(HEAD + "approvals:\n  ttl: [1]\n", "E-MANIFEST-VALUE", 4, 8, "ttl-list"),
    case(
        HEAD + "approvals:\n  ttl: 1" + "0" * 400 + "\n",
        "E-MANIFEST-VALUE",
        4,
        8,
        "ttl-huge-int",
    ),
    # names and other strings
    case("agent:\n  name: 'a b'\n", "E-MANIFEST-VALUE", 2, 9, "agent-name-pattern"),
    case(
        HEAD + "tools:\n  'bad name': {}\n",
        "E-MANIFEST-VALUE",
        4,
        3,
        "tool-name-pattern-located-at-the-name",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - name: 'a b'\n        then: allow\n",
        "E-MANIFEST-VALUE",
        6,
        15,
        "rule-name-pattern",
    ),
    case(
        HEAD + "tools:\n  t:\n    handler: nocolon\n",
        "E-MANIFEST-VALUE",
        5,
        14,
        "handler-pattern",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - when: '  '\n        then: allow\n",
        "E-MANIFEST-VALUE",
        6,
        15,
        "blank-when",
    ),
    case(
        HEAD + "tools:\n  t:\n    rules:\n      - when: " + "x" * 4097 + "\n"
        "        then: allow\n",
        "E-MANIFEST-VALUE",
        6,
        15,
        "when-too-long",
    ),
    # cross-references: located at the list item
    case(
        HEAD + "tools:\n  t: {}\nrules:\n  - then: deny\n    tools: [t, nope]\n",
        "E-MANIFEST-UNKNOWN-TOOL",
        7,
        16,
        "unknown-tool-in-flow-list",
    ),
    case(
        HEAD + "tools:\n  t: {}\nrules:\n  - then: deny\n    tools:\n      - t\n"
        "      - nope\n",
        "E-MANIFEST-UNKNOWN-TOOL",
        9,
        9,
        "unknown-tool-in-block-list",
    ),
    case(
        HEAD + "rules:\n  - then: deny\n    tools: [ghost]\n",
        "E-MANIFEST-UNKNOWN-TOOL",
        5,
        13,
        "unknown-tool-with-no-tools-section",
    ),
    # YAML-level problems surface through the loader unchanged
    case("", "E-MANIFEST-EMPTY", 1, 1, "empty"),
    case("  \n# only a comment\n", "E-MANIFEST-EMPTY", 1, 1, "comment-only"),
    case("agent: {name: bot\n", "E-MANIFEST-YAML", 2, 1, "unclosed-brace"),
    case("agent:\n\tname: bot\n", "E-MANIFEST-YAML", 2, 1, "tab"),
    case(HEAD + "---\n" + HEAD, "E-MANIFEST-YAML", 3, 1, "two-documents"),
    case(HEAD + "agent:\n  name: b\n", "E-MANIFEST-DUPLICATE-KEY", 3, 1, "dup-top"),
    case("base: &b\n  name: bot\nagent:\n  <<: *b\n", "E-MANIFEST-YAML", 4, 3, "merge"),
    case("agent: !!python/object:x\n  name: a\n", "E-MANIFEST-YAML", 1, 8, "py-tag"),
    case(HEAD + "x: &a [*a]\n", "E-MANIFEST-TOO-COMPLEX", 3, 4, "recursive-alias"),
]


@pytest.mark.parametrize(("text", "code", "line", "col"), BAD_MANIFESTS)
def test_bad_manifests_give_a_coded_issue_at_the_right_place(text, code, line, col):
    assert issues_of(text)[0] == (code, line, col)


def test_a_tool_naming_an_unknown_upstream_is_located():
    text = HEAD + "upstreams:\n  u: {command: [x]}\ntools:\n  t: {upstream: v}\n"
    assert issues_of(text) == [("E-MANIFEST-UNKNOWN-UPSTREAM", 6, 17)]


def test_every_problem_found_is_reported_in_document_order():
    text = """\
        agent:
          name: bot
          foo: 1
        tools:
          t:
            effect: x
            mode: y
        upstreams: {u: {}}
        """
    assert issues_of(textwrap.dedent(text)) == [
        ("E-MANIFEST-UNKNOWN-KEY", 3, 3),
        ("E-MANIFEST-VALUE", 6, 13),
        ("E-MANIFEST-VALUE", 7, 11),
        ("E-MANIFEST-VALUE", 8, 16),
    ]


def test_each_unknown_tool_reference_is_reported():
    text = HEAD + (
        "tools:\n  t: {}\nrules:\n  - then: deny\n    tools: [a, t, b]\n"
        "  - then: allow\n    tools: [c]\n"
    )
    assert issues_of(text) == [
        ("E-MANIFEST-UNKNOWN-TOOL", 7, 13),
        ("E-MANIFEST-UNKNOWN-TOOL", 7, 19),
        ("E-MANIFEST-UNKNOWN-TOOL", 9, 13),
    ]


def test_issues_format_as_file_line_col_code():
    with pytest.raises(ManifestError) as info:
        load_manifest_text(HEAD + "foo: 1\n", "conf/enclosure.yaml")
    issue = info.value.issues[0]
    assert issue.format().startswith("conf/enclosure.yaml:3:1: E-MANIFEST-UNKNOWN-KEY")
    assert str(info.value).startswith("E-MANIFEST-UNKNOWN-KEY: ")


def test_the_default_file_name_is_a_placeholder():
    with pytest.raises(ManifestError) as info:
        load_manifest_text("")
    assert info.value.issues[0].file == "<string>"


# --- good manifests ------------------------------------------------------------------

FULL = """\
version: 1
agent:
  name: billing-bot
  description: pays invoices
tools:
  send_email:
    description: send one email
    effect: write
    mode: approve
    cost: 0.25
    handler: app.mail:send
    simulator: app.mail:fake_send
    input_schema:
      type: object
    rate:
      - limit: 3/minute
        key: args.to
        on_exceed: kill
      - 100/day
    on_exceed: deny
    rules:
      - name: internal
        when: args.to.endsWith("@corp.com")
        then: allow
        reason: internal mail is fine
  search:
    effect: read
    rate: 10/minute
rules:
  - name: no-night-writes
    tools: [send_email]
    effect: write
    when: context.hour < 6
    then: deny
kill_switch:
  max_calls: 100
  max_cost: 10
  max_denials: 5
  max_consecutive_errors: 3
  repeated_calls:
    max: 3
    window: 15m
  conditions:
    - name: runaway
      when: run.calls > 50 && run.executed == 0
      reason: nothing works
approvals:
  ttl: 1h
redact:
  env: [API_KEY]
"""


def test_a_full_manifest_loads_with_every_section():
    manifest = manifest_from(FULL)
    send = manifest.tools["send_email"]
    assert manifest.agent.name == "billing-bot"
    assert list(manifest.tools) == ["send_email", "search"]
    assert (send.effect, send.mode, send.cost) == ("write", "approve", 0.25)
    assert [(r.count, r.window_s, r.key, r.on_exceed) for r in send.rate] == [
        (3, 60.0, "args.to", "kill"),
        (100, 86400.0, None, None),
    ]
    assert send.rules[0].name == "internal"
    assert manifest.tools["search"].rate[0].limit == "10/minute"
    assert manifest.rules[0].tools == ["send_email"]
    assert manifest.kill_switch.repeated_calls is not None
    assert manifest.kill_switch.repeated_calls.window == 900.0
    assert manifest.kill_switch.conditions[0].name == "runaway"
    assert manifest.approvals.ttl == 3600.0
    assert manifest.redact.env == ["API_KEY"]


def test_tool_names_that_yaml_1_1_would_read_as_booleans_stay_names():
    manifest = manifest_from(HEAD + "tools:\n  off: {}\n  'yes': {}\n  n: {}\n")
    assert list(manifest.tools) == ["off", "yes", "n"]


def test_a_byte_order_mark_is_accepted():
    assert load_manifest_text("\ufeff" + HEAD).agent.name == "bot"


def test_manifest_source_locates_paths_of_a_loaded_manifest():
    manifest = manifest_from(FULL, file="billing.yaml")
    source = manifest_source(manifest)
    assert source.file == "billing.yaml"
    assert source.locate(("tools", "send_email", "rules", 0, "when")) == Position(
        23, 15
    )
    assert source.locate(("tools", "search"), prefer_key=True) == Position(26, 3)


def test_manifest_source_of_a_manifest_built_in_code_is_empty():
    source = manifest_source(Manifest(agent=AgentSpec(name="bot")))
    assert source.file == "<manifest>"
    assert source.locate(("agent", "name")) == Position(1, 1)


# --- files ---------------------------------------------------------------------------


def test_load_manifest_reads_a_file(tmp_path):
    path = tmp_path / "enclosure.yaml"
    path.write_text(FULL, encoding="utf-8")
    assert load_manifest(path).sha256 == manifest_from(FULL).sha256
    assert load_manifest(str(path)).agent.name == "billing-bot"


def test_errors_in_a_file_name_the_file(tmp_path):
    path = tmp_path / "enclosure.yaml"
    path.write_text(HEAD + "foo: 1\n", encoding="utf-8")
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    issue = info.value.issues[0]
    assert (issue.code, issue.file, issue.line, issue.col) == (
        "E-MANIFEST-UNKNOWN-KEY",
        str(path),
        3,
        1,
    )


def file_issue(path) -> tuple[str, int, int]:
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    [issue] = info.value.issues
    assert issue.file == str(path)
    return issue.code, issue.line, issue.col


def test_a_missing_file_is_unreadable(tmp_path):
    assert file_issue(tmp_path / "nope.yaml") == ("E-MANIFEST-UNREADABLE", 1, 1)


def test_a_directory_is_unreadable(tmp_path):
    assert file_issue(tmp_path) == ("E-MANIFEST-UNREADABLE", 1, 1)


@pytest.mark.parametrize(
    ("raw", "line", "col"),
    [
        pytest.param(b"\xff" + HEAD.encode(), 1, 1, id="first-byte"),
        pytest.param(b"agent:\n  name: bot\xff\n", 2, 12, id="end-of-line"),
        pytest.param(
            "agent:\n  name: bot\n  description: é".encode() + b"\xc3\x28\n",
            3,
            17,
            id="after-multibyte-characters",
        ),
        pytest.param(
            b"agent:\n  name: bot\n\n# latin-1: \xe9\n", 4, 12, id="latin-1-comment"
        ),
    ],
)
def test_non_utf8_bytes_are_unreadable_at_the_bad_byte(tmp_path, raw, line, col):
    path = tmp_path / "enclosure.yaml"
    path.write_bytes(raw)
    assert file_issue(path) == ("E-MANIFEST-UNREADABLE", line, col)


def test_a_file_over_one_mebibyte_is_too_large(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(HEAD.encode() + b"#" * MAX_BYTES + b"\n")
    assert file_issue(path) == ("E-MANIFEST-TOO-LARGE", 1, 1)


def test_a_large_file_that_is_also_not_utf8_is_too_large(tmp_path):
    path = tmp_path / "big.yaml"
    path.write_bytes(b"\xff" * (MAX_BYTES + 1))
    assert file_issue(path) == ("E-MANIFEST-TOO-LARGE", 1, 1)


def test_a_file_of_exactly_one_mebibyte_loads(tmp_path):
    path = tmp_path / "edge.yaml"
    padding = MAX_BYTES - len(HEAD) - 1
    path.write_bytes(HEAD.encode() + b"#" * padding + b"\n")
    assert path.stat().st_size == MAX_BYTES
    assert load_manifest(path).agent.name == "bot"


# --- fuzzing: anything either loads or fails with located, coded issues --------------

_BREAKS = re.compile(r"\r\n|[\n\r\x85\u2028\u2029]")


def load_or_error(text: str) -> Manifest | ManifestError:
    try:
        return load_manifest_text(text, "fuzz.yaml")
    except ManifestError as exc:
        return exc


def compile_or_error(manifest: Manifest) -> Policy | PolicyCompileError:
    try:
        return compile_policy(manifest)
    except PolicyCompileError as exc:
        return exc


def assert_loads_or_fails_cleanly(text: str) -> None:
    """Any other exception escapes and fails the test."""
    loaded = load_or_error(text)
    if isinstance(loaded, ManifestError):
        lines = len(_BREAKS.split(text))
        assert loaded.issues
        for issue in loaded.issues:
            assert issue.code.startswith("E-MANIFEST-"), issue
            assert issue.file == "fuzz.yaml"
            assert 1 <= issue.line <= lines + 1, issue
            assert issue.col >= 1, issue
        return
    compiled = compile_or_error(loaded)
    if isinstance(compiled, PolicyCompileError):
        assert compiled.problems
        assert {problem.code for problem in compiled.problems} == {"E-MANIFEST-CEL"}


FUZZ_BASE = """\
agent:
  name: bot
  description: fuzz base
tools:
  send_email:
    effect: write
    mode: approve
    cost: 0.5
    rate:
      - limit: 3/minute
        key: args.to
      - 10/hour
    rules:
      - name: internal
        when: args.to.endsWith("@corp.com")
        then: allow
  search:
    effect: read
    rate: 5/10s
rules:
  - tools: [send_email]
    when: run.denials > 3
    then: deny
kill_switch:
  max_calls: 50
  repeated_calls:
    max: 3
    window: 15m
  conditions:
    - when: run.errors > 5
approvals:
  ttl: 1h
"""

TRICKY_SCALARS = [
    "~",
    "null",
    "true",
    "off",
    "0x1F",
    "0o17",
    "1e999",
    ".nan",
    "-.inf",
    "-1",
    "0",
    "2001-02-30",
    "2001-01-01 25:00:00",
    "!!int 0x",
    "!!bool maybe",
    "!!timestamp x",
    "!!binary ===",
    "!!float",
    "!!python/object:os.system {}",
    "!!python/name:os.system ''",
    "!!set {a}",
    "!local x",
    "&anchor x",
    "*anchor",
    "*undefined",
    "<<: *anchor",
    "[a, [b, {c: d}]]",
    "{a: 1, a: 2}",
    "[",
    "{",
    "'",
    '"',
    "|",
    ">",
    "- ",
    "? ",
    ": ",
    "#",
    "\t",
    "---",
    "...",
    "%YAML 1.1",
    "1" * 5000,
    "1" + "0" * 400,
    "\x00",
    "\x07",
    "\ud800",
    "\ufeff",
    "\u2028",
    "\r",
    "é",
    "3/minute",
    "0/minute",
    "3/century",
    "500ms",
    "args.to ==",
    "run.calls > 'x'",
    "(((",
]

_CHARS = st.one_of(
    st.sampled_from(list(":-[]{}&*!|>#'\"\t\n\r ,?%@`\\")),
    st.characters(exclude_categories=()),
)
_SCALARS = st.one_of(st.sampled_from(TRICKY_SCALARS), st.text(_CHARS, max_size=12))


@st.composite
def mutated_manifests(draw) -> str:
    text = FUZZ_BASE
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(["insert", "delete", "replace-value", "scalar"]))
        pos = draw(st.integers(0, len(text)))
        if op == "insert":
            text = (
                text[:pos] + draw(st.text(_CHARS, min_size=1, max_size=4)) + text[pos:]
            )
        elif op == "delete":
            end = draw(st.integers(pos, min(len(text), pos + 12)))
            text = text[:pos] + text[end:]
        elif op == "scalar":
            text = text[:pos] + draw(_SCALARS) + text[pos:]
        else:
            lines = text.split("\n")
            i = draw(st.integers(0, len(lines) - 1))
            head, colon, _ = lines[i].partition(":")
            lines[i] = f"{head}{colon} {draw(_SCALARS)}"
            text = "\n".join(lines)
    return text


FUZZ = settings(
    max_examples=300,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)


@FUZZ
@given(st.text(_CHARS, max_size=200))
def test_random_text_loads_or_fails_with_located_issues(text):
    assert_loads_or_fails_cleanly(text)


@FUZZ
@given(mutated_manifests())
def test_mutated_manifests_load_or_fail_with_located_issues(text):
    assert_loads_or_fails_cleanly(text)


def test_the_fuzz_base_manifest_loads_and_compiles():
    compile_policy(load_manifest_text(FUZZ_BASE))
