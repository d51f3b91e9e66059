"""Escalation grants as the proxy and the policy read them from the log."""

import pytest

from enclosure._grants import HOST, LIMIT, grants, host_grants, limit_of, limits, use
from enclosure.approvals import binding_sha256
from enclosure.egress import HostGrant
from enclosure.testing import FakeClock, make_enclosure

MANIFEST = """
agent: {name: a}
tools:
  send: {rate: 2/hour}
network:
  rules:
    - {host: localhost, ports: [8443], allow_private: true}
    - {host: api.example.com}
approvals: {ttl: 60s}
"""


@pytest.fixture
def enc(tmp_path):
    made = make_enclosure(MANIFEST, tmp_path, clock=FakeClock())
    yield made
    made.close()


def ask(enc, run, tool, args):
    return enc.approvals.request(
        run_id=run.id,
        tool=tool,
        args=args,
        binding_sha256=binding_sha256(run.id, tool, args),
        rule="escalation",
        reason="needed",
        ttl=60,
        requested_by="ada",
    )


def granted(enc, run, tool, args):
    approval = ask(enc, run, tool, args)
    return enc.approvals.approve(approval.approval_id, by="bob")


def test_only_approved_unexpired_or_consumed_escalations_hold(enc):
    run = enc.start_run("t", started_by="ada")
    pending = ask(enc, run, HOST + "a.example.com", {})
    denied = ask(enc, run, HOST + "b.example.com", {})
    enc.approvals.deny(denied.approval_id, by="bob")
    approved = granted(enc, run, HOST + "c.example.com", {})
    parked_call = granted(enc, run, "send", {})
    assert [a.approval_id for a in grants(enc, run.id)] == [approved.approval_id]
    use(enc, approved)
    use(enc, enc.approvals.get(approved.approval_id))  # a second use changes nothing
    enc.clock.advance(61)
    assert [a.status for a in grants(enc, run.id)] == ["consumed"]
    assert pending.status == "pending"
    assert parked_call.status == "approved"


def test_an_unused_grant_expires_with_its_approval(enc):
    run = enc.start_run("t", started_by="ada")
    granted(enc, run, HOST + "c.example.com", {})
    enc.clock.advance(61)
    assert grants(enc, run.id) == []


def test_host_grants_carry_ports_methods_and_the_manifests_private_permission(enc):
    run = enc.start_run("t", started_by="ada")
    other = enc.start_run("t", started_by="ada")
    local = granted(enc, run, HOST + "localhost", {"ports": [9000], "methods": []})
    public = granted(
        enc, run, HOST + "api.example.com", {"ports": [8080], "methods": ["POST"]}
    )
    assert set(host_grants(enc, run.id)) == {
        HostGrant(
            name=f"escalation.{local.approval_id}",
            host="localhost",
            ports=frozenset({9000}),
            allow_private=True,
        ),
        HostGrant(
            name=f"escalation.{public.approval_id}",
            host="api.example.com",
            ports=frozenset({8080}),
            methods=frozenset({"POST"}),
        ),
    }
    assert host_grants(enc, other.id) == ()


def test_the_highest_limit_granted_per_rate_window_holds(enc):
    run = enc.start_run("t", started_by="ada")
    granted(enc, run, LIMIT + "send", {"tool": "send", "rate": 0, "limit": 9})
    granted(enc, run, LIMIT + "send", {"tool": "send", "rate": 0, "limit": 5})
    raised = limits(enc, run.id, "send")
    assert list(raised) == [0]
    assert limit_of(raised[0]) == 9
    assert limits(enc, run.id, "other") == {}
