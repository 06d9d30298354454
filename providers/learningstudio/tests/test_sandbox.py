"""The LearningStudioAI simulator, spoken to in plain HTTP as the vendor's docs describe it.

No adapter here: these tests pin the simulator to the docs (seeds 000, 001, 004 and
VENDORS.md section 1), so that adapter tests run against an independent reading.
"""

from __future__ import annotations

import itertools
import re
import time
from datetime import timedelta

import httpx
import pytest

import coursegen_learningstudio.sandbox as simulator
from coursegen.sandbox import DEFAULT_EPOCH, Faults, JobScript
from coursegen.testing import WebhookReceiver, vendor_client
from coursegen_learningstudio.sandbox import (
    DEMO_KEY,
    Account,
    LearningStudioSandbox,
    make_sandbox,
)

pytestmark = pytest.mark.anyio

COURSES = "/api/v1/courses"
RATE_HEADERS = ("ratelimit-limit", "ratelimit-remaining", "ratelimit-reset")
ISO_MS = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z")
HOOK = "https://hooks.example.com/ls"


@pytest.fixture
def sandbox():
    return LearningStudioSandbox()


def connect(sandbox: LearningStudioSandbox, key: str | None = DEMO_KEY) -> httpx.AsyncClient:
    return vendor_client(sandbox, key)


async def create(client: httpx.AsyncClient, **body) -> httpx.Response:
    return await client.post(COURSES, json={"subject": "Workplace safety basics", **body})


async def follow(sandbox: LearningStudioSandbox, client: httpx.AsyncClient, job_id: str) -> list:
    """Poll every 5 vendor seconds until the job ends; every body seen, in order."""
    seen = []
    while True:
        response = await client.get(f"{COURSES}/jobs/{job_id}")
        assert response.status_code == 200
        seen.append(response.json())
        if seen[-1]["status"] in {"completed", "failed"}:
            return seen
        await sandbox.sleep(5)


# -- create ------------------------------------------------------------------------------


async def test_create_answers_202_with_job_id_and_poll_url(sandbox):
    """POST /courses answers 202 {jobId, status: pending, pollUrl} and spends one credit."""
    async with connect(sandbox) as client:
        response = await create(client, format="classic", outline=["Hazards", "PPE"])
    assert response.status_code == 202
    body = response.json()
    assert set(body) == {"jobId", "status", "pollUrl"}
    assert re.fullmatch(r"[A-Za-z0-9]{20}", body["jobId"])
    assert body["status"] == "pending"
    assert body["pollUrl"] == f"/api/v1/courses/jobs/{body['jobId']}"
    job = sandbox.jobs[body["jobId"]]
    assert job.owner == DEMO_KEY
    assert job.request["format"] == "classic"
    assert sandbox.credits_used == {DEMO_KEY: 1}


@pytest.mark.parametrize(
    ("authorization", "message"),
    [
        (None, "Missing Authorization header"),
        ("Token ls_sandbox_demo", "Malformed Authorization header"),
        ("bearer ls_sandbox_demo", "Malformed Authorization header"),
        ("Bearer ls_not_a_key", "Invalid API key"),
    ],
)
async def test_bad_credentials_get_401_invalid_api_key(sandbox, authorization, message):
    """A missing header, a malformed Bearer prefix and an unknown key all get 401."""
    headers = {} if authorization is None else {"Authorization": authorization}
    async with connect(sandbox, key=None) as client:
        response = await client.post(COURSES, json={"subject": "x"}, headers=headers)
    assert response.status_code == 401
    assert response.json()["code"] == "INVALID_API_KEY"
    assert response.json()["message"].startswith(message)
    assert "ls_not_a_key" not in response.text
    assert sandbox.jobs == {}


async def test_unpaid_account_gets_403_on_every_endpoint_until_it_upgrades(sandbox):
    """PAID_PLAN_REQUIRED is checked per request: a downgrade bites at once, an upgrade heals."""
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        sandbox.accounts[DEMO_KEY] = Account(plan="Free", paid=False)
        refused = [
            await create(client),
            await client.get(f"{COURSES}/jobs/{job_id}"),
            await client.post(f"{COURSES}/cou_x/export", json={}),
        ]
        for response in refused:
            assert response.status_code == 403
            assert response.json() == {
                "message": "API access requires a paid plan",
                "code": "PAID_PLAN_REQUIRED",
            }
        sandbox.accounts[DEMO_KEY] = Account()
        assert (await client.get(f"{COURSES}/jobs/{job_id}")).status_code == 200
    assert len(sandbox.jobs) == 1


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({}, "subject"),
        ({"subject": ""}, "subject"),
        ({"subject": "   "}, "subject"),
        ({"subject": "x" * 201}, "subject"),
        ({"subject": 42}, "subject"),
        ({"subject": "x", "format": "slides"}, "format"),
        ({"subject": "x", "format": None}, "format"),
        ({"subject": "x", "outline": [f"c{i}" for i in range(10)]}, "outline"),
        ({"subject": "x", "outline": "Hazards"}, "outline"),
        ({"subject": "x", "outline": ["ok", 3]}, "outline.1"),
        ({"subject": "x", "addOns": ["assessment", "quiz"]}, "addOns.1"),
        ({"subject": "x", "callbackUrl": "http://insecure.example.com/hook"}, "callbackUrl"),
        ({"subject": "x", "callbackUrl": "not a url"}, "callbackUrl"),
        ({"subject": "x", "languageId": 7}, "languageId"),
        ({"subject": "x", "languageId": "English"}, "languageId"),
    ],
)
async def test_invalid_create_bodies_get_400_and_create_nothing(sandbox, body, field):
    """Each documented rule gives 400 VALIDATION_ERROR naming the field; no job, no credit."""
    async with connect(sandbox) as client:
        response = await client.post(COURSES, json=body)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"
    assert response.json()["message"].startswith(f"{field}:")
    assert sandbox.jobs == {}
    assert sandbox.credits_used == {}


@pytest.mark.parametrize("content", [b"", b"{not json", b"[1, 2]", b'"subject"'])
async def test_unreadable_create_bodies_get_400(sandbox, content):
    """A body that is not a JSON object is a validation error too."""
    async with connect(sandbox) as client:
        response = await client.post(COURSES, content=content)
    assert response.status_code == 400
    assert response.json()["code"] == "VALIDATION_ERROR"


async def test_the_widest_valid_create_is_accepted(sandbox):
    """200 characters, 9 chapters, all six add-ons, pt-BR, an https callback: all accepted."""
    async with connect(sandbox) as client:
        response = await client.post(
            COURSES,
            json={
                "subject": "s" * 200,
                "format": "onepage",
                "languageId": "pt-BR",
                "outline": [f"Chapter {i}" for i in range(9)],
                "addOns": [
                    "practical-exercises",
                    "wrapup",
                    "assessment",
                    "articles",
                    "videos",
                    "agreement",
                ],
                "callbackUrl": HOOK,
                "somethingNew": True,
            },
        )
    assert response.status_code == 202


async def test_spent_credits_get_403_naming_the_plan_before_anything_is_queued():
    """USAGE_LIMIT_EXCEEDED_PLAN names the plan; the refused create makes no job, costs nothing."""
    sandbox = LearningStudioSandbox(keys={"ls_small": Account(plan="Starter", monthly_credits=2)})
    async with connect(sandbox, key="ls_small") as client:
        assert [(await create(client)).status_code for _ in range(2)] == [202, 202]
        response = await create(client)
    assert response.status_code == 403
    assert response.json() == {
        "message": "Usage limit exceeded for your plan (Starter)",
        "code": "USAGE_LIMIT_EXCEEDED_PLAN",
    }
    assert len(sandbox.jobs) == 2
    assert sandbox.credits_used == {"ls_small": 2}


async def test_the_usage_message_names_pro_for_the_default_account():
    """The default account is on the Pro plan, as in the docs' example message."""
    sandbox = LearningStudioSandbox(keys={DEMO_KEY: Account(monthly_credits=0)})
    async with connect(sandbox) as client:
        response = await create(client)
    assert response.json()["message"] == "Usage limit exceeded for your plan (Pro)"


async def test_monthly_credits_raise_the_default_accounts_limit():
    """`monthly_credits` sets the default account's credits: the next create past them is a 403."""
    sandbox = LearningStudioSandbox(monthly_credits=2)
    async with connect(sandbox) as client:
        codes = [(await create(client)).status_code for _ in range(3)]
    assert codes == [202, 202, 403]


async def test_the_credits_variable_sets_the_default_when_no_option_is_given(monkeypatch):
    """COURSEGEN_SANDBOX_CREDITS sets the default account's credits; the option wins over it."""
    monkeypatch.setenv(simulator.CREDITS_VARIABLE, "25000")
    assert LearningStudioSandbox().accounts[DEMO_KEY].monthly_credits == 25_000
    assert LearningStudioSandbox(monthly_credits=3).accounts[DEMO_KEY].monthly_credits == 3
    monkeypatch.setenv(simulator.CREDITS_VARIABLE, "lots")
    with pytest.raises(ValueError, match=simulator.CREDITS_VARIABLE):
        LearningStudioSandbox()


# -- the job's life --------------------------------------------------------------------------


async def test_a_job_goes_pending_running_completed_with_rising_progress():
    """Polled every 5 s, a 90 s job reads pending, then running with rising progress, then done."""
    # Pending for several 5 s polls, so the first ones must read pending.
    sandbox = LearningStudioSandbox(pending_duration=(20, 25))
    sandbox.script(JobScript("succeed", duration=90))
    async with connect(sandbox) as client:
        job_id = (await create(client, format="classic", languageId="en-GB")).json()["jobId"]
        seen = await follow(sandbox, client, job_id)
    statuses = [body["status"] for body in seen]
    first_running = statuses.index("running")
    assert statuses[0] == "pending"
    assert set(statuses[:first_running]) == {"pending"}
    assert set(statuses[first_running:-1]) == {"running"}
    assert statuses[-1] == "completed"
    progress = [body["progress"] for body in seen]
    assert progress == sorted(progress)
    assert progress[0] == 0
    assert all(0 <= p <= 99 for p in progress[:-1])
    assert progress[-1] == 100
    assert all(body["course"] is None for body in seen[:-1])
    assert all("error" not in body for body in seen)
    assert len(seen) == 19  # polls at 0, 5, ..., 90


async def test_a_completed_job_carries_the_documented_course(sandbox):
    """The course has id, name, headline, format, languageId, shareUrl and createdAt in ms + Z."""
    sandbox.script(JobScript("succeed", duration=60))
    async with connect(sandbox) as client:
        job_id = (await create(client, format="classic", languageId="en-GB")).json()["jobId"]
        await sandbox.sleep(61)
        body = (await client.get(f"{COURSES}/jobs/{job_id}")).json()
    assert set(body) == {"jobId", "status", "progress", "course"}
    course = body["course"]
    assert set(course) == {
        "id",
        "name",
        "headline",
        "format",
        "languageId",
        "shareUrl",
        "createdAt",
    }
    assert re.fullmatch(r"cou_[a-z0-9]{12}", course["id"])
    assert course["name"] == "Workplace Safety Basics"
    assert course["headline"]
    assert (course["format"], course["languageId"]) == ("classic", "en-GB")
    assert course["shareUrl"] == f"https://learningstudioai.com/go/{course['id']}"
    assert ISO_MS.fullmatch(course["createdAt"])
    job = sandbox.jobs[job_id]
    created = DEFAULT_EPOCH + timedelta(seconds=job.ends_at)
    assert course["createdAt"] == f"{created:%Y-%m-%dT%H:%M:%S}.{created.microsecond // 1000:03d}Z"
    assert sandbox.courses[course["id"]].job_id == job_id


async def test_format_and_language_default_to_onepage_and_en_us(sandbox):
    """A create without format or languageId gets a onepage course in en-US."""
    sandbox.script(JobScript("succeed", duration=1))
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        await sandbox.sleep(2)
        course = (await client.get(f"{COURSES}/jobs/{job_id}")).json()["course"]
    assert (course["format"], course["languageId"]) == ("onepage", "en-US")


async def test_unscripted_jobs_take_60_to_120_s_after_a_few_pending_seconds(sandbox):
    """By default a job is pending 2-5 s and ends 60-120 s after creation (seeded)."""
    async with connect(sandbox) as client:
        for _ in range(20):
            assert (await create(client)).status_code == 202
    for job in sandbox.jobs.values():
        assert 60 <= job.ends_at - job.created_at <= 120
        assert 2 <= job.running_at - job.created_at <= 5
        assert job.outcome == "succeed"
    assert len({round(job.ends_at - job.created_at, 3) for job in sandbox.jobs.values()}) > 10


async def test_a_failed_job_reports_the_error_progress_0_and_no_course(sandbox):
    """A failed job reads {status: failed, progress: 0, course: null, error: {message, code}}."""
    sandbox.script(JobScript("fail", duration=30))
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        seen = await follow(sandbox, client, job_id)
    assert seen[-1] == {
        "jobId": job_id,
        "status": "failed",
        "progress": 0,
        "course": None,
        "error": {
            "message": "Course outline could not be generated for this subject.",
            "code": "GENERATION_FAILED",
        },
    }
    assert sandbox.courses == {}


async def test_scripted_failures_may_drop_the_code_or_say_something_else(sandbox):
    """error_code=None sends no code at all (it is best effort); message and code are scriptable."""
    sandbox.script(
        JobScript("fail", duration=1, error_code=None),
        JobScript("fail", duration=1, error_code="CONTENT_POLICY", error_message="Refused."),
    )
    async with connect(sandbox) as client:
        first = (await create(client)).json()["jobId"]
        second = (await create(client)).json()["jobId"]
        await sandbox.sleep(2)
        errors = [
            (await client.get(f"{COURSES}/jobs/{job_id}")).json()["error"]
            for job_id in (first, second)
        ]
    assert errors == [
        {"message": "Course outline could not be generated for this subject."},
        {"message": "Refused.", "code": "CONTENT_POLICY"},
    ]


async def test_random_failures_follow_failure_rate_and_sometimes_omit_the_code():
    """failure_rate=1 fails every job; the code is present on some failures, absent on others."""
    sandbox = LearningStudioSandbox(failure_rate=1.0)
    async with connect(sandbox) as client:
        for _ in range(20):
            await create(client)
    assert {job.outcome for job in sandbox.jobs.values()} == {"fail"}
    has_code = {"code" in (job.error or {}) for job in sandbox.jobs.values()}
    assert has_code == {True, False}


async def test_scripted_statuses_are_reported_in_order_before_the_outcome(sandbox):
    """statuses=(pending, reticulating, running) are each reported, in order, then completed."""
    sandbox.script(
        JobScript("succeed", duration=90, statuses=("pending", "reticulating", "running"))
    )
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        seen = await follow(sandbox, client, job_id)
    distinct = [status for status, _ in itertools.groupby(body["status"] for body in seen)]
    assert distinct == ["pending", "reticulating", "running", "completed"]
    progress = [body["progress"] for body in seen]
    assert progress == sorted(progress)


async def test_unknown_jobs_and_other_keys_jobs_are_both_404():
    """A job of another key is indistinguishable from a job that does not exist."""
    sandbox = LearningStudioSandbox(keys={"ls_other": Account()})
    async with connect(sandbox) as mine, connect(sandbox, key="ls_other") as theirs:
        job_id = (await create(mine)).json()["jobId"]
        foreign = await theirs.get(f"{COURSES}/jobs/{job_id}")
        missing = await mine.get(f"{COURSES}/jobs/nope")
    for response in (foreign, missing):
        assert response.status_code == 404
        assert response.json() == {"message": "Job not found", "code": "NOT_FOUND"}


async def test_polls_are_recorded_with_their_vendor_times(sandbox):
    """polls[jobId] holds the vendor time of every GET, so tests can check the 5 s floor."""
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        for _ in range(3):
            await client.get(f"{COURSES}/jobs/{job_id}")
            await sandbox.sleep(5)
    assert len(sandbox.polls[job_id]) == 3
    intervals = sandbox.poll_intervals(job_id)
    assert len(intervals) == 2
    assert all(interval >= 5 for interval in intervals)
    assert intervals == [5, 5]


async def test_same_seed_same_jobs_and_scripts_do_not_shift_the_others():
    """Job ids and durations come from the seed; scripting one job leaves the others' unchanged."""

    async def ids(seed: int, *, script: bool) -> list[tuple[str, float]]:
        sandbox = LearningStudioSandbox(seed=seed)
        if script:
            sandbox.script(JobScript("fail", duration=3))
        async with connect(sandbox) as client:
            for _ in range(3):
                await create(client)
        return [(job.id, job.ends_at - job.created_at) for job in sandbox.jobs.values()]

    plain = await ids(3, script=False)
    assert [i for i, _ in plain] == [i for i, _ in await ids(3, script=False)]
    assert [i for i, _ in plain] != [i for i, _ in await ids(4, script=False)]
    scripted = await ids(3, script=True)
    assert [i for i, _ in scripted] == [i for i, _ in plain]
    assert scripted[0][1] == 3
    assert [round(d, 6) for _, d in scripted[1:]] == [round(d, 6) for _, d in plain[1:]]


# -- export --------------------------------------------------------------------------------


async def finished_course(sandbox: LearningStudioSandbox, client: httpx.AsyncClient) -> str:
    sandbox.script(JobScript("succeed", duration=10))
    job_id = (await create(client)).json()["jobId"]
    await sandbox.sleep(11)
    return (await client.get(f"{COURSES}/jobs/{job_id}")).json()["course"]["id"]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (None, "scorm12"),
        ({}, "scorm12"),
        ({"format": "scorm2004"}, "scorm2004"),
        ({"format": "scorm2004_4"}, "scorm2004_4"),
    ],
)
async def test_export_packages_a_finished_course(sandbox, body, expected):
    """Export answers 200 {courseId, format, downloadUrl, shareUrl, exportedAt}, format default."""
    async with connect(sandbox) as client:
        course_id = await finished_course(sandbox, client)
        started = sandbox.vendor_now()
        response = await client.post(f"{COURSES}/{course_id}/export", json=body)
        took = sandbox.vendor_now() - started
    assert response.status_code == 200
    result = response.json()
    assert set(result) == {"courseId", "format", "downloadUrl", "shareUrl", "exportedAt"}
    assert (result["courseId"], result["format"]) == (course_id, expected)
    assert result["downloadUrl"].startswith("https://")
    assert result["shareUrl"] == f"https://learningstudioai.com/go/{course_id}"
    assert ISO_MS.fullmatch(result["exportedAt"])
    assert took >= 2  # synchronous: the package is built before the answer
    assert sandbox.exports[0].format == expected


async def test_export_refuses_unknown_formats_and_unknown_or_unfinished_courses():
    """Unknown format -> 400; unknown, unfinished or another key's course -> 404."""
    sandbox = LearningStudioSandbox(keys={"ls_other": Account()})
    async with connect(sandbox) as client, connect(sandbox, key="ls_other") as other:
        course_id = await finished_course(sandbox, client)
        bad_format = await client.post(f"{COURSES}/{course_id}/export", json={"format": "xapi"})
        unknown = await client.post(f"{COURSES}/cou_nope/export", json={})
        foreign = await other.post(f"{COURSES}/{course_id}/export", json={})
        sandbox.script(JobScript("succeed", duration=100))
        await create(client)
        pending_course = next(job.course for job in sandbox.jobs.values() if job.ends_at > 50)
        unfinished = await client.post(f"{COURSES}/{pending_course.id}/export", json={})
    assert bad_format.status_code == 400
    assert bad_format.json()["code"] == "VALIDATION_ERROR"
    for response in (unknown, foreign, unfinished):
        assert response.status_code == 404
        assert response.json()["code"] == "NOT_FOUND"
    assert sandbox.exports == []


# -- webhooks ------------------------------------------------------------------------------


async def test_webhooks_announce_created_failed_and_exported_unsigned_once():
    """course.created, course.failed and course.exported reach callbackUrl once each, unsigned."""
    receiver = WebhookReceiver()
    sandbox = LearningStudioSandbox(webhook_transport=receiver.transport())
    sandbox.script(JobScript("succeed", duration=30), JobScript("fail", duration=20))
    async with sandbox, connect(sandbox) as client:
        ok = (await create(client, callbackUrl=HOOK)).json()["jobId"]
        bad = (await create(client, callbackUrl=HOOK)).json()["jobId"]
        await sandbox.sleep(31)
        course = (await client.get(f"{COURSES}/jobs/{ok}")).json()["course"]
        exported = (
            await client.post(f"{COURSES}/{course['id']}/export", json={"callbackUrl": HOOK})
        ).json()
        await sandbox.sleep(5)
    bodies = receiver.bodies
    assert [body["event"] for body in bodies] == [
        "course.failed",
        "course.created",
        "course.exported",
    ]
    assert bodies[0] == {
        "event": "course.failed",
        "jobId": bad,
        "error": sandbox.jobs[bad].error,
    }
    assert bodies[1] == {
        "event": "course.created",
        "jobId": ok,
        "course": {k: course[k] for k in ("id", "name", "headline", "shareUrl", "createdAt")},
    }
    assert bodies[2] == {"event": "course.exported", **exported}
    for request in receiver.received:
        assert str(request.url) == HOOK
        assert not any("signature" in name.lower() for name in request.headers)
    assert [hook.delivered for hook in sandbox.webhooks] == [True, True, True]
    assert [hook.vendor_time for hook in sandbox.webhooks][:2] == [
        sandbox.jobs[bad].ends_at,
        sandbox.jobs[ok].ends_at,
    ]


async def test_a_lost_create_answer_still_made_a_job_and_a_retry_makes_another(sandbox):
    """After a reset following processing, the job exists; a blind retry duplicates it."""
    async with connect(sandbox) as client:
        sandbox.faults.reset_after_rate = 1.0
        with pytest.raises(httpx.ReadError):
            await create(client, callbackUrl=HOOK)
        sandbox.faults.reset_after_rate = 0.0
        assert (await create(client, callbackUrl=HOOK)).status_code == 202
    assert len(sandbox.jobs) == 2
    assert sandbox.credits_used[DEMO_KEY] == 2
    await sandbox.sleep(121)
    assert [hook.event for hook in sandbox.webhooks] == ["course.created", "course.created"]


# -- rate limits -----------------------------------------------------------------------------


async def test_documented_limits_are_30_120_30_per_minute():
    """Defaults: 30 creates, 120 polls and 30 exports per key per minute; the 31st create is 429."""
    sandbox = LearningStudioSandbox()
    async with connect(sandbox) as client:
        creates = [await create(client) for _ in range(31)]
        poll = await client.get(f"{COURSES}/jobs/{creates[0].json()['jobId']}")
        export = await client.post(f"{COURSES}/cou_x/export", json={})
    assert [r.status_code for r in creates] == [202] * 30 + [429]
    assert [int(r.headers["ratelimit-remaining"]) for r in creates] == [*range(29, -1, -1), 0]
    assert {r.headers["ratelimit-limit"] for r in creates} == {"30"}
    assert poll.headers["ratelimit-limit"] == "120"
    assert export.headers["ratelimit-limit"] == "30"
    assert creates[-1].json() == {"message": "Too many requests", "code": "RATE_LIMIT_EXCEEDED"}
    assert sandbox.rate_limited_count == 1
    assert len(sandbox.jobs) == 30


async def test_429_carries_retry_after_and_is_not_counted():
    """Retry-After says when the oldest request leaves; a refused request takes no slot."""
    sandbox = LearningStudioSandbox(rate_limits={"submit": 3}, rate_window=10)
    async with connect(sandbox) as client:
        await create(client)  # t=0
        await sandbox.sleep(4)
        await create(client)  # t=4
        await create(client)  # t=4
        await sandbox.sleep(2)
        refused = await create(client)  # t=6: full
        await sandbox.sleep(5)
        admitted = await create(client)  # t=11: only the t=0 request has left
    assert refused.status_code == 429
    assert refused.headers["retry-after"] == refused.headers["ratelimit-reset"]
    assert refused.headers["retry-after"] == "4"
    assert refused.headers["ratelimit-remaining"] == "0"
    # Had the refused request been counted, t=11 would still see three in the window.
    assert admitted.status_code == 202
    assert sandbox.rate_limited_count == 1


async def test_rate_limit_reset_is_seconds_until_the_oldest_leaves_rounded_up():
    """RateLimit-Reset counts whole vendor seconds, rounded up, until a slot frees."""
    sandbox = LearningStudioSandbox(rate_window=10)
    async with connect(sandbox) as client:
        first = await create(client)
        await sandbox.sleep(2.5)
        second = await create(client)
    assert (first.headers["ratelimit-reset"], second.headers["ratelimit-reset"]) == ("10", "8")


async def test_limits_are_per_key_and_per_endpoint():
    """Exhausting one key's create budget leaves its polls and another key's creates alone."""
    sandbox = LearningStudioSandbox(keys={"ls_other": Account()}, rate_limits={"submit": 2})
    async with connect(sandbox) as mine, connect(sandbox, key="ls_other") as theirs:
        job_id = (await create(mine)).json()["jobId"]
        await create(mine)
        assert (await create(mine)).status_code == 429
        assert (await mine.get(f"{COURSES}/jobs/{job_id}")).status_code == 200
        assert (await create(theirs)).status_code == 202


async def test_every_answer_carries_rate_limit_headers(sandbox):
    """202, 200, 400, 401, 403, 404 and an injected 500 all carry RateLimit-* headers."""
    sandbox.accounts["ls_free"] = Account(plan="Free", paid=False)
    async with connect(sandbox) as client, connect(sandbox, key="ls_free") as free:
        answers = [
            await create(client),
            await client.get(f"{COURSES}/jobs/nope"),
            await client.post(COURSES, json={}),
            await client.post(COURSES, json={"subject": "x"}, headers={"Authorization": "x"}),
            await create(free),
        ]
        job_id = answers[0].json()["jobId"]
        answers.append(await client.get(f"{COURSES}/jobs/{job_id}"))
        sandbox.faults.error_rate = 1.0
        answers.append(await create(client))
    assert sorted(r.status_code for r in answers) == [200, 202, 400, 401, 403, 404, 500]
    for response in answers:
        assert all(name in response.headers for name in RATE_HEADERS), response.status_code


async def test_an_injected_500_has_the_vendors_body_and_creates_nothing(sandbox):
    """error_rate=1 answers 500 INTERNAL_ERROR; the create was not processed nor counted."""
    sandbox.faults = Faults(error_rate=1.0)
    async with connect(sandbox) as client:
        response = await create(client)
    assert response.status_code == 500
    assert response.json() == {"message": "Internal server error", "code": "INTERNAL_ERROR"}
    assert response.headers["ratelimit-remaining"] == "30"
    assert sandbox.jobs == {}


async def test_a_malformed_answer_is_a_200_nobody_can_parse(sandbox):
    """malformed_rate=1 turns a poll's answer into an unreadable 200."""
    async with connect(sandbox) as client:
        job_id = (await create(client)).json()["jobId"]
        sandbox.faults.malformed_rate = 1.0
        response = await client.get(f"{COURSES}/jobs/{job_id}")
    assert response.status_code == 200
    with pytest.raises(ValueError):  # noqa: PT011 - any decoding error will do
        response.json()


# -- odds and ends -------------------------------------------------------------------------


async def test_unknown_routes_and_methods_answer_in_the_vendors_error_shape(sandbox):
    """An unknown path is 404 NOT_FOUND and a wrong method 405, both as {message, code} JSON."""
    async with connect(sandbox) as client:
        missing = await client.get("/api/v1/lessons")
        wrong = await client.delete(COURSES)
    assert missing.status_code == 404
    assert missing.json()["code"] == "NOT_FOUND"
    assert wrong.status_code == 405
    assert set(wrong.json()) == {"message", "code"}


async def test_keys_never_reach_the_request_log(sandbox):
    """The request log keeps no Authorization header: no key can leak from a test report."""
    async with connect(sandbox) as client:
        await create(client)
        await client.get(f"{COURSES}/jobs/nope")
    assert len(sandbox.requests) == 2
    assert DEMO_KEY not in repr(sandbox.requests)
    assert all("authorization" not in r.headers for r in sandbox.requests)


def test_make_sandbox_builds_the_simulator_with_options():
    """make_sandbox(**options) is the factory the plugin registers."""
    sandbox = make_sandbox(speed=50.0, seed=9, failure_rate=0.5)
    assert isinstance(sandbox, LearningStudioSandbox)
    assert (sandbox.name, sandbox.base_url) == ("learningstudio", "https://learningstudioai.com")
    assert (sandbox.speed, sandbox.seed, sandbox.failure_rate) == (50.0, 9, 0.5)
    assert sandbox.demo_key == DEMO_KEY
    assert sandbox.accounts[DEMO_KEY].paid


def test_options_are_validated():
    """Impossible options are refused up front, and the vendor cannot cancel or expire jobs."""
    with pytest.raises(ValueError, match="failure_rate"):
        LearningStudioSandbox(failure_rate=2)
    with pytest.raises(ValueError, match="job_duration"):
        LearningStudioSandbox(job_duration=(120, 60))
    with pytest.raises(ValueError, match="cannot cancel"):
        LearningStudioSandbox().script(JobScript("cancel"))


async def test_minutes_of_vendor_time_take_almost_no_real_time(sandbox):
    """Following five 60-120 s jobs at a 5 s cadence takes well under two seconds of real time."""
    real = time.perf_counter()
    async with connect(sandbox) as client:
        ids = [(await create(client)).json()["jobId"] for _ in range(5)]
        for job_id in ids:
            seen = await follow(sandbox, client, job_id)
            assert seen[-1]["status"] == "completed"
    assert sandbox.vendor_now() >= 60
    assert time.perf_counter() - real < 2
