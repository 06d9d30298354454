"""An asyncio event loop on virtual time: the asyncio twin of trio's autojumping MockClock.

The loop's clock (`loop.time()`, hence `anyio.current_time()`, `anyio.sleep`, cancel
scopes and `call_later`) starts at 0 and moves only when every task is idle: when the
loop would block waiting for its next timer, it first polls for ready I/O without
waiting, and if there is none it jumps straight to that timer. Minutes of vendor time
then pass in microseconds of real time, and a test gives the same answer on an idle
machine and on one whose cores are busy, because nothing it measures is real time.

Real I/O still works: a loop with no timer pending waits for sockets and threads for
real, and ready I/O is always served before the clock moves. What it cannot do is wait
*with a deadline* for something outside the process (a subprocess, a server on
loopback): the deadline is reached at once, as on trio's MockClock. Such tests run on the
plain loop (the `real_clock` marker of `coursegen.testing`).
"""

from __future__ import annotations

import asyncio
import selectors
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from selectors import SelectorKey

__all__ = ["VirtualClockEventLoop"]


class _AutojumpSelector(selectors.DefaultSelector):
    """A selector that turns "block until the next timer" into a jump of the loop's clock."""

    def __init__(self) -> None:
        super().__init__()
        self.loop: VirtualClockEventLoop | None = None

    def select(self, timeout: float | None = None) -> list[tuple[SelectorKey, int]]:
        ready: list[tuple[SelectorKey, int]] = super().select(0)
        if ready or (timeout is not None and timeout <= 0):
            return ready
        if timeout is None or self.loop is None:
            # No timer is pending: only I/O or another thread can wake the loop.
            return super().select(timeout)
        self.loop.jump_to_next_timer(timeout)
        return []


class VirtualClockEventLoop(asyncio.SelectorEventLoop):
    """A selector event loop whose clock jumps over idle time (see the module docstring)."""

    def __init__(self) -> None:
        selector = _AutojumpSelector()
        super().__init__(selector)
        selector.loop = self
        self._virtual_now = 0.0

    def time(self) -> float:
        """The loop's clock: virtual seconds, moved only by `advance` and idle jumps."""
        return self._virtual_now

    def advance(self, seconds: float) -> None:
        """Move the clock forward by `seconds` (never backward)."""
        if seconds > 0:
            self._virtual_now += seconds

    def jump_to_next_timer(self, timeout: float) -> None:
        """Jump `timeout` ahead, landing exactly on the next timer's time when it is that one.

        `now + (when - now)` is not always `when` in floating point: landing on the timer's
        own time keeps sums like 5 + 5 + 5 exact, as a vendor's windows need.
        """
        target = self._virtual_now + timeout
        scheduled = getattr(self, "_scheduled", None)  # BaseEventLoop's timer heap
        if scheduled:
            when: float = scheduled[0].when()
            if abs(when - target) <= 1e-9 * max(1.0, abs(target)):
                target = when
        self._virtual_now = max(self._virtual_now, target)
