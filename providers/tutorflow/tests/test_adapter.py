"""The TutorFlow adapter, fed canned `httpx.Response` objects: no network, no clock.

Fixture provenance (`fixtures/`): seed 002's two example responses are files, unchanged
in content: `course_completed` (Example Response (Completed)) and `course_pending`
(Example Response (Pending)). The docs show no error, webhook or public-page example:
`error_envelope` follows the documented envelope `{"error": {"code", "message",
"status"}}`, and `webhook_course_deployed` / `webhook_course_completed` wrap the seed's
CourseResDto (the latter turned FAILED) in `{event, workspaceId, createdAt, data}`, the
shape our simulator sends.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest

from coursegen import (
    Adapter,
    AuthenticationError,
    Chapter,
    ConfigurationError,
    Conflict,
    Course,
    CourseRequest,
    InvalidRequest,
    JobErrorInfo,
    JobStatus,
    Lesson,
    MalformedResponse,
    Money,
    NotFound,
    Operation,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    PublicPages,
    QuotaExceeded,
    RateLimit,
    RateLimited,
    RateLimitState,
    Settings,
    WebhookReader,
    WebhookVerificationError,
)
from coursegen.testing import VendorFixtures, answer, sent_json
from coursegen_tutorflow import TutorFlow

FIXTURES = VendorFixtures(Path(__file__).parent / "fixtures")
KEY = "tf_platform_live_8c1d2e3f4a5b6c7d"
SECRET = "whsec_tutorflow_4e5f6a7b"
BASE = "https://api.tutorflow.io"
REQUEST_ID = "a1c2d3e4-f5g6-7h8i-9j0k-l1m2n3o4p5q6"
COURSE_ID = "c7d8e9f0-1a2b-3c4d-5e6f-7g8h9i0j1k2l"
SHARE_TOKEN = "b018172542f9a3c4d5e6f7890abcdef12345678"
DATE = "Tue, 24 Mar 2026 12:00:00 GMT"
DATE_UNIX = int(datetime(2026, 3, 24, 12, 0, tzinfo=UTC).timestamp())


def make_adapter(
    base_url: str = BASE,
    api_key: str | None = KEY,
    webhook_secret: str | None = SECRET,
    **options: Any,
) -> TutorFlow:
    settings = Settings(
        provider="tutorflow",
        base_url=base_url,
        api_key=api_key,
        webhook_secret=webhook_secret,
        options=options,
    )
    return TutorFlow.from_settings(settings)


@pytest.fixture
def adapter() -> TutorFlow:
    return make_adapter()


def sign(body: bytes, key: bytes) -> str:
    return hmac.new(key, body, hashlib.sha256).hexdigest()


# ----------------------------------------------------------------------------- the class


def test_describes_the_vendor_in_class_attributes():
    """Name, base URL, variables and capabilities are the documented ones."""
    assert TutorFlow.name == "tutorflow"
    assert TutorFlow.default_base_url == "https://api.tutorflow.io"
    assert dict(TutorFlow.env_vars) == {
        "api_key": "TUTORFLOW_API_KEY",
        "webhook_secret": "TUTORFLOW_WEBHOOK_SECRET",
    }
    caps = TutorFlow.capabilities
    assert caps.request_kinds == frozenset({CourseRequest})
    assert caps.request_fields == frozenset(
        {
            "subject",
            "title",
            "description",
            "language",
            "level",
            "lesson_count",
            "idempotency_key",
            "extra",
        }
    )
    assert caps.idempotent_submit is True
    assert caps.progress is False
    assert caps.cost is True
    assert caps.webhooks is True
    assert caps.signed_webhooks is True
    assert caps.public_pages is True
    assert caps.export_formats == ()


def test_request_fields_leave_out_what_the_vendor_lacks():
    """Outline, format, add-ons and a per-request callback URL are not claimed."""
    lacking = {"outline", "format", "add_ons", "callback_url"}
    assert not lacking & TutorFlow.capabilities.request_fields


def test_default_policy_is_one_workspace_pool_of_60_a_minute(adapter):
    """Creates and polls share one 60/min pool named `workspace`; public pages are free."""
    policy = adapter.policy
    assert policy.min_interval == 1.0
    assert policy.interval == 3.0
    assert policy.job_timeout == 1800.0
    shared = RateLimit(60, 60.0, pool="workspace")
    assert dict(policy.rate_limits) == {Operation.SUBMIT: shared, Operation.POLL: shared}
    assert Operation.PUBLIC not in policy.rate_limits


@pytest.mark.parametrize("setting", [1000, "1000", " 1000 "])
def test_rate_limit_setting_builds_the_policy_per_instance(setting):
    """`rate_limit=1000` (a production plan), even as text from the environment."""
    adapter = make_adapter(rate_limit=setting)
    limits = adapter.policy.rate_limits
    assert limits[Operation.SUBMIT] == RateLimit(1000, 60.0, pool="workspace")
    assert limits[Operation.POLL] is limits[Operation.SUBMIT]
    assert make_adapter().policy.rate_limits[Operation.POLL].limit == 60


@pytest.mark.parametrize("setting", [0, -5, "lots", "", True, 2.5])
def test_a_bad_rate_limit_setting_is_a_configuration_error(setting):
    """Anything but a positive whole number of requests per minute is refused."""
    with pytest.raises(ConfigurationError, match="rate_limit"):
        make_adapter(rate_limit=setting)


@pytest.mark.parametrize("name", ["workspace", "tier", "classroom_id"])
def test_text_settings_must_be_non_empty_strings(name):
    """`workspace`, `tier` and `classroom_id` refuse blanks and non-strings."""
    for value in ("", "  ", 7):
        with pytest.raises(ConfigurationError, match=name):
            make_adapter(**{name: value})


def test_implements_adapter_webhook_reader_and_public_pages(adapter):
    """The instance satisfies the three runtime-checkable protocols it claims."""
    assert isinstance(adapter, Adapter)
    assert isinstance(adapter, WebhookReader)
    assert isinstance(adapter, PublicPages)


def test_rate_scope_is_the_workspace_or_else_a_key_fingerprint(adapter):
    """With `workspace` every key of it shares one scope; without, a SHA-256 prefix of the key."""
    digest = hashlib.sha256(KEY.encode()).hexdigest()
    assert adapter.rate_scope == f"key-{digest[:16]}"
    assert KEY not in adapter.rate_scope
    assert make_adapter(api_key="tf_platform_other").rate_scope != adapter.rate_scope
    first = make_adapter(workspace="ws_8f2c41")
    second = make_adapter(api_key="tf_platform_other", workspace="ws_8f2c41")
    assert first.rate_scope == second.rate_scope == "workspace-ws_8f2c41"


def test_repr_shows_neither_key_nor_secret(adapter):
    """The API key and the webhook secret are left out of the adapter's repr."""
    assert KEY not in repr(adapter)
    assert SECRET not in repr(adapter)


# ----------------------------------------------------------------------------- submit


def test_submit_builds_the_async_create_with_both_idempotency_forms(adapter):
    """Every honoured field under its wire name, mode async, the key as header AND body."""
    request = adapter.submit(
        CourseRequest(
            subject="Python for absolute beginners",
            title="Python for Beginners",
            description="A beginner-friendly Python course.",
            language="en",
            level="beginner",
            lesson_count=6,
            idempotency_key="order-4711",
        )
    )
    assert request.method == "POST"
    assert request.url == "https://api.tutorflow.io/v1/platform/courses"
    assert request.headers["Authorization"] == f"Bearer {KEY}"
    assert request.headers["Content-Type"] == "application/json"
    assert request.headers["Accept"] == "application/json"
    assert request.headers["Idempotency-Key"] == "order-4711"
    assert sent_json(request) == {
        "prompt": "Python for absolute beginners",
        "title": "Python for Beginners",
        "description": "A beginner-friendly Python course.",
        "language": "en",
        "level": "beginner",
        "lessonCount": 6,
        "idempotencyKey": "order-4711",
        "mode": "async",
    }


def test_submit_leaves_unset_fields_out(adapter):
    """A subject alone sends the prompt and the mode: the vendor's defaults apply."""
    request = adapter.submit(CourseRequest(subject="Fire drills"))
    assert sent_json(request) == {"prompt": "Fire drills", "mode": "async"}
    assert "Idempotency-Key" not in request.headers


def test_submit_sends_tier_and_classroom_from_the_settings():
    """`tier` and `classroom_id` settings go with every create, as `tier` and `classroomId`."""
    adapter = make_adapter(tier="standard", classroom_id="cls_42")
    body = sent_json(adapter.submit(CourseRequest(subject="Knots")))
    assert body == {"prompt": "Knots", "tier": "standard", "classroomId": "cls_42", "mode": "async"}


def test_submit_merges_extra_last_unchanged():
    """`extra` reaches the body as given and wins over settings and modelled fields."""
    adapter = make_adapter(tier="standard")
    request = adapter.submit(
        CourseRequest(
            subject="Knots",
            level="advanced",
            extra={"tier": "advanced", "subject": "sailing", "mode": "sync", "x": [1, None]},
        )
    )
    assert sent_json(request) == {
        "prompt": "Knots",
        "level": "advanced",
        "tier": "advanced",
        "mode": "sync",
        "subject": "sailing",
        "x": [1, None],
    }


def test_an_idempotency_key_from_extra_moves_the_header_too(adapter):
    """Header and body never disagree: the header follows the body's final key."""
    request = adapter.submit(
        CourseRequest(subject="Knots", idempotency_key="a", extra={"idempotencyKey": "b"})
    )
    assert request.headers["Idempotency-Key"] == "b"
    assert sent_json(request)["idempotencyKey"] == "b"


@pytest.mark.parametrize("extra", [{"when": object()}, {"weight": float("nan")}])
def test_submit_refuses_extra_that_is_not_json(adapter, extra):
    """An `extra` value JSON cannot carry is an InvalidRequest, not a TypeError."""
    with pytest.raises(InvalidRequest, match="not JSON-serializable"):
        adapter.submit(CourseRequest(subject="Ladders", extra=extra))


@pytest.mark.parametrize(
    ("base_url", "expected"),
    [
        ("https://api.tutorflow.io", "https://api.tutorflow.io/v1/platform/courses"),
        ("https://api.tutorflow.io/", "https://api.tutorflow.io/v1/platform/courses"),
        ("https://api.tutorflow.io/v1/platform", "https://api.tutorflow.io/v1/platform/courses"),
        ("https://api.tutorflow.io/v1/platform/", "https://api.tutorflow.io/v1/platform/courses"),
        ("https://gw.example/tutorflow", "https://gw.example/tutorflow/v1/platform/courses"),
        (
            "https://gw.example/tutorflow/v1/platform",
            "https://gw.example/tutorflow/v1/platform/courses",
        ),
        ("http://127.0.0.1:8000", "http://127.0.0.1:8000/v1/platform/courses"),
    ],
)
def test_paths_work_whichever_way_the_base_is_written(base_url, expected):
    """With or without `/v1/platform`, behind a gateway prefix or on loopback: one path."""
    adapter = make_adapter(base_url=base_url)
    assert str(adapter.submit(CourseRequest(subject="x")).url) == expected
    assert str(adapter.poll("r1").url) == f"{expected}/r1"
    assert str(adapter.public_course("tok").url) == f"{expected}/public/tok"


def test_ids_and_tokens_are_quoted_into_one_path_segment(adapter):
    """A slash in an id cannot reach another endpoint."""
    assert adapter.poll("a/b").url.raw_path == b"/v1/platform/courses/a%2Fb"
    assert adapter.public_lesson("t/../x", 2).url.raw_path == (
        b"/v1/platform/courses/public/t%2F..%2Fx/lessons/2"
    )


@pytest.mark.parametrize(
    ("request_", "fragment"),
    [
        (CourseRequest(subject=""), "must not be blank"),
        (CourseRequest(subject="   "), "must not be blank"),
        (CourseRequest(subject="x", level="expert"), "level must be one of beginner"),
        (CourseRequest(subject="x", lesson_count=0), "lesson_count must be a whole number"),
        (CourseRequest(subject="x", lesson_count=51), "from 1 to 50"),
        (CourseRequest(subject="x", lesson_count=True), "lesson_count"),
        (CourseRequest(subject="x", language=""), "language must not be blank"),
        (CourseRequest(subject="x", title=" "), "title must not be blank"),
        (CourseRequest(subject="x", idempotency_key=""), "idempotency_key must not be blank"),
    ],
)
def test_submit_validates_before_building_a_request(adapter, no_requests_built, request_, fragment):
    """Each invalid input raises InvalidRequest, with no vendor code, before any request."""
    with pytest.raises(InvalidRequest) as caught:
        adapter.submit(request_)
    assert fragment in caught.value.message
    assert caught.value.provider == "tutorflow"
    assert caught.value.vendor_code is None
    assert caught.value.status_code is None


def test_lesson_counts_at_the_limits_are_accepted(adapter):
    """1 and 50 lessons are within the documented range."""
    for count in (1, 50):
        assert sent_json(adapter.submit(CourseRequest(subject="x", lesson_count=count)))[
            "lessonCount"
        ] == (count)


# ----------------------------------------------------------------------------- seed 002


def test_seed_pending_example_normalized_field_by_field(adapter):
    """Seed 002's pending example: RUNNING, 3 s hint, cost, no result, and no error."""
    snapshot = adapter.read_snapshot(REQUEST_ID, FIXTURES.response(200, "course_pending"))
    assert snapshot.job_id == REQUEST_ID
    assert snapshot.provider == "tutorflow"
    assert snapshot.status is JobStatus.RUNNING
    assert snapshot.vendor_status == "PROCESSING"
    assert snapshot.progress is None
    assert snapshot.result is None
    assert snapshot.error is None
    assert snapshot.poll_after == 3.0
    assert snapshot.cost == Money(Decimal("0.3"), "USD")
    assert isinstance(snapshot.cost.amount, Decimal)
    assert snapshot.observed_at is None
    assert snapshot.raw == FIXTURES.json("course_pending")


def test_seed_completed_example_normalized_field_by_field(adapter):
    """Seed 002's completed example: SUCCEEDED with every course field in its neutral place."""
    snapshot = adapter.read_snapshot(REQUEST_ID, FIXTURES.response(200, "course_completed"))
    assert snapshot.job_id == REQUEST_ID
    assert snapshot.provider == "tutorflow"
    assert snapshot.status is JobStatus.SUCCEEDED
    assert snapshot.vendor_status == "COMPLETED"
    assert snapshot.progress is None
    assert snapshot.error is None
    assert snapshot.poll_after is None
    assert snapshot.cost == Money(Decimal("0.3"), "USD")
    assert snapshot.raw == FIXTURES.json("course_completed")
    course = snapshot.result
    assert isinstance(course, Course)
    assert course.id == COURSE_ID
    assert course.title == "Python for Beginners"
    assert course.description == "A beginner-friendly Python course."
    assert course.language == "en"
    assert course.format is None
    assert course.chapters == (
        Chapter(
            title="Getting Started with Python",
            sequence=1,
            lesson_count=2,
            slug="getting-started-with-python-cf1710",
        ),
        Chapter(
            title="Control Flow and Functions",
            sequence=2,
            lesson_count=3,
            slug="control-flow-and-functions-253716",
        ),
    )
    assert course.lessons == (
        Lesson(
            title="Welcome to Python",
            sequence=1,
            type="ai-tutor",
            chapter_title="Getting Started with Python",
            url="https://tutorflow.io/en/platform/courses/b018.../lessons/1",
            content=None,
            extra={
                "chapterSlug": "getting-started-with-python-cf1710",
                "lessonSlug": "welcome-to-python-29ae64",
            },
        ),
    )
    public = "https://tutorflow.io/en/platform/courses/b018172542f9.../lessons/1"
    assert course.share_url == public
    assert course.public_url == public
    assert course.preview_url == "https://tutorflow.io/en/platform/courses/edit/9f3a..."
    assert course.created_at == datetime(2026, 3, 24, 12, 0, 15, tzinfo=UTC)  # completedAt
    assert dict(course.extra) == {
        "subject": None,
        "level": "beginner",
        "slug": "python-for-beginners-2e5ad6",
        "tier": "default",
        "mode": "sync",
        "hasQuiz": True,
        "hasPractice": True,
        "lessonCount": 1,
        "shareToken": SHARE_TOKEN,
        "thumbnailUrl": None,
        "createdAt": "2026-03-24T12:00:00.000Z",
    }


@pytest.mark.parametrize("status", [200, 201, 202])
def test_read_submitted_accepts_200_201_and_202(adapter, status):
    """The create's HTTP status is undocumented: any 2xx of these reads the same."""
    snapshot = adapter.read_submitted(FIXTURES.response(status, "course_pending"))
    assert snapshot.job_id == REQUEST_ID
    assert snapshot.status is JobStatus.RUNNING
    assert snapshot.poll_after == 3.0


def test_an_idempotent_replay_is_the_same_job(adapter):
    """`idempotentReplay: true` answers the original request: same id, same state."""
    first = adapter.read_submitted(FIXTURES.response(202, "course_pending"))
    body = FIXTURES.changed("course_pending", idempotencyKey="order-4711", idempotentReplay=True)
    replay = adapter.read_submitted(answer(200, body))
    assert replay.job_id == first.job_id
    assert replay.same_state(first)
    assert replay.raw["idempotentReplay"] is True


def test_a_sync_create_answer_is_a_finished_job(adapter):
    """A create answered in sync mode (through `extra`) is SUCCEEDED with its course."""
    snapshot = adapter.read_submitted(FIXTURES.response(201, "course_completed"))
    assert snapshot.status is JobStatus.SUCCEEDED
    assert isinstance(snapshot.result, Course)
    assert snapshot.result.id == COURSE_ID


# ----------------------------------------------------------------------------- statuses


@pytest.mark.parametrize(
    ("status", "terminal", "expected"),
    [
        ("PENDING", False, JobStatus.PENDING),
        ("PROCESSING", False, JobStatus.RUNNING),
        ("FAILED", True, JobStatus.FAILED),
        ("QUEUED", False, JobStatus.RUNNING),
        ("ARCHIVED", True, JobStatus.FAILED),
        ("PENDING", True, JobStatus.FAILED),
        ("COMPLETED", False, JobStatus.RUNNING),
        ("FAILED", False, JobStatus.RUNNING),
        ("PENDING", ..., JobStatus.PENDING),
        ("FAILED", ..., JobStatus.FAILED),
        ("REVIEWING", ..., JobStatus.RUNNING),
        ("REVIEWING", None, JobStatus.RUNNING),
        ("processing", False, JobStatus.RUNNING),
    ],
)
def test_status_words_and_is_terminal(adapter, status, terminal, expected):
    """`isTerminal`, when sent, decides whether the request is over; the word is kept."""
    body = FIXTURES.changed("course_pending", status=status, isTerminal=terminal)
    snapshot = adapter.read_snapshot(REQUEST_ID, answer(200, body))
    assert snapshot.status is expected
    assert snapshot.vendor_status == status
    assert (snapshot.poll_after is None) == expected.is_terminal


def test_a_terminal_unknown_status_ends_the_job_failed_saying_so(adapter):
    """isTerminal with a word we do not know is FAILED, the word in the message."""
    body = FIXTURES.changed("course_pending", status="ARCHIVED", isTerminal=True)
    snapshot = adapter.read_snapshot(REQUEST_ID, answer(200, body))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.vendor_status == "ARCHIVED"
    assert snapshot.error is not None
    assert "'ARCHIVED'" in snapshot.error.message
    assert snapshot.error.code is None
    assert snapshot.result is None


@pytest.mark.parametrize("terminal", [True, ...])
def test_completed_with_or_without_the_terminal_flag_succeeds(adapter, terminal):
    """COMPLETED is SUCCEEDED when isTerminal says so or says nothing."""
    body = FIXTURES.changed("course_completed", isTerminal=terminal)
    snapshot = adapter.read_snapshot(REQUEST_ID, answer(200, body))
    assert snapshot.status is JobStatus.SUCCEEDED


NO_REASON = "TutorFlow reports the course request FAILED (its API gives no reason)"


@pytest.mark.parametrize(
    ("error", "expected"),
    [
        (..., JobErrorInfo(NO_REASON)),
        ({"code": "POLICY", "message": "Refused."}, JobErrorInfo("Refused.", "POLICY")),
        ({"code": "X"}, JobErrorInfo(NO_REASON, "X")),
        ("Out of capacity", JobErrorInfo("Out of capacity")),
        (42, JobErrorInfo(NO_REASON)),
    ],
)
def test_a_failed_request_says_why_as_best_it_can(adapter, error, expected):
    """The docs give no failure reason: a default message, or an `error` if one is sent."""
    body = FIXTURES.changed("course_pending", status="FAILED", isTerminal=True, error=error)
    snapshot = adapter.read_snapshot(REQUEST_ID, answer(200, body))
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.error == expected


def test_completed_without_a_course_id_is_malformed(adapter):
    """A COMPLETED request naming no course is MalformedResponse with the raw body."""
    response = answer(200, FIXTURES.changed("course_completed", courseId=None))
    with pytest.raises(MalformedResponse, match="courseId") as caught:
        adapter.read_snapshot(REQUEST_ID, response)
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200


def test_a_completed_course_without_title_falls_back_to_its_slug(adapter):
    """A null title reads as the slug, never as an error."""
    body = FIXTURES.changed("course_completed", title=None)
    course = adapter.read_snapshot(REQUEST_ID, answer(200, body)).result
    assert isinstance(course, Course)
    assert course.title == "python-for-beginners-2e5ad6"


@pytest.mark.parametrize("hint", [None, ..., -5])
def test_a_missing_null_or_negative_hint_is_no_hint(adapter, hint):
    """pollAfterMs absent, null or negative leaves `poll_after` None."""
    body = FIXTURES.changed("course_pending", pollAfterMs=hint)
    assert adapter.read_snapshot(REQUEST_ID, answer(200, body)).poll_after is None


def test_a_fractional_hint_is_kept_in_seconds(adapter):
    """pollAfterMs 1500 is 1.5 s."""
    body = FIXTURES.changed("course_pending", pollAfterMs=1500)
    assert adapter.read_snapshot(REQUEST_ID, answer(200, body)).poll_after == 1.5


@pytest.mark.parametrize(
    ("price", "expected"),
    [
        ({"amountUsd": 0.3, "currency": "USD"}, Money(Decimal("0.3"), "USD")),
        ({"amountUsd": "1.25"}, Money(Decimal("1.25"), "USD")),
        ({"unitPrice": 0.05, "units": 7, "currency": "usd"}, Money(Decimal("0.35"), "USD")),
        ({"amountUsd": 2, "currency": "EUR"}, Money(Decimal(2), "EUR")),
        ({"category": "course"}, None),
        (None, None),
        (..., None),
    ],
)
def test_price_snapshot_becomes_money(adapter, price, expected):
    """`amountUsd` (else unitPrice x units) is an exact Decimal; no price is no cost."""
    body = FIXTURES.changed("course_pending", priceSnapshot=price)
    cost = adapter.read_snapshot(REQUEST_ID, answer(200, body)).cost
    assert cost == expected
    if cost is not None:
        assert isinstance(cost.amount, Decimal)


def test_read_snapshot_about_another_request_is_malformed(adapter):
    """A body about another request than the one polled is refused."""
    with pytest.raises(MalformedResponse, match="the answer is about"):
        adapter.read_snapshot("other", FIXTURES.response(200, "course_pending"))


@pytest.mark.parametrize(
    ("changes", "path"),
    [
        ({"id": ...}, "$.id"),
        ({"id": 7}, "$.id"),
        ({"status": ...}, "$.status"),
        ({"status": None}, "$.status"),
        ({"isTerminal": "no"}, "$.isTerminal"),
        ({"pollAfterMs": "3000"}, "$.pollAfterMs"),
        ({"priceSnapshot": {"amountUsd": "free"}}, "$.priceSnapshot.amountUsd"),
        ({"chapters": {"title": "x"}}, "$.chapters"),
        ({"lessons": [{"title": "x"}]}, "$.lessons[0].sequence"),
        ({"createdAt": 5}, "$.createdAt"),
    ],
)
def test_read_snapshot_wrong_shape_is_malformed(adapter, changes, path):
    """A JSON body of the wrong shape is MalformedResponse naming the field; raw attached."""
    response = answer(200, FIXTURES.changed("course_pending", **changes))
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot(REQUEST_ID, response)
    assert f"@ {path}" in caught.value.message
    assert caught.value.raw == response.text
    assert caught.value.status_code == 200


@pytest.mark.parametrize(
    ("content", "content_type"),
    [
        (b"<html><body>502 Bad Gateway</body></html>", "text/html"),
        (b"", "application/json"),
        (b'{"id": "r1", "status": "PEND', "application/json"),
        (b"[1, 2]", "application/json"),
        (b"\xff\xfe\xfa", "application/json"),
    ],
)
def test_read_snapshot_unreadable_is_malformed(adapter, content, content_type):
    """HTML, empty, truncated, a list, undecodable: MalformedResponse with raw, never KeyError."""
    response = httpx.Response(200, content=content, headers={"Content-Type": content_type})
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_snapshot("r1", response)
    assert caught.value.raw == response.text
    assert caught.value.provider == "tutorflow"


# ----------------------------------------------------------------------------- errors

EVERY_CODE = [
    (400, "platform_invalid_request", InvalidRequest),
    (401, "platform_invalid_api_key", AuthenticationError),
    (401, "platform_api_key_revoked", AuthenticationError),
    (401, "platform_api_key_expired", AuthenticationError),
    (402, "payment_required", QuotaExceeded),
    (402, "x402_payment_failed", QuotaExceeded),
    (402, "platform_insufficient_credits", QuotaExceeded),
    (403, "platform_forbidden", PermissionDenied),
    (403, "email_verification_required", PermissionDenied),
    (403, "free_credits_exhausted", QuotaExceeded),
    (403, "platform_workspace_suspended", PermissionDenied),
    (404, "platform_not_found", NotFound),
    (409, "platform_conflict", Conflict),
    (429, "platform_rate_limit_exceeded", RateLimited),
    (500, "platform_internal_error", ProviderUnavailable),
]


@pytest.mark.parametrize(("status", "code", "error_class"), EVERY_CODE)
def test_every_documented_code_is_its_exception_with_raw_attached(
    adapter, status, code, error_class
):
    """Each code of the docs' table gives its exception, code, status, message and raw."""
    body = {"error": {"code": code, "message": "Human-readable description", "status": status}}
    response = answer(status, body)
    error = adapter.read_error(response)
    assert type(error) is error_class
    assert error.vendor_code == code
    assert error.status_code == status
    assert error.message == "Human-readable description"
    assert error.provider == "tutorflow"
    assert error.raw == response.text
    assert json.loads(error.raw) == body


def test_the_error_fixture_reads_field_by_field(adapter):
    """The envelope example: QuotaExceeded with the vendor's code and message."""
    error = adapter.read_error(FIXTURES.response(402, "error_envelope"))
    assert type(error) is QuotaExceeded
    assert error.vendor_code == "platform_insufficient_credits"
    assert error.message == "Insufficient credits: this request costs $0.30, $0.10 left"
    assert error.raw == FIXTURES.bytes("error_envelope").decode()


def test_the_code_wins_over_the_status(adapter):
    """A 403 with free_credits_exhausted is QuotaExceeded, not PermissionDenied."""
    body = {"error": {"code": "free_credits_exhausted", "message": "m", "status": 403}}
    assert type(adapter.read_error(answer(403, body))) is QuotaExceeded


@pytest.mark.parametrize(
    ("status", "error_class"),
    [
        (400, InvalidRequest),
        (402, QuotaExceeded),
        (403, PermissionDenied),
        (418, ProviderError),
        (503, ProviderUnavailable),
    ],
)
def test_an_unknown_code_goes_by_status(adapter, status, error_class):
    """An undocumented code is classified by the HTTP status, the code kept."""
    body = {"error": {"code": "platform_something_new", "message": "m", "status": status}}
    error = adapter.read_error(answer(status, body))
    assert type(error) is error_class
    assert error.vendor_code == "platform_something_new"


def test_a_flat_error_body_is_read_too(adapter):
    """`{code, message}` without the envelope (a diverging copy of the docs) still classifies."""
    body = {"code": "platform_api_key_revoked", "message": "Revoked"}
    error = adapter.read_error(answer(401, body))
    assert type(error) is AuthenticationError
    assert (error.vendor_code, error.message) == ("platform_api_key_revoked", "Revoked")


def test_a_framework_default_error_is_read_by_status(adapter):
    """NestJS's own `{statusCode, message, error}` keeps its message, classified by status."""
    body = {"statusCode": 404, "message": "Cannot GET /v1/platform/nope", "error": "Not Found"}
    error = adapter.read_error(answer(404, body))
    assert type(error) is NotFound
    assert error.vendor_code is None
    assert error.message == "Cannot GET /v1/platform/nope"
    body = {"statusCode": 400, "message": ["prompt should not be empty", "x"], "error": "Bad"}
    assert adapter.read_error(answer(400, body)).message == "prompt should not be empty; x"


@pytest.mark.parametrize(
    "body",
    [
        b"Bad gateway",
        b"<html>502</html>",
        b"",
        b"[]",
        b'{"error": []}',
        b'{"error": {"code": 5, "message": null}}',
    ],
)
def test_a_non_envelope_error_body_gives_the_status_error_with_raw(adapter, body):
    """Plain text, HTML, empty, a list or a wrong-typed envelope: the status decides."""
    response = httpx.Response(502, content=body)
    error = adapter.read_error(response)
    assert type(error) is ProviderUnavailable
    assert error.status_code == 502
    assert error.vendor_code is None
    assert error.raw == response.text
    assert error.message == "HTTP 502 Bad Gateway, without a TutorFlow error message"


def rate_limited(headers: dict[str, str]) -> RateLimited:
    body = {"error": {"code": "platform_rate_limit_exceeded", "message": "Slow", "status": 429}}
    error = make_adapter().read_error(answer(429, body, headers))
    assert isinstance(error, RateLimited)
    return error


def test_retry_after_comes_from_the_absolute_reset_and_the_date():
    """`X-RateLimit-Reset` is a Unix time: 42 s after the response's Date is 42 s."""
    headers = {
        "Date": DATE,
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "0",
        "X-RateLimit-Reset": str(DATE_UNIX + 42),
    }
    assert rate_limited(headers).retry_after == 42.0


def test_retry_after_header_wins_and_a_reset_without_date_is_no_hint():
    """A `Retry-After` is taken first; an absolute reset without `Date` cannot be used."""
    assert rate_limited({"Retry-After": "7", "X-RateLimit-Reset": "99"}).retry_after == 7.0
    assert rate_limited({"X-RateLimit-Reset": str(DATE_UNIX + 42)}).retry_after is None
    assert rate_limited({}).retry_after is None


def test_read_rate_limit_reads_the_absolute_reset_against_the_date(adapter):
    """The X-RateLimit-* headers become a RateLimitState relative to now (the Date)."""
    headers = {
        "Date": DATE,
        "X-RateLimit-Limit": "60",
        "X-RateLimit-Remaining": "57",
        "X-RateLimit-Reset": str(DATE_UNIX + 18),
    }
    response = FIXTURES.response(200, "course_pending", headers)
    assert adapter.read_rate_limit(response) == RateLimitState(
        remaining=57, reset_after=18.0, limit=60
    )
    assert adapter.read_rate_limit(FIXTURES.response(200, "course_pending")) is None


def test_a_reset_in_the_past_is_zero(adapter):
    """A reset before the response's Date means the window already refilled."""
    headers = {"Date": DATE, "X-RateLimit-Remaining": "0", "X-RateLimit-Reset": str(DATE_UNIX - 5)}
    state = adapter.read_rate_limit(FIXTURES.response(200, "course_pending", headers))
    assert state is not None
    assert state.reset_after == 0.0


def test_read_error_never_shows_the_key_or_the_secret(adapter):
    """A message echoing a secret (a misbehaving proxy) has it masked in every rendering."""
    body = {"error": {"code": "platform_invalid_api_key", "message": f"Bad {KEY} / {SECRET}"}}
    error = adapter.read_error(answer(401, body))
    for text in (error.message, str(error), repr(error)):
        assert KEY not in text
        assert SECRET not in text
    assert "********" in error.message


# ----------------------------------------------------------------------------- public pages


def test_public_course_requests_carry_no_credentials(adapter):
    """The summary, the full page and a lesson are keyless GETs on the share-token routes."""
    requests = [
        adapter.public_course(SHARE_TOKEN),
        adapter.public_course(SHARE_TOKEN, full=True),
        adapter.public_lesson(SHARE_TOKEN, 3),
    ]
    paths = [request.url.path for request in requests]
    assert paths == [
        f"/v1/platform/courses/public/{SHARE_TOKEN}",
        f"/v1/platform/courses/public/{SHARE_TOKEN}/full",
        f"/v1/platform/courses/public/{SHARE_TOKEN}/lessons/3",
    ]
    for request in requests:
        assert request.method == "GET"
        assert request.url.host == "api.tutorflow.io"
        assert "Authorization" not in request.headers
        assert request.headers["Accept"] == "application/json"


@pytest.mark.parametrize(("token", "sequence"), [("", 1), (SHARE_TOKEN, 0), (SHARE_TOKEN, True)])
def test_public_lesson_refuses_bad_input_before_building(
    adapter, no_requests_built, token, sequence
):
    """An empty token or a sequence that is not a positive whole number is InvalidRequest."""
    with pytest.raises(InvalidRequest):
        adapter.public_lesson(token, sequence)


def public_page(*, full: bool) -> dict[str, Any]:
    """The seed's completed DTO as the public routes serve it (no owner-only fields)."""
    owner_only = {"priceSnapshot", "idempotencyKey", "idempotentReplay", "isTerminal", "tier"}
    data = {k: v for k, v in FIXTURES.json("course_completed").items() if k not in owner_only}
    if not full:
        del data["chapters"], data["lessons"]
    else:
        data["editToken"] = "e5f6"
        data["lessons"][0]["content"] = "# Welcome\n\nprint('hi')"
    return data


def test_read_public_course_summary(adapter):
    """The summary is a Course with URLs and no chapters; the share token stays in extra."""
    course = adapter.read_public_course(answer(200, public_page(full=False)))
    assert course.id == COURSE_ID
    assert course.title == "Python for Beginners"
    assert course.chapters == ()
    assert course.lessons == ()
    assert course.public_url == course.share_url
    assert course.extra["shareToken"] == SHARE_TOKEN


def test_read_public_course_full_has_lessons_with_content(adapter):
    """The full page adds chapters and lessons with their content; the edit token is extra."""
    course = adapter.read_public_course(answer(200, public_page(full=True)))
    assert len(course.chapters) == 2
    assert course.lessons[0].content == "# Welcome\n\nprint('hi')"
    assert course.lessons[0].type == "ai-tutor"
    assert course.extra["editToken"] == "e5f6"


def test_read_public_course_takes_id_when_there_is_no_course_id(adapter):
    """A summary naming the course by `id` alone is read; one with neither is malformed."""
    course = adapter.read_public_course(answer(200, {"id": "c1", "title": "T"}))
    assert (course.id, course.title) == ("c1", "T")
    with pytest.raises(MalformedResponse, match="neither courseId nor id"):
        adapter.read_public_course(answer(200, {"title": "T"}))


def test_read_public_lesson(adapter):
    """A lesson page is a Lesson with its text content; structured content stays in extra."""
    lesson = dict(FIXTURES.json("course_completed")["lessons"][0], content="# Hello")
    read = adapter.read_public_lesson(answer(200, lesson))
    assert read == Lesson(
        title="Welcome to Python",
        sequence=1,
        type="ai-tutor",
        chapter_title="Getting Started with Python",
        url="https://tutorflow.io/en/platform/courses/b018.../lessons/1",
        content="# Hello",
        extra={
            "chapterSlug": "getting-started-with-python-cf1710",
            "lessonSlug": "welcome-to-python-29ae64",
        },
    )
    blocks = {"title": "Quiz", "sequence": 2, "content": [{"type": "question"}]}
    structured = adapter.read_public_lesson(answer(200, {"lesson": blocks}))
    assert structured.content is None
    assert structured.extra["content"] == [{"type": "question"}]


def test_read_public_lesson_wrong_shape_is_malformed(adapter):
    """A lesson without a sequence is MalformedResponse naming it."""
    with pytest.raises(MalformedResponse, match=r"\$\.sequence"):
        adapter.read_public_lesson(answer(200, {"title": "x"}))


# ----------------------------------------------------------------------------- webhooks

DEPLOYED = FIXTURES.bytes("webhook_course_deployed")
FAILED = FIXTURES.bytes("webhook_course_completed")


def hook_headers(body: bytes, event: str, key: bytes = SECRET.encode()) -> dict[str, str]:
    return {"X-Platform-Signature": sign(body, key), "X-Platform-Event": event}


@pytest.mark.parametrize(
    "key",
    [
        SECRET.encode(),
        hashlib.sha256(SECRET.encode()).hexdigest().encode(),
        hashlib.sha256(SECRET.encode()).digest(),
    ],
    ids=["secret", "sha256-hex", "sha256-digest"],
)
def test_a_deployed_webhook_signed_with_either_key_is_verified(adapter, key):
    """course.deployed, keyed by the secret or by its SHA-256: verified, SUCCEEDED, with course."""
    event = adapter.read_webhook(hook_headers(DEPLOYED, "course.deployed", key), DEPLOYED)
    assert event.provider == "tutorflow"
    assert event.kind == "course.deployed"
    assert event.job_id == REQUEST_ID
    assert event.verified is True
    assert event.export is None
    assert event.raw == json.loads(DEPLOYED)
    snapshot = event.snapshot
    assert snapshot is not None
    assert snapshot.status is JobStatus.SUCCEEDED
    assert snapshot.vendor_status == "course.deployed"
    assert snapshot.cost == Money(Decimal("0.3"), "USD")
    assert isinstance(snapshot.result, Course)
    assert snapshot.result.id == COURSE_ID
    assert snapshot.result.extra["shareToken"] == SHARE_TOKEN


def test_the_legacy_completed_webhook_means_failure(adapter):
    """course.completed is sent on FAILURE despite its name: a FAILED snapshot."""
    event = adapter.read_webhook(hook_headers(FAILED, "course.completed"), FAILED)
    assert event.kind == "course.completed"
    assert event.verified is True
    assert event.job_id == REQUEST_ID
    snapshot = event.snapshot
    assert snapshot is not None
    assert snapshot.status is JobStatus.FAILED
    assert snapshot.result is None
    assert snapshot.error == JobErrorInfo(NO_REASON)


def test_a_sha256_prefixed_upper_case_signature_is_accepted(adapter):
    """`sha256=<HEX>` in any case is the same signature."""
    headers = {
        "x-platform-signature": "sha256=" + sign(DEPLOYED, SECRET.encode()).upper(),
        "x-platform-event": "course.deployed",
    }
    assert adapter.read_webhook(headers, DEPLOYED).verified is True


def forged(body: bytes) -> bytes:
    data = json.loads(body)
    data["data"]["status"] = "FAILED"
    return json.dumps(data).encode()


@pytest.mark.parametrize(
    ("headers", "body", "fragment"),
    [
        (hook_headers(DEPLOYED, "course.deployed"), forged(DEPLOYED), "does not match"),
        (
            {"X-Platform-Signature": "0" * 64, "X-Platform-Event": "course.deployed"},
            DEPLOYED,
            "does not match",
        ),
        (hook_headers(DEPLOYED, "course.deployed", b"another secret"), DEPLOYED, "does not match"),
        ({"X-Platform-Event": "course.deployed"}, DEPLOYED, "header is missing"),
        ({"X-Platform-Signature": "", "X-Platform-Event": "x"}, DEPLOYED, "header is missing"),
        ({"X-Platform-Signature": "not-hex", "X-Platform-Event": "x"}, DEPLOYED, "not a hex"),
        (hook_headers(b"not json", "course.deployed", b"x"), b"not json", "does not match"),
    ],
    ids=["forged-body", "wrong-signature", "other-secret", "missing", "empty", "garbage", "junk"],
)
def test_a_bad_or_missing_signature_is_rejected_before_reading(adapter, headers, body, fragment):
    """Forged body, wrong signature, missing header: WebhookVerificationError, nothing read."""
    with pytest.raises(WebhookVerificationError) as caught:
        adapter.read_webhook(headers, body)
    assert fragment in str(caught.value)
    assert SECRET not in str(caught.value)


def test_without_a_configured_secret_nothing_verifies():
    """No webhook secret: even a well-signed webhook is refused, naming the variable."""
    adapter = make_adapter(webhook_secret=None)
    with pytest.raises(WebhookVerificationError, match="TUTORFLOW_WEBHOOK_SECRET"):
        adapter.read_webhook(hook_headers(DEPLOYED, "course.deployed"), DEPLOYED)


def test_an_event_header_contradicting_the_signed_body_is_rejected(adapter):
    """Only the body is signed: a header claiming another event is not trusted."""
    with pytest.raises(WebhookVerificationError, match="disagrees"):
        adapter.read_webhook(hook_headers(FAILED, "course.deployed"), FAILED)


def test_the_body_event_serves_when_the_header_is_absent(adapter):
    """Without X-Platform-Event, the signed body's `event` names the event."""
    headers = {"X-Platform-Signature": sign(FAILED, SECRET.encode())}
    event = adapter.read_webhook(headers, FAILED)
    assert event.kind == "course.completed"
    assert event.snapshot is not None
    assert event.snapshot.status is JobStatus.FAILED


def test_an_unknown_event_is_verified_without_a_snapshot(adapter):
    """A newer event is returned verified, with its request id and no snapshot."""
    body = json.dumps({"event": "course.archived", "data": {"id": "r9"}}).encode()
    event = adapter.read_webhook(hook_headers(body, "course.archived"), body)
    assert (event.kind, event.job_id, event.snapshot, event.verified) == (
        "course.archived",
        "r9",
        None,
        True,
    )


def test_a_webhook_body_without_a_status_is_read_by_its_event(adapter):
    """The event decides the outcome: a body with no (or a null) status still reads."""
    for data in ({"id": "r1", "courseId": "c1", "title": "T"}, {"id": "r1", "status": None}):
        body = json.dumps({"data": data}).encode()
        event = adapter.read_webhook(hook_headers(body, "course.deployed"), body)
        assert event.snapshot is not None
        assert event.snapshot.status is JobStatus.SUCCEEDED
        assert event.job_id == "r1"


def test_a_top_level_course_request_body_is_read(adapter):
    """A webhook whose body is the CourseResDto itself (no `data`) is read all the same."""
    body = FIXTURES.bytes("course_completed")
    event = adapter.read_webhook(hook_headers(body, "course.deployed"), body)
    assert event.job_id == REQUEST_ID
    assert event.snapshot is not None
    assert isinstance(event.snapshot.result, Course)


@pytest.mark.parametrize(
    ("body", "fragment"),
    [
        (b"<html>oops</html>", "non-JSON"),
        (b'{"data": {"id": "r1"}}', "names no event"),
        (b'{"event": "course.deployed", "data": {"id": 5}}', "$.id"),
    ],
)
def test_a_verified_but_unreadable_webhook_is_malformed(adapter, body, fragment):
    """Once verified, non-JSON, no event name or a wrong shape is MalformedResponse."""
    headers = {"X-Platform-Signature": sign(body, SECRET.encode())}
    with pytest.raises(MalformedResponse) as caught:
        adapter.read_webhook(headers, body)
    assert fragment in caught.value.message
    assert caught.value.raw == body.decode()
