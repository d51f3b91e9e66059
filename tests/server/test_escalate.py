import pytest

from enclosure.server import ServerError
from enclosure.server._escalate import PREFIX


def ask(agent, run_id, tool="wire"):
    return agent.request(
        "POST",
        f"/api/runs/{run_id}/escalations",
        {"tool": tool, "justification": "customer refund, ticket T-7"},
    )


def test_a_granted_escalation_lets_the_tool_run_in_that_run_only(server, clock):
    agent = server.client("agent")
    run_id = agent.start_run("refund")["run_id"]
    other = agent.start_run("other")["run_id"]
    assert agent.call(run_id, "wire", {"iban": "X1"})["status"] == "blocked"
    request = ask(agent, run_id)
    assert (request["tool"], request["status"]) == (PREFIX + "wire", "pending")
    assert request["reason"] == "customer refund, ticket T-7"
    server.client("approver").approve(request["approval_id"])
    done = agent.call(run_id, "wire", {"iban": "X1"})
    assert (done["status"], done["value"]) == ("executed", {"wired": "X1"})
    assert done["decision"]["rule"] == f"escalation.{request['approval_id']}"
    clock.advance(120)  # past the approval's TTL: a grant in use lasts the run
    server.client().request("GET", "/api/approvals")
    assert agent.call(run_id, "wire", {"iban": "X2"})["status"] == "executed"
    assert agent.call(other, "wire", {"iban": "X1"})["status"] == "blocked"
    server.client("operator").kill(run_id, "done")
    assert agent.call(run_id, "wire", {"iban": "X3"})["status"] == "killed"


def test_a_denied_or_pending_escalation_grants_nothing(server):
    agent = server.client("agent")
    run_id = agent.start_run("refund")["run_id"]
    pending = ask(agent, run_id)
    assert agent.call(run_id, "wire", {"iban": "X1"})["status"] == "blocked"
    server.client("approver").deny(pending["approval_id"], reason="no")
    assert agent.call(run_id, "wire", {"iban": "X1"})["status"] == "blocked"


def test_only_switched_off_tools_of_ones_own_running_run_can_be_asked_for(server):
    agent = server.client("agent")
    run_id = agent.start_run("refund")["run_id"]
    for tool in ("lookup", "undeclared"):
        with pytest.raises(ServerError) as exc:
            ask(agent, run_id, tool)
        assert (exc.value.status, exc.value.code) == (400, "E-ESCALATION-TOOL")
    eve = server.client("admin").request(
        "POST", "/api/tokens", {"name": "eve", "role": "agent"}
    )
    with pytest.raises(ServerError) as exc:
        ask(server.client(token=eve["token"]), run_id)
    assert exc.value.code == "E-AUTH-NOT-YOURS"
    server.client("operator").kill(run_id, "stop")
    with pytest.raises(ServerError) as exc:
        ask(agent, run_id)
    assert exc.value.code == "E-RUN-KILLED"
    self_grant = server.client("admin").request(
        "POST", "/api/tokens", {"name": "ada", "role": "approver"}
    )
    fresh = agent.start_run("again")["run_id"]
    request = ask(agent, fresh)
    with pytest.raises(ServerError) as exc:
        server.client(token=self_grant["token"]).approve(request["approval_id"])
    assert exc.value.code == "E-APPROVAL-SELF"


def escalation(agent, run_id, **body):
    return agent.escalate(run_id, "release day, ticket T-9", **body)


def test_a_granted_limit_holds_for_that_run_only(server, clock):
    agent = server.client("agent")
    run_id = agent.start_run("busy")["run_id"]
    other = agent.start_run("other")["run_id"]
    for _ in range(2):
        assert agent.call(run_id, "ping")["status"] == "executed"
        assert agent.call(other, "ping")["status"] == "executed"
    refused = agent.call(run_id, "ping")
    assert refused["status"] == "blocked"
    assert "rate limit 2/hour exceeded" in refused["decision"]["reason"]
    request = escalation(agent, run_id, kind="limit", tool="ping", limit=4)
    assert (request["tool"], request["status"]) == ("escalation:limit:ping", "pending")
    assert request["args"] == {"tool": "ping", "rate": 0, "limit": 4}
    assert agent.call(run_id, "ping")["status"] == "blocked"  # not yet granted
    server.client("approver").approve(request["approval_id"])
    assert agent.call(run_id, "ping")["status"] == "executed"
    assert agent.call(run_id, "ping")["status"] == "executed"
    again = agent.call(run_id, "ping")
    assert again["status"] == "blocked"
    assert "rate limit 4/3600s (raised for this run)" in again["decision"]["reason"]
    assert agent.call(other, "ping")["status"] == "blocked"  # the manifest's 2
    clock.advance(120)  # past the approval's TTL: a grant in use lasts the run
    server.client().request("GET", "/api/approvals")
    assert server.enc.approvals.get(request["approval_id"]).status == "consumed"
    with pytest.raises(ServerError) as exc:  # no higher than what the run has now
        escalation(agent, run_id, kind="limit", tool="ping", limit=4)
    assert exc.value.code == "E-ESCALATION-LIMIT"


def test_a_host_escalation_is_an_approval_for_that_host(server):
    agent = server.client("agent")
    run_id = agent.start_run("fetch")["run_id"]
    request = escalation(
        agent, run_id, kind="host", host="API.Example.COM.", ports=[443, 8443],
        methods=["get"],
    )  # fmt: skip
    assert request["tool"] == "escalation:host:api.example.com"
    assert request["args"] == {
        "host": "api.example.com",
        "ports": [443, 8443],
        "methods": ["GET"],
    }
    assert request["reason"] == "release day, ticket T-9"


@pytest.mark.parametrize(
    ("body", "status", "code"),
    [
        ({"kind": "host", "host": "not a host"}, 400, "E-ESCALATION-HOST"),
        ({"kind": "host", "host": "*.com"}, 400, "E-ESCALATION-HOST"),
        ({"kind": "host", "host": "10.0.0.1"}, 400, "E-ESCALATION-HOST"),
        (
            {"kind": "host", "host": "a.example", "methods": ["G T"]},
            400,
            "E-ESCALATION-HOST",
        ),
        ({"kind": "host", "host": "a.example", "ports": [0]}, 422, "E-REQUEST-INVALID"),
        ({"kind": "host"}, 422, "E-REQUEST-INVALID"),
        (
            {"kind": "host", "host": "a.example", "tool": "ping"},
            422,
            "E-REQUEST-INVALID",
        ),
        ({"kind": "limit", "tool": "ping", "limit": 2}, 400, "E-ESCALATION-LIMIT"),
        ({"kind": "limit", "tool": "ping", "limit": 1}, 400, "E-ESCALATION-LIMIT"),
        (
            {"kind": "limit", "tool": "ping", "limit": 5, "rate": 1},
            400,
            "E-ESCALATION-LIMIT",
        ),
        ({"kind": "limit", "tool": "lookup", "limit": 5}, 400, "E-ESCALATION-LIMIT"),
        ({"kind": "limit", "tool": "nope", "limit": 5}, 400, "E-ESCALATION-TOOL"),
        ({"kind": "limit", "tool": "ping"}, 422, "E-REQUEST-INVALID"),
        ({"kind": "limit", "tool": "ping", "limit": 0}, 422, "E-REQUEST-INVALID"),
        ({"kind": "bandwidth"}, 422, "E-REQUEST-INVALID"),
        ({}, 422, "E-REQUEST-INVALID"),
    ],
)
def test_bad_escalations_get_a_stable_code_and_write_nothing(
    server, body, status, code
):
    agent = server.client("agent")
    run_id = agent.start_run("t")["run_id"]
    before = len(server.enc.log.events())
    with pytest.raises(ServerError) as exc:
        escalation(agent, run_id, **body)
    assert (exc.value.status, exc.value.code) == (status, code)
    assert server.enc.approvals.list(run_id=run_id) == []
    assert len(server.enc.log.events()) == before


def test_a_manifest_without_network_has_no_host_to_escalate(make_server):
    running = make_server()
    running.enc.manifest = running.enc.manifest.model_copy(
        update={"network": running.enc.manifest.network.model_copy(
            update={"rules": []})}
    )  # fmt: skip
    agent = running.client("agent")
    run_id = agent.start_run("t")["run_id"]
    with pytest.raises(ServerError) as exc:
        escalation(agent, run_id, kind="host", host="api.example.com")
    assert exc.value.code == "E-ESCALATION-HOST"


@pytest.mark.parametrize(
    "body",
    [
        {"tool": "wire"},
        {"kind": "host", "host": "api.example.com"},
        {"kind": "limit", "tool": "ping", "limit": 3},
    ],
)
def test_the_starter_cannot_grant_their_own_escalation_of_any_kind(server, body):
    agent = server.client("agent")
    run_id = agent.start_run("t")["run_id"]
    request = escalation(agent, run_id, **body)
    ada_approves = server.client("admin").request(
        "POST", "/api/tokens", {"name": "ada", "role": "approver"}
    )
    with pytest.raises(ServerError) as exc:
        server.client(token=ada_approves["token"]).approve(request["approval_id"])
    assert exc.value.code == "E-APPROVAL-SELF"
    assert server.enc.approvals.get(request["approval_id"]).status == "pending"
