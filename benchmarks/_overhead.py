"""Pure engine overhead: 10,000 jobs tracked at once by one client, in-process, asyncio.

No vendor lets one key create 10,000 jobs in a few seconds (LearningStudioAI allows 30 a
minute), so here the create limit is lifted on both sides: the simulator admits every
create and the client uses LearningStudioAI's adapter with its POST budget removed. The
GET budget (120 a minute) stays on the client, so the engine's budget queue holds
thousands of due jobs, as it would for a real fleet; the simulator does not enforce it
(the raw httpx requests measured beside it must not be refused). Jobs last 10,000-15,000
vendor seconds, longer than the creates take, so all of them are in flight together.

- CPU per poll: `time.process_time()` over the polling phase / polls sent, against a
  plain httpx GET of a running job through the same in-process transport, timed around
  the request alone. Both include the simulator's own work (same process), so the
  ratio is the engine's cost over a request's, not over nothing.
- Memory per tracked job: a second pass under `tracemalloc`, allocations made inside
  the simulator (or Starlette) left out, beyond the same process with no job.
"""

from __future__ import annotations

import gc
import statistics
import time
import tracemalloc
from typing import TYPE_CHECKING, Any, ClassVar

import anyio
import attrs
import httpx

import coursegen
from coursegen import CourseRequest, Operation, PollPolicy, Settings
from coursegen_learningstudio import LearningStudio

from ._contenders import SEED, subject
from ._measure import CountingTransport, VendorTime, in_process

if TYPE_CHECKING:
    from ._measure import Target

__all__ = ["Overhead", "client_for", "overhead", "raw_cpu"]

_SIMULATOR_FILES = ("*sandbox*", "*starlette*")
# Deep enough that an allocation made inside the simulator has one of its frames in
# the traceback (that is how it is left out), shallow enough to keep tracing bearable.
_FRAMES = 10
_RAW_SAMPLES = 1000
_SUBMITTERS = 64
# Vendor seconds: longer than 10,000 creates take at the default speed (about 15 s of
# real time, 7,500 vendor seconds), so every job is in flight when polling starts.
_JOB_DURATION = (10_000.0, 15_000.0)  # concurrent creates: the creates are not what is measured


class _PollBudgetOnly(LearningStudio):
    """LearningStudioAI's adapter, unchanged but for the create limit (see the module)."""

    policy: ClassVar[PollPolicy] = attrs.evolve(
        LearningStudio.policy,
        rate_limits={Operation.POLL: LearningStudio.policy.rate_limits[Operation.POLL]},
    )


@attrs.define
class Overhead:
    jobs: int
    speed: float
    yielded: int = 0
    polls: int = 0
    cpu_per_poll: float = 0.0
    raw_cpu: float = 0.0
    bytes_per_job: float = 0.0
    bytes_at: dict[str, float] = attrs.field(factory=dict)
    order_correlation: float = 0.0
    delay_median: float = 0.0
    wall_seconds: float = 0.0

    @property
    def cpu_ratio(self) -> float:
        return self.cpu_per_poll / self.raw_cpu if self.raw_cpu else float("nan")

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self) | {"cpu_ratio": self.cpu_ratio}


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


def _traced_client_bytes() -> int:
    """Bytes traced now, minus those allocated by the simulator (it shares the process)."""
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(
        [
            tracemalloc.Filter(inclusive=False, filename_pattern=p, all_frames=True)
            for p in _SIMULATOR_FILES
        ]
    )
    return sum(stat.size for stat in snapshot.statistics("filename"))


def _spearman(xs: list[float]) -> float:
    """Rank correlation of the vendor's completion times with the order they were yielded."""
    n = len(xs)
    if n < 2:  # noqa: PLR2004 - a correlation needs two points
        return float("nan")
    ranks = {index: rank for rank, index in enumerate(sorted(range(n), key=xs.__getitem__))}
    d2 = sum((ranks[i] - i) ** 2 for i in range(n))
    return 1 - 6 * d2 / (n * (n * n - 1))


async def _submit_all(client: coursegen.Client, jobs: int) -> list[coursegen.Job]:
    handles: list[coursegen.Job | None] = [None] * jobs
    indices = iter(range(jobs))

    async def worker() -> None:
        for index in indices:
            handles[index] = await client.submit(CourseRequest(subject=subject(index)))

    async with anyio.create_task_group() as tg:
        for _ in range(_SUBMITTERS):
            tg.start_soon(worker)
    return [job for job in handles if job is not None]


async def raw_cpu(target: Target, job_ids: list[str]) -> float:
    """CPU seconds of one plain httpx GET of a running job, through the same transport."""
    total = 0.0
    async with httpx.AsyncClient(
        base_url=target.base_url,
        transport=target.transport(),
        headers={"Authorization": f"Bearer {target.key}"},
    ) as http:
        for job_id in job_ids:
            before = time.process_time()
            response = await http.get(f"/api/v1/courses/jobs/{job_id}")
            total += time.process_time() - before
            response.raise_for_status()
    return total / len(job_ids)


async def _pass(result: Overhead, *, trace: bool) -> None:
    options: dict[str, Any] = {
        "speed": result.speed,
        "job_duration": _JOB_DURATION,
        "rate_limits": {"submit": 10**9, "poll": 10**9},
        # The default account has 10,000 credits (one per course): enough for any size.
        "monthly_credits": 10**9,
    }
    with in_process("learningstudio", **options) as target:
        clock: VendorTime = target.clock
        transport = CountingTransport(target.transport(), clock)
        async with client_for(target, transport) as client:
            baseline = _traced_client_bytes() if trace else 0
            jobs = await _submit_all(client, result.jobs)
            if not trace:
                sample = [job.id for job in jobs[:_RAW_SAMPLES]]
                result.raw_cpu = await raw_cpu(target, sample)
            ends: list[float] = []
            delays: list[float] = []
            polls_before = transport.polls
            cpu_before = time.process_time()
            wall_before = time.perf_counter()
            # Traced, the run stops at half the results: every job has been tracked and
            # polled by then, and tracing the rest would only triple the wait.
            checkpoints = {1: "first result", result.jobs // 2: "half yielded"}
            async for job in client.as_completed(jobs):
                result.yielded += 1
                end = target.ends_at(job.id)
                ends.append(end)
                delays.append(clock.now() - end)
                if trace and result.yielded in checkpoints:
                    used = _traced_client_bytes() - baseline
                    result.bytes_at[checkpoints[result.yielded]] = used / result.jobs
                    if result.yielded == result.jobs // 2:
                        break
            result.wall_seconds = time.perf_counter() - wall_before
            if trace:
                result.bytes_per_job = max(result.bytes_at.values())
            else:
                result.cpu_per_poll = (time.process_time() - cpu_before) / max(
                    transport.polls - polls_before, 1
                )
                result.polls = transport.polls - polls_before
                result.order_correlation = _spearman(ends)
                result.delay_median = statistics.median(delays)


async def overhead(jobs: int, speed: float) -> tuple[Overhead, Overhead]:
    """Two passes: CPU (no tracing), then memory (tracemalloc on)."""
    timing = Overhead(jobs=jobs, speed=speed)
    await _pass(timing, trace=False)
    memory = Overhead(jobs=jobs, speed=speed)
    tracemalloc.start(_FRAMES)
    try:
        await _pass(memory, trace=True)
    finally:
        tracemalloc.stop()
    return timing, memory
