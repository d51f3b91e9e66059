"""CONNECT through the proxy: plain tunnels, TLS interception, credentials, cuts.

The HTTPS origin has its own test CA. Through a plain tunnel the client checks
the origin's certificate itself; through an inspected one it trusts the proxy's
run CA, and the proxy checks the origin against ``upstream_ca``.
"""

from __future__ import annotations

import asyncio
import base64
import http.client
import json
import os
import shutil
import socket
import ssl
import subprocess

import h11
import pytest

from enclosure.egress._proxy_conn import CLIENT_TLS, ClientConnection, _copy
from enclosure.egress._proxy_record import Draft
from enclosure.egress._rules import Principal
from enclosure.identity import CredentialBroker
from enclosure.manifest import CredentialSpec

SECRET = "s3cr3t-Value-0123456789abcdef"
CURL = shutil.which("curl")
needs_curl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


def _rule(origin, **extra):
    return {"host": "api.test", "ports": [origin.port], "allow_private": True, **extra}


def _request(conn, method, path, **kwargs):
    conn.request(method, path, **kwargs)
    response = conn.getresponse()
    return response, response.read()


def test_a_host_only_rule_gets_a_plain_tunnel_and_the_client_checks_the_origin(
    tls_origin, make_proxy
):
    proxied = make_proxy([_rule(tls_origin)])
    conn = proxied.tunnel("api.test", tls_origin.port, cadata=tls_origin.tls.cert_pem)
    response, data = _request(conn, "POST", "/anything", body=b"hello")
    assert response.status == 200
    assert json.loads(data)["body"] == "hello"
    peer = conn.sock.getpeercert()
    assert dict(x[0] for x in peer["issuer"])["commonName"] == "Test origin CA"
    conn.close()
    (record,) = proxied.records.wait()
    assert (record.method, record.scheme, record.path) == ("CONNECT", "tunnel", "")
    assert (record.status, record.outcome, record.address) == (
        200,
        "allowed",
        "127.0.0.1",
    )
    assert record.bytes_up > 5
    assert record.bytes_down > len(data)


def test_a_refused_connect_is_a_403_with_a_record(tls_origin, make_proxy):
    proxied = make_proxy([_rule(tls_origin, tools=["fetch"])])
    conn = proxied.tunnel("api.test", tls_origin.port)
    with pytest.raises(OSError, match="403"):
        conn.connect()
    (record,) = proxied.records.wait()
    assert (record.method, record.status, record.code) == (
        "CONNECT",
        403,
        "E-EGRESS-DENIED",
    )
    assert tls_origin.seen == []


def test_connect_needs_a_port(make_proxy):
    proxied = make_proxy([])
    out = proxied.raw(b"CONNECT api.test HTTP/1.1\r\nHost: api.test\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b"CONNECT needs host:port" in out


def test_connect_to_a_private_address_is_refused(tls_origin, make_proxy):
    proxied = make_proxy([{"host": "api.test", "ports": [tls_origin.port]}])
    conn = proxied.tunnel("api.test", tls_origin.port)
    with pytest.raises(OSError, match="403"):
        conn.connect()
    (record,) = proxied.records.wait()
    assert record.code == "E-EGRESS-SSRF"


def test_a_path_rule_terminates_tls_and_decides_each_request(
    tls_origin, origin_ca, make_proxy
):
    proxied = make_proxy(
        [_rule(tls_origin, name="repos", methods=["GET"], paths=["/repos/**"])],
        upstream_ca=origin_ca,
    )
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "/repos/x?page=2")
    assert response.status == 200
    assert json.loads(data)["target"] == "/repos/x?page=2"
    issuer = dict(x[0] for x in conn.sock.getpeercert()["issuer"])
    assert issuer["commonName"] == "Enclosure run CA"
    response, data = _request(conn, "DELETE", "/repos/x")
    assert response.status == 403
    assert json.loads(data)["rule"] == "repos"
    response, _ = _request(conn, "GET", "/admin")  # the same connection goes on
    assert response.status == 403
    conn.close()
    records = proxied.records.wait(3)
    assert [(r.method, r.scheme, r.path, r.status) for r in records] == [
        ("GET", "https", "/repos/x", 200),
        ("DELETE", "https", "/repos/x", 403),
        ("GET", "https", "/admin", 403),
    ]
    assert [s.method for s in tls_origin.seen] == ["GET"]


def test_inside_a_tunnel_only_origin_form_is_served_and_logged_as_the_tunnel(
    tls_origin, origin_ca, make_proxy
):
    proxied = make_proxy([_rule(tls_origin, methods=["GET"])], upstream_ca=origin_ca)
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "http://evil.test/x")
    conn.close()
    assert response.status == 400
    assert json.loads(data)["error"] == "E-EGRESS-BAD-REQUEST"
    (record,) = proxied.records.wait()
    assert (record.host, record.port, record.scheme) == (
        "api.test",
        tls_origin.port,
        "https",
    )
    assert tls_origin.seen == []


def test_an_origin_whose_certificate_is_not_trusted_is_a_502(tls_origin, make_proxy):
    proxied = make_proxy([_rule(tls_origin, methods=["GET"])])  # system CAs only
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "/")
    conn.close()
    assert response.status == 502
    body = json.loads(data)
    assert body["error"] == "E-EGRESS-UPSTREAM"
    assert "certificate" in body["reason"]
    assert tls_origin.seen == []


def test_a_client_that_does_not_trust_the_run_ca_is_recorded(tls_origin, make_proxy):
    proxied = make_proxy([_rule(tls_origin, methods=["GET"])])
    conn = proxied.tunnel("api.test", tls_origin.port, cadata=tls_origin.tls.cert_pem)
    with pytest.raises(ssl.SSLCertVerificationError):
        conn.connect()
    (record,) = proxied.records.wait()
    assert (record.method, record.code, record.outcome) == (
        "CONNECT",
        CLIENT_TLS,
        "error",
    )


@pytest.mark.parametrize(
    ("inject", "where"),
    [
        ({"header": "Authorization", "format": "Bearer {secret}"}, "authorization"),
        ({"header": "X-Api-Key"}, "x-api-key"),
        ({"basic_username": "bot"}, "authorization"),
        ({"query": "api_key"}, "target"),
    ],
)
def test_a_credential_is_injected_and_stripped_from_what_comes_back(
    tls_origin, origin_ca, make_proxy, monkeypatch, inject, where
):
    monkeypatch.setenv("EGRESS_TEST_TOKEN", SECRET)
    broker = CredentialBroker(
        {
            "gh": CredentialSpec.model_validate(
                {"source": "env:EGRESS_TEST_TOKEN", "inject": inject}
            )
        }
    )
    proxied = make_proxy(
        [_rule(tls_origin, credential="gh")],
        broker=broker,
        upstream_ca=origin_ca,
        log_bodies=True,
    )
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(
        conn, "GET", "/echo?x=1", headers={"Authorization": "Bearer sandbox-guess"}
    )
    conn.close()
    assert response.status == 200
    seen = tls_origin.seen[0]
    sent = seen.target if where == "target" else seen.headers[where]
    if "basic_username" in inject:
        assert sent == "Basic " + base64.b64encode(f"bot:{SECRET}".encode()).decode()
    else:
        assert SECRET in sent
    if where == "authorization":  # the injection replaced the sandbox's own
        assert "sandbox-guess" not in seen.headers["authorization"]
    assert SECRET.encode() not in data
    assert b"[REDACTED:gh]" in data
    assert SECRET not in str(response.getheaders())
    (record,) = proxied.records.wait()
    assert record.credential == "gh"
    assert record.response_body is not None
    assert record.request_headers["authorization"] == "[REDACTED]"
    assert SECRET not in repr(record)
    assert base64.b64encode(f"bot:{SECRET}".encode()).decode() not in repr(record)


def _with_credential(tls_origin, origin_ca, make_proxy, monkeypatch):
    monkeypatch.setenv("EGRESS_TEST_TOKEN", SECRET)
    spec = CredentialSpec.model_validate(
        {
            "source": "env:EGRESS_TEST_TOKEN",
            "inject": {"header": "Authorization", "format": "Bearer {secret}"},
        }
    )
    return make_proxy(
        [_rule(tls_origin, credential="gh")],
        broker=CredentialBroker({"gh": spec}),
        upstream_ca=origin_ca,
    )


def test_inspected_tunnels_share_a_pooled_upstream_and_inject_every_time(
    tls_origin, origin_ca, make_proxy, monkeypatch
):
    proxied = _with_credential(tls_origin, origin_ca, make_proxy, monkeypatch)
    for i in range(2):  # a new CONNECT, and a new TLS session with the client, each
        conn = proxied.tunnel("api.test", tls_origin.port)
        response, data = _request(conn, "GET", "/", headers={"Authorization": "x"})
        conn.close()
        assert response.status == 200
        assert SECRET.encode() not in data
        proxied.records.wait(i + 1)  # emitted once the upstream is back in the pool
    assert [s.connection for s in tls_origin.seen] == [1, 1]
    assert [s.headers["authorization"] for s in tls_origin.seen] == [
        f"Bearer {SECRET}"
    ] * 2


def test_a_plain_tunnels_upstream_is_never_pooled(tls_origin, make_proxy):
    proxied = make_proxy([_rule(tls_origin)])
    for _ in range(2):
        conn = proxied.tunnel(
            "api.test", tls_origin.port, cadata=tls_origin.tls.cert_pem
        )
        assert _request(conn, "GET", "/")[0].status == 200
        conn.close()
    proxied.records.wait(2)
    assert [s.connection for s in tls_origin.seen] == [1, 2]
    assert len(proxied.proxy._ctx.pool) == 0


def test_a_compressed_echo_cannot_carry_the_secret_back(
    tls_origin, origin_ca, make_proxy, monkeypatch
):
    proxied = _with_credential(tls_origin, origin_ca, make_proxy, monkeypatch)
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "/", headers={"Accept-Encoding": "gzip"})
    assert response.status == 200
    assert response.getheader("content-encoding") is None
    assert tls_origin.seen[0].headers["accept-encoding"] == "identity"
    assert SECRET.encode() not in data
    assert b"[REDACTED:gh]" in data
    # An origin that compresses anyway is refused: its body cannot be checked.
    response, data = _request(conn, "GET", "/gzip")
    conn.close()
    assert response.status == 502
    assert json.loads(data)["error"] == "E-EGRESS-UPSTREAM"


def test_an_upstream_protocol_error_does_not_quote_the_secret(
    tls_origin, origin_ca, make_proxy, monkeypatch
):
    proxied = _with_credential(tls_origin, origin_ca, make_proxy, monkeypatch)
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "/malformed")
    conn.close()
    assert response.status == 502
    assert json.loads(data)["error"] == "E-EGRESS-UPSTREAM"
    assert SECRET.encode() not in data
    (record,) = proxied.records.wait()
    assert SECRET not in repr(record)


def test_a_credential_outside_its_tools_is_refused(
    tls_origin, origin_ca, make_proxy, monkeypatch
):
    monkeypatch.setenv("EGRESS_TEST_TOKEN", SECRET)
    broker = CredentialBroker(
        {
            "gh": CredentialSpec.model_validate(
                {
                    "source": "env:EGRESS_TEST_TOKEN",
                    "inject": {"header": "X-Api-Key"},
                    "tools": ["fetch"],
                }
            )
        }
    )
    proxied = make_proxy(
        [_rule(tls_origin, credential="gh")],
        broker=broker,
        upstream_ca=origin_ca,
        who=Principal("run-1", "mailer"),
    )
    conn = proxied.tunnel("api.test", tls_origin.port)
    response, data = _request(conn, "GET", "/")
    conn.close()
    assert response.status == 403
    assert json.loads(data)["error"] == "E-CREDENTIAL-SCOPE"
    assert tls_origin.seen == []


def test_closing_the_binding_cuts_an_open_tunnel(tls_origin, make_proxy):
    proxied = make_proxy([_rule(tls_origin)])
    conn = proxied.tunnel("api.test", tls_origin.port, cadata=tls_origin.tls.cert_pem)
    response, _ = _request(conn, "GET", "/")
    assert response.status == 200
    proxied.binding.close()
    with pytest.raises((http.client.HTTPException, OSError)):
        _request(conn, "GET", "/again")
    conn.close()
    (record,) = proxied.records.wait()
    assert (record.scheme, record.code, record.outcome) == (
        "tunnel",
        "E-EGRESS-CLOSED",
        "error",
    )
    assert proxied.binding.closed
    with pytest.raises(ConnectionError):
        proxied.http().request("GET", "http://api.test/")


def test_a_tunnel_the_client_had_finished_is_not_an_error_when_cut(make_proxy):
    with socket.create_server(("127.0.0.1", 0)) as listener:
        port = listener.getsockname()[1]
        proxied = make_proxy(
            [{"host": "raw.test", "ports": [port], "allow_private": True}]
        )
        with socket.create_connection(("127.0.0.1", proxied.port), timeout=5) as sock:
            sock.sendall(
                f"CONNECT raw.test:{port} HTTP/1.1\r\nHost: raw.test\r\n\r\n".encode()
            )
            assert sock.recv(1024).startswith(b"HTTP/1.1 200 ")
            upstream, _ = listener.accept()
            with upstream:
                upstream.settimeout(5)
                sock.sendall(b"bye")
                sock.shutdown(socket.SHUT_WR)
                assert upstream.recv(10) == b"bye"
                assert upstream.recv(10) == b""  # the proxy passed the EOF on
                proxied.binding.close()  # the origin never closed its side
    (record,) = proxied.records.wait()
    assert (record.outcome, record.code, record.bytes_up) == ("allowed", "allowed", 3)
    assert "closed after the client finished" in record.reason


def test_closing_the_binding_cuts_a_slow_response(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    conn = proxied.http()
    conn.request("GET", f"http://api.test:{origin.port}/slow")
    response = conn.getresponse()
    assert response.read(3) == b"abc"
    assert origin.got.is_set()
    proxied.binding.close()
    with pytest.raises((http.client.IncompleteRead, OSError)):
        response.read()
    conn.close()
    (record,) = proxied.records.wait()
    assert (record.status, record.code) == (200, "E-EGRESS-CLOSED")


def _curl(proxied, url, *extra):
    argv = [
        str(CURL),
        "-sS",
        "--max-time",
        "10",
        "--proxy",
        f"http://127.0.0.1:{proxied.port}",
    ]
    return subprocess.run(
        [*argv, *extra, url],
        capture_output=True,
        env={"PATH": os.environ.get("PATH", "/usr/bin")},
        timeout=20,
        check=False,
    )


@needs_curl
def test_curl_plain_http_and_a_denial(origin, make_proxy):
    proxied = make_proxy([_rule(origin, methods=["GET"])])
    done = _curl(proxied, f"http://api.test:{origin.port}/from-curl")
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == "/from-curl"
    done = _curl(proxied, f"http://api.test:{origin.port}/", "-X", "POST", "-i")
    assert done.stdout.startswith(b"HTTP/1.1 403 ")


@needs_curl
def test_curl_through_a_plain_tunnel(tls_origin, make_proxy, tmp_path):
    proxied = make_proxy([_rule(tls_origin)])
    ca = tmp_path / "origin.pem"
    ca.write_bytes(tls_origin.tls.cert_pem)
    done = _curl(proxied, f"https://api.test:{tls_origin.port}/t", "--cacert", str(ca))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == "/t"


@needs_curl
def test_curl_through_an_inspected_tunnel(tls_origin, origin_ca, make_proxy, tmp_path):
    proxied = make_proxy([_rule(tls_origin, paths=["/ok"])], upstream_ca=origin_ca)
    ca = tmp_path / "run.pem"
    ca.write_bytes(proxied.ca.cert_pem)
    url = f"https://api.test:{tls_origin.port}"
    done = _curl(proxied, f"{url}/ok", "--cacert", str(ca))
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["target"] == "/ok"
    done = _curl(proxied, f"{url}/no", "--cacert", str(ca))
    assert json.loads(done.stdout)["error"] == "E-EGRESS-DENIED"


def test_client_connection_is_what_a_binding_serves(make_proxy):
    proxied = make_proxy([])
    conn = proxied.http()
    conn.request("GET", "http://nowhere.test/")
    conn.getresponse().read()
    (connection,) = proxied.binding._connections
    assert isinstance(connection, ClientConnection)
    conn.close()


class _Ended:
    """A source at end of stream, as ``_copy`` reads one."""

    def __init__(self):
        self.conn = h11.Connection(h11.SERVER)
        self.reader = asyncio.StreamReader()
        self.reader.feed_eof()


class _ClosingWriter:
    """A writer whose transport the other direction already aborted; its
    ``write_eof`` raises as uvloop's does."""

    def is_closing(self):
        return True

    def can_write_eof(self):
        return True

    def write_eof(self):
        raise RuntimeError("Cannot call write_eof() after close()")


def test_a_tunnel_direction_does_not_half_close_an_aborted_transport():
    class Dst:
        writer = _ClosingWriter()

    ended = set()

    async def main():
        async with asyncio.timeout(5) as deadline:
            await _copy(
                _Ended(), Dst(), deadline, 5.0, Draft(None, "CONNECT", "tunnel"), ended
            )

    asyncio.run(main())
    assert ended == {True}
