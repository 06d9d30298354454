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

import hashlib
import json
import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Self
from urllib.parse import quote

import attrs
import httpx

from coursegen import (
    AuthenticationError,
    Capabilities,
    ConfigurationError,
    Course,
    CourseRequest,
    ExportResult,
    InvalidRequest,
    JobErrorInfo,
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
    Secret,
    Settings,
    Snapshot,
    UnsupportedFeature,
    WebhookEvent,
)
from coursegen.wire import (
    parse_json,
    parse_rate_limit_headers,
    provider_error,
    read_json,
    structure,
)

from ._wire import (
    CONVERTER,
    COURSE_KEYS,
    CourseBody,
    CourseCreatedEvent,
    CourseExportedEvent,
    CourseFailedEvent,
    CreateJobBody,
    ErrorBody,
    ExportBody,
    ExportResponse,
    JobResponse,
    SubmitResponse,
    unknown_keys,
)

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
_REDACTED: Final = "********"
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
    # A poll is the job's URL and the key's headers: built once per job (see `Adapter`).
    reusable_polls: ClassVar[bool] = True
    policy: ClassVar[PollPolicy] = PollPolicy(
        min_interval=5.0,  # "Poll at most once every 5 seconds"
        interval=5.0,
        job_timeout=900.0,  # jobs take 60-120 s; a loaded vendor takes longer
        rate_limits={
            Operation.SUBMIT: RateLimit(30, 60.0),
            Operation.POLL: RateLimit(120, 60.0),
            Operation.EXPORT: RateLimit(30, 60.0),
        },
    )

    _api_key: Secret = attrs.field(alias="api_key", repr=False)
    _base_url: httpx.URL = attrs.field(alias="base_url", converter=httpx.URL)
    # Built once: a URL is parsed on every poll otherwise, a good share of its cost.
    _root: str = attrs.field(init=False)

    @_root.default
    def _root_of_base(self) -> str:
        # Relative to the base's path, so a base behind a path prefix
        # (https://gateway.example/learningstudio) keeps its prefix.
        return str(self._base_url.copy_with(path=self._base_url.path.rstrip("/") + "/"))

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The adapter for `settings`; `ConfigurationError` without an API key."""
        if not settings.api_key:
            raise ConfigurationError(_MISSING_KEY)
        base_url = settings.base_url if settings.base_url.host else httpx.URL(cls.default_base_url)
        if base_url.scheme not in {"http", "https"}:
            raise ConfigurationError(
                f"LearningStudioAI's base URL must be http or https, not {base_url.scheme!r}"
            )
        return cls(api_key=settings.api_key, base_url=base_url)

    @property
    def rate_scope(self) -> str:
        """The vendor limits each key: a fingerprint of the key, from which it cannot be read."""
        digest = hashlib.sha256(self._api_key.reveal().encode()).hexdigest()
        return f"key-{digest[:16]}"

    # ------------------------------------------------------------------- create

    def submit(self, request: Request) -> httpx.Request:
        """`POST /api/v1/courses`; `InvalidRequest` for input the vendor would refuse.

        Everything checkable is checked here, before a request (and a rate-limit slot)
        is spent. Add-ons are sent sorted, so one request always makes the same body;
        `extra` is merged last and may override any field.
        """
        if not isinstance(request, CourseRequest):
            raise UnsupportedFeature(
                self.name, type(request).__name__, "LearningStudioAI generates courses only"
            )
        problems = _course_request_problems(request)
        if problems:
            raise self._invalid("; ".join(problems))
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
        return self._post(self._url(_RESOURCE), payload)

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The first snapshot, from `202 {jobId, status, pollUrl}` (200 and 201 too).

        We poll at the documented path by job id and do not follow `pollUrl`, which is
        relative to the API base. An absolute `pollUrl` naming another origin than the
        configured base is refused with `MalformedResponse`: it means a misconfigured
        base URL or a tampering proxy, and coursegen never sends the key to another host.
        """
        data = read_json(response, provider=self.name)
        submitted = structure(
            CONVERTER,
            data,
            SubmitResponse,
            provider=self.name,
            raw=response.text,
            status_code=response.status_code,
        )
        if submitted.poll_url is not None:
            self._check_same_origin(submitted.poll_url, response)
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
        return httpx.Request(
            "GET",
            self._url(_RESOURCE, "jobs", self._path_segment(job_id, "job id")),
            headers=self._headers(),
        )

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The job's state. A status word the vendor adds later reads as RUNNING, with
        the word kept in `vendor_status`; a `completed` job without a course, or a body
        about another job, is `MalformedResponse`."""
        data = read_json(response, provider=self.name)
        job = structure(
            CONVERTER,
            data,
            JobResponse,
            provider=self.name,
            raw=response.text,
            status_code=response.status_code,
        )
        if job.job_id != job_id:
            raise self._malformed(
                f"asked for job {job_id!r}, the answer is about job {job.job_id!r}", response
            )
        status = _STATUSES.get(job.status, JobStatus.RUNNING)
        course: Course | None = None
        if job.course is not None:
            course = _course(job.course, data["course"])
        elif status is JobStatus.SUCCEEDED:
            raise self._malformed("the job is completed but its course is null", response)
        return Snapshot(
            job_id=job.job_id,
            provider=self.name,
            status=status,
            vendor_status=job.status,
            progress=_fraction(job.progress),
            result=course,
            error=_error_info(job.error),
            raw=data,
        )

    # ------------------------------------------------------------------- errors

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error of a response with status >= 400, classified by the vendor's
        `code` first and by status otherwise. A body that is not the vendor's JSON (a
        proxy's plain-text 502) still gives the status's error. `raw` is always the body.
        """
        error = self._error_body(response)
        return provider_error(
            response,
            provider=self.name,
            vendor="LearningStudioAI",
            code=error.code if error else None,
            message=self._redact(error.message) if error and error.message else None,
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
        if callback_url is not None and (problem := _https_problem(callback_url)):
            problems.append(problem)
        if problems:
            raise self._invalid("; ".join(problems))
        body = ExportBody(format=chosen, callback_url=callback_url)
        path = self._path_segment(course_id, "course id")
        return self._post(self._url(_RESOURCE, path, "export"), CONVERTER.unstructure(body))

    def read_export(self, response: httpx.Response) -> ExportResult:
        data = read_json(response, provider=self.name)
        exported = structure(
            CONVERTER,
            data,
            ExportResponse,
            provider=self.name,
            raw=response.text,
            status_code=response.status_code,
        )
        return ExportResult(
            course_id=exported.course_id,
            format=exported.format,
            download_url=exported.download_url,
            share_url=exported.share_url,
            exported_at=exported.exported_at,
        )

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
        text = body.decode("utf-8", errors="replace")
        data = parse_json(body, provider=self.name)
        event = data.get("event") if isinstance(data, dict) else None
        if event == "course.created":
            created = structure(CONVERTER, data, CourseCreatedEvent, provider=self.name, raw=text)
            snapshot = Snapshot(
                job_id=created.job_id,
                provider=self.name,
                status=JobStatus.SUCCEEDED,
                vendor_status=event,
                result=_course(created.course, data["course"]),
                raw=data,
            )
            return WebhookEvent(self.name, event, created.job_id, snapshot=snapshot, raw=data)
        if event == "course.failed":
            failed = structure(CONVERTER, data, CourseFailedEvent, provider=self.name, raw=text)
            snapshot = Snapshot(
                job_id=failed.job_id,
                provider=self.name,
                status=JobStatus.FAILED,
                vendor_status=event,
                error=_error_info(failed.error),
                raw=data,
            )
            return WebhookEvent(self.name, event, failed.job_id, snapshot=snapshot, raw=data)
        if event == "course.exported":
            exported = structure(CONVERTER, data, CourseExportedEvent, provider=self.name, raw=text)
            export = ExportResult(
                course_id=exported.course_id,
                format=exported.format,
                download_url=exported.download_url,
                share_url=exported.share_url,
                exported_at=exported.exported_at,
            )
            return WebhookEvent(self.name, event, export=export, raw=data)
        raise MalformedResponse(
            f"unknown webhook event {event!r}"
            if isinstance(event, str)
            else "the webhook body has no event name",
            provider=self.name,
            raw=text,
        )

    # ------------------------------------------------------------------- helpers

    def _url(self, *segments: str) -> str:
        return self._root + "/".join(segments)

    def _path_segment(self, identifier: str, what: str) -> str:
        if not identifier:
            raise self._invalid(f"the {what} must not be empty")
        # `safe=""` quotes "/" too: an id can never reach another endpoint.
        return quote(identifier, safe="")

    def _headers(self) -> dict[str, str]:
        return {
            "Authorization": f"Bearer {self._api_key.reveal()}",
            "Accept": "application/json",
        }

    def _post(self, url: str, payload: Mapping[str, Any]) -> httpx.Request:
        try:
            # `allow_nan=False`: NaN and Infinity are not JSON, and the vendor would refuse them.
            content = json.dumps(
                payload, ensure_ascii=False, separators=(",", ":"), allow_nan=False
            )
        except (TypeError, ValueError) as exc:
            raise self._invalid(f"the request body is not JSON-serializable: {exc}") from exc
        headers = self._headers() | {"Content-Type": "application/json"}
        return httpx.Request("POST", url, headers=headers, content=content.encode())

    def _check_same_origin(self, poll_url: str, response: httpx.Response) -> None:
        try:
            target = httpx.URL(self._root).join(poll_url)
        except httpx.InvalidURL as exc:
            raise self._malformed(f"pollUrl is not a URL: {poll_url!r}", response) from exc
        base = self._base_url
        if (target.scheme, target.host, target.port) != (base.scheme, base.host, base.port):
            raise self._malformed(
                f"pollUrl points to {target.scheme}://{target.host}, not to the configured "
                f"{base.scheme}://{base.host}; coursegen does not send the API key elsewhere",
                response,
            )

    def _error_body(self, response: httpx.Response) -> ErrorBody | None:
        try:
            data = read_json(response, provider=self.name)
        except MalformedResponse:
            return None
        try:
            return structure(CONVERTER, data, ErrorBody, provider=self.name, raw=response.text)
        except MalformedResponse:
            # Not the documented shape; keep a code if there is one, since it classifies.
            code = data.get("code") if isinstance(data, dict) else None
            return ErrorBody(message="", code=code) if isinstance(code, str) else None

    def _redact(self, text: str) -> str:
        # The vendor's messages never echo the key as documented; a proxy's might.
        key = self._api_key.reveal()
        return text.replace(key, _REDACTED) if key else text

    def _invalid(self, message: str) -> InvalidRequest:
        return InvalidRequest(message, provider=self.name, vendor_code=None)

    def _malformed(self, message: str, response: httpx.Response) -> MalformedResponse:
        return MalformedResponse(
            message, provider=self.name, raw=response.text, status_code=response.status_code
        )


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
    if request.callback_url is not None and (problem := _https_problem(request.callback_url)):
        problems.append(problem)
    return problems


def _https_problem(url: str) -> str | None:
    """Why `url` is no HTTPS callback URL, or None if it is one."""
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL:
        return f"callback_url is not a URL: {url!r}"
    if parsed.scheme != "https" or not parsed.host:
        return f"callback_url must be an https:// URL, not {url!r}"
    return None


def _fraction(percent: float | None) -> float | None:
    if percent is None or not math.isfinite(percent):
        return None
    return min(max(percent / 100.0, 0.0), 1.0)


def _error_info(error: ErrorBody | None) -> JobErrorInfo | None:
    return None if error is None else JobErrorInfo(message=error.message, code=error.code or None)


def _course(course: CourseBody, data: Mapping[str, Any]) -> Course:
    return Course(
        id=course.id,
        title=course.name,
        description=course.headline,
        language=course.language_id,
        format=course.format,
        share_url=course.share_url,
        created_at=course.created_at,
        extra=unknown_keys(data, COURSE_KEYS),
    )
