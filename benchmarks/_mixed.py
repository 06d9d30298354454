"""The mixed fleet: one client per vendor, all in one process, on one virtual clock.

A catalogue built from several vendors at once: a fleet of LearningStudioAI courses, a
fleet of TutorFlow courses and a fleet of EduMate assessments, each submitted at once
by its own client (`coursegen.connect(name, sandbox=simulator)`, default settings, so
`keep_results=True`), and awaited with `as_completed`, one per client, all in one task
group. Each simulator keeps its defaults (LearningStudioAI: 30 creates and 120 polls a
minute; TutorFlow: 60 requests a minute per workspace, every endpoint in one pool;
EduMate: no limit, one RQ worker, a result kept 500 s after its job ends).

What is measured, per vendor, from the simulator's own log (a simulator passed to
`connect` brings its own transport, so the client cannot be wrapped): requests and
429s; detection delay, from a job's end to the first poll the vendor answered 200 after
it (in-process on virtual time, the client holds the answer at that very instant);
time to the last result; and the jobs whose result was lost (EXPIRED: EduMate forgot it
before it was fetched), whose target is zero.
"""

from __future__ import annotations

import math
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qs

import anyio
import attrs

import coursegen
from coursegen import AssessmentRequest, CourseRequest, JobStatus

from ._contenders import subject
from ._measure import Run, simulator_stats

if TYPE_CHECKING:
    from collections.abc import Callable, Mapping

    from coursegen.sandbox import Sandbox

__all__ = ["MIXED", "MixedRun", "mixed", "mixed_missing"]

_EDUMATE_COLLECTION = "edu_mate_demo"  # coursegen_edumate.sandbox.DEMO_COLLECTION

# One entry per vendor: the request its jobs make. A vendor whose plugin or simulator is
# not installed is reported and the mixed fleet skipped.
MIXED: dict[str, Callable[[int], coursegen.Request]] = {
    "learningstudio": lambda i: CourseRequest(subject=subject(i)),
    "tutorflow": lambda i: CourseRequest(subject=subject(i)),
    "edumate": lambda i: AssessmentRequest(topic=subject(i), collection=_EDUMATE_COLLECTION),
}


@attrs.define
class MixedRun(Run):
    """One vendor's share of the mixed fleet; `expired`: results lost to the vendor."""

    expired: int = 0
    failed: int = 0


def mixed_missing() -> list[str]:
    """The vendors of the mixed fleet whose plugin or simulator is not installed."""
    providers = coursegen.default_registry().providers
    return [name for name in MIXED if name not in providers or providers[name].sandbox is None]


def _job_of(method: str, path: str, query: str) -> str | None:
    """The job a status GET asks about: `?job_id=` (EduMate) or the path's last part."""
    if method != "GET":
        return None
    ids = parse_qs(query).get("job_id")
    return ids[0] if ids else path.rstrip("/").rsplit("/", 1)[-1]


def _detections(sandbox: Sandbox, ends: Mapping[str, float]) -> dict[str, float]:
    """Each job's first poll answered 200 at or after its end, in vendor seconds."""
    seen: dict[str, float] = {}
    for request in sandbox.requests:
        if request.status != 200:  # noqa: PLR2004 - the status is the clearest name
            continue
        job_id = _job_of(request.method, request.path, request.query)
        end = ends.get(job_id) if job_id is not None else None
        if end is not None and job_id not in seen and request.vendor_time >= end:
            seen[job_id] = request.vendor_time
    return seen


async def _one_vendor(vendor: str, sandbox: Sandbox, run: MixedRun, seed: int) -> None:
    async with coursegen.connect(vendor, sandbox=sandbox, seed=seed) as client:
        await _fleet(client, sandbox, run)


async def _fleet(client: coursegen.Client, sandbox: Sandbox, run: MixedRun) -> None:
    make = MIXED[run.contender]
    start = sandbox.vendor_now()
    handles: list[coursegen.Job | None] = [None] * run.jobs

    async def submit(index: int) -> None:
        handles[index] = await client.submit(make(index))

    async with anyio.create_task_group() as tg:  # the whole fleet submitted at once
        for index in range(run.jobs):
            tg.start_soon(submit, index)
    jobs = [job for job in handles if job is not None]
    async for job in client.as_completed(jobs):
        status = job.snapshot.status
        if status is JobStatus.SUCCEEDED:
            run.collected += 1
        elif status is JobStatus.EXPIRED:
            run.expired += 1
        else:
            run.failed += 1
    ends = {job.id: float(sandbox.jobs[job.id].ends_at) for job in jobs}  # type: ignore[attr-defined]
    seen = _detections(sandbox, ends)
    run.delays = [seen[job_id] - end for job_id, end in ends.items() if job_id in seen]
    run.time_to_last = max(seen.values(), default=math.nan) - start


async def mixed(fleet: Mapping[str, int], *, seed: int, edumate_workers: int) -> list[MixedRun]:
    """Every vendor's fleet at once, one client each, `as_completed` per client."""
    registry = coursegen.default_registry()
    runs = [MixedRun("mixed", vendor, jobs) for vendor, jobs in fleet.items()]
    sandboxes: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        for vendor in fleet:
            info = registry.get(vendor)
            if info.sandbox is None:
                raise RuntimeError(f"{vendor} ships no simulator")
            # Each simulator's own default seed, as in the other scenarios: same fleets.
            options = {"workers": edumate_workers} if vendor == "edumate" else {}
            sandboxes[vendor] = await stack.enter_async_context(info.sandbox(**options))
        async with anyio.create_task_group() as tg:
            for run in runs:
                tg.start_soon(_one_vendor, run.contender, sandboxes[run.contender], run, seed)
    for run in runs:
        stats = simulator_stats(sandboxes[run.contender])
        by_status: dict[str, int] = stats["by_status"]
        run.requests = run.server_requests = stats["requests"]
        run.polls = sum(n for key, n in by_status.items() if key.startswith("GET "))
        run.rate_limited = run.server_rate_limited = sum(
            n for key, n in by_status.items() if key.endswith(" 429")
        )
    return runs
