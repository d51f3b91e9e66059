import threading

import pytest

from enclosure.server import ServerError


def waiting_call(server, amount=3):
    """An agent thread making a call that parks; its result lands in the dict."""
    agent = server.client("agent")
    run_id = agent.start_run("pay")["run_id"]
    outcome = {}

    def work():
        outcome["result"] = agent.call(run_id, "pay", {"amount": amount}, wait=True)

    thread = threading.Thread(target=work)
    requested = threading.Event()

    def observe(_appended, event):
        if event.kind == "approval" and event.action == "requested":
            outcome["approval_id"] = event.approval_id
            requested.set()

    server.enc.log.subscribe(observe)
    thread.start()
    assert requested.wait(10)
    return thread, outcome


def test_a_waiting_agent_is_woken_when_its_call_is_approved_and_it_runs(server):
    thread, outcome = waiting_call(server)
    server.client("approver").approve(outcome["approval_id"], reason="fine")
    thread.join(10)
    assert not thread.is_alive()
    assert (outcome["result"]["status"], outcome["result"]["value"]) == (
        "executed",
        {"paid": 3},
    )


def test_a_waiting_agent_is_woken_by_a_denial_and_gets_the_refusal(server):
    thread, outcome = waiting_call(server)
    server.client("approver").deny(outcome["approval_id"], reason="no")
    thread.join(10)
    result = outcome["result"]
    assert result["status"] == "pending"
    assert (result["approval"]["status"], result["approval"]["decided_by"]) == (
        "denied",
        "bob",
    )


def test_a_waiting_agent_is_woken_when_its_approval_expires(server, clock):
    thread, outcome = waiting_call(server)
    clock.advance(61)
    server.client().request("GET", "/api/approvals")  # listing expires overdue ones
    thread.join(10)
    assert outcome["result"]["approval"]["status"] == "expired"


def test_wait_returns_the_current_state_when_the_timeout_passes(server):
    agent = server.client("agent")
    run_id = agent.start_run("pay")["run_id"]
    approval_id = agent.call(run_id, "pay", {"amount": 1})["approval_id"]
    assert agent.wait_for_decision(approval_id, timeout=0)["status"] == "pending"


def test_refusals_raise_a_coded_server_error(server):
    with pytest.raises(ServerError) as exc:
        server.client("viewer").start_run("t")
    assert (exc.value.status, exc.value.code) == (403, "E-AUTH-ROLE")
