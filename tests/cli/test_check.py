"""``enclosure check`` and ``enclosure schema``."""

from __future__ import annotations

import json
import re
import textwrap
from importlib import resources
from pathlib import Path
from typing import Any

import jsonschema_rs
import pytest
import yaml

DEMO_MANIFEST = Path(str(resources.files("enclosure.demo").joinpath("billing.yaml")))

VALID = """\
agent: {name: mailer}
tools:
  send_email:
    input_schema:
      type: object
      properties: {to: {type: string}}
      required: [to]
    rules:
      - name: customers_only
        when: "!args.to.endsWith('@customers.example')"
        then: deny
    rate: 3/minute
  lookup:
    effect: read
"""

# (file text, code, line, column): each is the only problem in its file.
BAD = {
    "cel-syntax": (
        """\
        agent: {name: a}
        tools:
          send:
            rules:
              - name: r1
                when: "args.to.endsWith("
                then: deny
        """,
        "E-MANIFEST-CEL",
        6,
        15,  # the `when` value, not its key
    ),
    "cel-in-rate-key": (
        """\
        agent: {name: a}
        tools:
          send:
            rate:
              - limit: 3/minute
                key: "args.to +"
        """,
        "E-MANIFEST-CEL",
        6,
        14,
    ),
    "unknown-key": (
        """\
        agent: {name: a}
        tools:
          send:
            efect: read
        """,
        "E-MANIFEST-UNKNOWN-KEY",
        4,
        5,
    ),
    "missing-key": ("tools: {}\n", "E-MANIFEST-MISSING-KEY", 1, 1),
    "wrong-type": (
        """\
        agent: {name: a}
        tools:
          send:
            cost: lots
        """,
        "E-MANIFEST-TYPE",
        4,
        11,
    ),
    "bad-rate": (
        """\
        agent: {name: a}
        tools:
          send:
            rate: 3/fortnight
        """,
        "E-MANIFEST-VALUE",
        4,
        11,
    ),
    "yaml-syntax": ("agent: {name: a\ntools:\n", "E-MANIFEST-YAML", 2, 6),
    "yaml-python-tag": (
        "agent: !!python/object:os.system {name: a}\n",
        "E-MANIFEST-YAML",
        1,
        8,
    ),
    "duplicate-key": (
        "agent: {name: a}\nagent: {name: b}\n",
        "E-MANIFEST-DUPLICATE-KEY",
        2,
        1,
    ),
    "empty": ("", "E-MANIFEST-EMPTY", 1, 1),
    "top-level-list": ("- a\n- b\n", "E-MANIFEST-TYPE", 1, 1),
    "rule-names-unknown-tool": (
        """\
        agent: {name: a}
        tools:
          send: {}
        rules:
          - tools: [sned]
            then: deny
        """,
        "E-MANIFEST-UNKNOWN-TOOL",
        5,
        13,
    ),
    "unknown-upstream": (
        "agent: {name: a}\ntools:\n  t: {upstream: nope}\n",
        "E-MANIFEST-UNKNOWN-UPSTREAM",
        3,
        17,
    ),
}


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def issue_prefix(path: Path, line: int, col: int, code: str) -> str:
    return f"{path}:{line}:{col}: {code}: "


def test_a_valid_manifest_prints_ok_and_exits_0(enclosure, tmp_path):
    path = write(tmp_path, "ok.yaml", VALID)
    result = enclosure("check", path)
    assert result.status == 0
    assert result.err == ""
    assert re.fullmatch(
        rf"{re.escape(str(path))}: ok \(2 tools, sha256 [0-9a-f]{{16}}\)\n", result.out
    )


def test_the_demo_manifest_checks_clean(enclosure):
    result = enclosure("check", DEMO_MANIFEST)
    assert result.status == 0
    assert "ok (3 tools" in result.out


@pytest.mark.parametrize(("text", "code", "line", "col"), BAD.values(), ids=BAD)
def test_each_bad_manifest_exits_2_with_its_located_issue(
    enclosure, tmp_path, text, code, line, col
):
    path = write(tmp_path, "bad.yaml", text)
    result = enclosure("check", path)
    assert result.status == 2
    assert result.out == ""
    assert len(result.err_lines()) == 1, result.err
    assert result.err.startswith(issue_prefix(path, line, col, code))


def test_an_invalid_input_schema_is_a_schema_error_inside_that_schema(
    enclosure, tmp_path
):
    text = """\
        agent: {name: a}
        tools:
          send:
            input_schema:
              type: objekt
        """
    path = write(tmp_path, "schema.yaml", text)
    result = enclosure("check", path)
    assert result.status == 2
    [line] = result.err_lines()
    match = re.match(rf"{re.escape(str(path))}:(\d+):(\d+): E-MANIFEST-SCHEMA: ", line)
    assert match is not None, line
    assert int(match[1]) in (4, 5)  # the input_schema block


def test_a_handler_that_does_not_exist_is_not_an_error_for_check(enclosure, tmp_path):
    text = """\
        agent: {name: a}
        tools:
          send:
            handler: "no_such_module_for_enclosure_tests:send"
        """
    path = write(tmp_path, "handler.yaml", text)
    result = enclosure("check", path)
    assert result.status == 0
    assert "ok (1 tools" in result.out


def test_every_problem_in_a_file_gets_its_own_line(enclosure, tmp_path):
    text = """\
        agent: {name: a}
        tools:
          send:
            efect: read
            moda: live
        """
    path = write(tmp_path, "two.yaml", text)
    result = enclosure("check", path)
    assert result.status == 2
    lines = result.err_lines()
    assert len(lines) == 2
    assert lines[0].startswith(issue_prefix(path, 4, 5, "E-MANIFEST-UNKNOWN-KEY"))
    assert lines[1].startswith(issue_prefix(path, 5, 5, "E-MANIFEST-UNKNOWN-KEY"))


@pytest.mark.parametrize("make", ["missing", "directory"])
def test_a_path_that_is_not_a_readable_file_is_unreadable(enclosure, tmp_path, make):
    path = tmp_path / "manifest.yaml"
    if make == "directory":
        path.mkdir()
    result = enclosure("check", path)
    assert result.status == 2
    assert result.err.startswith(issue_prefix(path, 1, 1, "E-MANIFEST-UNREADABLE"))


def test_several_files_are_all_checked_and_any_failure_exits_2(enclosure, tmp_path):
    good = write(tmp_path, "good.yaml", VALID)
    cel_text, cel_code, cel_line, cel_col = BAD["cel-syntax"]
    bad = write(tmp_path, "bad.yaml", cel_text)
    missing = tmp_path / "missing.yaml"
    also_good = DEMO_MANIFEST

    result = enclosure("check", bad, good, missing, also_good)
    assert result.status == 2
    ok_lines = result.out.splitlines()
    assert [line.split(": ok ")[0] for line in ok_lines] == [str(good), str(also_good)]
    err_lines = result.err_lines()
    assert len(err_lines) == 2
    assert err_lines[0].startswith(issue_prefix(bad, cel_line, cel_col, cel_code))
    assert err_lines[1].startswith(issue_prefix(missing, 1, 1, "E-MANIFEST-UNREADABLE"))


def test_several_good_files_exit_0(enclosure, tmp_path):
    first = write(tmp_path, "a.yaml", VALID)
    second = write(tmp_path, "b.yaml", "agent: {name: b}\n")
    result = enclosure("check", first, second)
    assert result.status == 0
    assert len(result.out.splitlines()) == 2


def test_check_opens_no_decision_log(enclosure, tmp_path, home):
    path = write(tmp_path, "ok.yaml", VALID)
    assert enclosure("--home", home, "check", path).status == 0
    assert not home.exists()


# ---- schema -------------------------------------------------------------------------


@pytest.fixture
def manifest_schema(enclosure) -> dict[str, Any]:
    result = enclosure("schema")
    assert result.status == 0
    assert result.err == ""
    schema: dict[str, Any] = json.loads(result.out)
    assert isinstance(schema, dict)
    return schema


def test_schema_is_a_meta_valid_json_schema(manifest_schema):
    jsonschema_rs.meta.validate(manifest_schema)
    assert manifest_schema["$schema"].endswith("/2020-12/schema")


def test_schema_accepts_a_manifest_written_in_the_long_form(
    manifest_schema, enclosure, tmp_path
):
    long_form = """\
        version: 1
        agent: {name: mailer, description: sends mail}
        tools:
          send_email:
            effect: write
            mode: approve
            cost: 0.5
            input_schema: {type: object}
            rules:
              - {name: internal, when: "true", then: deny, reason: internal only}
            rate:
              - {limit: 3/minute, on_exceed: kill}
        kill_switch: {max_calls: 10, repeated_calls: {max: 3, window: 60}}
        approvals: {ttl: 900}
        """
    data = yaml.safe_load(textwrap.dedent(long_form))
    jsonschema_rs.validator_for(manifest_schema).validate(data)
    assert enclosure("check", write(tmp_path, "long.yaml", long_form)).status == 0


def test_schema_rejects_an_unknown_key(manifest_schema):
    data = {"agent": {"name": "a"}, "tols": {}}
    assert not jsonschema_rs.validator_for(manifest_schema).is_valid(data)


def test_schema_accepts_the_demo_manifest(manifest_schema):
    data = yaml.safe_load(DEMO_MANIFEST.read_text(encoding="utf-8"))
    errors = [
        e.message
        for e in jsonschema_rs.validator_for(manifest_schema).iter_errors(data)
    ]
    assert errors == []


def test_schema_out_writes_the_same_schema_to_a_file(enclosure, tmp_path):
    printed = enclosure("schema").out
    out = tmp_path / "manifest.schema.json"
    result = enclosure("schema", "--out", out)
    assert result.status == 0
    assert result.out == ""
    assert json.loads(out.read_text(encoding="utf-8")) == json.loads(printed)


@pytest.mark.parametrize("target", ["missing-dir/schema.json", "."])
def test_schema_out_to_an_unwritable_place_is_a_usage_error(
    enclosure, tmp_path, target
):
    result = enclosure("schema", "--out", tmp_path / target)
    assert result.status == 2
    [line] = result.err_lines()
    assert line.startswith("enclosure: E-USAGE: ")
