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
