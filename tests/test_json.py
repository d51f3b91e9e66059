import math

import pytest

from enclosure._json import canonical_json, sha256_hex, sha256_json


def test_canonical_json_is_independent_of_key_order_and_spacing():
    assert canonical_json({"b": 1, "a": [1, {"d": 2, "c": 3}]}) == (
        b'{"a":[1,{"c":3,"d":2}],"b":1}'
    )


def test_canonical_json_keeps_unicode_as_utf8():
    assert canonical_json({"k": "é"}) == '{"k":"é"}'.encode()


@pytest.mark.parametrize("bad", [math.nan, math.inf, {"x": -math.inf}])
def test_nan_and_infinity_are_refused(bad: object):
    with pytest.raises(ValueError, match="JSON"):
        canonical_json(bad)


def test_hashes_are_sha256_hex():
    assert sha256_hex(b"") == (
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    )
    assert sha256_json({"a": 1}) == sha256_hex(b'{"a":1}')
