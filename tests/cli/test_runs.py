"""``enclosure runs list|show|kill`` and ``enclosure log``: what agents did, and why."""

from __future__ import annotations

import json
import subprocess
import sys
from typing import TYPE_CHECKING, Any, NamedTuple

import pytest

from enclosure._json import canonical_json, sha256_hex, sha256_json
from enclosure.testing import FakeClock, make_enclosure

if TYPE_CHECKING:
    from pathlib import Path

MANIFEST = """
agent: {name: clerk}
tools:
  lookup:
    effect: read
    input_schema:
      type: object
      properties: {key: {type: string}}
      required: [key]
  send:
    cost: 0.25
    rules:
      - name: internal_only
        when: "!args.to.endsWith('@example.com')"
        then: deny
        reason: outside recipients
"""

DECISION_FIELDS = {
    "tool",
    "args",
    "args_sha256",
    "context_sha256",
    "context_excerpt",
    "model",
    "prompt_version",
    "validator",
    "outcome",
    "rule",
    "reason",
    "disposition",
    "latency_us",
    "cost",
    "manifest_sha256",
}


class Recorded(NamedTuple):
    home: Path
    first: str
    """A completed run: a lookup, a denied send and a delivered send."""
    second: str
    """A killed run, started later: one lookup, then killed by hand."""
    manifest_sha256: str


@pytest.fixture
def recorded(home) -> Recorded:
    clock = FakeClock()
    with make_enclosure(MANIFEST, home, clock=clock) as enc:
        enc.tool("lookup")(lambda key: {"key": key, "value": 42})
        enc.tool("send")(lambda to: {"sent_to": to})
        with enc.start_run(
            task="answer ticket T-1",
            model="model-a",
            prompt_version="prompt-v1",
            started_by="alice",
        ) as run:
            run.call("lookup", {"key": "k1"}).unwrap()
            assert run.call("send", {"to": "x@evil.example"}).status == "blocked"
            run.call(
                "send", {"to": "a@example.com"}, context={"ticket": "T-1"}
            ).unwrap()
            first = run.id
        clock.advance(10)
        killed = enc.start_run(task="answer ticket T-2")
        killed.call("lookup", {"key": "k2"}).unwrap()
        killed.kill("operator stop")
        sha = enc.policy.manifest_sha256
    return Recorded(home, first, killed.id, sha)


def json_lines(text: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in text.splitlines()]


# ---- runs list ----------------------------------------------------------------------


def test_runs_list_json_shows_newest_first_with_counts(enclosure, recorded):
    result = enclosure("--home", recorded.home, "runs", "list", "--json")
    assert result.status == 0
    runs = json.loads(result.out)
    assert [r["run_id"] for r in runs] == [recorded.second, recorded.first]
    killed, completed = runs
    assert killed["status"] == "killed"
    assert killed["end_reason"] == "operator stop"
    assert (killed["calls"], killed["executed"]) == (1, 1)
    assert completed["status"] == "completed"
    assert completed["agent"] == "clerk"
    assert completed["started_by"] == "alice"
    assert (completed["calls"], completed["executed"], completed["denied"]) == (3, 2, 1)
    assert completed["cost"] == 0.25
    assert completed["manifest_sha256"] == recorded.manifest_sha256


def test_runs_list_limit_keeps_the_newest(enclosure, recorded):
    result = enclosure(
        "--home", recorded.home, "runs", "list", "--json", "--limit", "1"
    )
    assert [r["run_id"] for r in json.loads(result.out)] == [recorded.second]


def test_runs_list_table_names_every_run_and_its_status(enclosure, recorded):
    result = enclosure("--home", recorded.home, "runs", "list")
    assert result.status == 0
    assert "\x1b[" not in result.out  # no colour codes when not on a terminal
    for run_id, status in ((recorded.first, "completed"), (recorded.second, "killed")):
        [row] = [line for line in result.out.splitlines() if run_id in line]
        assert status in row


def test_runs_list_on_an_empty_log_is_empty(enclosure, empty_home):
    home = empty_home
    result = enclosure("--home", home, "runs", "list", "--json")
    assert result.status == 0
    assert json.loads(result.out) == []


# ---- runs show ----------------------------------------------------------------------


def test_runs_show_prints_the_run_and_its_events(enclosure, recorded):
    result = enclosure("--home", recorded.home, "runs", "show", recorded.first)
    assert result.status == 0
    assert recorded.first in result.out
    assert "model=model-a" in result.out
    assert "prompt=prompt-v1" in result.out
    for word in ("run_started", "decision", "result", "run_ended", "internal_only"):
        assert word in result.out
    assert recorded.second not in result.out


def test_runs_show_json_lists_only_that_runs_events_in_order(enclosure, recorded):
    result = enclosure(
        "--home", recorded.home, "runs", "show", recorded.second, "--json"
    )
    assert result.status == 0
    shown = json.loads(result.out)
    assert shown["run"]["run_id"] == recorded.second
    assert shown["run"]["status"] == "killed"
    events = shown["events"]
    assert {e["run_id"] for e in events} == {recorded.second}
    assert [e["kind"] for e in events] == [
        "run_started",
        "decision",
        "result",
        "kill",
        "alert",
        "run_ended",
        "checkpoint",
    ]
    seqs = [e["seq"] for e in events]
    assert seqs == sorted(seqs)


def test_runs_show_of_an_unknown_run_is_run_unknown(enclosure, recorded):
    result = enclosure("--home", recorded.home, "runs", "show", "run_0000000000000000")
    assert result.status == 2
    assert result.out == ""
    [line] = result.err_lines()
    assert line.startswith("enclosure: E-RUN-UNKNOWN: ")


# ---- runs kill ----------------------------------------------------------------------


def test_runs_kill_from_another_process_stops_the_agent_at_its_next_call(home):
    clock = FakeClock()
    with make_enclosure(MANIFEST, home, clock=clock) as enc:
        enc.tool("lookup")(lambda key: {"key": key, "value": 42})
        run = enc.start_run(task="looping")
        assert run.call("lookup", {"key": "k1"}).status == "executed"
        killed = subprocess.run(  # an operator's shell: a real second process
            [
                sys.executable,
                "-c",
                "from enclosure.cli import entrypoint; entrypoint()",
                *("--home", str(home), "runs", "kill", run.id),
                *("--reason", "stuck in a loop", "--by", "oncall", "--json"),
            ],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        assert killed.returncode == 0, killed.stderr
        record = json.loads(killed.stdout)
        assert record["status"] == "killed"
        assert record["end_reason"] == "stuck in a loop (killed by oncall)"
        refused = run.call("lookup", {"key": "k2"})
        assert refused.status == "killed"
        assert refused.error is not None
        assert "stuck in a loop" in refused.error.message
        [kill] = [e.event for e in enc.log.events(run_id=run.id, kinds=["kill"])]
        assert (kill.rule, kill.by) == ("operator", "oncall")
        assert enc.log.verify().ok


def test_runs_kill_leaves_a_run_that_is_over_as_it_is(enclosure, recorded):
    result = enclosure(
        "--home", recorded.home, "runs", "kill", recorded.second, "--reason", "again"
    )
    assert result.status == 0
    assert "killed" in result.out
    assert "operator stop" in result.out
    result = enclosure(
        "--home", recorded.home, "runs", "kill", recorded.first, "--reason", "late"
    )
    assert result.status == 0
    assert "completed" in result.out
    with make_enclosure(MANIFEST, recorded.home) as enc:
        kinds = [e.event.kind for e in enc.log.events(kinds=["kill", "run_ended"])]
    assert kinds == ["run_ended", "kill", "run_ended"]  # nothing added


def test_runs_kill_needs_a_known_run_and_a_reason(enclosure, recorded):
    unknown = enclosure(
        "--home", recorded.home, "runs", "kill", "run_nope", "--reason", "x"
    )
    assert unknown.status == 2
    [line] = unknown.err_lines()
    assert line.startswith("enclosure: E-RUN-UNKNOWN: ")
    no_reason = enclosure("--home", recorded.home, "runs", "kill", recorded.first)
    assert no_reason.status == 2
    assert "--reason" in no_reason.err


# ---- log ----------------------------------------------------------------------------


def test_log_table_shows_events_of_every_run(enclosure, recorded):
    result = enclosure("--home", recorded.home, "log")
    assert result.status == 0
    assert recorded.first in result.out
    assert recorded.second in result.out
    assert "operator stop" in result.out


def test_log_json_lines_are_in_chain_order(enclosure, recorded):
    result = enclosure("--home", recorded.home, "log", "--json")
    events = json_lines(result.out)
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert all(len(e["hash"]) == 64 for e in events)


def test_log_run_shows_only_that_run(enclosure, recorded):
    result = enclosure("--home", recorded.home, "log", "--run", recorded.first)
    assert result.status == 0
    assert recorded.first in result.out
    assert recorded.second not in result.out

    as_json = enclosure(
        "--home", recorded.home, "log", "--run", recorded.first, "--json"
    )
    events = json_lines(as_json.out)
    assert {e["run_id"] for e in events} == {recorded.first}
    assert events[0]["kind"] == "run_started"
    assert [e["kind"] for e in events[-2:]] == ["run_ended", "checkpoint"]


def test_log_kind_decision_json_carries_every_decision_field(enclosure, recorded):
    result = enclosure("--home", recorded.home, "log", "--kind", "decision", "--json")
    assert result.status == 0
    decisions = json_lines(result.out)
    assert len(decisions) == 4
    for d in decisions:
        assert d["kind"] == "decision"
        assert d.keys() >= DECISION_FIELDS, DECISION_FIELDS - d.keys()
        assert d["args_sha256"] == sha256_json(d["args"])
        assert d["manifest_sha256"] == recorded.manifest_sha256
        assert isinstance(d["latency_us"], int)
        assert d["latency_us"] >= 0

    lookup, denied, sent, _ = decisions
    assert (lookup["tool"], lookup["outcome"], lookup["disposition"]) == (
        "lookup",
        "allow",
        "dispatched",
    )
    assert lookup["model"] == "model-a"
    assert lookup["prompt_version"] == "prompt-v1"
    assert lookup["validator"]["ok"] is True

    assert denied["args"] == {"to": "x@evil.example"}
    assert denied["outcome"] == "deny"
    assert denied["disposition"] == "blocked"
    assert denied["rule"].endswith("internal_only")
    assert denied["reason"] == "outside recipients"

    assert sent["outcome"] == "allow"
    assert sent["cost"] == 0.25
    context = {"ticket": "T-1"}
    assert sent["context_sha256"] == sha256_hex(canonical_json(context))
    assert json.loads(sent["context_excerpt"]) == context


def test_log_kinds_can_be_combined(enclosure, recorded):
    result = enclosure(
        "--home", recorded.home, "log", "--kind", "kill", "--kind", "alert", "--json"
    )
    events = json_lines(result.out)
    assert [e["kind"] for e in events] == ["kill", "alert"]
    assert {e["run_id"] for e in events} == {recorded.second}
    assert events[0]["reason"] == "operator stop"
    assert events[0]["rule"] == "manual"


def test_log_limit_keeps_the_newest_events(enclosure, recorded):
    everything = json_lines(enclosure("--home", recorded.home, "log", "--json").out)
    result = enclosure("--home", recorded.home, "log", "--json", "--limit", "2")
    assert json_lines(result.out) == everything[-2:]


def test_log_of_an_empty_home_prints_nothing_as_json(enclosure, empty_home):
    home = empty_home
    result = enclosure("--home", home, "log", "--json")
    assert result.status == 0
    assert result.out == ""


def test_every_event_kind_can_be_filtered_on():
    import typing  # noqa: PLC0415

    from enclosure.audit import Event  # noqa: PLC0415
    from enclosure.cli._runs import _KINDS  # noqa: PLC0415

    union = typing.get_args(typing.get_args(Event)[0])
    kinds = {cls.model_fields["kind"].default for cls in union}
    assert kinds == set(_KINDS)


def test_exec_events_show_their_exit_status(enclosure, home, tmp_path):
    from enclosure._enclosure import open_log  # noqa: PLC0415
    from enclosure.audit import ExecEvent  # noqa: PLC0415

    log = open_log(home)
    log.append(
        ExecEvent(
            run_id="run_x",
            ts="2026-11-25T00:00:00.000000Z",
            backend="bubblewrap",
            argv=["sleep", "9"],
            exit_code=-9,
            limit="wall_time",
            duration_ms=1.0,
            output_sha256="0" * 64,
        )
    )
    log.close()
    done = enclosure("--home", home, "log", "--kind", "exec")
    assert "exit -9, wall_time limit: sleep 9" in done.out
