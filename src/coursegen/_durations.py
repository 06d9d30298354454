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
from collections import deque
from typing import Final

__all__ = ["DurationModel"]

# Enough finished jobs to trust the spread; before that the provider's cadence rules.
_MIN_SAMPLES: Final = 8
# Recent jobs only: a vendor's speed drifts with its load.
_WINDOW: Final = 256
_LOW, _HIGH = 0.05, 0.95
# Polls between the fastest and the slowest usual job: detection delay against requests.
_STEPS: Final = 4
# How far apart, as a share of its age, a job running longer than usual is asked again.
_OVERDUE_SHARE: Final = 0.1


class DurationModel:
    """The recent durations of one provider's jobs, and the poll plan they suggest."""

    def __init__(self) -> None:
        self._recent: deque[float] = deque(maxlen=_WINDOW)
        self._sorted: list[float] = []

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

    def quantile(self, q: float) -> float:
        index = min(len(self._sorted) - 1, max(0, round(q * (len(self._sorted) - 1))))
        return self._sorted[index]

    def next_poll(self, age: float, floor: float, ceiling: float) -> float | None:
        """Seconds from now until the next poll of a job `age` seconds old.

        None when the model cannot tell yet (too few samples): the caller's cadence
        applies then. A job older than nearly all others (stuck in a queue, or just slow)
        is asked at a tenth of its age, so that a long wait costs a few polls, not one per
        cadence, and it is still noticed within a tenth of its duration.
        """
        if not self.ready:
            return None
        low, high = self.quantile(_LOW), self.quantile(_HIGH)
        step = min(max((high - low) / _STEPS, floor), ceiling)
        if age < low:
            return max(low - age, floor)
        if age < high + step:
            return step
        return min(max(age * _OVERDUE_SHARE, step), ceiling)
