"""The real clock, and RFC 3339 timestamps; the policy core gets time from here."""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime

__all__ = ["SystemClock", "iso"]


class SystemClock:
    """``time.monotonic`` and ``time.time``: the ``Clock`` used outside tests."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


_FIRST, _LAST = -62135596800, 253402300799
"""The seconds ``datetime`` spells with four-digit years: 0001-01-01 to 9999-12-31."""

_MICROS = 1_000_000

_second: tuple[int, str] = (_FIRST - 1, "")
"""The last whole second ``iso`` spelled, and its spelling without the fraction."""


def iso(epoch: float) -> str:
    """Return an RFC 3339 UTC timestamp with microseconds.

    The text is ``datetime.fromtimestamp(epoch, UTC).isoformat(timespec=
    "microseconds")``, rounded as it rounds (half to even), but each second is
    spelled once: the call path stamps two events per call, and building a
    ``datetime`` each time cost it ~15 µs with cold caches.
    """
    global _second  # noqa: PLW0603 -- one tuple, replaced whole (atomic)
    fraction, whole = math.modf(epoch)
    micros = round(fraction * _MICROS)
    second = int(whole)
    if micros >= _MICROS:
        second, micros = second + 1, micros - _MICROS
    elif micros < 0:
        second, micros = second - 1, micros + _MICROS
    cached = _second
    if cached[0] != second:
        if not _FIRST <= second <= _LAST:
            return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")
        t = time.gmtime(second)
        day = f"{t.tm_year:04d}-{t.tm_mon:02d}-{t.tm_mday:02d}"
        cached = (second, f"{day}T{t.tm_hour:02d}:{t.tm_min:02d}:{t.tm_sec:02d}")
        _second = cached
    return f"{cached[1]}.{micros:06d}+00:00"
