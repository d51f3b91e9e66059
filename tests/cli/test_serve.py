import os
import signal
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from enclosure.audit import ApprovalEvent, DecisionLog
from enclosure.cli._serve import serve_command, tokens
from enclosure.server import ServerClient, ServerError

MANIFEST = """\
agent: {name: payer}
tools:
  pay: {mode: approve, handler: 'json:dumps'}
approvals: {ttl: 3600s}
"""


def token(enclosure, home, db_url, name, role):
    result = enclosure(
        "--home", home, "tokens", "create", name, "--role", role, "--db", db_url
    )
    assert result.status == 0, result.err
    return result.out.strip()


class Served:
    """``enclosure serve --port 0`` in a child process; its URL from its first line."""

    def __init__(self, home, manifest, db_url):
        enclosure = str(Path(sys.executable).with_name("enclosure"))
        argv = [enclosure, "--home", str(home), "serve",
                "--manifest", str(manifest), "--db", db_url, "--port", "0"]  # fmt: skip
        self.process = subprocess.Popen(
            argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
        )
        line = self.process.stdout.readline()
        if not line.startswith("serving on "):
            self.stop(signal.SIGKILL)
            pytest.fail(f"enclosure serve did not start: {line!r}")
        self.url = line.split()[-1]

    def stop(self, sig=signal.SIGTERM):
        if self.process.poll() is None:
            self.process.send_signal(sig)
        assert self.process.wait(30) is not None
        self.process.stdout.close()


@pytest.fixture
def served(tmp_path, db_url, enclosure):
    home = tmp_path / "home"
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    tokens = {
        role: token(enclosure, home, db_url, name, role)
        for role, name in [("agent", "ada"), ("approver", "bob"), ("admin", "ann")]
    }
    server = Served(home, manifest, db_url)
    yield server, tokens, db_url
    server.stop()


def test_the_commands_are_named_serve_and_tokens():
    assert (serve_command.name, tokens.name) == ("serve", "tokens")


def test_serving_every_interface_needs_the_names_clients_use(enclosure, tmp_path):
    manifest = tmp_path / "enclosure.yaml"
    manifest.write_text(MANIFEST, encoding="utf-8")
    result = enclosure(
        "--home", tmp_path / "home", "serve", "--manifest", manifest,
        "--host", "0.0.0.0", "--port", "0",  # noqa: S104 -- refused before binding
    )  # fmt: skip
    assert result.status == 2
    [line] = result.err_lines()
    assert line.startswith("enclosure: E-USAGE-HOST: ")


def test_tokens_are_created_listed_and_revoked(enclosure, tmp_path):
    home = tmp_path / "home"
    url = f"sqlite:///{tmp_path / 'e.db'}"
    secret = token(enclosure, home, url, "bob", "approver")
    assert secret.startswith("enc_")
    listed = enclosure("tokens", "list", "--db", url)
    assert "bob" in listed.out
    assert secret not in listed.out
    token_id = listed.out.split()[0]
    assert enclosure("tokens", "revoke", token_id, "--db", url).status == 0
    again = enclosure("tokens", "revoke", token_id, "--db", url)
    assert again.status == 2
    assert again.err.startswith("enclosure: E-TOKEN-UNKNOWN: ")
    bad = enclosure("tokens", "create", "x", "--role", "root", "--db", url)
    assert bad.status == 2


def test_enclosure_serve_answers_on_the_port_it_prints_and_stops_on_sigterm(served):
    server, tokens, _ = served
    with ServerClient(server.url, tokens["agent"]) as agent:
        run = agent.start_run("t")
        assert run["started_by"] == "ada"
    server.stop()
    assert server.process.returncode == 0


def test_sigkill_mid_load_loses_no_acknowledged_approval_or_event(served):
    server, tokens, db_url = served
    agent = ServerClient(server.url, tokens["agent"])
    run_id = agent.start_run("load")["run_id"]
    ids = [agent.call(run_id, "pay", {"obj": n})["approval_id"] for n in range(40)]
    assert None not in ids
    acknowledged = []
    lock = threading.Lock()
    killed = threading.Event()

    def approve(chunk):
        with ServerClient(server.url, tokens["approver"]) as bob:
            for approval_id in chunk:
                try:
                    bob.approve(approval_id, reason="load")
                except (ServerError, OSError, Exception):  # noqa: BLE001 -- the kill
                    return
                with lock:
                    acknowledged.append(approval_id)
                    if len(acknowledged) == 15:
                        killed.set()

    threads = [threading.Thread(target=approve, args=(ids[i::4],)) for i in range(4)]
    for t in threads:
        t.start()
    assert killed.wait(30)
    os.kill(server.process.pid, signal.SIGKILL)
    for t in threads:
        t.join(30)
    server.stop()
    agent.close()
    with DecisionLog(db_url) as log:
        assert log.verify().ok
        for approval_id in acknowledged:
            assert log.get_approval(approval_id).status == "approved"
        decided = {
            s.event.approval_id
            for s in log.events(kinds=["approval"])
            if isinstance(s.event, ApprovalEvent) and s.event.action == "approved"
        }
        assert set(acknowledged) <= decided
