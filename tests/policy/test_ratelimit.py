from __future__ import annotations

import pytest

from enclosure.policy import RateCheck, SlidingWindows
from enclosure.policy._ratelimit import MAX_BUCKETS

BUCKET = ("tools.send.rate[0]", "")


def fill(windows: SlidingWindows, times: list[float], bucket=BUCKET) -> None:
    for t in times:
        windows.hit(bucket, t)


def test_an_unknown_bucket_has_room():
    assert SlidingWindows().check(BUCKET, 3, 60.0, now=0.0) == RateCheck(
        allowed=True, used=0, retry_after_s=0.0
    )


def test_check_does_not_count_the_call():
    windows = SlidingWindows()
    for _ in range(10):
        assert windows.check(BUCKET, 1, 60.0, now=0.0).allowed
    windows.hit(BUCKET, 0.0)
    assert not windows.check(BUCKET, 1, 60.0, now=0.0).allowed


@pytest.mark.parametrize("limit", [1, 2, 3, 10])
def test_exactly_limit_calls_fit_in_the_window(limit):
    windows = SlidingWindows()
    for i in range(limit):
        check = windows.check(BUCKET, limit, 60.0, now=float(i))
        assert check == RateCheck(allowed=True, used=i, retry_after_s=0.0)
        windows.hit(BUCKET, float(i))
    refused = windows.check(BUCKET, limit, 60.0, now=float(limit))
    assert not refused.allowed
    assert refused.used == limit


def test_retry_after_is_when_the_oldest_call_leaves_the_window():
    windows = SlidingWindows()
    fill(windows, [100.0, 110.0, 120.0])
    check = windows.check(BUCKET, 3, 60.0, now=130.0)
    assert check == RateCheck(allowed=False, used=3, retry_after_s=30.0)


def test_the_window_slides_rather_than_resets():
    windows = SlidingWindows()
    fill(windows, [0.0, 30.0, 30.0])
    assert not windows.check(BUCKET, 3, 60.0, now=59.999).allowed
    # At exactly one window after the first call, that call has left the window.
    at_60 = windows.check(BUCKET, 3, 60.0, now=60.0)
    assert at_60 == RateCheck(allowed=True, used=2, retry_after_s=0.0)
    windows.hit(BUCKET, 60.0)
    # The two calls at 30 are still inside a window that ends at 60.
    assert not windows.check(BUCKET, 3, 60.0, now=89.0).allowed
    assert windows.check(BUCKET, 3, 60.0, now=90.0).used == 1


def test_buckets_are_independent():
    windows = SlidingWindows()
    fill(windows, [0.0], bucket=("r", "ann@corp.com"))
    assert not windows.check(("r", "ann@corp.com"), 1, 60.0, now=1.0).allowed
    assert windows.check(("r", "bob@corp.com"), 1, 60.0, now=1.0).allowed
    assert windows.check(("other", "ann@corp.com"), 1, 60.0, now=1.0).allowed


# --- bounded memory ----------------------------------------------------------------


def test_past_max_buckets_the_least_recently_hit_tenth_is_evicted():
    windows = SlidingWindows()
    for i in range(MAX_BUCKETS):
        windows.hit(("r", str(i)), float(i))
    assert len(windows._buckets) == MAX_BUCKETS
    windows.hit(("r", "new"), float(MAX_BUCKETS))
    evicted = MAX_BUCKETS // 10
    assert len(windows._buckets) == MAX_BUCKETS - evicted + 1
    assert ("r", "new") in windows._buckets
    assert ("r", "0") not in windows._buckets
    assert ("r", str(evicted - 1)) not in windows._buckets
    assert ("r", str(evicted)) in windows._buckets
    assert ("r", str(MAX_BUCKETS - 1)) in windows._buckets


def test_an_evicted_bucket_starts_empty_again():
    windows = SlidingWindows()
    for i in range(MAX_BUCKETS):
        windows.hit(("r", str(i)), 1000.0 + i)
    windows.hit(("r", "new"), 1000.0 + MAX_BUCKETS)
    assert windows.check(("r", "0"), 1, 1e9, now=1000.0 + MAX_BUCKETS).used == 0


def test_buckets_emptied_by_the_window_are_evicted_first():
    windows = SlidingWindows()
    for i in range(MAX_BUCKETS):
        windows.hit(("r", str(i)), 500.0 + i)
    # The newest bucket's only hit leaves its window, so its log is now empty.
    newest = ("r", str(MAX_BUCKETS - 1))
    assert windows.check(newest, 1, 1.0, now=500.0 + MAX_BUCKETS + 1).used == 0
    windows.hit(("r", "new"), 500.0 + MAX_BUCKETS + 1)
    assert newest not in windows._buckets
    assert ("r", str(MAX_BUCKETS - 2)) in windows._buckets


def test_hitting_a_known_bucket_never_evicts():
    windows = SlidingWindows()
    for i in range(MAX_BUCKETS):
        windows.hit(("r", str(i)), float(i))
    windows.hit(("r", "0"), float(MAX_BUCKETS))
    assert len(windows._buckets) == MAX_BUCKETS
