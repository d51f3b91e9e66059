"""The proxy's HTTP/1.1 connection against h11 itself, on hostile input.

Every case is fed to ``h11.Connection`` and to ``_proxy_h1.Connection`` alike, whole
and one byte at a time, and what each makes of it (events, errors, states, and the
bytes of the answers the driver sends back) must be the same: the proxy's framing
rules are h11's. Cases cover request smuggling shapes, header injection, oversized
heads and malformed chunked bodies. The outgoing side is tested directly: a value
the proxy injects (a credential) cannot smuggle a line break, a NUL or outer
whitespace into a head, and the refusal never quotes the value.
"""

from __future__ import annotations

from typing import Any

import h11
import pytest

from enclosure.egress._proxy_h1 import MAX_HEAD, Connection

HOST = b"Host: a.test\r\n"


def _req(*lines: bytes, body: bytes = b"", method: bytes = b"POST") -> bytes:
    head = method + b" http://a.test/x HTTP/1.1\r\n" + HOST + b"".join(lines)
    return head + b"\r\n" + body


SMUGGLED = b"GET http://a.test/secret HTTP/1.1\r\n" + HOST + b"\r\n"
CHUNKED_THEN_SMUGGLED = b"0\r\n\r\n" + SMUGGLED

REQUESTS: dict[str, bytes] = {
    "plain get": _req(method=b"GET"),
    "pipelined": _req(method=b"GET") + SMUGGLED,
    "content length body": _req(b"Content-Length: 3\r\n", body=b"abc"),
    "cl.te": _req(
        b"Content-Length: 40\r\n",
        b"Transfer-Encoding: chunked\r\n",
        body=CHUNKED_THEN_SMUGGLED,
    ),
    "te.cl": _req(
        b"Transfer-Encoding: chunked\r\n",
        b"Content-Length: 3\r\n",
        body=b"3\r\nabc\r\n0\r\n\r\n",
    ),
    "te obfuscated": _req(
        b"Transfer-Encoding: xchunked\r\n", body=CHUNKED_THEN_SMUGGLED
    ),
    "te twice": _req(
        b"Transfer-Encoding: chunked\r\n",
        b"Transfer-Encoding: identity\r\n",
        body=CHUNKED_THEN_SMUGGLED,
    ),
    "te list": _req(b"Transfer-Encoding: gzip, chunked\r\n", body=b"0\r\n\r\n"),
    "te upper case": _req(b"Transfer-Encoding: CHUNKED\r\n", body=b"0\r\n\r\n"),
    "te space before colon": _req(
        b"Transfer-Encoding : chunked\r\n", body=CHUNKED_THEN_SMUGGLED
    ),
    "te vertical tab": _req(b"Transfer-Encoding:\x0bchunked\r\n", body=b"0\r\n\r\n"),
    "two equal content lengths": _req(
        b"Content-Length: 3\r\n", b"Content-Length: 3\r\n", body=b"abc"
    ),
    "two content lengths": _req(
        b"Content-Length: 0\r\n", b"Content-Length: 36\r\n", body=SMUGGLED
    ),
    "leading zero content lengths": _req(
        b"Content-Length: 3\r\n", b"Content-Length: 003\r\n", body=b"abc"
    ),
    "content length list": _req(b"Content-Length: 3, 3\r\n", body=b"abc"),
    "conflicting content length list": _req(b"Content-Length: 3, 4\r\n", body=b"abcd"),
    "signed content length": _req(b"Content-Length: +3\r\n", body=b"abc"),
    "negative content length": _req(b"Content-Length: -1\r\n", body=b"abc"),
    "hex content length": _req(b"Content-Length: 0x3\r\n", body=b"abc"),
    "huge content length": _req(b"Content-Length: " + b"9" * 21 + b"\r\n"),
    "folded transfer-encoding": _req(
        b"X-Folded: a\r\n",
        b" Transfer-Encoding: chunked\r\n",
        b"Content-Length: 5\r\n",
        body=CHUNKED_THEN_SMUGGLED,
    ),
    "fold at the start": (
        b"GET http://a.test/ HTTP/1.1\r\n Transfer-Encoding: chunked\r\n"
        + HOST
        + b"\r\n"
    ),
    "tab fold": _req(b"X-A: a\r\n", b"\tb\r\n", method=b"GET"),
    "fold after trailing spaces": _req(b"X-A: a  \r\n", b"  b \r\n", method=b"GET"),
    "blank continuation": _req(b"X-A: a\r\n", b"   \r\n", method=b"GET"),
    "two folds": _req(b"X-A:\r\n", b" a\r\n", b"\t b\r\n", method=b"GET"),
    "nul in a value": _req(b"X-Evil: a\x00b\r\n", method=b"GET"),
    "cr in a value": _req(b"X-Evil: a\rb\r\n", method=b"GET"),
    "bare lf line ends": b"GET http://a.test/ HTTP/1.1\nHost: a.test\nX: y\n\n",
    "lf then crlf blank line": b"GET http://a.test/ HTTP/1.1\nHost: a.test\n\r\n",
    "space in a name": _req(b"X Evil: a\r\n", method=b"GET"),
    "empty name": _req(b": a\r\n", method=b"GET"),
    "no colon": _req(b"X-Evil\r\n", method=b"GET"),
    "empty value": _req(b"X-Empty:\r\n", method=b"GET"),
    "padded value": _req(b"X-Pad: \t a b \t\r\n", method=b"GET"),
    "obs-text value": _req(b"X-Latin: caf\xe9\r\n", method=b"GET"),
    "missing host": b"GET http://a.test/ HTTP/1.1\r\n\r\n",
    "two hosts": _req(b"Host: b.test\r\n", method=b"GET"),
    "http/1.0 without host": b"GET http://a.test/ HTTP/1.0\r\n\r\n" + SMUGGLED,
    "http/1.0 keep-alive": (
        b"GET http://a.test/ HTTP/1.0\r\nConnection: keep-alive\r\n\r\n" + SMUGGLED
    ),
    "connection close": _req(b"Connection: close\r\n", method=b"GET") + SMUGGLED,
    "connection list with close": _req(b"Connection: x, CLOSE\r\n", method=b"GET"),
    "crlf in the target": b"GET http://a.test/a\r\nX: y HTTP/1.1\r\n\r\n",
    "space in the target": b"GET http://a.test/a b HTTP/1.1\r\n" + HOST + b"\r\n",
    "lower case version": b"GET http://a.test/ http/1.1\r\n" + HOST + b"\r\n",
    "version 2": b"GET http://a.test/ HTTP/2.0\r\n" + HOST + b"\r\n" + SMUGGLED,
    "nul in the method": b"GET\x00 nonsense\r\n\r\n",
    "two spaces in the request line": b"GET  http://a.test/ HTTP/1.1\r\n"
    + HOST
    + b"\r\n",
    "trailing space on the request line": (
        b"GET http://a.test/ HTTP/1.1 \r\n" + HOST + b"\r\n"
    ),
    "high byte in a name": _req(b"X-\xff: a\r\n", method=b"GET"),
    "del in a value": _req(b"X-Del: a\x7fb\r\n", method=b"GET"),
    "expect on http/1.0": (
        b"POST http://a.test/ HTTP/1.0\r\nContent-Length: 1\r\n"
        b"Expect: 100-continue\r\n\r\nx"
    ),
    "leading blank lines": b"\r\n\r\n" + _req(method=b"GET"),
    "tls hello": b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03" + b"\0" * 40,
    "socks5": b"\x05\x01\x00",
    "expect 100-continue": _req(
        b"Content-Length: 4\r\n", b"Expect: 100-continue\r\n", body=b"body"
    ),
    "connect": b"CONNECT a.test:443 HTTP/1.1\r\nHost: a.test:443\r\n\r\n\x16\x03",
    "upgrade": _req(b"Connection: upgrade\r\n", b"Upgrade: websocket\r\n"),
    "chunked": _req(
        b"Transfer-Encoding: chunked\r\n",
        body=b"3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\n\r\n",
    ),
    "chunked with a trailer": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"1\r\na\r\n0\r\nX-Sum: 1\r\n\r\n"
    ),
    "chunk extension with a cr": _req(
        b"Transfer-Encoding: chunked\r\n", body=b'1;a="\r"\r\nx\r\n0\r\n\r\n'
    ),
    "bad trailer": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"0\r\nX Bad: 1\r\n\r\n"
    ),
    "chunk size not hex": _req(b"Transfer-Encoding: chunked\r\n", body=b"g\r\na\r\n"),
    "chunk size negative": _req(b"Transfer-Encoding: chunked\r\n", body=b"-1\r\na\r\n"),
    "chunk size 0x": _req(b"Transfer-Encoding: chunked\r\n", body=b"0x1\r\na\r\n"),
    "chunk size too long": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"0" * 20 + b"1\r\na\r\n0\r\n\r\n"
    ),
    "chunk size 20 digits": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"0" * 19 + b"1\r\na\r\n0\r\n\r\n"
    ),
    "chunk size trailing space": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"1 \r\na\r\n0\r\n\r\n"
    ),
    "chunk size leading space": _req(
        b"Transfer-Encoding: chunked\r\n", body=b" 1\r\na\r\n0\r\n\r\n"
    ),
    "chunk size bare lf": _req(b"Transfer-Encoding: chunked\r\n", body=b"1\na\r\n"),
    "chunk longer than its size": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"1\r\nab\r\n0\r\n\r\n"
    ),
    "chunk footer missing": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"1\r\naXX0\r\n\r\n"
    ),
    "chunked cut short": _req(b"Transfer-Encoding: chunked\r\n", body=b"5\r\nab"),
    "body cut short": _req(b"Content-Length: 10\r\n", body=b"abc"),
    "head cut short": b"GET http://a.test/ HTTP/1.1\r\nHost: a.te",
    "oversized head": _req(b"X-Big: " + b"a" * (2 * MAX_HEAD) + b"\r\n"),
    "large complete head": _req(
        *[b"X-%d: %s\r\n" % (i, b"v" * 100) for i in range(100)], method=b"GET"
    ),
    "oversized chunk size line": _req(
        b"Transfer-Encoding: chunked\r\n", body=b"1;" + b"x" * (MAX_HEAD + 10)
    ),
}


def _shape(event: Any) -> tuple[Any, ...]:
    """An event as plain data, so h11's and ours compare."""
    kind = type(event).__name__
    if isinstance(event, h11.Request):
        return (
            kind,
            event.method,
            event.target,
            list(event.headers),
            event.http_version,
        )
    if isinstance(event, (h11.Response, h11.InformationalResponse)):
        fields = (event.status_code, event.reason, list(event.headers))
        return (kind, *fields, event.http_version)
    if isinstance(event, h11.Data):
        return (kind, bytes(event.data), event.chunk_start, event.chunk_end)
    if isinstance(event, h11.EndOfMessage):
        return (kind, list(event.headers))
    return (kind,)


def _send(conn: Any, out: list[Any], *events: Any) -> bool:
    """Send each event, noting its bytes, or that it was refused (then stop)."""
    for event in events:
        try:
            out.append(conn.send(event))
        except h11.LocalProtocolError:
            out.append(("refused", type(event).__name__))
            return False
    return True


def _serve(conn: Any, chunks: list[bytes]) -> list[Any]:
    """Play the proxy's client side: read requests, answer each, go on."""
    out: list[Any] = []
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                out.append(("error", exc.error_status_hint))
                return out
            if event is h11.NEED_DATA:
                if conn.they_are_waiting_for_100_continue:
                    go_on = h11.InformationalResponse(status_code=100, headers=[])
                    out.append(conn.send(go_on))
                break
            if event is h11.PAUSED:
                out.append(("paused", conn.trailing_data))
                return out
            out.append(_shape(event))
            if isinstance(event, h11.ConnectionClosed):
                return out
            if isinstance(event, h11.EndOfMessage):
                answer = h11.Response(status_code=200, headers=[])
                _send(conn, out, answer, h11.EndOfMessage())
                out.append((conn.our_state, conn.their_state))
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
    return out


def _both(raw: bytes, step: int, drive: Any = _serve, **kwargs: Any) -> None:
    chunks = [raw[i : i + step] for i in range(0, len(raw), step)] or [b""]
    theirs = drive(h11.Connection(h11.SERVER), chunks, **kwargs)
    ours = drive(Connection(h11.SERVER), chunks, **kwargs)
    assert ours == theirs


@pytest.mark.parametrize("name", sorted(REQUESTS))
def test_a_request_is_framed_as_h11_frames_it(name):
    raw = REQUESTS[name]
    _both(raw, len(raw) or 1)
    _both(raw, 1 if len(raw) < 2000 else 997)


def test_the_hostile_requests_are_refused_where_they_must_be():
    # The differential test above proves "as h11"; these pin the outcome.
    refused = {
        "cl.te": False,  # read as chunked, as h11 does; the proxy then answers 400
        "te obfuscated": True,
        "te twice": True,
        "te list": True,
        "te space before colon": True,
        "two content lengths": True,
        "leading zero content lengths": True,  # h11 compares the digits as written
        "conflicting content length list": True,
        "signed content length": True,
        "negative content length": True,
        "hex content length": True,
        "huge content length": True,
        "nul in a value": True,
        "cr in a value": True,
        "fold at the start": True,
        "crlf in the target": True,
        "missing host": True,
        "two hosts": True,
        "bad trailer": True,
        "chunk size not hex": True,
        "chunk size too long": True,
        "chunk size 0x": True,
        "chunk footer missing": True,
        "oversized head": True,
        "oversized chunk size line": True,
        "tls hello": True,
        "socks5": True,
    }
    for name, expected in refused.items():
        raw = REQUESTS[name]
        chunks = [raw[i : i + 4096] for i in range(0, len(raw), 4096)]
        out = _serve(Connection(h11.SERVER), chunks)
        assert (out[-1][0] == "error") is expected, name


def test_an_oversized_head_is_refused_while_incomplete_with_431():
    conn = Connection(h11.SERVER)
    conn.receive_data(b"GET http://a.test/ HTTP/1.1\r\nX: " + b"a" * MAX_HEAD)
    with pytest.raises(h11.RemoteProtocolError) as caught:
        conn.next_event()
    assert caught.value.error_status_hint == 431
    assert conn.their_state is h11.ERROR
    with pytest.raises(h11.RemoteProtocolError):
        conn.next_event()  # and stays refused


def test_cl_te_is_read_as_chunked_so_the_smuggled_request_is_a_request_of_its_own():
    conn = Connection(h11.SERVER)
    conn.receive_data(REQUESTS["cl.te"])
    request = conn.next_event()
    assert dict(request.headers)[b"transfer-encoding"] == b"chunked"
    assert isinstance(conn.next_event(), h11.EndOfMessage)  # "0\r\n\r\n" only
    conn.send(h11.Response(status_code=400, headers=[(b"content-length", b"0")]))
    conn.send(h11.EndOfMessage())
    conn.start_next_cycle()
    smuggled = conn.next_event()
    assert (smuggled.method, smuggled.target) == (b"GET", b"http://a.test/secret")


# --- responses (the proxy is the origin's client) ------------------------------------


def _fetch(conn: Any, chunks: list[bytes], method: bytes = b"GET") -> list[Any]:
    out: list[Any] = []
    head = h11.Request(method=method, target="/", headers=[("Host", "a.test")])
    out.append(conn.send(head))
    out.append(conn.send(h11.EndOfMessage()))
    for chunk in [*chunks, b""]:
        conn.receive_data(chunk)
        while True:
            try:
                event = conn.next_event()
            except h11.RemoteProtocolError as exc:
                out.append(("error", exc.error_status_hint))
                return out
            if event is h11.NEED_DATA:
                break
            if event is h11.PAUSED:
                out.append(("paused", conn.trailing_data))
                return out
            out.append(_shape(event))
            if isinstance(event, h11.ConnectionClosed):
                return out
            if isinstance(event, h11.EndOfMessage):
                out.append((conn.our_state, conn.their_state))
                if conn.our_state is h11.DONE and conn.their_state is h11.DONE:
                    conn.start_next_cycle()
                    out.append(conn.send(head))
                    out.append(conn.send(h11.EndOfMessage()))
    return out


OK = b"HTTP/1.1 200 OK\r\n"
RESPONSES: dict[str, bytes] = {
    "content length": OK + b"Content-Length: 2\r\n\r\nok",
    "two responses": OK
    + b"Content-Length: 2\r\n\r\nok"
    + OK
    + b"Content-Length: 0\r\n\r\n",
    "until close": OK + b"\r\nall of it",
    "chunked": OK + b"Transfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "cl.te": OK
    + b"Content-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\n",
    "two content lengths": OK + b"Content-Length: 2\r\nContent-Length: 3\r\n\r\nok!",
    "te gzip": OK + b"Transfer-Encoding: gzip\r\n\r\nzz",
    "no reason": b"HTTP/1.1 204\r\n\r\n",
    "204 with a length": b"HTTP/1.1 204 No Content\r\nContent-Length: 5\r\n\r\n",
    "304": b"HTTP/1.1 304 Not Modified\r\nContent-Length: 5\r\n\r\n",
    "100 then 200": b"HTTP/1.1 100 Continue\r\n\r\n"
    + OK
    + b"Content-Length: 0\r\n\r\n",
    "101 unasked": b"HTTP/1.1 101 Switching Protocols\r\nUpgrade: x\r\n\r\n",
    "http/1.0": b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok",
    "http/1.0 chunked": (
        b"HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
    ),
    "http/1.0 until close": b"HTTP/1.0 200 OK\r\n\r\nall",
    "folded response header": OK + b"X: a\r\n b\r\nContent-Length: 0\r\n\r\n",
    "chunked trailer": OK
    + b"Transfer-Encoding: chunked\r\n\r\n1\r\na\r\n0\r\nX-T: 1\r\n\r\n",
    "connection close": OK + b"Connection: close\r\nContent-Length: 2\r\n\r\nok",
    "reason with obs-text": b"HTTP/1.1 200 \xe9t\xe9\r\nContent-Length: 0\r\n\r\n",
    "status 99": b"HTTP/1.1 099 Low\r\n\r\n",
    "status four digits": b"HTTP/1.1 2000 OK\r\n\r\n",
    "injected header line": OK + b"X: a\r\rSet-Cookie: b\r\nContent-Length: 0\r\n\r\n",
    "nul in a value": OK + b"X: a\x00\r\nContent-Length: 0\r\n\r\n",
    "bytes before the status line": b"junk" + OK + b"\r\n",
    "cut mid-body": OK + b"Content-Length: 9\r\n\r\nabc",
    "cut mid-chunk": OK + b"Transfer-Encoding: chunked\r\n\r\n9\r\nabc",
    "bad chunk size": OK + b"Transfer-Encoding: chunked\r\n\r\nzz\r\n",
}


@pytest.mark.parametrize("name", sorted(RESPONSES))
@pytest.mark.parametrize("method", [b"GET", b"HEAD"])
def test_a_response_is_framed_as_h11_frames_it(name, method):
    raw = RESPONSES[name]
    for step in (len(raw), 1):
        chunks = [raw[i : i + step] for i in range(0, len(raw), step)]
        theirs = _fetch(h11.Connection(h11.CLIENT), chunks, method)
        ours = _fetch(Connection(h11.CLIENT), chunks, method)
        assert ours == theirs


# --- what the proxy sends -------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        b"sk-1\r\nX-Evil: 1",
        b"sk-1\nX-Evil: 1",
        b"sk-1\rX-Evil: 1",
        b"sk-1\x00",
        b"sk-1 ",
        b" sk-1",
        b"sk-1\t",
        b"sk-1\x0bx",
        b"sk-1\x0cx",
    ],
)
def test_an_injected_value_cannot_break_the_head_and_is_never_quoted(value):
    conn = Connection(h11.CLIENT)
    headers = [(b"host", b"a.test"), (b"authorization", value)]
    with pytest.raises(h11.LocalProtocolError) as caught:
        conn.send_request(b"GET", b"/", headers)
    assert b"sk-1" not in str(caught.value).encode()
    assert "authorization" in str(caught.value)
    assert conn.our_state is h11.ERROR  # nothing more goes out on it
    with pytest.raises(h11.LocalProtocolError):
        conn.send_request(b"GET", b"/", [(b"host", b"a.test")])
    # h11's own rules say no to the same values.
    with pytest.raises(h11.LocalProtocolError):
        h11.Request(method="GET", target="/", headers=headers)


@pytest.mark.parametrize(
    ("method", "target", "headers"),
    [
        (b"GET", b"/a\r\nX: y", [(b"host", b"a.test")]),
        (b"GET", b"/a b", [(b"host", b"a.test")]),
        (b"GET", b"/?q=\x00", [(b"host", b"a.test")]),
        (b"G T", b"/", [(b"host", b"a.test")]),
        (b"GET", b"/", [(b"host", b"a.test"), (b"x-api key", b"v")]),
        (b"GET", b"/", [(b"host", b"a.test"), (b"x-key:", b"v")]),
        (b"GET", b"/", [(b"host", b"a.test"), (b"x-key\r\n", b"v")]),
        (b"GET", b"/", []),  # no Host
        (b"GET", b"/", [(b"host", b"a.test"), (b"Host", b"b.test")]),
        (b"POST", b"/", [(b"host", b"a"), (b"content-length", b"1, 2")]),
        (b"POST", b"/", [(b"host", b"a"), (b"content-length", b"+1")]),
        (b"POST", b"/", [(b"host", b"a"), (b"transfer-encoding", b"gzip")]),
        (
            b"POST",
            b"/",
            [
                (b"host", b"a"),
                (b"transfer-encoding", b"chunked"),
                (b"transfer-encoding", b"chunked"),
            ],
        ),
    ],
)
def test_a_request_head_h11_would_refuse_is_refused(method, target, headers):
    with pytest.raises(h11.LocalProtocolError):
        h11.Connection(h11.CLIENT).send(
            h11.Request(method=method, target=target, headers=headers)
        )
    with pytest.raises(h11.LocalProtocolError):
        Connection(h11.CLIENT).send_request(method, target, headers)


def test_a_request_head_is_the_bytes_h11_sends():
    headers = [
        (b"X-First", b"1"),
        (b"Host", b"a.test:8080"),
        (b"Authorization", b"Bearer sk-1"),
        (b"content-length", b"3"),
    ]
    theirs = h11.Connection(h11.CLIENT)
    ours = Connection(h11.CLIENT)
    expected = theirs.send(h11.Request(method="PUT", target="/a?b", headers=headers))
    assert ours.send_request(b"PUT", b"/a?b", headers) == expected
    assert ours.send(h11.Data(data=b"abc")) == theirs.send(h11.Data(data=b"abc"))
    with pytest.raises(h11.LocalProtocolError):
        ours.send(h11.Data(data=b"x"))  # more than Content-Length


@pytest.mark.parametrize(
    "request_head",
    [
        _req(method=b"GET"),
        _req(method=b"HEAD"),
        _req(b"Connection: close\r\n", method=b"GET"),
        b"GET http://a.test/ HTTP/1.0\r\n\r\n",
        b"HEAD http://a.test/ HTTP/1.0\r\n\r\n",
    ],
)
@pytest.mark.parametrize(
    ("status", "headers"),
    [
        (200, [(b"Content-Length", b"2")]),
        (200, []),  # unknown length: chunked to 1.1, until close to 1.0
        (200, [(b"Transfer-Encoding", b"chunked"), (b"Content-Length", b"2")]),
        (200, [(b"Connection", b"keep-alive, Upgrade"), (b"Content-Length", b"2")]),
        (204, []),
        (304, [(b"Content-Length", b"2")]),
        (404, [(b"Content-Type", b"text/plain")]),
    ],
)
def test_a_response_is_framed_for_the_client_as_h11_frames_it(
    request_head, status, headers
):
    sent = []
    for conn in (h11.Connection(h11.SERVER), Connection(h11.SERVER)):
        conn.receive_data(request_head)
        conn.next_event()
        conn.next_event()
        head = conn.send(h11.Response(status_code=status, headers=headers, reason="R"))
        body = []
        for data in (b"o", b"k"):
            try:
                body.append(conn.send(h11.Data(data=data)))
            except h11.LocalProtocolError:
                body.append(b"refused")
                break
        else:
            body.append(conn.send(h11.EndOfMessage()))
        sent.append((head, body, conn.our_state, conn.their_state))
    assert sent[1] == sent[0]


def test_a_response_head_with_a_bad_reason_or_status_is_refused():
    for status, reason in ((200, b"OK\r\nX: y"), (200, b"O\x00K"), (99, b"")):
        conn = Connection(h11.SERVER)
        conn.receive_data(_req(method=b"GET"))
        conn.next_event()
        with pytest.raises(h11.LocalProtocolError):
            conn.send_response(status, reason, [])
        assert conn.our_state is h11.ERROR


def test_nothing_is_sent_out_of_turn():
    conn = Connection(h11.CLIENT)
    with pytest.raises(h11.LocalProtocolError):
        conn.send(h11.Data(data=b"x"))  # no request yet
    conn = Connection(h11.SERVER)
    with pytest.raises(h11.LocalProtocolError):
        conn.send_request(b"GET", b"/", [(b"host", b"a")])  # a server's role
    conn = Connection(h11.SERVER)
    conn.receive_data(_req(method=b"GET"))
    conn.next_event()
    conn.next_event()
    conn.send_response(100, b"Continue", [])
    conn.send_response(200, b"", [(b"content-length", b"0")])
    conn.send(h11.EndOfMessage())
    with pytest.raises(h11.LocalProtocolError):
        conn.send_response(200, b"", [])  # one response per request
    with pytest.raises(ValueError, match="CLIENT or SERVER"):
        Connection(h11.IDLE)
