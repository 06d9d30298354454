"""TutorFlow end to end: the client, the engine and the simulator together."""

from __future__ import annotations

import itertools
import json
from collections import Counter
from decimal import Decimal
from pathlib import Path
from typing import TYPE_CHECKING

import anyio
import httpx
import pytest
import respx

import coursegen
from coursegen import CourseRequest, JobStatus, Money, RetryPolicy
from coursegen.sandbox import JobScript
from coursegen.testing import mocked_client
from coursegen_tutorflow.sandbox import (
    DEMO_KEY,
    DEMO_WEBHOOK_SECRET,
    DEMO_WORKSPACE,
    ApiKey,
    TutorFlowSandbox,
    Workspace,
)

if TYPE_CHECKING:
    from collections.abc import Callable

pytestmark = pytest.mark.anyio

FIXTURES = Path(__file__).parent / "fixtures"
REQUEST = CourseRequest(subject="Python for beginners", level="beginner", lesson_count=6)
HOOK = "https://lms.example/hooks/tutorflow"
WS = "ws_test"
TEST_KEY = "tf_platform_test_key"


def connect(sandbox: TutorFlowSandbox, **settings: object) -> coursegen.Client:
    """A client on a shared simulator (the test enters it when webhooks must be sent)."""
    settings.setdefault("retry", RetryPolicy(attempts=3, initial=0.5, maximum=2.0))
    return coursegen.connect("tutorflow", sandbox=sandbox, seed=0, **settings)


class Tap(httpx.AsyncBaseTransport):
    """Passes requests to `inner`, keeps each one, and lets a test meddle with the answer."""

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        after: Callable[[int, httpx.Request, httpx.Response], None] | None = None,
    ) -> None:
        self.inner = inner
        self.after = after
        self.sent: list[httpx.Request] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.sent.append(request)
        response = await self.inner.handle_async_request(request)
        if self.after is not None:
            self.after(len(self.sent), request, response)
        return response


def tapped(sandbox: TutorFlowSandbox, tap: Tap, **settings: object) -> coursegen.Client:
    """A client on the simulator through `tap` (connected like a real vendor, by key)."""
    return coursegen.connect(
        "tutorflow",
        api_key=DEMO_KEY,
        transport=tap,
        seed=0,
        retry=RetryPolicy(attempts=3, initial=0.5, maximum=2.0),
        environ={},
        **settings,
    )


# ----------------------------------------------------------------------------- results


async def test_the_course_is_normalized_with_its_cost() -> None:
    """A finished request gives a Course with chapters, typed lessons, URLs and Money cost."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        first = job.snapshot
        course = await job.result()
    assert isinstance(course, coursegen.Course)
    assert course.title == "Python for Beginners"
    assert course.language == "en"
    assert len(course.lessons) == 6
    assert sum(chapter.lesson_count or 0 for chapter in course.chapters) == 6
    assert all(lesson.type for lesson in course.lessons)
    token = course.extra["shareToken"]
    assert course.public_url == course.share_url
    assert course.public_url == f"https://tutorflow.io/en/platform/courses/{token}/lessons/1"
    assert course.preview_url == f"https://tutorflow.io/en/platform/courses/edit/{course.id}"
    assert first.status is JobStatus.PENDING
    assert first.poll_after == 3.0
    for snapshot in (first, job.snapshot):
        assert snapshot.cost == Money(Decimal("0.30"), "USD")
        assert isinstance(snapshot.cost.amount, Decimal)
    assert job.snapshot.progress is None
    assert sandbox.courses[course.id].request_id == job.id


async def test_extra_reaches_the_vendor_unchanged_and_may_ask_for_sync() -> None:
    """`extra` (mode sync, tier, an unknown field) lands in the body; sync answers done."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox, tier="standard", classroom_id="cls_7") as client:
        job = await client.submit(
            CourseRequest(subject="Knots", extra={"mode": "sync", "tier": "basic", "x": 1})
        )
        assert job.snapshot.status is JobStatus.SUCCEEDED
        course = await job.result()
    (record,) = sandbox.jobs.values()
    assert dict(record.request) == {
        "prompt": "Knots",
        "tier": "basic",
        "classroomId": "cls_7",
        "idempotencyKey": job.snapshot.raw["idempotencyKey"],
        "mode": "sync",
        "x": 1,
    }
    assert isinstance(course, coursegen.Course)


async def test_outline_is_refused_or_dropped_with_a_warning() -> None:
    """The vendor takes no outline: UnsupportedFeature, or with strict=False a warning."""
    sandbox = TutorFlowSandbox()
    asked = CourseRequest(subject="Knots", outline=("Bends",), callback_url="https://x.example")
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.UnsupportedFeature, match="outline, callback_url"):
            await client.submit(asked)
    assert sandbox.requests == []
    async with connect(sandbox, strict=False) as client:
        with pytest.warns(coursegen.UnsupportedFeatureWarning, match="outline"):
            job = await client.submit(asked)
    assert "outline" not in sandbox.jobs[job.id].request


# ----------------------------------------------------------------------------- idempotency


async def test_a_lost_create_answer_is_retried_into_the_one_course() -> None:
    """The vendor made the course but the answer was lost: one retry, ONE course, ours."""
    sandbox = TutorFlowSandbox()

    def lose_first_answer(count: int, request: httpx.Request, _: httpx.Response) -> None:
        if count == 1:
            raise httpx.ReadError("connection reset after the vendor answered", request=request)

    tap = Tap(sandbox.transport(), lose_first_answer)
    async with tapped(sandbox, tap) as client:
        job = await client.submit(REQUEST)
        replayed = job.snapshot.raw["idempotentReplay"]
        course = await job.result()
    assert len(sandbox.jobs) == 1
    assert list(sandbox.jobs) == [job.id]
    assert len(sandbox.courses) == 1
    assert course.id in sandbox.courses
    assert replayed is True
    creates = [request for request in tap.sent if request.method == "POST"]
    assert len(creates) == 2
    keys = {request.headers["Idempotency-Key"] for request in creates}
    assert len(keys) == 1
    assert {json.loads(request.content)["idempotencyKey"] for request in creates} == keys
    assert sandbox.charged == {DEMO_WORKSPACE: Decimal("0.30")}


async def test_a_500_on_create_is_retried_because_creates_are_idempotent() -> None:
    """platform_internal_error on a create is retried (the key makes it safe): one job."""
    sandbox = TutorFlowSandbox()
    sandbox.faults.error_rate = 1.0

    def heal(count: int, _: httpx.Request, __: httpx.Response) -> None:
        sandbox.faults.error_rate = 0.0

    async with tapped(sandbox, Tap(sandbox.transport(), heal)) as client:
        job = await client.submit(REQUEST)
    assert [r.status for r in sandbox.requests] == [500, 202]
    assert list(sandbox.jobs) == [job.id]


async def test_the_callers_own_idempotency_key_is_used() -> None:
    """A key the caller sets is the one sent; submitting it again is the same job."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox) as client:
        first = await client.submit(CourseRequest(subject="Knots", idempotency_key="order-1"))
    async with connect(sandbox) as client:
        again = await client.submit(CourseRequest(subject="Knots", idempotency_key="order-1"))
        assert again.snapshot.raw["idempotentReplay"] is True
    assert again.id == first.id
    assert sandbox.jobs[first.id].idempotency_key == "order-1"
    assert len(sandbox.jobs) == 1


# ----------------------------------------------------------------------------- pacing


async def test_polls_wait_for_each_poll_after_hint_on_virtual_time() -> None:
    """Each poll waits the previous answer's pollAfterMs (2 s, then 7 s)."""
    # No sooner than the hint, and no later than the engine's 10% jitter on top of it.
    sandbox = TutorFlowSandbox(
        poll_after_ms={"PENDING": 2000, "PROCESSING": 7000}, pending_duration=(9, 9)
    )
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        await job.result()
    record = sandbox.jobs[job.id]
    polls = sandbox.polls[job.id]
    times = [record.created_at] + [poll.vendor_time for poll in polls]
    hints = [2000] + [poll.poll_after_ms for poll in polls[:-1]]
    assert polls[-1].status == "COMPLETED"
    assert {2000, 7000} <= set(hints)
    for (earlier, later), hint in zip(itertools.pairwise(times), hints, strict=True):
        assert hint is not None
        assert hint / 1000 <= later - earlier <= hint / 1000 * 1.1 + 1e-9


async def test_a_dozen_jobs_share_the_workspace_pool_without_a_429() -> None:
    """12 jobs share the one 60/min workspace pool: all complete, no 429, no minute over 60."""
    # Polled every 3 s they would want 4 requests a second; the pool paces creates and
    # polls together.
    sandbox = TutorFlowSandbox()
    async with connect(sandbox, workspace=DEMO_WORKSPACE) as client:
        jobs = [await client.submit(REQUEST) for _ in range(12)]
        done = [job async for job in client.as_completed(jobs)]
    assert all(job.snapshot.status is JobStatus.SUCCEEDED for job in done)
    assert sandbox.rate_limited_count == 0
    per_minute = Counter(int(request.vendor_time // 60) for request in sandbox.requests)
    assert max(per_minute.values()) <= 60
    assert len(per_minute) > 1  # the pool really held requests back


async def spend_the_minute(sandbox: TutorFlowSandbox) -> None:
    """Another process of the workspace creates a course (in plain HTTP)."""
    headers = {"Authorization": f"Bearer {DEMO_KEY}"}
    async with httpx.AsyncClient(transport=sandbox.transport(), headers=headers) as other:
        response = await other.post(
            f"{sandbox.base_url}/v1/platform/courses", json={"prompt": "x", "mode": "async"}
        )
    assert response.status_code == 202


async def test_a_429_is_waited_out_until_the_absolute_reset() -> None:
    """Another process spent the workspace's minute: our create waits for the reset, then goes."""
    sandbox = TutorFlowSandbox(workspaces={DEMO_WORKSPACE: Workspace(rate_limit=1)})
    async with connect(sandbox) as ours:
        await spend_the_minute(sandbox)
        job = await ours.submit(REQUEST)
    creates = [r for r in sandbox.requests if r.method == "POST"]
    assert [r.status for r in creates] == [202, 429, 202]
    assert creates[-1].vendor_time >= 60
    assert sandbox.rate_limited_count == 1
    assert job.id in sandbox.jobs


async def test_rate_limited_carries_the_reset_as_retry_after() -> None:
    """With no retries left, RateLimited says how long until the reset (from Date + Reset)."""
    sandbox = TutorFlowSandbox(workspaces={DEMO_WORKSPACE: Workspace(rate_limit=1)})
    async with connect(sandbox, retry=RetryPolicy(attempts=1)) as ours:
        await spend_the_minute(sandbox)
        with pytest.raises(coursegen.RateLimited) as caught:
            await ours.submit(REQUEST)
    assert caught.value.vendor_code == "platform_rate_limit_exceeded"
    assert caught.value.retry_after is not None
    assert 0 < caught.value.retry_after <= 60


def test_settings_from_the_environment_reach_the_adapter() -> None:
    """TUTORFLOW_API_KEY, TUTORFLOW_WEBHOOK_SECRET and COURSEGEN_TUTORFLOW_* settings."""
    client = coursegen.connect(
        "tutorflow",
        environ={
            "TUTORFLOW_API_KEY": "tf_platform_env",
            "TUTORFLOW_WEBHOOK_SECRET": "whsec_env",
            "COURSEGEN_TUTORFLOW_RATE_LIMIT": "1000",
            "COURSEGEN_TUTORFLOW_WORKSPACE": "ws_prod",
        },
    )
    assert client.settings.api_key == coursegen.Secret("tf_platform_env")
    assert client.settings.webhook_secret == coursegen.Secret("whsec_env")
    assert str(client.settings.base_url) == "https://api.tutorflow.io"
    limits = client.policy.rate_limits
    assert limits[coursegen.Operation.SUBMIT] == coursegen.RateLimit(1000, 60.0, pool="workspace")
    assert limits[coursegen.Operation.POLL] == limits[coursegen.Operation.SUBMIT]
    assert "tf_platform_env" not in repr(client)


@pytest.mark.parametrize(
    "url", ["tutorflow://KEY@api.tutorflow.io", "tutorflow://KEY@api.tutorflow.io/v1/platform"]
)
async def test_either_base_url_reaches_the_same_paths(url: str) -> None:
    """The base with or without `/v1/platform`: creates and polls go to /v1/platform/courses."""
    pending = json.loads((FIXTURES / "course_pending.json").read_text())
    completed = json.loads((FIXTURES / "course_completed.json").read_text())
    router = respx.MockRouter(base_url="https://api.tutorflow.io", assert_all_called=True)
    router.post("/v1/platform/courses").respond(202, json=pending)
    router.get(f"/v1/platform/courses/{pending['id']}").respond(200, json=completed)
    client = mocked_client(url, router.async_handler)
    async with client:
        job = await client.submit(REQUEST)
        course = await job.result()
    assert course.id == completed["courseId"]


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("workspace", "key", "exception", "code"),
    [
        (
            Workspace(),
            ApiKey(WS, revoked=True),
            coursegen.AuthenticationError,
            "platform_api_key_revoked",
        ),
        (
            Workspace(),
            ApiKey(WS, expired=True),
            coursegen.AuthenticationError,
            "platform_api_key_expired",
        ),
        (
            Workspace(suspended=True),
            ApiKey(WS),
            coursegen.PermissionDenied,
            "platform_workspace_suspended",
        ),
        (
            Workspace(email_verified=False),
            ApiKey(WS),
            coursegen.PermissionDenied,
            "email_verification_required",
        ),
        (Workspace(), ApiKey(WS, read_only=True), coursegen.PermissionDenied, "platform_forbidden"),
        (
            Workspace(plan="free", credits_usd=Decimal(0)),
            ApiKey(WS),
            coursegen.QuotaExceeded,
            "free_credits_exhausted",
        ),
        (
            Workspace(credits_usd=Decimal("0.1")),
            ApiKey(WS),
            coursegen.QuotaExceeded,
            "platform_insufficient_credits",
        ),
    ],
)
async def test_refusals_are_typed_sent_once_and_make_nothing(
    workspace: Workspace,
    key: ApiKey,
    exception: type[coursegen.ProviderError],
    code: str,
) -> None:
    """Each refusal is its exception with the vendor's code and raw body; never retried."""
    sandbox = TutorFlowSandbox(workspaces={WS: workspace}, keys={TEST_KEY: key})
    async with connect(sandbox, api_key=TEST_KEY) as client:
        with pytest.raises(exception) as caught:
            await client.submit(REQUEST)
    assert caught.value.vendor_code == code
    assert json.loads(caught.value.raw or "")["error"]["code"] == code
    assert TEST_KEY not in str(caught.value)
    assert len(sandbox.requests) == 1
    assert sandbox.jobs == {}


async def test_a_vendor_validation_error_is_invalid_request() -> None:
    """A field the vendor refuses (slipped past us through `extra`) is InvalidRequest."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.InvalidRequest) as caught:
            await client.submit(CourseRequest(subject="x", extra={"tier": "gold"}))
    assert (caught.value.status_code, caught.value.vendor_code) == (
        400,
        "platform_invalid_request",
    )
    assert len(sandbox.requests) == 1


async def test_a_reused_key_with_another_request_is_a_conflict() -> None:
    """The same idempotency key for a different course is Conflict (409)."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox) as client:
        await client.submit(CourseRequest(subject="Knots", idempotency_key="k"))
        with pytest.raises(coursegen.Conflict) as caught:
            await client.submit(CourseRequest(subject="Hitches", idempotency_key="k"))
    assert caught.value.vendor_code == "platform_conflict"


async def test_an_unknown_request_is_not_found() -> None:
    """Resuming a request the vendor does not know ends in NotFound."""
    sandbox = TutorFlowSandbox()
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        token = job.token
    del sandbox.jobs[job.id]
    async with connect(sandbox) as client:
        with pytest.raises(coursegen.NotFound) as caught:
            await client.resume(token)
    assert caught.value.vendor_code == "platform_not_found"


async def test_a_failed_request_raises_job_failed() -> None:
    """A FAILED request ends the job FAILED; result() raises JobFailed with the default reason."""
    sandbox = TutorFlowSandbox()
    sandbox.script(JobScript("fail", duration=10))
    async with connect(sandbox) as client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.JobFailed) as caught:
            await job.result()
    snapshot = caught.value.snapshot
    assert snapshot is not None
    assert snapshot.vendor_status == "FAILED"
    assert snapshot.error is not None
    assert "gives no reason" in snapshot.error.message
    assert snapshot.cost == Money(Decimal("0.3"), "USD")


async def test_a_wrong_shape_poll_is_malformed_not_a_key_error() -> None:
    """A poll answer of the wrong shape is MalformedResponse with the body, not KeyError."""
    pending = json.loads((FIXTURES / "course_pending.json").read_text())
    router = respx.MockRouter(base_url="https://api.tutorflow.io")
    router.post("/v1/platform/courses").respond(202, json=pending)
    router.get(f"/v1/platform/courses/{pending['id']}").respond(
        200, json={"id": pending["id"], "status": 5}
    )
    client = mocked_client(
        "tutorflow://tf_platform_test@api.tutorflow.io",
        router.async_handler,
        retry=RetryPolicy(attempts=2, initial=0.1),
    )
    async with client:
        job = await client.submit(REQUEST)
        with pytest.raises(coursegen.MalformedResponse) as caught:
            await job.wait()
    assert json.loads(caught.value.raw or "") == {"id": pending["id"], "status": 5}
    assert "$.status" in caught.value.message


# ----------------------------------------------------------------------------- public pages


async def test_public_pages_are_read_with_no_authorization_header() -> None:
    """public_course (summary, full) and public_lesson send no key; keyed calls do."""
    sandbox = TutorFlowSandbox()
    tap = Tap(sandbox.transport())
    async with tapped(sandbox, tap) as client:
        job = await client.submit(REQUEST)
        course = await job.result()
        token = course.extra["shareToken"]
        summary = await client.public_course(token)
        full = await client.public_course(token, full=True)
        lesson = await client.public_lesson(token, 2)
        with pytest.raises(coursegen.NotFound):
            await client.public_lesson(token, 99)
    public = [request for request in tap.sent if "/public/" in request.url.path]
    keyed = [request for request in tap.sent if "/public/" not in request.url.path]
    assert len(public) == 4
    assert all("authorization" not in request.headers for request in public)
    assert all(request.headers["authorization"] == f"Bearer {DEMO_KEY}" for request in keyed)
    assert (summary.id, summary.title, summary.lessons) == (course.id, course.title, ())
    assert [item.title for item in full.lessons] == [item.title for item in course.lessons]
    assert all(item.content for item in full.lessons)
    assert lesson.sequence == 2
    assert lesson.content == full.lessons[1].content
    assert lesson.type == course.lessons[1].type


# ----------------------------------------------------------------------------- webhooks


@pytest.mark.parametrize("signature_key", ["secret", "sha256"])
async def test_a_signed_webhook_is_verified_read_and_confirmed(signature_key: str) -> None:
    """course.deployed, signed with either key form, verifies and matches the polled job."""
    received: list[httpx.Request] = []
    arrived = anyio.Event()

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        arrived.set()
        return httpx.Response(204)

    workspace = Workspace(
        webhook_url=HOOK, webhook_secret=DEMO_WEBHOOK_SECRET, signature_key=signature_key
    )
    sandbox = TutorFlowSandbox(
        webhook_transport=httpx.MockTransport(receiver),
        workspaces={DEMO_WORKSPACE: workspace},
    )
    async with sandbox, connect(sandbox, webhook_secret=DEMO_WEBHOOK_SECRET) as client:
        job = await client.submit(REQUEST)
        await job.wait()
        with anyio.fail_after(30):
            await arrived.wait()
        hook = received[0]
        event = client.read_webhook(dict(hook.headers), hook.content)
        assert event.kind == "course.deployed"
        assert event.verified is True
        assert event.job_id == job.id
        assert event.snapshot is not None
        assert event.snapshot.result == job.snapshot.result
        confirmed = await client.confirm(event)
        forged = hook.content.replace(b'"COMPLETED"', b'"FAILED"')
        with pytest.raises(coursegen.WebhookVerificationError):
            client.read_webhook(dict(hook.headers), forged)
    assert confirmed.status is JobStatus.SUCCEEDED


async def test_a_client_without_the_secret_trusts_no_webhook() -> None:
    """Without webhook_secret, a genuine signed webhook is still refused."""
    received: list[httpx.Request] = []

    def receiver(request: httpx.Request) -> httpx.Response:
        received.append(request)
        return httpx.Response(204)

    sandbox = TutorFlowSandbox(
        webhook_transport=httpx.MockTransport(receiver),
        workspaces={DEMO_WORKSPACE: Workspace(webhook_url=HOOK, webhook_secret="s3cr3t")},  # noqa: S106 - a fake secret
    )
    sandbox.script(JobScript("fail", duration=5))
    async with sandbox, connect(sandbox) as client:
        await client.submit(REQUEST)
        await sandbox.sleep(6)
        (hook,) = received
        assert hook.headers["x-platform-event"] == "course.completed"
        with pytest.raises(coursegen.WebhookVerificationError) as caught:
            client.read_webhook(dict(hook.headers), hook.content)
    assert "s3cr3t" not in str(caught.value)


# ----------------------------------------------------------------------------- served


@pytest.mark.real_clock
@pytest.mark.parametrize("anyio_backend", ["asyncio"], indirect=True)
async def test_a_served_simulator_is_reached_over_loopback(
    anyio_backend: tuple[str, object],
) -> None:
    """The simulator served on loopback (as `coursegen sandbox serve`) runs a job over HTTP."""
    # uvicorn runs on asyncio only; the base URL is written without `/v1/platform`.
    from coursegen.sandbox import serve  # noqa: PLC0415 - uvicorn only for this test

    sandbox = TutorFlowSandbox(speed=1000.0)
    async with serve(sandbox) as url:
        host = url.split("://", 1)[1]
        client = coursegen.connect(f"tutorflow+http://{DEMO_KEY}@{host}", speed=1000.0, environ={})
        async with client:
            job = await client.submit(REQUEST)
            course = await job.result()
            lesson = await client.public_lesson(course.extra["shareToken"], 1)
    assert course.id in sandbox.courses
    assert lesson.content
    assert {r.path for r in sandbox.requests} >= {"/v1/platform/courses"}


async def test_tutorflows_own_retry_rules_are_the_default_and_a_users_policy_wins():
    """By default a TutorFlow 500 is retried at most 3 times (4 attempts, the vendor's
    rule); a policy given to connect() replaces the provider's (2 attempts)."""
    sent: dict[str, int] = {}
    for label, settings in (("default", {}), ("user", {"retry": RetryPolicy(attempts=2)})):
        sandbox = TutorFlowSandbox()
        async with coursegen.connect("tutorflow", sandbox=sandbox, seed=0, **settings) as client:
            job = await client.submit(REQUEST)
            sandbox.faults.error_rate = 1.0
            before = len(sandbox.requests)
            with pytest.raises(coursegen.ProviderUnavailable):
                await job.refresh()
            sent[label] = len(sandbox.requests) - before
    assert sent == {"default": 4, "user": 2}


async def test_tutorflow_429s_are_retried_beyond_the_500_cap():
    """The 500 cap is the vendor's rule for 500s only: 429s are retried with backoff
    for every attempt of the provider's policy (5 throttled answers, then the job)."""
    answers = iter([429] * 5)

    def after(_: int, request: httpx.Request, response: httpx.Response) -> None:
        if request.method == "GET" and (status := next(answers, None)) is not None:
            response.status_code = status
            response.headers["Retry-After"] = "1"

    sandbox = TutorFlowSandbox()
    tap = Tap(sandbox.transport(), after)
    async with coursegen.connect(
        "tutorflow", api_key=DEMO_KEY, transport=tap, seed=0, environ={}
    ) as client:
        job = await client.submit(REQUEST)
        snapshot = await job.refresh()
    assert snapshot.job_id == job.id
    assert sum(request.method == "GET" for request in tap.sent) == 6


async def test_two_clients_on_one_workspace_share_its_budget_and_draw_no_429():
    """Two clients in one process on one workspace (one key, one vendor) spend one
    shared budget: 2 x 45 creates and every poll of them draw 0 429s."""
    sandbox = TutorFlowSandbox()
    done: list[coursegen.Result] = []

    async def fleet(client: coursegen.Client) -> None:
        async def one() -> None:
            job = await client.submit(REQUEST)
            done.append(await job.result(timeout=None))

        async with anyio.create_task_group() as tg:
            for _ in range(45):
                tg.start_soon(one)

    async with (
        coursegen.connect("tutorflow", sandbox=sandbox, seed=1) as first,
        coursegen.connect("tutorflow", sandbox=sandbox, seed=2) as second,
        anyio.create_task_group() as tg,
    ):
        tg.start_soon(fleet, first)
        tg.start_soon(fleet, second)
    assert len(done) == 90
    assert sum(request.status == 429 for request in sandbox.requests) == 0
