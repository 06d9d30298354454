"""A vendor outage longer than a poll's retries never makes the engine drop a job.

EduMate keeps a finished job's result only `RESULT_TTL` (500 s). A 50 s outage (every
request answered 500) in the middle of a fleet exhausts each poll's five attempts many
times over; the engine keeps asking, with backoff, and reads every result once the
vendor is back, although nobody waits on the jobs until long after their results expired
at the vendor. On virtual time, asyncio and trio.
"""

from __future__ import annotations

import anyio
import pytest

import coursegen
from coursegen import AssessmentRequest, CourseRequest, JobStatus

FLEET = 10
OUTAGE = 50.0


@pytest.mark.anyio
async def test_every_result_is_read_after_a_50_s_outage_mid_fleet() -> None:
    """Jobs are followed through a 50 s outage; every result is read, none expires."""
    async with coursegen.connect("edumate", sandbox=True, seed=7) as client:
        assert client.sandbox is not None
        simulator = client.sandbox
        request = AssessmentRequest(topic="Ladders", collection=simulator.demo_collection)
        jobs = [await client.submit(request) for _ in range(FLEET)]
        await anyio.sleep(20.0)  # some jobs picked up, none done: the middle of the fleet
        before = sum(job.snapshot.status.is_terminal for job in jobs)
        simulator.faults.error_rate = 1.0
        await anyio.sleep(OUTAGE)
        unfinished = [job for job in jobs if not job.snapshot.status.is_terminal]
        assert unfinished, "the outage must catch jobs still running"
        assert all(job.following for job in unfinished)
        assert all(job.last_error is not None for job in unfinished)
        simulator.faults.error_rate = 0.0
        # Nobody waits until every result would have expired at the vendor twice over.
        await anyio.sleep(2 * 500.0 + 120.0)
        results = [await job.result() for job in jobs]
    report = f"outage test: {before} of {FLEET} done before, {len(unfinished)} caught by it"
    print("\n" + report)  # noqa: T201 - the test's report (shown with -s)
    assert len(results) == FLEET
    assert all(job.snapshot.status is JobStatus.SUCCEEDED for job in jobs)
    assert all(job.last_error is None and not job.following for job in jobs)


@pytest.mark.anyio
async def test_following_goes_on_past_the_job_deadline_while_the_vendor_is_down() -> None:
    """A job whose polls fail past its deadline is still followed, a poll a minute at
    most, and its result is read once the vendor answers again."""
    async with coursegen.connect("learningstudio", sandbox=True, seed=7) as client:
        assert client.sandbox is not None
        simulator = client.sandbox
        job = await client.submit(CourseRequest(subject="Ladders"))
        simulator.faults.error_rate = 1.0
        await anyio.sleep(client.policy.job_timeout + 120.0)
        assert job.following
        assert isinstance(job.last_error, coursegen.ProviderUnavailable)
        polls = len(simulator.requests)
        await anyio.sleep(600.0)
        asked = len(simulator.requests) - polls
        simulator.faults.error_rate = 0.0
        course = await job.result(timeout=120.0)
    # Each ask is one poll's five attempts; at most one ask a minute (plus jitter).
    assert 0 < asked <= 5 * 10
    assert course.id
    assert not job.following


# The outages each provider's jobs sit out: past LearningStudioAI's and TutorFlow's job
# deadlines; for EduMate, as long as a result finished at its start is still kept.
OUTAGES = {"learningstudio": 1200.0, "tutorflow": 1200.0, "edumate": 360.0}


def _request(provider: str, client: coursegen.Client) -> coursegen.Request:
    if provider == "edumate":
        assert client.sandbox is not None
        return AssessmentRequest(topic="Ladders", collection=client.sandbox.demo_collection)
    return CourseRequest(subject="Ladders")


@pytest.mark.anyio
@pytest.mark.parametrize("provider", sorted(OUTAGES))
async def test_waiters_sit_out_an_outage_of_minutes_and_get_every_result(provider: str) -> None:
    """Ten jobs awaited (no timeout) through an outage of many minutes, longer than every
    poll's retries, all from their creation: 10 of 10 results arrive once it ends."""
    async with coursegen.connect(provider, sandbox=True, seed=7) as client:
        assert client.sandbox is not None
        simulator = client.sandbox
        jobs = [await client.submit(_request(provider, client)) for _ in range(FLEET)]
        simulator.faults.error_rate = 1.0
        results: dict[str, object] = {}

        async def wait(job: coursegen.CourseJob) -> None:
            results[job.id] = await job.result(timeout=None)

        async with anyio.create_task_group() as tg:
            for job in jobs:
                tg.start_soon(wait, job)
            await anyio.sleep(OUTAGES[provider])
            assert not results, "nothing can arrive while the vendor is down"
            simulator.faults.error_rate = 0.0
    assert len(results) == FLEET
    assert all(job.snapshot.status is JobStatus.SUCCEEDED for job in jobs)
