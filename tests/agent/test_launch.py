import http.server
import json
import os
import shutil
import stat
import tempfile
import threading
from pathlib import Path
from typing import Any

import pytest

from enclosure import Enclosure
from enclosure.agent import LIB_DIR, SOCKET_DIR, AgentResult, AgentSession, run_agent
from enclosure.audit import DecisionEvent, ExecEvent
from enclosure.errors import SandboxUnavailable, UsageError
from enclosure.sandbox import Mount
from enclosure.testing import make_enclosure

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "agent"
LLM_VARIABLES = (
    "ENCLOSURE_LLM_URL",
    "OPENAI_BASE_URL",
    "ENCLOSURE_LLM_KEY",
    "OPENAI_API_KEY",
    "ENCLOSURE_LLM_MODEL",
)

PING = """
agent: {name: pinger}
tools:
  ping: {effect: read}
kill_switch: {max_calls: 5}
compute: {wall_time: 60s}
"""

SCRIPTED = [
    ["plan", "executed"],
    ["lookup_customer", "executed"],
    ["refund", "executed"],
    ["refund", "pending"],
    ["close_account", "blocked"],
    ["send_reply", "simulated"],
]


@pytest.fixture
def example_env(monkeypatch):
    """The example's handlers importable, and no language model configured."""
    monkeypatch.syspath_prepend(str(EXAMPLE))
    for name in LLM_VARIABLES:
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def load_example(home: Path) -> Enclosure:
    return Enclosure.load(EXAMPLE / "enclosure.yaml", home=home)


@pytest.fixture
def pinged(tmp_path):
    enc = make_enclosure(PING, tmp_path / "home")
    called = threading.Event()

    @enc.tool()
    def ping() -> str:
        called.set()
        return "pong"

    with enc:
        yield enc, called


def lines(data: bytes) -> list[list[str]]:
    return [line.split()[:2] for line in data.decode().splitlines()]


def python(code: str) -> list[str]:
    return ["python3", "-c", code]


def exec_in_thread(session: AgentSession, cmd: list[str]):
    box: dict[str, AgentResult] = {}
    thread = threading.Thread(target=lambda: box.update(result=session.exec(cmd)))
    thread.start()
    return thread, box


@pytest.mark.sandbox
def test_the_example_agent_runs_and_every_call_is_decided_and_logged(
    example_env, tmp_path
):
    with load_example(tmp_path / "home") as enc:
        result = run_agent(enc, ["python3", str(EXAMPLE / "agent.py")], task="T-1042")
        assert result.exit_code == 0, result.stderr.decode()
        assert result.limit is None
        assert result.run_status == "completed"
        assert lines(result.stdout) == SCRIPTED
        decisions = [
            e.event
            for e in enc.log.events(run_id=result.run_id, kinds={"decision"})
            if isinstance(e.event, DecisionEvent)
        ]
        assert [(e.tool, e.outcome, e.disposition) for e in decisions] == [
            ("plan", "allow", "dispatched"),
            ("lookup_customer", "allow", "dispatched"),
            ("refund", "allow", "dispatched"),
            ("refund", "approve", "pending"),
            ("close_account", "deny", "blocked"),
            ("send_reply", "simulate", "simulated"),
        ]
        (ran,) = enc.log.events(run_id=result.run_id, kinds={"exec"})
        assert isinstance(ran.event, ExecEvent)
        assert ran.event.backend == "bubblewrap"
        assert ran.event.exit_code == 0
        record = enc.log.get_run(result.run_id)
        assert record is not None
        assert record.status == "completed"
        assert record.task == "T-1042"
        assert enc.verify().ok
    assert f"run {result.run_id}" in result.stderr.decode()


@pytest.mark.sandbox
def test_the_agent_cannot_reach_the_network(pinged):
    enc, _ = pinged
    code = """
import socket
try:
    socket.getaddrinfo("example.com", 443)
    print("dns")
except OSError:
    print("no-dns")
for address in [("1.1.1.1", 443), ("8.8.8.8", 53)]:
    try:
        socket.create_connection(address, timeout=3).close()
        print("reached")
    except OSError:
        print("unreachable")
"""
    result = run_agent(enc, python(code))
    assert result.exit_code == 0, result.stderr.decode()
    assert result.stdout.decode().split() == ["no-dns", "unreachable", "unreachable"]


@pytest.mark.sandbox
def test_the_agent_sees_no_credentials_only_its_socket(pinged, monkeypatch):
    enc, _ = pinged
    monkeypatch.setenv("ENCLOSURE_LLM_KEY", "sk-secret-never-inside")
    code = "import json, os; print(json.dumps(dict(os.environ)))"
    result = run_agent(enc, python(code))
    env = json.loads(result.stdout)
    assert "sk-secret-never-inside" not in result.stdout.decode()
    assert env["ENCLOSURE_SOCKET"] == f"{SOCKET_DIR}/agent.sock"
    assert env["ENCLOSURE_RUN_ID"] == result.run_id
    assert env["PYTHONPATH"] == LIB_DIR
    assert set(env) <= {
        "PATH",
        "HOME",
        "LANG",
        "TMPDIR",
        "PWD",
        "ENCLOSURE_SOCKET",
        "ENCLOSURE_RUN_ID",
        "PYTHONPATH",
    }


@pytest.mark.sandbox
def test_the_client_inside_is_a_standalone_copy(pinged):
    enc, _ = pinged
    code = """
import enclosure, enclosure.client
print(enclosure.client.__file__)
try:
    import enclosure._enclosure
    print("host package visible")
except ImportError:
    print("standalone")
print(enclosure.client.Client().call("ping")["value"])
"""
    result = run_agent(enc, python(code))
    assert result.stdout.decode().split() == [
        f"{LIB_DIR}/enclosure/client.py",
        "standalone",
        "pong",
    ], result.stderr.decode()


@pytest.mark.sandbox
def test_killing_the_run_stops_the_agent(pinged):
    enc, called = pinged
    code = (
        "import time\nfrom enclosure.client import Client\n"
        "Client().call('ping')\ntime.sleep(600)\n"
    )
    with AgentSession(enc, task="kill me") as session:
        thread, box = exec_in_thread(session, python(code))
        assert called.wait(10)
        session.run.kill("the operator said stop")
        thread.join(10)
        assert not thread.is_alive()
    result = box["result"]
    assert result.limit == "killed"
    assert result.run_status == "killed"
    assert result.killed_reason == "the operator said stop"
    assert enc.log.events(run_id=result.run_id, kinds={"kill"})


@pytest.mark.sandbox
def test_the_kill_switch_stops_an_agent_that_keeps_calling(pinged):
    enc, _ = pinged
    code = """
import time
from enclosure.client import Client
client = Client()
for _ in range(100):
    client.call("ping")
time.sleep(600)
"""
    result = run_agent(enc, python(code))
    assert result.limit == "killed"
    assert result.run_status == "killed"
    (kill,) = enc.log.events(run_id=result.run_id, kinds={"kill"})
    assert kill.event.rule == "kill_switch.max_calls"
    assert len(enc.log.events(run_id=result.run_id, kinds={"decision"})) == 6


@pytest.mark.sandbox
def test_a_hostile_agent_cannot_break_the_socket(pinged):
    enc, _ = pinged
    code = """
import os, socket
from enclosure.client import Client
path = os.environ["ENCLOSURE_SOCKET"]
def raw():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    return s
s = raw()
s.sendall(b"\\x00\\xff{{{\\n")
print(s.recv(4096).count(b"E-RPC-PARSE"))
s.close()
s = raw()
try:
    s.sendall(b"x" * (9 * 1024 * 1024))
except OSError:
    pass
s.close()
crowd = [raw() for _ in range(40)]
for s in crowd: s.close()
print(Client().call("ping")["status"])
"""
    result = run_agent(enc, python(code))
    assert result.stdout.decode().split() == ["1", "executed"], result.stderr.decode()


@pytest.mark.sandbox
def test_the_socket_folder_is_private_and_removed_afterwards(pinged):
    enc, _ = pinged
    with AgentSession(enc, task="look") as session:
        folder = session._dir
        assert folder is not None
        socket_dir = folder / "socket"
        info = socket_dir.stat()
        assert stat.S_IMODE(info.st_mode) == 0o700
        switched = getattr(session.run.workspace.sandbox(), "uid", None)
        assert info.st_uid == (switched if switched is not None else os.geteuid())
        assert stat.S_IMODE(folder.stat().st_mode) == 0o711
        assert (socket_dir / "agent.sock").exists()
    assert not folder.exists()
    assert session.run.status == "completed"


@pytest.mark.sandbox
def test_inputs_are_visible_read_only_and_the_exit_status_comes_back(pinged):
    enc, _ = pinged
    folder = Path(tempfile.mkdtemp(prefix="enc-input-"))
    try:
        folder.chmod(0o755)
        (folder / "note.txt").write_text("hello", encoding="utf-8")
        (folder / "note.txt").chmod(0o644)
        code = f"""
import sys
print(open("{folder}/note.txt").read())
try:
    open("{folder}/new.txt", "w")
except OSError:
    print("read-only", file=sys.stderr)
sys.exit(3)
"""
        result = run_agent(enc, python(code), inputs=[Mount(folder, str(folder))])
    finally:
        shutil.rmtree(folder)
    assert result.exit_code == 3
    assert result.stdout.decode().strip() == "hello"
    assert result.stderr.decode().strip() == "read-only"


class FakeLLM(http.server.BaseHTTPRequestHandler):
    """An OpenAI-compatible endpoint answering every chat with one fixed plan."""

    seen: list[tuple[str, str | None, dict[str, Any]]]

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.seen.append((self.path, self.headers.get("Authorization"), body))
        plan = {
            "steps": [
                {"tool": "lookup_customer", "args": {"email": "ana@example.com"}},
                {"tool": "refund", "args": {"customer": "c-17", "amount": 900}},
                {"tool": "format_disk", "args": {}},
            ]
        }
        content = "The plan:\n```json\n" + json.dumps(plan) + "\n```"
        data = json.dumps({"choices": [{"message": {"content": content}}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args):
        pass


@pytest.fixture
def llm():
    FakeLLM.seen = []
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), FakeLLM)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/v1", FakeLLM.seen
    server.shutdown()
    server.server_close()
    thread.join(5)


@pytest.mark.sandbox
def test_with_a_model_the_plan_comes_through_a_tool_and_the_key_stays_outside(
    example_env, llm, tmp_path
):
    url, seen = llm
    example_env.setenv("ENCLOSURE_LLM_URL", url)
    example_env.setenv("ENCLOSURE_LLM_KEY", "sk-test-key-0123456789")
    with load_example(tmp_path / "home") as enc:
        result = run_agent(enc, ["python3", str(EXAMPLE / "agent.py")])
        events = enc.log.events(run_id=result.run_id)
        logged = json.dumps([e.event.model_dump(mode="json") for e in events])
    assert result.exit_code == 0, result.stderr.decode()
    assert lines(result.stdout) == [
        ["plan", "executed"],
        ["lookup_customer", "executed"],
        ["refund", "blocked"],  # the model's step still meets the policy
    ]
    ((path, auth, body),) = seen
    assert path == "/v1/chat/completions"
    assert auth == "Bearer sk-test-key-0123456789"
    assert "You are inbox-agent" in body["messages"][0]["content"]
    assert "sk-test-key" not in (result.stdout + result.stderr).decode()
    assert "sk-test-key" not in logged


def test_an_empty_command_is_a_usage_error(pinged):
    enc, _ = pinged
    with pytest.raises(UsageError) as info:
        run_agent(enc, [])
    assert info.value.code == "E-USAGE-ARG"


def test_without_a_sandbox_nothing_runs_and_the_run_ends(pinged, monkeypatch):
    enc, _ = pinged
    monkeypatch.setenv("ENCLOSURE_BWRAP", "/nonexistent/bwrap")
    session = AgentSession(enc, task="no sandbox")
    with pytest.raises(SandboxUnavailable):
        session.start()
    record = enc.log.get_run(session.run.id)
    assert record is not None
    assert record.status == "completed"
    assert record.calls == 0


def test_a_session_must_be_started_first(pinged):
    enc, _ = pinged
    with pytest.raises(UsageError):
        _ = AgentSession(enc, task="t").run
