"""LearningStudioAI end to end: the client, the engine and the simulator together."""

from __future__ import annotations

import json

import anyio
import httpx
import pytest
import respx

import coursegen
from coursegen import CourseRequest, JobStatus, RetryPolicy
from coursegen.sandbox import Faults
from coursegen.testing import mocked_client
from coursegen_learningstudio.sandbox import DEMO_KEY, Account, LearningStudioSandbox

pytestmark = pytest.mark.anyio

REQUEST = CourseRequest(subject="Workplace safety basics", outline=("Hazards", "PPE"))


def connect(sandbox: LearningStudioSandbox, **settings: object) -> coursegen.Client:
    settings.setdefault("retry", RetryPolicy(attempts=3, initial=0.5, maximum=2.0))
    return coursegen.connect("learningstudio", sandbox=sandbox, seed=0, **settings)


async def test_two_hundred_jobs_on_one_key_share_the_limits_without_a_429() -> None:
    """200 jobs on one key at 30 POST/min and 120 GET/min: all complete, zero 429s, and
    no job is polled more often than every 5 s."""
    sandbox = LearningStudioSandbox(speed=1.0)
    async with connect(sandbox) as client:
        start = anyio.current_time()
        jobs = [await client.submit(REQUEST) for _ in range(200)]
        submitted = anyio.current_time() - start
        done = [job async for job in client.as_completed(jobs)]
        elapsed = anyio.current_time() - start
    assert len(done) == 200
    assert all(job.snapshot.status is JobStatus.SUCCEEDED for job in done)
    assert sandbox.rate_limited_count == 0
    intervals = [gap for job in jobs for gap in sandbox.poll_intervals(job.id)]
    assert min(intervals) >= 5.0
    # Polls are planned from the durations learnt from the first jobs: a fixed 5 s
    # cadence would take one request per 5 s of a 60-120 s job, about 19 per job.
    assert len(sandbox.requests) / len(jobs) < 6
    # 30 creates per window: the 200th goes out in the 7th window, 6 windows after the
    # first; our pacing costs at most the 2% clock-skew margin more than that.
    assert (199 // 30) * 60 <= submitted <= (199 // 30) * 60 * 1.05
    assert elapsed < submitted + 400


async def test_the_course_is_normalized_from_the_simulator() -> None:
    """A finished job's course carries the vendor's fields under neutral names."""
    sandbox = LearningStudioSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(
            CourseRequest(subject="Forklift safety", format="classic", language="pt-BR")
        )
        course = await job.result()
    assert isinstance(course, coursegen.Course)
    assert course.title == "Forklift Safety"
    assert course.format == "classic"
    assert course.language == "pt-BR"
    assert course.share_url == f"https://learningstudioai.com/go/{course.id}"
    assert course.created_at is not None
    assert job.snapshot.progress == 1.0


async def test_export_to_scorm() -> None:
    """A finished course exports to SCORM 2004 through the client."""
    sandbox = LearningStudioSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        course = await job.result()
        exported = await client.export(course, "scorm2004")
    assert exported.course_id == course.id
    assert exported.format == "scorm2004"
    assert exported.download_url.startswith("https://")


async def test_webhook_is_read_and_confirmed_by_a_poll() -> None:
    """The unsigned course.created webhook is parsed as a hint and confirmed with a GET."""
    received: list[httpx.Request] = []
    arrived = anyio.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        arrived.set()
        return httpx.Response(200)

    sandbox = LearningStudioSandbox(webhook_transport=httpx.MockTransport(receiver))
    async with sandbox, connect(sandbox) as client:
        job = await client.submit(
            CourseRequest(subject="Ladders", callback_url="https://lms.example/hooks/ls")
        )
        await job.wait()
        with anyio.fail_after(30):
            await arrived.wait()
        hook = received[0]
        event = client.read_webhook(dict(hook.headers), hook.content)
        assert event.kind == "course.created"
        assert event.verified is False
        assert event.job_id == job.id
        confirmed = await client.confirm(event)
    assert confirmed.status is JobStatus.SUCCEEDED


@pytest.mark.parametrize(
    ("account", "exception", "code"),
    [
        (Account(paid=False), coursegen.PermissionDenied, "PAID_PLAN_REQUIRED"),
        (Account(monthly_credits=0), coursegen.QuotaExceeded, "USAGE_LIMIT_EXCEEDED_PLAN"),
    ],
)
async def test_plan_errors_on_create(
    account: Account, exception: type[coursegen.ProviderError], code: str
) -> None:
    """An unpaid plan and spent credits end in their documented exceptions, raw attached."""
    sandbox = LearningStudioSandbox(keys={DEMO_KEY: account})
    async with connect(sandbox) as client:
        with pytest.raises(exception) as caught:
            await client.submit(REQUEST)
    assert caught.value.vendor_code == code
    assert json.loads(caught.value.raw or "")["code"] == code
    assert sandbox.jobs == {}


async def test_vendor_validation_error() -> None:
    """A field the vendor refuses (slipped past us through `extra`) is InvalidRequest."""
    sandbox = LearningStudioSandbox()
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.InvalidRequest) as caught:
            await client.submit(CourseRequest(subject="x", extra={"format": "scroll"}))
    assert caught.value.status_code == 400
    assert caught.value.vendor_code == "VALIDATION_ERROR"


async def test_unknown_job_is_not_found() -> None:
    """Resuming a job the vendor does not know ends in NotFound."""
    elsewhere = LearningStudioSandbox()
    async with connect(elsewhere) as client:
        token = (await client.submit(REQUEST)).token  # a job this vendor never made
    sandbox = LearningStudioSandbox(seed=1)
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.NotFound) as caught:
            await client.resume(token)
    assert caught.value.vendor_code == "NOT_FOUND"


async def test_rate_limited_when_another_process_spends_the_key() -> None:
    """A 429 caused by someone else on the key is RateLimited with the vendor's hint.

    (Clients of one process share the key's budget; another process is a sender this
    client knows nothing of: plain HTTP here.)"""
    sandbox = LearningStudioSandbox(rate_limits={"submit": 1})
    async with (
        httpx.AsyncClient(transport=sandbox.transport(), base_url=sandbox.base_url) as other,
        connect(sandbox, retry=RetryPolicy(attempts=1)) as ours,
    ):
        response = await other.post(
            "/api/v1/courses",
            json={"subject": "Scaffolds"},
            headers={"Authorization": f"Bearer {sandbox.demo_key}"},
        )
        assert response.status_code == 202
        with pytest.raises(coursegen.RateLimited) as caught:
            await ours.submit(REQUEST)
    assert caught.value.retry_after is not None
    assert caught.value.retry_after > 0


async def test_server_error_on_create_is_not_retried() -> None:
    """A 500 on a create may hide a job: ProviderUnavailable, sent once, raw attached."""
    sandbox = LearningStudioSandbox(faults=Faults(error_rate=1.0))
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.ProviderUnavailable) as caught:
            await client.submit(REQUEST)
    assert caught.value.vendor_code == "INTERNAL_ERROR"
    assert len(sandbox.requests) == 1


async def test_non_json_create_answer_is_malformed_with_raw_body() -> None:
    """An HTML page where JSON belongs ends in MalformedResponse carrying the page."""
    sandbox = LearningStudioSandbox(faults=Faults(malformed_rate=1.0))
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.MalformedResponse) as caught:
            await client.submit(REQUEST)
    assert caught.value.raw
    assert len(sandbox.requests) == 1


async def test_lost_create_answer_is_reported_and_never_duplicated() -> None:
    """A reset after the vendor created the job: SubmitOutcomeUnknown, exactly one job."""
    sandbox = LearningStudioSandbox(faults=Faults(reset_after_rate=1.0))
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.SubmitOutcomeUnknown):
            await client.submit(REQUEST)
    assert len(sandbox.jobs) == 1


async def test_wrong_shape_body_is_malformed_not_a_key_error() -> None:
    """A poll answer of the wrong shape is MalformedResponse with the body, not KeyError."""
    router = respx.MockRouter(base_url="https://learningstudioai.com")
    router.post("/api/v1/courses").respond(
        202, json={"jobId": "j1", "status": "pending", "pollUrl": "/api/v1/courses/jobs/j1"}
    )
    router.get("/api/v1/courses/jobs/j1").respond(200, json={"jobId": "j1", "progress": "lots"})
    client = mocked_client(
        "learningstudio://ls_test@learningstudioai.com",
        router.async_handler,
        retry=RetryPolicy(attempts=2, initial=0.1),
    )
    async with client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.MalformedResponse) as caught:
            await job.wait()
    assert json.loads(caught.value.raw or "") == {"jobId": "j1", "progress": "lots"}


async def test_absolute_poll_url_to_another_host_is_refused() -> None:
    """A create answer whose pollUrl names another host is refused; the key stays home."""
    router = respx.MockRouter(base_url="https://learningstudioai.com")
    router.post("/api/v1/courses").respond(
        202, json={"jobId": "j1", "status": "pending", "pollUrl": "https://evil.example/jobs/j1"}
    )
    client = mocked_client("learningstudio://ls_test@learningstudioai.com", router.async_handler)
    async with client:
        with pytest.raises(coursegen.MalformedResponse, match="evil"):
            await client.submit(REQUEST)
    assert all(call.request.url.host == "learningstudioai.com" for call in router.calls)


async def test_two_clients_on_one_key_share_its_budget() -> None:
    """Two clients of one process on one key take turns in one budget: with a create
    limit of 2 a minute, 3 creates each draw no 429 (they wait their turn instead)."""
    sandbox = LearningStudioSandbox(rate_limits={"submit": 2})
    async with (
        connect(sandbox, retry=RetryPolicy(attempts=1)) as first,
        connect(sandbox, retry=RetryPolicy(attempts=1)) as second,
        anyio.create_task_group() as tg,
    ):
        for client in (first, second, first, second, first, second):
            tg.start_soon(client.submit, REQUEST)
    creates = [r for r in sandbox.requests if r.method == "POST"]
    assert len(creates) == 6
    assert all(r.status == 202 for r in creates)
