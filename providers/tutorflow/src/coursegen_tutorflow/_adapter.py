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

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Self

import attrs
import httpx

from coursegen import (
    Capabilities,
    Course,
    CourseRequest,
    JobStatus,
    Lesson,
    Operation,
    PollPolicy,
    ProviderError,
    RateLimit,
    RateLimitState,
    Request,
    RetryPolicy,
    Secret,
    Settings,
    Snapshot,
    WebhookEvent,
)
from coursegen.wire import (
    VendorAPI,
    parse_rate_limit_headers,
    read_json,
    seconds_of_ms,
    text_option,
    whole_number_option,
)

from ._webhooks import verify_signature, webhook_event
from ._wire import (
    CONVERTER,
    ERRORS_BY_CODE,
    CourseResponse,
    CreateCourseBody,
    LessonBody,
    PublicCourseResponse,
    course_record,
)

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

_MISSING_KEY: Final = (
    "TutorFlow needs a Platform API key (tf_platform_...): set TUTORFLOW_API_KEY or "
    "COURSEGEN_TUTORFLOW_API_KEY, or put it in the URL (tutorflow://KEY@api.tutorflow.io)"
)
_PER_MINUTE: Final = "requests per minute (60 on standard plans, 1000 on production)"


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
            workspace=text_option(settings, "workspace", vendor="TutorFlow"),
            rate_limit=whole_number_option(
                settings, "rate_limit", DEFAULT_RATE_LIMIT, vendor="TutorFlow", unit=_PER_MINUTE
            ),
            tier=text_option(settings, "tier", vendor="TutorFlow"),
            classroom_id=text_option(settings, "classroom_id", vendor="TutorFlow"),
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
        request = self._api.only(request, CourseRequest, "courses")
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
        self._api.check_job(job_id, course.id, response, what="course request")
        return self._snapshot(course, data, response)

    # ------------------------------------------------------------------- errors

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error of a response with status >= 400, by the envelope's `code`
        first and by the HTTP status otherwise. A body that is not the envelope (a
        proxy's page, a framework's default error) still gives the status's error; `raw`
        is always the body as received."""
        rate_limit = self.read_rate_limit(response)
        return self._api.read_error(response, codes=ERRORS_BY_CODE, rate_limit=rate_limit)

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
        return course_record(page, course_id, data)

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
        return self._api.structure(data, response, CONVERTER, LessonBody).lesson(data)

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
        verify_signature(self._webhook_secret, fields.get("X-Platform-Signature"), body)
        hook = self._api.webhook(body, verified=True)
        event = hook.event_named(fields.get("X-Platform-Event"), header="X-Platform-Event")
        return webhook_event(hook, event)

    # ------------------------------------------------------------------- helpers

    def _snapshot(
        self, course: CourseResponse, data: Mapping[str, Any], response: httpx.Response
    ) -> Snapshot:
        status, error = course.outcome(data)
        result: Course | None = None
        if status is JobStatus.SUCCEEDED:
            if course.course_id is None:
                raise self._api.malformed(
                    "the request is COMPLETED but names no courseId", response
                )
            result = course_record(course, course.course_id, data)
        poll_after = None if status.is_terminal else seconds_of_ms(course.poll_after_ms)
        return Snapshot(
            job_id=course.id,
            provider=self.name,
            status=status,
            vendor_status=course.status,
            result=result,
            error=error,
            poll_after=poll_after,
            cost=course.cost(),
            raw=data,
        )


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
