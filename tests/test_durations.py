"""The duration model: when to poll a job, learnt from how long the provider's jobs took."""

from __future__ import annotations

import pytest

from coursegen._durations import DurationModel, _cost, best_plan


def trained(durations: range | list[float]) -> DurationModel:
    model = DurationModel()
    for duration in durations:
        model.observe(float(duration))
    return model


def test_too_few_samples_leave_the_cadence_in_charge() -> None:
    """With fewer than eight finished jobs the model makes no plan."""
    assert trained(range(60, 67)).next_poll(age=0.0, floor=5.0, ceiling=30.0) is None


def test_first_poll_waits_for_the_fastest_jobs() -> None:
    """A new job is first polled when the fastest jobs end, not before; then every step."""
    model = trained(range(60, 121))
    plan = model.plan(5.0, 30.0)
    assert plan is not None
    assert 60.0 <= plan.first < 80.0
    assert model.next_poll(age=0.0, floor=5.0, ceiling=30.0) == pytest.approx(plan.first)
    assert model.next_poll(age=50.0, floor=5.0, ceiling=30.0) == pytest.approx(plan.first - 50)
    assert model.next_poll(age=plan.first, floor=5.0, ceiling=30.0) == pytest.approx(plan.step)


def test_the_plan_meets_the_delay_target_with_few_polls() -> None:
    """On jobs of 60-120 s the plan's median delay meets the target at under 3 polls a job."""
    durations = [60.0 + i * 0.25 for i in range(241)]
    plan = best_plan(durations, floor=5.0, ceiling=30.0, target=6.0)
    polls, median_delay = _cost(sorted(durations), plan.first, plan.step)
    assert median_delay <= 6.0
    assert polls < 3.0


def test_a_longer_delay_target_costs_fewer_polls() -> None:
    """Allowing more delay lets the plan ask less often."""
    durations = [60.0 + i * 0.25 for i in range(241)]
    tight = best_plan(durations, floor=5.0, ceiling=30.0, target=3.0)
    loose = best_plan(durations, floor=5.0, ceiling=30.0, target=10.0)
    assert (
        _cost(durations, loose.first, loose.step)[0] < _cost(durations, tight.first, tight.step)[0]
    )


def test_the_floor_and_the_ceiling_bound_the_step() -> None:
    """A narrow spread never polls faster than the floor; a wide one never waits too long."""
    assert trained([100.0] * 10).next_poll(age=100.0, floor=5.0, ceiling=30.0) == 5.0
    assert trained(range(0, 1000, 10)).next_poll(age=500.0, floor=5.0, ceiling=30.0) <= 30.0


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
