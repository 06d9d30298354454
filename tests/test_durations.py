"""The duration model: when to poll a job, learnt from how long the provider's jobs took."""

from __future__ import annotations

import itertools
import random

import pytest

from coursegen._durations import DELAY_CAP, DurationModel, estimate, make_plan

UNIFORM = [60.0 + i * 0.25 for i in range(241)]  # jobs of 60-120 s, evenly spread


def trained(durations: range | list[float]) -> DurationModel:
    model = DurationModel()
    for duration in durations:
        model.observe(float(duration))
    return model


def uniform_mass(cell: float = 1.0, cells: int = 125) -> list[float]:
    return estimate([(d, d) for d in UNIFORM], cell, cells)


def test_too_few_samples_leave_the_cadence_in_charge() -> None:
    """With fewer than eight finished jobs the model makes no plan."""
    assert trained(range(60, 67)).next_poll(age=0.0, floor=5.0, ceiling=30.0) is None


def test_first_poll_waits_for_the_fastest_jobs() -> None:
    """A new job is first polled after the fastest jobs end, not before, and then the
    plan's next poll is asked from the age the job has reached."""
    model = trained(UNIFORM)
    plan = model.plan(5.0, 30.0)
    assert plan is not None
    assert 60.0 < plan.first < 90.0
    assert model.next_poll(age=0.0, floor=5.0, ceiling=30.0) == pytest.approx(plan.first)
    assert model.next_poll(age=50.0, floor=5.0, ceiling=30.0) == pytest.approx(plan.first - 50)
    second = plan.ages()[1]
    assert model.next_poll(age=plan.first, floor=5.0, ceiling=30.0) == pytest.approx(
        second - plan.first
    )


def test_the_plan_meets_the_median_delay_target_with_fewer_polls_than_even_steps() -> None:
    """On jobs of 60-120 s, with the same median delay (10 s) and longest gap (25 s) as
    the fixed plan of 80 s then every 20 s (2 polls a job), half the jobs are seen within
    the target at fewer expected polls; a stricter target costs more polls."""
    plan = make_plan(uniform_mass(), 1.0, floor=5.0, delay=10.0, cap=25.0)
    assert plan.share >= 0.5
    assert plan.polls < 2.0
    strict = make_plan(uniform_mass(), 1.0, floor=5.0, delay=7.0, cap=25.0)
    assert strict.share >= 0.5
    assert plan.polls < strict.polls < 2.5


def test_no_gap_where_jobs_end_is_longer_than_the_cap() -> None:
    """Between the first poll and the slowest job, no two polls are more than the cap
    apart (the p99 delay), and none closer than the vendor's floor."""
    for cap in (12.0, DELAY_CAP):
        plan = make_plan(uniform_mass(), 1.0, floor=5.0, cap=cap)
        ages = plan.ages()
        assert ages[0] - 60.0 <= cap + 1.0
        gaps = [b - a for a, b in itertools.pairwise(ages)]
        assert all(5.0 <= gap <= cap for gap in gaps), (cap, ages)
        assert ages[-1] >= 120.0


def test_the_floor_bounds_every_step() -> None:
    """Jobs that all end at once are never polled faster than the vendor's floor; one
    past that age is overdue, asked at a tenth of its age."""
    model = trained([100.0] * 10)
    assert model.next_poll(age=98.0, floor=5.0, ceiling=30.0) == 5.0
    assert model.next_poll(age=100.0, floor=5.0, ceiling=30.0) == pytest.approx(10.0)


def test_a_job_running_longer_than_usual_is_asked_at_a_tenth_of_its_age() -> None:
    """Past the slowest usual duration, polls thin out with age, up to the ceiling."""
    model = trained(UNIFORM)
    assert model.next_poll(age=200.0, floor=5.0, ceiling=30.0) == pytest.approx(20.0)
    assert model.next_poll(age=140.0, floor=5.0, ceiling=30.0) == pytest.approx(14.0)
    assert model.next_poll(age=5000.0, floor=5.0, ceiling=30.0) == 30.0


def test_a_probe_cuts_a_planned_wait_short_within_the_floor() -> None:
    """A low draw sends the poll early, never sooner than the floor; others keep the plan."""
    model = trained(UNIFORM)
    planned = model.next_poll(age=0.0, floor=5.0, ceiling=30.0, draw=0.5)
    assert planned is not None
    early = model.next_poll(age=0.0, floor=5.0, ceiling=30.0, draw=0.01)
    assert early is not None
    assert 5.0 <= early < planned
    assert model.next_poll(age=0.0, floor=5.0, ceiling=30.0, draw=0.0) == 5.0


def test_wide_intervals_are_read_where_narrow_ones_put_the_jobs() -> None:
    """Jobs only known to have ended before a late first poll (0 to 85 s) are taken to
    end where the jobs seen closely ended (after 60 s), not evenly from 0 s."""
    rng = random.Random(3)  # noqa: S311 - durations for a test, not cryptography
    intervals = []
    for _ in range(40):
        duration = rng.uniform(60.0, 120.0)
        seen = 5.0 * (int(duration // 5.0) + 1)
        intervals.append((seen - 5.0, seen))
    intervals += [(0.0, 85.0)] * 200
    mass = estimate(intervals, 1.0, 125)
    # Evenly from 0 s, more than half of all jobs would end before 55 s.
    assert sum(mass[:55]) < 0.05
    assert sum(mass[55:86]) > 0.75


def test_interval_censored_polls_recover_the_spread() -> None:
    """Polls at random ages, never at the end itself, still tell where jobs end."""
    rng = random.Random(5)  # noqa: S311 - durations for a test, not cryptography
    intervals = []
    for _ in range(500):
        duration = rng.uniform(60.0, 120.0)
        age = 0.0
        while True:
            step = rng.uniform(5.0, 25.0)
            if age + step >= duration:
                intervals.append((age, age + step))
                break
            age += step
    mass = estimate(intervals, 1.0, 150)
    cumulative = 0.0
    median = None
    for cell, share in enumerate(mass):
        cumulative += share
        if median is None and cumulative >= 0.5:
            median = float(cell)
    assert median is not None
    assert 80.0 <= median <= 100.0
    assert sum(mass[:55]) < 0.05
    assert sum(mass[130:]) < 0.05


def test_only_recent_jobs_count() -> None:
    """After 256 newer samples, old durations no longer shape the plan."""
    model = trained([10.0] * 300 + [100.0] * 256)
    assert model.quantile(0.05) == 100.0
    assert len(model) == 256
