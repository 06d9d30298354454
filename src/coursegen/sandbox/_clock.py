"""Vendor time: the one clock a sandbox reads.

Everything a simulator times (job durations, rate windows, webhook due times) is in the
vendor's own seconds, measured from the event loop's clock and scaled by `speed`. The
loop's clock is the only source, never `time.time()` or `time.monotonic()`: under trio's
`MockClock(autojump_threshold=0)` minutes of vendor time then pass in milliseconds, and
the sandbox and the client under test agree on what time it is.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Final

import anyio

__all__ = ["DEFAULT_EPOCH", "VendorClock"]

DEFAULT_EPOCH: Final = datetime(2026, 4, 28, 17, 0, tzinfo=UTC)
"""The vendor's wall-clock time when a sandbox's clock starts: fixed, so payloads repeat."""


class VendorClock:
    """Vendor seconds since first use, and the wall-clock time derived from them.

    The clock starts on first use rather than at construction, so a sandbox built outside
    an event loop (a sync fixture, a CLI before `anyio.run`) starts at zero once it runs.
    """

    def __init__(self, *, speed: float, epoch: datetime) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed!r}")
        if epoch.tzinfo is None:
            # A naive epoch would make every `createdAt` depend on the machine's zone.
            raise ValueError("epoch must be timezone-aware")
        self.speed: Final = float(speed)
        self.epoch: Final = epoch.astimezone(UTC)
        self._t0: float | None = None

    @property
    def started(self) -> bool:
        """True once the clock has been read (vendor time runs from that moment)."""
        return self._t0 is not None

    def now(self) -> float:
        """Vendor seconds elapsed since the clock started (starting it if need be)."""
        t = anyio.current_time()
        if self._t0 is None:
            self._t0 = t
        return (t - self._t0) * self.speed

    def wall_clock(self, vendor_time: float | None = None) -> datetime:
        """The vendor's UTC wall-clock time at `vendor_time` (default: now)."""
        at = self.now() if vendor_time is None else vendor_time
        return self.epoch + timedelta(seconds=at)

    def loop_seconds(self, vendor_seconds: float) -> float:
        """How long `vendor_seconds` last on the event loop's clock."""
        return vendor_seconds / self.speed

    async def sleep(self, vendor_seconds: float) -> None:
        """Sleep `vendor_seconds` of vendor time (that divided by `speed` on the loop)."""
        await anyio.sleep(max(vendor_seconds, 0.0) / self.speed)
