from __future__ import annotations

import pytest

from enclosure.egress._proxy_record import (
    REDACTED,
    BodySample,
    Draft,
    StreamStripper,
    hold_for,
    logged_headers,
)
from enclosure.egress._rules import Principal

SECRET = b"hunter2-hunter2-hunter2"


def _strip(data: bytes) -> bytes:
    return data.replace(SECRET, b"[REDACTED:x]")


@pytest.mark.parametrize("cut", range(1, 40, 3))
def test_a_secret_cut_by_a_read_boundary_is_still_stripped(cut):
    stream = b"before " + SECRET + b" middle " + SECRET + b" after"
    stripper = StreamStripper(_strip, hold_for([SECRET.decode()]))
    out = b""
    for start in range(0, len(stream), cut):
        out += stripper.feed(stream[start : start + cut])
    out += stripper.flush()
    assert out == b"before [REDACTED:x] middle [REDACTED:x] after"


def test_hold_for_covers_the_longest_form():
    assert hold_for([]) == 16
    assert hold_for(["abc", "abcdef"]) == 22


def test_a_body_sample_is_capped_after_stripping():
    sample = BodySample(limit=10, margin=len(SECRET))
    sample.add(b"0123456")
    sample.add(SECRET)
    sample.add(b"more")
    assert sample.text(_strip) == "0123456[RE"
    assert sample.text(None) == "0123456hun"


def test_logged_headers_blank_credentials_and_join_repeats():
    headers = [
        (b"Authorization", b"Bearer " + SECRET),
        (b"set-cookie", b"a=1"),
        (b"x-echo", SECRET),
        (b"x-a", b"1"),
        (b"X-A", b"2"),
    ]
    assert logged_headers(headers, _strip) == {
        "authorization": REDACTED,
        "set-cookie": REDACTED,
        "x-echo": "[REDACTED:x]",
        "x-a": "1, 2",
    }


def test_a_draft_becomes_a_frozen_record():
    draft = Draft(Principal("r", "agent"), method="GET", scheme="http", host="h")
    draft.fail(403, "E-EGRESS-DENIED", "no rule allows host h", "denied")
    draft.request_sample = BodySample(4, 0)
    draft.request_sample.add(b"abcdef")
    record = draft.finish(None)
    assert (record.status, record.code, record.outcome) == (
        403,
        "E-EGRESS-DENIED",
        "denied",
    )
    assert record.request_body == "abcd"
    assert record.response_body is None
    assert record.duration_ms >= 0
