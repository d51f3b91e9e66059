"""The real clock, and RFC 3339 timestamps; the policy core gets time from here."""

from __future__ import annotations

import time
from datetime import UTC, datetime

__all__ = ["SystemClock", "iso"]


class SystemClock:
    """``time.monotonic`` and ``time.time``: the ``Clock`` used outside tests."""

    def monotonic(self) -> float:
        return time.monotonic()

    def time(self) -> float:
        return time.time()


def iso(epoch: float) -> str:
    """Return an RFC 3339 UTC timestamp with microseconds."""
    return datetime.fromtimestamp(epoch, UTC).isoformat(timespec="microseconds")
