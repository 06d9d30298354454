"""Learning how long a provider's jobs take, to poll each job when it is likely done.

A fixed cadence spends most polls on jobs that cannot have finished yet: a vendor whose
jobs take 60 to 120 s, polled every 5 s, answers "running" a dozen times per job. Once a
few jobs of a provider have ended, their durations say when the next one will: nothing
is worth asking before the fastest usually finish, and between the fastest and the
slowest a few evenly spaced polls find each job soon after it ends.

Everything here is in seconds of vendor time and is pure arithmetic: the engine feeds it
what it observed and asks it for the next poll.
"""

from __future__ import annotations

import bisect
import math
from collections import deque
from typing import Final

__all__ = ["DELAY_TARGET", "DurationModel", "Plan", "best_plan"]

# Enough finished jobs to trust the spread; before that the provider's cadence rules.
_MIN_SAMPLES: Final = 8
# Recent jobs only: a vendor's speed drifts with its load.
_WINDOW: Final = 256
# The median detection delay a plan aims at, in vendor seconds, when the caller sets none.
DELAY_TARGET: Final = 6.5
# The plan is re-made after this many new samples (and while there are few): planning
# scans every sample for every candidate plan, far too slow to do at every poll.
_REPLAN_EVERY: Final = 32
# Candidate first polls, as shares of a step after the fastest job seen.
_OFFSETS: Final = (0.0, 0.25, 0.5, 0.75, 1.0)
# How far apart, as a share of its age, a job running longer than usual is asked again.
_OVERDUE_SHARE: Final = 0.1
_LOW, _HIGH = 0.02, 0.99


class Plan:
    """Polls at `first` seconds of a job's age, then every `step` until `last`."""

    __slots__ = ("first", "last", "step")

    def __init__(self, first: float, step: float, last: float) -> None:
        self.first, self.step, self.last = first, step, last

    def __repr__(self) -> str:
        return f"Plan(first={self.first:.1f}, step={self.step:.1f}, last={self.last:.1f})"


def _cost(durations: list[float], first: float, step: float) -> tuple[float, float]:
    """Mean polls per job, and the median detection delay, of one plan on `durations`."""
    polls = 0
    delays = []
    for duration in durations:
        k = 0 if duration <= first else math.ceil((duration - first) / step)
        polls += k + 1
        delays.append(first + k * step - duration)
    delays.sort()
    return polls / len(durations), delays[len(delays) // 2]


def best_plan(durations: list[float], *, floor: float, ceiling: float, target: float) -> Plan:
    """The grid plan with the fewest expected polls whose median delay meets `target`.

    A job ending between two polls is seen at the next, so a plan is a first poll and a
    step: the first poll skips the time no job ends in, the step sets the delay. Each
    candidate (steps from `floor` to `ceiling`, first polls a share of a step after the
    fastest job) is scored on the recent durations themselves, whatever their shape.
    """
    ordered = sorted(durations)
    # Not the very fastest: durations are estimates (the middle of the last two polls).
    fastest = ordered[round(_LOW * (len(ordered) - 1))]
    last = ordered[min(len(ordered) - 1, round(_HIGH * (len(ordered) - 1)))]
    best: tuple[float, float, Plan] | None = None
    step = floor
    while step <= ceiling + 1e-9:
        for share in _OFFSETS:
            first = fastest + share * step
            polls, delay = _cost(ordered, first, step)
            # Meeting the target first; then fewer polls; a plan missing it is scored by
            # how far it misses.
            score = (max(delay - target, 0.0), polls)
            if best is None or score < (best[0], best[1]):
                best = (score[0], score[1], Plan(first, step, last))
        step += 1.0
    assert best is not None  # noqa: S101 - floor <= ceiling gives one candidate at least
    return best[2]


class DurationModel:
    """The recent durations of one provider's jobs, and the poll plan they suggest."""

    def __init__(self, *, target: float = DELAY_TARGET) -> None:
        self._recent: deque[float] = deque(maxlen=_WINDOW)
        self._sorted: list[float] = []
        self.target = target
        self._plan: Plan | None = None
        self._plan_bounds: tuple[float, float] | None = None
        self._since_plan = 0

    def __len__(self) -> int:
        return len(self._recent)

    @property
    def ready(self) -> bool:
        return len(self._recent) >= _MIN_SAMPLES

    def observe(self, duration: float) -> None:
        """Record a job that ran `duration` seconds (best estimate of its true end)."""
        if duration < 0:
            return
        if len(self._recent) == self._recent.maxlen:
            oldest = self._recent[0]
            del self._sorted[bisect.bisect_left(self._sorted, oldest)]
        self._recent.append(duration)
        bisect.insort(self._sorted, duration)
        self._since_plan += 1

    def quantile(self, q: float) -> float:
        index = min(len(self._sorted) - 1, max(0, round(q * (len(self._sorted) - 1))))
        return self._sorted[index]

    @property
    def current(self) -> Plan | None:
        """The plan last made, if any (never re-made here)."""
        return self._plan

    def plan(self, floor: float, ceiling: float) -> Plan | None:
        """The current plan (None until enough jobs ended), re-made as samples come in."""
        if not self.ready:
            return None
        stale = self._since_plan >= min(_REPLAN_EVERY, len(self._recent))
        if self._plan is None or stale or self._plan_bounds != (floor, ceiling):
            self._plan = best_plan(
                self._sorted, floor=floor, ceiling=max(ceiling, floor), target=self.target
            )
            self._plan_bounds = (floor, ceiling)
            self._since_plan = 0
        return self._plan

    def next_poll(self, age: float, floor: float, ceiling: float) -> float | None:
        """Seconds from now until the next poll of a job `age` seconds old.

        None when the model cannot tell yet (too few samples): the caller's cadence
        applies then. A job older than nearly all others (stuck in a queue, or just slow)
        is asked at a tenth of its age, so that a long wait costs a few polls, not one per
        step, and it is still noticed within a tenth of its duration.
        """
        plan = self.plan(floor, ceiling)
        if plan is None:
            return None
        if age < plan.first:
            return max(plan.first - age, floor)
        if age < plan.last + plan.step:
            return plan.step
        return min(max(age * _OVERDUE_SHARE, plan.step), ceiling)
