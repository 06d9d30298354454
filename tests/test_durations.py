"""The duration model: when to poll a job, learnt from how long the provider's jobs took."""

from __future__ import annotations

import pytest

from coursegen._durations import DurationModel


def trained(durations: range | list[float]) -> DurationModel:
    model = DurationModel()
    for duration in durations:
        model.observe(float(duration))
    return model


def test_too_few_samples_leave_the_cadence_in_charge() -> None:
    """With fewer than eight finished jobs the model makes no plan."""
    assert trained(range(60, 67)).next_poll(age=0.0, floor=5.0, ceiling=30.0) is None


def test_first_poll_waits_for_the_fastest_jobs() -> None:
    """A new job is first polled when the fastest 5% of jobs have finished, not before."""
    model = trained(range(60, 121))
    assert model.next_poll(age=0.0, floor=5.0, ceiling=30.0) == pytest.approx(63.0)
    assert model.next_poll(age=50.0, floor=5.0, ceiling=30.0) == pytest.approx(13.0)


def test_polls_spread_evenly_between_fastest_and_slowest() -> None:
    """Between the fastest and slowest usual durations, polls come every quarter of the span."""
    model = trained(range(60, 121))
    assert model.next_poll(age=70.0, floor=5.0, ceiling=30.0) == pytest.approx((117 - 63) / 4)


def test_the_floor_and_the_ceiling_bound_the_step() -> None:
    """A narrow spread never polls faster than the floor; a wide one never waits too long."""
    assert trained([100.0] * 10).next_poll(age=100.0, floor=5.0, ceiling=30.0) == 5.0
    assert trained(range(0, 1000, 10)).next_poll(age=500.0, floor=5.0, ceiling=30.0) == 30.0


def test_a_job_running_longer_than_usual_is_asked_at_a_tenth_of_its_age() -> None:
    """Past the slowest usual duration, polls thin out with age, up to the ceiling."""
    model = trained(range(60, 121))
    assert model.next_poll(age=200.0, floor=5.0, ceiling=30.0) == pytest.approx(20.0)
    assert model.next_poll(age=140.0, floor=5.0, ceiling=30.0) == pytest.approx(14.0)
    assert model.next_poll(age=5000.0, floor=5.0, ceiling=30.0) == 30.0


def test_only_recent_jobs_count() -> None:
    """After 256 newer samples, old durations no longer shape the plan."""
    model = trained([10.0] * 300 + [100.0] * 256)
    assert model.quantile(0.05) == 100.0
