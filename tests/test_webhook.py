import hashlib
import hmac
import json

import pytest

from enclosure._webhook import SIGNATURE_HEADER, Webhook, sign_body


def test_payloads_arrive_in_order_signed_with_hmac(receiver):
    hook = Webhook(receiver.url + "/alerts", secret=b"s3cret")
    hook.send({"n": 1})
    hook.send({"n": 2})
    assert hook.flush(5.0)
    got = receiver.wait_for(2, "/alerts")
    assert [json.loads(r.body)["n"] for r in got] == [1, 2]
    for r in got:
        mac = hmac.new(b"s3cret", r.body, hashlib.sha256).hexdigest()
        assert r.headers[SIGNATURE_HEADER] == f"sha256={mac}"
        assert sign_body(b"s3cret", r.body) == f"sha256={mac}"
    assert hook.delivered == 2
    hook.close()


def test_unsigned_without_a_secret_and_failures_are_counted_not_raised(receiver):
    hook = Webhook(receiver.url)
    hook.send({"n": 1})
    assert hook.flush(5.0)
    assert SIGNATURE_HEADER not in receiver.wait_for(1)[0].headers
    receiver.close()
    hook.send({"n": 2})
    assert hook.flush(10.0)
    assert hook.failed == 1
    assert "s3cret" not in repr(hook)
    hook.close()


def test_only_http_urls():
    with pytest.raises(ValueError, match="http"):
        Webhook("file:///etc/passwd")
    Webhook("http://127.0.0.1:9").close()
