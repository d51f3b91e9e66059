"""Plain HTTP through the proxy (absolute-form): decisions, caps, headers, SSRF.

Real origins on 127.0.0.1 record what reached them; names resolve through a fake
resolver, so rules say ``allow_private`` (loopback is private) unless a test is
about exactly that refusal.
"""

from __future__ import annotations

import asyncio
import http.client
import ipaddress
import json
import socket
from concurrent.futures import ThreadPoolExecutor

import h11
import pytest

from enclosure.egress._ca import RunCA, upstream_context
from enclosure.egress._proxy_http import Exchange
from enclosure.egress._proxy_peer import Context, Dialer, Peer, Slot
from enclosure.egress._proxy_pool import Pool
from enclosure.egress._rules import NetworkPolicy, Principal
from enclosure.manifest import NetworkSpec
from enclosure.testing import FakeClock


def _json(response):
    return json.loads(response.read())


def _get(proxied, url, method="GET", body=None, headers=None):
    conn = proxied.http()
    conn.request(method, url, body=body, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def _rule(origin, **extra):
    return {"host": "api.test", "ports": [origin.port], "allow_private": True, **extra}


def test_an_allowed_request_reaches_the_origin_without_proxy_headers(
    origin, make_proxy
):
    proxied = make_proxy([_rule(origin)])
    response, data = _get(
        proxied,
        f"http://API.test:{origin.port}/v1/items?q=1",
        headers={
            "Proxy-Authorization": "Basic c2VjcmV0",
            "Proxy-Connection": "keep-alive",
            "Connection": "x-drop-me",
            "X-Drop-Me": "1",
            "X-Keep": "2",
        },
    )
    assert response.status == 200
    seen = origin.seen[0]
    assert seen.target == "/v1/items?q=1"
    assert seen.headers["host"] == f"api.test:{origin.port}"
    assert seen.headers["x-keep"] == "2"
    for gone in ("proxy-authorization", "proxy-connection", "x-drop-me"):
        assert gone not in seen.headers
    assert json.loads(data)["method"] == "GET"
    (record,) = proxied.records.wait()
    assert (record.method, record.scheme, record.host, record.port) == (
        "GET",
        "http",
        "api.test",
        origin.port,
    )
    assert (record.path, record.status, record.outcome) == ("/v1/items", 200, "allowed")
    assert (record.rule, record.code, record.address) == (
        "rule-1",
        "allowed",
        "127.0.0.1",
    )
    assert record.bytes_down == len(data)
    assert record.request_headers is None
    assert record.response_body is None


def test_a_host_no_rule_names_gets_a_403_naming_the_reason(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    response, data = _get(proxied, f"http://other.test:{origin.port}/")
    assert response.status == 403
    assert response.getheader("content-type") == "application/json"
    body = json.loads(data)
    assert body["error"] == "E-EGRESS-DENIED"
    assert body["rule"] is None
    assert body["host"] == "other.test"
    assert body["method"] == "GET"
    assert "no rule allows host other.test" in body["reason"]
    assert origin.seen == []
    (record,) = proxied.records.wait()
    assert (record.status, record.outcome, record.code) == (
        403,
        "denied",
        "E-EGRESS-DENIED",
    )


@pytest.mark.parametrize(
    ("rule", "method", "path", "who"),
    [
        ({"methods": ["GET"]}, "POST", "/a", "agent"),
        ({"paths": ["/repos/*/issues"]}, "GET", "/repos/x/pulls", "agent"),
        ({"paths": ["/repos/**"]}, "GET", "/repos/../admin", "agent"),
        ({"tools": ["fetch"]}, "GET", "/a", "agent"),
        ({"tools": ["fetch"]}, "GET", "/a", "mailer"),
    ],
)
def test_method_path_and_principal_are_enforced(
    origin, make_proxy, rule, method, path, who
):
    proxied = make_proxy(
        [_rule(origin, name="api", **rule)], who=Principal("run-1", who)
    )
    response, data = _get(proxied, f"http://api.test:{origin.port}{path}", method)
    assert response.status == 403
    assert json.loads(data)["rule"] == "api"
    assert origin.seen == []


def test_the_named_principal_is_let_through(origin, make_proxy):
    proxied = make_proxy(
        [_rule(origin, tools=["fetch"], methods=["GET"], paths=["/repos/**"])],
        who=Principal("run-1", "fetch", call_id="c1"),
    )
    response, _ = _get(proxied, f"http://api.test:{origin.port}/repos/x")
    assert response.status == 200
    (record,) = proxied.records.wait()
    assert record.principal == Principal("run-1", "fetch", call_id="c1")


def test_a_rate_limit_answers_429_until_the_window_moves(origin, make_proxy):
    clock = FakeClock()
    proxied = make_proxy([_rule(origin, name="api", rate="2/minute")], clock=clock)
    url = f"http://api.test:{origin.port}/"
    conn = proxied.http()
    statuses = []
    for _ in range(3):
        conn.request("GET", url)
        response = conn.getresponse()
        response.read()
        statuses.append(response.status)
    assert statuses == [200, 200, 429]
    assert int(response.getheader("retry-after")) >= 1
    clock.advance(61)
    conn.request("GET", url)  # the same connection: a refusal keeps it open
    assert conn.getresponse().status == 200
    conn.close()
    assert len(origin.seen) == 3
    records = proxied.records.wait(4)
    assert [r.code for r in records] == [
        "allowed",
        "allowed",
        "E-EGRESS-RATE",
        "allowed",
    ]


def test_keep_alive_reuses_one_upstream_connection(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    conn = proxied.http()
    for i in range(3):
        conn.request("GET", f"http://api.test:{origin.port}/{i}")
        assert conn.getresponse().read()
    conn.close()
    assert [s.connection for s in origin.seen] == [1, 1, 1]
    assert proxied.resolver.calls == ["api.test"]


def test_an_origin_form_request_on_a_plain_connection_is_a_400(make_proxy):
    proxied = make_proxy([])
    response, data = _get(proxied, "/just/a/path")
    assert response.status == 400
    assert json.loads(data)["error"] == "E-EGRESS-BAD-REQUEST"


@pytest.mark.parametrize(
    "target",
    [
        b"ftp://api.test/x",
        b"http://user:pw@api.test/x",
        b"http://api.test:99999/x",
        b"http://bad_host!/x",
    ],
)
def test_targets_the_proxy_cannot_use_are_400(make_proxy, target):
    proxied = make_proxy([])
    out = proxied.raw(b"GET " + target + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 ")
    assert b'"E-EGRESS-BAD-REQUEST"' in out


def test_malformed_http_is_a_400_and_a_record(make_proxy):
    proxied = make_proxy([])
    out = proxied.raw(b"GET\x00 nonsense\r\n\r\n")
    assert out.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"Traceback" not in out
    (record,) = proxied.records.wait()
    assert (record.status, record.code, record.method) == (
        400,
        "E-EGRESS-BAD-REQUEST",
        "",
    )


def test_private_answers_are_refused_without_allow_private(origin, make_proxy):
    proxied = make_proxy([{"host": "api.test", "ports": [origin.port]}])
    response, data = _get(proxied, f"http://api.test:{origin.port}/")
    assert response.status == 403
    body = json.loads(data)
    assert body["error"] == "E-EGRESS-SSRF"
    assert "loopback" in body["reason"]
    assert origin.seen == []


def test_ip_literals_need_a_rule_naming_them(origin, make_proxy):
    proxied = make_proxy([{"host": "*.0.0.1", "ports": [origin.port]}])
    response, _ = _get(proxied, f"http://127.0.0.1:{origin.port}/")
    assert response.status == 403
    named = make_proxy(
        [{"host": "127.0.0.1", "ports": [origin.port], "allow_private": True}]
    )
    response, _ = _get(named, f"http://127.0.0.1:{origin.port}/")
    assert response.status == 200


def test_dns_rebinding_connects_only_to_the_address_checked(
    origin, make_proxy, resolver_for
):
    public = "93.184.216.34"
    resolver = resolver_for({"evil.test": [[public], ["127.0.0.1"]]})
    proxied = make_proxy(
        [{"host": "evil.test", "ports": [origin.port]}], resolver=resolver
    )
    dialled = []

    async def refuse_to_dial(host, port, **kwargs):
        dialled.append((host, port))  # nothing may leave the machine in a test
        raise ConnectionRefusedError(111, "Connection refused")

    proxied.proxy._ctx.dialer.connect = refuse_to_dial
    response, data = _get(proxied, f"http://evil.test:{origin.port}/")
    assert response.status == 502
    assert json.loads(data)["error"] == "E-EGRESS-UPSTREAM"
    assert resolver.calls == ["evil.test"]
    assert dialled == [(public, origin.port)]
    # Asked again, the name now points at loopback: refused before any dial.
    response, data = _get(proxied, f"http://evil.test:{origin.port}/")
    assert response.status == 403
    assert json.loads(data)["error"] == "E-EGRESS-SSRF"
    assert dialled == [(public, origin.port)]
    assert origin.seen == []
    first, second = proxied.records.wait(2)
    assert first.address == public
    assert second.address is None


def test_when_the_first_address_refuses_the_next_checked_one_is_tried(
    origin, make_proxy, resolver_for
):
    resolver = resolver_for({"dual.test": [["127.0.0.2", "127.0.0.1"]]})
    proxied = make_proxy(
        [{"host": "dual.test", "ports": [origin.port], "allow_private": True}],
        resolver=resolver,
    )
    response, _ = _get(proxied, f"http://dual.test:{origin.port}/fallback")
    assert response.status == 200
    assert resolver.calls == ["dual.test"]
    (record,) = proxied.records.wait()
    assert record.address == "127.0.0.1"


def test_a_mixed_answer_is_refused_as_a_whole(origin, make_proxy, resolver_for):
    resolver = resolver_for({"mixed.test": [["93.184.216.34", "169.254.169.254"]]})
    proxied = make_proxy(
        [{"host": "mixed.test", "ports": [origin.port]}], resolver=resolver
    )
    response, data = _get(proxied, f"http://mixed.test:{origin.port}/")
    assert response.status == 403
    assert "cloud metadata" in json.loads(data)["reason"]


def test_an_origin_that_is_down_is_a_502(make_proxy):
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]  # bound, never listening: refused
        proxied = make_proxy(
            [{"host": "api.test", "ports": [port], "allow_private": True}]
        )
        response, data = _get(proxied, f"http://api.test:{port}/")
    assert response.status == 502
    assert json.loads(data)["error"] == "E-EGRESS-UPSTREAM"
    (record,) = proxied.records.wait()
    assert (record.outcome, record.status, record.address) == (
        "error",
        502,
        "127.0.0.1",
    )


def test_an_origin_that_does_not_answer_the_connect_is_a_504(origin, make_proxy):
    proxied = make_proxy([_rule(origin)], connect_timeout=0.05)

    async def never(*args, **kwargs):
        await asyncio.Event().wait()

    proxied.proxy._ctx.dialer.connect = never
    response, data = _get(proxied, f"http://api.test:{origin.port}/")
    assert response.status == 504
    assert json.loads(data)["error"] == "E-EGRESS-TIMEOUT"


def test_a_declared_oversized_request_body_is_a_413_before_forwarding(
    origin, make_proxy
):
    proxied = make_proxy([_rule(origin)], max_request_body=10)
    url = f"http://api.test:{origin.port}/"
    response, data = _get(proxied, url, "POST", body=b"x" * 11)
    assert response.status == 413
    assert json.loads(data)["error"] == "E-EGRESS-TOO-LARGE"
    assert origin.seen == []
    response, _ = _get(proxied, url, "POST", body=b"x" * 10)
    assert response.status == 200
    assert origin.seen[0].body == b"x" * 10


def test_a_chunked_request_body_over_the_cap_is_cut_off(origin, make_proxy):
    proxied = make_proxy([_rule(origin)], max_request_body=5000)
    conn = proxied.http()
    conn.request(
        "POST",
        f"http://api.test:{origin.port}/",
        body=iter([b"a" * 4000, b"b" * 4000]),
        encode_chunked=True,
    )
    response = conn.getresponse()
    assert response.status == 413
    conn.close()
    (record,) = proxied.records.wait()
    assert (record.code, record.outcome) == ("E-EGRESS-TOO-LARGE", "denied")
    assert origin.seen == []  # the origin never got a whole request


def test_a_chunked_request_body_under_the_cap_is_forwarded(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    conn = proxied.http()
    conn.request(
        "PUT",
        f"http://api.test:{origin.port}/",
        body=iter([b"a" * 3, b"b" * 4]),
        encode_chunked=True,
    )
    assert conn.getresponse().status == 200
    conn.close()
    assert origin.seen[0].body == b"aaabbbb"
    assert origin.seen[0].headers["transfer-encoding"] == "chunked"


def test_expect_100_continue_is_answered_by_the_proxy(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    with socket.create_connection(("127.0.0.1", proxied.port), timeout=5) as sock:
        sock.sendall(
            f"POST http://api.test:{origin.port}/ HTTP/1.1\r\nHost: api.test\r\n"
            "Content-Length: 4\r\nExpect: 100-continue\r\n\r\n".encode()
        )
        assert sock.recv(100).startswith(b"HTTP/1.1 100 ")
        sock.sendall(b"body")
        assert sock.recv(65536).startswith(b"HTTP/1.1 200 ")
    assert origin.seen[0].body == b"body"
    assert "expect" not in origin.seen[0].headers


def test_a_declared_oversized_response_is_a_502(origin, make_proxy):
    proxied = make_proxy([_rule(origin)], max_response_body=1000)
    response, data = _get(proxied, f"http://api.test:{origin.port}/big/1001")
    assert response.status == 502
    assert json.loads(data)["error"] == "E-EGRESS-RESPONSE-TOO-LARGE"
    response, data = _get(proxied, f"http://api.test:{origin.port}/big/1000")
    assert (response.status, len(data)) == (200, 1000)


def test_a_streamed_response_over_the_cap_is_cut_off(origin, make_proxy):
    proxied = make_proxy([_rule(origin)], max_response_body=10_000)
    conn = proxied.http()
    conn.request("GET", f"http://api.test:{origin.port}/stream/200000")
    response = conn.getresponse()
    if response.status == 502:  # the proxy still held the head: a refusal instead
        assert json.loads(response.read())["error"] == "E-EGRESS-RESPONSE-TOO-LARGE"
    else:  # the head was out: the body is cut short
        assert response.status == 200
        with pytest.raises((http.client.IncompleteRead, ConnectionError)):
            response.read()
    conn.close()
    (record,) = proxied.records.wait()
    assert (record.outcome, record.code) == ("error", "E-EGRESS-RESPONSE-TOO-LARGE")
    assert record.bytes_down > 10_000


def test_a_streamed_response_under_the_cap_arrives_whole(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    response, data = _get(proxied, f"http://api.test:{origin.port}/stream/20000")
    assert (response.status, data) == (200, b"y" * 20000)


def test_protocol_upgrades_are_refused(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    response, data = _get(
        proxied,
        f"http://api.test:{origin.port}/ws",
        headers={"Connection": "Upgrade", "Upgrade": "websocket"},
    )
    assert response.status == 403
    assert json.loads(data)["error"] == "E-EGRESS-UNSUPPORTED"
    assert origin.seen == []


def test_a_refused_request_leaves_the_connection_usable(make_proxy):
    proxied = make_proxy([])
    conn = proxied.http()
    for _ in range(2):
        conn.request("GET", "http://nowhere.test/")
        response = conn.getresponse()
        response.read()
        assert response.status == 403
    conn.close()
    assert len(proxied.records.wait(2)) == 2


def test_an_exchange_serves_one_request_and_emits_one_record(origin):
    class Loopback:
        async def resolve(self, host, port):
            return [ipaddress.ip_address("127.0.0.1")]

    spec = NetworkSpec.model_validate({"rules": [_rule(origin)]})
    policy = NetworkPolicy(spec)
    records = []
    ctx = Context(
        spec=spec,
        policy=policy,
        broker=None,
        ca=RunCA(),
        dialer=Dialer(
            resolver=Loopback(),
            is_literal_allowed=policy.is_literal_allowed,
            tls=upstream_context,
            timeout=5,
        ),
        emit=records.append,
        executor=ThreadPoolExecutor(1),
        pool=Pool(FakeClock()),
    )

    async def main():
        near, far = socket.socketpair()
        reader, writer = await asyncio.open_connection(sock=far)
        client = Peer(h11.SERVER, reader, writer)
        near.sendall(
            f"GET http://api.test:{origin.port}/x HTTP/1.1\r\nHost: z\r\n\r\n".encode()
        )
        request = await client.next_event(5)
        slot = Slot(ctx.pool, "binding")
        exchange = Exchange(ctx, Principal("r", "agent"), client, slot, request, None)
        keep = await exchange.run()
        near.settimeout(0.0)
        answer = await asyncio.get_running_loop().sock_recv(near, 65536)
        assert slot.upstream is None  # back in the pool, clean
        assert len(ctx.pool) == 1
        ctx.pool.close()
        writer.close()
        near.close()
        return keep, answer

    keep, answer = asyncio.run(main())
    assert keep
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert origin.seen[0].headers["host"] == f"api.test:{origin.port}"
    (record,) = records
    assert (record.status, record.address) == (200, "127.0.0.1")
    ctx.executor.shutdown()
