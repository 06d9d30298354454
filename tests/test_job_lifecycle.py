"""Jobs with stages, and jobs at vendors that discard them: core behaviour on toy vendors."""

from __future__ import annotations

from contextlib import aclosing
from typing import Any, ClassVar

import anyio
import attrs
import httpx
import pytest

import coursegen
from coursegen import CourseRequest, JobStatus, PollPolicy, Registry, Snapshot
from coursegen._job import JobToken
from toy import Toy, ToyVendor

pytestmark = pytest.mark.anyio

REQUEST = CourseRequest(subject="Tides")


class ForgetfulToy(Toy):
    """A vendor that keeps jobs 500 s (like an RQ result TTL)."""

    name = "forgetful"
    policy: ClassVar[PollPolicy] = attrs.evolve(Toy.policy, result_ttl=500.0)


class StagedToy(Toy):
    """One job, two vendor jobs: the first's success starts the second."""

    name = "staged"

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        first = super().read_submitted(response)
        return attrs.evolve(first, job_id=f"first.{first.job_id}")

    def poll(self, job_id: str) -> httpx.Request:
        return super().poll(job_id.removeprefix("first."))

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        snapshot = super().read_snapshot(job_id, response)
        if job_id.startswith("first."):
            # The first stage's end is not the job's end.
            return attrs.evolve(snapshot, job_id=job_id, status=JobStatus.RUNNING, result=None)
        return snapshot

    def next_stage(self, snapshot: Snapshot) -> httpx.Request | None:
        if snapshot.job_id.startswith("first.") and snapshot.vendor_status == "done":
            return self.submit(CourseRequest(subject="stage two"))
        return None

    def read_stage(self, previous: Snapshot, response: httpx.Response) -> Snapshot:
        return super().read_submitted(response)


def registry(*adapters: type[Any]) -> Registry:
    class Plugin:
        @coursegen.hookimpl
        def coursegen_register_providers(self, register: coursegen.Register) -> None:
            for adapter in adapters:
                register(adapter)

    reg = Registry(entry_points=list, environ={})
    reg.register_plugin(Plugin())
    return reg


def connect(name: str, vendor: ToyVendor, **settings: Any) -> coursegen.Client:
    return coursegen.connect(
        f"{name}://KEY@toy.example",
        registry=registry(ForgetfulToy, StagedToy),
        transport=vendor.transport(),
        **settings,
    )


async def test_a_staged_job_runs_both_vendor_jobs_as_one() -> None:
    """The first vendor job's end creates the second; the user sees one job end once."""
    vendor = ToyVendor()
    async with connect("staged", vendor) as client:
        job = await client.submit(REQUEST)
        assert job.id == "first.j1"
        seen = [snapshot async for snapshot in job.watch()]
        course = await job.result()
    assert course.id == "j2"
    assert job.id == "j2"
    assert [s.status for s in seen].count(JobStatus.SUCCEEDED) == 1
    posts = [call for call in vendor.router.calls if call.request.method == "POST"]
    assert len(posts) == 2


async def test_a_staged_job_resumes_from_its_current_stage() -> None:
    """After the second stage began, the token names it: another client finishes it."""
    vendor = ToyVendor(("queued", "working", "working", "done"))
    async with connect("staged", vendor) as client:
        job = await client.submit(REQUEST)
        async with aclosing(job.watch()) as snapshots:
            async for snapshot in snapshots:
                if not snapshot.job_id.startswith("first."):
                    break
        token = job.token
    async with connect("staged", vendor) as other:
        again = await other.resume(token)
        course = await again.result()
    assert course.id == "j2"


async def test_a_seen_job_the_vendor_forgot_has_expired() -> None:
    """At a vendor that discards jobs, a 404 for a job we saw is EXPIRED, not NotFound."""
    vendor = ToyVendor(("queued", "working", "working", "done"))
    async with connect("forgetful", vendor, keep_results=False) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(1000)  # nobody waits, past the vendor's 500 s
        vendor.jobs.clear()  # the vendor discarded it
        with pytest.raises(coursegen.JobExpired) as caught:
            await job.result()
    assert caught.value.snapshot is not None
    assert caught.value.snapshot.status is JobStatus.EXPIRED
    assert "was not fetched before the vendor discarded it" in str(caught.value)
    assert "keeps results about 500 s" in str(caught.value)


async def test_results_of_forgetful_vendors_are_fetched_with_nobody_waiting() -> None:
    """By default the engine follows such jobs to their end, so no result is lost."""
    vendor = ToyVendor(("queued", "working", "working", "done"))
    async with connect("forgetful", vendor) as client:
        job = await client.submit(REQUEST)
        await anyio.sleep(1000)  # nobody waits...
        vendor.jobs.clear()  # ...and the vendor has discarded the job by now
        course = await job.result()
    assert course.id == "j1"


async def test_a_never_seen_job_is_not_found_even_at_a_forgetful_vendor() -> None:
    """Resuming an id the vendor does not know is NotFound: we cannot tell it expired."""
    vendor = ToyVendor()
    token = JobToken("forgetful", "j9", "toy.example").encode()
    async with connect("forgetful", vendor) as client:
        with pytest.raises(coursegen.NotFound):
            await client.resume(token)
