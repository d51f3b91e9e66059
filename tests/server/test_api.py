import json
import threading

import httpx
import pytest
from sqlalchemy import event as sa_event

from enclosure.artifacts import Quarantine
from enclosure.audit import ApprovalEvent
from enclosure.errors import AuditUnavailable
from enclosure.server import ROLES, ServerError
from enclosure.server._api import MAX_BODY, ROUTES
from enclosure.server._auth import GRANTS


def parked(server, amount=3):
    agent = server.client("agent")
    run = agent.start_run("pay the invoice")
    result = agent.call(run["run_id"], "pay", {"amount": amount})
    assert result["status"] == "pending"
    return agent, run["run_id"], result["approval_id"]


def raw(server, method, path, token=None, **kw):
    headers = kw.pop("headers", {})
    if token is not None:
        headers["Authorization"] = f"Bearer {token}"
    return httpx.request(method, server.url + path, headers=headers, **kw)


def with_artifact(server, run_id, tmp_path):
    """Give ``run_id`` a quarantine holding one added file; return its id."""
    out = tmp_path / f"out-{run_id}"
    quarantine = Quarantine.create(server.enc.quarantine_root, run_id, [out])
    (quarantine.mounts[0].host / "new.txt").write_text("new\n", encoding="utf-8")
    [artifact] = quarantine.scan()
    return artifact.id


def fill(path, ids):
    for name, value in ids.items():
        path = path.replace("{" + name + "}", value)
    return path


BODIES = {
    "/api/runs": {"task": "t"},
    "/api/runs/{run_id}/calls": {"tool": "lookup", "args": {"key": "k"}},
    "/api/runs/{run_id}/kill": {"reason": "stop"},
    "/api/runs/{run_id}/escalations": {"tool": "wire", "justification": "refund"},
    "/api/approvals/{approval_id}/approve": {"reason": "ok"},
    "/api/approvals/{approval_id}/deny": {"reason": "no"},
    "/api/tokens": {"name": "new", "role": "viewer"},
    "/api/manifests/check": {"text": "agent: {name: a}"},
    "/api/manifests": {"text": "agent: {name: a}"},
    "/api/runs/{run_id}/artifacts/{artifact_id}/promote": {},
    "/api/runs/{run_id}/artifacts/{artifact_id}/reject": {"reason": "no"},
}


@pytest.mark.parametrize("role", ROLES)
def test_every_endpoint_admits_exactly_the_roles_granted_it(server, role, tmp_path):
    token = server.tokens[role]
    server.client("admin").request(
        "POST", "/api/manifests", {"text": "agent: {name: a}"}
    )
    for endpoint in ROUTES:
        # A fresh run, approval and token for each request, so one that succeeds
        # does not change what the next one sees.
        _, run_id, approval_id = parked(server)
        victim = server.client("admin").request(
            "POST", "/api/tokens", {"name": "x", "role": "viewer"}
        )
        ids = {
            "run_id": run_id,
            "approval_id": approval_id,
            "token_id": victim["token_id"],
            "version": "1",
            "a": "1",
            "b": "1",
            "artifact_id": with_artifact(server, run_id, tmp_path),
        }
        path = fill(endpoint.path, ids)
        if endpoint.path == "/api/approvals/{approval_id}/wait":
            path += "?timeout=0"
        response = raw(
            server, endpoint.method, path, token, json=BODIES.get(endpoint.path)
        )
        where = f"{endpoint.method} {endpoint.path} as {role}"
        if role in GRANTS[endpoint.permission]:
            if endpoint.path.endswith("/calls"):
                # an agent may call only in its own runs; the fixture's agent is ada
                assert response.status_code == 200, where
            else:
                assert response.status_code in (200, 201), (where, response.text)
        else:
            assert response.status_code == 403, where
            assert response.json()["error"]["code"] == "E-AUTH-ROLE", where


def test_requests_without_a_valid_token_are_refused_with_a_code(server, clock):
    expiring = server.client("admin").request(
        "POST", "/api/tokens", {"name": "tmp", "role": "viewer", "ttl_seconds": 10}
    )
    revoked = server.client("admin").request(
        "POST", "/api/tokens", {"name": "gone", "role": "viewer"}
    )
    server.client("admin").request("POST", f"/api/tokens/{revoked['token_id']}/revoke")
    clock.advance(11)
    cases = {
        None: "E-AUTH-MISSING",
        "enc_not-a-token": "E-AUTH-INVALID",
        "garbage": "E-AUTH-INVALID",
        expiring["token"]: "E-AUTH-EXPIRED",
        revoked["token"]: "E-AUTH-REVOKED",
    }
    for endpoint in ROUTES:
        for token, code in cases.items():
            response = raw(server, endpoint.method, fill(endpoint.path, {}), token)
            assert response.status_code == 401
            assert response.json()["error"]["code"] == code


def test_an_approved_call_runs_once_with_exactly_its_arguments(server):
    agent, run_id, approval_id = parked(server)
    decided = server.client("approver").approve(approval_id, reason="invoice ok")
    assert (decided["status"], decided["decided_by"]) == ("approved", "bob")
    other = agent.call(run_id, "pay", {"amount": 4}, approval_id=approval_id)
    assert other["status"] == "blocked"  # bound to amount 3: cannot release 4
    done = agent.call(run_id, "pay", {"amount": 3}, approval_id=approval_id)
    assert (done["status"], done["value"]) == ("executed", {"paid": 3})
    again = agent.call(run_id, "pay", {"amount": 3}, approval_id=approval_id)
    assert again["status"] == "blocked"  # single use
    actions = [
        (s.event.action, s.event.by)
        for s in server.enc.log.events(kinds=["approval"])
        if isinstance(s.event, ApprovalEvent)
    ]
    assert ("approved", "bob") in actions
    assert ("consumed", "bob") in actions or actions[-1][0] == "consumed"


def test_a_denial_names_the_approver_and_the_call_stays_refused(server):
    agent, run_id, approval_id = parked(server)
    denied = server.client("approver").deny(approval_id, reason="too much")
    assert (denied["status"], denied["decided_by"]) == ("denied", "bob")
    assert denied["decision_reason"] == "too much"
    refused = agent.call(run_id, "pay", {"amount": 3}, approval_id=approval_id)
    assert refused["status"] == "blocked"
    with pytest.raises(ServerError) as exc:
        server.client("approver").approve(approval_id)
    assert (exc.value.status, exc.value.code) == (409, "E-APPROVAL-DECIDED")


def test_the_identity_that_started_a_run_cannot_approve_its_calls(server):
    _, _run_id, approval_id = parked(server)
    server.client("admin").request("GET", "/api/tokens")
    ada_approver = server.client("admin").request(
        "POST", "/api/tokens", {"name": "ada", "role": "approver"}
    )
    with pytest.raises(ServerError) as exc:
        server.client(token=ada_approver["token"]).approve(approval_id)
    assert (exc.value.status, exc.value.code) == (403, "E-APPROVAL-SELF")
    assert (
        server.client().request("GET", f"/api/approvals/{approval_id}")["status"]
        == "pending"
    )


def test_an_approval_past_its_expiry_is_denied(server, clock):
    agent, run_id, approval_id = parked(server)
    clock.advance(61)
    with pytest.raises(ServerError) as exc:
        server.client("approver").approve(approval_id)
    assert (exc.value.status, exc.value.code) == (409, "E-APPROVAL-EXPIRED")
    listed = server.client().request("GET", "/api/approvals", params={"run_id": run_id})
    assert [a["status"] for a in listed["approvals"]] == ["expired"]
    refused = agent.call(run_id, "pay", {"amount": 3}, approval_id=approval_id)
    assert refused["status"] == "blocked"


def test_approvals_and_runs_survive_a_server_restart(server):
    _, run_id, approval_id = parked(server)
    server.restart()
    server.client("approver").approve(approval_id)
    done = server.client("agent").call(
        run_id, "pay", {"amount": 3}, approval_id=approval_id
    )
    assert done["status"] == "executed"
    assert server.client().request("GET", "/api/audit")["ok"]


def test_an_operator_kills_a_run_and_its_later_calls_are_refused(server):
    agent = server.client("agent")
    run_id = agent.start_run("t")["run_id"]
    killed = server.client("operator").kill(run_id, "runaway")
    assert killed["status"] == "killed"
    assert "olga" in killed["end_reason"]
    [kill] = [s.event for s in server.enc.log.events(run_id=run_id, kinds=["kill"])]
    assert (kill.by, kill.rule, kill.reason) == (
        "olga",
        "operator",
        "runaway (killed by olga)",
    )
    assert agent.call(run_id, "lookup", {"key": "k"})["status"] == "killed"


def test_an_agent_may_not_call_in_another_identitys_run(server):
    run_id = server.client("agent").start_run("t")["run_id"]
    eve = server.client("admin").request(
        "POST", "/api/tokens", {"name": "eve", "role": "agent"}
    )
    with pytest.raises(ServerError) as exc:
        server.client(token=eve["token"]).call(run_id, "lookup", {"key": "k"})
    assert (exc.value.status, exc.value.code) == (403, "E-AUTH-NOT-YOURS")


def test_bad_bodies_get_a_coded_4xx_and_write_nothing(server):
    run_id = server.client("agent").start_run("t")["run_id"]
    before = len(server.enc.log.events())
    token = server.tokens["agent"]
    path = f"/api/runs/{run_id}/calls"
    cases = [
        (b"{not json", 400, "E-REQUEST-JSON"),
        (b"[1, 2]", 422, "E-REQUEST-INVALID"),
        (
            json.dumps({"tool": "lookup", "args": {}, "extra": 1}).encode(),
            422,
            "E-REQUEST-INVALID",
        ),
        (json.dumps({"args": {}}).encode(), 422, "E-REQUEST-INVALID"),
        (b"\xff\xfe", 400, "E-REQUEST-JSON"),
        (b"{" + b" " * MAX_BODY + b"}", 413, "E-REQUEST-TOO-LARGE"),
    ]
    for body, status, code in cases:
        response = raw(server, "POST", path, token, content=body)
        assert response.status_code == status, body[:40]
        assert response.json()["error"]["code"] == code
    assert len(server.enc.log.events()) == before


def test_bad_queries_unknown_paths_and_ids_are_coded_4xx(server):
    viewer = server.tokens["viewer"]
    cases = [
        ("/api/runs?limit=-1", 400, "E-REQUEST-QUERY"),
        ("/api/approvals?status=bogus", 400, "E-REQUEST-QUERY"),
        ("/api/runs/run_nope", 404, "E-RUN-UNKNOWN"),
        ("/api/approvals/apr_nope", 404, "E-APPROVAL-NOT-FOUND"),
        ("/api/nothing-here", 404, "E-HTTP-NOT-FOUND"),
    ]
    for path, status, code in cases:
        response = raw(server, "GET", path, viewer)
        assert (response.status_code, response.json()["error"]["code"]) == (
            status,
            code,
        )
    response = raw(server, "DELETE", "/api/runs", viewer)
    assert response.json()["error"]["code"] == "E-HTTP-METHOD"


def test_tokens_are_listed_without_secrets_and_new_ones_work(server):
    admin = server.client("admin")
    made = admin.request("POST", "/api/tokens", {"name": "val", "role": "viewer"})
    assert made["token"].startswith("enc_")
    listed = admin.request("GET", "/api/tokens")["tokens"]
    assert made["token"] not in json.dumps(listed)
    assert {t["name"] for t in listed} >= {"ada", "bob", "val"}
    me = server.client(token=made["token"]).request("GET", "/api/whoami")
    assert (me["name"], me["role"]) == ("val", "viewer")
    with pytest.raises(ServerError) as exc:
        admin.request("POST", "/api/tokens/tok_nope/revoke")
    assert exc.value.code == "E-TOKEN-UNKNOWN"


def test_runs_and_their_events_are_listed(server):
    _, run_id, _ = parked(server)
    viewer = server.client()
    runs = viewer.request("GET", "/api/runs")["runs"]
    assert [r["run_id"] for r in runs] == [run_id]
    assert runs[0]["started_by"] == "ada"
    events = viewer.request("GET", f"/api/runs/{run_id}/events")["events"]
    kinds = [e["event"]["kind"] for e in events]
    assert kinds[0] == "run_started"
    assert {"decision", "approval"} <= set(kinds)
    later = viewer.request(
        "GET", f"/api/runs/{run_id}/events", params={"after": events[0]["seq"]}
    )["events"]
    assert later == events[1:]


def test_a_run_killed_through_another_server_is_refused_here_at_once(make_server):
    here, there = make_server(), make_server()  # one database, two servers
    agent = here.client("agent")
    run_id = agent.start_run("refund")["run_id"]
    assert agent.call(run_id, "lookup", {"key": "a"})["status"] == "executed"
    there.client("operator").kill(run_id, "stopped from the other server")
    refused = agent.call(run_id, "lookup", {"key": "b"})
    assert refused["status"] == "killed"
    assert "stopped from the other server" in refused["decision"]["reason"]
    assert here.enc.get_run(run_id).status == "killed"


def test_a_rate_limit_holds_across_servers_that_share_the_database(make_server):
    here, there = make_server(), make_server()  # one database, two servers
    run_id = here.client("agent").start_run("ping around")["run_id"]
    through = [here.client("agent"), there.client("agent")]
    outcomes = [
        through[i % 2].call(run_id, "ping", {})["status"] for i in range(5)
    ]  # here, there, here, there, here: ``ping`` allows 2 an hour in all
    assert outcomes == ["executed", "executed", "blocked", "blocked", "blocked"]
    state = here.enc.get_run(run_id).state
    assert (state.calls, state.executed, state.denials) == (5, 2, 3)
    assert through[1].call(run_id, "ping", {})["status"] == "blocked"
    state = there.enc.get_run(run_id).state  # counted in at its next call
    assert (state.calls, state.executed, state.denials) == (6, 2, 4)


def test_servers_taking_calls_of_one_run_at_once_allow_exactly_its_rate(make_server):
    servers = [make_server(), make_server()]
    run_id = servers[0].client("agent").start_run("ping storm")["run_id"]
    clients = [s.client("agent") for s in servers for _ in range(3)]
    start = threading.Barrier(len(clients))
    statuses: list[str] = []

    def storm(client) -> None:
        start.wait()
        statuses.extend(client.call(run_id, "ping", {})["status"] for _ in range(3))

    threads = [threading.Thread(target=storm, args=(c,)) for c in clients]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == ["blocked"] * 16 + ["executed"] * 2
    events = servers[0].enc.log.events(run_id=run_id, kinds=["result"])
    assert len(events) == 2


def test_a_call_is_refused_when_the_run_lock_cannot_be_taken(server, monkeypatch):
    agent = server.client("agent")
    run_id = agent.start_run("locked out")["run_id"]

    def broken(_key):
        msg = "cannot lock the decision log: permission denied"
        raise AuditUnavailable(msg)

    monkeypatch.setattr(server.enc.log._db, "exclusive", broken)
    with pytest.raises(ServerError) as caught:
        agent.call(run_id, "ping", {})
    assert caught.value.code == "E-AUDIT-UNAVAILABLE"
    assert server.enc.log.events(run_id=run_id, kinds=["decision"]) == []


def test_a_call_reads_nothing_of_its_run_that_grows_with_the_run(server):
    agent = server.client("agent")
    run_id = agent.start_run("long run")["run_id"]
    for i in range(3):
        agent.call(run_id, "lookup", {"key": f"k{i}"})
    seen: list[str] = []

    def capture(_conn, _cursor, statement, *_args):
        seen.append(statement)

    engine = server.enc.log._db.engine
    sa_event.listen(engine, "before_cursor_execute", capture)
    try:
        assert agent.call(run_id, "lookup", {"key": "k"})["status"] == "executed"
    finally:
        sa_event.remove(engine, "before_cursor_execute", capture)
    # The run's record counts its events (every call had cost more than the last).
    assert not [s for s in seen if "count(" in s.lower()], seen
