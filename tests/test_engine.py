"""The engine and the job handle, against a scripted toy vendor (respx)."""

from __future__ import annotations

import itertools
import json

import anyio
import httpx
import pytest

import coursegen
from coursegen import CourseRequest, JobStatus, RetryPolicy
from toy import ToyVendor, registry

pytestmark = pytest.mark.anyio

REQUEST = CourseRequest(subject="Photosynthesis")


def connect(vendor: ToyVendor, **settings: object) -> coursegen.Client:
    return coursegen.connect(
        "toy://KEY@toy.example",
        registry=registry(),
        transport=vendor.transport(),
        retry=RetryPolicy(attempts=3, initial=1.0, maximum=4.0),
        seed=1,
        **settings,
    )


async def test_watch_yields_each_vendor_state_in_order() -> None:
    """watch() yields the submitted state, each change, and ends on the terminal one."""
    vendor = ToyVendor()
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        seen = [(s.status, s.vendor_status, s.progress) async for s in job.watch()]
    assert seen == [
        (JobStatus.PENDING, "queued", None),
        (JobStatus.RUNNING, "working", 0.5),
        (JobStatus.SUCCEEDED, "done", 1.0),
    ]


async def test_polls_never_come_sooner_than_the_floor_even_when_the_hint_says_so() -> None:
    """A 1 s pollAfter hint under a 5 s vendor floor still waits 5 s between polls."""
    vendor = ToyVendor(("queued", "working", "working", "working", "done"), poll_after=1.0)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        await job.wait()
    gaps = vendor.gaps("j1")
    assert len(gaps) == 3
    assert all(gap >= 5.0 for gap in gaps), gaps


async def test_polls_wait_for_a_hint_longer_than_the_floor() -> None:
    """A 12 s pollAfter hint is honoured: no poll comes sooner, and not much later."""
    vendor = ToyVendor(("queued", "working", "working", "done"), poll_after=12.0)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        await job.wait()
    gaps = vendor.gaps("j1")
    assert all(gap >= 12.0 for gap in gaps), gaps
    assert all(gap <= 12.0 * 1.1 for gap in gaps), gaps


async def test_wait_deadline_raises_job_timeout_and_the_job_goes_on() -> None:
    """A deadline ends the wait with JobTimeout (token attached); a later wait finishes it."""
    vendor = ToyVendor(("queued",) + ("working",) * 5 + ("done",))
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.JobTimeout) as caught:
            await job.wait(timeout=12.0)
        assert caught.value.token == job.token
        assert caught.value.snapshot is not None
        assert not caught.value.snapshot.status.is_terminal
        course = await job.result()
    assert course.id == "j1"


async def test_as_completed_yields_in_completion_order() -> None:
    """Jobs that need fewer polls come out of as_completed first."""
    vendor = ToyVendor()
    lengths = {"j1": 6, "j2": 2, "j3": 4}
    vendor.lengths = lengths
    async with connect(vendor) as client:
        jobs = [await client.submit(REQUEST) for _ in lengths]
        order = [job.id async for job in client.as_completed(jobs)]
    assert order == ["j2", "j3", "j1"]


async def test_not_found_on_poll_is_raised_without_retry() -> None:
    """A 404 while polling is final: NotFound reaches the waiter after one request."""
    vendor = ToyVendor()
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        vendor.jobs.clear()
        with pytest.raises(coursegen.NotFound) as caught:
            await job.wait()
    assert json.loads(caught.value.raw or "") == {"error": "no"}
    assert vendor.router.calls.call_count == 2


async def test_rate_limited_poll_waits_for_retry_after() -> None:
    """A 429 with Retry-After: 20 is retried, and not before 20 s of vendor time."""
    vendor = ToyVendor()
    vendor.throttle_next = 1
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        await job.result()
    times = vendor.all_poll_times
    assert times[1] - times[0] >= 20.0


async def test_create_whose_answer_is_lost_is_not_retried() -> None:
    """A create cut off after sending raises SubmitOutcomeUnknown and is sent only once."""
    vendor = ToyVendor()
    vendor.router.post("/jobs").mock(side_effect=httpx.ReadError("connection reset"))
    async with connect(vendor) as client:
        with pytest.raises(coursegen.SubmitOutcomeUnknown):
            await client.submit(REQUEST)
    assert vendor.router.calls.call_count == 1


async def test_create_that_never_connected_is_retried() -> None:
    """A create whose connection failed before sending is safe to retry, and is."""
    vendor = ToyVendor()
    route = vendor.router.post("/jobs")
    route.side_effect = [httpx.ConnectError("refused"), vendor._create]
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
    assert job.id == "j1"
    assert route.call_count == 2


async def test_create_failing_with_5xx_is_not_retried() -> None:
    """A 5xx answer to a create may hide a job: it is reported, not retried."""
    vendor = ToyVendor()
    route = vendor.router.post("/jobs").mock(return_value=httpx.Response(500, text="oops"))
    async with connect(vendor) as client:
        with pytest.raises(coursegen.ProviderUnavailable) as caught:
            await client.submit(REQUEST)
    assert caught.value.raw == "oops"
    assert route.call_count == 1


async def test_transport_errors_on_polls_are_retried() -> None:
    """Two connection resets in a row on a poll are retried and the job completes."""
    vendor = ToyVendor()
    vendor.resets_next = 2
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        course = await job.result()
    assert course.id == "j1"


async def test_transport_errors_past_the_attempts_are_typed() -> None:
    """When every attempt fails on the network, a refresh raises TransportError, and a
    wait sits the outage out until its own timeout: JobTimeout caused by TransportError."""
    vendor = ToyVendor()
    vendor.resets_next = 10_000
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.TransportError):
            await job.refresh()
        with pytest.raises(coursegen.JobTimeout) as caught:
            await job.wait(timeout=300)
    assert isinstance(caught.value.__cause__, coursegen.TransportError)
    assert "TransportError" in str(caught.value)
    assert isinstance(job.last_error, coursegen.TransportError)
    assert job.following


async def test_a_wait_outlasts_an_outage_longer_than_the_retries() -> None:
    """Network faults for longer than a poll's retries do not end a wait: it returns
    the result once the vendor answers again."""
    vendor = ToyVendor()
    vendor.resets_next = 40  # eight polls' worth of attempts
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        course = await job.result(timeout=None)
    assert course.id == "j1"
    assert job.last_error is None


async def test_resume_token_in_a_new_client_polls_the_same_job() -> None:
    """A token resumes the job in another client (another process, in real life)."""
    vendor = ToyVendor(("queued", "working", "working", "done"))
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        token = job.token
    assert "KEY" not in token
    async with connect(vendor) as other:
        again = await other.resume(token)
        course = await again.result()
    assert again.id == job.id == course.id


async def test_resume_refuses_a_token_of_another_host() -> None:
    """A token names its host: it cannot send this client's key to another vendor host."""
    vendor = ToyVendor()
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        token = job.token
    async with coursegen.connect(
        "toy://KEY@other.example", registry=registry(), transport=vendor.transport()
    ) as other:
        with pytest.raises(coursegen.ConfigurationError, match=r"other\.example"):
            await other.resume(token)


async def test_refresh_polls_now_but_not_before_the_floor() -> None:
    """refresh() asks the vendor at once when the floor allows, regardless of cadence."""
    vendor = ToyVendor(("queued", "working", "working", "done"), poll_after=60.0)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        start = anyio.current_time()
        snapshot = await job.refresh()
        elapsed = anyio.current_time() - start
    assert snapshot.vendor_status == "working"
    assert elapsed >= 5.0
    assert elapsed <= 5.5


async def test_credentials_never_go_to_another_host() -> None:
    """A request an adapter aims at another host is refused before anything is sent."""
    vendor = ToyVendor()
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        client._adapter.settings = client._adapter.settings.__class__(  # type: ignore[attr-defined]
            provider="toy", base_url="https://evil.example", api_key="KEY"
        )
        with pytest.raises(coursegen.ConfigurationError, match=r"evil\.example"):
            await job.wait()
    assert all(call.request.url.host == "toy.example" for call in vendor.router.calls)


async def test_no_task_outlives_the_client() -> None:
    """Leaving `async with` cancels the scheduler and polls; waiting afterwards is an error."""
    vendor = ToyVendor(("queued",) + ("working",) * 50)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        with anyio.move_on_after(30.0):
            await job.wait(timeout=None)
    calls = vendor.router.calls.call_count
    await anyio.sleep(60.0)
    assert vendor.router.calls.call_count == calls
    with pytest.raises(RuntimeError, match="async with"):
        await client.submit(REQUEST)


def _overdue_vendor(ends_at: float) -> ToyVendor:
    """A vendor whose job answers "working", unchanged, until `ends_at` vendor seconds."""
    vendor = ToyVendor()

    def poll(request: httpx.Request, job_id: str) -> httpx.Response:
        vendor.poll_times.setdefault(job_id, []).append(anyio.current_time())
        done = anyio.current_time() >= ends_at
        body = {"id": job_id, "status": "done" if done else "working", "progress": 0.5}
        return httpx.Response(200, json=body)

    vendor.router.get(path__regex=r"^/jobs/(?P<job_id>[\w.]+)$").mock(side_effect=poll)
    return vendor


async def test_a_wait_without_timeout_follows_a_job_past_its_deadline() -> None:
    """`wait(timeout=None)` on a job the vendor keeps calling "running" past its 600 s
    deadline does not raise the engine's JobTimeout: the job stays followed (polls
    backed off, capped at a minute), `last_error` says it is overdue, and the result
    comes when the vendor has it."""
    vendor = _overdue_vendor(ends_at=1500.0)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        start = anyio.current_time()
        seen: dict[str, object] = {}
        async with anyio.create_task_group() as tg:

            async def look() -> None:
                await anyio.sleep(1000.0)
                seen["following"] = job.following
                seen["last_error"] = job.last_error

            tg.start_soon(look)
            course = await job.result(timeout=None)
    assert course.id == "j1"
    assert seen["following"] is True
    assert isinstance(seen["last_error"], coursegen.JobTimeout)
    assert "still followed" in str(seen["last_error"])
    assert job.last_error is None
    times = vendor.poll_times["j1"]
    assert times[-1] - start >= 1500.0
    late = [b - a for a, b in itertools.pairwise(times) if a - start > 700.0]
    assert late, times
    # Backed off from the 5 s cadence, never more than a minute (plus its jitter).
    assert max(late) > 20.0, late
    assert all(gap <= 60.0 * 1.1 for gap in late), late


async def test_a_wait_with_a_timeout_still_ends_at_the_jobs_deadline() -> None:
    """A user's timeout beyond the job's deadline still ends in JobTimeout when the
    vendor keeps answering "running": only a wait without a timeout follows on."""
    vendor = _overdue_vendor(ends_at=5000.0)
    async with connect(vendor) as client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.JobTimeout):
            await job.wait(timeout=2000.0)
        assert not job.following
