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
