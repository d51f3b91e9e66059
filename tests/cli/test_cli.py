"""``main()``: every failure leaves as one coded line with a stable exit status."""

from __future__ import annotations

import json
import subprocess
import sys
from importlib.metadata import version
from pathlib import Path

import pytest

from enclosure.cli import (
    _agent,
    _approvals,
    _artifacts,
    _audit,
    _check,
    _demo,
    _exec,
    _hook,
    _ladder,
    _manifest,
    _mcp,
    _redteam,
    _runs,
    _serve,
    _shadow,
    _top,
    cli,
    hook_argv,
    main,
)

ROOT = Path(__file__).resolve().parents[2]
ENTRYPOINT = "from enclosure.cli import entrypoint; entrypoint()"
COMMANDS = [
    "approvals",
    "artifacts",
    "audit",
    "check",
    "demo",
    "exec",
    "hook",
    "ladder",
    "log",
    "manifest",
    "mcp",
    "prompt",
    "redteam",
    "run",
    "runs",
    "schema",
    "serve",
    "shadow",
    "tokens",
    "top",
]


def one_coded_line(err: str, code: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith(f"enclosure: {code}: "), err


@pytest.mark.parametrize(
    "args",
    [
        ["no-such-command"],
        ["--no-such-option"],
        ["runs", "--no-such-option"],
        ["runs", "list", "--limit", "0"],
        ["log", "--kind", "no-such-kind"],
        ["check"],  # FILES... is required
        ["approvals", "approve"],  # APPROVAL_ID is required
    ],
)
def test_bad_command_lines_exit_2_with_one_usage_line(enclosure, home, args):
    result = enclosure("--home", home, *args)
    assert result.status == 2
    assert result.out == ""
    one_coded_line(result.err, "E-USAGE")


@pytest.mark.parametrize("where", ["file", "file/below"])
def test_a_home_that_is_not_a_directory_makes_the_log_unavailable(
    enclosure, tmp_path, where
):
    (tmp_path / "file").write_text("not a directory\n", encoding="utf-8")
    result = enclosure("--home", tmp_path / where, "runs", "list")
    assert result.status == 2
    one_coded_line(result.err, "E-AUDIT-NOT-FOUND")


def test_a_home_whose_database_is_not_sqlite_makes_the_log_unavailable(enclosure, home):
    home.mkdir()
    (home / "enclosure.db").write_bytes(b"this is not a database\n" * 100)
    result = enclosure("--home", home, "audit", "verify")
    assert result.status == 2
    one_coded_line(result.err, "E-AUDIT-UNAVAILABLE")


def test_a_bad_home_does_not_stop_commands_that_never_open_the_log(enclosure, tmp_path):
    not_a_dir = tmp_path / "file"
    not_a_dir.write_text("", encoding="utf-8")
    result = enclosure("--home", not_a_dir, "schema")
    assert result.status == 0
    json.loads(result.out)


def test_an_invalid_db_sync_setting_is_a_usage_env_error(
    enclosure, empty_home, monkeypatch
):
    home = empty_home
    monkeypatch.setenv("ENCLOSURE_DB_SYNC", "bogus")
    result = enclosure("--home", home, "runs", "list")
    assert result.status == 2
    one_coded_line(result.err, "E-USAGE-ENV")


def test_db_sync_full_is_accepted_in_any_case(enclosure, empty_home, monkeypatch):
    home = empty_home
    monkeypatch.setenv("ENCLOSURE_DB_SYNC", "FULL")
    result = enclosure("--home", home, "runs", "list", "--json")
    assert result.status == 0
    assert json.loads(result.out) == []


def test_the_home_can_come_from_the_environment(enclosure, empty_home, monkeypatch):
    home = empty_home
    monkeypatch.setenv("ENCLOSURE_HOME", str(home))
    result = enclosure("audit", "verify")
    assert result.status == 0
    assert (home / "enclosure.db").is_file()


def test_version_prints_the_installed_package_version(enclosure):
    result = enclosure("--version")
    assert result.status == 0
    assert version("enclosure") in result.out
    assert result.err == ""


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_help_lists_every_command(enclosure, flag):
    result = enclosure(flag)
    assert result.status == 0
    assert "Usage:" in result.out
    for command in COMMANDS:
        assert command in result.out
    assert sorted(cli.commands) == COMMANDS


def test_subcommand_help_exits_0(enclosure):
    result = enclosure("approvals", "approve", "--help")
    assert result.status == 0
    assert "--by" in result.out


def boom(*_args, **_kwargs):
    msg = "a bug"
    raise RuntimeError(msg)


def test_an_unexpected_error_is_one_internal_line_with_status_70(
    enclosure, monkeypatch
):
    monkeypatch.setattr("enclosure.cli._check.json_schema", boom)
    result = enclosure("schema")
    assert result.status == 70
    one_coded_line(result.err, "E-INTERNAL")
    assert "ENCLOSURE_DEBUG" in result.err


def test_enclosure_debug_lets_the_unexpected_error_through(monkeypatch):
    monkeypatch.setattr("enclosure.cli._check.json_schema", boom)
    monkeypatch.setenv("ENCLOSURE_DEBUG", "1")
    with pytest.raises(RuntimeError, match="a bug"):
        main(["schema"])


def test_an_interrupt_exits_130(enclosure, monkeypatch):
    def interrupt(*_args, **_kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("enclosure.cli._check.json_schema", interrupt)
    result = enclosure("schema")
    assert result.status == 130
    # click first ends the terminal's "^C" line with a newline of its own.
    one_coded_line(result.err.lstrip("\n"), "E-ABORTED")


def run_process(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", ENTRYPOINT, *args],
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
        check=False,
    )


def test_the_console_script_exits_with_mains_status_and_no_traceback(tmp_path):
    bad = run_process("--home", str(tmp_path / "home"), "runs", "show", "run_nope")
    assert bad.returncode == 2
    one_coded_line(bad.stderr, "E-AUDIT-NOT-FOUND")
    assert "Traceback" not in bad.stdout + bad.stderr

    good = run_process("--version")
    assert good.returncode == 0
    assert version("enclosure") in good.stdout


def test_each_command_module_registers_its_commands():
    commands = [
        _agent.run,
        _agent.prompt,
        _approvals.approvals,
        _artifacts.artifacts,
        _audit.audit,
        _check.check,
        _check.schema,
        _demo.demo,
        _exec.exec_command,
        _hook.hook_group,
        _mcp.mcp,
        _runs.runs,
        _runs.log,
        _serve.serve_command,
        _serve.tokens,
        _top.top,
        _shadow.shadow,
        _ladder.ladder,
        _manifest.manifest,
        _redteam.redteam,
    ]
    assert sorted(c.name for c in commands) == COMMANDS
    for command in commands:
        assert cli.commands[command.name] is command


# --- the console script's fast path for the Claude Code hook -----------------------


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["hook", "claude-code", "--manifest", "m.yaml"], ("m.yaml", None)),
        (["hook", "claude-code", "-m", "m.yaml"], ("m.yaml", None)),
        (["hook", "claude-code", "--manifest=m.yaml"], ("m.yaml", None)),
        (["--home", "h", "hook", "claude-code", "-m", "m"], ("m", "h")),
        (["--home=h", "hook", "claude-code", "-m", "m"], ("m", "h")),
        (["hook", "claude-code", "-m", "m", "--print-settings"], None),
        (["hook", "claude-code", "--no-server", "-m", "m"], None),
        (["hook", "claude-code", "--help"], None),
        (["hook", "claude-code"], None),
        (["hook", "claude-code", "--manifest="], None),
        (["hook", "claude-code", "-m", ""], None),
        (["hook", "other", "-m", "m"], None),
        (["--home", "h", "runs"], None),
        (["--verbose", "hook", "claude-code", "-m", "m"], None),
        ([], None),
    ],
)
def test_only_the_plain_hook_call_takes_the_fast_path(argv, expected):
    assert hook_argv(argv) == expected


def test_the_fast_path_loads_neither_click_nor_the_enclosure(tmp_path, hook_servers):
    example = ROOT / "examples" / "claude-code" / "enclosure.yaml"
    home = tmp_path / "home"
    hook_servers.start(home, example)
    argv = ["enclosure", "--home", str(home), "hook", "claude-code", "-m", str(example)]
    probe = (
        "import atexit, sys\n"
        f"sys.argv = {argv!r}\n"
        "heavy = {'click', 'pydantic', 'sqlalchemy', 'cel', 'yaml', 'rich'}\n"
        "atexit.register(lambda: sys.stderr.write(repr(sorted(heavy & {\n"
        "    m.split('.')[0] for m in sys.modules}))))\n" + ENTRYPOINT
    )
    event = {
        "session_id": "s-1",
        "cwd": str(tmp_path),
        "hook_event_name": "PreToolUse",
        "tool_name": "Bash",
        "tool_input": {"command": "ls"},
    }
    done = subprocess.run(
        [sys.executable, "-c", probe],
        input=json.dumps(event).encode(),
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    answer = json.loads(done.stdout)
    assert answer["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert done.stderr == b"[]"
