"""The engine at scale: 10,000 jobs (or more: `--overhead-jobs`) tracked at once by one
client, in-process, asyncio.

No vendor lets one key create 10,000 jobs in a few seconds (LearningStudioAI allows 30 a
minute), so here the create limit is lifted on both sides: the simulator admits every
create and the client uses LearningStudioAI's adapter with its POST budget removed. The
GET budget (120 a minute) stays on the client, so the engine's budget queue holds
thousands of due jobs, as it would for a real fleet. Two passes per size:

- **as_completed at scale** (no tracing; sizes up to `follow_up_to`, 10,000 by default:
  the run lasts about three times as long as the creates take, minutes at 100,000): jobs
  last 10,000-15,000 vendor seconds, longer than 10,000 creates take, so every job is in
  flight at once; the fleet is followed to its end through `as_completed`, which must
  yield every result, in about the order the vendor finished them (rank correlation).
- **memory per tracked job** (`tracemalloc`, `_FRAMES` frames): no job ends; the bytes
  the process holds once every job is submitted, and again once the engine has polled
  every job at least once (each holds a vendor answer then), beyond the same process
  with the client open and no job. Whatever the simulator or Starlette allocated is
  left out (they share the process), and so are the benchmark's own counters.

CPU per poll is measured in `_cpu.py`, as interleaved windows against raw GETs of the
same running jobs: here the polls that find a job done carry a whole course, which a
raw GET of a running job does not, so a ratio over this run would compare unlike work.
"""

from __future__ import annotations

import fnmatch
import gc
import statistics
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs
import httpx

import coursegen
from coursegen import CourseRequest, Operation, PollPolicy, RetryPolicy, Settings
from coursegen_learningstudio import LearningStudio

from ._contenders import SEED, subject
from ._measure import CountingTransport, VendorTime, in_process

if TYPE_CHECKING:
    from collections.abc import Sequence

    from ._measure import Target

__all__ = [
    "NEVER_ENDS",
    "NO_TIMEOUTS",
    "FollowedForEver",
    "Overhead",
    "client_for",
    "overhead",
    "simulator_options",
    "submit_all",
]

# A trace is the simulator's when any of its frames is in one of these files.
_SIMULATOR_FILES = ("*sandbox*", "*starlette*")
# A trace is the benchmark's own bookkeeping when it was allocated in one of these.
_BENCHMARK_FILES = ("*benchmarks*",)
# Deep enough that an allocation made inside the simulator has one of its frames in
# the traceback (that is how it is left out), shallow enough to keep tracing bearable.
_FRAMES = 10
_SUBMITTERS = 64
# Vendor seconds: longer than 10,000 creates take at the default speed (about 15 s of
# real time, 7,500 vendor seconds), so every job is in flight when polling starts.
_JOB_DURATION = (10_000.0, 15_000.0)
# Vendor seconds: no job ends while it is measured, whatever the fleet's size.
NEVER_ENDS = (1e9, 2e9)
# A traced or gated client is slow on the simulator's fast clock: no poll may time out.
NO_TIMEOUTS = RetryPolicy(attempt_timeout=1e9, deadline=1e12)


class _PollBudgetOnly(LearningStudio):
    """LearningStudioAI's adapter, unchanged but for the create limit (see the module)."""

    policy: ClassVar[PollPolicy] = attrs.evolve(
        LearningStudio.policy,
        rate_limits={Operation.POLL: LearningStudio.policy.rate_limits[Operation.POLL]},
    )


class FollowedForEver(LearningStudio):
    """As `_PollBudgetOnly`, and no job stops being followed while it is measured."""

    policy: ClassVar[PollPolicy] = attrs.evolve(_PollBudgetOnly.policy, job_timeout=1e12)


@attrs.define
class Overhead:
    """One fleet size: `as_completed` over the whole fleet, and memory per tracked job."""

    jobs: int
    speed: float
    followed: bool = False  # whether the as_completed pass ran at this size
    yielded: int = 0
    polls: int = 0
    order_correlation: float = 0.0
    delay_median: float = 0.0
    wall_seconds: float = 0.0
    bytes_submitted: float = 0.0  # per job, once every job is submitted
    bytes_polled: float = 0.0  # per job, once every job has been polled
    traced_seconds: float = 0.0

    @property
    def bytes_per_job(self) -> float:
        return max(self.bytes_submitted, self.bytes_polled)

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self) | {"bytes_per_job": self.bytes_per_job}


def client_for(
    target: Target,
    transport: httpx.AsyncBaseTransport,
    adapter: type[LearningStudio] = _PollBudgetOnly,
    **options: Any,
) -> coursegen.Client:
    """A client of `target` through `transport`, on `adapter` (a LearningStudioAI one)."""
    settings = Settings(
        provider=target.vendor,
        base_url=target.base_url,
        api_key=target.key,
        time_scale=target.clock.speed,
    )
    return coursegen.Client(
        adapter.from_settings(settings), settings, transport=transport, seed=SEED, **options
    )


def simulator_options(speed: float, durations: tuple[float, float]) -> dict[str, Any]:
    return {
        "speed": speed,
        "job_duration": durations,
        "rate_limits": {"submit": 10**9, "poll": 10**9},
        # The default account has 10,000 credits (one per course): enough for no size here.
        "monthly_credits": 10**9,
    }


class _TracedBytes:
    """Bytes traced now, less the simulator's and the benchmark's own allocations.

    Reads the snapshot's raw traces and decides each file once: `Snapshot.filter_traces`
    matches every frame of every trace against the patterns, which at 100,000 jobs
    (millions of traces of 10 frames) takes longer than the run it measures.
    """

    def __init__(self) -> None:
        self._simulator: dict[str, bool] = {}
        self._benchmark: dict[str, bool] = {}

    def _is(self, memo: dict[str, bool], patterns: Sequence[str], filename: str) -> bool:
        found = memo.get(filename)
        if found is None:
            found = memo[filename] = any(fnmatch.fnmatch(filename, p) for p in patterns)
        return found

    def __call__(self) -> int:
        gc.collect()
        snapshot = tracemalloc.take_snapshot()
        total = 0
        # (domain, size, frames (most recent first), frame count) per trace.
        for _, size, frames, *_ in snapshot.traces._traces:  # type: ignore[attr-defined]  # noqa: SLF001 - see the class
            if frames and self._is(self._benchmark, _BENCHMARK_FILES, frames[0][0]):
                continue
            if any(self._is(self._simulator, _SIMULATOR_FILES, name) for name, _ in frames):
                continue
            total += size
        return total


class _PolledIds(httpx.AsyncBaseTransport):
    """Sets `every_job` once `jobs` distinct jobs have been polled, around a real transport
    (no other GET goes out: no job ends)."""

    def __init__(self, inner: httpx.AsyncBaseTransport, jobs: int) -> None:
        self.inner = inner
        self.jobs = jobs
        self.polled: set[str] = set()
        self.every_job = anyio.Event()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "GET":
            self.polled.add(request.url.path.rsplit("/", 1)[-1])
            if len(self.polled) >= self.jobs:
                self.every_job.set()
        return await self.inner.handle_async_request(request)

    async def aclose(self) -> None:
        await self.inner.aclose()


def _spearman(xs: list[float]) -> float:
    """Rank correlation of the vendor's completion times with the order they were yielded."""
    n = len(xs)
    if n < 2:  # noqa: PLR2004 - a correlation needs two points
        return float("nan")
    ranks = {index: rank for rank, index in enumerate(sorted(range(n), key=xs.__getitem__))}
    d2 = sum((ranks[i] - i) ** 2 for i in range(n))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def submit_all(client: coursegen.Client, jobs: int) -> list[coursegen.Job]:
    handles: list[coursegen.Job | None] = [None] * jobs
    indices = iter(range(jobs))

    async def worker() -> None:
        for index in indices:
            handles[index] = await client.submit(CourseRequest(subject=subject(index)))

    async with anyio.create_task_group() as tg:
        for _ in range(_SUBMITTERS):
            tg.start_soon(worker)
    return [job for job in handles if job is not None]


async def _follow_to_the_end(result: Overhead) -> None:
    """The whole fleet through `as_completed`: every result, its order and its delay."""
    with in_process("learningstudio", **simulator_options(result.speed, _JOB_DURATION)) as target:
        clock: VendorTime = target.clock
        transport = CountingTransport(target.transport(), clock)
        async with client_for(target, transport) as client:
            jobs = await submit_all(client, result.jobs)
            ends: list[float] = []
            delays: list[float] = []
            polls_before = transport.polls
            wall_before = time.perf_counter()
            async for job in client.as_completed(jobs):
                result.yielded += 1
                end = target.ends_at(job.id)
                ends.append(end)
                delays.append(clock.now() - end)
            result.wall_seconds = time.perf_counter() - wall_before
            result.polls = transport.polls - polls_before
            result.order_correlation = _spearman(ends)
            result.delay_median = statistics.median(delays)


async def _measure_memory(result: Overhead) -> None:
    """Bytes per tracked job once submitted, and once every job has been polled."""
    traced = _TracedBytes()
    started = time.perf_counter()
    with in_process("learningstudio", **simulator_options(result.speed, NEVER_ENDS)) as target:
        transport = _PolledIds(target.transport(), result.jobs)
        async with client_for(target, transport, FollowedForEver, retry=NO_TIMEOUTS) as client:
            baseline = traced()
            # The handles stay referenced while measured, as an application holds them.
            handles = await submit_all(client, result.jobs)
            result.bytes_submitted = (traced() - baseline) / len(handles)
            await transport.every_job.wait()
            result.bytes_polled = (traced() - baseline) / len(handles)
    result.traced_seconds = time.perf_counter() - started


async def overhead(
    sizes: Sequence[int], speed: float, follow_up_to: int = 10_000
) -> list[Overhead]:
    """Each size: the fleet followed to its end (up to `follow_up_to` jobs), then its
    memory in a traced pass."""
    found = []
    for jobs in sizes:
        result = Overhead(jobs=jobs, speed=speed, followed=jobs <= follow_up_to)
        if result.followed:
            await _follow_to_the_end(result)
        tracemalloc.start(_FRAMES)
        try:
            await _measure_memory(result)
        finally:
            tracemalloc.stop()
        found.append(result)
    return found
