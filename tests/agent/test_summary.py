import json
from typing import Any

from enclosure.agent import ToolSummary, manifest_summary, tool_summaries
from enclosure.agent._summary import compute_limits, filesystem_paths, kill_limits
from enclosure.manifest import load_manifest
from enclosure.testing import manifest_from

MANIFEST = """
agent: {name: a, description: does things}
tools:
  look: {effect: read, description: looks}
  send:
    mode: simulate
    rate: [5/minute, {limit: 2/hour, key: args.to, on_exceed: kill}]
  pay:
    mode: approve
    cost: 1.5
  off: {mode: deny}
  run_it: {command: [echo, "{x}"]}
rules:
  - {tools: [send], when: "args.to == 'x'", then: deny, reason: not x}
  - {effect: read, then: allow, reason: reads are fine}
  - {then: simulate, reason: everything simulated}
"""


def by_name(text: str = MANIFEST, schemas: Any = None) -> dict[str, ToolSummary]:
    return {t.name: t for t in tool_summaries(manifest_from(text), schemas)}


def test_each_tool_says_how_it_is_handled():
    tools = by_name()
    assert list(tools) == ["look", "send", "pay", "off", "run_it"]
    assert tools["look"].description == "looks"
    assert tools["send"].simulated
    assert tools["pay"].needs_approval
    assert tools["pay"].may_need_approval
    assert not tools["off"].available
    assert tools["run_it"].kind == "command"
    assert tools["look"].kind == "python"
    assert tools["pay"].cost == 1.5


def test_global_rules_show_on_the_tools_they_cover_first():
    tools = by_name()
    assert [r.reason for r in tools["send"].rules] == ["not x", "everything simulated"]
    assert [r.reason for r in tools["look"].rules] == [
        "reads are fine",
        "everything simulated",
    ]
    assert {r.scope for r in tools["look"].rules} == {"global"}


def test_rates_read_as_text():
    assert by_name()["send"].rate == (
        "5/minute (over it: refused)",
        "2/hour per args.to (over it: THE RUN IS KILLED)",
    )


def test_a_tool_may_need_approval_through_a_rule():
    tools = by_name("agent: {name: a}\ntools: {t: {rules: [{then: approve}]}}")
    assert tools["t"].may_need_approval
    assert not tools["t"].needs_approval


def test_declared_schemas_win_over_handler_ones():
    text = (
        "agent: {name: a}\ntools:\n"
        "  t: {input_schema: {type: object, title: M}}\n  u: {}"
    )
    tools = by_name(text, {"t": {"title": "H"}, "u": {"title": "H"}})
    assert tools["t"].input_schema["title"] == "M"
    assert tools["u"].input_schema["title"] == "H"
    assert by_name(text)["u"].input_schema == {"type": "object"}


def test_kill_limits_leave_out_what_is_not_set():
    assert kill_limits(manifest_from("agent: {name: a}")) == {}
    limits = kill_limits(
        manifest_from(
            "agent: {name: a}\nkill_switch: {max_cost: 2, repeated_calls: {max: 3}}"
        )
    )
    assert limits == {"max_cost": 2.0, "repeated_calls": {"max": 3, "window_s": 60.0}}


def test_compute_limits_say_whether_there_is_a_network():
    sandboxed = compute_limits(manifest_from("agent: {name: a}"))
    assert sandboxed["network"] == "none"
    assert sandboxed["wall_time_s"] == 60.0
    host = compute_limits(manifest_from("agent: {name: a}\ncompute: {backend: none}"))
    assert host["network"] == "host"


def test_filesystem_paths_are_read_from_the_manifests_folder(tmp_path):
    (tmp_path / "enclosure.yaml").write_text(
        "agent: {name: a}\nfilesystem: {read: [data, /abs], write: [out/./res]}\n",
        encoding="utf-8",
    )
    paths = filesystem_paths(load_manifest(tmp_path / "enclosure.yaml"))
    assert paths["read"] == [str(tmp_path / "data"), "/abs"]
    assert paths["write"] == [str(tmp_path / "out" / "res")]
    assert paths["writes_quarantined"] is True


def test_the_summary_is_plain_json():
    summary = manifest_summary(manifest_from(MANIFEST))
    assert json.loads(json.dumps(summary)) == summary
    assert summary["agent"] == {"name": "a", "description": "does things"}
    assert [t["name"] for t in summary["tools"]] == [
        "look",
        "send",
        "pay",
        "off",
        "run_it",
    ]
    assert summary["approvals"] == {"ttl_s": 900.0}
