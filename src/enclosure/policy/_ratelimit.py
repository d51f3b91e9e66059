"""Sliding-window rate limits: at most N calls in any window of W seconds.

The window log is exact (no burst at window edges, unlike fixed windows) and costs
one deque per bucket, at most N long. Time is whatever the caller passes in; nothing
here reads a clock.
"""

from __future__ import annotations

from collections import deque
from typing import NamedTuple

__all__ = ["MAX_BUCKETS", "RateCheck", "SlidingWindows"]

MAX_BUCKETS = 10_000
"""Most distinct (limit, key) buckets one run keeps; the emptiest go first."""


class RateCheck(NamedTuple):
    allowed: bool
    used: int
    retry_after_s: float


class SlidingWindows:
    """Per-bucket logs of call times."""

    __slots__ = ("_buckets",)

    def __init__(self) -> None:
        self._buckets: dict[tuple[str, str], deque[float]] = {}

    def check(
        self, bucket: tuple[str, str], limit: int, window_s: float, now: float
    ) -> RateCheck:
        """Say whether one more call fits, without counting it."""
        hits = self._buckets.get(bucket)
        if hits is None:
            return RateCheck(allowed=True, used=0, retry_after_s=0.0)
        horizon = now - window_s
        while hits and hits[0] <= horizon:
            hits.popleft()
        if len(hits) < limit:
            return RateCheck(allowed=True, used=len(hits), retry_after_s=0.0)
        return RateCheck(
            allowed=False, used=len(hits), retry_after_s=hits[0] + window_s - now
        )

    def hit(self, bucket: tuple[str, str], now: float) -> None:
        """Count one call in ``bucket``."""
        hits = self._buckets.get(bucket)
        if hits is None:
            if len(self._buckets) >= MAX_BUCKETS:
                self._evict()
            hits = self._buckets[bucket] = deque()
        hits.append(now)

    def _evict(self) -> None:
        # Drop the buckets with the oldest latest hit: they constrain least.
        order = sorted(
            self._buckets,
            key=lambda b: self._buckets[b][-1] if self._buckets[b] else 0.0,
        )
        for bucket in order[: len(order) // 10 or 1]:
            del self._buckets[bucket]
