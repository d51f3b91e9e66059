"""The hook's light client: when it asks the server, and how it fails closed."""

import json
import os
import socket
import subprocess
import sys
import tempfile
import threading
from pathlib import Path

import pytest

from enclosure.integrations import _hook_client
from enclosure.integrations._hook_client import (
    KEY_NAME,
    MAX_EVENT_BYTES,
    answer,
    ask,
    code_fingerprint,
    proof,
    socket_path,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "claude-code" / "enclosure.yaml"
NOBODY = 65534


def event(name: str = "PreToolUse", command: str = "ls") -> bytes:
    return json.dumps(
        {
            "session_id": "s-1",
            "cwd": "/work/proj",
            "hook_event_name": name,
            "tool_name": "Bash",
            "tool_input": {"command": command},
        }
    ).encode()


@pytest.fixture(autouse=True)
def _env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLAUDE_PROJECT_DIR", "/work/proj")
    monkeypatch.delenv("ENCLOSURE_HOOK_SERVER", raising=False)


KEY = b"k" * 64


class FakeServer:
    """A listener on the home's socket that answers one request with ``reply``.

    It knows the home's key (``KEY``, written for it) unless ``key`` is ``None``;
    ``answer`` is sent as a server of ours would, signed with ``sign_with``.
    """

    def __init__(
        self,
        home: Path,
        reply: bytes | None = None,
        *,
        answer: dict | None = None,
        key: bytes | None = KEY,
        sign_with: bytes = KEY,
    ) -> None:
        home.mkdir(parents=True, exist_ok=True)
        if key is not None:
            (home / KEY_NAME).write_bytes(key)
        self.answer, self.sign_with = answer, sign_with
        self.listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        Path(socket_path(str(home))).unlink(missing_ok=True)
        self.listener.bind(socket_path(str(home)))
        self.listener.listen(1)
        self.reply = reply
        self.received = b""
        self.thread = threading.Thread(target=self._serve)
        self.thread.start()

    def _serve(self) -> None:
        conn, _ = self.listener.accept()
        with conn:
            while chunk := conn.recv(65536):
                self.received += chunk
            if self.answer is not None:
                nonce = json.loads(self.received.partition(b"\n")[0])["nonce"]
                signed = proof(self.sign_with, nonce, self.answer)
                self.reply = json.dumps({"answer": self.answer, "proof": signed})
                self.reply = self.reply.encode()
            if self.reply is not None:
                conn.sendall(self.reply)

    def join(self) -> None:
        self.thread.join(timeout=30)
        self.listener.close()


def deny_reason(text: str) -> str:
    output = json.loads(text)["hookSpecificOutput"]
    assert output["permissionDecision"] == "deny"
    return output["permissionDecisionReason"]


def test_without_a_server_the_hook_decides_here_and_starts_one(
    tmp_path: Path, hook_servers
):
    home = hook_servers.watch(tmp_path / "home")
    home.mkdir()
    text = answer(event(), EXAMPLE, home)
    assert json.loads(text)["hookSpecificOutput"]["permissionDecision"] == "allow"
    (pid,) = hook_servers.pids(home)  # started, not waited for
    assert pid != os.getpid()


def test_off_and_no_server_decide_here_and_start_nothing(
    tmp_path: Path, hook_servers, monkeypatch: pytest.MonkeyPatch
):
    home = hook_servers.watch(tmp_path / "home")
    home.mkdir()
    assert "allow" in answer(event(), EXAMPLE, home, server=False)
    monkeypatch.setenv("ENCLOSURE_HOOK_SERVER", "off")
    assert ask(event(), str(EXAMPLE), str(home)) is None
    assert "allow" in answer(event(), EXAMPLE, home)
    assert hook_servers.pids(home) == []


def test_a_home_that_does_not_exist_yet_starts_no_server(tmp_path: Path, hook_servers):
    home = hook_servers.watch(tmp_path / "new-home")
    assert "allow" in answer(event(), EXAMPLE, home)  # decided here; home made
    assert hook_servers.pids(home) == []


def test_an_oversized_event_is_denied_here_unsent(tmp_path: Path, hook_servers):
    home = hook_servers.watch(tmp_path / "home")
    home.mkdir()
    text = answer(b"x" * (MAX_EVENT_BYTES + 1), EXAMPLE, home)
    assert "larger than" in deny_reason(text)
    assert hook_servers.pids(home) == []  # not even a server started for it


@pytest.mark.parametrize(
    ("reply", "why"),
    [
        (None, "answered garbage"),  # hangs up without a word
        (b"not json", "answered garbage"),
        (b"[1, 2]", "answered garbage"),
        (b'{"answer": 3}', "answered garbage"),
    ],
)
def test_a_server_that_fails_after_the_event_was_sent_is_a_deny(
    reply, why, tmp_path: Path
):
    home = tmp_path / "home"
    fake = FakeServer(home, reply)
    text = answer(event(), EXAMPLE, home)
    fake.join()
    assert b'"tool_name": "Bash"' in fake.received  # it was sent ...
    reason = deny_reason(text)  # ... so it is not decided a second time here
    assert "E-HOOK-SERVER" in reason
    assert why in reason
    assert "\n" not in reason


def test_after_the_call_a_failed_server_answers_nothing(tmp_path: Path):
    home = tmp_path / "home"
    fake = FakeServer(home, b"garbage")
    text = answer(event("PostToolUse"), EXAMPLE, home)
    fake.join()
    assert text == "{}"


def test_the_request_carries_the_callers_code_manifest_directory_and_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    home = tmp_path / "home"
    monkeypatch.setenv("SOME_SECRET_NAME", "value-1")
    monkeypatch.chdir(tmp_path)
    fake = FakeServer(home, answer={"continue": True})
    relative = Path(os.path.relpath(EXAMPLE, tmp_path))
    assert ask(event(), str(relative), str(home)) == b'{"continue": true}'
    fake.join()
    line, _, body = fake.received.partition(b"\n")
    header = json.loads(line)
    assert header["code"] == code_fingerprint()
    assert header["manifest"] == str(EXAMPLE)
    assert header["cwd"] == str(tmp_path)
    assert header["env"]["SOME_SECRET_NAME"] == "value-1"
    assert body == event()


def test_a_server_that_cannot_prove_its_answer_is_a_deny(tmp_path: Path):
    home = tmp_path / "home"
    allow = {"hookSpecificOutput": {"permissionDecision": "allow"}}
    fake = FakeServer(home, answer=allow, sign_with=b"not the home's key")
    text = answer(event(), EXAMPLE, home)
    fake.join()
    assert "could not prove itself" in deny_reason(text)
    unsigned = FakeServer(home, json.dumps({"answer": allow}).encode())
    text = answer(event(), EXAMPLE, home)
    unsigned.join()
    assert "could not prove itself" in deny_reason(text)


def test_a_socket_with_no_key_in_the_home_is_not_told_the_event(
    tmp_path: Path, hook_servers
):
    home = hook_servers.watch(tmp_path / "home")
    fake = FakeServer(home, key=None)
    text = answer(event(), EXAMPLE, home)  # connected, then decided here
    fake.join()
    assert json.loads(text)["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert fake.received == b""


def test_a_stale_server_is_left_to_step_down_and_the_event_decided_here(
    tmp_path: Path, hook_servers
):
    home = hook_servers.watch(tmp_path / "home")
    fake = FakeServer(home, b'{"stale": true}')
    text = answer(event(), EXAMPLE, home)
    fake.join()
    assert json.loads(text)["hookSpecificOutput"]["permissionDecision"] == "allow"


def test_a_socket_path_too_long_for_unix_sockets_decides_here(
    tmp_path: Path, hook_servers
):
    home = hook_servers.watch(tmp_path / ("h" * 120))
    home.mkdir()
    assert "allow" in answer(event(), EXAMPLE, home)
    assert hook_servers.pids(home) == []


def test_the_fingerprint_follows_every_source_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    package = tmp_path / "pkg"
    (package / "sub").mkdir(parents=True)
    (package / "a.py").write_text("x = 1\n")
    (package / "sub" / "b.py").write_text("y = 1\n")
    monkeypatch.setattr(_hook_client, "_PACKAGE", str(package))
    before = code_fingerprint()
    assert code_fingerprint() == before
    (package / "sub" / "b.py").write_text("y = 22\n")
    assert code_fingerprint() != before
    (package / "notes.txt").write_text("not code")
    changed = code_fingerprint()
    assert code_fingerprint() == changed


def test_a_socket_held_by_another_user_is_never_told_the_event(hook_servers):
    if os.getuid() != 0:
        pytest.skip("needs root to act as another user")
    base = Path(tempfile.mkdtemp(prefix="hookc-"))
    try:
        home = hook_servers.watch(base / "home")
        home.mkdir()
        base.chmod(0o755)
        home.chmod(0o777)  # a home another user can write: the case to survive
        impostor = (
            "import socket, sys\n"
            "s = socket.socket(socket.AF_UNIX)\n"
            "s.bind(sys.argv[1]); s.listen(1)\n"
            "print('ready', flush=True)\n"
            "c, _ = s.accept(); c.settimeout(5)\n"
            "try:\n"
            "    data = c.recv(100)\n"
            "except OSError:\n"
            "    data = b''\n"
            "print('got:' + data.decode(errors='replace'), flush=True)\n"
            "try:\n"
            '    c.sendall(b\'{"answer": {"continue": true}}\')\n'
            "except OSError:\n"
            "    pass\n"
        )
        proc = subprocess.Popen(
            ["/usr/bin/python3", "-I", "-c", impostor, socket_path(str(home))],
            user=NOBODY,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert proc.stdout is not None
        assert proc.stdout.readline().strip() == "ready"
        assert ask(event(command="cat secrets"), str(EXAMPLE), str(home)) is None
        out, _ = proc.communicate(timeout=30)
        assert out.strip() == "got:"  # connected to, told nothing
    finally:
        subprocess.run(["rm", "-rf", str(base)], check=False)


def test_the_light_path_loads_no_heavy_library(tmp_path: Path, hook_servers):
    home = tmp_path / "home"
    hook_servers.start(home, EXAMPLE)
    probe = (
        "import sys\n"
        "from enclosure.integrations._hook_client import answer\n"
        "text = answer(sys.stdin.buffer.read(), sys.argv[1], sys.argv[2])\n"
        "heavy = {'pydantic', 'sqlalchemy', 'click', 'cel', 'yaml', 'rich'}\n"
        "print(text)\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe, str(EXAMPLE), str(home)],
        input=event(),
        capture_output=True,
        timeout=60,
        check=True,
    )
    text, loaded = done.stdout.decode().splitlines()
    assert json.loads(text)["hookSpecificOutput"]["permissionDecision"] == "allow"
    assert loaded == "[]"
