"""Manifest versions through the API: check, upload, list, show, diff.

Against the real server on SQLite and PostgreSQL; what is stored is read back
from the decision log itself.
"""

import httpx
import pytest

from enclosure.audit import ManifestEvent, manifest_text_sha256
from enclosure.errors import AuditUnavailable
from enclosure.server import ServerError
from enclosure.server._api import MAX_BODY
from enclosure.server._manifests import UPLOAD

MANIFEST = """
agent: {name: payer}   # the manifest the server runs (conftest), in other words
tools:
  pay: {mode: approve}
  lookup: {effect: read}
  wire: {mode: deny}
  ping: {effect: read, rate: 2/hour}
network:
  rules:
    - {name: docs, host: docs.example.com}
approvals: {ttl: 60s}
"""
NEXT = """
agent: {name: payer}
tools:
  pay: {mode: deny}
  lookup: {effect: read}
  search: {effect: read}
  ping: {effect: read, rate: 2/hour}
network:
  rules:
    - {name: docs, host: docs.example.com}
approvals: {ttl: 60s}
"""
BROKEN = """
agent: {name: payer}
tools:
  pay: {mode: sometimes}
rules:
  - {tools: [nope], action: deny}
"""


def post(server, path, token, **kw):
    headers = {"Authorization": f"Bearer {token}", **kw.pop("headers", {})}
    return httpx.post(server.url + path, headers=headers, **kw)


def uploads(server):
    return [
        s.event
        for s in server.enc.log.events(kinds=["manifest"])
        if isinstance(s.event, ManifestEvent)
    ]


def test_a_check_reports_every_issue_with_its_place_and_stores_nothing(server):
    viewer = server.client("viewer")
    bad = viewer.request("POST", "/api/manifests/check", {"text": BROKEN})
    assert bad["ok"] is False
    issues = {(i["code"], i["line"]) for i in bad["issues"]}
    assert ("E-MANIFEST-VALUE", 4) in issues
    assert all(i["col"] >= 1 for i in bad["issues"])
    good = viewer.request("POST", "/api/manifests/check", {"text": MANIFEST})
    assert good["ok"] is True
    assert good["manifest_sha256"] == server.enc.manifest.sha256
    assert good["sha256"] == manifest_text_sha256(MANIFEST)
    assert good["tools"] == ["lookup", "pay", "ping", "wire"]
    assert server.enc.log.list_manifests() == []
    assert uploads(server) == []


def test_a_check_takes_the_manifest_as_a_yaml_body_too(server):
    response = post(
        server,
        "/api/manifests/check",
        server.tokens["agent"],
        content=BROKEN.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 200
    assert response.json()["ok"] is False
    not_utf8 = post(
        server,
        "/api/manifests/check",
        server.tokens["agent"],
        content=b"agent: \xff",
        headers={"Content-Type": "text/yaml; charset=utf-8"},
    )
    assert not_utf8.status_code == 400
    assert not_utf8.json()["error"]["code"] == "E-REQUEST-TEXT"


def test_an_upload_stores_a_version_naming_who_uploaded_it(server, clock):
    admin = server.client("admin")
    first = admin.request("POST", "/api/manifests", {"text": MANIFEST})
    assert (first["version"], first["created"], first["active"]) == (1, True, True)
    assert first["uploaded_by"] == "ann"
    assert first["uploaded_at"] == clock.time()
    assert first["sha256"] == manifest_text_sha256(MANIFEST)
    clock.advance(5)
    response = post(
        server,
        "/api/manifests",
        server.tokens["admin"],
        content=NEXT.encode(),
        headers={"Content-Type": "application/yaml"},
    )
    assert response.status_code == 201
    second = response.json()
    assert (second["version"], second["active"]) == (2, False)
    [one, two] = uploads(server)
    assert (one.version, one.by, one.sha256) == (1, "ann", first["sha256"])
    assert (two.version, two.manifest_sha256) == (2, second["manifest_sha256"])
    assert server.enc.log.verify().ok
    listed = server.client().request("GET", "/api/manifests")["manifests"]
    assert [m["version"] for m in listed] == [1, 2]
    shown = server.client().request("GET", "/api/manifests/2")
    assert shown["text"] == NEXT
    assert shown["uploaded_at"] == clock.time()


def test_the_same_text_again_returns_its_version_and_logs_nothing(server):
    admin = server.client("admin")
    first = admin.request("POST", "/api/manifests", {"text": MANIFEST})
    again = admin.request("POST", "/api/manifests", {"text": MANIFEST})
    assert again == {**first, "created": False}
    assert len(uploads(server)) == 1


def test_an_invalid_upload_is_a_422_with_every_issue_and_stores_nothing(server):
    before = len(server.enc.log.events())
    response = post(
        server, "/api/manifests", server.tokens["admin"], json={"text": BROKEN}
    )
    assert response.status_code == 422
    error = response.json()["error"]
    assert error["code"] == "E-MANIFEST-INVALID"
    assert error["message"].startswith(f"{UPLOAD}:")
    assert len(error["issues"]) >= 2
    assert {i["code"] for i in error["issues"]} >= {"E-MANIFEST-VALUE"}
    assert server.enc.log.list_manifests() == []
    assert len(server.enc.log.events()) == before


@pytest.mark.parametrize("role", ["agent", "approver", "operator", "viewer"])
def test_only_an_admin_uploads(server, role):
    with pytest.raises(ServerError) as exc:
        server.client(role).request("POST", "/api/manifests", {"text": MANIFEST})
    assert (exc.value.status, exc.value.code) == (403, "E-AUTH-ROLE")
    assert server.enc.log.list_manifests() == []


def test_a_diff_shows_the_lines_and_what_they_mean(server):
    admin = server.client("admin")
    admin.request("POST", "/api/manifests", {"text": MANIFEST})
    admin.request("POST", "/api/manifests", {"text": NEXT})
    diff = server.client().request("GET", "/api/manifests/1/diff/2")
    assert (diff["from"], diff["to"]) == (1, 2)
    assert diff["unified"].startswith("--- manifest v1\n+++ manifest v2\n")
    assert "-  pay: {mode: approve}\n" in diff["unified"]
    assert "+  search: {effect: read}\n" in diff["unified"]
    changes = diff["changes"]
    assert changes["tools"] == {
        "added": ["search"],
        "removed": ["wire"],
        "changed": ["pay"],
    }
    assert changes["sections"] == ["tools"]
    same = server.client().request("GET", "/api/manifests/2/diff/2")
    assert same["unified"] == ""
    assert same["changes"]["sections"] == []


@pytest.mark.parametrize(
    "path",
    [
        "/api/manifests/1",
        "/api/manifests/0",
        "/api/manifests/v1",
        "/api/manifests/%C2%B2",
        "/api/manifests/99999999999",
        "/api/manifests/1/diff/2",
    ],
)
def test_unknown_versions_are_a_coded_404(server, path):
    with pytest.raises(ServerError) as exc:
        server.client().request("GET", path)
    assert (exc.value.status, exc.value.code) == (404, "E-MANIFEST-UNKNOWN")


def test_bad_manifest_bodies_get_a_coded_4xx_and_write_nothing(server):
    before = len(server.enc.log.events())
    cases = [
        ({"json": {"text": MANIFEST, "extra": 1}}, 422, "E-REQUEST-INVALID"),
        ({"json": {"text": 3}}, 422, "E-REQUEST-INVALID"),
        ({"json": {}}, 422, "E-REQUEST-INVALID"),
        ({"content": b"{not json"}, 400, "E-REQUEST-JSON"),
        ({"content": b"a" * (MAX_BODY + 1)}, 413, "E-REQUEST-TOO-LARGE"),
        (
            {
                "content": b"a" * (MAX_BODY + 1),
                "headers": {"Content-Type": "application/yaml"},
            },
            413,
            "E-REQUEST-TOO-LARGE",
        ),
    ]
    for path in ("/api/manifests", "/api/manifests/check"):
        for kw, status, code in cases:
            response = post(server, path, server.tokens["admin"], **kw)
            assert (response.status_code, response.json()["error"]["code"]) == (
                status,
                code,
            ), (path, kw.keys())
    assert server.enc.log.list_manifests() == []
    assert len(server.enc.log.events()) == before


def test_an_upload_whose_event_was_not_logged_gets_it_when_sent_again(
    server, monkeypatch
):
    log = server.enc.log
    real_append = log.append

    def log_down_once(event, **kw):  # the log fails once, after the version is stored
        monkeypatch.setattr(log, "append", real_append)
        raise AuditUnavailable("the decision log is unavailable")

    monkeypatch.setattr(log, "append", log_down_once)
    response = post(
        server, "/api/manifests", server.tokens["admin"], json={"text": NEXT}
    )
    assert response.status_code == 503
    assert uploads(server) == []
    again = server.client("admin").request("POST", "/api/manifests", {"text": NEXT})
    assert (again["version"], again["created"]) == (1, False)
    assert [e.version for e in uploads(server)] == [1]
    server.client("admin").request("POST", "/api/manifests", {"text": NEXT})
    assert [e.version for e in uploads(server)] == [1]
