from __future__ import annotations

import json

import h11
import pytest

from enclosure.egress._proxy_wire import (
    BAD_REQUEST,
    PolicyRefused,
    Target,
    body_length,
    clean_headers,
    outcome_of,
    parse_absolute,
    parse_authority,
    parse_origin,
    raw_refusal,
    refusal_response,
    wants_upgrade,
)
from enclosure.egress._rules import Verdict
from enclosure.errors import EgressRefused


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"http://api.test/a?b=1", Target("http", "api.test", 80, "/a?b=1")),
        (b"HTTP://API.Test.:8080", Target("http", "api.test", 8080, "/")),
        (b"http://api.test?q", Target("http", "api.test", 80, "/?q")),
        (b"https://api.test/x#frag", Target("https", "api.test", 443, "/x")),
        (b"http://[::1]:81/", Target("http", "::1", 81, "/", literal=True)),
        (b"http://127.0.0.1/", Target("http", "127.0.0.1", 80, "/", literal=True)),
        (
            b"http://[FE80::1%25ETH0]/",  # as normalise_host has it: all lower case
            Target("http", "fe80::1%25eth0", 80, "/", literal=True),
        ),
        (b"http://01.2.3.4/", Target("http", "01.2.3.4", 80, "/")),  # _ssrf refuses
    ],
)
def test_absolute_targets_parse(raw, expected):
    assert parse_absolute(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        b"/origin/form",
        b"*",
        b"ftp://api.test/",
        b"http://u:p@api.test/",
        b"http://api.test:0/",
        b"http://api.test:65536/",
        b"http://api.test:x/",
        b"http://[::1/",
        b"http://[nope]/",
        b"http://a b/",
        b"http:///x",
        b"http://" + b"a" * 64 + b".test/",
    ],
)
def test_bad_targets_are_400(raw):
    with pytest.raises(EgressRefused) as caught:
        parse_absolute(raw)
    assert (caught.value.code, caught.value.status) == (BAD_REQUEST, 400)


def test_authority_needs_a_port_for_connect():
    assert parse_authority("API.test:443", None) == ("api.test", 443)
    assert parse_authority("[2001:db8::1]:8443", None) == ("2001:db8::1", 8443)
    with pytest.raises(EgressRefused, match="CONNECT needs host:port"):
        parse_authority("api.test", None)


def test_origin_targets_are_only_origin_form():
    assert parse_origin(b"/a?b#c", "https", "api.test", 443) == Target(
        "https", "api.test", 443, "/a?b"
    )
    with pytest.raises(EgressRefused):
        parse_origin(b"https://api.test/a", "https", "api.test", 443)


def test_target_authority_and_path():
    assert Target("http", "api.test", 80, "/a?b").authority == "api.test"
    assert Target("https", "::1", 8443, "/").authority == "[::1]:8443"
    assert Target("http", "api.test", 80, "/a?b").path == "/a"


def test_clean_headers_drops_hop_by_hop_and_what_connection_names():
    headers = [
        (b"host", b"x"),
        (b"connection", b"keep-alive, X-Private"),
        (b"x-private", b"1"),
        (b"keep-alive", b"5"),
        (b"proxy-authorization", b"Basic x"),
        (b"te", b"trailers"),
        (b"transfer-encoding", b"chunked"),
        (b"upgrade", b"websocket"),
        (b"expect", b"100-continue"),
        (b"content-length", b"3"),
        (b"accept", b"*/*"),
    ]
    assert clean_headers(headers, keep_length=True) == [
        (b"content-length", b"3"),
        (b"accept", b"*/*"),
    ]
    assert clean_headers(headers, keep_length=False) == [(b"accept", b"*/*")]


def test_body_length_and_upgrade():
    assert body_length([(b"content-length", b"12")]) == 12
    assert body_length([]) == 0
    assert body_length([(b"transfer-encoding", b"chunked")]) is None
    with pytest.raises(EgressRefused):
        body_length([(b"content-length", b"3"), (b"transfer-encoding", b"chunked")])
    with pytest.raises(EgressRefused):
        body_length([(b"content-length", b"0"), (b"transfer-encoding", b"chunked")])
    assert wants_upgrade([(b"upgrade", b"h2c")])
    assert not wants_upgrade([(b"connection", b"close")])


def test_refusals_are_json_naming_code_rule_reason_host_and_method():
    verdict = Verdict(
        allowed=False,
        rule="api",
        reason="rule 'api' allows at most 2 requests per 60 s",
        code="E-EGRESS-RATE",
        retry_after_s=12.4,
    )
    exc = PolicyRefused(verdict)
    assert (exc.status, exc.retry_after_s) == (429, 12.4)
    head, body = refusal_response(
        exc, host="api.test", method="GET", close=True, retry_after_s=12.4
    )
    assert isinstance(head, h11.Response)
    assert head.status_code == 429
    headers = dict(head.headers)
    assert headers[b"retry-after"] == b"12"
    assert headers[b"connection"] == b"close"
    assert json.loads(body) == {
        "error": "E-EGRESS-RATE",
        "rule": "api",
        "reason": verdict.reason,
        "host": "api.test",
        "method": "GET",
    }
    raw = raw_refusal(exc, host="api.test", method="GET")
    assert raw.startswith(b"HTTP/1.1 429 Too Many Requests\r\n")
    assert raw.endswith(body)


def test_outcomes():
    assert outcome_of(403) == "denied"
    assert outcome_of(413) == "denied"
    assert outcome_of(502) == "error"
