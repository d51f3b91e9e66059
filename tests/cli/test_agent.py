import importlib
import json
import os
import shutil
import signal
import tempfile
import threading
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agent"


PING = """\
agent: {name: pinger}
tools:
  ping: {effect: read}
  off: {mode: deny}
kill_switch: {max_calls: 3}
compute: {wall_time: 60s}
"""


@pytest.fixture
def manifest(tmp_path: Path) -> Path:
    path = tmp_path / "enclosure.yaml"
    path.write_text(PING, encoding="utf-8")
    return path


@pytest.fixture
def example(monkeypatch):
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in ("ENCLOSURE_LLM_URL", "OPENAI_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    return EXAMPLE / "enclosure.yaml"


def test_prompt_prints_the_system_prompt(enclosure, example):
    done = enclosure("prompt", example)
    assert done.status == 0
    assert done.out.startswith("You are inbox-agent")
    assert "`close_account`" in done.out
    assert "NO network" in done.out


def test_prompt_json_is_a_machine_readable_summary(enclosure, example):
    done = enclosure("prompt", "--json", example)
    assert done.status == 0
    summary = json.loads(done.out)
    tools = {t["name"]: t for t in summary["tools"]}
    assert tools["send_reply"]["simulated"] is True
    assert tools["refund"]["may_need_approval"] is True
    assert tools["close_account"]["available"] is False
    assert summary["kill_switch"]["max_calls"] == 20
    assert summary["compute"]["network"] == "none"


def test_prompt_needs_no_handlers(enclosure, tmp_path):
    path = tmp_path / "m.yaml"
    path.write_text(
        "agent: {name: a}\ntools: {t: {handler: 'nowhere:fn'}}\n", encoding="utf-8"
    )
    assert enclosure("prompt", path).status == 0


def test_prompt_reports_a_bad_manifest_with_its_location(enclosure, tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("agent: {name: a}\ntools: {t: {mode: no}}\n", encoding="utf-8")
    done = enclosure("prompt", path)
    assert done.status == 2
    assert done.err_lines()[0].startswith(f"{path}:2:")


@pytest.mark.sandbox
def test_run_runs_the_example_agent(enclosure, example, home):
    done = enclosure(
        "--home", home, "run", "--manifest", example, "--task", "T-1042",
        "--", "python3", EXAMPLE / "agent.py",
    )  # fmt: skip
    assert done.status == 0, done.err
    statuses = [line.split()[1] for line in done.out.splitlines()]
    assert statuses == [*["executed"] * 3, "pending", "blocked", "simulated"]
    first = done.err_lines()[0]
    assert first.startswith("enclosure: run run_")
    run_id = first.split()[-1]
    listed = enclosure("--home", home, "runs", "list", "--json")
    (record,) = json.loads(listed.out)
    assert record["run_id"] == run_id
    assert record["task"] == "T-1042"


@pytest.mark.sandbox
def test_run_exits_with_the_agents_status(enclosure, manifest, home):
    code = "import sys; print('out'); print('err', file=sys.stderr); sys.exit(3)"
    done = enclosure("--home", home, "run", "-m", manifest, "--", "python3", "-c", code)
    assert done.status == 3
    assert done.out == "out\n"
    assert done.err_lines()[-1] == "err"


@pytest.mark.sandbox
def test_run_exits_137_when_the_kill_switch_stops_the_agent(enclosure, manifest, home):
    code = (
        "import time\nfrom enclosure.client import Client\nc = Client()\n"
        "for _ in range(10): c.call('ping')\ntime.sleep(600)\n"
    )
    done = enclosure("--home", home, "run", "-m", manifest, "--", "python3", "-c", code)
    assert done.status == 137
    assert done.err_lines()[-1].startswith("enclosure: E-RUN-KILLED: run run_")


@pytest.fixture
def shared_folder():
    """A folder the sandbox can bind (pytest's own temp folders are 0700)."""
    folder = Path(tempfile.mkdtemp(prefix="enc-input-"))
    folder.chmod(0o755)
    (folder / "note.txt").write_text("hello", encoding="utf-8")
    (folder / "note.txt").chmod(0o644)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.mark.sandbox
def test_run_binds_inputs_read_only(enclosure, manifest, home, shared_folder):
    code = (
        f"print(open('{shared_folder}/note.txt').read())\n"
        "try:\n"
        f"    open('{shared_folder}/new.txt', 'w')\n"
        "except OSError as exc:\n"
        "    raise SystemExit(exc.strerror)\n"
    )
    done = enclosure(
        "--home", home, "run", "-m", manifest, "--input", shared_folder,
        "--", "python3", "-c", code,
    )  # fmt: skip
    assert done.status == 1
    assert done.out == "hello\n"
    assert "Read-only file system" in done.err
    assert not (shared_folder / "new.txt").exists()


def test_run_refuses_a_missing_input(enclosure, manifest, home, tmp_path):
    done = enclosure(
        "--home", home, "run", "-m", manifest, "--input", tmp_path / "missing",
        "--", "true",
    )  # fmt: skip
    assert done.status == 2
    assert done.err_lines()[-1].startswith("enclosure: E-USAGE-ARG:")


def test_run_needs_a_command(enclosure, manifest, home):
    done = enclosure("--home", home, "run", "-m", manifest)
    assert done.status == 2
    assert done.err_lines()[-1].startswith("enclosure: E-USAGE:")


def test_run_without_a_sandbox_refuses_to_start(enclosure, manifest, home, monkeypatch):
    monkeypatch.setenv("ENCLOSURE_BWRAP", "/nonexistent/bwrap")
    done = enclosure("--home", home, "run", "-m", manifest, "--", "true")
    assert done.status == 2
    assert done.err_lines()[-1].startswith("enclosure: E-SANDBOX-UNAVAILABLE:")


@pytest.mark.sandbox
def test_run_kills_the_run_on_sigterm(enclosure, tmp_path, home, monkeypatch):
    (tmp_path / "pinghandler.py").write_text(
        "import threading\ncalled = threading.Event()\n\n\n"
        "def ping():\n    called.set()\n    return 'pong'\n",
        encoding="utf-8",
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    manifest = tmp_path / "handled.yaml"
    manifest.write_text(
        "agent: {name: a}\n"
        "tools: {ping: {effect: read, handler: 'pinghandler:ping'}}\n",
        encoding="utf-8",
    )
    pinghandler = importlib.import_module("pinghandler")  # the handler's own module

    def terminate():
        if pinghandler.called.wait(10):
            os.kill(os.getpid(), signal.SIGTERM)

    killer = threading.Thread(target=terminate)
    killer.start()
    code = (
        "import time\nfrom enclosure.client import Client\n"
        "Client().call('ping')\ntime.sleep(600)\n"
    )
    done = enclosure("--home", home, "run", "-m", manifest, "--", "python3", "-c", code)
    killer.join(10)
    assert done.status == 137
    assert "SIGTERM received" in done.err_lines()[-1]
    assert done.err_lines()[-1].startswith("enclosure: E-RUN-KILLED:")
