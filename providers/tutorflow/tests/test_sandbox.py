"""The TutorFlow simulator, spoken to in plain HTTP as the vendor's docs describe it.

No adapter here: these tests pin the simulator to the docs (seed 002 and VENDORS.md
section 2), so that adapter and client tests run against an independent reading.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import re
import time
from datetime import timedelta
from decimal import Decimal
from email.utils import parsedate_to_datetime

import httpx
import pytest

from coursegen.sandbox import DEFAULT_EPOCH, Faults, JobScript
from coursegen.testing import WebhookReceiver, vendor_client
from coursegen_tutorflow.sandbox import (
    DEMO_KEY,
    DEMO_WEBHOOK_SECRET,
    DEMO_WORKSPACE,
    LESSON_TYPES,
    ApiKey,
    TutorFlowSandbox,
    Workspace,
    make_sandbox,
)

pytestmark = pytest.mark.anyio

COURSES = "/v1/platform/courses"
RATE_HEADERS = ("x-ratelimit-limit", "x-ratelimit-remaining", "x-ratelimit-reset")
RESULT_FIELDS = (
    "chapters",
    "lessons",
    "lessonCount",
    "shareToken",
    "thumbnailUrl",
    "previewUrl",
    "publicUrl",
    "completedAt",
    "slug",
)
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HOOK = "https://lms.example/hooks/tutorflow"


@pytest.fixture
def sandbox():
    return TutorFlowSandbox()


def connect(sandbox: TutorFlowSandbox, key: str | None = DEMO_KEY) -> httpx.AsyncClient:
    return vendor_client(sandbox, key)


async def create(client: httpx.AsyncClient, **body) -> httpx.Response:
    return await client.post(
        COURSES, json={"prompt": "Python for beginners", "mode": "async", **body}
    )


async def follow(sandbox: TutorFlowSandbox, client: httpx.AsyncClient, request_id: str) -> list:
    """Poll as each answer's pollAfterMs says until the request ends; every body, in order."""
    seen = []
    while True:
        response = await client.get(f"{COURSES}/{request_id}")
        assert response.status_code == 200
        seen.append(response.json())
        if seen[-1]["isTerminal"]:
            return seen
        await sandbox.sleep(seen[-1]["pollAfterMs"] / 1000)


def unix(response: httpx.Response) -> float:
    """The response's Date as a Unix time."""
    return parsedate_to_datetime(response.headers["date"]).timestamp()


def hooked(receiver: WebhookReceiver, **workspace) -> TutorFlowSandbox:
    settings = {"webhook_url": HOOK, "webhook_secret": DEMO_WEBHOOK_SECRET, **workspace}
    return TutorFlowSandbox(
        webhook_transport=receiver.transport(),
        workspaces={DEMO_WORKSPACE: Workspace(**settings)},
    )


# -- create ------------------------------------------------------------------------------


async def test_an_async_create_answers_202_with_the_pending_request(sandbox):
    """POST answers 202 with a PENDING CourseResDto: request side only, price, 3 s hint."""
    async with connect(sandbox) as client:
        response = await create(client, title="Python 101", level="beginner", lessonCount=6)
    assert response.status_code == 202
    body = response.json()
    assert re.fullmatch(r"[0-9a-f-]{36}", body["id"])
    assert body["status"] == "PENDING"
    assert (body["courseId"], body["title"], body["description"]) == (None, None, None)
    assert (body["language"], body["level"], body["mode"]) == ("en", "beginner", "async")
    assert body["isTerminal"] is False
    assert body["pollAfterMs"] == 3000
    assert body["idempotencyKey"] is None
    assert body["idempotentReplay"] is None
    assert body["priceSnapshot"] == {
        "category": "course",
        "catalogKey": "course.default",
        "tier": "default",
        "unit": "lesson",
        "unitPrice": 0.05,
        "units": 6,
        "amountUsd": 0.3,
        "currency": "USD",
        "source": "platform_pricing_catalog_v2",
    }
    assert ISO_MS.fullmatch(body["createdAt"])
    for field in RESULT_FIELDS:
        assert field not in body, field
    assert sandbox.charged == {DEMO_WORKSPACE: Decimal("0.30")}
    assert sandbox.jobs[body["id"]].request["title"] == "Python 101"


async def test_five_lessons_by_default_at_five_cents_each(sandbox):
    """Without lessonCount the request is for 5 lessons: $0.25."""
    async with connect(sandbox) as client:
        body = (await create(client)).json()
    assert (body["priceSnapshot"]["units"], body["priceSnapshot"]["amountUsd"]) == (5, 0.25)


async def test_a_sync_create_answers_201_once_the_course_is_done(sandbox):
    """`mode: sync` (the vendor's default) holds the answer until the course is COMPLETED."""
    sandbox.script(JobScript("succeed", duration=20))
    async with connect(sandbox) as client:
        started = sandbox.vendor_now()
        response = await client.post(COURSES, json={"prompt": "Knots"})
        took = sandbox.vendor_now() - started
    assert response.status_code == 201
    body = response.json()
    assert (body["status"], body["isTerminal"], body["mode"]) == ("COMPLETED", True, "sync")
    assert "pollAfterMs" not in body
    assert took >= 20


@pytest.mark.parametrize(
    ("authorization", "code", "message"),
    [
        (None, "platform_invalid_api_key", "Missing Platform API key"),
        ("Token tf_platform_sandbox_demo", "platform_invalid_api_key", "Malformed"),
        ("Bearer tf_platform_nope", "platform_invalid_api_key", "Invalid Platform API key"),
        ("Bearer tf_platform_revoked", "platform_api_key_revoked", "revoked"),
        ("Bearer tf_platform_expired", "platform_api_key_expired", "expired"),
    ],
)
async def test_bad_credentials_get_401_in_the_envelope(authorization, code, message):
    """Missing, malformed, unknown, revoked and expired keys: 401 with their own codes."""
    sandbox = TutorFlowSandbox(
        keys={
            "tf_platform_revoked": ApiKey(DEMO_WORKSPACE, revoked=True),
            "tf_platform_expired": ApiKey(DEMO_WORKSPACE, expired=True),
        },
    )
    headers = {} if authorization is None else {"Authorization": authorization}
    async with connect(sandbox, key=None) as client:
        response = await client.post(COURSES, json={"prompt": "x"}, headers=headers)
    assert response.status_code == 401
    error = response.json()["error"]
    assert (error["code"], error["status"]) == (code, 401)
    assert message in error["message"]
    assert "tf_platform_nope" not in response.text
    assert not any(name in response.headers for name in RATE_HEADERS)
    assert sandbox.jobs == {}


@pytest.mark.parametrize(
    ("workspace", "key", "status", "code"),
    [
        (Workspace(suspended=True), ApiKey("ws"), 403, "platform_workspace_suspended"),
        (Workspace(email_verified=False), ApiKey("ws"), 403, "email_verification_required"),
        (Workspace(), ApiKey("ws", read_only=True), 403, "platform_forbidden"),
        (
            Workspace(plan="free", credits_usd=Decimal("0.20")),
            ApiKey("ws"),
            403,
            "free_credits_exhausted",
        ),
        (
            Workspace(credits_usd=Decimal("0.10")),
            ApiKey("ws"),
            402,
            "platform_insufficient_credits",
        ),
    ],
)
async def test_workspace_refusals_create_nothing_and_charge_nothing(workspace, key, status, code):
    """Suspended, unverified, read-only, out of free or prepaid credits: refused, nothing made."""
    sandbox = TutorFlowSandbox(workspaces={"ws": workspace}, keys={"tf_k": key})
    async with connect(sandbox, key="tf_k") as client:
        response = await create(client)
    assert response.status_code == status
    assert response.json()["error"]["code"] == code
    assert all(name in response.headers for name in RATE_HEADERS)
    assert sandbox.jobs == {}
    assert sandbox.charged.get("ws", Decimal(0)) == 0


async def test_a_read_only_key_may_still_read():
    """platform_forbidden is about creating: the same key polls its workspace's requests."""
    sandbox = TutorFlowSandbox(keys={"tf_ro": ApiKey(DEMO_WORKSPACE, read_only=True)})
    async with connect(sandbox) as writer, connect(sandbox, key="tf_ro") as reader:
        request_id = (await create(writer)).json()["id"]
        assert (await reader.get(f"{COURSES}/{request_id}")).status_code == 200


async def test_prepaid_credits_run_out_at_five_cents_a_lesson():
    """$0.50 of credit buys two 5-lesson courses; the third is 402 and costs nothing."""
    sandbox = TutorFlowSandbox(workspaces={DEMO_WORKSPACE: Workspace(credits_usd=Decimal("0.50"))})
    async with connect(sandbox) as client:
        statuses = [(await create(client)).status_code for _ in range(3)]
    assert statuses == [202, 202, 402]
    assert sandbox.charged[DEMO_WORKSPACE] == Decimal("0.50")
    assert len(sandbox.jobs) == 2


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        ({}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": "   "}, "prompt"),
        ({"prompt": 7}, "prompt"),
        ({"prompt": "x", "title": 5}, "title"),
        ({"prompt": "x", "language": "English"}, "language"),
        ({"prompt": "x", "level": "expert"}, "level"),
        ({"prompt": "x", "lessonCount": 0}, "lessonCount"),
        ({"prompt": "x", "lessonCount": 51}, "lessonCount"),
        ({"prompt": "x", "lessonCount": "5"}, "lessonCount"),
        ({"prompt": "x", "tier": "gold"}, "tier"),
        ({"prompt": "x", "mode": "later"}, "mode"),
        ({"prompt": "x", "idempotencyKey": ""}, "idempotencyKey"),
        ({"prompt": "x", "idempotencyKey": "k" * 256}, "idempotencyKey"),
        ({"prompt": "x", "classroomId": 3}, "classroomId"),
    ],
)
async def test_invalid_create_bodies_get_400_and_create_nothing(sandbox, body, fragment):
    """Each documented rule gives 400 platform_invalid_request naming the field; no charge."""
    async with connect(sandbox) as client:
        response = await client.post(COURSES, json=body)
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "platform_invalid_request"
    assert fragment in error["message"]
    assert sandbox.jobs == {}
    assert sandbox.charged == {}


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'"prompt"'])
async def test_unreadable_create_bodies_get_400(sandbox, content):
    """A body that is not a JSON object is an invalid request too."""
    async with connect(sandbox) as client:
        response = await client.post(COURSES, content=content)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "platform_invalid_request"


async def test_nulls_and_unknown_fields_are_accepted(sandbox):
    """Optional fields may be null; unknown fields are ignored but kept on the request."""
    async with connect(sandbox) as client:
        response = await create(
            client, title=None, level=None, tier="basic", classroomId="cls_1", brandKit="bk_9"
        )
    assert response.status_code == 202
    assert response.json()["tier"] == "basic"
    (job,) = sandbox.jobs.values()
    assert job.request["brandKit"] == "bk_9"


# -- idempotency -------------------------------------------------------------------------


@pytest.mark.parametrize(
    "where", ["header", "body", "both"], ids=["header", "body", "header-and-body"]
)
async def test_a_replayed_key_answers_the_original_request(sandbox, where):
    """The same key again: 200, same id, idempotentReplay true, no second job or charge."""
    headers = {"Idempotency-Key": "order-4711"} if where != "body" else {}
    extra = {"idempotencyKey": "order-4711"} if where != "header" else {}
    body = {"prompt": "Knots", "mode": "async", **extra}
    async with connect(sandbox) as client:
        first = await client.post(COURSES, json=body, headers=headers)
        again = await client.post(COURSES, json=body, headers=headers)
    assert (first.status_code, again.status_code) == (202, 200)
    assert again.json()["id"] == first.json()["id"]
    assert first.json()["idempotentReplay"] is None
    assert again.json()["idempotentReplay"] is True
    assert again.json()["idempotencyKey"] == "order-4711"
    assert len(sandbox.jobs) == 1
    assert sandbox.charged[DEMO_WORKSPACE] == Decimal("0.25")


async def test_a_key_reused_for_another_body_is_a_conflict(sandbox):
    """The same key with a different request is 409 platform_conflict."""
    async with connect(sandbox) as client:
        await create(client, idempotencyKey="k1")
        response = await create(client, idempotencyKey="k1", lessonCount=9)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "platform_conflict"
    assert len(sandbox.jobs) == 1


async def test_header_and_body_keys_must_agree(sandbox):
    """Two different keys in one request are refused."""
    async with connect(sandbox) as client:
        response = await client.post(
            COURSES,
            json={"prompt": "x", "idempotencyKey": "a"},
            headers={"Idempotency-Key": "b"},
        )
    assert response.status_code == 400
    assert "differ" in response.json()["error"]["message"]


async def test_keys_are_per_workspace():
    """One key in two workspaces makes two requests."""
    sandbox = TutorFlowSandbox(workspaces={"ws2": Workspace()}, keys={"tf_2": ApiKey("ws2")})
    async with connect(sandbox) as mine, connect(sandbox, key="tf_2") as theirs:
        first = await create(mine, idempotencyKey="k")
        second = await create(theirs, idempotencyKey="k")
    assert first.json()["id"] != second.json()["id"]
    assert second.status_code == 202


async def test_a_lost_answer_then_a_retry_with_the_key_makes_one_request(sandbox):
    """After a reset that followed processing, retrying with the same key replays it."""
    async with connect(sandbox) as client:
        sandbox.faults.reset_after_rate = 1.0
        with pytest.raises(httpx.ReadError):
            await create(client, idempotencyKey="k")
        sandbox.faults.reset_after_rate = 0.0
        again = await create(client, idempotencyKey="k")
    assert again.status_code == 200
    assert again.json()["idempotentReplay"] is True
    assert list(sandbox.jobs) == [again.json()["id"]]


# -- the request's life ------------------------------------------------------------------


async def test_pending_processing_completed_with_hints_and_absent_result_fields():
    """Followed by its hints, a request reads PENDING, PROCESSING, then COMPLETED with results."""
    sandbox = TutorFlowSandbox(pending_duration=(10, 10))
    sandbox.script(JobScript("succeed", duration=40))
    async with connect(sandbox) as client:
        request_id = (await create(client, lessonCount=6)).json()["id"]
        seen = await follow(sandbox, client, request_id)
    statuses = [body["status"] for body in seen]
    first_processing = statuses.index("PROCESSING")
    assert statuses[0] == "PENDING"
    assert set(statuses[:first_processing]) == {"PENDING"}
    assert set(statuses[first_processing:-1]) == {"PROCESSING"}
    assert statuses[-1] == "COMPLETED"
    for body in seen[:-1]:
        assert body["isTerminal"] is False
        assert body["pollAfterMs"] == 3000
        assert body["courseId"] is None
        for field in RESULT_FIELDS:
            assert field not in body
    done = seen[-1]
    assert done["isTerminal"] is True
    assert "pollAfterMs" not in done
    assert all(field in done for field in RESULT_FIELDS)
    assert len(seen) == 15  # polls at 0, 3, ..., 42


async def test_a_completed_request_carries_the_documented_course(sandbox):
    """Chapters, typed lessons, URLs on the share token, and the dates in ms + Z."""
    sandbox.script(JobScript("succeed", duration=30))
    async with connect(sandbox) as client:
        request_id = (
            await create(client, title="Python 101", lessonCount=7, language="pt-BR")
        ).json()["id"]
        await sandbox.sleep(31)
        body = (await client.get(f"{COURSES}/{request_id}")).json()
    assert body["title"] == "Python 101"
    assert body["description"]
    assert body["lessonCount"] == 7
    assert re.fullmatch(r"[0-9a-f-]{36}", body["courseId"])
    token = body["shareToken"]
    assert re.fullmatch(r"[0-9a-f]{40}", token)
    site = "https://tutorflow.io/pt/platform/courses"
    assert body["previewUrl"] == f"{site}/edit/{body['courseId']}"
    assert body["publicUrl"] == f"{site}/{token}/lessons/1"
    assert body["thumbnailUrl"] is None
    chapters, lessons = body["chapters"], body["lessons"]
    assert [c["sequence"] for c in chapters] == [1, 2, 3]
    assert sum(c["lessonCount"] for c in chapters) == 7
    assert [lesson["sequence"] for lesson in lessons] == list(range(1, 8))
    assert {lesson["type"] for lesson in lessons} <= set(LESSON_TYPES)
    assert all(lesson["lessonUrl"].startswith(f"{site}/{token}/lessons/") for lesson in lessons)
    assert all("content" not in lesson for lesson in lessons)
    assert {lesson["chapterTitle"] for lesson in lessons} == {c["title"] for c in chapters}
    job = sandbox.jobs[request_id]
    completed = DEFAULT_EPOCH + timedelta(seconds=job.ends_at)
    assert body["completedAt"] == (
        f"{completed:%Y-%m-%dT%H:%M:%S}.{completed.microsecond // 1000:03d}Z"
    )
    assert sandbox.courses[body["courseId"]].request_id == request_id


async def test_a_failed_request_says_failed_and_nothing_more(sandbox):
    """FAILED is terminal, with no result fields and no (undocumented) reason."""
    sandbox.script(JobScript("fail", duration=10))
    async with connect(sandbox) as client:
        request_id = (await create(client)).json()["id"]
        seen = await follow(sandbox, client, request_id)
    last = seen[-1]
    assert (last["status"], last["isTerminal"], last["courseId"]) == ("FAILED", True, None)
    assert "error" not in last
    assert "pollAfterMs" not in last
    assert not any(field in last for field in RESULT_FIELDS)
    assert sandbox.courses == {}


async def test_a_scripted_reason_appears_as_an_undocumented_error(sandbox):
    """A script naming a code or message makes the vendor send `error`; None drops the code."""
    sandbox.script(
        JobScript("fail", duration=1, error_code="CONTENT_POLICY", error_message="Refused."),
        JobScript("fail", duration=1, error_code=None, error_message="Out of capacity"),
    )
    async with connect(sandbox) as client:
        ids = [(await create(client)).json()["id"] for _ in range(2)]
        await sandbox.sleep(2)
        errors = [(await client.get(f"{COURSES}/{i}")).json()["error"] for i in ids]
    assert errors == [
        {"message": "Refused.", "code": "CONTENT_POLICY"},
        {"message": "Out of capacity"},
    ]


async def test_scripted_raw_statuses_are_reported_before_the_end(sandbox):
    """JobScript statuses are reported as they are, spread over the duration, not terminal."""
    sandbox.script(JobScript("succeed", duration=30, statuses=("QUEUED", "RENDERING")))
    async with connect(sandbox) as client:
        request_id = (await create(client)).json()["id"]
        seen = await follow(sandbox, client, request_id)
    words = [body["status"] for body in seen]
    assert words[0] == "QUEUED"
    assert "RENDERING" in words
    assert words[-1] == "COMPLETED"
    assert all(not body["isTerminal"] for body in seen[:-1])


async def test_the_hint_follows_the_poll_after_option():
    """`poll_after_ms` sets the hint per status."""
    sandbox = TutorFlowSandbox(
        poll_after_ms={"PENDING": 1500, "PROCESSING": 6000}, pending_duration=(5, 5)
    )
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        body = (await create(client)).json()
        await sandbox.sleep(10)
        later = (await client.get(f"{COURSES}/{body['id']}")).json()
    assert (body["pollAfterMs"], later["pollAfterMs"]) == (1500, 6000)


async def test_unscripted_requests_take_15_to_45_s(sandbox):
    """By default a request is pending 1-3 s and ends 15-45 s after creation (seeded)."""
    async with connect(sandbox) as client:
        for _ in range(20):
            assert (await create(client)).status_code == 202
    for job in sandbox.jobs.values():
        assert 15 <= job.ends_at - job.created_at <= 45
        assert 1 <= job.processing_at - job.created_at <= 3
        assert job.outcome == "succeed"


async def test_failure_rate_fails_unscripted_requests():
    """failure_rate=1 fails every request."""
    sandbox = TutorFlowSandbox(failure_rate=1.0)
    async with connect(sandbox) as client:
        for _ in range(3):
            await create(client)
    assert {job.outcome for job in sandbox.jobs.values()} == {"fail"}


async def test_another_workspaces_request_is_not_found():
    """A request id of another workspace, or none at all, is 404 platform_not_found."""
    sandbox = TutorFlowSandbox(workspaces={"ws2": Workspace()}, keys={"tf_2": ApiKey("ws2")})
    async with connect(sandbox) as mine, connect(sandbox, key="tf_2") as theirs:
        request_id = (await create(mine)).json()["id"]
        foreign = await theirs.get(f"{COURSES}/{request_id}")
        unknown = await mine.get(f"{COURSES}/nope")
    for response in (foreign, unknown):
        assert response.status_code == 404
        assert response.json()["error"] == {
            "code": "platform_not_found",
            "message": "Course request not found",
            "status": 404,
        }


async def test_the_list_endpoint_filters_and_pages(sandbox):
    """GET /courses?status=&limit=&offset= answers {items, total}, newest first."""
    sandbox.script(JobScript("succeed", duration=5), JobScript("fail", duration=5))
    async with connect(sandbox) as client:
        ids = [(await create(client)).json()["id"] for _ in range(3)]
        await sandbox.sleep(6)
        everything = (await client.get(COURSES)).json()
        failed = (await client.get(COURSES, params={"status": "FAILED"})).json()
        page = (await client.get(COURSES, params={"limit": 1, "offset": 1})).json()
        bad = await client.get(COURSES, params={"limit": 101})
    assert everything["total"] == 3
    assert [item["id"] for item in everything["items"]] == ids[::-1]
    assert [item["id"] for item in failed["items"]] == [ids[1]]
    assert (page["total"], [item["id"] for item in page["items"]]) == (3, [ids[1]])
    assert bad.status_code == 400


# -- public pages --------------------------------------------------------------------------


async def finished(sandbox: TutorFlowSandbox, client: httpx.AsyncClient) -> dict:
    sandbox.script(JobScript("succeed", duration=10))
    request_id = (await create(client, lessonCount=4)).json()["id"]
    await sandbox.sleep(11)
    return (await client.get(f"{COURSES}/{request_id}")).json()


async def test_public_pages_need_no_key(sandbox):
    """Summary, full page and lesson by sequence answer with no Authorization at all."""
    async with connect(sandbox) as client, connect(sandbox, key=None) as anonymous:
        body = await finished(sandbox, client)
        token = body["shareToken"]
        summary = await anonymous.get(f"{COURSES}/public/{token}")
        full = await anonymous.get(f"{COURSES}/public/{token}/full")
        lesson = await anonymous.get(f"{COURSES}/public/{token}/lessons/2")
    assert [r.status_code for r in (summary, full, lesson)] == [200, 200, 200]
    page = summary.json()
    assert page["courseId"] == body["courseId"]
    assert page["shareToken"] == token
    for owner_only in ("priceSnapshot", "idempotencyKey", "chapters", "lessons"):
        assert owner_only not in page
    whole = full.json()
    assert len(whole["lessons"]) == 4
    assert all(item["content"].startswith("# ") for item in whole["lessons"])
    assert re.fullmatch(r"[0-9a-f]{32}", whole["editToken"])
    assert lesson.json()["sequence"] == 2
    assert lesson.json()["content"] == whole["lessons"][1]["content"]
    assert not any(name in summary.headers for name in RATE_HEADERS)


async def test_public_pages_refuse_unknown_tokens_lessons_and_sequences(sandbox):
    """Unknown or not-yet-finished tokens and lessons are 404; a bad sequence is 400."""
    async with connect(sandbox) as client:
        token = (await finished(sandbox, client))["shareToken"]
        unknown = await client.get(f"{COURSES}/public/{'0' * 40}")
        no_lesson = await client.get(f"{COURSES}/public/{token}/lessons/99")
        bad = await client.get(f"{COURSES}/public/{token}/lessons/two")
    assert (unknown.status_code, no_lesson.status_code, bad.status_code) == (404, 404, 400)
    assert unknown.json()["error"]["code"] == "platform_not_found"
    assert bad.json()["error"]["code"] == "platform_invalid_request"


# -- rate limits ---------------------------------------------------------------------------


async def test_sixty_requests_a_minute_per_workspace_across_keys_and_endpoints():
    """Creates, polls and a second key of the same workspace share one pool; another is free."""
    sandbox = TutorFlowSandbox(
        workspaces={"ws2": Workspace()},
        keys={"tf_same": ApiKey(DEMO_WORKSPACE), "tf_other": ApiKey("ws2")},
    )
    async with (
        connect(sandbox) as client,
        connect(sandbox, key="tf_same") as same,
        connect(sandbox, key="tf_other") as other,
    ):
        request_id = (await create(client)).json()["id"]
        answers = [await client.get(f"{COURSES}/{request_id}") for _ in range(29)]
        answers += [await same.get(f"{COURSES}/{request_id}") for _ in range(29)]
        answers.append(await create(same))
        refused = await client.get(f"{COURSES}/{request_id}")
        elsewhere = await create(other)
    assert [r.status_code for r in answers] == [200] * 58 + [202]
    assert [int(r.headers["x-ratelimit-remaining"]) for r in answers[-3:]] == [2, 1, 0]
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "platform_rate_limit_exceeded"
    assert "retry-after" not in refused.headers
    assert elsewhere.status_code == 202
    assert sandbox.rate_limited_count == 1


async def test_the_reset_is_an_absolute_unix_time_on_the_date_headers_clock():
    """X-RateLimit-Reset minus Date is the seconds left in the fixed window."""
    sandbox = TutorFlowSandbox(rate_window=60)
    sandbox.vendor_now()  # the vendor's clock starts on first use
    async with connect(sandbox) as client:
        await sandbox.sleep(20.5)
        response = await create(client)
    reset = int(response.headers["x-ratelimit-reset"])
    assert reset > 1_700_000_000  # a Unix time, not a number of seconds
    assert reset == (DEFAULT_EPOCH + timedelta(seconds=60)).timestamp()
    left = reset - unix(response)
    assert left == 40
    assert response.headers["x-ratelimit-limit"] == "60"


async def test_a_429_is_not_counted_and_the_window_refills_at_the_reset():
    """A refused request takes no slot; at the reset the workspace may send again."""
    sandbox = TutorFlowSandbox(workspaces={DEMO_WORKSPACE: Workspace(rate_limit=2)}, rate_window=10)
    async with connect(sandbox) as client:
        await create(client)
        await create(client)
        refused = await create(client)
        wait = int(refused.headers["x-ratelimit-reset"]) - unix(refused)
        await sandbox.sleep(wait + 0.1)
        admitted = await create(client)
    assert refused.status_code == 429
    assert admitted.status_code == 202
    assert admitted.headers["x-ratelimit-remaining"] == "1"


async def test_a_production_plan_allows_1000_a_minute(sandbox):
    """The production plan's limit is 1000, and a plan change applies at once."""
    async with connect(sandbox) as client:
        assert (await create(client)).headers["x-ratelimit-limit"] == "60"
        sandbox.workspaces[DEMO_WORKSPACE] = Workspace(plan="production")
        response = await create(client)
    assert response.headers["x-ratelimit-limit"] == "1000"
    assert response.headers["x-ratelimit-remaining"] == "998"


async def test_every_answer_carries_a_date_and_keyed_ones_the_rate_headers(sandbox):
    """202, 200, 400, 404, 409 and an injected 500 all carry Date and X-RateLimit-*."""
    async with connect(sandbox) as client:
        answers = [
            await create(client, idempotencyKey="k"),
            await client.get(f"{COURSES}/nope"),
            await client.post(COURSES, json={}),
            await create(client, idempotencyKey="k", lessonCount=2),
        ]
        answers.append(await client.get(f"{COURSES}/{answers[0].json()['id']}"))
        sandbox.faults.error_rate = 1.0
        answers.append(await create(client))
    assert sorted(r.status_code for r in answers) == [200, 202, 400, 404, 409, 500]
    for response in answers:
        assert all(name in response.headers for name in RATE_HEADERS), response.status_code
        assert parsedate_to_datetime(response.headers["date"]) >= DEFAULT_EPOCH


async def test_an_injected_500_is_the_envelope_and_creates_nothing(sandbox):
    """error_rate=1 answers 500 platform_internal_error; nothing processed or counted."""
    sandbox.faults = Faults(error_rate=1.0)
    async with connect(sandbox) as client:
        response = await create(client)
    assert response.status_code == 500
    assert response.json() == {
        "error": {
            "code": "platform_internal_error",
            "message": "Internal server error",
            "status": 500,
        }
    }
    assert response.headers["x-ratelimit-remaining"] == "60"
    assert sandbox.jobs == {}


# -- webhooks ------------------------------------------------------------------------------


async def test_webhooks_are_signed_and_name_the_event():
    """course.deployed on success, the legacy course.completed on failure, both signed."""
    receiver = WebhookReceiver()
    sandbox = hooked(receiver)
    sandbox.script(JobScript("succeed", duration=20), JobScript("fail", duration=10))
    async with sandbox, connect(sandbox) as client:
        ok = (await create(client)).json()["id"]
        bad = (await create(client)).json()["id"]
        await sandbox.sleep(25)
    events = [request.headers["x-platform-event"] for request in receiver.received]
    assert events == ["course.completed", "course.deployed"]
    bodies = [json.loads(request.content) for request in receiver.received]
    assert [body["data"]["id"] for body in bodies] == [bad, ok]
    assert [body["data"]["status"] for body in bodies] == ["FAILED", "COMPLETED"]
    assert bodies[1]["data"]["shareToken"]
    assert all(body["workspaceId"] == DEMO_WORKSPACE for body in bodies)
    for request in receiver.received:
        expected = hmac.new(DEMO_WEBHOOK_SECRET.encode(), request.content, hashlib.sha256)
        assert request.headers["x-platform-signature"] == expected.hexdigest()
        assert str(request.url) == HOOK
    assert [hook.vendor_time for hook in sandbox.webhooks] == [
        sandbox.jobs[bad].ends_at,
        sandbox.jobs[ok].ends_at,
    ]


async def test_the_sha256_key_form_signs_with_the_hashed_secret():
    """signature_key="sha256" keys the HMAC with the hex SHA-256 of the secret."""
    receiver = WebhookReceiver()
    sandbox = hooked(receiver, signature_key="sha256")
    sandbox.script(JobScript("succeed", duration=5))
    async with sandbox, connect(sandbox) as client:
        await create(client)
        await sandbox.sleep(6)
    (request,) = receiver.received
    key = hashlib.sha256(DEMO_WEBHOOK_SECRET.encode()).hexdigest().encode()
    expected = hmac.new(key, request.content, hashlib.sha256).hexdigest()
    assert request.headers["x-platform-signature"] == expected


async def test_failed_deliveries_are_retried_after_5_25_and_125_s():
    """A receiver failing three times gets the same signed bytes 4 times, the last accepted."""
    receiver = WebhookReceiver(failures=3)
    sandbox = hooked(receiver)
    sandbox.script(JobScript("succeed", duration=5))
    async with sandbox, connect(sandbox) as client:
        await create(client)
        await sandbox.sleep(5 + 5 + 25 + 125 + 20)
    assert len(receiver.received) == 4
    assert len({request.content for request in receiver.received}) == 1
    hooks = sandbox.webhooks
    assert [hook.attempt for hook in hooks] == [1, 2, 3, 4]
    assert [hook.delivered for hook in hooks] == [False, False, False, True]
    gaps = [later.vendor_time - earlier.vendor_time for earlier, later in itertools.pairwise(hooks)]
    assert gaps == [5, 25, 125]


async def test_no_endpoint_means_no_webhook(sandbox):
    """A workspace without a webhook URL is sent nothing."""
    sandbox.script(JobScript("succeed", duration=1))
    async with connect(sandbox) as client:
        await create(client)
        await sandbox.sleep(2)
    assert sandbox.webhooks == []


# -- odds and ends -------------------------------------------------------------------------


async def test_unknown_routes_and_methods_answer_404_in_the_envelope(sandbox):
    """An unknown path or method gets the framework's 404 platform_not_found."""
    async with connect(sandbox) as client:
        missing = await client.get("/v1/platform/lessons")
        wrong = await client.delete(COURSES)
    for response in (missing, wrong):
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "platform_not_found"
    assert wrong.json()["error"]["message"] == "Cannot DELETE /v1/platform/courses"


async def test_keys_never_reach_the_request_log(sandbox):
    """The request log keeps no Authorization header: no key can leak from a test report."""
    async with connect(sandbox) as client:
        await create(client)
        await client.get(f"{COURSES}/nope")
    assert len(sandbox.requests) == 2
    assert DEMO_KEY not in repr(sandbox.requests)
    assert all("authorization" not in r.headers for r in sandbox.requests)


def test_make_sandbox_builds_the_simulator_with_options():
    """make_sandbox(**options) is the factory the plugin registers."""
    sandbox = make_sandbox(speed=50.0, seed=9, failure_rate=0.5)
    assert isinstance(sandbox, TutorFlowSandbox)
    assert (sandbox.name, sandbox.base_url) == ("tutorflow", "https://api.tutorflow.io")
    assert (sandbox.speed, sandbox.seed, sandbox.failure_rate) == (50.0, 9, 0.5)
    assert sandbox.demo_key == DEMO_KEY
    assert sandbox.api_keys[DEMO_KEY].workspace == DEMO_WORKSPACE
    assert sandbox.webhook_retry_delays == (5.0, 25.0, 125.0)


def test_options_are_validated():
    """Impossible options are refused up front; the vendor cannot cancel or expire requests."""
    with pytest.raises(ValueError, match="failure_rate"):
        TutorFlowSandbox(failure_rate=2)
    with pytest.raises(ValueError, match="job_duration"):
        TutorFlowSandbox(job_duration=(45, 15))
    with pytest.raises(ValueError, match="rate_window"):
        TutorFlowSandbox(rate_window=0)
    with pytest.raises(ValueError, match="cannot cancel"):
        TutorFlowSandbox().script(JobScript("cancel"))


async def test_minutes_of_vendor_time_take_almost_no_real_time(sandbox):
    """Following five requests by their hints takes well under two seconds of real time."""
    real = time.perf_counter()
    async with connect(sandbox) as client:
        ids = [(await create(client)).json()["id"] for _ in range(5)]
        for request_id in ids:
            seen = await follow(sandbox, client, request_id)
            assert seen[-1]["status"] == "COMPLETED"
    assert sandbox.vendor_now() >= 15
    assert time.perf_counter() - real < 2
