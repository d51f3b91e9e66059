"""The hook's decision server, started for real and spoken to over its socket."""

import json
import os
import re
import socket
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from enclosure import Enclosure
from enclosure.integrations import _hookd
from enclosure.integrations._hook_client import (
    HEADER_LIMIT,
    KEY_NAME,
    MAX_EVENT_BYTES,
    PROTOCOL,
    ask,
    code_fingerprint,
    proof,
    socket_path,
    spawn_server,
    stop_server,
)
from enclosure.integrations.claude_code import hook, run_id_for

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "claude-code" / "enclosure.yaml"
NOBODY = 65534

RUNAWAY = """
agent: {name: mailer}
tools:
  send_email:
    rate: 3/minute
    on_exceed: kill
  Bash: {}
"""


def event(tool: str, tool_input: dict, session: str = "s-1", **extra) -> bytes:
    return json.dumps(
        {
            "session_id": session,
            "cwd": "/work/proj",
            "hook_event_name": "PreToolUse",
            "tool_name": tool,
            "tool_input": tool_input,
            "tool_use_id": "toolu_1",
            **extra,
        }
    ).encode()


def via_server(home: Path, manifest: Path, data: bytes) -> dict:
    reply = ask(data, str(manifest), str(home))
    assert reply is not None, "the server did not answer"
    return json.loads(reply)


def same(answer: dict) -> str:
    """The answer with its random approval id masked."""
    return re.sub(r"apr_[0-9a-f]+", "apr_?", json.dumps(answer))


def permission(answer: dict) -> str:
    return answer["hookSpecificOutput"]["permissionDecision"]


def request(home: Path, header: object, body: bytes = b"") -> bytes:
    """One raw request to the server (``header`` as JSON, or raw bytes); its reply."""
    line = header if isinstance(header, bytes) else json.dumps(header).encode()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
        sock.settimeout(30)
        sock.connect(socket_path(str(home)))
        sock.sendall(line + b"\n" + body)
        sock.shutdown(socket.SHUT_WR)
        chunks = []
        while chunk := sock.recv(65536):
            chunks.append(chunk)
    return b"".join(chunks)


@pytest.fixture(autouse=True)
def _project(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", "/work/proj")
    monkeypatch.delenv("ENCLOSURE_HOOK_SERVER", raising=False)


def test_the_server_answers_every_event_as_the_hook_itself_does(
    tmp_path: Path, hook_servers
):
    served, local = tmp_path / "served", tmp_path / "local"
    hook_servers.start(served, EXAMPLE)
    script = [
        event("Bash", {"command": "ls -la"}),
        event("Bash", {"command": "rm -rf /"}),
        event("Read", {"file_path": "/home/me/.ssh/id_ed25519"}),
        event("WebFetch", {"url": "https://unknown.example/x", "prompt": "p"}),
        *[event("Bash", {"command": "git push origin main"})] * 4,
        event("NoSuchTool", {}),
        b"{not json",
    ]
    answers = []
    for data in script:
        answer = via_server(served, EXAMPLE, data)
        assert same(answer) == same(hook(data, EXAMPLE, local))
        answers.append(permission(answer))
    assert answers == ["allow", "deny", "deny", "ask"] + ["allow"] * 3 + ["deny"] * 3


def test_calls_decided_elsewhere_count_against_the_same_run(
    tmp_path: Path, hook_servers
):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(RUNAWAY, encoding="utf-8")
    home = tmp_path / "home"
    hook_servers.start(home, manifest)
    email = event("send_email", {"to": "a@b.example"})
    answers = [
        via_server(home, manifest, email),
        hook(email, manifest, home),  # another hook process, without the server
        via_server(home, manifest, email),
        hook(email, manifest, home),
    ]
    assert [permission(a) for a in answers] == ["allow"] * 3 + ["deny"]
    later = via_server(home, manifest, event("Bash", {"command": "ls"}))
    assert later["continue"] is False  # the kill, made elsewhere, holds here


def test_an_approval_granted_elsewhere_lets_the_same_call_through(
    tmp_path: Path, hook_servers
):
    home = hook_servers.watch(tmp_path / "home")
    hook_servers.start(home, EXAMPLE)
    fetch = event("WebFetch", {"url": "https://unknown.example/x", "prompt": "p"})
    assert permission(via_server(home, EXAMPLE, fetch)) == "ask"
    enc = Enclosure.load(EXAMPLE, home=home)
    try:
        (pending,) = enc.log.list_approvals(status="pending", run_id=run_id_for("s-1"))
        enc.approvals.approve(pending.approval_id, by="alice")
    finally:
        enc.log.close()
    assert permission(via_server(home, EXAMPLE, fetch)) == "allow"
    assert permission(via_server(home, EXAMPLE, fetch)) == "ask"  # used once


def test_an_edited_manifest_is_loaded_again(tmp_path: Path, hook_servers):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text("agent: {name: a}\ntools:\n  Bash: {}\n", encoding="utf-8")
    home = tmp_path / "home"
    hook_servers.start(home, manifest)
    ls = event("Bash", {"command": "ls"})
    assert permission(via_server(home, manifest, ls)) == "allow"
    manifest.write_text(
        "agent: {name: a}\ntools:\n  Bash: {mode: deny}\n", encoding="utf-8"
    )
    assert permission(via_server(home, manifest, ls)) == "deny"
    manifest.write_text("agent: [broken", encoding="utf-8")
    answer = via_server(home, manifest, ls)
    assert permission(answer) == "deny"
    assert "E-MANIFEST" in answer["hookSpecificOutput"]["permissionDecisionReason"]


def test_a_secret_named_by_the_manifest_is_read_from_the_callers_environment(
    tmp_path: Path, hook_servers, monkeypatch: pytest.MonkeyPatch
):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(
        "agent: {name: a}\nredact: {env: [DEPLOY_TOKEN]}\ntools:\n  Bash: {}\n",
        encoding="utf-8",
    )
    home = tmp_path / "home"
    hook_servers.start(home, manifest)  # started without the variable
    monkeypatch.setenv("DEPLOY_TOKEN", "tok-7f3a9c1e55")
    call = event("Bash", {"command": "echo tok-7f3a9c1e55"})
    assert permission(via_server(home, manifest, call)) == "allow"
    database = (home / "enclosure.db").read_bytes()
    wal = home / "enclosure.db-wal"
    stored = database + (wal.read_bytes() if wal.exists() else b"")
    assert b"tok-7f3a9c1e55" not in stored


def test_a_client_of_other_code_makes_the_server_step_down(
    tmp_path: Path, hook_servers
):
    home = tmp_path / "home"
    pid = hook_servers.start(home)
    header = {
        "v": PROTOCOL,
        "code": "1:00000000",
        "manifest": str(EXAMPLE),
        "cwd": "/",
        "env": {},
    }
    assert json.loads(request(home, header, event("Bash", {}))) == {"stale": True}
    assert hook_servers.exited(pid)
    assert not Path(socket_path(str(home))).exists()


@pytest.mark.parametrize(
    "header",
    [
        "not an object",
        {"code": "x"},
        {"v": "1"},
        {"v": PROTOCOL},
        {"v": PROTOCOL, "code": 7},
        {"v": PROTOCOL, "code": None, "manifest": 3, "cwd": "/", "env": {}},
        {"v": PROTOCOL, "code": None, "manifest": "m", "cwd": "/", "env": {"A": 1}},
        {"v": PROTOCOL, "code": None, "manifest": "m", "cwd": 3, "env": {}},
    ],
)
def test_a_malformed_request_is_refused_and_the_server_stays_up(
    header, tmp_path: Path, hook_servers
):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    if isinstance(header, dict) and header.get("code", "") is None:
        header["code"] = code_fingerprint()
    assert json.loads(request(home, header)) == {"error": "bad request"}
    assert json.loads(request(home, b"\xff\xfe")) == {"error": "bad request"}
    ls = event("Bash", {"command": "ls"})
    assert permission(via_server(home, EXAMPLE, ls)) == "allow"


def test_a_client_of_another_protocol_version_makes_the_server_step_down(
    tmp_path: Path, hook_servers
):
    home = tmp_path / "home"
    pid = hook_servers.start(home)
    assert json.loads(request(home, {"v": PROTOCOL + 1})) == {"stale": True}
    assert hook_servers.exited(pid)


def test_an_oversized_request_gets_no_answer(tmp_path: Path, hook_servers):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    body = b"x" * (HEADER_LIMIT + MAX_EVENT_BYTES + 16)
    try:
        reply = request(home, {"v": PROTOCOL}, body)
    except (BrokenPipeError, ConnectionResetError):
        reply = b""
    assert reply == b""
    assert permission(via_server(home, EXAMPLE, event("Bash", {"command": "ls"})))


def test_one_server_per_home(tmp_path: Path, hook_servers):
    home = tmp_path / "home"
    first = hook_servers.start(home, EXAMPLE)
    assert not spawn_server(str(home), str(EXAMPLE), wait=True)  # steps aside
    late = [pid for pid in hook_servers.pids(home) if pid != first]
    assert all(hook_servers.exited(pid) for pid in late)
    assert hook_servers.pids(home) == [first]
    assert stop_server(str(home)) == first


def test_an_idle_server_exits_by_itself_and_removes_its_socket(tmp_path: Path):
    home = tmp_path / "home"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "enclosure.integrations._hookd",
            "--home",
            str(home),
            "--idle",
            "0.05",
        ],
        capture_output=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert not Path(socket_path(str(home))).exists()
    assert stat.S_IMODE((home / "hook.lock").stat().st_mode) == 0o600


@pytest.mark.parametrize(
    "argv",
    [
        [],
        ["--home"],
        ["--home", "h", "--idle", "soon"],
        ["--home", "h", "--idle", "0"],
        ["--home", "h", "--bogus", "1"],
        ["--home", "h", "--idle", "nan"],
    ],
)
def test_bad_arguments_exit_2_in_one_line(argv, capsys):
    assert _hookd.main(argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1
    assert err.startswith("_hookd: ")


def test_the_socket_is_private_and_another_user_gets_no_answer(hook_servers):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    base = Path(tempfile.mkdtemp(prefix="hookd-"))
    try:
        base.chmod(0o755)
        home = base / "home"
        hook_servers.start(home, EXAMPLE)
        home.chmod(0o755)
        path = socket_path(str(home))
        assert stat.S_IMODE(Path(path).stat().st_mode) == 0o600
        probe = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "try:\n"
            "    s.connect(sys.argv[1])\n"
            "except PermissionError:\n"
            "    print('refused'); sys.exit()\n"
            "try:\n"
            "    s.sendall(b'{}\\n'); s.shutdown(socket.SHUT_WR)\n"
            "    print('answer:' + s.recv(100).decode())\n"
            "except (BrokenPipeError, ConnectionResetError):\n"
            "    print('answer:')\n"
        )
        run = ["/usr/bin/python3", "-I", "-c", probe, path]  # nobody can run it
        first = subprocess.run(
            run, user=NOBODY, capture_output=True, text=True, timeout=60, check=False
        )
        assert first.stdout.strip() == "refused", first.stderr
        Path(path).chmod(0o666)  # even a socket left open checks who is calling
        second = subprocess.run(
            run, user=NOBODY, capture_output=True, text=True, timeout=60, check=False
        )
        assert second.stdout.strip() == "answer:", second.stderr
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def decided(home: Path) -> list[str]:
    with Enclosure.load(EXAMPLE, home=home) as enc:
        return [e.event.args["command"] for e in enc.log.events(kinds=["decision"])]


def header_for(manifest: Path, **extra) -> dict:
    return {
        "v": PROTOCOL,
        "code": code_fingerprint(),
        "manifest": str(manifest),
        "cwd": "/",
        "env": dict(os.environ),
        **extra,
    }


def test_the_server_signs_its_answers_with_a_private_key_of_the_home(
    tmp_path: Path, hook_servers
):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    key_file = home / KEY_NAME
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    header = header_for(EXAMPLE, nonce="n-1")
    reply = json.loads(request(home, header, event("Bash", {"command": "ls"})))
    assert reply["proof"] == proof(key_file.read_bytes(), "n-1", reply["answer"])
    assert reply["proof"] != proof(key_file.read_bytes(), "n-2", reply["answer"])


def test_a_request_past_its_deadline_is_not_decided(tmp_path: Path, hook_servers):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    late = header_for(EXAMPLE, deadline=1.0)  # long gone
    reply = request(home, late, event("Bash", {"command": "echo late"}))
    assert json.loads(reply) == {"error": "expired"}
    assert permission(via_server(home, EXAMPLE, event("Bash", {"command": "ls"})))
    assert decided(home) == ["ls"]


def test_a_request_whose_client_has_gone_is_not_decided(tmp_path: Path, hook_servers):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    path = socket_path(str(home))
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as busy:
        busy.connect(path)  # the server reads this one first, and waits on it
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as gone:
            gone.connect(path)
            body = event("Bash", {"command": "echo gone"})
            line = json.dumps(header_for(EXAMPLE)).encode() + b"\n"
            gone.sendall(line + body)
            gone.shutdown(socket.SHUT_WR)
        # ``gone`` gave up before the server got to it: it has closed
        busy.sendall(b"x\n")
        busy.shutdown(socket.SHUT_WR)
        assert json.loads(busy.recv(100)) == {"error": "bad request"}
    assert permission(via_server(home, EXAMPLE, event("Bash", {"command": "ls"})))
    assert decided(home) == ["ls"]
