"""The LearningStudioAI adapter: coursegen's neutral requests to the vendor's HTTP API and back.

Sans-I/O like every adapter: it builds `httpx.Request` objects and reads
`httpx.Response` objects, and never sends, sleeps or reads a clock.

What the vendor does beyond its docs, and how this adapter meets it:

- Jobs take 60-120 s and may be polled every 5 s at most; the rate limits are per key
  and per endpoint, so the budget is shared by every job on one key (`rate_scope`).
- The create is not idempotent: a create whose answer was lost may have made a job
  (`idempotent_submit=False`, so the engine does not retry it blindly).
- `error.code` of a failed job is best-effort and may be absent.
- Webhooks are delivered once and are NOT signed: every event is unverified.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import attrs

from coursegen import (
    AuthenticationError,
    Capabilities,
    Course,
    CourseRequest,
    ExportResult,
    InvalidRequest,
    JobStatus,
    MalformedResponse,
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
    Settings,
    Snapshot,
    WebhookEvent,
)
from coursegen.wire import (
    VendorAPI,
    fraction_of_percent,
    https_problem,
    parse_rate_limit_headers,
)

from ._wire import (
    CONVERTER,
    CourseCreatedEvent,
    CourseExportedEvent,
    CourseFailedEvent,
    CreateJobBody,
    ErrorBody,
    ExportBody,
    ExportResponse,
    JobResponse,
    SubmitResponse,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["LearningStudio"]

PROVIDER: Final = "learningstudio"

SUBJECT_MAX_LENGTH: Final = 200
OUTLINE_MAX_CHAPTERS: Final = 9
FORMATS: Final = ("onepage", "classic")
ADD_ONS: Final = frozenset(
    {"practical-exercises", "wrapup", "assessment", "articles", "videos", "agreement"}
)
EXPORT_FORMATS: Final = ("scorm12", "scorm2004", "scorm2004_4")
DEFAULT_EXPORT_FORMAT: Final = "scorm12"

_STATUSES: Final[Mapping[str, JobStatus]] = MappingProxyType(
    {
        "pending": JobStatus.PENDING,
        "running": JobStatus.RUNNING,
        "completed": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
    }
)

# Codes that say more than their status (403 is a plan problem or a spent quota); any
# other code, or none, is classified by status alone.
_ERRORS_BY_CODE: Final[Mapping[str, type[ProviderError]]] = MappingProxyType(
    {
        "VALIDATION_ERROR": InvalidRequest,
        "INVALID_API_KEY": AuthenticationError,
        "PAID_PLAN_REQUIRED": PermissionDenied,
        "USAGE_LIMIT_EXCEEDED_PLAN": QuotaExceeded,
        "NOT_FOUND": NotFound,
        "RATE_LIMIT_EXCEEDED": RateLimited,
        "INTERNAL_ERROR": ProviderUnavailable,
    }
)

_MISSING_KEY = (
    "LearningStudioAI needs an API key: set LEARNINGSTUDIO_API_KEY or "
    "COURSEGEN_LEARNINGSTUDIO_API_KEY, or put it in the URL "
    "(learningstudio://KEY@learningstudioai.com)"
)
_RESOURCE: Final = "api/v1/courses"


@attrs.frozen
class LearningStudio:
    """LearningStudioAI (https://learningstudioai.com): SCORM-ready courses from a subject.

    Honours `CourseRequest.subject`, `language` (sent as `languageId`), `format`
    (`onepage` or `classic`), `outline` (at most 9 chapters), `add_ons`, `callback_url`
    (HTTPS) and `extra`. The vendor has no level, lesson count, title, description or
    idempotency key; the core refuses (or, with `strict=False`, drops) those fields
    before this adapter sees the request.
    """

    name: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = "https://learningstudioai.com"
    env_vars: ClassVar[Mapping[str, str]] = MappingProxyType({"api_key": "LEARNINGSTUDIO_API_KEY"})
    option_names: ClassVar[frozenset[str]] = frozenset()
    """Settings beyond the core ones (`connect()` refuses any other): none."""
    capabilities: ClassVar[Capabilities] = Capabilities(
        request_kinds=frozenset({CourseRequest}),
        request_fields=frozenset(
            {"subject", "language", "format", "outline", "add_ons", "callback_url", "extra"}
        ),
        idempotent_submit=False,
        progress=True,
        webhooks=True,
        signed_webhooks=False,
        export_formats=EXPORT_FORMATS,
        # Every course has a public preview page (`Course.share_url`), but no API reads
        # published courses by token: that is what `public_pages` announces.
        public_pages=False,
    )
    policy: ClassVar[PollPolicy] = PollPolicy(
        min_interval=5.0,  # "Poll at most once every 5 seconds"
        interval=5.0,
        job_timeout=900.0,  # jobs take 60-120 s; a loaded vendor takes longer
        reusable_polls=True,  # a poll is the job's URL and the key's headers
        rate_limits={
            Operation.SUBMIT: RateLimit(30, 60.0),
            Operation.POLL: RateLimit(120, 60.0),
            Operation.EXPORT: RateLimit(30, 60.0),
        },
    )

    _api: VendorAPI = attrs.field(alias="api")

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The adapter for `settings`; `ConfigurationError` without an API key."""
        return cls(
            api=VendorAPI.from_settings(
                settings,
                provider=PROVIDER,
                vendor="LearningStudioAI",
                default_base_url=cls.default_base_url,
                missing_key=_MISSING_KEY,
            )
        )

    @property
    def rate_scope(self) -> str:
        """The vendor limits each key: a fingerprint of the key, from which it cannot be read."""
        return self._api.key_scope()

    # ------------------------------------------------------------------- create

    def submit(self, request: Request) -> httpx.Request:
        """`POST /api/v1/courses`; `InvalidRequest` for input the vendor would refuse.

        Everything checkable is checked here, before a request (and a rate-limit slot)
        is spent. Add-ons are sent sorted, so one request always makes the same body;
        `extra` is merged last and may override any field.
        """
        request = self._api.only(request, CourseRequest, "courses")
        self._api.refuse(_course_request_problems(request))
        body = CreateJobBody(
            subject=request.subject,
            format=request.format,
            language_id=request.language,
            outline=request.outline or None,
            add_ons=tuple(sorted(request.add_ons)) or None,
            callback_url=request.callback_url,
        )
        payload: dict[str, Any] = CONVERTER.unstructure(body)
        payload.update(request.extra)
        return self._api.post(_RESOURCE, json_body=payload)

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The first snapshot, from `202 {jobId, status, pollUrl}` (200 and 201 too).

        We poll at the documented path by job id and do not follow `pollUrl`, which is
        relative to the API base. An absolute `pollUrl` naming another origin than the
        configured base is refused with `MalformedResponse`: it means a misconfigured
        base URL or a tampering proxy, and coursegen never sends the key to another host.
        """
        data, submitted = self._api.read(response, CONVERTER, SubmitResponse)
        if submitted.poll_url is not None:
            self._api.check_same_origin(submitted.poll_url, response, what="pollUrl")
        return Snapshot(
            job_id=submitted.job_id,
            provider=self.name,
            status=_STATUSES.get(submitted.status, JobStatus.PENDING),
            vendor_status=submitted.status,
            raw=data,
        )

    # ------------------------------------------------------------------- poll

    def poll(self, job_id: str) -> httpx.Request:
        """`GET /api/v1/courses/jobs/:jobId`."""
        return self._api.get(_RESOURCE, "jobs", self._api.segment(job_id, "job id"))

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The job's state. A status word the vendor adds later reads as RUNNING, with
        the word kept in `vendor_status`; a `completed` job without a course, or a body
        about another job, is `MalformedResponse`."""
        data, job = self._api.read(response, CONVERTER, JobResponse)
        self._api.check_job(job_id, job.job_id, response)
        status = _STATUSES.get(job.status, JobStatus.RUNNING)
        course: Course | None = None
        if job.course is not None:
            course = job.course.course(data["course"])
        elif status is JobStatus.SUCCEEDED:
            raise self._api.malformed("the job is completed but its course is null", response)
        return Snapshot(
            job_id=job.job_id,
            provider=self.name,
            status=status,
            vendor_status=job.status,
            progress=fraction_of_percent(job.progress),
            result=course,
            error=None if job.error is None else job.error.info(),
            raw=data,
        )

    # ------------------------------------------------------------------- errors

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error of a response with status >= 400, classified by the vendor's
        `code` first and by status otherwise. A body that is not the vendor's JSON (a
        proxy's plain-text 502) still gives the status's error. `raw` is always the body.
        """
        error = self._error_body(response)
        return self._api.error(
            response,
            code=error.code if error else None,
            message=error.message if error else None,
            codes=_ERRORS_BY_CODE,
            rate_limit=self.read_rate_limit(response),
        )

    def read_rate_limit(self, response: httpx.Response) -> RateLimitState | None:
        """`RateLimit-Limit`, `-Remaining` and `-Reset` (seconds until the window refills)."""
        return parse_rate_limit_headers(response.headers)

    # ------------------------------------------------------------------- export

    def export(
        self,
        course_id: str,
        format: str | None = None,  # noqa: A002 - the name the Exporter protocol gives it
        callback_url: str | None = None,
    ) -> httpx.Request:
        """`POST /api/v1/courses/:id/export` as SCORM (`scorm12` unless told otherwise)."""
        chosen = DEFAULT_EXPORT_FORMAT if format is None else format
        problems = []
        if chosen not in EXPORT_FORMATS:
            problems.append(f"export format must be one of {', '.join(EXPORT_FORMATS)}")
        if callback_url is not None and (problem := https_problem(callback_url)):
            problems.append(problem)
        self._api.refuse(problems)
        body = ExportBody(format=chosen, callback_url=callback_url)
        path = self._api.segment(course_id, "course id")
        return self._api.post(_RESOURCE, path, "export", json_body=CONVERTER.unstructure(body))

    def read_export(self, response: httpx.Response) -> ExportResult:
        _, exported = self._api.read(response, CONVERTER, ExportResponse)
        return exported.result()

    # ------------------------------------------------------------------- webhooks

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """A `course.created`, `course.failed` or `course.exported` callback.

        LearningStudioAI does not sign its webhooks, so every event has
        `verified=False`: anyone who learns the callback URL can post one. Treat it as a
        hint and confirm it with a GET of the job (`Client.confirm`) before acting on it.
        Events come once, without retries, and a retried create can send two for one
        course: deduplicate on `job_id`.
        """
        del headers  # nothing to verify: the vendor sends no signature
        hook = self._api.webhook(body)
        event = hook.event
        if event == "course.created":
            created = hook.read(CONVERTER, CourseCreatedEvent)
            course = created.course.course(hook.data["course"])
            return hook.job_event(event, created.job_id, JobStatus.SUCCEEDED, result=course)
        if event == "course.failed":
            failed = hook.read(CONVERTER, CourseFailedEvent)
            error = failed.error.info()
            return hook.job_event(event, failed.job_id, JobStatus.FAILED, error=error)
        if event == "course.exported":
            exported = hook.read(CONVERTER, CourseExportedEvent)
            return hook.event_of(event, export=exported.result())
        raise hook.malformed(
            f"unknown webhook event {event!r}"
            if event is not None
            else "the webhook body has no event name"
        )

    # ------------------------------------------------------------------- helpers

    def _error_body(self, response: httpx.Response) -> ErrorBody | None:
        data = self._api.json_or_none(response)
        if data is None:
            return None
        try:
            return self._api.structure(data, response, CONVERTER, ErrorBody)
        except MalformedResponse:
            # Not the documented shape; keep a code if there is one, since it classifies.
            code = data.get("code") if isinstance(data, dict) else None
            return ErrorBody(message="", code=code) if isinstance(code, str) else None


# ----------------------------------------------------------------------- translation


def _course_request_problems(request: CourseRequest) -> list[str]:
    """Everything in `request` the vendor would refuse with a 400, in our own words."""
    problems: list[str] = []
    if not request.subject.strip():
        problems.append("subject must not be blank")
    elif len(request.subject) > SUBJECT_MAX_LENGTH:
        problems.append(
            f"subject must be at most {SUBJECT_MAX_LENGTH} characters (got {len(request.subject)})"
        )
    if request.format is not None and request.format not in FORMATS:
        problems.append(f"format must be 'onepage' or 'classic', not {request.format!r}")
    if request.language is not None and not request.language.strip():
        problems.append("language must not be blank (leave it None for en-US)")
    if len(request.outline) > OUTLINE_MAX_CHAPTERS:
        problems.append(
            f"outline may have at most {OUTLINE_MAX_CHAPTERS} chapters (got {len(request.outline)})"
        )
    # Typed `object`: the record's converter takes any iterable, so check what came.
    chapters: tuple[object, ...] = request.outline
    blank = [
        str(number)
        for number, chapter in enumerate(chapters, start=1)
        if not isinstance(chapter, str) or not chapter.strip()
    ]
    if blank:
        problems.append(
            f"outline chapters must be non-empty strings (not chapter {', '.join(blank)})"
        )
    unknown = sorted(request.add_ons - ADD_ONS)
    if unknown:
        problems.append(
            f"unknown add-ons {', '.join(unknown)} (LearningStudioAI offers "
            f"{', '.join(sorted(ADD_ONS))})"
        )
    if request.callback_url is not None and (problem := https_problem(request.callback_url)):
        problems.append(problem)
    return problems
