"""The LearningStudioAI adapter, fed canned `httpx.Response` objects: no network, no clock.

Fixture provenance (`fixtures/`): every example payload of the vendor's docs is a file,
unchanged in content. Seed 000 (GET job): `job_running`, `job_completed`, `job_failed`.
Seed 001 (POST create): `create_request` (the example body), `submit_accepted` (the 202).
Seed 004 (errors): `error_shape`, `error_paid_plan_required`,
`error_usage_limit_exceeded_plan`, `error_rate_limit_exceeded`. The docs show no example
export or webhook: `export_completed` and `webhook_*` follow the documented field lists
(VENDORS.md section 1) with the seed examples' values.
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from coursegen import (
    Adapter,
    AuthenticationError,
    Conflict,
    Course,
    CourseRequest,
    Exporter,
    ExportResult,
    InvalidRequest,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    NotFound,
    Operation,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimit,
    RateLimited,
    RateLimitState,
    Settings,
    WebhookReader,
)
from coursegen.testing import VendorFixtures, answer, sent_json
from coursegen_learningstudio import LearningStudio

FIXTURES = VendorFixtures(Path(__file__).parent / "fixtures")
KEY = "ls_live_4f9b2c7d1e8a6f30"
BASE = "https://learningstudioai.com"
JOB_ID = "8aF2k...Xq"


def make_adapter(base_url: str = BASE, api_key: str | None = KEY) -> LearningStudio:
    settings = Settings(provider="learningstudio", base_url=base_url, api_key=api_key)
    return LearningStudio.from_settings(settings)


@pytest.fixture
def adapter() -> LearningStudio:
    return make_adapter()


# ----------------------------------------------------------------------------- the class


def test_describes_the_vendor_in_class_attributes():
    """Name, base URL, variables, capabilities and policy are the documented ones."""
    assert LearningStudio.name == "learningstudio"
    assert LearningStudio.default_base_url == "https://learningstudioai.com"
    assert dict(LearningStudio.env_vars) == {"api_key": "LEARNINGSTUDIO_API_KEY"}
    caps = LearningStudio.capabilities
    assert caps.request_kinds == frozenset({CourseRequest})
    assert caps.request_fields == frozenset(
        {"subject", "language", "format", "outline", "add_ons", "callback_url", "extra"}
    )
    assert caps.progress is True
    assert caps.webhooks is True
    assert caps.signed_webhooks is False
    assert caps.idempotent_submit is False
    assert caps.export_formats == ("scorm12", "scorm2004", "scorm2004_4")
    policy = LearningStudio.policy
    assert policy.min_interval == 5.0
    assert policy.interval == 5.0
    assert policy.job_timeout == 900.0
    assert dict(policy.rate_limits) == {
        Operation.SUBMIT: RateLimit(30, 60.0),
        Operation.POLL: RateLimit(120, 60.0),
        Operation.EXPORT: RateLimit(30, 60.0),
    }


def test_request_fields_exclude_what_the_vendor_lacks():
    """Level, lesson count, title, description and idempotency key are not claimed."""
    unsupported = {"level", "lesson_count", "title", "description", "idempotency_key"}
    assert not unsupported & LearningStudio.capabilities.request_fields


def test_implements_adapter_exporter_and_webhook_reader(adapter):
    """The instance satisfies all three runtime-checkable protocols."""
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter, Exporter)
    assert isinstance(adapter, WebhookReader)


def test_rate_scope_is_a_short_fingerprint_of_the_key(adapter):
    """The scope derives from the key's SHA-256, never shows the key, and differs per key."""
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert adapter.rate_scope == f"key-{digest[:16]}"
    assert KEY not in adapter.rate_scope
    assert make_adapter(api_key="ls_other").rate_scope != adapter.rate_scope
    assert make_adapter().rate_scope == adapter.rate_scope


# ----------------------------------------------------------------------------- submit


def test_submit_builds_the_seed_example_request(adapter):
    """The request of seed 001's curl example comes out with that exact JSON body."""
    request = adapter.submit(
        CourseRequest(
            subject="Workplace safety basics",
            format="classic",
            outline=("Hazards", "PPE", "Emergency procedures"),
            add_ons={"assessment"},
            callback_url="https://yourapp.com/hooks/learningstudio",
        )
    )
    assert request.method == "POST"
    assert request.url == "https://learningstudioai.com/api/v1/courses"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert sent_json(request) == FIXTURES.json("create_request")


def test_submit_leaves_unset_fields_out(adapter):
    """A subject alone sends only the subject: the vendor's defaults apply to the rest."""
    request = adapter.submit(CourseRequest(subject="Fire drills"))
    assert sent_json(request) == {"subject": "Fire drills"}


def test_submit_renames_language_and_sorts_add_ons(adapter):
    """`language` goes out as `languageId`; add-ons are sorted, so bodies are deterministic."""
    request = adapter.submit(
        CourseRequest(
            subject="Segurança no trabalho",
            language="pt-BR",
            format="onepage",
            add_ons={"wrapup", "agreement", "videos"},
        )
    )
    assert sent_json(request) == {
        "subject": "Segurança no trabalho",
        "format": "onepage",
        "languageId": "pt-BR",
        "addOns": ["agreement", "videos", "wrapup"],
    }


def test_submit_merges_extra_last(adapter):
    """`extra` keys are added to the body and win over the modelled fields."""
    request = adapter.submit(
        CourseRequest(
            subject="Ladders",
            format="classic",
            extra={"format": "onepage", "brandKitId": "bk_9", "addOns": ["articles"]},
        )
    )
    assert sent_json(request) == {
        "subject": "Ladders",
        "format": "onepage",
        "brandKitId": "bk_9",
        "addOns": ["articles"],
    }


def test_submit_refuses_extra_that_is_not_json(adapter):
    """An `extra` value JSON cannot carry is an InvalidRequest, not a TypeError."""
    with pytest.raises(InvalidRequest, match="not JSON-serializable"):
        adapter.submit(CourseRequest(subject="Ladders", extra={"when": object()}))


def test_submit_refuses_nan_in_extra(adapter):
    """NaN is not JSON: refused before sending rather than sent as an invalid body."""
    with pytest.raises(InvalidRequest):
        adapter.submit(CourseRequest(subject="Ladders", extra={"weight": float("nan")}))


def test_requests_keep_a_base_url_path_prefix():
    """A base behind a gateway path keeps its prefix for create, poll and export."""
    adapter = make_adapter(base_url="https://gateway.example/learningstudio/")
    assert adapter.submit(CourseRequest(subject="x")).url == (
        "https://gateway.example/learningstudio/api/v1/courses"
    )
    assert adapter.poll("job1").url == (
        "https://gateway.example/learningstudio/api/v1/courses/jobs/job1"
    )
    assert adapter.export("cou_1").url == (
        "https://gateway.example/learningstudio/api/v1/courses/cou_1/export"
    )


def test_subject_and_outline_at_their_limits_are_accepted(adapter):
    """200 characters of subject and 9 chapters are within the documented limits."""
    request = adapter.submit(
        CourseRequest(subject="s" * 200, outline=tuple(f"Chapter {n}" for n in range(9)))
    )
    assert len(sent_json(request)["outline"]) == 9


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (CourseRequest(subject=""), "subject must not be blank"),
        (CourseRequest(subject="   "), "subject must not be blank"),
        (CourseRequest(subject="s" * 201), "at most 200 characters (got 201)"),
        (
            CourseRequest(subject="x", outline=tuple(str(n) for n in range(10))),
            "at most 9 chapters (got 10)",
        ),
        (CourseRequest(subject="x", outline=("Hazards", " ")), "not chapter 2"),
        (CourseRequest(subject="x", add_ons={"quiz", "wrapup"}), "unknown add-ons quiz"),
        (CourseRequest(subject="x", format="slides"), "'onepage' or 'classic'"),
        (CourseRequest(subject="x", language=""), "language must not be blank"),
        (
            CourseRequest(subject="x", callback_url="http://yourapp.com/hook"),
            "must be an https:// URL",
        ),
        (CourseRequest(subject="x", callback_url="yourapp.com/hook"), "must be an https:// URL"),
    ],
)
def test_submit_validates_before_building_a_request(adapter, no_requests_built, request_, fragment):
    """Each invalid input raises InvalidRequest, with no vendor code, before any request."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.submit(request_)
    assert fragment in caught.value.message
    assert caught.value.provider == "learningstudio"
    assert caught.value.vendor_code is None
    assert caught.value.status_code is None


def test_submit_reports_every_problem_at_once(adapter, no_requests_built):
    """Several problems come back in one message, so one round of fixes suffices."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.submit(CourseRequest(subject="", format="slides", add_ons={"quiz"}))
    message = caught.value.message
    assert "subject" in message
    assert "format" in message
    assert "quiz" in message


# ----------------------------------------------------------------------------- created


def test_read_submitted_seed_202(adapter):
    """Seed 001's 202 body is a PENDING snapshot of that job."""
    snapshot = adapter.read_submitted(FIXTURES.response(202, "submit_accepted"))
    assert snapshot.job_id == JOB_ID
    assert snapshot.provider == "learningstudio"
    assert snapshot.status is JobStatus.PENDING
    assert snapshot.vendor_status == "pending"
    assert snapshot.progress is None
    assert snapshot.result is None
    assert snapshot.error is None
    assert snapshot.poll_after is None
    assert snapshot.cost is None
    assert snapshot.observed_at is None
    assert snapshot.raw == FIXTURES.json("submit_accepted")


@pytest.mark.parametrize("status", [200, 201])
def test_read_submitted_accepts_200_and_201(adapter, status):
    """A 200 or 201 create answer reads like the documented 202."""
    snapshot = adapter.read_submitted(FIXTURES.response(status, "submit_accepted"))
    assert snapshot.job_id == JOB_ID
    assert snapshot.status is JobStatus.PENDING


def test_read_submitted_accepts_an_absolute_poll_url_on_the_configured_host(adapter):
    """An absolute pollUrl on our own origin is fine."""
    body = {"jobId": "j1", "status": "pending", "pollUrl": f"{BASE}/api/v1/courses/jobs/j1"}
    assert adapter.read_submitted(answer(202, body)).job_id == "j1"


@pytest.mark.parametrize(
    "poll_url",
    [
        "https://evil.example/api/v1/courses/jobs/j1",
        "//evil.example/api/v1/courses/jobs/j1",
        "http://learningstudioai.com/api/v1/courses/jobs/j1",
        "https://learningstudioai.com:8443/api/v1/courses/jobs/j1",
    ],
)
def test_read_submitted_refuses_a_poll_url_on_another_origin(adapter, poll_url):
    """A pollUrl naming another host, scheme or port is MalformedResponse, raw attached."""
    response = answer(202, {"jobId": "j1", "status": "pending", "pollUrl": poll_url})
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_submitted(response)
    assert "pollUrl" in caught.value.message
    assert caught.value.raw == response.text
    assert caught.value.status_code == 202


def test_read_submitted_refuses_a_body_without_job_id(adapter):
    """A create answer without `jobId` is MalformedResponse naming the field."""
    response = answer(202, {"status": "pending"})
    with pytest.raises(MalformedResponse, match=r"\$\.jobId"):
        adapter.read_submitted(response)


# ----------------------------------------------------------------------------- poll


def test_poll_builds_the_documented_get(adapter):
    """GET /api/v1/courses/jobs/:jobId with the bearer key and no body."""
    request = adapter.poll(JOB_ID)
    assert request.method == "GET"
    assert request.url == f"https://learningstudioai.com/api/v1/courses/jobs/{JOB_ID}"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Accept"] == "application/json"
    assert request.content == b""


def test_poll_quotes_the_job_id(adapter):
    """A job id with `/`, `?` or spaces stays one path segment."""
    request = adapter.poll("a/b c?d")
    assert request.url.raw_path == b"/api/v1/courses/jobs/a%2Fb%20c%3Fd"


def test_poll_refuses_an_empty_job_id(adapter):
    """An empty job id would poll the collection: InvalidRequest instead."""
    with pytest.raises(InvalidRequest):
        adapter.poll("")


def test_read_snapshot_seed_running(adapter):
    """Seed 000's running body: RUNNING at 42 %, no result, no error."""
    snapshot = adapter.read_snapshot(JOB_ID, FIXTURES.response(200, "job_running"))
    assert snapshot.job_id == JOB_ID
    assert snapshot.provider == "learningstudio"
    assert snapshot.status is JobStatus.RUNNING
    assert snapshot.vendor_status == "running"
    assert snapshot.progress == pytest.approx(0.42)
    assert snapshot.result is None
    assert snapshot.error is None
    assert snapshot.poll_after is None
    assert snapshot.cost is None
    assert snapshot.raw == FIXTURES.json("job_running")


def test_read_snapshot_seed_completed(adapter):
    """Seed 000's completed body: SUCCEEDED at 100 %, its course mapped field by field."""
    snapshot = adapter.read_snapshot(JOB_ID, FIXTURES.response(200, "job_completed"))
    assert snapshot.status is JobStatus.SUCCEEDED
    assert snapshot.vendor_status == "completed"
    assert snapshot.progress == 1.0
    assert snapshot.error is None
    assert snapshot.cost is None
    assert snapshot.raw == FIXTURES.json("job_completed")
    course = snapshot.result
    assert isinstance(course, Course)
    assert course.id == "cou_abc123"
    assert course.title == "Workplace Safety Basics"
    assert course.description == "A practical guide for new hires"
    assert course.format == "classic"
    assert course.language == "en-US"
    assert course.share_url == "https://learningstudioai.com/go/cou_abc123"
    assert course.preview_url is None
    assert course.public_url is None
    assert course.created_at == datetime(2026, 4, 28, 17, 14, 8, tzinfo=UTC)
    assert course.chapters == ()
    assert course.lessons == ()
    assert dict(course.extra) == {}


def test_read_snapshot_seed_failed(adapter):
    """Seed 000's failed body: FAILED, with the vendor's message and code."""
    snapshot = adapter.read_snapshot(JOB_ID, FIXTURES.response(200, "job_failed"))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.vendor_status == "failed"
    assert snapshot.progress == 0.0
    assert snapshot.result is None
    assert snapshot.error == JobErrorInfo(
        message="Course outline could not be generated for this subject.",
        code="GENERATION_FAILED",
    )
    assert snapshot.raw == FIXTURES.json("job_failed")


def test_read_snapshot_failed_without_code(adapter):
    """`error.code` is best-effort: without it the error's code is None."""
    body = {"jobId": "j1", "status": "failed", "progress": 0, "course": None}
    body["error"] = {"message": "Generation failed"}
    snapshot = adapter.read_snapshot("j1", answer(200, body))
    assert snapshot.error == JobErrorInfo(message="Generation failed", code=None)


def test_read_snapshot_pending(adapter):
    """`pending` is PENDING."""
    body = {"jobId": "j1", "status": "pending", "progress": 0, "course": None}
    snapshot = adapter.read_snapshot("j1", answer(200, body))
    assert snapshot.status is JobStatus.PENDING
    assert snapshot.progress == 0.0


@pytest.mark.parametrize("word", ["queued_for_review", "cancelled", ""])
def test_read_snapshot_unknown_status_is_running(adapter, word):
    """A status word we do not know reads as RUNNING and is kept in vendor_status."""
    body = {"jobId": "j1", "status": word, "progress": 10, "course": None}
    snapshot = adapter.read_snapshot("j1", answer(200, body))
    assert snapshot.status is JobStatus.RUNNING
    assert snapshot.vendor_status == word


@pytest.mark.parametrize(("percent", "fraction"), [(150, 1.0), (-5, 0.0), (12.5, 0.125)])
def test_read_snapshot_clamps_progress(adapter, percent, fraction):
    """Progress is percent / 100, clamped to 0..1."""
    body = {"jobId": "j1", "status": "running", "progress": percent, "course": None}
    assert adapter.read_snapshot("j1", answer(200, body)).progress == fraction


def test_read_snapshot_without_progress(adapter):
    """A body without `progress` has progress None rather than an error."""
    body = {"jobId": "j1", "status": "running"}
    assert adapter.read_snapshot("j1", answer(200, body)).progress is None


def test_read_snapshot_keeps_unknown_course_keys_in_extra(adapter):
    """Course keys the vendor adds later land in Course.extra; nothing is lost."""
    body = FIXTURES.json("job_completed")
    body["course"]["lessonCount"] = 12
    body["course"]["thumbnailUrl"] = "https://cdn.example/t.png"
    body["estimatedMinutes"] = 3  # a top-level addition is tolerated too
    course = adapter.read_snapshot(JOB_ID, answer(200, body)).result
    assert isinstance(course, Course)
    assert dict(course.extra) == {"lessonCount": 12, "thumbnailUrl": "https://cdn.example/t.png"}


def test_read_snapshot_completed_without_course_is_malformed(adapter):
    """`completed` with `course: null` cannot give a result: MalformedResponse, raw attached."""
    response = answer(200, {"jobId": "j1", "status": "completed", "progress": 100})
    with pytest.raises(MalformedResponse, match="course is null") as caught:
        adapter.read_snapshot("j1", response)
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200


def test_read_snapshot_about_another_job_is_malformed(adapter):
    """A body about another job than the one polled is refused."""
    with pytest.raises(MalformedResponse, match="the answer is about job"):
        adapter.read_snapshot("other", FIXTURES.response(200, "job_running"))


@pytest.mark.parametrize(
    ("body", "path"),
    [
        ({"status": "running", "progress": 5}, "$.jobId"),
        ({"jobId": None, "status": "running"}, "$.jobId"),
        ({"jobId": 7, "status": "running"}, "$.jobId"),
        ({"jobId": "j1"}, "$.status"),
        ({"jobId": "j1", "status": "running", "progress": "half"}, "$.progress"),
        ({"jobId": "j1", "status": "running", "course": "cou_1"}, "$.course"),
        ({"jobId": "j1", "status": "completed", "course": {"name": "x"}}, "$.course.id"),
        (
            {
                "jobId": "j1",
                "status": "completed",
                "course": {"id": "c", "name": "x", "createdAt": 5},
            },
            "$.course.createdAt",
        ),
        ({"jobId": "j1", "status": "failed", "error": {"code": "X"}}, "$.error.message"),
        (["j1", "running"], "$"),
    ],
)
def test_read_snapshot_wrong_shape_is_malformed(adapter, body, path):
    """A JSON body of the wrong shape is MalformedResponse naming the field; raw attached."""
    response = answer(200, body)
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot("j1", response)
    assert f"@ {path}" in caught.value.message
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"", "application/json"),
        (b'{"jobId": "j1", "status": "runn', "application/json"),
        (b"\xff\xfe\xfa", "application/json"),
    ],
)
def test_read_snapshot_non_json_is_malformed(adapter, content, content_type):
    """An HTML, empty, truncated or undecodable body is MalformedResponse with raw."""
    response = httpx.Response(200, content=content, headers={"Content-Type": content_type})
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot("j1", response)
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200
    assert caught.value.provider == "learningstudio"


# ----------------------------------------------------------------------------- errors


@pytest.mark.parametrize(
    ("status", "fixture", "expected"),
    [
        (
            403,
            "error_paid_plan_required",
            (PermissionDenied, "PAID_PLAN_REQUIRED", "API access requires a paid plan"),
        ),
        (
            403,
            "error_usage_limit_exceeded_plan",
            (
                QuotaExceeded,
                "USAGE_LIMIT_EXCEEDED_PLAN",
                "Usage limit exceeded for your plan (Pro)",
            ),
        ),
        (
            429,
            "error_rate_limit_exceeded",
            (RateLimited, "RATE_LIMIT_EXCEEDED", "Too many requests"),
        ),
        (
            400,
            "error_shape",
            (InvalidRequest, "MACHINE_READABLE_CODE", "Human-readable description"),
        ),
    ],
)
def test_read_error_seed_examples(adapter, status, fixture, expected):
    """Each error example of seed 004 reads as its typed error, field by field."""
    error_class, code, message = expected
    response = FIXTURES.response(status, fixture)
    error = adapter.read_error(response)
    assert type(error) is error_class
    assert error.message == message
    assert error.vendor_code == code
    assert error.status_code == status
    assert error.provider == "learningstudio"
    assert error.raw == FIXTURES.bytes(fixture).decode()


@pytest.mark.parametrize(
    ("status", "code", "error_class"),
    [
        (400, "VALIDATION_ERROR", InvalidRequest),
        (401, "INVALID_API_KEY", AuthenticationError),
        (403, "PAID_PLAN_REQUIRED", PermissionDenied),
        (403, "USAGE_LIMIT_EXCEEDED_PLAN", QuotaExceeded),
        (404, "NOT_FOUND", NotFound),
        (429, "RATE_LIMIT_EXCEEDED", RateLimited),
        (500, "INTERNAL_ERROR", ProviderUnavailable),
    ],
)
def test_read_error_every_documented_status(adapter, status, code, error_class):
    """Every row of seed 004's status table gives the documented exception, raw attached."""
    response = answer(status, {"message": "Human-readable description", "code": code})
    error = adapter.read_error(response)
    assert type(error) is error_class
    assert error.vendor_code == code
    assert error.status_code == status
    assert error.raw == response.text


def test_read_error_code_wins_over_status(adapter):
    """The vendor's code classifies first: a quota code on a 400 is still QuotaExceeded."""
    response = answer(400, {"message": "out", "code": "USAGE_LIMIT_EXCEEDED_PLAN"})
    assert type(adapter.read_error(response)) is QuotaExceeded


@pytest.mark.parametrize(
    ("status", "error_class"),
    [(403, PermissionDenied), (409, Conflict), (418, ProviderError), (503, ProviderUnavailable)],
)
def test_read_error_unknown_code_goes_by_status(adapter, status, error_class):
    """An undocumented code is classified by the HTTP status."""
    response = answer(status, {"message": "m", "code": "SOMETHING_NEW"})
    error = adapter.read_error(response)
    assert type(error) is error_class
    assert error.vendor_code == "SOMETHING_NEW"


def test_read_error_non_json_body_gives_the_status_error(adapter):
    """A proxy's plain-text 502 is ProviderUnavailable with the text as raw."""
    response = httpx.Response(502, text="Bad gateway", headers={"Content-Type": "text/plain"})
    error = adapter.read_error(response)
    assert type(error) is ProviderUnavailable
    assert error.status_code == 502
    assert error.vendor_code is None
    assert error.raw == "Bad gateway"
    assert error.message == "HTTP 502 Bad Gateway, without a LearningStudioAI error message"


def test_read_error_keeps_a_code_from_an_odd_shape(adapter):
    """A JSON error body with a code but no message still classifies by the code."""
    response = answer(403, {"code": "USAGE_LIMIT_EXCEEDED_PLAN"})
    error = adapter.read_error(response)
    assert type(error) is QuotaExceeded
    assert error.vendor_code == "USAGE_LIMIT_EXCEEDED_PLAN"
    assert error.raw == response.text


def test_rate_limited_retry_after_from_retry_after_header(adapter):
    """`Retry-After` sets `retry_after`, and wins over `RateLimit-Reset`."""
    headers = {"Retry-After": "7", "RateLimit-Reset": "30"}
    error = adapter.read_error(FIXTURES.response(429, "error_rate_limit_exceeded", headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 7.0


def test_rate_limited_retry_after_from_rate_limit_reset(adapter):
    """Without `Retry-After`, the documented `RateLimit-Reset` gives `retry_after`."""
    headers = {"RateLimit-Limit": "120", "RateLimit-Remaining": "0", "RateLimit-Reset": "12"}
    error = adapter.read_error(FIXTURES.response(429, "error_rate_limit_exceeded", headers))
    assert isinstance(error, RateLimited)
    assert error.retry_after == 12.0


def test_rate_limited_without_hint(adapter):
    """Without any header, `retry_after` is None."""
    error = adapter.read_error(FIXTURES.response(429, "error_rate_limit_exceeded"))
    assert isinstance(error, RateLimited)
    assert error.retry_after is None


def test_rate_limited_non_json_body(adapter):
    """A plain-text 429 is still RateLimited, with the header's hint."""
    response = httpx.Response(429, text="slow down", headers={"Retry-After": "3"})
    error = adapter.read_error(response)
    assert isinstance(error, RateLimited)
    assert error.retry_after == 3.0
    assert error.raw == "slow down"


def test_read_error_never_shows_the_key(adapter):
    """A message echoing the key (a misbehaving proxy) has it masked in every rendering."""
    response = answer(401, {"message": f"Bad key {KEY}", "code": "INVALID_API_KEY"})
    error = adapter.read_error(response)
    assert KEY not in error.message
    assert KEY not in str(error)
    assert KEY not in repr(error)
    assert "********" in error.message


def test_read_rate_limit_headers(adapter):
    """The documented RateLimit-* headers become a RateLimitState; Reset is relative."""
    headers = {"RateLimit-Limit": "120", "RateLimit-Remaining": "117", "RateLimit-Reset": "42"}
    response = FIXTURES.response(200, "job_running", headers)
    assert adapter.read_rate_limit(response) == RateLimitState(
        remaining=117, reset_after=42.0, limit=120
    )


def test_read_rate_limit_without_headers(adapter):
    """A response without the headers gives None."""
    assert adapter.read_rate_limit(FIXTURES.response(200, "job_running")) is None


# ----------------------------------------------------------------------------- export


def test_export_defaults_to_scorm12(adapter):
    """POST /api/v1/courses/:id/export sends format scorm12 when none is asked."""
    request = adapter.export("cou_abc123")
    assert request.method == "POST"
    assert request.url == "https://learningstudioai.com/api/v1/courses/cou_abc123/export"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert sent_json(request) == {"format": "scorm12"}


def test_export_with_format_and_callback(adapter):
    """An explicit format and an HTTPS callback are sent as `format` and `callbackUrl`."""
    request = adapter.export("cou/1", "scorm2004_4", "https://yourapp.com/hooks/export")
    assert request.url.raw_path == b"/api/v1/courses/cou%2F1/export"
    assert sent_json(request) == {
        "format": "scorm2004_4",
        "callbackUrl": "https://yourapp.com/hooks/export",
    }


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (("cou_1", "xapi"), "export format must be one of scorm12, scorm2004, scorm2004_4"),
        (("cou_1", None, "http://yourapp.com/hook"), "https://"),
        (("",), "course id must not be empty"),
    ],
)
def test_export_validates_before_building_a_request(adapter, no_requests_built, args, fragment):
    """Unknown formats, plain-HTTP callbacks and empty ids are refused before sending."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.export(*args)
    assert fragment in caught.value.message
    assert caught.value.vendor_code is None


def test_read_export(adapter):
    """The export answer becomes an ExportResult, field by field."""
    result = adapter.read_export(FIXTURES.response(200, "export_completed"))
    assert result == ExportResult(
        course_id="cou_abc123",
        format="scorm12",
        download_url="https://learningstudioai.com/exports/cou_abc123-scorm12.zip",
        share_url="https://learningstudioai.com/go/cou_abc123",
        exported_at=datetime(2026, 4, 28, 17, 20, 31, tzinfo=UTC),
    )


def test_read_export_wrong_shape_is_malformed(adapter):
    """An export answer without `downloadUrl` is MalformedResponse naming it."""
    response = answer(200, {"courseId": "cou_1", "format": "scorm12"})
    with pytest.raises(MalformedResponse, match=r"\$\.downloadUrl") as caught:
        adapter.read_export(response)
    assert caught.value.raw == response.text


# ----------------------------------------------------------------------------- webhooks


def test_webhook_course_created(adapter):
    """`course.created` is an unverified SUCCEEDED snapshot holding the partial course."""
    event = adapter.read_webhook({}, FIXTURES.bytes("webhook_course_created"))
    assert event.provider == "learningstudio"
    assert event.kind == "course.created"
    assert event.job_id == JOB_ID
    assert event.verified is False
    assert event.export is None
    assert event.raw == FIXTURES.json("webhook_course_created")
    snapshot = event.snapshot
    assert snapshot is not None
    assert snapshot.job_id == JOB_ID
    assert snapshot.status is JobStatus.SUCCEEDED
    assert snapshot.vendor_status == "course.created"
    assert snapshot.error is None
    assert snapshot.result == Course(
        id="cou_abc123",
        title="Workplace Safety Basics",
        description="A practical guide for new hires",
        share_url="https://learningstudioai.com/go/cou_abc123",
        created_at=datetime(2026, 4, 28, 17, 14, 8, tzinfo=UTC),
    )


def test_webhook_course_failed(adapter):
    """`course.failed` is an unverified FAILED snapshot; a missing code is None."""
    event = adapter.read_webhook({}, FIXTURES.bytes("webhook_course_failed"))
    assert event.kind == "course.failed"
    assert event.job_id == JOB_ID
    assert event.verified is False
    snapshot = event.snapshot
    assert snapshot is not None
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.result is None
    assert snapshot.error == JobErrorInfo(
        message="Course outline could not be generated for this subject.", code=None
    )


def test_webhook_course_exported(adapter):
    """`course.exported` carries an ExportResult and no job."""
    event = adapter.read_webhook({}, FIXTURES.bytes("webhook_course_exported"))
    assert event.kind == "course.exported"
    assert event.job_id is None
    assert event.snapshot is None
    assert event.verified is False
    assert event.export == ExportResult(
        course_id="cou_abc123",
        format="scorm2004",
        download_url="https://learningstudioai.com/exports/cou_abc123-scorm2004.zip",
        share_url="https://learningstudioai.com/go/cou_abc123",
        exported_at=datetime(2026, 4, 28, 17, 20, 31, tzinfo=UTC),
    )


def test_webhook_is_never_verified_whatever_the_headers(adapter):
    """The vendor does not sign: a signature-looking header verifies nothing."""
    headers = {"X-Signature": "sha256=deadbeef"}
    event = adapter.read_webhook(headers, FIXTURES.bytes("webhook_course_created"))
    assert event.verified is False


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b'{"event": "course.deleted", "jobId": "j1"}', "unknown webhook event 'course.deleted'"),
        (b'{"jobId": "j1"}', "no event name"),
        (b"[1, 2]", "no event name"),
        (b"<html>oops</html>", "non-JSON"),
        (b'{"event": "course.created", "jobId": "j1"}', "$.course"),
    ],
)
def test_webhook_unreadable_is_malformed(adapter, body, fragment):
    """Unknown events, missing names, non-JSON and wrong shapes are MalformedResponse."""
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_webhook({}, body)
    assert fragment in caught.value.message
    assert caught.value.raw == body.decode()
