"""Learning how long a provider's jobs take, to poll each job when it is likely done.

A fixed cadence spends most polls on jobs that cannot have finished yet: a vendor whose
jobs take 60 to 120 s, polled every 5 s, answers "running" a dozen times per job. Once a
few jobs of a provider have ended, their durations say when the next one will end, and
the poll times can be chosen to spend as few polls as the detection-delay target allows.

What a poll sees is an interval, not a duration: a job answered "running" at age `low`
and "done" at age `high` ended somewhere between. `DurationModel` keeps the recent
intervals and estimates the distribution of durations from them on a grid (Turnbull's
self-consistency iteration: each interval's job is spread over the interval as the
current estimate says, which converges to the most likely distribution), as a histogram
of bars two vendor floors wide. A plan's sparse polls give wide intervals; the estimate
made before them (from the narrow intervals of the cadence's polls) says where inside
them jobs end, and is where the next estimate starts. A few polls are probes, sent at a
random point of their wait, so that not every interval ends at the plan's ages. The plan
reads the histogram blurred inside the ages where jobs end (not past them: a plan
believing jobs end sooner than any does polls for nothing).

The plan is a dynamic programme over that grid. The state is the age at which the job
was last seen running; choosing the next poll at age `t` costs the chance that the job
is still running (one poll of it), and earns `price` for each job it detects within the
delay target. The price is raised until the plan detects at least the target share of
jobs within the target delay (a median delay target: half of them). Every gap is at
least the vendor's floor and short enough that almost no job waits more than the
longest delay allowed (the p99 target). The programme gives the best next poll from any
age, so a job whose poll the rate budget delayed is planned from where it stands: the
plan is conditional on the job still running at its age.

Everything here is in seconds of vendor time and is pure arithmetic: the engine feeds it
what it observed and asks it for the next poll.
"""

from __future__ import annotations

import math
from collections import deque
from typing import Final

__all__ = ["DELAY_CAP", "DELAY_TARGET", "DurationModel", "Plan", "estimate", "make_plan"]

# Enough finished jobs to trust the spread; before that the provider's cadence rules.
_MIN_SAMPLES: Final = 8
# Recent jobs only: a vendor's speed drifts with its load.
_WINDOW: Final = 256
# The detection delay the plan aims to meet for `_TARGET_SHARE` of the jobs, in vendor
# seconds: the median (a benchmark's target is 10 s; jitter, the rate budget's queue and
# the estimate's error come on top).
DELAY_TARGET: Final = 8.0
_TARGET_SHARE: Final = 0.5
# No job the model expects should wait longer than this to be seen (the p99 target is
# 25 s; the rate budget's queue comes on top).
DELAY_CAP: Final = 20.0
# The share of the jobs allowed to wait longer than `DELAY_CAP` at each step.
_CAP_SLACK: Final = 0.002
# Grid cells: at most this many, and no finer than a fifth of the vendor's floor.
_MAX_CELLS: Final = 320
_CELLS_PER_FLOOR: Final = 5
# Self-consistency iterations: from scratch, and from the previous estimate.
_COLD_ITERATIONS: Final = 40
_WARM_ITERATIONS: Final = 8
# The estimate is even within runs of this many vendor floors (a histogram, not a comb
# of spikes at the ages the plan polls at); the plan reads it blurred over this many
# floors, twice, inside the ages where jobs are seen to end (`_EDGE` beyond either end).
_RUN_FLOORS: Final = 2.0
_BLUR_FLOORS: Final = 2.0
_BLUR_PASSES: Final = 2
_EDGE: Final = 0.005
# Bisection steps on the price of a detection, and its upper bound (in polls).
_PRICE_STEPS: Final = 16
_MAX_PRICE: Final = 64.0
# Below this share of jobs still running, the plan's polls are overdue polls.
_SURVIVAL_FLOOR: Final = 1e-3
# The share of planned polls sent early, at a random point of their wait (see next_poll).
_PROBE_SHARE: Final = 0.05
# How far apart, as a share of its age, a job running longer than usual is asked again.
_OVERDUE_SHARE: Final = 0.1


def estimate(
    intervals: list[tuple[float, float]],
    cell: float,
    cells: int,
    prior: list[float] | None = None,
    *,
    run: int = 1,
) -> list[float]:
    """The share of jobs ending in each grid cell, from interval-censored durations.

    Cell `b` (1-based) is `((b - 1) * cell, b * cell]`; index 0 is unused (zero). Each
    `(low, high)` says a job was running at `low` and done by `high` (equal: known
    exactly). `prior` (the previous estimate on the same grid) is where the iteration
    starts: inside a wide interval, jobs end where it said they did. After each
    iteration the estimate is made even within runs of `run` cells: a histogram, as the
    plain iteration would pile the jobs up where many intervals overlap (at the ages the
    plan polls at), and a plan made on such spikes polls at them and misses its target.
    """
    ranges = []
    for low, high in intervals:
        last = min(max(math.ceil(high / cell - 1e-9), 1), cells)
        first = min(max(math.floor(low / cell + 1e-9) + 1, 1), last) if high > low else last
        ranges.append((first, last))
    mass = [0.0] * (cells + 2)
    iterations = _COLD_ITERATIONS
    if prior is not None and len(prior) == cells + 1 and sum(prior) > 0:
        mass[: cells + 1] = prior
        iterations = _WARM_ITERATIONS
    # Intervals the starting point gives no mass to are spread evenly (all of them, cold).
    cumulative = _cumulative(mass, cells)
    for first, last in ranges:
        if cumulative[last] - cumulative[first - 1] <= 0.0:
            share = 1.0 / (last - first + 1)
            for b in range(first, last + 1):
                mass[b] += share
    mass = _normal(mass)
    weight = 1.0 / len(ranges)
    for _ in range(iterations):
        cumulative = _cumulative(mass, cells)
        delta = [0.0] * (cells + 2)
        for first, last in ranges:
            inside = cumulative[last] - cumulative[first - 1]
            if inside > 0.0:
                delta[first] += weight / inside
                delta[last + 1] -= weight / inside
        running = 0.0
        for b in range(1, cells + 1):
            running += delta[b]
            mass[b] *= running
        mass = _normal(_even_runs(mass, cells, run))
    mass[0] = 0.0
    return mass[: cells + 1]


def _normal(mass: list[float]) -> list[float]:
    total = sum(mass) or 1.0
    return [m / total for m in mass]


def _even_runs(mass: list[float], cells: int, run: int) -> list[float]:
    """`mass` made even within each run of `run` cells, from the first cell on."""
    if run <= 1:
        return mass
    even = [0.0] * len(mass)
    for first in range(1, cells + 1, run):
        last = min(cells, first + run - 1)
        share = sum(mass[first : last + 1]) / (last - first + 1)
        for b in range(first, last + 1):
            even[b] = share
    return even


def _blurred(
    mass: list[float], cells: int, width: int, passes: int, *, lo: int = 1, hi: int = 0
) -> list[float]:
    """`mass` blurred by `passes` of a moving average over `width` cells (odd), each
    cell's mass spread evenly over the cells around it between `lo` and `hi`."""
    half = width // 2
    if half < 1:
        return mass
    hi = hi or cells
    for _ in range(passes):
        blurred = [0.0] * (cells + 2)
        edges = [0.0] * (cells + 3)
        for b in range(1, cells + 1):
            if not lo <= b <= hi:
                blurred[b] = mass[b]  # outside: left as it is
                continue
            first, last = max(lo, b - half), min(hi, b + half)
            share = mass[b] / (last - first + 1)
            edges[first] += share
            edges[last + 1] -= share
        running = 0.0
        for b in range(1, cells + 1):
            running += edges[b]
            blurred[b] += running
        mass = blurred
    return mass


def _cumulative(mass: list[float], cells: int) -> list[float]:
    cumulative = [0.0] * (cells + 1)
    running = 0.0
    for b in range(1, cells + 1):
        running += mass[b]
        cumulative[b] = running
    return cumulative


class Plan:
    """The best next poll from each grid age, and what the plan achieves from age 0.

    `after[j]` is the grid index of the next poll for a job last seen running at age
    `j * cell` (0: none planned, the job is past what the model knows). `polls` is the
    expected number of polls of a new job, `share` the share of jobs it sees within
    `delay`, and `end` the age past which polls are overdue polls.
    """

    __slots__ = ("after", "cell", "delay", "end", "polls", "share", "step")

    def __init__(
        self,
        cell: float,
        after: list[int],
        *,
        polls: float,
        share: float,
        delay: float,
        end: float,
        step: float,
    ) -> None:
        self.cell = cell
        self.after = after
        self.polls = polls
        self.share = share
        self.delay = delay
        self.end = end
        self.step = step

    def __repr__(self) -> str:
        return (
            f"Plan(polls={self.polls:.2f}, share within {self.delay:g} s={self.share:.2f}, "
            f"first={self.first:.1f} s, end={self.end:.1f} s)"
        )

    @property
    def first(self) -> float:
        """The age of a new job's first poll."""
        return self.after[0] * self.cell

    def ages(self) -> list[float]:
        """The ages at which a new job is polled while the model expects it may run."""
        ages = []
        j = 0
        while self.after[j]:
            j = self.after[j]
            ages.append(j * self.cell)
        return ages


class _Grid:
    """A grid estimate made ready for planning: its cumulative shares and survival, and
    how far a step may reach from each index (see `make_plan`)."""

    __slots__ = ("cells", "cumulative", "least", "live", "reach", "survival", "within")

    def __init__(
        self,
        mass: list[float],
        cell: float,
        *,
        floor: float,
        delay: float,
        cap: float,
        earliest: float | None = None,
    ) -> None:
        cells = self.cells = len(mass) - 1
        cumulative = _cumulative(mass, cells)
        total = cumulative[cells] or 1.0
        cumulative = self.cumulative = [c / total for c in cumulative]
        self.survival = [1.0 - c for c in cumulative]
        self.live = [s > _SURVIVAL_FLOOR for s in self.survival]
        least = self.least = max(1, math.ceil(floor / cell - 1e-9))
        self.within = max(0, math.floor(delay / cell + 1e-9))
        longest = max(least, math.floor(cap / cell + 1e-9))
        # Past `reach[j]` a poll would leave more than `_CAP_SLACK` of the jobs ending
        # after index `j` waiting longer than `cap`: the last index a step may choose.
        reach = self.reach = [cells] * (cells + 1)
        i = 0
        for j in range(cells + 1):
            i = max(i, j)
            while i < cells and cumulative[i + 1] - cumulative[j] <= _CAP_SLACK:
                i += 1
            reach[j] = max(j + least, min(cells, i + longest))
        if earliest is not None:
            # A job has been seen ending this soon: it must not wait longer than `cap`.
            first = math.floor(earliest / cell + 1e-9)
            for j in range(min(first, cells + 1)):
                reach[j] = max(j + least, min(reach[j], first + longest))

    def seen(self, j: int, k: int) -> float:
        """The share of jobs a poll at index `k` sees within the delay, after one at `j`."""
        if k > self.cells:
            return 1.0 - self.cumulative[j] if self.within >= k - j else 0.0
        return self.cumulative[k] - self.cumulative[max(j, k - self.within)]

    def solve(self, price: float) -> list[int]:
        """The next poll from each index that minimises polls less `price` per detection."""
        cells, survival, seen = self.cells, self.survival, self.seen
        value = [0.0] * (cells + 1)
        after = [0] * (cells + 1)
        for j in range(cells, -1, -1):
            if not self.live[j]:
                continue
            best, choice = math.inf, 0
            for k in range(j + self.least, self.reach[j] + 1):
                # One poll if the job still runs at `j`, less the price of what it sees;
                # past the last index, nothing more is expected.
                cost = survival[j] - price * seen(j, k) + (value[k] if k <= cells else 0.0)
                if cost < best:
                    best, choice = cost, k
            value[j], after[j] = best, min(choice, cells)
        return after

    def achieved(self, after: list[int]) -> tuple[float, float]:
        """A new job's expected polls under `after`, and the share seen within the delay."""
        polls, seen, j = 0.0, 0.0, 0
        while self.live[j] and after[j]:
            k = after[j]
            polls += self.survival[j]
            seen += self.seen(j, k)
            j = k
        return polls, seen


def make_plan(
    mass: list[float],
    cell: float,
    *,
    floor: float,
    delay: float = DELAY_TARGET,
    share: float = _TARGET_SHARE,
    cap: float = DELAY_CAP,
    earliest: float | None = None,
) -> Plan:
    """The plan with the fewest expected polls that sees `share` of the jobs within
    `delay` seconds of their end (or as many as it can), on the grid estimate `mass`.

    The price of a detection is bisected: the lowest price whose plan meets the share.
    """
    grid = _Grid(mass, cell, floor=floor, delay=delay, cap=cap, earliest=earliest)
    low, high = 0.0, _MAX_PRICE
    after = grid.solve(high)
    polls, seen = grid.achieved(after)
    if seen >= share:
        for _ in range(_PRICE_STEPS):
            middle = (low + high) / 2
            candidate = grid.solve(middle)
            candidate_polls, candidate_seen = grid.achieved(candidate)
            if candidate_seen >= share:
                high, after, polls, seen = middle, candidate, candidate_polls, candidate_seen
            else:
                low = middle
    end = next((j for j in range(grid.cells + 1) if not grid.live[j]), grid.cells)
    gaps = [k - j for j, k in enumerate(after) if k and grid.live[j] and j >= after[0]]
    step = (min(gaps) if gaps else grid.least) * cell
    return Plan(cell, after, polls=polls, share=seen, delay=delay, end=end * cell, step=step)


class DurationModel:
    """The recent durations of one provider's jobs, and the poll plan they suggest."""

    def __init__(self, *, delay: float = DELAY_TARGET, cap: float = DELAY_CAP) -> None:
        self.delay = delay
        self.cap = cap
        self._recent: deque[tuple[float, float]] = deque(maxlen=_WINDOW)
        self._since_plan = 0
        self._plan: Plan | None = None
        self._bounds: tuple[float, float] | None = None
        # The last estimate, and its grid's cell: where the next one starts from.
        self._mass: list[float] | None = None
        self._cell = 0.0

    def __len__(self) -> int:
        return len(self._recent)

    @property
    def ready(self) -> bool:
        return len(self._recent) >= _MIN_SAMPLES

    def observe(self, duration: float) -> None:
        """Record a job that ran exactly `duration` seconds (a vendor's callback said)."""
        self.observe_between(duration, duration)

    def observe_between(self, low: float, high: float) -> None:
        """Record a job seen running at age `low` and done at age `high`."""
        if high < 0 or low > high:
            return
        self._recent.append((max(low, 0.0), high))
        self._since_plan += 1

    def quantile(self, q: float) -> float:
        """The `q` quantile of the recent durations, each taken at its interval's end."""
        ends = sorted(high for _, high in self._recent)
        return ends[min(len(ends) - 1, max(0, round(q * (len(ends) - 1))))]

    def plan(self, floor: float, ceiling: float = math.inf) -> Plan | None:
        """The current plan (None until enough jobs ended), re-made as samples come in:
        after each new one while they are few, then every eighth of the window."""
        if not self.ready:
            return None
        due = self._since_plan >= min(len(self._recent) // 4, _WINDOW // 8)
        bounds = (floor, ceiling)
        if self._plan is None or due or self._bounds != bounds:
            self._plan = self._make(floor, min(self.cap, ceiling))
            self._bounds = bounds
            self._since_plan = 0
        return self._plan

    def _make(self, floor: float, cap: float) -> Plan:
        top = max(high for _, high in self._recent)
        cell = max(floor / _CELLS_PER_FLOOR, top / _MAX_CELLS, 1e-3)
        cells = max(math.ceil(top / cell - 1e-9), 1)
        prior = self._mass
        if prior is not None and self._cell == cell:
            # The same grid, perhaps longer or shorter: keep what fits, pad with nothing.
            prior = (prior + [0.0] * cells)[: cells + 1]
        else:
            prior = None
        run = max(1, round(_RUN_FLOORS * floor / cell))
        mass = self._mass = estimate(list(self._recent), cell, cells, prior, run=run)
        self._cell = cell
        cumulative = _cumulative(mass, cells)
        lo = next((b for b in range(1, cells + 1) if cumulative[b] > _EDGE), 1)
        hi = next((b for b in range(1, cells + 1) if cumulative[b] >= 1.0 - _EDGE), cells)
        width = 2 * round(_BLUR_FLOORS * floor / cell / 2) + 1
        smooth = _normal(_blurred(mass, cells, width, _BLUR_PASSES, lo=lo, hi=hi))
        earliest = min(high for _, high in self._recent)
        return make_plan(smooth, cell, floor=floor, delay=self.delay, cap=cap, earliest=earliest)

    def next_poll(
        self, age: float, floor: float, ceiling: float, draw: float = 1.0
    ) -> float | None:
        """Seconds from now until the next poll of a job `age` seconds old.

        None when the model cannot tell yet (too few samples): the caller's cadence
        applies then. A job older than nearly all others (stuck in a queue, or just slow)
        is asked at a tenth of its age, so that a long wait costs a few polls, not one per
        step, and it is still noticed within a tenth of its duration.

        `draw`, uniform in [0, 1), makes a few polls probes: a planned wait is cut short
        at a random point, so that the intervals the model learns from do not always end
        at the same ages (where in a plan's gap jobs end is otherwise never seen).
        """
        plan = self.plan(floor, ceiling)
        if plan is None:
            return None
        index = min(int(age / plan.cell), len(plan.after) - 1)
        following = plan.after[index] if age < plan.end else 0
        if not following:
            return min(max(age * _OVERDUE_SHARE, plan.step, floor), ceiling)
        wait = max(following * plan.cell - age, floor)
        if draw < _PROBE_SHARE:
            return floor + (wait - floor) * draw / _PROBE_SHARE
        return wait
