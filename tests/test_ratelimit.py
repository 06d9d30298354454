"""Rate budgets: the vendor's sliding window, corrected by what the vendor reports."""

from __future__ import annotations

import math

import pytest

from coursegen import RateLimitState
from coursegen._ratelimit import RateBudget

WINDOW = 60.0 * 1.001  # the budget starts with a 0.1% margin against clock skew


def test_allows_the_limit_then_waits_for_the_oldest_send_to_leave_the_window() -> None:
    """With a 3/min budget, a 4th send waits until the 1st leaves the (padded) window."""
    budget = RateBudget(3, 60.0)
    for now in (0.0, 1.0, 2.0):
        assert budget.available_at(now) == now
        budget.take(now)
    assert budget.available_at(2.5) == pytest.approx(WINDOW)
    budget.take(WINDOW)
    assert budget.available_at(WINDOW) == pytest.approx(1.0 + WINDOW)


def test_sends_by_others_reported_by_remaining_are_counted() -> None:
    """If the vendor reports fewer requests left than we think, the gap is counted."""
    budget = RateBudget(10, 60.0)
    budget.take(0.0)
    budget.observe(RateLimitState(remaining=2, reset_after=30.0), now=0.0)
    budget.take(0.0)
    budget.take(0.0)
    assert budget.available_at(1.0) > 1.0


def test_nothing_left_blocks_until_reset() -> None:
    """RateLimit-Remaining: 0 with Reset: 17 blocks sends for 17 s."""
    budget = RateBudget(10, 60.0)
    budget.observe(RateLimitState(remaining=0, reset_after=17.0), now=5.0)
    assert budget.available_at(5.0) == pytest.approx(22.0)


def test_a_lower_limit_reported_by_the_vendor_wins() -> None:
    """RateLimit-Limit lower than documented lowers our budget."""
    budget = RateBudget(120, 60.0)
    budget.observe(RateLimitState(limit=2, remaining=2), now=0.0)
    budget.take(0.0)
    budget.take(0.0)
    assert budget.available_at(0.0) > 0.0


def test_block_for_a_retry_after() -> None:
    """A 429's Retry-After blocks the whole budget, not just one job."""
    budget = RateBudget(10, 60.0)
    budget.block_for(20.0, now=3.0)
    assert budget.available_at(4.0) == pytest.approx(23.0)


def test_invalid_limits_are_refused() -> None:
    """A zero limit or window is a programming error caught at once."""
    with pytest.raises(ValueError, match="limit"):
        RateBudget(0, 60.0)


def test_a_vendor_reset_that_agrees_with_ours_keeps_the_margin_small() -> None:
    """Resets that match our count (whole seconds, rounded up) never widen the window."""
    budget = RateBudget(10, 60.0)
    budget.take(0.0)
    for now in (10.0, 20.5, 30.9):
        budget.observe(RateLimitState(remaining=9, reset_after=float(60 - int(now))), now=now)
    assert budget.window == pytest.approx(WINDOW)


def test_a_429_doubles_the_margin() -> None:
    """A 429 where our count said there was room widens the margin."""
    budget = RateBudget(10, 60.0)
    before = budget.margin
    budget.widen(budget.margin * 2)
    assert budget.margin == pytest.approx(2 * before)
    budget.widen(1000.0)
    assert budget.window == pytest.approx(66.0)  # capped at a tenth of the window


class _Vendor:
    """A vendor's sliding window whose clock is `skew` s behind ours: it counts each send
    from `skew` s after we do, and says in whole seconds (rounded up) when it frees up."""

    def __init__(self, limit: int, window: float, skew: float) -> None:
        self.limit, self.window, self.skew = limit, window, skew
        self.hits: list[float] = []
        self.refused = 0

    def send(self, now: float) -> RateLimitState:
        self.hits = [hit for hit in self.hits if hit > now - self.window]
        if len(self.hits) >= self.limit:
            self.refused += 1
        else:
            self.hits.append(now + self.skew)
        reset = math.ceil(self.hits[0] + self.window - now) if self.hits else 0
        return RateLimitState(remaining=self.limit - len(self.hits), reset_after=float(reset))


def _drive(budget: RateBudget, vendor: _Vendor, sends: int, now: float = 0.0) -> float:
    """Send `sends` times as soon as the budget allows, from `now`; the time it ends."""
    for _ in range(sends):
        now = budget.available_at(now)
        budget.settle(budget.take(now), now)
        budget.observe(vendor.send(now), now)
        now += 0.37  # sends at every fraction of a second
    return now


def test_resets_that_agree_with_our_count_shrink_the_margin_to_rounding() -> None:
    """A vendor whose clock agrees with ours (resets rounded up to whole seconds): after
    a few answers the margin is float rounding only, and no send is refused."""
    budget = RateBudget(10, 60.0)
    vendor = _Vendor(10, 60.0, skew=0.0)
    _drive(budget, vendor, 200)
    assert budget.margin < 60.0 * 1e-5
    assert vendor.refused == 0


def test_a_vendor_clock_behind_ours_sets_the_margin_it_needs() -> None:
    """A vendor counting 0.4 s later than we do: its rounded resets show it, the margin
    becomes about 0.4 s (not the 60 ms the budget starts with), and no send is refused
    once they have."""
    budget = RateBudget(10, 60.0)
    vendor = _Vendor(10, 60.0, skew=0.4)
    now = _drive(budget, vendor, 40)
    assert 0.3 <= budget.margin <= 0.45
    vendor.refused = 0
    _drive(budget, vendor, 200, now)
    assert vendor.refused == 0


def test_a_429_after_the_margin_shrank_puts_it_back_to_the_starting_share() -> None:
    """Resets showed no skew, then a 429 came anyway: the margin is at least the starting
    0.1% of the window again, and the next resets do not shrink it below that."""
    budget = RateBudget(10, 60.0)
    vendor = _Vendor(10, 60.0, skew=0.0)
    now = _drive(budget, vendor, 50)
    assert budget.margin < 0.001
    budget.widen(budget.margin * 2)
    assert budget.margin == pytest.approx(0.06)
    _drive(budget, vendor, 50, now)
    assert budget.margin == pytest.approx(0.06)
