"""The proxy's lifecycle, bindings and records (HTTP details: test_proxy_http/conn)."""

from __future__ import annotations

import dataclasses
import http.client
import json
import socket
import threading
from typing import Any

import pytest

from enclosure.egress._proxy import Binding, EgressProxy, RequestRecord
from enclosure.egress._rules import Principal
from enclosure.errors import UsageError


def _rule(origin, **extra):
    return {"host": "api.test", "ports": [origin.port], "allow_private": True, **extra}


def _get(port, url, headers=None):
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", url, headers=headers or {})
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response, data


def test_start_is_idempotent_and_close_is_final(make_proxy):
    proxied = make_proxy([])
    proxy = proxied.proxy
    thread = proxy._thread
    proxy.start()
    assert proxy._thread is thread
    assert "running" in repr(proxy)
    proxy.close()
    proxy.close()
    assert not thread.is_alive()
    assert proxied.binding.closed
    proxied.binding.close()  # after the proxy: nothing left to do, no error
    with pytest.raises(UsageError):
        proxy.start()
    with pytest.raises(UsageError):
        proxy.serve_tcp(Principal("run-1", "agent"))


def test_serve_takes_a_socket_made_elsewhere(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen()
    binding = proxied.proxy.serve(sock, Principal("run-1", "fetch", call_id="c9"))
    assert isinstance(binding, Binding)
    assert binding.address == sock.getsockname()
    response, _ = _get(binding.address[1], f"http://api.test:{origin.port}/")
    assert response.status == 200
    (record,) = proxied.records.wait()
    assert record.principal == Principal("run-1", "fetch", call_id="c9")
    binding.close()
    assert sock.fileno() == -1  # the binding owned it
    assert "closed" in repr(binding)


def test_each_binding_records_its_own_principal(origin, make_proxy):
    proxied = make_proxy([_rule(origin, tools=["fetch"])])
    other = proxied.proxy.serve_tcp(Principal("run-1", "fetch"))
    assert _get(proxied.port, f"http://api.test:{origin.port}/")[0].status == 403
    assert _get(other.address[1], f"http://api.test:{origin.port}/")[0].status == 200
    first, second = proxied.records.wait(2)
    assert (first.principal.name, first.outcome) == ("agent", "denied")
    assert (second.principal.name, second.outcome) == ("fetch", "allowed")


def test_closing_the_proxy_cuts_open_connections(origin, make_proxy):
    proxied = make_proxy([_rule(origin)])
    conn = http.client.HTTPConnection("127.0.0.1", proxied.port, timeout=5)
    conn.request("GET", f"http://api.test:{origin.port}/slow")
    response = conn.getresponse()
    assert response.read(3) == b"abc"
    proxied.proxy.close()
    with pytest.raises((http.client.IncompleteRead, OSError)):
        response.read()
    conn.close()
    (record,) = proxied.records.wait()
    assert record.code == "E-EGRESS-CLOSED"


def test_a_failing_on_record_is_counted_not_raised(origin, make_proxy, caplog):
    def broken(record):
        raise RuntimeError("audit sink down")

    proxied = make_proxy([_rule(origin)], on_record=broken)
    for _ in range(2):
        assert _get(proxied.port, f"http://api.test:{origin.port}/")[0].status == 200
    proxied.proxy.close()  # joins the thread: both records were attempted
    assert proxied.proxy.record_errors == 2
    assert "on_record failed" in caplog.text


def test_on_record_may_close_its_binding_and_cannot_serve(origin, make_proxy):
    state: dict[str, Any] = {}
    done = threading.Event()

    def kill_on_first(record):
        try:
            state["binding"].close()  # runs on the proxy's own thread
            state["proxy"].serve_tcp(record.principal)
        except UsageError as exc:
            state["error"] = exc.code
        finally:
            done.set()

    proxied = make_proxy([_rule(origin)], on_record=kill_on_first)
    state.update(binding=proxied.binding, proxy=proxied.proxy)
    _get(proxied.port, f"http://api.test:{origin.port}/")
    assert done.wait(5)
    assert state["error"] == "E-USAGE"
    assert proxied.binding.closed


def test_records_carry_heads_and_bodies_only_when_asked_redacted_and_capped(
    origin, make_proxy
):
    proxied = make_proxy([_rule(origin)], log_bodies=True, log_body_bytes=20)
    conn = http.client.HTTPConnection("127.0.0.1", proxied.port, timeout=5)
    conn.request(
        "POST",
        f"http://api.test:{origin.port}/log",
        body=b"0123456789" * 5,
        headers={"Authorization": "Bearer t0k", "Cookie": "a=b", "X-Trace": "1"},
    )
    response = conn.getresponse()
    data = response.read()
    conn.close()
    (record,) = proxied.records.wait()
    assert record.request_headers["authorization"] == "[REDACTED]"
    assert record.request_headers["cookie"] == "[REDACTED]"
    assert record.request_headers["x-trace"] == "1"
    assert record.response_headers["content-type"] == "application/json"
    assert record.request_body == "01234567890123456789"
    assert record.response_body == data[:20].decode()
    assert record.bytes_up == 50
    assert record.duration_ms > 0
    with pytest.raises(dataclasses.FrozenInstanceError):
        record.status = 1
    assert isinstance(record, RequestRecord)
    assert json.loads(data)["headers"]["authorization"] == "Bearer t0k"


def test_an_egress_proxy_can_be_made_and_closed_without_serving():
    from enclosure.egress._ca import RunCA  # noqa: PLC0415
    from enclosure.manifest import NetworkSpec  # noqa: PLC0415

    proxy = EgressProxy(NetworkSpec(), broker=None, ca=RunCA(), on_record=print)
    assert "new" in repr(proxy)
    proxy.close()
    assert "closed" in repr(proxy)
