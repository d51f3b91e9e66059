import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from enclosure.cli._hook import hook_group

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "claude-code" / "enclosure.yaml"
ENCLOSURE = Path(sys.executable).with_name("enclosure")

RUNAWAY = """
agent: {name: mailer}
tools:
  send_email:
    rate: 3/minute
    on_exceed: kill
  Bash: {}
"""


def event(tool: str, tool_input: dict, session: str = "s-1") -> bytes:
    return json.dumps(
        {
            "session_id": session,
            "transcript_path": str(ROOT / "transcript.jsonl"),
            "cwd": str(ROOT),
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_1",
        }
    ).encode("utf-8")


@pytest.fixture(params=["server", "no-server"])
def served(request, hook_servers, monkeypatch: pytest.MonkeyPatch):
    """``start(home, manifest)``: each hook process asks a server, or decides itself."""

    def start(home: Path, manifest: Path) -> None:
        if request.param == "server":
            hook_servers.start(home, manifest)
        else:
            monkeypatch.setenv("ENCLOSURE_HOOK_SERVER", "off")

    return start


def run_hook(home: Path, manifest: Path, data: bytes) -> dict:
    """One real ``enclosure hook claude-code`` process, as Claude Code starts it."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("ENCLOSURE_") or k == "ENCLOSURE_HOOK_SERVER"
    }
    done = subprocess.run(
        [str(ENCLOSURE), "--home", str(home), "hook", "claude-code", "-m", manifest],
        input=data,
        capture_output=True,
        env=env,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert b"Traceback" not in done.stderr
    return json.loads(done.stdout)


def decision(answer: dict) -> str:
    return answer["hookSpecificOutput"]["permissionDecision"]


def test_the_rate_limit_holds_across_hook_processes(tmp_path: Path, served):
    served(tmp_path, EXAMPLE)
    push = event("Bash", {"command": "git push origin main"})
    answers = [decision(run_hook(tmp_path, EXAMPLE, push)) for _ in range(4)]
    assert answers == ["allow", "allow", "allow", "deny"]
    other = event("Bash", {"command": "git push"}, session="s-2")
    assert decision(run_hook(tmp_path, EXAMPLE, other)) == "allow"  # its own run


def test_the_kill_switch_holds_across_hook_processes(tmp_path: Path, served):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(RUNAWAY, encoding="utf-8")
    served(tmp_path / "home", manifest)
    email = event("send_email", {"to": "a@b.example"})
    answers = [run_hook(tmp_path / "home", manifest, email) for _ in range(4)]
    assert [decision(a) for a in answers] == ["allow"] * 3 + ["deny"]
    assert answers[3]["continue"] is False
    later = run_hook(tmp_path / "home", manifest, event("Bash", {"command": "ls"}))
    assert later["continue"] is False
    assert "killed" in later["stopReason"]


def test_a_missing_manifest_and_bad_input_deny_in_one_line(tmp_path: Path, served):
    served(tmp_path, tmp_path / "none.yaml")
    answer = run_hook(
        tmp_path, tmp_path / "none.yaml", event("Bash", {"command": "ls"})
    )
    assert decision(answer) == "deny"
    assert (
        "E-MANIFEST-UNREADABLE"
        in answer["hookSpecificOutput"]["permissionDecisionReason"]
    )
    assert decision(run_hook(tmp_path, EXAMPLE, b"{oops")) == "deny"


def test_print_settings_prints_the_snippet(enclosure, home: Path):
    assert hook_group.name == "hook"
    done = enclosure(
        "--home", home, "hook", "claude-code", "-m", EXAMPLE, "--print-settings"
    )
    assert done.status == 0
    snippet = json.loads(done.out)
    command = snippet["hooks"]["PreToolUse"][0]["hooks"][0]["command"]
    assert str(home.resolve()) in command
    assert str(EXAMPLE) in command
