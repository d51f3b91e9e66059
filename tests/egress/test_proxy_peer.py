from __future__ import annotations

import asyncio
import ipaddress
import socket

import h11
import pytest

from enclosure.egress._ca import RunCA, upstream_context
from enclosure.egress._proxy_peer import Context, Dialer, Peer, Slot, Upstream
from enclosure.egress._proxy_pool import Pool
from enclosure.egress._rules import Principal
from enclosure.errors import EgressRefused
from enclosure.identity import CredentialBroker
from enclosure.manifest import CredentialSpec, NetworkSpec
from enclosure.testing import FakeClock

LOOPBACK = ipaddress.ip_address("127.0.0.1")


class _Resolver:
    async def resolve(self, host, port):
        return [LOOPBACK]


def _dialer(**kwargs):
    options = {
        "resolver": _Resolver(),
        "is_literal_allowed": lambda host: False,
        "tls": upstream_context,
        "timeout": 5.0,
    }
    return Dialer(**{**options, **kwargs})


def _run(coro):
    async def bounded():
        async with asyncio.timeout(5):
            return await coro

    return asyncio.run(bounded())


async def _pair():
    """A connected (client side, server side) pair of stream tuples."""
    accepted = asyncio.get_running_loop().create_future()

    async def on_accept(reader, writer):
        accepted.set_result((reader, writer))

    server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    near = await asyncio.open_connection("127.0.0.1", port)
    far = await accepted
    server.close()
    return near, far, port


def test_writes_wait_for_a_flush_and_leave_together():
    async def main():
        (reader, writer), (far_reader, far_writer), _ = await _pair()
        peer = Peer(h11.CLIENT, reader, writer)
        peer.write(h11.Request(method="GET", target="/", headers=[("host", "a")]))
        peer.write(h11.EndOfMessage())
        assert peer.sent == 0
        assert peer.pending
        await peer.flush()
        assert not peer.pending
        data = await far_reader.readuntil(b"\r\n\r\n")
        assert data.startswith(b"GET / HTTP/1.1\r\n")
        assert peer.sent == len(data)
        far_writer.write(b"HTTP/1.1 204 No Content\r\n\r\n")
        event = await peer.next_event(5)
        assert isinstance(event, h11.Response)
        assert isinstance(peer.poll(), h11.EndOfMessage)
        assert peer.next_cycle()
        peer.abort()
        far_writer.close()

    _run(main())


def test_a_slot_takes_from_the_pool_only_a_clean_upstream_for_the_same_origin():
    async def main():
        (reader, writer), (_, far_writer), _ = await _pair()
        upstream = Upstream(("http", "a.test", 80), LOOPBACK, reader, writer)
        assert not upstream.public
        pool = Pool(FakeClock())
        slot = Slot(pool, "binding-1")
        key = ("http", "a.test", 80)
        assert slot.take(key, allow_private=True) is None  # nothing pooled yet
        slot.put(upstream)
        slot.release()
        assert (slot.upstream, len(pool)) == (None, 1)
        assert slot.take(("http", "b.test", 80), allow_private=True) is None
        assert slot.take(key, allow_private=True) is upstream
        assert (slot.upstream, len(pool)) == (upstream, 0)
        slot.abort()
        assert slot.upstream is None
        assert writer.is_closing()
        far_writer.close()

    _run(main())


def test_a_private_upstream_is_not_taken_for_a_public_only_rule():
    async def main():
        (reader, writer), (_, far_writer), _ = await _pair()
        upstream = Upstream(("http", "a.test", 80), LOOPBACK, reader, writer)
        key = ("http", "a.test", 80)
        assert upstream.reusable_for(key, allow_private=True)
        assert not upstream.reusable_for(key, allow_private=False)
        pool = Pool(FakeClock())
        slot = Slot(pool, "binding-1")
        slot.put(upstream)
        slot.release()
        assert slot.take(key, allow_private=False) is None
        assert len(pool) == 1  # still clean: kept for a rule that allows it
        assert not writer.is_closing()
        pool.close()
        far_writer.close()

    _run(main())


def test_an_upstream_is_clean_only_when_idle_fully_read_and_open():
    async def main():
        (reader, writer), (far_reader, far_writer), _ = await _pair()
        upstream = Upstream(("http", "a.test", 80), LOOPBACK, reader, writer)
        assert upstream.clean()
        upstream.write(h11.Request(method="GET", target="/", headers=[("host", "a")]))
        upstream.write(h11.EndOfMessage())
        assert not upstream.clean()  # mid-exchange
        await upstream.flush()
        await far_reader.readuntil(b"\r\n\r\n")
        far_writer.write(b"HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\nok")
        assert isinstance(await upstream.next_event(5), h11.Response)
        assert upstream.received > 0
        assert isinstance(await upstream.next_event(5), h11.Data)
        assert isinstance(upstream.poll(), h11.EndOfMessage)
        assert upstream.next_cycle()
        assert upstream.clean()
        # The origin speaks while idle (a 408 before it closes): not clean.
        far_writer.write(b"HTTP/1.1 408 Request Timeout\r\n\r\n")
        await far_writer.drain()
        await reader._wait_for_data("test")  # asyncio's own wait for bytes
        assert not upstream.clean()
        upstream.abort()
        far_writer.close()

    _run(main())


def test_an_upstream_the_origin_closed_is_not_clean():
    async def main():
        (reader, writer), (_, far_writer), _ = await _pair()
        upstream = Upstream(("http", "a.test", 80), LOOPBACK, reader, writer)
        far_writer.close()
        await reader.read()  # end of stream, nothing before it
        assert reader.at_eof()
        assert not upstream.clean()
        upstream.abort()

    _run(main())


def test_dialling_a_closed_port_is_a_502():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        with pytest.raises(EgressRefused) as caught:
            _run(_dialer().open("http", "a.test", port, [LOOPBACK]))
    assert (caught.value.code, caught.value.status) == ("E-EGRESS-UPSTREAM", 502)


def test_a_connect_that_hangs_is_a_504():
    async def never(*args, **kwargs):
        await asyncio.Event().wait()

    dialer = _dialer(timeout=0.01)
    dialer.connect = never
    with pytest.raises(EgressRefused) as caught:
        _run(dialer.open("http", "a.test", 80, [LOOPBACK]))
    assert (caught.value.code, caught.value.status) == ("E-EGRESS-TIMEOUT", 504)


def test_an_untrusted_origin_certificate_is_a_502():
    ca = RunCA(name="Someone else")

    async def main():
        server = await asyncio.start_server(
            lambda r, w: None, "127.0.0.1", 0, ssl=ca.server_context("a.test")
        )
        port = server.sockets[0].getsockname()[1]
        try:
            await _dialer().open("https", "a.test", port, [LOOPBACK])
        finally:
            server.close()

    with pytest.raises(EgressRefused, match="not trusted"):
        _run(main())


def test_check_refuses_unnamed_literals_and_allows_named_ones():
    with pytest.raises(EgressRefused) as caught:
        _run(_dialer().check("127.0.0.1", 80, allow_private=True, rule=None))
    assert caught.value.code == "E-EGRESS-SSRF"
    named = _dialer(is_literal_allowed=lambda host: host == "127.0.0.1")
    assert _run(named.check("127.0.0.1", 80, allow_private=True, rule="x")) == [
        LOOPBACK
    ]
    assert _run(named.check("a.test", 80, allow_private=True, rule="x")) == [LOOPBACK]


def test_every_checked_answer_may_be_tried_in_order():
    class Two:
        calls = 0

        async def resolve(self, host, port):
            Two.calls += 1
            return [ipaddress.ip_address("127.0.0.2"), LOOPBACK]

    dialer = _dialer(resolver=Two())
    addresses = _run(dialer.check("a.test", 80, allow_private=True, rule=None))
    assert addresses == [ipaddress.ip_address("127.0.0.2"), LOOPBACK]
    assert Two.calls == 1

    async def main():
        async def on_accept(reader, writer):
            writer.close()

        server = await asyncio.start_server(on_accept, "127.0.0.1", 0)
        port = server.sockets[0].getsockname()[1]
        try:  # 127.0.0.2 refuses: nothing listens there
            upstream = await dialer.open("http", "a.test", port, addresses)
        finally:
            server.close()
        upstream.abort()
        return upstream.address

    assert _run(main()) == LOOPBACK


def test_when_no_address_answers_the_error_names_them_all():
    with socket.socket() as placeholder:
        placeholder.bind(("127.0.0.1", 0))
        port = placeholder.getsockname()[1]
        addresses = [ipaddress.ip_address("127.0.0.2"), LOOPBACK]
        with pytest.raises(EgressRefused, match=r"127\.0\.0\.2: .*; 127\.0\.0\.1: "):
            _run(_dialer().open("http", "a.test", port, addresses))


def test_the_context_strips_only_once_a_secret_is_known(monkeypatch):
    monkeypatch.setenv("EGRESS_TEST_TOKEN", "tok-0123456789")
    spec = CredentialSpec.model_validate(
        {"source": "env:EGRESS_TEST_TOKEN", "inject": {"header": "X-Key"}}
    )
    broker = CredentialBroker({"k": spec})
    ctx = Context(
        spec=NetworkSpec(log_bodies=True, log_body_bytes=8),
        policy=None,
        broker=broker,
        ca=None,
        dialer=None,
        emit=print,
        executor=None,
        pool=None,
    )
    assert ctx.strip() is None  # nothing to strip: the fast path
    broker.materialise("k", Principal("run-1", "agent"), host="api.test")
    strip = ctx.strip()
    assert strip(b"x tok-0123456789 y") == b"x [REDACTED:k] y"
    sample = ctx.sample()
    sample.add(b"0123456789")
    assert sample.text(None) == "01234567"
