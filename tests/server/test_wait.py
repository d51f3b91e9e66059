"""Waiting agents are woken as soon as another process decides (real processes).

The server runs here; the decision is made by a separate process on the same
database: the CLI on SQLite, the Python API on PostgreSQL (the CLI's approvals
commands open the log under ``--home``), and a second ``enclosure serve`` on both.
The agent's long poll allows 30 s; each test gives the waiter 5 s after the
deciding process has answered, less than the waiter's own fallback re-check
(``RECHECK``), so only the wake-up can pass it.
"""

import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from enclosure.server import ServerClient
from enclosure.server._wait import RECHECK
from enclosure.testing import FakeClock

PROMPTLY = 5.0
ENCLOSURE = [sys.executable, "-c", "from enclosure.cli import entrypoint; entrypoint()"]
DECIDE = """
import sys
from enclosure._desk import ApprovalDesk
from enclosure.audit import DecisionLog
from enclosure.testing import FakeClock
url, action, approval_id, now = sys.argv[1:]
with DecisionLog(url) as log:
    desk = ApprovalDesk(log, clock=FakeClock(epoch=float(now)))
    if action == "expire":
        print([a.approval_id for a in desk.expire()])
    else:
        getattr(desk, action)(approval_id, by="bob", reason="elsewhere")
"""


@pytest.fixture
def clock():
    """The wall clock's present, held still: the other process uses the real one."""
    return FakeClock(epoch=time.time())


def decide_elsewhere(server, approval_id, action, now=None):
    """Decide in a separate process on the same database; return when it exited."""
    if server.db_url.startswith("sqlite") and now is None:
        home = server.db_url.removeprefix("sqlite:///").removesuffix("/enclosure.db")
        argv = [*ENCLOSURE, "--home", home, "approvals", action, approval_id]
        argv += ["--by", "bob"]
    else:
        stamp = str(now if now is not None else time.time())
        argv = [sys.executable, "-c", DECIDE, server.db_url, action, approval_id, stamp]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


def parked_call(server, pool):
    """An agent's ``call(wait=True)`` parked for approval, and its approval id.

    Returns once the server's long poll for the decision has subscribed.
    """
    agent = server.client("agent")
    run_id = agent.start_run("pay")["run_id"]
    requested = {}
    got = threading.Event()

    def observe(_appended, event):
        if event.kind == "approval" and event.action == "requested":
            requested["id"] = event.approval_id
            got.set()

    server.enc.log.subscribe(observe)
    hub = server.server.hub
    listening = threading.Event()
    listen = hub.listen

    def listen_and_tell():
        listener = listen()
        listening.set()
        return listener

    hub.listen = listen_and_tell
    waiting = pool.submit(agent.call, run_id, "pay", {"amount": 7}, wait=True)
    assert got.wait(10)
    assert listening.wait(10)
    return waiting, requested["id"]


def test_the_fallback_recheck_is_slower_than_the_promptness_asked_here():
    assert RECHECK > PROMPTLY


def test_an_approval_by_another_process_wakes_the_waiting_agent(server):
    with ThreadPoolExecutor(1) as pool:
        waiting, approval_id = parked_call(server, pool)
        decide_elsewhere(server, approval_id, "approve")
        result = waiting.result(timeout=PROMPTLY)
    assert result["status"] == "executed"
    assert result["value"] == {"paid": 7}


def test_a_denial_by_another_process_wakes_the_waiting_agent(server):
    with ThreadPoolExecutor(1) as pool:
        waiting, approval_id = parked_call(server, pool)
        decide_elsewhere(server, approval_id, "deny")
        result = waiting.result(timeout=PROMPTLY)
    assert result["status"] == "pending"
    assert result["approval"]["status"] == "denied"
    assert result["approval"]["decided_by"] == "bob"


def test_an_expiry_marked_by_another_process_wakes_the_waiting_agent(server):
    with ThreadPoolExecutor(1) as pool:
        waiting, approval_id = parked_call(server, pool)
        later = server.clock.time() + 3600
        expired = decide_elsewhere(server, approval_id, "expire", now=later)
        assert approval_id in expired
        result = waiting.result(timeout=PROMPTLY)
    assert result["approval"]["status"] == "expired"


def test_a_decision_through_a_second_server_process_wakes_the_waiting_agent(
    server, tmp_path
):
    manifest = tmp_path / "second.yaml"
    manifest.write_text("agent: {name: payer}\n", encoding="utf-8")  # it only decides
    enclosure = str(Path(sys.executable).with_name("enclosure"))
    home = str(tmp_path / "second")
    argv = [enclosure, "--home", home, "serve", "--manifest", str(manifest),
            "--db", server.db_url, "--port", "0"]  # fmt: skip
    second = subprocess.Popen(
        argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    )
    try:
        line = second.stdout.readline()
        assert line.startswith("serving on "), line
        with (
            ThreadPoolExecutor(1) as pool,
            ServerClient(line.split()[-1], server.tokens["approver"]) as bob,
        ):
            waiting, approval_id = parked_call(server, pool)
            assert bob.approve(approval_id)["status"] == "approved"
            result = waiting.result(timeout=PROMPTLY)
        assert result["status"] == "executed"
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(30)
        second.stdout.close()


def test_a_waiter_expires_an_overdue_approval_itself(server):
    agent = server.client("agent")
    run_id = agent.start_run("pay")["run_id"]
    parked = agent.call(run_id, "pay", {"amount": 7})
    server.clock.advance(61)  # past the 60 s TTL; no sweep runs in these tests
    with ThreadPoolExecutor(1) as pool:
        approval_id = parked["approval_id"]
        waiting = pool.submit(agent.wait_for_decision, approval_id, timeout=30)
        decided = waiting.result(timeout=PROMPTLY)
    assert decided["status"] == "expired"
    actions = [
        e.event.action
        for e in server.enc.log.events(kinds=["approval"])
        if e.event.approval_id == parked["approval_id"]
    ]
    assert actions == ["requested", "expired"]
