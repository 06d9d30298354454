"""Engine CPU per poll against a raw httpx GET, as interleaved ratios at several fleet sizes.

One process, one in-process simulator per size (its create limit and credits lifted:
no key creates 100,000 jobs in a minute). The client is LearningStudioAI's adapter with
the create budget removed and a job timeout long enough that no job stops being followed;
its GET budget (120 a minute) stays, so the engine's budget queue holds nearly every
tracked job, as it would for a real fleet. Jobs never end during the measurement.

Each round, for each size in turn, measures `--cpu-polls` GETs on each side, in short
windows of `--cpu-window` GETs that alternate between the sides (ABBA: the order flips
from one window to the next and from one round to the next), so that a shared machine
whose speed drifts weighs on both sides alike:

- raw: plain httpx GETs of running jobs, one after another, from one `httpx.AsyncClient`
  made as a hand-written loop would make it (cookies and all) through the very transport
  instance the engine's client sends through, to the same simulator. The engine's
  requests wait at a gate in front of that transport meanwhile; an in-process exchange
  never waits on the event loop, so none of the engine's tasks runs during a raw window
  (what its scheduler has to catch up on lands in the next engine window);
- engine: the gate opens for exactly that many polls and shuts again; the window ends
  once every poll let through has been answered, read and planned by the engine.

CPU is `time.process_time()` over a round's windows of one side, divided by their GETs
(the simulator's work is in both). Garbage collection is timed separately through
`gc.callbacks` and reported per GET beside the ratio, with the whole-heap collections
counted on each side: one collection of a 100,000-job heap costs tens of milliseconds
and lands in whichever window's allocation set it off, so the ratio with GC jumps from
round to round, and the ratio without GC is the steadier figure of the two. A size
passes when the median of both is within the target.
"""

from __future__ import annotations

import gc
import math
import statistics
import time
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx

from ._measure import in_process
from ._overhead import (
    NEVER_ENDS,
    NO_TIMEOUTS,
    FollowedForEver,
    client_for,
    simulator_options,
    submit_all,
)

if TYPE_CHECKING:
    from collections.abc import Sequence


__all__ = ["CpuSize", "cpu_rounds"]


class _GatedTransport(httpx.AsyncBaseTransport):
    """The engine's transport: counts its polls, and holds them while the gate is shut.

    Open when made (the creates, and the polls sent meanwhile, go through); `shut()`
    holds every later GET until `let_through(n)` lets exactly `n` more through and shuts
    the gate behind them. `drained` is set once each of those has been answered.
    """

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self.inner = inner
        self.polls = 0
        self.until: float = math.inf
        self.open = anyio.Event()
        self.open.set()
        self.reached = anyio.Event()
        self.drained = anyio.Event()
        self._inside = 0

    def shut(self) -> None:
        self.open = anyio.Event()

    def let_through(self, polls: int) -> None:
        """Open the gate for `polls` more GETs."""
        self.until = self.polls + polls
        self.reached = anyio.Event()
        self.drained = anyio.Event()
        self.open.set()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method != "GET":
            return await self.inner.handle_async_request(request)
        while not self.open.is_set():
            await self.open.wait()
        self.polls += 1
        if self.polls >= self.until:
            self.shut()  # the next ones wait for the next window
            self.reached.set()
        self._inside += 1
        try:
            # The in-process transport answers with the body already in memory.
            return await self.inner.handle_async_request(request)
        finally:
            self._inside -= 1
            if self._inside == 0 and self.reached.is_set():
                self.drained.set()

    async def aclose(self) -> None:
        await self.inner.aclose()


class _GcTimer:
    """Seconds spent in garbage collection since the last `take()`."""

    def __init__(self) -> None:
        self._started = 0.0
        self.spent = 0.0
        self.full = 0  # collections of the oldest generation (the whole heap)

    def __call__(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._started = time.process_time()
            self.full += info["generation"] == 2  # noqa: PLR2004 - gc's oldest generation
        else:
            self.spent += time.process_time() - self._started

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent

    def take_full(self) -> int:
        full, self.full = self.full, 0
        return full


@attrs.define
class CpuSize:
    """The rounds of one fleet size: CPU per engine poll and per raw GET, GC apart."""

    jobs: int
    engine: list[float] = attrs.field(factory=list)
    raw: list[float] = attrs.field(factory=list)
    engine_gc: list[float] = attrs.field(factory=list)
    raw_gc: list[float] = attrs.field(factory=list)
    # Whole-heap collections in each side's windows, all rounds together.
    engine_full: int = 0
    raw_full: int = 0

    @property
    def ratios(self) -> list[float]:
        return [e / r for e, r in zip(self.engine, self.raw, strict=True) if r]

    @property
    def ratios_without_gc(self) -> list[float]:
        return [
            (e - eg) / (r - rg)
            for e, r, eg, rg in zip(self.engine, self.raw, self.engine_gc, self.raw_gc, strict=True)
            if r > rg
        ]

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self) | {
            "ratios": self.ratios,
            "ratios_without_gc": self.ratios_without_gc,
        }


async def _raw_window(http: httpx.AsyncClient, ids: Sequence[str]) -> float:
    """Process CPU seconds of one plain GET of each job in `ids`, one after another."""
    before = time.process_time()
    for job_id in ids:
        response = await http.get(f"/api/v1/courses/jobs/{job_id}")
        response.raise_for_status()
    return time.process_time() - before


async def _engine_window(gated: _GatedTransport, polls: int) -> float:
    """Process CPU seconds of the engine sending `polls` polls and reading every answer."""
    before = time.process_time()
    gated.let_through(polls)
    await gated.reached.wait()
    await gated.drained.wait()
    # Every answer let through is read, its job planned, before the window ends.
    await anyio.wait_all_tasks_blocked()
    return time.process_time() - before


async def _size(
    jobs: int, *, rounds: int, polls: int, chunk: int, speed: float, timer: _GcTimer
) -> CpuSize:
    result = CpuSize(jobs=jobs)
    with in_process("learningstudio", **simulator_options(speed, NEVER_ENDS)) as target:
        gated = _GatedTransport(target.transport())
        async with (
            client_for(
                target,
                gated,
                FollowedForEver,
                # Polls held at the shut gate must not time out meanwhile (at this speed
                # a raw window lasts minutes of vendor time).
                retry=NO_TIMEOUTS,
            ) as client,
            httpx.AsyncClient(
                base_url=target.base_url,
                transport=gated.inner,  # the engine's own transport instance
                headers={"Authorization": f"Bearer {target.key}"},
            ) as http,
        ):
            ids = [job.id for job in await submit_all(client, jobs)]
            gated.shut()  # from now on, polls go out in their windows only
            # First use of both sides' code paths, unmeasured.
            await _raw_window(http, ids[:50])
            await _engine_window(gated, 50)
            for round_ in range(rounds):
                engine = raw = engine_gc = raw_gc = 0.0
                # Short windows, alternating (engine first in every other round): a
                # machine whose speed drifts (a shared one) weighs on both sides alike.
                sides = ("raw", "engine") if round_ % 2 == 0 else ("engine", "raw")
                start = round_ * polls
                for offset in range(0, polls, chunk):
                    count = min(chunk, polls - offset)
                    sample = [ids[(start + offset + i) % len(ids)] for i in range(count)]
                    for side in sides:
                        timer.take()
                        timer.take_full()
                        if side == "raw":
                            raw += await _raw_window(http, sample)
                            raw_gc += timer.take()
                            result.raw_full += timer.take_full()
                        else:
                            engine += await _engine_window(gated, count)
                            engine_gc += timer.take()
                            result.engine_full += timer.take_full()
                    sides = sides[::-1]
                result.engine.append(engine / polls)
                result.raw.append(raw / polls)
                result.engine_gc.append(engine_gc / polls)
                result.raw_gc.append(raw_gc / polls)
    return result


async def cpu_rounds(
    sizes: Sequence[int], *, rounds: int, polls: int, chunk: int, speed: float
) -> list[CpuSize]:
    """Each size in turn: its fleet submitted once, then `rounds` interleaved windows."""
    timer = _GcTimer()
    gc.callbacks.append(timer)
    try:
        return [
            await _size(n, rounds=rounds, polls=polls, chunk=chunk, speed=speed, timer=timer)
            for n in sizes
        ]
    finally:
        gc.callbacks.remove(timer)


def spread(values: Sequence[float]) -> str:
    """Median and range of a few rounds: `1.12x (1.05-1.20)`."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"
