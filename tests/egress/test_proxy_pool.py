"""The pool's bookkeeping, with stand-in connections: keys, order, caps, expiry.

What makes a real connection clean is ``Upstream.clean`` (test_proxy_peer); how
the proxy uses the pool end to end is in test_proxy_http and test_proxy.
"""

from __future__ import annotations

import asyncio
import http.client
import re
import socket

import pytest

from enclosure.egress._proxy_pool import IDLE_S, Pool
from enclosure.egress._rules import Principal
from enclosure.testing import FakeClock

KEY = ("http", "api.test", 80)


class FakeUpstream:
    """Just what the pool asks of an ``Upstream``."""

    def __init__(self, key=KEY, *, public=True):
        self.key = key
        self.public = public
        self.is_clean = True
        self.aborted = False

    def clean(self):
        return self.is_clean and not self.aborted

    def reusable_for(self, key, *, allow_private):
        return key == self.key and (allow_private or self.public) and self.clean()

    def abort(self):
        self.aborted = True


def _run(test):
    """Run ``test`` on an event loop: the pool arms its sweep timer on one."""

    async def on_a_loop():
        return test()

    return asyncio.run(on_a_loop())


def test_the_most_recently_used_connection_is_taken_first():
    def test():
        pool = Pool(FakeClock())
        first, second = FakeUpstream(), FakeUpstream()
        assert pool.put("b1", first)
        assert pool.put("b1", second)
        assert pool.take("b1", KEY, allow_private=False) is second
        assert pool.take("b1", KEY, allow_private=False) is first
        assert pool.take("b1", KEY, allow_private=False) is None
        assert not first.aborted
        assert not second.aborted
        pool.close()

    _run(test)


def test_a_connection_is_never_taken_for_another_owner_or_origin():
    def test():
        pool = Pool(FakeClock())
        upstream = FakeUpstream()
        pool.put("b1", upstream)
        assert pool.take("b2", KEY, allow_private=True) is None
        assert pool.take("b1", ("https", "api.test", 80), allow_private=True) is None
        assert pool.take("b1", ("http", "api.test", 81), allow_private=True) is None
        assert pool.take("b1", ("http", "other.test", 80), allow_private=True) is None
        assert pool.take("b1", KEY, allow_private=True) is upstream
        pool.close()

    _run(test)


def test_a_private_connection_waits_for_a_rule_that_allows_it():
    def test():
        pool = Pool(FakeClock())
        private = FakeUpstream(public=False)
        pool.put("b1", private)
        assert pool.take("b1", KEY, allow_private=False) is None
        assert (len(pool), private.aborted) == (1, False)
        assert pool.take("b1", KEY, allow_private=True) is private
        pool.close()

    _run(test)


def test_a_connection_idle_too_long_is_closed_not_taken():
    def test():
        clock = FakeClock()
        pool = Pool(clock, idle_s=10)
        old = FakeUpstream()
        pool.put("b1", old)
        clock.advance(10)
        assert pool.take("b1", KEY, allow_private=False) is None
        assert old.aborted
        assert len(pool) == 0
        pool.close()

    _run(test)


def test_putting_one_back_closes_the_ones_idle_too_long():
    def test():
        clock = FakeClock()
        pool = Pool(clock, idle_s=10)
        old, newer, other = FakeUpstream(), FakeUpstream(), FakeUpstream()
        pool.put("b1", old)
        clock.advance(6)
        pool.put("b2", newer)
        clock.advance(5)
        pool.put("b3", other)
        assert (old.aborted, newer.aborted) == (True, False)
        assert len(pool) == 2
        clock.advance(5)
        pool.sweep()
        assert newer.aborted
        assert len(pool) == 1
        pool.close()

    _run(test)


def test_a_connection_that_stopped_being_clean_is_dropped():
    def test():
        pool = Pool(FakeClock())
        closed_by_origin, fine = FakeUpstream(), FakeUpstream()
        pool.put("b1", fine)
        pool.put("b1", closed_by_origin)
        closed_by_origin.is_clean = False
        assert pool.take("b1", KEY, allow_private=False) is fine
        assert closed_by_origin.aborted
        assert len(pool) == 0
        pool.put("b1", fine)
        fine.is_clean = False
        pool.sweep()
        assert fine.aborted
        assert len(pool) == 0
        pool.close()

    _run(test)


def test_an_unclean_connection_is_not_kept():
    def test():
        pool = Pool(FakeClock())
        dirty = FakeUpstream()
        dirty.is_clean = False
        assert not pool.put("b1", dirty)
        assert len(pool) == 0
        assert not dirty.aborted  # the caller aborts what the pool refused
        pool.close()

    _run(test)


def test_the_oldest_goes_when_a_key_or_the_pool_is_full():
    def test():
        pool = Pool(FakeClock(), per_key=2, total=3)
        a1, a2, a3 = FakeUpstream(), FakeUpstream(), FakeUpstream()
        for upstream in (a1, a2, a3):
            pool.put("a", upstream)
        assert (a1.aborted, a2.aborted, a3.aborted) == (True, False, False)
        b1, b2 = FakeUpstream(), FakeUpstream()
        pool.put("b", b1)
        pool.put("b", b2)
        assert a2.aborted  # the oldest of all
        assert (a3.aborted, b1.aborted, b2.aborted) == (False, False, False)
        assert len(pool) == 3
        pool.close()

    _run(test)


def test_closing_an_owner_closes_only_its_connections():
    def test():
        pool = Pool(FakeClock())
        mine = [FakeUpstream(), FakeUpstream(("https", "api.test", 443))]
        theirs = FakeUpstream()
        for upstream in mine:
            pool.put("killed", upstream)
        pool.put("other", theirs)
        pool.close_owner("killed")
        assert all(u.aborted for u in mine)
        assert not theirs.aborted
        assert pool.take("killed", KEY, allow_private=True) is None
        assert pool.take("other", KEY, allow_private=True) is theirs
        pool.close()

    _run(test)


def test_a_closed_pool_keeps_nothing():
    def test():
        pool = Pool(FakeClock())
        kept, late = FakeUpstream(), FakeUpstream()
        pool.put("b1", kept)
        pool.close()
        pool.close()
        assert kept.aborted
        assert not pool.put("b1", late)
        assert "closed" in repr(pool)
        assert pool._timer is None

    _run(test)


def test_the_sweep_timer_rearms_while_anything_is_kept():
    def test():
        clock = FakeClock()
        pool = Pool(clock, idle_s=10)
        upstream = FakeUpstream()
        pool.put("b1", upstream)
        first = pool._timer
        assert first is not None
        pool._tick()  # what the loop's timer runs: nothing idled out yet
        assert (upstream.aborted, pool._timer is not first) == (False, True)
        clock.advance(10)
        pool._tick()
        assert upstream.aborted
        assert pool._timer is None  # nothing left to watch
        pool.close()

    _run(test)


# --- through the proxy: a raw origin on loopback, scripted by the test -----------


class RawOrigin:
    """A listening socket the test answers by hand, one accepted connection at a
    time, so it decides exactly when an upstream connection is closed."""

    def __init__(self):
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.listener.settimeout(5)
        self.port = self.listener.getsockname()[1]
        self.accepted: list[socket.socket] = []

    def accept(self) -> socket.socket:
        conn, _ = self.listener.accept()
        conn.settimeout(5)
        self.accepted.append(conn)
        return conn

    def close(self):
        for conn in self.accepted:
            conn.close()
        self.listener.close()


@pytest.fixture
def raw_origin():
    origin = RawOrigin()
    yield origin
    origin.close()


def _read_request(conn: socket.socket) -> bytes:
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        assert chunk, "the proxy closed the upstream connection"
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    match = re.search(rb"(?i)\r\ncontent-length: *(\d+)", head)
    length = int(match[1]) if match else 0
    while len(body) < length:
        body += conn.recv(65536)
    return head


def _reply(conn: socket.socket, body: bytes = b"ok") -> bytes:
    head = _read_request(conn)
    conn.sendall(b"HTTP/1.1 200 OK\r\ncontent-length: %d\r\n\r\n%s" % (len(body), body))
    return head


def _ask(proxied, port, path="/", method="GET", body=b"") -> socket.socket:
    """Send one request on a new client connection; the answer is read later."""
    sock = socket.create_connection(("127.0.0.1", proxied.port), timeout=5)
    length = f"Content-Length: {len(body)}\r\n" if body else ""
    sock.sendall(
        f"{method} http://raw.test:{port}{path} HTTP/1.1\r\nHost: raw.test\r\n"
        f"{length}Connection: close\r\n\r\n".encode()
        + body
    )
    return sock


def _answer(sock: socket.socket) -> bytes:
    with sock:
        out = b""
        while chunk := sock.recv(65536):
            out += chunk
        return out


def _closed(conn: socket.socket) -> bool:
    """Whether the proxy closed (or reset) this upstream connection."""
    try:
        return conn.recv(1) == b""
    except ConnectionResetError:
        return True


def _raw_rule(origin, **extra):
    return {"host": "raw.test", "ports": [origin.port], "allow_private": True, **extra}


def test_a_new_client_connection_takes_the_pooled_upstream(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    for i in range(3):
        sock = _ask(proxied, raw_origin.port, f"/{i}")
        conn = raw_origin.accept() if i == 0 else raw_origin.accepted[0]
        assert _reply(conn).startswith(f"GET /{i} ".encode())
        assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    assert len(raw_origin.accepted) == 1
    assert proxied.resolver.calls == ["raw.test"]  # checked once, when dialled
    records = proxied.records.wait(3)
    assert [r.address for r in records] == ["127.0.0.1"] * 3


def test_bindings_do_not_share_pooled_upstreams(origin, make_proxy):
    rule = {"host": "api.test", "ports": [origin.port], "allow_private": True}
    proxied = make_proxy([rule])
    same_principal = proxied.proxy.serve_tcp(Principal("run-1", "agent"))
    url = f"http://api.test:{origin.port}/"
    for i, port in enumerate((proxied.port, same_principal.address[1], proxied.port)):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
        conn.request("GET", url)
        assert conn.getresponse().read()
        conn.close()
        proxied.records.wait(i + 1)  # emitted once the upstream is back in the pool
    assert [s.connection for s in origin.seen] == [1, 2, 1]


def test_closing_a_binding_closes_its_pooled_upstreams(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port)
    conn = raw_origin.accept()
    _reply(conn)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    proxied.records.wait()
    assert len(proxied.proxy._ctx.pool) == 1
    proxied.binding.close()
    assert _closed(conn)
    assert len(proxied.proxy._ctx.pool) == 0


def test_closing_the_proxy_closes_the_pooled_upstreams(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port)
    conn = raw_origin.accept()
    _reply(conn)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    proxied.records.wait()
    proxied.proxy.close()
    assert _closed(conn)
    assert proxied.proxy._ctx.pool.closed


def test_an_upstream_idle_too_long_is_not_reused(origin, make_proxy):
    clock = FakeClock()
    rule = {"host": "api.test", "ports": [origin.port], "allow_private": True}
    proxied = make_proxy([rule], clock=clock)
    url = f"http://api.test:{origin.port}/"
    for i in range(2):
        conn = proxied.http()
        conn.request("GET", url)
        assert conn.getresponse().read()
        conn.close()
        proxied.records.wait(i + 1)  # emitted once the upstream is back in the pool
        clock.advance(IDLE_S)
    assert [s.connection for s in origin.seen] == [1, 2]
    assert proxied.resolver.calls == ["api.test", "api.test"]


def test_a_pooled_private_upstream_is_not_used_where_the_rule_wants_public(
    raw_origin, make_proxy
):
    proxied = make_proxy(
        [
            _raw_rule(raw_origin, name="internal", paths=["/internal/**"]),
            {"host": "raw.test", "ports": [raw_origin.port], "name": "public"},
        ]
    )
    sock = _ask(proxied, raw_origin.port, "/internal/x")
    _reply(raw_origin.accept())
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    # Same binding and origin, but the deciding rule does not allow loopback:
    # the pooled connection is not taken, and a fresh check refuses the address.
    out = _answer(_ask(proxied, raw_origin.port, "/elsewhere"))
    assert out.startswith(b"HTTP/1.1 403 ")
    assert b'"E-EGRESS-SSRF"' in out
    first, second = proxied.records.wait(2)
    assert (first.rule, second.rule, second.code) == (
        "internal",
        "public",
        "E-EGRESS-SSRF",
    )
    assert len(proxied.proxy._ctx.pool) == 1  # kept for a rule that may use it


def test_an_upstream_the_origin_closed_while_idle_is_replaced(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port, "/1")
    first = raw_origin.accept()
    _reply(first)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    first.close()  # an origin's keep-alive timeout
    sock = _ask(proxied, raw_origin.port, "/2")
    # Whether the proxy saw the close before taking the connection or only when
    # the request failed on it, the request arrives on a fresh connection.
    assert _reply(raw_origin.accept()).startswith(b"GET /2 ")
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    assert [r.status for r in proxied.records.wait(2)] == [200, 200]


def test_a_replayable_request_is_retried_once_when_a_reused_upstream_fails(
    raw_origin, make_proxy
):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port, "/1")
    first = raw_origin.accept()
    _reply(first)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    sock = _ask(proxied, raw_origin.port, "/2")
    assert _read_request(first).startswith(b"GET /2 ")
    first.close()  # closed with the request unanswered, not a byte sent
    assert _reply(raw_origin.accept()).startswith(b"GET /2 ")
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    assert proxied.resolver.calls == ["raw.test", "raw.test"]  # checked again
    second = proxied.records.wait(2)[1]
    assert (second.status, second.code, second.address) == (200, "allowed", "127.0.0.1")


def test_a_retry_that_fails_too_is_a_502(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port, "/1")
    first = raw_origin.accept()
    _reply(first)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    sock = _ask(proxied, raw_origin.port, "/2")
    _read_request(first)
    first.close()
    fresh = raw_origin.accept()
    _read_request(fresh)
    fresh.close()  # no third try
    out = _answer(sock)
    assert out.startswith(b"HTTP/1.1 502 ")
    assert b'"E-EGRESS-UPSTREAM"' in out
    assert len(raw_origin.accepted) == 2


@pytest.mark.parametrize(
    ("method", "body", "reply"),
    [
        ("POST", b"once", b""),  # not idempotent, and a body already read
        ("PUT", b"body", b""),  # idempotent, but the body was streamed upstream
        ("GET", b"", b"HTTP/1.1 200"),  # a response had begun
    ],
)
def test_a_request_that_cannot_be_replayed_is_not_retried(
    raw_origin, make_proxy, method, body, reply
):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port, "/1")
    first = raw_origin.accept()
    _reply(first)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    sock = _ask(proxied, raw_origin.port, "/2", method, body)
    _read_request(first)
    first.sendall(reply)
    first.close()
    out = _answer(sock)
    assert out.startswith(b"HTTP/1.1 502 ")
    assert b'"E-EGRESS-UPSTREAM"' in out
    assert len(raw_origin.accepted) == 1


def test_a_post_without_a_body_is_not_retried_either(raw_origin, make_proxy):
    proxied = make_proxy([_raw_rule(raw_origin)])
    sock = _ask(proxied, raw_origin.port, "/1")
    first = raw_origin.accept()
    _reply(first)
    assert _answer(sock).startswith(b"HTTP/1.1 200 ")
    sock = _ask(proxied, raw_origin.port, "/2", "POST")
    _read_request(first)
    first.close()  # it may have acted on the POST before it closed
    assert _answer(sock).startswith(b"HTTP/1.1 502 ")
    assert len(raw_origin.accepted) == 1
