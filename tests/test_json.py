import dataclasses
import datetime as dt
import enum
import functools
import json
import math
import random
import struct
import sys
import uuid

import pytest

from enclosure import _json
from enclosure._json import canonical_json, sha256_hex, sha256_json
from enclosure.audit import encode_event
from enclosure.testing import decision_event


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


# ---- the orjson fast path writes the standard library's bytes, or steps aside --------


def stdlib(value: object) -> bytes:
    """The reference: the encoding canonical_json has always returned."""
    return json.dumps(
        value,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode("utf-8")


def random_floats(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)  # noqa: S311 -- test data
    floats = [
        struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0] for _ in range(n)
    ]
    return [f for f in floats if math.isfinite(f)]


def floats_at_every_exponent() -> list[float]:
    """Each power of ten with its neighbours and a few mantissas: every spelling."""
    out = [0.0, -0.0, 5e-324, sys.float_info.max, sys.float_info.min]
    for exponent in range(-323, 309):
        for mantissa in ("1", "1.5", "2.5", "9.999999999999999", "1.2345678901234567"):
            x = float(f"{mantissa}e{exponent}")
            if math.isfinite(x):
                out += [x, -x, math.nextafter(x, 0.0), math.nextafter(x, math.inf)]
    return out


def test_every_float_is_spelled_as_repr_spells_it():
    # orjson spells 1e-05 as 1e-5 and 0.00001: those, and only those, fall back.
    floats = floats_at_every_exponent() + random_floats(300_000, seed=1)
    for x in floats:
        assert canonical_json(x) == stdlib(x), x
    assert canonical_json({"cost": floats[:2000]}) == stdlib({"cost": floats[:2000]})


@pytest.mark.parametrize("x", [1e-05, 2.5e-07, -1e-9, 1e16, 1.5e300, 0.0001, 1e15])
def test_floats_orjson_spells_otherwise_fall_back_to_the_same_bytes(x):
    assert canonical_json({"a": [x]}) == stdlib({"a": [x]})


def test_every_character_is_escaped_as_the_standard_library_escapes_it():
    scalars = [chr(c) for c in range(0x110000) if not 0xD800 <= c < 0xE000]
    for start in range(0, len(scalars), 8192):
        text = "".join(scalars[start : start + 8192])
        assert canonical_json(text) == stdlib(text)
        assert canonical_json({text: 1}) == stdlib({text: 1})


def test_keys_sort_by_code_point_across_every_plane():
    rng = random.Random(2)  # noqa: S311 -- test data
    pool = [chr(c) for c in (*range(0x7F), 0xE9, 0xD7FF, 0xE000, 0xFFFD, 0xFFFF)]
    pool += [chr(c) for c in (0x10000, 0x1F600, 0x10FFFF)]
    for _ in range(5000):
        keys = {"".join(rng.choices(pool, k=rng.randint(0, 3))) for _ in range(6)}
        value = {key: [i, {key: None}] for i, key in enumerate(keys)}
        assert canonical_json(value) == stdlib(value)


class Colour(enum.Enum):
    RED = "red"


class Level(enum.IntEnum):
    HIGH = 3


class Name(str):  # noqa: SLOT000 -- a plain subclass is the case under test
    pass


class Mapping(dict):  # type: ignore[type-arg]
    def items(self):  # type: ignore[no-untyped-def]
        return [("swapped", True)]


@dataclasses.dataclass
class Point:
    x: int


@pytest.mark.parametrize(
    "value",
    [
        {"tuple": (1, "a")},
        {"int enum": Level.HIGH},
        {"str subclass": Name("x"), Name("key"): 1},
        Mapping(a=1),
        [2**64, -(2**63) - 1, 2**63],
        {1: "int key", 2: "int key"},
        {True: 1},
        {None: 2},
        {1.5: 3},
        [[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]] * 10,
        {"deep": functools.reduce(lambda inner, _: [inner], range(400), [])},
        {"s": "e-mail, e+1, 1e-5, 0.00001", "sha": "3e5" * 30},
    ],
)
def test_values_orjson_encodes_otherwise_get_the_standard_librarys_bytes(value):
    assert canonical_json(value) == stdlib(value)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"x": [1.0, math.nan]}, ValueError),
        ({"x": math.inf}, ValueError),
        ("lone \ud800 surrogate", ValueError),
        ({"enum": Colour.RED}, TypeError),
        ({"uuid": uuid.UUID(int=1)}, TypeError),
        ({"when": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}, TypeError),
        ({"point": Point(1)}, TypeError),
        ({"bytes": b"x"}, TypeError),
        ({"mixed keys": {1: "a", "b": 2}}, TypeError),
        ({True: 1, None: 2}, TypeError),
    ],
)
def test_errors_are_the_standard_librarys(value, error):
    with pytest.raises(error) as expected:
        stdlib(value)
    with pytest.raises(error) as got:
        canonical_json(value)
    assert str(got.value) == str(expected.value)


def test_a_circular_value_is_refused_as_before():
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="Circular reference"):
        canonical_json(loop)


def test_typical_call_values_take_the_fast_path(monkeypatch: pytest.MonkeyPatch):
    def never(value: object) -> bytes:
        raise AssertionError(value)

    monkeypatch.setattr(_json, "_stdlib", never)
    event = decision_event(1, args={"to": "a@b.c", "n": [1, 2.5, None, True]})
    event = event.model_copy(update={"ts": "2025-01-02T03:04:10.000001Z"})
    assert canonical_json(event.model_dump(mode="json")) == encode_event(event)
    plain = {"key": "k1", "tool": "create-issue", "ts": "03:04:00.000001", "n": 1e15}
    assert canonical_json(plain) == stdlib(plain)
