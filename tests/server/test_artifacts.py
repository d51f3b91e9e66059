"""A run's artifacts through the API: list, diff, promote, reject.

The quarantine is made as a run makes it (``Quarantine.create`` under the
enclosure's ``quarantine_root``) and written into as the sandbox would, then
scanned; the last test runs a real command in bubblewrap instead. Promotions
write real files on the host, and every decision is read back from the log.
"""

import httpx
import pytest

from enclosure import Enclosure
from enclosure.artifacts import Quarantine
from enclosure.audit import ArtifactEvent, DecisionLog
from enclosure.server import Server, ServerClient, ServerError, issue_token
from enclosure.server._api import ROUTES
from enclosure.server._artifacts import (
    artifact_diff,
    list_artifacts,
    promote_artifact,
    reject_artifact,
)
from enclosure.testing import manifest_from

AWS = 'aws_access_key_id = "AKIAIOSFODNN7EXAMPLE"\n'


def quarantined(server, tmp_path):
    """A run of ada's that changed ``notes.txt`` and added ``creds.env``."""
    run_id = server.client("agent").start_run("write notes")["run_id"]
    out = tmp_path / f"out-{run_id}"
    out.mkdir()
    (out / "notes.txt").write_text("draft\n", encoding="utf-8")
    quarantine = Quarantine.create(server.enc.quarantine_root, run_id, [out])
    data = quarantine.mounts[0].host
    (data / "notes.txt").write_text("final\n", encoding="utf-8")
    (data / "creds.env").write_text(AWS, encoding="utf-8")
    ids = {a.path.name: a.id for a in quarantine.scan()}
    return run_id, out, ids


def decisions(server):
    return [
        (s.event.action, s.event.artifact_id, s.event.by, s.event.reason)
        for s in server.enc.log.events(kinds=["artifact"])
        if isinstance(s.event, ArtifactEvent) and s.event.action != "scanned"
    ]


def refused(client, method, path, body=None):
    with pytest.raises(ServerError) as exc:
        client.request(method, path, body)
    return exc.value.status, exc.value.code


def test_approvers_decide_and_every_role_reads():
    permission = {e.handler: e.permission for e in ROUTES}
    assert permission[promote_artifact] == permission[reject_artifact] == "decide"
    assert permission[list_artifacts] == permission[artifact_diff] == "read"


def test_artifacts_are_listed_with_findings_and_diffed(server, tmp_path):
    run_id, _, ids = quarantined(server, tmp_path)
    viewer = server.client("viewer")
    listed = viewer.request("GET", f"/api/runs/{run_id}/artifacts")["artifacts"]
    by_id = {a["id"]: a for a in listed}
    assert set(by_id) == set(ids.values())
    assert by_id[ids["creds.env"]]["findings"] == ["secret:AWS Access Key"]
    assert by_id[ids["notes.txt"]]["change"] == "modified"
    assert {a["state"] for a in listed} == {"pending"}
    shown = viewer.request(
        "GET", f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}/diff"
    )
    assert shown["artifact"]["id"] == ids["notes.txt"]
    assert "-draft\n" in shown["diff"]
    assert "+final\n" in shown["diff"]


def test_an_approver_promotes_onto_the_host_and_the_log_names_them(server, tmp_path):
    run_id, out, ids = quarantined(server, tmp_path)
    approver = server.client("approver")
    done = approver.request(
        "POST", f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}/promote", {}
    )
    assert (done["state"], done["decided_by"]) == ("promoted", "bob")
    assert (out / "notes.txt").read_text(encoding="utf-8") == "final\n"
    assert decisions(server) == [("promoted", ids["notes.txt"], "bob", None)]
    again = f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}/promote"
    assert refused(approver, "POST", again, {}) == (409, "E-ARTIFACT-DECIDED")
    assert server.enc.log.verify().ok


def test_findings_must_be_accepted_and_the_acceptance_is_logged(server, tmp_path):
    run_id, out, ids = quarantined(server, tmp_path)
    approver = server.client("approver")
    path = f"/api/runs/{run_id}/artifacts/{ids['creds.env']}/promote"
    assert refused(approver, "POST", path, {}) == (409, "E-ARTIFACT-FINDINGS")
    assert not (out / "creds.env").exists()
    assert decisions(server) == []
    done = approver.request("POST", path, {"accept_findings": True})
    assert done["state"] == "promoted"
    assert (out / "creds.env").read_text(encoding="utf-8") == AWS
    [(_, _, by, reason)] = decisions(server)
    assert by == "bob"
    assert "findings accepted: secret:AWS Access Key" in reason


def test_a_rejection_keeps_the_host_unchanged_and_logs_the_reason(server, tmp_path):
    run_id, out, ids = quarantined(server, tmp_path)
    approver = server.client("approver")
    done = approver.request(
        "POST",
        f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}/reject",
        {"reason": "not the notes we asked for"},
    )
    assert (done["state"], done["decided_by"]) == ("rejected", "bob")
    assert (out / "notes.txt").read_text(encoding="utf-8") == "draft\n"
    assert decisions(server) == [
        ("rejected", ids["notes.txt"], "bob", "not the notes we asked for")
    ]
    promote = f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}/promote"
    assert refused(approver, "POST", promote, {}) == (409, "E-ARTIFACT-DECIDED")


def test_the_identity_that_started_the_run_cannot_decide_its_artifacts(
    server, tmp_path
):
    run_id, out, ids = quarantined(server, tmp_path)
    ada = server.client("admin").request(
        "POST", "/api/tokens", {"name": "ada", "role": "approver"}
    )
    ada_approver = server.client(token=ada["token"])
    base = f"/api/runs/{run_id}/artifacts/{ids['notes.txt']}"
    assert refused(ada_approver, "POST", base + "/promote", {}) == (
        403,
        "E-ARTIFACT-SELF",
    )
    assert refused(ada_approver, "POST", base + "/reject", {"reason": "x"}) == (
        403,
        "E-ARTIFACT-SELF",
    )
    assert (out / "notes.txt").read_text(encoding="utf-8") == "draft\n"
    assert decisions(server) == []
    state = server.client().request("GET", f"/api/runs/{run_id}/artifacts")
    assert {a["state"] for a in state["artifacts"]} == {"pending"}


def test_unknown_runs_and_artifacts_are_coded_404s(server, tmp_path):
    run_id, _, _ = quarantined(server, tmp_path)
    bare = server.client("agent").start_run("no sandbox")["run_id"]
    viewer, approver = server.client(), server.client("approver")
    assert viewer.request("GET", f"/api/runs/{bare}/artifacts") == {"artifacts": []}
    cases = [
        (viewer, "GET", "/api/runs/run_nope/artifacts", None, "E-RUN-UNKNOWN"),
        (viewer, "GET", f"/api/runs/{bare}/artifacts/art_x/diff", None, None),
        (viewer, "GET", f"/api/runs/{run_id}/artifacts/art_x/diff", None, None),
        (approver, "POST", f"/api/runs/{run_id}/artifacts/art_x/promote", {}, None),
        (
            approver,
            "POST",
            f"/api/runs/{run_id}/artifacts/art_x/reject",
            {"reason": "r"},
            None,
        ),
        (approver, "POST", "/api/runs/../artifacts/a/promote", {}, None),
    ]
    for client, method, path, body, code in cases:
        status, got = refused(client, method, path, body)
        assert status == 404, path
        assert got in {code or "E-ARTIFACT-NOT-FOUND", "E-HTTP-NOT-FOUND"}, path


def test_bad_decision_bodies_get_a_coded_4xx_and_decide_nothing(server, tmp_path):
    run_id, out, ids = quarantined(server, tmp_path)
    token = server.tokens["approver"]
    base = f"{server.url}/api/runs/{run_id}/artifacts/{ids['notes.txt']}"
    cases = [
        ("/promote", {"accept_findings": "yes please"}, 422, "E-REQUEST-INVALID"),
        ("/promote", {"by": "someone else"}, 422, "E-REQUEST-INVALID"),
        ("/reject", {}, 422, "E-REQUEST-INVALID"),
        ("/reject", {"reason": ""}, 422, "E-REQUEST-INVALID"),
        ("/reject", {"reason": "r", "by": "x"}, 422, "E-REQUEST-INVALID"),
    ]
    for suffix, body, status, code in cases:
        response = httpx.post(
            base + suffix, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert (response.status_code, response.json()["error"]["code"]) == (
            status,
            code,
        ), (suffix, body)
    assert decisions(server) == []
    assert (out / "notes.txt").read_text(encoding="utf-8") == "draft\n"


SANDBOXED = """
agent: {{name: writer}}
filesystem: {{write: ["{out}"]}}
tools:
  write:
    command: [sh, -c, "echo changed > {out}/keep.txt; echo new > {out}/new.txt"]
"""


@pytest.mark.sandbox
def test_a_real_sandboxed_run_leaves_artifacts_an_approver_promotes(tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    (out / "keep.txt").write_text("original\n", encoding="utf-8")
    enc = Enclosure(
        manifest_from(SANDBOXED.format(out=out)),
        log=DecisionLog(f"sqlite:///{tmp_path / 'log.db'}"),
        home=tmp_path / "home",
    )
    now = enc.clock.time()
    tokens = {
        role: issue_token(enc.log, name, role, now=now)[0]
        for role, name in (("agent", "ada"), ("operator", "olga"), ("approver", "bob"))
    }
    with (
        Server(enc) as server,
        ServerClient(server.url, tokens["agent"]) as agent,
        ServerClient(server.url, tokens["operator"]) as operator,
        ServerClient(server.url, tokens["approver"]) as approver,
    ):
        run_id = agent.start_run("write")["run_id"]
        assert agent.call(run_id, "write")["status"] == "executed"
        assert (out / "keep.txt").read_text(encoding="utf-8") == "original\n"
        operator.kill(run_id, "done")
        listed = approver.request("GET", f"/api/runs/{run_id}/artifacts")["artifacts"]
        ids = {a["path"]: a["id"] for a in listed}
        assert set(ids) == {str(out / "keep.txt"), str(out / "new.txt")}
        for artifact_id in ids.values():
            approver.request(
                "POST", f"/api/runs/{run_id}/artifacts/{artifact_id}/promote", {}
            )
    assert (out / "keep.txt").read_text(encoding="utf-8") == "changed\n"
    assert (out / "new.txt").read_text(encoding="utf-8") == "new\n"
    promoted = [
        s.event.by
        for s in enc.log.events(kinds=["artifact"])
        if isinstance(s.event, ArtifactEvent) and s.event.action == "promoted"
    ]
    assert promoted == ["bob", "bob"]
    enc.log.close()
