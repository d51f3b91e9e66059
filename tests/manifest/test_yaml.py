from __future__ import annotations

import textwrap

import pytest

from enclosure.errors import ManifestError
from enclosure.manifest import Position, SourceMap
from enclosure.manifest._yaml import MAX_BYTES, MAX_DEPTH, MAX_NODES, parse_yaml


def parse(text: str):
    return parse_yaml(textwrap.dedent(text), "m.yaml")


def parse_error(text: str) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        parse_yaml(text, "m.yaml")
    return info.value


def single_issue(text: str):
    error = parse_error(text)
    assert len(error.issues) == 1
    return error.issues[0]


def billion_laughs(levels: int = 9, fanout: int = 9) -> str:
    lines = [f"a0: &a0 [{', '.join(['lol'] * fanout)}]"]
    for i in range(1, levels + 1):
        refs = ", ".join([f"*a{i - 1}"] * fanout)
        lines.append(f"a{i}: &a{i} [{refs}]")
    return "\n".join(lines) + "\nagent:\n  name: bot\n"


def nested_flow_lists(depth: int) -> str:
    return "x: " + "[" * depth + "]" * depth + "\n"


# --- what a well-formed document gives ----------------------------------------------


def test_parse_returns_plain_data():
    data, _ = parse(
        """\
        agent:
          name: bot
        tools:
          send:
            rate: [3/minute, 5/hour]
            cost: 1.5
        """
    )
    assert data == {
        "agent": {"name": "bot"},
        "tools": {"send": {"rate": ["3/minute", "5/hour"], "cost": 1.5}},
    }


def test_source_map_records_one_based_positions_of_values_and_keys():
    _, source = parse(
        """\
        agent:
          name: bot
        tools:
          send:
            rate: [3/minute, 5/hour]
        """
    )
    assert source.file == "m.yaml"
    assert source.values[()] == Position(1, 1)
    assert source.keys[("agent",)] == Position(1, 1)
    assert source.values[("agent",)] == Position(2, 3)
    assert source.keys[("agent", "name")] == Position(2, 3)
    assert source.values[("agent", "name")] == Position(2, 9)
    assert source.keys[("tools", "send")] == Position(4, 3)
    assert source.values[("tools", "send", "rate")] == Position(5, 11)
    assert source.values[("tools", "send", "rate", 0)] == Position(5, 12)
    assert source.values[("tools", "send", "rate", 1)] == Position(5, 22)


def test_locate_falls_back_to_the_nearest_ancestor_that_exists():
    _, source = parse("tools:\n  send:\n    cost: 1\n")
    assert source.locate(("tools", "send", "rate", 0, "limit")) == Position(3, 5)
    assert source.locate(("nothing", "here")) == Position(1, 1)


def test_locate_skips_parts_that_name_no_path():
    _, source = parse("tools:\n  send:\n    cost: 1\n")
    loc = ("tools", "send", "function-after[check()]", "cost", "float")
    assert source.locate(loc) == Position(3, 11)


def test_locate_prefers_the_key_when_asked_and_known():
    _, source = parse("tools:\n  send:\n    cost: 1\n")
    assert source.locate(("tools", "send", "cost"), prefer_key=True) == Position(3, 5)
    assert source.locate(("tools", "send", "cost")) == Position(3, 11)
    # No key for the root: the value position is used.
    assert source.locate((), prefer_key=True) == Position(1, 1)


def test_an_empty_source_map_locates_everything_at_the_start():
    source = SourceMap("built-in")
    assert source.locate(("agent", "name")) == Position(1, 1)
    issue = source.issue("E-MANIFEST-VALUE", "bad", ("agent", "name"))
    assert (issue.file, issue.line, issue.col) == ("built-in", 1, 1)


def test_source_map_issue_carries_code_file_and_position():
    _, source = parse("agent:\n  name: bot\n")
    issue = source.issue("E-MANIFEST-VALUE", "bad name", ("agent", "name"))
    assert issue.code == "E-MANIFEST-VALUE"
    assert (issue.file, issue.line, issue.col) == ("m.yaml", 2, 9)
    assert issue.format().startswith("m.yaml:2:9: E-MANIFEST-VALUE: ")


def test_an_alias_expands_to_a_copy_located_at_its_anchor():
    data, source = parse(
        """\
        base: &common
          cost: 2
        other: *common
        """
    )
    assert data["other"] == {"cost": 2}
    assert source.values[("other",)] == Position(1, 7)
    assert source.keys[("other",)] == Position(3, 1)


@pytest.mark.parametrize(
    ("scalar", "expected"),
    [
        ("~", None),
        ("true", True),
        ("yes", True),
        ("0x1f", 31),
        ("1.5", 1.5),
        ("'3/minute'", "3/minute"),
        ("!!str 12", "12"),
    ],
)
def test_scalars_are_constructed_as_yaml_1_1_safe_values(scalar, expected):
    data, _ = parse(f"v: {scalar}\n")
    assert data == {"v": expected}


def test_keys_are_the_text_as_written():
    data, _ = parse("1: a\n~: b\n1.5: c\n'no': d\noff: e\n")
    assert data == {"1": "a", "~": "b", "1.5": "c", "no": "d", "off": "e"}


def nested_flow_mappings(depth: int) -> str:
    return "x: " + "{a: " * (depth - 1) + "1" + "}" * (depth - 1) + "\n"


def nested_block_mappings(depth: int) -> str:
    lines = ["  " * i + "a:" for i in range(depth)]
    return "\n".join(lines) + " 1\n"


@pytest.mark.parametrize(
    "nested", [nested_flow_lists, nested_flow_mappings, nested_block_mappings]
)
def test_the_depth_limit_is_the_same_for_every_shape_of_nesting(nested):
    # Each builder puts its deepest node at the given depth (the root is depth 0).
    parse_yaml(nested(MAX_DEPTH), "m.yaml")
    assert single_issue(nested(MAX_DEPTH + 1)).code == "E-MANIFEST-TOO-COMPLEX"


# --- what a malformed document gives -------------------------------------------------


@pytest.mark.parametrize(
    ("text", "code", "line", "col"),
    [
        pytest.param("", "E-MANIFEST-EMPTY", 1, 1, id="empty"),
        pytest.param("   \n\n  \n  ", "E-MANIFEST-EMPTY", 1, 1, id="whitespace"),
        pytest.param("# a\n  # b\n", "E-MANIFEST-EMPTY", 1, 1, id="comments-only"),
        pytest.param(
            "agent: {name: bot\n", "E-MANIFEST-YAML", 2, 1, id="unclosed-brace"
        ),
        pytest.param(
            "agent:\n  name: bot\nrules: [1, 2\n",
            "E-MANIFEST-YAML",
            4,
            1,
            id="unclosed-bracket",
        ),
        pytest.param(
            "agent:\n  name: bot\n    description: x\n",
            "E-MANIFEST-YAML",
            3,
            16,
            id="indented-too-far",
        ),
        pytest.param(
            "agent:\n    name: bot\n  description: x\n",
            "E-MANIFEST-YAML",
            3,
            3,
            id="indented-too-little",
        ),
        pytest.param("agent:\n\tname: bot\n", "E-MANIFEST-YAML", 2, 1, id="tab"),
        pytest.param(
            "agent:\n  name: a\n---\nagent:\n  name: b\n",
            "E-MANIFEST-YAML",
            3,
            1,
            id="two-documents",
        ),
        pytest.param("agent: *nope\n", "E-MANIFEST-YAML", 1, 8, id="undefined-alias"),
        pytest.param(
            "a: &x 1\nb: &x 2\n", "E-MANIFEST-YAML", 2, 4, id="anchor-defined-twice"
        ),
        pytest.param(
            "%YAML 2.0\n---\na: 1\n", "E-MANIFEST-YAML", 1, 1, id="yaml-version-2"
        ),
        pytest.param(
            "agent: !!python/object:os.system\n  name: bot\n",
            "E-MANIFEST-YAML",
            1,
            8,
            id="python-object-tag",
        ),
        pytest.param(
            "agent:\n  name: bot\ntools: !!set\n  ? a\n",
            "E-MANIFEST-YAML",
            3,
            8,
            id="set-tag",
        ),
        pytest.param(
            "agent:\n  name: !!python/name:os.system ''\n",
            "E-MANIFEST-YAML",
            2,
            9,
            id="python-tag-on-scalar",
        ),
        pytest.param(
            "agent:\n  name: !!python/str bot\n",
            "E-MANIFEST-YAML",
            2,
            9,
            id="python-str-tag",
        ),
        pytest.param(
            "agent:\n  !!python/name:os.system name: bot\n",
            "E-MANIFEST-YAML",
            2,
            3,
            id="python-tag-on-key",
        ),
        pytest.param(
            "a:\n  !local b: 1\n", "E-MANIFEST-YAML", 2, 3, id="local-tag-key"
        ),
        pytest.param(
            "!!binary YQ==: 1\n", "E-MANIFEST-YAML", 1, 1, id="binary-tag-key"
        ),
        pytest.param("a: !local x\n", "E-MANIFEST-YAML", 1, 4, id="local-tag-scalar"),
        pytest.param("a: !local [x]\n", "E-MANIFEST-YAML", 1, 4, id="local-tag-seq"),
        pytest.param("a: !!omap [x]\n", "E-MANIFEST-YAML", 1, 4, id="omap-tag"),
        pytest.param("a: !!str {x: 1}\n", "E-MANIFEST-YAML", 1, 4, id="str-tag-map"),
        pytest.param(
            "base: &b\n  name: bot\nagent:\n  <<: *b\n",
            "E-MANIFEST-YAML",
            4,
            3,
            id="merge-key",
        ),
        pytest.param(
            "agent:\n  name: bot\n? [a, b]\n: 1\n",
            "E-MANIFEST-YAML",
            3,
            3,
            id="sequence-as-key",
        ),
        pytest.param("a: 2001-02-30\n", "E-MANIFEST-YAML", 1, 4, id="impossible-date"),
        pytest.param(
            "a: 2001-01-01 25:00:00\n", "E-MANIFEST-YAML", 1, 4, id="impossible-time"
        ),
        pytest.param("a: !!bool maybe\n", "E-MANIFEST-YAML", 1, 4, id="bool-tag"),
        pytest.param("a: !!int 0x\n", "E-MANIFEST-YAML", 1, 4, id="int-tag-empty-hex"),
        pytest.param("a: !!int\n", "E-MANIFEST-YAML", 1, 4, id="int-tag-empty"),
        pytest.param("a: !!float abc\n", "E-MANIFEST-YAML", 1, 4, id="float-tag"),
        pytest.param("a: !!timestamp x\n", "E-MANIFEST-YAML", 1, 4, id="timestamp-tag"),
        pytest.param("a: !!binary é\n", "E-MANIFEST-YAML", 1, 4, id="binary-tag"),
        pytest.param(
            "a: " + "1" * 5000 + "\n", "E-MANIFEST-YAML", 1, 4, id="5000-digit-int"
        ),
        pytest.param("agent:\n  name: a\x00\n", "E-MANIFEST-YAML", 2, 10, id="nul"),
        pytest.param("agent:\n  name: \x07\n", "E-MANIFEST-YAML", 2, 9, id="bell"),
        pytest.param(
            "agent:\n  name: \ud800\n", "E-MANIFEST-YAML", 2, 9, id="lone-surrogate"
        ),
        pytest.param(
            "agent:\n  name: a\nagent:\n  name: b\n",
            "E-MANIFEST-DUPLICATE-KEY",
            3,
            1,
            id="duplicate-top-level-key",
        ),
        pytest.param(
            "agent:\n  name: a\n  name: b\n",
            "E-MANIFEST-DUPLICATE-KEY",
            3,
            3,
            id="duplicate-nested-key",
        ),
        pytest.param(
            "agent: {name: a, name: b}\n",
            "E-MANIFEST-DUPLICATE-KEY",
            1,
            18,
            id="duplicate-flow-key",
        ),
        pytest.param(
            "tools:\n  t:\n    rules:\n      - then: allow\n        then: deny\n",
            "E-MANIFEST-DUPLICATE-KEY",
            5,
            9,
            id="duplicate-key-in-list-item",
        ),
        pytest.param(
            "on: a\n'on': b\n",
            "E-MANIFEST-DUPLICATE-KEY",
            2,
            1,
            id="duplicate-plain-and-quoted-key",
        ),
        pytest.param(
            "a: &a [*a]\n", "E-MANIFEST-TOO-COMPLEX", 1, 4, id="recursive-alias"
        ),
        pytest.param(
            "a: &a {b: *a}\n", "E-MANIFEST-TOO-COMPLEX", 1, 4, id="recursive-map-alias"
        ),
        pytest.param(
            nested_flow_lists(MAX_DEPTH + 1),
            "E-MANIFEST-TOO-COMPLEX",
            1,
            MAX_DEPTH + 4,
            id="one-level-too-deep",
        ),
        pytest.param(
            nested_flow_lists(100_000),
            "E-MANIFEST-TOO-COMPLEX",
            1,
            MAX_DEPTH + 4,
            id="100000-levels-deep",
        ),
        pytest.param(
            "x: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
            "E-MANIFEST-TOO-COMPLEX",
            1,
            4 * MAX_DEPTH + 1,
            id="deep-flow-mappings",
        ),
        pytest.param(
            "".join("  " * i + "a:\n" for i in range(200)),
            "E-MANIFEST-TOO-COMPLEX",
            MAX_DEPTH + 1,
            2 * MAX_DEPTH + 1,
            id="deep-block-mappings",
        ),
        pytest.param(
            "a: [" + ",".join(["1"] * (MAX_NODES + 1)) + "]\n",
            "E-MANIFEST-TOO-COMPLEX",
            1,
            5 + 2 * (MAX_NODES - 3),  # root, key and list count as nodes too
            id="too-many-nodes",
        ),
    ],
)
def test_malformed_yaml_gives_one_located_issue(text, code, line, col):
    issue = single_issue(text)
    assert issue.code == code
    assert (issue.file, issue.line, issue.col) == ("m.yaml", line, col)


def test_billion_laughs_fails_fast_as_too_complex():
    issue = single_issue(billion_laughs())
    assert issue.code == "E-MANIFEST-TOO-COMPLEX"
    assert issue.line >= 1
    assert issue.col >= 1


def test_a_small_alias_fanout_is_expanded():
    data, _ = parse_yaml(billion_laughs(levels=2, fanout=3), "m.yaml")
    assert data["a2"] == [[["lol"] * 3] * 3] * 3


def test_text_over_the_size_limit_is_refused_before_parsing():
    issue = single_issue("#" * MAX_BYTES + "\n")
    assert issue.code == "E-MANIFEST-TOO-LARGE"
    assert (issue.line, issue.col) == (1, 1)


def test_the_size_limit_counts_utf8_bytes_not_characters():
    text = "# " + "é" * (MAX_BYTES // 2) + "\n"
    assert len(text) < MAX_BYTES
    assert single_issue(text).code == "E-MANIFEST-TOO-LARGE"


def test_text_exactly_at_the_size_limit_is_parsed():
    body = "a: 1\n"
    text = body + "#" * (MAX_BYTES - len(body) - 1) + "\n"
    assert len(text.encode("utf-8")) == MAX_BYTES
    data, _ = parse_yaml(text, "m.yaml")
    assert data == {"a": 1}


def test_a_manifest_error_keeps_the_yaml_cause():
    error = parse_error("agent: {name: bot\n")
    assert error.__cause__ is not None
