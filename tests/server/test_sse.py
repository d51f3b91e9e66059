import contextlib
import json
import subprocess
import sys
import threading

import httpx
import pytest

from enclosure.server._sse import format_message
from enclosure.testing import decision_event


class Stream:
    """An SSE stream read message by message (each read bounded by 10 s)."""

    def __init__(self, server, role="viewer", **params):
        headers = {"Authorization": f"Bearer {server.tokens[role]}"}
        if "last_event_id" in params:
            value = params.pop("last_event_id")
            headers["Last-Event-ID"] = value if isinstance(value, bytes) else str(value)
        self._client = httpx.Client(timeout=10)
        self._cm = self._client.stream(
            "GET", server.url + "/api/events", headers=headers, params=params
        )
        self.response = self._cm.__enter__()
        self._lines = self.response.iter_lines()

    def next(self):
        fields = {}
        for line in self._lines:
            if not line:
                if "data" in fields:
                    return {**fields, "data": json.loads(fields["data"])}
                fields = {}
                continue
            name, _, value = line.partition(":")
            fields[name] = value.removeprefix(" ")
        return None

    def until(self, predicate):
        while (message := self.next()) is not None:
            if predicate(message):
                return message
        raise AssertionError("the stream ended first")

    def close(self):
        self._cm.__exit__(None, None, None)
        self._client.close()


def test_a_message_carries_the_seq_kind_and_event():
    text = format_message(7, "h" * 64, decision_event(1)).decode()
    assert text.startswith("id: 7\nevent: decision\ndata: ")
    assert json.loads(text.split("data: ")[1])["event"]["call_id"] == "call-1"


def test_live_events_arrive_as_they_are_stored(server):
    stream = Stream(server)
    assert stream.response.headers["content-type"].startswith("text/event-stream")
    run_id = server.client("agent").start_run("t")["run_id"]
    message = stream.until(lambda m: m["event"] == "run_started")
    assert message["data"]["event"]["run_id"] == run_id
    assert message["id"] == str(message["data"]["seq"])
    stream.close()


def test_a_reconnecting_client_gets_what_it_missed_then_live_events(server):
    agent = server.client("agent")
    first = agent.start_run("one")["run_id"]
    second = agent.start_run("two")["run_id"]
    stored = server.enc.log.events(run_id=first)
    stream = Stream(server, last_event_id=stored[-1].seq)
    seen = stream.until(lambda m: m["event"] == "run_started")
    assert seen["data"]["event"]["run_id"] == second
    third = agent.start_run("three")["run_id"]
    seen = stream.until(lambda m: m["event"] == "run_started")
    assert seen["data"]["event"]["run_id"] == third
    stream.close()


@pytest.mark.parametrize("odd", [b"\xb2", b"9" * 30, b"-1"])
def test_an_odd_last_event_id_replays_from_the_start(server, odd):
    run_id = server.client("agent").start_run("t")["run_id"]
    stream = Stream(server, last_event_id=odd)
    assert stream.response.status_code == 200
    seen = stream.until(lambda m: m["event"] == "run_started")
    assert seen["data"]["event"]["run_id"] == run_id
    stream.close()


def test_a_stream_can_follow_one_run(server):
    agent = server.client("agent")
    run_id = agent.start_run("watched")["run_id"]
    stream = Stream(server, run_id=run_id)
    agent.start_run("other")
    agent.call(run_id, "lookup", {"key": "k"})
    message = stream.until(lambda m: m["event"] == "result")
    assert message["data"]["event"]["run_id"] == run_id
    stream.close()


def test_a_kill_is_announced_live(server):
    run_id = server.client("agent").start_run("t")["run_id"]
    stream = Stream(server)
    server.client("operator").kill(run_id, "runaway")
    kill = stream.until(lambda m: m["event"] == "kill")
    assert kill["data"]["event"]["run_id"] == run_id
    stream.close()


def test_stopping_the_server_ends_open_streams(server):
    stream = Stream(server)
    ended = threading.Event()

    def drain():
        while stream.next() is not None:
            pass
        ended.set()

    reader = threading.Thread(target=drain)
    reader.start()
    server.server.stop()
    assert ended.wait(10)
    reader.join(10)
    stream.close()


REQUEST_ELSEWHERE = """
import sys
from enclosure._desk import ApprovalDesk
from enclosure.audit import DecisionLog
url, run_id = sys.argv[1:]
with DecisionLog(url) as log:
    approval = ApprovalDesk(log).request(
        run_id=run_id, tool="pay", args={}, binding_sha256="0" * 64,
        rule="r", reason="from another process", ttl=60, requested_by="ada",
    )
print(approval.approval_id)
"""


def test_events_another_process_stores_appear_live(server):
    run_id = server.client("agent").start_run("t")["run_id"]
    stream = Stream(server, run_id=run_id)
    stream.until(lambda m: m["event"] == "run_started")
    done = subprocess.run(
        [sys.executable, "-c", REQUEST_ELSEWHERE, server.db_url, run_id],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    seen = stream.until(lambda m: m["event"] == "approval")
    assert seen["data"]["event"]["approval_id"] == done.stdout.strip()
    server.client("agent").call(run_id, "lookup", {"key": "k"})
    later = stream.until(lambda m: m["event"] == "result")
    assert later["data"]["seq"] > seen["data"]["seq"]
    stream.close()


def test_a_stream_ends_once_its_token_is_revoked(server):
    server.server.app.state.enclosure.heartbeat = 0.2  # credential checks, too
    stream = Stream(server)
    assert stream.response.status_code == 200
    admin = server.client("admin")
    viewer = next(
        t for t in admin.request("GET", "/api/tokens")["tokens"] if t["name"] == "vic"
    )
    admin.request("POST", f"/api/tokens/{viewer['token_id']}/revoke")
    server.client("agent").start_run("after the revocation")
    # What arrives before the next check may still be sent; then the stream ends
    # (a stream that went on would time a read out after 10 s and fail here).
    while stream.next() is not None:
        pass
    stream.close()


def _viewer_token_id(server):
    tokens = server.client("admin").request("GET", "/api/tokens")["tokens"]
    return next(t["token_id"] for t in tokens if t["name"] == "vic")


def _until_end(stream):
    """Every message up to the stream's end (a read that waits 10 s fails)."""
    seen = []
    while (message := stream.next()) is not None:
        seen.append(message)
    return seen


def test_revoking_a_token_here_ends_its_streams_before_another_event(server):
    # The heartbeat stays at its 15 s: the revocation itself asks the stream.
    stream = Stream(server)
    agent = server.client("agent")
    before = agent.start_run("before")["run_id"]
    stream.until(lambda m: m["data"]["event"]["run_id"] == before)
    token_id = _viewer_token_id(server)
    server.client("admin").request("POST", f"/api/tokens/{token_id}/revoke")
    after = agent.start_run("after the revocation")["run_id"]
    sent = _until_end(stream)
    assert all(m["data"]["event"]["run_id"] != after for m in sent)
    stream.close()


REVOKE_ELSEWHERE = """
import sys
from enclosure.audit import DecisionLog
url, token_id = sys.argv[1:]
with DecisionLog(url) as log:
    assert log.revoke_token(token_id, now=0.0)
"""


def test_a_token_revoked_by_another_process_gets_no_further_event(server):
    state = server.server.app.state.enclosure
    state.recheck = 0.0  # ask before every event (1 s by default)
    stream = Stream(server)
    agent = server.client("agent")
    before = agent.start_run("before")["run_id"]
    stream.until(lambda m: m["data"]["event"]["run_id"] == before)
    subprocess.run(
        [
            sys.executable,
            "-c",
            REVOKE_ELSEWHERE,
            server.db_url,
            _viewer_token_id(server),
        ],
        check=True,
        timeout=60,
    )
    after = agent.start_run("after the revocation")["run_id"]
    sent = _until_end(stream)
    assert all(m["data"]["event"]["run_id"] != after for m in sent)
    stream.close()


@contextlib.contextmanager
def calling(agent, run_id):
    """Another run making calls back to back (events for other streams) meanwhile.

    Yields an event set once the first call is done.
    """
    started, stop = threading.Event(), threading.Event()

    def calls() -> None:
        while not stop.is_set():
            agent.call(run_id, "lookup", {"key": "k"})
            started.set()

    caller = threading.Thread(target=calls, daemon=True)
    caller.start()
    try:
        yield started
    finally:
        stop.set()
        caller.join(10)


def test_a_run_stream_asks_while_other_runs_are_busy(server):
    # Events of other runs wake the stream but are not for it, and keep it from
    # ever idling: it must still ask at least every heartbeat, so a revocation
    # made elsewhere ends it while the other run goes on.
    server.server.app.state.enclosure.heartbeat = 0.3
    agent = server.client("agent")
    watched = agent.start_run("watched")["run_id"]
    stream = Stream(server, run_id=watched)
    stream.until(lambda m: m["event"] == "run_started")
    busy, ended = agent.start_run("busy")["run_id"], threading.Event()

    def drain() -> None:
        _until_end(stream)
        ended.set()

    threading.Thread(target=drain, daemon=True).start()
    with calling(agent, busy) as started:
        assert started.wait(10)
        viewer = _viewer_token_id(server)
        subprocess.run(
            [sys.executable, "-c", REVOKE_ELSEWHERE, server.db_url, viewer],
            check=True,
            timeout=60,
        )
        try:
            assert ended.wait(10)  # while the other run is still calling
        finally:
            stream.close()


def test_a_revocation_here_stops_a_backlog_being_read(server):
    state = server.server.app.state.enclosure
    state.recheck = 60.0  # the revocation alone must stop it
    server.enc.log.append_many(
        [decision_event(n, run_id="bulk") for n in range(1, 20_001)]
    )
    stream = Stream(server, after=0)
    assert stream.next() is not None  # reading the backlog; the client waits here
    token_id = _viewer_token_id(server)
    server.client("admin").request("POST", f"/api/tokens/{token_id}/revoke")
    after = server.client("agent").start_run("after the revocation")["run_id"]
    sent = _until_end(stream)
    assert len(sent) < 20_000
    assert all(m["data"]["event"]["run_id"] != after for m in sent)
    stream.close()


def test_revoking_another_token_asks_no_stream(server, monkeypatch):
    agent = server.client("agent")
    first = agent.start_run("first")["run_id"]
    stream = Stream(server)
    stream.until(lambda m: m["data"]["event"]["run_id"] == first)
    # A run's stream reads its next event from the log whenever other runs'
    # events came in between: a review saw any revocation make it ask then.
    watching = Stream(server, run_id=first)
    watching.until(lambda m: m["event"] == "run_started")
    admin = server.client("admin")
    other = admin.request("POST", "/api/tokens", {"name": "tmp", "role": "viewer"})
    second = agent.start_run("second")["run_id"]
    asked = []
    find = server.enc.log.find_token
    monkeypatch.setattr(
        server.enc.log, "find_token", lambda digest: asked.append(1) or find(digest)
    )
    admin.request("POST", f"/api/tokens/{other['token_id']}/revoke")
    agent.call(first, "lookup", {"key": "k"})
    stream.until(lambda m: m["event"] == "result")
    watching.until(lambda m: m["event"] == "result")
    assert second
    assert len(asked) == 2  # the revocation's and the agent's requests: none more
    stream.close()
    watching.close()


def test_live_events_queued_before_a_revocation_here_are_not_sent(server):
    state = server.server.app.state.enclosure
    state.recheck = 60.0  # the revocation alone must stop it
    stream = Stream(server)
    agent = server.client("agent")
    first = agent.start_run("first")["run_id"]
    stream.until(lambda m: m["data"]["event"]["run_id"] == first)
    # The client reads no further: what follows queues up in the server, far
    # more (~16 MB) than the sockets' buffers hold.
    server.enc.log.append_many(
        [decision_event(n, run_id="bulk") for n in range(1, 20_001)]
    )
    token_id = _viewer_token_id(server)
    server.client("admin").request("POST", f"/api/tokens/{token_id}/revoke")
    after = agent.start_run("after the revocation")["run_id"]
    sent = _until_end(stream)
    assert len(sent) < 20_000  # what the buffers held, then the end
    assert all(m["data"]["event"]["run_id"] != after for m in sent)
    stream.close()


def test_a_run_stream_gets_its_heartbeat_while_other_runs_are_busy(server):
    # Events of other runs wake the stream but send nothing: a proxy's idle
    # timeout would cut it unless the heartbeat still goes out.
    server.server.app.state.enclosure.heartbeat = 0.3
    agent = server.client("agent")
    watched = agent.start_run("watched")["run_id"]
    busy = agent.start_run("busy")["run_id"]
    headers = {"Authorization": f"Bearer {server.tokens['viewer']}"}
    beats = 0
    with (
        httpx.Client(timeout=10) as client,
        client.stream(
            "GET",
            server.url + "/api/events",
            headers=headers,
            params={"run_id": watched},
        ) as response,
        calling(agent, busy),
    ):
        for line in response.iter_lines():
            beats += line == ": heartbeat"
            if beats == 2:
                break
    assert beats == 2


def test_a_stream_with_a_valid_token_goes_on_past_its_checks(server):
    server.server.app.state.enclosure.heartbeat = 0.05
    stream = Stream(server)
    agent = server.client("agent")
    for n in range(3):
        run_id = agent.start_run(f"t{n}")["run_id"]
        found = stream.until(lambda m, r=run_id: m["data"]["event"]["run_id"] == r)
        assert found["event"] == "run_started"
    stream.close()
