"""LearningStudioAI, simulated: the vendor's side of the API, written from its docs.

This module is the vendor, not the client: it never imports the adapter or its wire
models, so a mistake in the adapter meets an independent reading of the docs here
instead of being mirrored. What it reproduces (see VENDORS.md, section 1):

- `POST /api/v1/courses` -> 202 `{jobId, status: "pending", pollUrl}`, after auth (401),
  the paid-plan check (403, on every request), validation (400) and the plan's monthly
  credits (403 `USAGE_LIMIT_EXCEEDED_PLAN`, checked before queueing: no job, no credit).
- `GET /api/v1/courses/jobs/{jobId}`: pending, then running with rising progress, then
  completed with the course (or failed, `error.code` best effort) after 60-120 s of
  vendor time; 404 for unknown jobs and for jobs of another key.
- `POST /api/v1/courses/{id}/export` -> 200 SCORM package, synchronous (a few seconds).
- Webhooks to `callbackUrl`: `course.created`, `course.failed`, `course.exported`;
  unsigned, sent once, 10 s timeout, no retries.
- Rate limits per key and per endpoint over a sliding 60 s window, with `RateLimit-*`
  headers on every answer and `Retry-After` on 429s.

Choices where the docs are silent, each the more demanding one for a client:

- The rate limiter runs first (as an express-style middleware would), keyed by the
  credential presented, so even 401s and 403s carry `RateLimit-*` headers and count.
  A request refused with 429 is NOT counted: a client that waits `Retry-After` seconds
  is then admitted. An injected 500 (`Faults.error_rate`) is not counted either.
- Validation is zod-like: `null` is not an omitted field, unknown fields are ignored.
- A failed job reports `progress: 0`, as the docs' example does.
"""

from __future__ import annotations

import itertools
import json
import math
import os
import re
from collections import deque
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias
from urllib.parse import urlsplit

import attrs
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from coursegen.sandbox import DEFAULT_EPOCH, VENDOR_DEFAULT, Sandbox

if TYPE_CHECKING:
    import httpx
    from starlette.requests import Request
    from starlette.routing import BaseRoute
    from starlette.types import ExceptionHandler

    from coursegen.sandbox import Faults, JobScript

__all__ = [
    "DEMO_KEY",
    "Account",
    "Endpoint",
    "ExportRecord",
    "LearningStudioSandbox",
    "SimulatedCourse",
    "SimulatedJob",
    "make_sandbox",
]

DEMO_KEY: Final = "ls_sandbox_demo"
"""The key of the sandbox's default account: paid, on the Pro plan, with credits to spare."""

DEFAULT_CREDITS: Final = 10_000
"""Monthly credits of the default account, one per course created, as on the Pro plan."""

CREDITS_VARIABLE: Final = "COURSEGEN_SANDBOX_CREDITS"
"""Raises (or lowers) the default account's monthly credits when `monthly_credits` is not
given: a fleet larger than 10,000 jobs, or a benchmark, run through
`connect("sandbox+learningstudio://")` without building the simulator itself."""

Endpoint: TypeAlias = Literal["submit", "poll", "export"]
"""The three rate-limited endpoints, named like `coursegen.Operation`."""

DEFAULT_RATE_LIMITS: Final[Mapping[Endpoint, int]] = {"submit": 30, "poll": 120, "export": 30}
"""Requests per key and endpoint in any 60 s, as documented."""

_BASE_URL: Final = "https://learningstudioai.com"
_COURSES: Final = "/api/v1/courses"
_FORMATS: Final = ("onepage", "classic")
_EXPORT_FORMATS: Final = ("scorm12", "scorm2004", "scorm2004_4")
_ADD_ONS: Final = (
    "practical-exercises",
    "wrapup",
    "assessment",
    "articles",
    "videos",
    "agreement",
)
_MAX_SUBJECT: Final = 200
_MAX_OUTLINE: Final = 9
_LOCALE: Final = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_ALNUM: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"
_LOWER_ALNUM: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_SMALL_WORDS: Final = frozenset(
    {"a", "an", "and", "as", "at", "for", "in", "of", "on", "or", "the", "to", "with"}
)
_HEADLINES: Final = (
    "A practical guide for new hires",
    "Everything you need to know about {topic}",
    "A hands-on introduction to {topic}",
    "Build real skills in {topic}, one lesson at a time",
    "The essentials of {topic}, explained clearly",
)
_FAILURE_MESSAGE: Final = "Course outline could not be generated for this subject."
_FAILURE_CODE: Final = "GENERATION_FAILED"
_CODE_PRESENT_RATE: Final = 0.75
"""How often a random failure names its code: the docs call `error.code` best effort."""


@attrs.frozen
class Account:
    """A vendor account: its plan's display name, whether it pays, its monthly credits.

    `plan` is shown as the vendor shows it, in `USAGE_LIMIT_EXCEEDED_PLAN` messages.
    """

    plan: str = "Pro"
    paid: bool = True
    monthly_credits: int = attrs.field(default=DEFAULT_CREDITS, validator=attrs.validators.ge(0))


@attrs.frozen
class SimulatedCourse:
    """A course the vendor generated; it exists from `available_at` (vendor time) on."""

    id: str
    job_id: str
    name: str
    headline: str
    format: str
    language_id: str
    share_url: str
    created_at: datetime
    available_at: float

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "name": self.name,
            "headline": self.headline,
            "format": self.format,
            "languageId": self.language_id,
            "shareUrl": self.share_url,
            "createdAt": _iso(self.created_at),
        }


@attrs.define
class SimulatedJob:
    """One generation job and its whole planned timeline, in vendor seconds.

    The fate is drawn (or scripted) at creation; what a poll reports is computed from
    the clock, so nothing has to run in the background for a job to progress.
    """

    id: str
    owner: str = attrs.field(repr=False)
    """The API key that created the job (only it may see the job)."""
    request: Mapping[str, Any]
    created_at: float
    running_at: float
    ends_at: float
    outcome: Literal["succeed", "fail"]
    course: SimulatedCourse | None
    error: Mapping[str, str] | None
    statuses: tuple[str, ...] = ()
    scripted: bool = False

    def status_at(self, t: float) -> str:
        """The raw status string a poll at vendor time `t` reports."""
        if t >= self.ends_at:
            return "completed" if self.outcome == "succeed" else "failed"
        if self.statuses:
            span = self.ends_at - self.created_at
            index = math.floor((t - self.created_at) / span * len(self.statuses))
            return self.statuses[min(max(index, 0), len(self.statuses) - 1)]
        return "pending" if t < self.running_at else "running"

    def progress_at(self, t: float) -> int:
        status = self.status_at(t)
        if status == "completed":
            return 100
        if status in {"pending", "failed"}:
            return 0
        start = self.created_at if self.statuses else self.running_at
        fraction = (t - start) / (self.ends_at - start)
        # Never 100 before the job is done: a client must not take progress for completion.
        return min(max(math.floor(fraction * 100), 0), 99)

    def to_json(self, t: float) -> dict[str, Any]:
        status = self.status_at(t)
        body: dict[str, Any] = {
            "jobId": self.id,
            "status": status,
            "progress": self.progress_at(t),
            "course": self.course.to_json() if status == "completed" and self.course else None,
        }
        if status == "failed" and self.error is not None:
            body["error"] = dict(self.error)
        return body


@attrs.frozen
class ExportRecord:
    """One SCORM export the vendor made."""

    course_id: str
    format: str
    download_url: str
    share_url: str
    exported_at: datetime
    callback_url: str | None = None


class _SlidingWindow:
    """Requests admitted in the last `window` vendor seconds, for one key and endpoint."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self._hits: deque[float] = deque()

    def _trim(self, now: float) -> None:
        while self._hits and self._hits[0] <= now - self.window:
            self._hits.popleft()

    def admit(self, now: float) -> bool:
        self._trim(now)
        if len(self._hits) >= self.limit:
            return False
        self._hits.append(now)
        return True

    def reset_after(self, now: float) -> int:
        """Whole seconds until the oldest request leaves the window (0: the window is empty)."""
        self._trim(now)
        if not self._hits:
            return 0
        # Rounded first so that float noise never turns 60 into 61.
        return max(math.ceil(round(self._hits[0] + self.window - now, 6)), 1)

    def headers(self, now: float) -> dict[str, str]:
        self._trim(now)
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(max(self.limit - len(self._hits), 0)),
            "RateLimit-Reset": str(self.reset_after(now)),
        }


@attrs.frozen
class _Admitted:
    """A request that passed the checks every endpoint shares, with its rate headers."""

    key: str
    account: Account
    headers: Mapping[str, str]


def _default_credits() -> int:
    value = os.environ.get(CREDITS_VARIABLE, "").strip()
    if not value:
        return DEFAULT_CREDITS
    try:
        return int(value)
    except ValueError:
        raise ValueError(f"{CREDITS_VARIABLE} must be an integer, not {value!r}") from None


class LearningStudioSandbox(Sandbox):
    """The LearningStudioAI API, simulated on vendor time.

    Options beyond the toolkit's (`speed`, `faults`, `seed`, `epoch`, `webhook_transport`):

    - `keys`: accounts by API key, merged over the default paid Pro account of
      `DEMO_KEY` (pass `{DEMO_KEY: Account(paid=False)}` to downgrade it).
    - `failure_rate`: share of unscripted jobs that fail (default 0: the demo succeeds).
    - `job_duration`, `pending_duration`, `export_duration`: ranges of vendor seconds,
      drawn uniformly from the seeded RNG.
    - `rate_limits`, `rate_window`: the budget per key and endpoint; unnamed endpoints
      keep the documented limits.
    - `monthly_credits`: the default account's credits (one per course created; default
      `COURSEGEN_SANDBOX_CREDITS` if set, else 10,000). A 10,000-job fleet spends the
      default's all; a larger one needs more, or its creates get 403
      `USAGE_LIMIT_EXCEEDED_PLAN` as on the real vendor.

    For tests: `jobs`, `courses`, `exports`, `credits_used`, `polls` (vendor times of
    every GET of each job id), `rate_limited_count`, plus the toolkit's `requests` and
    `webhooks`. `accounts` may be changed at run time: the plan is checked per request.
    """

    name = "learningstudio"
    base_url = _BASE_URL

    def __init__(
        self,
        *,
        speed: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        keys: Mapping[str, Account] | None = None,
        failure_rate: float = 0.0,
        job_duration: tuple[float, float] = (60.0, 120.0),
        pending_duration: tuple[float, float] = (2.0, 5.0),
        export_duration: tuple[float, float] = (2.0, 8.0),
        rate_limits: Mapping[Endpoint, int] | None = None,
        rate_window: float = 60.0,
        monthly_credits: int | None = None,
    ) -> None:
        super().__init__(
            speed=speed,
            faults=faults,
            seed=seed,
            epoch=epoch,
            webhook_transport=webhook_transport,
        )
        self.check_options(
            rates={"failure_rate": failure_rate},
            spans={
                "job_duration": job_duration,
                "pending_duration": pending_duration,
                "export_duration": export_duration,
            },
        )
        self.demo_key = DEMO_KEY
        allowance = _default_credits() if monthly_credits is None else monthly_credits
        if allowance < 0:
            raise ValueError(f"monthly_credits must be >= 0, got {allowance!r}")
        self.accounts: dict[str, Account] = {
            DEMO_KEY: Account(monthly_credits=allowance),
            **(keys or {}),
        }
        self.failure_rate = failure_rate
        self.job_duration = job_duration
        self.pending_duration = pending_duration
        self.export_duration = export_duration
        self.rate_limits: dict[Endpoint, int] = {**DEFAULT_RATE_LIMITS, **(rate_limits or {})}
        self.rate_window = rate_window
        self.jobs: dict[str, SimulatedJob] = {}
        self.exports: list[ExportRecord] = []
        self.credits_used: dict[str, int] = {}
        self.polls: dict[str, list[float]] = {}
        self.rate_limited_count = 0
        self._windows: dict[tuple[str, Endpoint], _SlidingWindow] = {}

    # -- for tests ----------------------------------------------------------------------

    @property
    def courses(self) -> dict[str, SimulatedCourse]:
        """The courses generated by now, by id."""
        now = self.vendor_now()
        return {
            job.course.id: job.course
            for job in self.jobs.values()
            if job.course is not None and job.outcome == "succeed" and job.ends_at <= now
        }

    def poll_intervals(self, job_id: str) -> list[float]:
        """Vendor seconds between consecutive GETs of one job (the docs ask for >= 5)."""
        times = self.polls.get(job_id, [])
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    # -- the app --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(_COURSES, self._create, methods=["POST"]),
            Route(f"{_COURSES}/jobs/{{job_id}}", self._get_job, methods=["GET"]),
            Route(f"{_COURSES}/{{course_id}}/export", self._export, methods=["POST"]),
        ]

    def exception_handlers(self) -> Mapping[Any, ExceptionHandler]:
        return {404: self._no_route, 405: self._no_route}

    async def _no_route(self, request: Request, exc: Exception) -> Response:  # noqa: ARG002 - Starlette's handler signature
        status = getattr(exc, "status_code", 404)
        if status == 405:  # noqa: PLR2004 - the HTTP status is the clearest name
            return _error(405, "METHOD_NOT_ALLOWED", "Method not allowed")
        return _error(404, "NOT_FOUND", "Not found")

    def internal_error(self, request: Request) -> Response:
        # The vendor's rate limiter ran before the failure, so its headers are there,
        # but the failed request is not counted against the key.
        endpoint = _endpoint_of(request.method, request.url.path)
        headers: dict[str, str] = {}
        if endpoint is not None:
            credential = _credential(request.headers.get("authorization"))
            headers = self._window(credential, endpoint).headers(self.vendor_now())
        return _error(500, "INTERNAL_ERROR", "Internal server error", headers)

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        # The vendor's own refusal: its body, no requests left, `Retry-After` seconds.
        endpoint = _endpoint_of(request.method, request.url.path)
        headers: dict[str, str] = {}
        if endpoint is not None:
            credential = _credential(request.headers.get("authorization"))
            headers = self._window(credential, endpoint).headers(self.vendor_now())
        wait = str(math.ceil(retry_after))
        headers |= {"RateLimit-Remaining": "0", "RateLimit-Reset": wait, "Retry-After": wait}
        return _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)

    def _window(self, credential: str, endpoint: Endpoint) -> _SlidingWindow:
        window = self._windows.get((credential, endpoint))
        if window is None:
            window = _SlidingWindow(self.rate_limits[endpoint], self.rate_window)
            self._windows[(credential, endpoint)] = window
        return window

    def _gate(self, request: Request, endpoint: Endpoint) -> _Admitted | Response:
        """Rate limit, then authentication, then the paid-plan check: every endpoint's start.

        Returns the refusal to send, or what the handler needs to go on.
        """
        now = self.vendor_now()
        authorization = request.headers.get("authorization")
        window = self._window(_credential(authorization), endpoint)
        if not window.admit(now):
            self.rate_limited_count += 1
            headers = window.headers(now)
            headers["Retry-After"] = headers["RateLimit-Reset"]
            return _error(429, "RATE_LIMIT_EXCEEDED", "Too many requests", headers)
        headers = window.headers(now)
        if authorization is None:
            return _error(401, "INVALID_API_KEY", "Missing Authorization header", headers)
        if not authorization.startswith("Bearer "):
            message = "Malformed Authorization header: expected 'Bearer <key>'"
            return _error(401, "INVALID_API_KEY", message, headers)
        key = authorization.removeprefix("Bearer ")
        account = self.accounts.get(key)
        if account is None:
            return _error(401, "INVALID_API_KEY", "Invalid API key", headers)
        if not account.paid:
            return _error(403, "PAID_PLAN_REQUIRED", "API access requires a paid plan", headers)
        return _Admitted(key, account, headers)

    async def _create(self, request: Request) -> Response:
        gate = self._gate(request, "submit")
        if isinstance(gate, Response):
            return gate
        payload, problem = _json_object(await request.body())
        if problem is None:
            problem = _invalid_course(payload)
        if problem is not None:
            return _error(400, "VALIDATION_ERROR", problem, gate.headers)
        used = self.credits_used.get(gate.key, 0)
        if used >= gate.account.monthly_credits:
            return _error(
                403,
                "USAGE_LIMIT_EXCEEDED_PLAN",
                f"Usage limit exceeded for your plan ({gate.account.plan})",
                gate.headers,
            )
        self.credits_used[gate.key] = used + 1
        job = self._new_job(gate.key, payload)
        body = {"jobId": job.id, "status": "pending", "pollUrl": f"{_COURSES}/jobs/{job.id}"}
        return JSONResponse(body, status_code=202, headers=gate.headers)

    def _new_job(self, owner: str, payload: Mapping[str, Any]) -> SimulatedJob:
        now = self.vendor_now()
        rng = self.random
        script = self.next_script()
        # Every draw is made for every job, scripted or not, so that scripting one job
        # leaves the ids and timings of all the others unchanged.
        job_id = "".join(rng.choices(_ALNUM, k=20))
        course_id = "cou_" + "".join(rng.choices(_LOWER_ALNUM, k=12))
        drawn_duration = rng.uniform(*self.job_duration)
        drawn_pending = rng.uniform(*self.pending_duration)
        drawn_failure = rng.random() < self.failure_rate
        drawn_code = rng.random() < _CODE_PRESENT_RATE
        headline_template = rng.choice(_HEADLINES)

        duration = drawn_duration if script is None or script.duration is None else script.duration
        outcome: Literal["succeed", "fail"]
        if script is None:
            outcome = "fail" if drawn_failure else "succeed"
        else:
            outcome = "fail" if script.outcome == "fail" else "succeed"
        ends_at = now + duration
        subject = str(payload["subject"]).strip()
        course = None
        error = None
        if outcome == "succeed":
            course = SimulatedCourse(
                id=course_id,
                job_id=job_id,
                name=_title(subject),
                headline=headline_template.format(topic=_topic(subject)),
                format=payload.get("format", "onepage"),
                language_id=payload.get("languageId", "en-US"),
                share_url=f"{_BASE_URL}/go/{course_id}",
                created_at=self.wall_clock(ends_at),
                available_at=ends_at,
            )
        else:
            error = _failure(script, code_present=drawn_code)
        job = SimulatedJob(
            id=job_id,
            owner=owner,
            request=dict(payload),
            created_at=now,
            # Pending for a few seconds, but never for most of a short scripted job.
            running_at=now + min(drawn_pending, duration / 2),
            ends_at=ends_at,
            outcome=outcome,
            course=course,
            error=error,
            statuses=script.statuses if script is not None else (),
            scripted=script is not None,
        )
        self.jobs[job_id] = job
        callback = payload.get("callbackUrl")
        if callback is not None:
            if course is not None:
                event = "course.created"
                webhook: dict[str, Any] = {
                    "event": event,
                    "jobId": job_id,
                    "course": {
                        key: value
                        for key, value in course.to_json().items()
                        if key in {"id", "name", "headline", "shareUrl", "createdAt"}
                    },
                }
            else:
                event = "course.failed"
                webhook = {"event": event, "jobId": job_id, "error": dict(error or {})}
            self.schedule_webhook(callback, event, webhook, due=ends_at)
        return job

    async def _get_job(self, request: Request) -> Response:
        job_id: str = request.path_params["job_id"]
        now = self.vendor_now()
        # Every attempt counts, refused ones too: the docs' 5 s floor is about sending.
        self.polls.setdefault(job_id, []).append(now)
        gate = self._gate(request, "poll")
        if isinstance(gate, Response):
            return gate
        job = self.jobs.get(job_id)
        if job is None or job.owner != gate.key:
            return _error(404, "NOT_FOUND", "Job not found", gate.headers)
        return JSONResponse(job.to_json(now), headers=gate.headers)

    async def _export(self, request: Request) -> Response:
        gate = self._gate(request, "export")
        if isinstance(gate, Response):
            return gate
        body = await request.body()
        # The body is optional: no body at all asks for the default format.
        payload, problem = _json_object(body) if body.strip() else ({}, None)
        if problem is None:
            problem = _invalid_export(payload)
        if problem is not None:
            return _error(400, "VALIDATION_ERROR", problem, gate.headers)
        course = self.courses.get(request.path_params["course_id"])
        if course is None or self.jobs[course.job_id].owner != gate.key:
            return _error(404, "NOT_FOUND", "Course not found", gate.headers)
        export_format: str = payload.get("format", "scorm12")
        # Synchronous, as documented: the answer comes once the package is built.
        await self.sleep(self.random.uniform(*self.export_duration))
        record = ExportRecord(
            course_id=course.id,
            format=export_format,
            download_url=f"{_BASE_URL}/exports/{course.id}-{export_format}.zip",
            share_url=course.share_url,
            exported_at=self.wall_clock(),
            callback_url=payload.get("callbackUrl"),
        )
        self.exports.append(record)
        result = {
            "courseId": record.course_id,
            "format": record.format,
            "downloadUrl": record.download_url,
            "shareUrl": record.share_url,
            "exportedAt": _iso(record.exported_at),
        }
        if record.callback_url is not None:
            self.schedule_webhook(
                record.callback_url, "course.exported", {"event": "course.exported", **result}
            )
        return JSONResponse(result, headers=gate.headers)


def make_sandbox(**options: Any) -> LearningStudioSandbox:
    """Build the LearningStudioAI simulator; `options` are `LearningStudioSandbox`'s."""
    return LearningStudioSandbox(**options)


# -- helpers ------------------------------------------------------------------------------


def _error(
    status: int, code: str, message: str, headers: Mapping[str, str] | None = None
) -> Response:
    return JSONResponse({"message": message, "code": code}, status_code=status, headers=headers)


def _credential(authorization: str | None) -> str:
    """Who a request's rate budget belongs to: the key presented, whatever it is worth."""
    if authorization is None:
        return ""
    return authorization.removeprefix("Bearer ")


def _endpoint_of(method: str, path: str) -> Endpoint | None:
    parts = path.strip("/").split("/")
    base = _COURSES.strip("/").split("/")
    if parts[:3] != base:
        return None
    rest = parts[3:]
    if method == "POST" and not rest:
        return "submit"
    if method == "GET" and len(rest) == 2 and rest[0] == "jobs":  # noqa: PLR2004 - jobs/<id>
        return "poll"
    if method == "POST" and len(rest) == 2 and rest[1] == "export":  # noqa: PLR2004 - <id>/export
        return "export"
    return None


def _json_object(body: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        payload = json.loads(body)
    except ValueError:
        return {}, "Request body must be valid JSON"
    if not isinstance(payload, dict):
        return {}, "Request body must be a JSON object"
    return payload, None


def _type_name(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, list):
        return "array"
    if isinstance(value, dict):
        return "object"
    return "string" if isinstance(value, str) else type(value).__name__


def _https_url(value: object) -> bool:
    if not isinstance(value, str):
        return False
    parts = urlsplit(value)
    return parts.scheme == "https" and bool(parts.hostname)


def _invalid_course(payload: Mapping[str, Any]) -> str | None:  # noqa: C901, PLR0911, PLR0912 - one check per documented rule reads best flat
    """The first rule `payload` breaks, in the vendor's words; None when it is valid."""
    if "subject" not in payload:
        return "subject: Required"
    subject = payload["subject"]
    if not isinstance(subject, str):
        return f"subject: Expected string, received {_type_name(subject)}"
    if not subject.strip() or len(subject) > _MAX_SUBJECT:
        return f"subject: String must contain between 1 and {_MAX_SUBJECT} character(s)"
    if "format" in payload and payload["format"] not in _FORMATS:
        return "format: Invalid enum value. Expected 'onepage' | 'classic'"
    if "languageId" in payload:
        language = payload["languageId"]
        if not isinstance(language, str) or not _LOCALE.fullmatch(language):
            return "languageId: Invalid locale code (e.g. 'en-US')"
    if "outline" in payload:
        outline = payload["outline"]
        if not isinstance(outline, list):
            return f"outline: Expected array, received {_type_name(outline)}"
        if len(outline) > _MAX_OUTLINE:
            return f"outline: Array must contain at most {_MAX_OUTLINE} element(s)"
        for index, item in enumerate(outline):
            if not isinstance(item, str) or not item.strip():
                return f"outline.{index}: Expected a non-empty string"
    if "addOns" in payload:
        add_ons = payload["addOns"]
        if not isinstance(add_ons, list):
            return f"addOns: Expected array, received {_type_name(add_ons)}"
        for index, item in enumerate(add_ons):
            if item not in _ADD_ONS:
                return f"addOns.{index}: Invalid enum value. Expected {' | '.join(_ADD_ONS)}"
    if "callbackUrl" in payload and not _https_url(payload["callbackUrl"]):
        return "callbackUrl: Must be an https URL"
    return None


def _invalid_export(payload: Mapping[str, Any]) -> str | None:
    if "format" in payload and payload["format"] not in _EXPORT_FORMATS:
        return f"format: Invalid enum value. Expected {' | '.join(_EXPORT_FORMATS)}"
    if "callbackUrl" in payload and not _https_url(payload["callbackUrl"]):
        return "callbackUrl: Must be an https URL"
    return None


def _failure(script: JobScript | None, *, code_present: bool) -> dict[str, str]:
    if script is None:
        code: str | None = _FAILURE_CODE if code_present else None
        message = _FAILURE_MESSAGE
    else:
        code = _FAILURE_CODE if script.error_code is VENDOR_DEFAULT else script.error_code
        message = (
            _FAILURE_MESSAGE if script.error_message is VENDOR_DEFAULT else script.error_message
        )
    return {"message": message} if code is None else {"message": message, "code": code}


def _title(subject: str) -> str:
    """The course name the vendor derives from a subject: title case, small words kept low."""
    words = subject.split()
    return " ".join(
        word if index and word.lower() in _SMALL_WORDS else word[:1].upper() + word[1:]
        for index, word in enumerate(words)
    )


def _topic(subject: str) -> str:
    """The subject as it reads mid-sentence; acronyms such as "SQL basics" keep their case."""
    if len(subject) > 1 and subject[:2].isupper():
        return subject
    return subject[:1].lower() + subject[1:]


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as the vendor writes `createdAt`."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
