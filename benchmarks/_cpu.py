"""Engine CPU per poll against a raw httpx GET, as interleaved ratios at several fleet sizes.

One process, one in-process simulator per size (its create limit and credits lifted:
no key creates 100,000 jobs in a minute). The client is LearningStudioAI's adapter with
the create budget removed and a job timeout long enough that no job stops being followed;
its GET budget (120 a minute) stays, so the engine's budget queue holds nearly every
tracked job, as it would for a real fleet. Jobs never end during the measurement.

Each round, for each size in turn, measures two windows back to back:

- raw: `--cpu-raw` plain httpx GETs of running jobs (a fresh `httpx.AsyncClient` per
  window, cookies and all, through a transport of the same simulator), one after another, while the
  engine's requests wait at a gate in its transport (its scheduler still runs: its cost
  is a few microseconds a second, inside the raw figure, against the engine);
- engine: the gate opens and `--cpu-polls` polls go out; CPU over that window / polls.

CPU is `time.process_time()` (the simulator's work is in both). Garbage collection is
timed separately through `gc.callbacks` and reported per poll beside the ratio: a
collection of a 100,000-job heap lands in whichever window it falls in.
"""

from __future__ import annotations

import gc
import statistics
import time
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs
import httpx

from coursegen import CourseRequest, Operation, PollPolicy, RetryPolicy
from coursegen_learningstudio import LearningStudio

from ._contenders import subject
from ._measure import in_process
from ._overhead import client_for, raw_cpu

if TYPE_CHECKING:
    from collections.abc import Sequence

    from coursegen import Client


__all__ = ["CpuSize", "cpu_rounds"]

_SUBMITTERS = 64
# Vendor seconds: no job ends while it is measured, whatever the fleet's size.
_JOB_DURATION = (1e9, 2e9)


class _Measured(LearningStudio):
    """LearningStudioAI's adapter, its create limit removed and jobs followed for ever."""

    policy: ClassVar[PollPolicy] = attrs.evolve(
        LearningStudio.policy,
        rate_limits={Operation.POLL: LearningStudio.policy.rate_limits[Operation.POLL]},
        job_timeout=1e12,
    )


class _GatedTransport(httpx.AsyncBaseTransport):
    """The engine's transport: counts its polls, and holds them while the gate is shut."""

    def __init__(self, inner: httpx.AsyncBaseTransport) -> None:
        self._inner = inner
        self.polls = 0
        self.open = anyio.Event()
        # Set when `polls` reaches `until`: the end of an engine window.
        self.until = 0
        self.reached = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        await self.open.wait()
        if request.method == "GET":
            self.polls += 1
            if self.polls == self.until:
                self.reached.set()
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self._inner.aclose()


class _GcTimer:
    """Seconds spent in garbage collection since the last `take()`."""

    def __init__(self) -> None:
        self._started = 0.0
        self.spent = 0.0

    def __call__(self, phase: str, info: dict[str, Any]) -> None:  # noqa: ARG002 - gc's signature
        if phase == "start":
            self._started = time.process_time()
        else:
            self.spent += time.process_time() - self._started

    def take(self) -> float:
        spent, self.spent = self.spent, 0.0
        return spent


@attrs.define
class CpuSize:
    """The rounds of one fleet size: CPU per engine poll and per raw GET, GC apart."""

    jobs: int
    engine: list[float] = attrs.field(factory=list)
    raw: list[float] = attrs.field(factory=list)
    engine_gc: list[float] = attrs.field(factory=list)
    raw_gc: list[float] = attrs.field(factory=list)

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


async def _submit_all(client: Client, jobs: int) -> list[str]:
    ids: list[str] = []
    indices = iter(range(jobs))

    async def worker() -> None:
        for index in indices:
            job = await client.submit(CourseRequest(subject=subject(index)))
            ids.append(job.id)

    async with anyio.create_task_group() as tg:
        for _ in range(_SUBMITTERS):
            tg.start_soon(worker)
    return ids


async def _size(
    jobs: int, *, rounds: int, polls: int, raw_samples: int, speed: float, timer: _GcTimer
) -> CpuSize:
    result = CpuSize(jobs=jobs)
    options: dict[str, Any] = {
        "speed": speed,
        "job_duration": _JOB_DURATION,
        "rate_limits": {"submit": 10**9, "poll": 10**9},
        "monthly_credits": 10**9,
    }
    with in_process("learningstudio", **options) as target:
        gated = _GatedTransport(target.transport())
        gated.open.set()  # the creates go through
        async with client_for(
            target,
            gated,
            _Measured,
            # Polls held at the shut gate must not time out meanwhile (at this speed
            # a raw window lasts minutes of vendor time).
            retry=RetryPolicy(attempt_timeout=1e9),
        ) as client:
            ids = await _submit_all(client, jobs)
            await raw_cpu(target, ids[:20])  # first use of httpx's code paths: warm-up
            for round_ in range(rounds):
                gated.open = anyio.Event()  # shut: the engine's requests wait
                sample = [ids[(round_ * raw_samples + i) % len(ids)] for i in range(raw_samples)]
                timer.take()
                result.raw.append(await raw_cpu(target, sample))
                result.raw_gc.append(timer.take() / raw_samples)
                before_polls, before = gated.polls, time.process_time()
                gated.until, gated.reached = before_polls + polls, anyio.Event()
                gated.open.set()
                await gated.reached.wait()
                sent = gated.polls - before_polls
                result.engine.append((time.process_time() - before) / sent)
                result.engine_gc.append(timer.take() / sent)
    return result


async def cpu_rounds(
    sizes: Sequence[int], *, rounds: int, polls: int, raw_samples: int, speed: float
) -> list[CpuSize]:
    """Each size in turn: its fleet submitted once, then `rounds` interleaved windows."""
    timer = _GcTimer()
    gc.callbacks.append(timer)
    try:
        return [
            await _size(
                n, rounds=rounds, polls=polls, raw_samples=raw_samples, speed=speed, timer=timer
            )
            for n in sizes
        ]
    finally:
        gc.callbacks.remove(timer)


def spread(values: Sequence[float]) -> str:
    """Median and range of a few rounds: `1.12x (1.05-1.20)`."""
    if not values:
        return "-"
    return f"{statistics.median(values):.2f}x ({min(values):.2f}-{max(values):.2f})"
