import math
import random
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import pytest

from enclosure._clock import SystemClock, iso
from enclosure.testing import FakeClock

if TYPE_CHECKING:
    from enclosure.types import Clock


def test_system_clock_is_a_clock_and_moves_forward():
    clock: Clock = SystemClock()
    first = clock.monotonic()
    assert clock.monotonic() >= first
    assert clock.time() > 1_600_000_000


def test_fake_clock_moves_only_when_told():
    clock: Clock = FakeClock(monotonic=5.0, epoch=100.0)
    assert (clock.monotonic(), clock.time()) == (5.0, 100.0)
    assert isinstance(clock, FakeClock)
    clock.advance(2.5)
    assert (clock.monotonic(), clock.time()) == (7.5, 102.5)
    with pytest.raises(ValueError, match="back"):
        clock.advance(-1)


def test_iso_timestamps_are_utc_with_microseconds():
    assert iso(0.25) == "1970-01-01T00:00:00.250000+00:00"


def _reference(epoch: float) -> str:
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")


@pytest.mark.parametrize(
    "epoch",
    [
        0.0,
        -0.0,
        -1.0,
        0.5e-6,  # half a microsecond: rounds to even (0)
        1.5e-6,  # ... and to even (2)
        -0.5e-6,
        0.9999995,  # rounds up into the next second
        1_700_000_000.9999996,
        -1.9999995,
        -62_135_596_800.0,  # 0001-01-01, the first second datetime spells
        253_402_300_799.0,  # 9999-12-31T23:59:59, the last
        1_782_345_678.123456,
    ],
)
def test_iso_spells_each_instant_as_datetime_does(epoch: float):
    assert iso(epoch) == _reference(epoch)


def test_iso_matches_datetime_over_random_instants_in_and_out_of_order():
    rng = random.Random(20261125)  # noqa: S311 -- test data, not secrets
    instants = [rng.uniform(-6.2e10, 2.5e11) for _ in range(20_000)]
    instants += [rng.uniform(1.7e9, 1.7e9 + 5) for _ in range(20_000)]  # same seconds
    for epoch in instants:
        assert iso(epoch) == _reference(epoch), epoch


@pytest.mark.parametrize("epoch", [math.nan, math.inf, -math.inf, 1e20, -1e20])
def test_iso_refuses_what_datetime_refuses(epoch: float):
    with pytest.raises((ValueError, OverflowError, OSError)):
        _reference(epoch)
    with pytest.raises((ValueError, OverflowError, OSError)):
        iso(epoch)
