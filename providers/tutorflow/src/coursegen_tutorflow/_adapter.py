"""The TutorFlow adapter: coursegen's neutral requests to the Agent Platform API and back.

Sans-I/O like every adapter: it builds `httpx.Request` objects and reads
`httpx.Response` objects, and never sends, sleeps or reads a clock.

What the vendor does beyond its docs, and how this adapter meets it (VENDORS.md §2):

- A create names a course *request* (`id`, our job id); the course it makes has its own
  id (`courseId`). We always ask for `mode: "async"` (the vendor's default is `sync`,
  which holds the connection until the course is done); `extra` may override it.
- Creates are idempotent by key: the key goes both as the `Idempotency-Key` header and
  as `idempotencyKey` in the body, so a create whose answer was lost is safely retried;
  the replay answers the original request (`idempotentReplay: true`, same `id`).
- Result-side fields are ABSENT while a request is pending, and many request-side ones
  are `null`: none of that is an error. `pollAfterMs` is the next poll's hint.
- `isTerminal` is honoured: when present it alone decides whether the request is over.
  A terminal request whose status is neither COMPLETED nor FAILED (a word we do not
  know) ends FAILED, its word kept in `vendor_status`; a non-terminal COMPLETED or
  FAILED is still RUNNING.
- Rate limits are per WORKSPACE, all keys and endpoints in one pool; `X-RateLimit-Reset`
  is an absolute Unix time, made relative to the response's `Date`.
- Webhooks are signed (hex HMAC-SHA256 of the raw body); copies of the docs disagree on
  the HMAC key, so both the secret and its SHA-256 are accepted. `course.completed` is a
  legacy event sent on FAILURE, despite its name; `course.deployed` means success.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import attrs
import httpx

from coursegen import (
    AuthenticationError,
    Capabilities,
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
    PollPolicy,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimit,
    RateLimited,
    RateLimitState,
    Request,
    RetryPolicy,
    Secret,
    Settings,
    Snapshot,
    UnsupportedFeature,
    WebhookEvent,
    WebhookVerificationError,
)
from coursegen.wire import (
    VendorAPI,
    parse_json,
    parse_rate_limit_headers,
    read_json,
    structure,
    unknown_keys,
)

from ._wire import (
    CONVERTER,
    ChapterBody,
    CourseResponse,
    CreateCourseBody,
    LessonBody,
    PriceSnapshot,
    PublicCourseResponse,
)

if TYPE_CHECKING:
    from decimal import Decimal

__all__ = ["TutorFlow"]

PROVIDER: Final = "tutorflow"
API_PREFIX: Final = "/v1/platform"
DEFAULT_RATE_LIMIT: Final = 60
"""Requests per minute per workspace on the standard plan (production plans: 1000)."""
RATE_POOL: Final = "workspace"
"""Every authenticated operation spends from this one pool: the vendor counts them together."""
LEVELS: Final = ("beginner", "intermediate", "advanced")
MIN_LESSONS: Final = 1
MAX_LESSONS: Final = 50

_STATUSES: Final[Mapping[str, JobStatus]] = MappingProxyType(
    {
        "PENDING": JobStatus.PENDING,
        "PROCESSING": JobStatus.RUNNING,
        "COMPLETED": JobStatus.SUCCEEDED,
        "FAILED": JobStatus.FAILED,
    }
)

# Every code of the docs' table. The codes say more than the status does: a 403 may be a
# spent free allowance (QuotaExceeded) rather than a refusal (PermissionDenied).
_ERRORS_BY_CODE: Final[Mapping[str, type[ProviderError]]] = MappingProxyType(
    {
        "platform_invalid_request": InvalidRequest,
        "platform_invalid_api_key": AuthenticationError,
        "platform_api_key_revoked": AuthenticationError,
        "platform_api_key_expired": AuthenticationError,
        "payment_required": QuotaExceeded,
        "x402_payment_failed": QuotaExceeded,
        "platform_insufficient_credits": QuotaExceeded,
        "platform_forbidden": PermissionDenied,
        "email_verification_required": PermissionDenied,
        "free_credits_exhausted": QuotaExceeded,
        "platform_workspace_suspended": PermissionDenied,
        "platform_not_found": NotFound,
        "platform_conflict": Conflict,
        "platform_rate_limit_exceeded": RateLimited,
        "platform_internal_error": ProviderUnavailable,
    }
)

# CourseResDto keys that a neutral `Course` field reads, and those about the request
# (the job) rather than the course; every other key goes to `Course.extra`.
_COURSE_FIELDS: Final = frozenset(
    {
        "courseId",
        "title",
        "description",
        "language",
        "previewUrl",
        "publicUrl",
        "chapters",
        "lessons",
        "completedAt",
    }
)
_JOB_FIELDS: Final = frozenset(
    {
        "id",
        "status",
        "isTerminal",
        "pollAfterMs",
        "priceSnapshot",
        "idempotencyKey",
        "idempotentReplay",
    }
)
_LESSON_FIELDS: Final = frozenset({"title", "sequence", "type", "chapterTitle", "lessonUrl"})

_SIGNATURE: Final = re.compile(r"(?:sha256=)?([0-9a-f]{64})")
_NO_REASON: Final = "TutorFlow reports the course request FAILED (its API gives no reason)"
_MISSING_KEY: Final = (
    "TutorFlow needs a Platform API key (tf_platform_...): set TUTORFLOW_API_KEY or "
    "COURSEGEN_TUTORFLOW_API_KEY, or put it in the URL (tutorflow://KEY@api.tutorflow.io)"
)
_UNVERIFIABLE: Final = (
    "no TutorFlow webhook secret is configured (set TUTORFLOW_WEBHOOK_SECRET, "
    "COURSEGEN_TUTORFLOW_WEBHOOK_SECRET or webhook_secret=): the webhook cannot be verified"
)


@attrs.frozen
class TutorFlow:
    """TutorFlow Agent Platform (https://tutorflow.io): courses of typed lessons from a prompt.

    Honours `CourseRequest.subject` (sent as `prompt`), `title`, `description`,
    `language`, `level` (beginner, intermediate, advanced), `lesson_count` (1-50, sent as
    `lessonCount`), `idempotency_key` and `extra` (merged into the body last, so it may
    override anything, `mode` included). The settings options `tier` and `classroom_id`
    are sent with every request. The vendor takes no outline, format, add-ons or
    per-request callback URL (webhooks are configured per workspace): the core refuses
    those fields (or drops them with `strict=False`) before this adapter sees them.

    Settings options: `workspace` (the rate-limit scope; without it, a fingerprint of
    the key), `rate_limit` (requests per minute per workspace, default 60; 1000 on
    production plans), `tier`, `classroom_id`.
    """

    name: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = "https://api.tutorflow.io"
    # TUTORFLOW_API_KEY is our choice: the vendor's docs name no variable.
    env_vars: ClassVar[Mapping[str, str]] = MappingProxyType(
        {"api_key": "TUTORFLOW_API_KEY", "webhook_secret": "TUTORFLOW_WEBHOOK_SECRET"}
    )
    option_names: ClassVar[frozenset[str]] = frozenset(
        {"workspace", "rate_limit", "tier", "classroom_id"}
    )
    """Settings beyond the core ones (`connect()` refuses any other)."""
    retry_policy: ClassVar[RetryPolicy] = RetryPolicy(
        # The error-handling guide: retry 429 with backoff; 500 at most 3 times, from 1 s.
        attempts=6,
        initial=1.0,
        maximum=30.0,
        server_errors=3,
    )
    """TutorFlow's own retry rules: the client's default unless `connect(retry=...)`."""
    capabilities: ClassVar[Capabilities] = Capabilities(
        request_kinds=frozenset({CourseRequest}),
        request_fields=frozenset(
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
        ),
        idempotent_submit=True,
        progress=False,  # PENDING, PROCESSING, then done: no percentage
        cost=True,  # priceSnapshot, from the first answer on
        webhooks=True,
        signed_webhooks=True,
        public_pages=True,
    )

    _api: VendorAPI = attrs.field(alias="api")
    _webhook_secret: Secret | None = attrs.field(alias="webhook_secret", default=None, repr=False)
    _workspace: str | None = attrs.field(alias="workspace", default=None)
    _rate_limit: int = attrs.field(alias="rate_limit", default=DEFAULT_RATE_LIMIT)
    _tier: str | None = attrs.field(alias="tier", default=None)
    _classroom_id: str | None = attrs.field(alias="classroom_id", default=None)
    _policy: PollPolicy = attrs.field(init=False, repr=False, eq=False)

    @_policy.default
    def _make_policy(self) -> PollPolicy:
        limit = RateLimit(self._rate_limit, 60.0, pool=RATE_POOL)
        return PollPolicy(
            min_interval=1.0,  # no documented floor; `pollAfterMs` (3 s) paces the polls
            interval=3.0,  # the docs' pollAfterMs, for answers that carry none
            max_interval=30.0,
            backoff=1.5,
            job_timeout=1800.0,  # sync generation of 6 lessons took 15 s; 50 take longer
            # One pool for every keyed request of the workspace; public pages need no key
            # and are not counted against it.
            rate_limits={Operation.SUBMIT: limit, Operation.POLL: limit},
            reusable_polls=True,  # a poll is the request's URL and the key's headers
        )

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The adapter for `settings`; `ConfigurationError` naming what is missing or wrong."""
        api = VendorAPI.from_settings(
            settings,
            provider=PROVIDER,
            vendor="TutorFlow",
            default_base_url=cls.default_base_url,
            missing_key=_MISSING_KEY,
            prefix=API_PREFIX,
            secrets=(settings.webhook_secret,),
        )
        return cls(
            api=api,
            webhook_secret=settings.webhook_secret,
            workspace=_text_option(settings, "workspace"),
            rate_limit=_rate_limit_option(settings),
            tier=_text_option(settings, "tier"),
            classroom_id=_text_option(settings, "classroom_id"),
        )

    @property
    def policy(self) -> PollPolicy:
        """The polling policy, with this workspace's plan's rate limit (`rate_limit`)."""
        return self._policy

    @property
    def rate_scope(self) -> str:
        """The workspace (every key of it shares one budget), else a fingerprint of the key.

        Without the `workspace` setting, two keys of one workspace get two budgets: the
        vendor's `X-RateLimit-Remaining` then corrects each for the other's spending.
        """
        if self._workspace is not None:
            return f"workspace-{self._workspace}"
        return self._api.key_scope()

    # ------------------------------------------------------------------- create

    def submit(self, request: Request) -> httpx.Request:
        """`POST /v1/platform/courses` in async mode; `InvalidRequest` for refused input.

        The idempotency key (the core adds one when the request has none) is sent as
        the `Idempotency-Key` header and as `idempotencyKey` in the body; if `extra`
        overrides the body's, the header follows it.
        """
        if not isinstance(request, CourseRequest):
            raise UnsupportedFeature(
                self.name, type(request).__name__, "TutorFlow generates courses only"
            )
        self._api.refuse(_course_request_problems(request))
        body = CreateCourseBody(
            prompt=request.subject,
            title=request.title,
            description=request.description,
            language=request.language,
            level=request.level,
            lesson_count=request.lesson_count,
            tier=self._tier,
            classroom_id=self._classroom_id,
            idempotency_key=request.idempotency_key,
            mode="async",
        )
        payload: dict[str, Any] = CONVERTER.unstructure(body)
        payload.update(request.extra)
        headers: dict[str, str] = {}
        key = payload.get("idempotencyKey")
        if isinstance(key, str) and key:
            headers["Idempotency-Key"] = key
        return self._api.post("courses", json_body=payload, headers=headers)

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The first snapshot, from the `CourseResDto` a create answers (200, 201 or 202).

        A replay of an idempotency key answers the original request: same `id`, so the
        same job. A create in `sync` mode (through `extra`) answers the finished request.
        """
        data, course = self._api.read(response, CONVERTER, CourseResponse)
        return self._snapshot(course, data, response)

    # ------------------------------------------------------------------- poll

    def poll(self, job_id: str) -> httpx.Request:
        """`GET /v1/platform/courses/:id`."""
        return self._api.get("courses", self._api.segment(job_id, "course request id"))

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The request's state; an answer about another request is `MalformedResponse`."""
        data, course = self._api.read(response, CONVERTER, CourseResponse)
        if course.id != job_id:
            raise self._api.malformed(
                f"asked for course request {job_id!r}, the answer is about {course.id!r}",
                response,
            )
        return self._snapshot(course, data, response)

    # ------------------------------------------------------------------- errors

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error of a response with status >= 400, by the envelope's `code`
        first and by the HTTP status otherwise. A body that is not the envelope (a
        proxy's page, a framework's default error) still gives the status's error; `raw`
        is always the body as received."""
        code, vendor_message = _error_fields(response)
        return self._api.error(
            response,
            code=code,
            message=vendor_message,
            codes=_ERRORS_BY_CODE,
            rate_limit=self.read_rate_limit(response),
        )

    def read_rate_limit(self, response: httpx.Response) -> RateLimitState | None:
        """`X-RateLimit-Limit`, `-Remaining`, and `-Reset` (an absolute Unix time, made
        relative to the response's `Date`; without a `Date` the reset is unknown)."""
        return parse_rate_limit_headers(response.headers, prefix="X-RateLimit-", reset="absolute")

    # ------------------------------------------------------------------- public pages

    def public_course(self, share_token: str, *, full: bool = False) -> httpx.Request:
        """`GET /v1/platform/courses/public/:shareToken` (or `.../full`), with no key."""
        token = self._api.segment(share_token, "share token")
        segments = ("courses", "public", token, "full") if full else ("courses", "public", token)
        # Public pages are for learners: no Authorization header, ever.
        return self._api.get(*segments, keyed=False)

    def read_public_course(self, response: httpx.Response) -> Course:
        """A published course; chapters and lessons come with the `full` page only."""
        data, page = self._api.read(response, CONVERTER, PublicCourseResponse)
        course_id = page.course_id or page.id
        if not course_id:
            raise self._api.malformed("the public course has neither courseId nor id", response)
        return Course(
            id=course_id,
            title=page.title or page.slug or course_id,
            description=page.description,
            language=page.language,
            chapters=_chapters(page.chapters),
            lessons=_lessons(page.lessons, data.get("lessons")),
            share_url=page.public_url,
            preview_url=page.preview_url,
            public_url=page.public_url,
            created_at=page.completed_at or page.created_at,
            extra=unknown_keys(data, _COURSE_FIELDS | _JOB_FIELDS),
        )

    def public_lesson(self, share_token: str, sequence: int) -> httpx.Request:
        """`GET /v1/platform/courses/public/:shareToken/lessons/:sequence`, with no key."""
        given: object = sequence  # typed int, but callers may pass anything
        if isinstance(given, bool) or not isinstance(given, int) or given < 1:
            raise self._api.invalid(f"a lesson sequence is a whole number from 1, not {sequence!r}")
        token = self._api.segment(share_token, "share token")
        return self._api.get("courses", "public", token, "lessons", str(sequence), keyed=False)

    def read_public_lesson(self, response: httpx.Response) -> Lesson:
        """One lesson with its `content` (text; structured content stays in `extra`)."""
        data = read_json(response, provider=self.name)
        if isinstance(data, dict) and isinstance(data.get("lesson"), dict):
            data = data["lesson"]  # a wrapped lesson, as some copies of the docs show
        return _lesson(self._api.structure(data, response, CONVERTER, LessonBody), data)

    # ------------------------------------------------------------------- webhooks

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """A signed callback: verified first, read only once the signature matches.

        `X-Platform-Signature` must be the hex HMAC-SHA256 of the raw body, keyed by the
        webhook secret or by its SHA-256 (hex or raw digest): the docs disagree, so all
        are accepted. A missing or wrong signature, or no configured secret, raises
        `WebhookVerificationError` before the body is even parsed. The event is
        `X-Platform-Event` (the body's `event` when the header is absent; the two must
        agree, since only the body is signed). `course.deployed` is a SUCCEEDED
        snapshot; the legacy `course.completed` is sent on FAILURE and reads FAILED.
        Other events are returned verified, without a snapshot.
        """
        fields = httpx.Headers(headers)
        self._verify(fields.get("X-Platform-Signature"), body)
        text = body.decode("utf-8", errors="replace")
        data = parse_json(body, provider=self.name)
        body_event = data.get("event") if isinstance(data, dict) else None
        header_event = fields.get("X-Platform-Event")
        if header_event and isinstance(body_event, str) and body_event != header_event:
            raise WebhookVerificationError(
                f"the X-Platform-Event header ({header_event!r}) disagrees with the signed "
                f"body's event ({body_event!r})"
            )
        event = header_event or body_event
        if not isinstance(event, str) or not event:
            raise MalformedResponse(
                "the webhook names no event (no X-Platform-Event header, no body event)",
                provider=self.name,
                raw=text,
            )
        payload = _webhook_payload(data)
        if payload is None:
            return WebhookEvent(self.name, event, verified=True, raw=data)
        # The event, not the body's status, says how the request ended; a body without
        # a status is read all the same.
        readable = dict(payload)
        if not isinstance(readable.get("status"), str):
            readable["status"] = event
        course = structure(CONVERTER, readable, CourseResponse, provider=self.name, raw=text)
        if event == "course.deployed":
            result = _course(course, payload) if course.course_id is not None else None
            snapshot = Snapshot(
                job_id=course.id,
                provider=self.name,
                status=JobStatus.SUCCEEDED,
                vendor_status=event,
                result=result,
                cost=_money(course.price_snapshot),
                raw=data,
            )
        elif event == "course.completed":
            snapshot = Snapshot(
                job_id=course.id,
                provider=self.name,
                status=JobStatus.FAILED,
                vendor_status=event,
                error=_failure(payload),
                cost=_money(course.price_snapshot),
                raw=data,
            )
        else:
            return WebhookEvent(self.name, event, course.id, verified=True, raw=data)
        return WebhookEvent(self.name, event, course.id, snapshot=snapshot, verified=True, raw=data)

    def _verify(self, signature: str | None, body: bytes) -> None:
        secret = self._webhook_secret
        if secret is None or not secret:
            raise WebhookVerificationError(_UNVERIFIABLE)
        if not signature:
            raise WebhookVerificationError("the X-Platform-Signature header is missing")
        match = _SIGNATURE.fullmatch(signature.strip().lower())
        if match is None:
            raise WebhookVerificationError("X-Platform-Signature is not a hex HMAC-SHA256")
        given = match.group(1).encode()
        raw = secret.reveal().encode()
        keys = (raw, hashlib.sha256(raw).hexdigest().encode(), hashlib.sha256(raw).digest())
        # Every key is tried, whatever matched first: the time taken tells nothing.
        matched = False
        for key in keys:
            expected = hmac.new(key, body, hashlib.sha256).hexdigest().encode()
            matched = hmac.compare_digest(expected, given) | matched
        if not matched:
            raise WebhookVerificationError(
                "X-Platform-Signature does not match the body: forged, altered, or signed "
                "with another secret"
            )

    # ------------------------------------------------------------------- helpers

    def _snapshot(
        self, course: CourseResponse, data: Mapping[str, Any], response: httpx.Response
    ) -> Snapshot:
        status, error = _status(course, data)
        result: Course | None = None
        if status is JobStatus.SUCCEEDED:
            if course.course_id is None:
                raise self._api.malformed(
                    "the request is COMPLETED but names no courseId", response
                )
            result = _course(course, data)
        poll_after: float | None = None
        if not status.is_terminal and course.poll_after_ms is not None:
            poll_after = course.poll_after_ms / 1000.0 if course.poll_after_ms >= 0 else None
        return Snapshot(
            job_id=course.id,
            provider=self.name,
            status=status,
            vendor_status=course.status,
            result=result,
            error=error,
            poll_after=poll_after,
            cost=_money(course.price_snapshot),
            raw=data,
        )


# ----------------------------------------------------------------------- settings


def _text_option(settings: Settings, name: str) -> str | None:
    value = settings.option(name)
    if value is None:
        return None
    if not isinstance(value, str) or not value.strip():
        raise ConfigurationError(f"TutorFlow setting {name!r} must be a non-empty string")
    return value.strip()


def _rate_limit_option(settings: Settings) -> int:
    value = settings.option("rate_limit", DEFAULT_RATE_LIMIT)
    if isinstance(value, bool):
        value = None  # `True` is no number of requests
    try:
        limit = int(str(value).strip()) if isinstance(value, str) else value
    except ValueError:
        limit = None
    if not isinstance(limit, int) or isinstance(limit, bool) or limit < 1:
        raise ConfigurationError(
            f"TutorFlow setting 'rate_limit' must be a whole number of requests per minute "
            f"(60 on standard plans, 1000 on production), not {value!r}"
        )
    return limit


# ----------------------------------------------------------------------- translation


def _course_request_problems(request: CourseRequest) -> list[str]:
    """Everything in `request` the vendor would refuse with a 400, in our own words."""
    problems: list[str] = []
    if not request.subject.strip():
        problems.append("subject (the vendor's prompt) must not be blank")
    if request.level is not None and request.level not in LEVELS:
        problems.append(f"level must be one of {', '.join(LEVELS)}, not {request.level!r}")
    count: object = request.lesson_count
    if count is not None and (
        isinstance(count, bool)
        or not isinstance(count, int)
        or not MIN_LESSONS <= count <= MAX_LESSONS
    ):
        problems.append(
            f"lesson_count must be a whole number from {MIN_LESSONS} to {MAX_LESSONS}, "
            f"not {count!r}"
        )
    for name in ("language", "title", "description", "idempotency_key"):
        value = getattr(request, name)
        if value is not None and not value.strip():
            problems.append(f"{name} must not be blank (leave it None for the vendor's default)")
    return problems


def _status(
    course: CourseResponse, data: Mapping[str, Any]
) -> tuple[JobStatus, JobErrorInfo | None]:
    """The neutral status of a request, honouring `isTerminal` when the vendor sends it."""
    known = _STATUSES.get(course.status.upper())
    terminal = course.is_terminal
    if terminal is None:
        status = known or JobStatus.RUNNING
    elif terminal:
        if known is JobStatus.SUCCEEDED:
            status = JobStatus.SUCCEEDED
        elif known is JobStatus.FAILED:
            status = JobStatus.FAILED
        else:
            message = (
                f"TutorFlow ended the course request (isTerminal) with status "
                f"{course.status!r}, which is neither COMPLETED nor FAILED"
            )
            return JobStatus.FAILED, JobErrorInfo(message=message, code=None)
    else:
        # Not over, whatever the word: a COMPLETED still deploying is still running.
        status = known if known is JobStatus.PENDING else JobStatus.RUNNING
    return status, (_failure(data) if status is JobStatus.FAILED else None)


def _failure(data: Mapping[str, Any]) -> JobErrorInfo:
    """Why a request failed, best effort: the docs define no reason field, so an
    `error` object or string is read if a copy of the API sends one."""
    error = data.get("error")
    if isinstance(error, Mapping):
        message = error.get("message")
        code = error.get("code")
        return JobErrorInfo(
            message=message if isinstance(message, str) and message else _NO_REASON,
            code=code if isinstance(code, str) and code else None,
        )
    if isinstance(error, str) and error:
        return JobErrorInfo(message=error)
    return JobErrorInfo(message=_NO_REASON)


def _money(price: PriceSnapshot | None) -> Money | None:
    """`priceSnapshot` as Money: `amountUsd`, else `unitPrice` x `units`."""
    if price is None:
        return None
    amount: Decimal | None = price.amount_usd
    if amount is None and price.unit_price is not None and price.units is not None:
        amount = price.unit_price * price.units
    if amount is None:
        return None
    return Money(amount, (price.currency or "USD").upper())


def _course(course: CourseResponse, data: Mapping[str, Any]) -> Course:
    """The course a COMPLETED request made. `share_url` and `public_url` are both the
    learner page (`publicUrl`); the share token stays in `extra["shareToken"]`."""
    course_id = course.course_id or course.id
    return Course(
        id=course_id,
        title=course.title or course.slug or course_id,
        description=course.description,
        language=course.language,
        chapters=_chapters(course.chapters),
        lessons=_lessons(course.lessons, data.get("lessons")),
        share_url=course.public_url,
        preview_url=course.preview_url,
        public_url=course.public_url,
        created_at=course.completed_at or course.created_at,
        extra=unknown_keys(data, _COURSE_FIELDS | _JOB_FIELDS),
    )


def _chapters(chapters: tuple[ChapterBody, ...] | None) -> tuple[Chapter, ...]:
    return tuple(
        Chapter(
            title=chapter.title,
            sequence=chapter.sequence,
            lesson_count=chapter.lesson_count,
            slug=chapter.slug,
        )
        for chapter in chapters or ()
    )


def _lessons(lessons: tuple[LessonBody, ...] | None, raw: object) -> tuple[Lesson, ...]:
    # `structure` checked the shape, so `raw` is the list the lessons were read from.
    items = raw if isinstance(raw, list) else []
    return tuple(_lesson(lesson, data) for lesson, data in zip(lessons or (), items, strict=False))


def _lesson(lesson: LessonBody, data: Mapping[str, Any]) -> Lesson:
    content = data.get("content")
    known = _LESSON_FIELDS | ({"content"} if isinstance(content, str) else set())
    return Lesson(
        title=lesson.title,
        sequence=lesson.sequence,
        type=lesson.type,
        chapter_title=lesson.chapter_title,
        url=lesson.lesson_url,
        content=content if isinstance(content, str) else None,
        extra=unknown_keys(data, frozenset(known)),
    )


def _error_fields(response: httpx.Response) -> tuple[str | None, str | None]:
    """The vendor's code and message, from the envelope or the shapes seen beside it."""
    try:
        data = read_json(response, provider=PROVIDER)
    except MalformedResponse:
        return None, None
    if not isinstance(data, dict):
        return None, None
    inner = data.get("error")
    if isinstance(inner, dict):
        source: Mapping[str, Any] = inner  # the documented envelope
    elif "code" in data:
        source = data  # the envelope's contents, unwrapped
    else:
        # A framework's default (`{"statusCode", "message", "error": "Not Found"}`).
        message = data.get("message")
        if isinstance(message, list):
            message = "; ".join(str(item) for item in message)
        if not isinstance(message, str) or not message:
            message = inner if isinstance(inner, str) and inner else None
        return None, message
    code = source.get("code")
    message = source.get("message")
    return (
        code if isinstance(code, str) and code else None,
        message if isinstance(message, str) and message else None,
    )


def _webhook_payload(data: Any) -> Mapping[str, Any] | None:
    """The course request a webhook is about: under `data` (or `course`), or the body itself."""
    if not isinstance(data, dict):
        return None
    for key in ("data", "course"):
        if isinstance(data.get(key), dict):
            inner: Mapping[str, Any] = data[key]
            return inner
    if "id" in data:
        return data
    return None
