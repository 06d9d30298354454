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
from coursegen import AssessmentRequest, JobStatus

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
async def test_following_ends_at_the_job_deadline_if_the_vendor_never_answers() -> None:
    """A job whose polls fail until its deadline stops being followed, and says so."""
    async with coursegen.connect("edumate", sandbox=True, seed=7) as client:
        assert client.sandbox is not None
        simulator = client.sandbox
        job = await client.submit(
            AssessmentRequest(topic="Ladders", collection=simulator.demo_collection)
        )
        simulator.faults.error_rate = 1.0
        await anyio.sleep(client.policy.job_timeout + 120.0)
        polls = len(simulator.requests)
        await anyio.sleep(600.0)
        assert len(simulator.requests) == polls  # nothing is asked any more
    assert not job.following
    assert isinstance(job.last_error, coursegen.ProviderUnavailable)
