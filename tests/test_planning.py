"""The engine's learnt plan on whole fleets, on virtual time (asyncio and trio).

Once a few jobs of a provider have ended, the engine polls each new one at the ages its
`DurationModel` chose: few polls a job, most jobs seen within the delay target. A job
that waits in the vendor's queue is planned from its last "queued" answer, so a long
queue does not leave it to the thin polls of a job older than any seen.
"""

from __future__ import annotations

import statistics

import anyio
import pytest

import coursegen
from coursegen import AssessmentRequest, CourseRequest
from coursegen_edumate.sandbox import EduMateSandbox
from coursegen_learningstudio.sandbox import LearningStudioSandbox

pytestmark = pytest.mark.anyio


def _delays(simulator: LearningStudioSandbox | EduMateSandbox) -> dict[str, float]:
    """Each job's vendor seconds from its end to the first poll at or after it."""
    delays = {}
    for job_id, job in simulator.jobs.items():
        seen = [t for t in simulator.polls.get(job_id, []) if t >= job.ends_at]
        if seen:
            delays[job_id] = min(seen) - job.ends_at
    return delays


async def test_a_fleet_of_60_to_120_s_jobs_is_polled_about_twice_a_job() -> None:
    """120 LearningStudioAI jobs of 60-120 s on one key: once the first have taught the
    model, a job costs under 3.5 polls (a 5 s cadence costs a dozen), half of them are
    seen within 10 s of their end and nearly all within 25 s."""
    simulator = LearningStudioSandbox(seed=11)
    async with coursegen.connect("learningstudio", sandbox=simulator, seed=3) as client:
        jobs = [await client.submit(CourseRequest(subject=f"Topic {i}")) for i in range(120)]
        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(job.wait)
    later = [job.id for job in jobs[60:]]
    polls = [len(simulator.polls[job_id]) for job_id in later]
    delays = _delays(simulator)
    late = [delays[job_id] for job_id in later]
    assert statistics.mean(polls) < 3.5, statistics.mean(polls)
    assert statistics.median(late) <= 10.0
    assert sorted(late)[int(0.95 * len(late))] <= 25.0
    assert simulator.rate_limited_count == 0


async def test_a_queued_job_is_planned_from_its_last_queued_answer() -> None:
    """EduMate on one worker queues 24 assessments for about half an hour. Once eight
    have ended (before, the 2.5 s cadence rules), each later one is seen soon after it
    ends (the plan counts from when it left the queue, not from its create), at a small
    share of the polls a 2.5 s cadence would cost over its wait."""
    simulator = EduMateSandbox(seed=5, workers=1)
    request = AssessmentRequest(topic="Ladders", collection=simulator.demo_collection)
    async with coursegen.connect("edumate", sandbox=simulator, seed=3) as client:
        jobs = [await client.submit(request) for _ in range(24)]
        results = [await job.result() for job in jobs]
    assert len(results) == 24
    delays = _delays(simulator)
    ordered = sorted(simulator.jobs.values(), key=lambda job: job.ends_at)
    ready = ordered[7].ends_at
    later = [job for job in ordered if job.started_at > ready + 60.0]
    assert len(later) >= 10
    # Asked every 30 s (a tenth of an age past what the model knew), half would wait 15 s.
    assert statistics.median(delays[job.id] for job in later) <= 12.0
    for job in later:
        asked = [t for t in simulator.polls[job.id] if t > ready]
        assert len(asked) < (job.ends_at - ready) / 2.5 / 3, (len(asked), job.ends_at - ready)
