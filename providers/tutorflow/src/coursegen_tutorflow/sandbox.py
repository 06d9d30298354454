"""TutorFlow Agent Platform, simulated: the vendor's side of the API, written from its docs.

This module is the vendor, not the client: it never imports the adapter or its wire
models, so a mistake in the adapter meets an independent reading of the docs here
instead of being mirrored. What it reproduces (seed 002 and VENDORS.md, section 2):

- `POST /v1/platform/courses`: a course request from a `prompt`, after auth (401
  `platform_invalid_api_key | platform_api_key_revoked | platform_api_key_expired`), the
  workspace checks (403 `email_verification_required | platform_workspace_suspended`,
  `platform_forbidden` for a read-only key), validation (400 `platform_invalid_request`)
  and the price check (402 `platform_insufficient_credits` on a prepaid balance, 403
  `free_credits_exhausted` on the free plan). `mode: "async"` answers 202 at once;
  the default `sync` answers 201 once the course is done. The idempotency key (header
  `Idempotency-Key` or body `idempotencyKey`) makes a replay answer 200 with the
  original request and `idempotentReplay: true`; the same key with another body is 409
  `platform_conflict`.
- `GET /v1/platform/courses/{id}`: PENDING, then PROCESSING, then COMPLETED or FAILED,
  with `isTerminal` and, until the end, `pollAfterMs` (3000 by default). Result-side
  fields (chapters, lessons, lessonCount, shareToken, thumbnailUrl, previewUrl, publicUrl,
  completedAt, slug) are ABSENT until the course is done; courseId, title and
  description are `null`. 404 `platform_not_found` for unknown requests and for those
  of another workspace. `GET /v1/platform/courses?status=&limit=&offset=` lists them.
- `priceSnapshot`: $0.05 per generated lesson (`lessonCount`, default 5), priced at
  creation and present from the first answer.
- Public pages, with no key: `/v1/platform/courses/public/{shareToken}` (summary),
  `.../full` (chapters, lessons with content, an edit token), `.../lessons/{sequence}`.
- Rate limits per WORKSPACE, every keyed endpoint in one pool: 60 requests a minute
  (1000 on the production plan), in fixed windows. Keyed answers carry
  `X-RateLimit-Limit`, `-Remaining` and `-Reset`, the last an ABSOLUTE Unix time; every
  answer carries a `Date` header on the same (vendor) clock.
- Errors in the envelope `{"error": {"code", "message", "status"}}`; an injected fault
  is 500 `platform_internal_error`.
- Webhooks to the workspace's endpoint (configured per workspace, as in the vendor's
  dashboard): `course.deployed` when a course is done and the legacy `course.completed`
  when a request FAILED (sic), signed in `X-Platform-Signature` (hex HMAC-SHA256 of the
  raw body, keyed by the secret or, with `signature_key="sha256"`, by the hex SHA-256 of
  it), the event in `X-Platform-Event`; retried after 5, 25 and 125 s.

Choices where the docs are silent, each the more demanding one for a client:

- Authentication runs first, then the workspace's rate limiter: a bad key is 401 with no
  rate headers. A request refused with 429 is not counted, nor is an injected 500.
- The 429 carries no `Retry-After`: only the absolute `X-RateLimit-Reset` says when.
- Validation is class-validator-like: optional fields may be `null`, unknown fields are
  ignored (they still reach `jobs[...].request`).
- The docs define no failure reason: a FAILED request says nothing about why, unless a
  `JobScript` names a code or message, which then appear as an undocumented `error`.
- A request's unknown routes and methods get the framework's 404 `platform_not_found`.
- `payment_required` and `x402_payment_failed` (x402 payments) are not simulated.
"""

from __future__ import annotations

import hashlib
import hmac
import itertools
import json
import math
import re
import uuid
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from email.utils import format_datetime
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

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
    "DEMO_WEBHOOK_SECRET",
    "DEMO_WORKSPACE",
    "ApiKey",
    "PollRecord",
    "SimulatedCourse",
    "SimulatedRequest",
    "TutorFlowSandbox",
    "Workspace",
    "make_sandbox",
]

DEMO_KEY: Final = "tf_platform_sandbox_demo"
"""The key of the sandbox's default workspace: standard plan, billed monthly (no balance)."""
DEMO_WORKSPACE: Final = "ws_sandbox_demo"
DEMO_WEBHOOK_SECRET: Final = "tf_whsec_sandbox_demo"  # noqa: S105 - a published demo value
"""The default workspace's webhook secret (its endpoint is unset until a test sets one)."""

UNIT_PRICE: Final = Decimal("0.05")
"""US dollars per generated lesson, as the newest docs price it."""
DEFAULT_POLL_AFTER_MS: Final[Mapping[str, int]] = {"PENDING": 3000, "PROCESSING": 3000}
"""The `pollAfterMs` hint by status (any other, scripted, status gets 3000)."""
PLAN_RATE_LIMITS: Final[Mapping[str, int]] = {"free": 60, "standard": 60, "production": 1000}
LESSON_TYPES: Final = (
    "ai-tutor",
    "coding-lesson",
    "coding-test",
    "chat-ai",
    "reading-comprehension",
    "exam",
    "flashcard",
    "markdown",
)

Plan: TypeAlias = Literal["free", "standard", "production"]

_BASE_URL: Final = "https://api.tutorflow.io"
_SITE: Final = "https://tutorflow.io"
_COURSES: Final = "/v1/platform/courses"
_LEVELS: Final = ("beginner", "intermediate", "advanced")
_TIERS: Final = ("basic", "standard", "advanced")
_MODES: Final = ("sync", "async")
_MAX_LESSONS: Final = 50
_DEFAULT_LESSONS: Final = 5
_LESSONS_PER_CHAPTER: Final = 3
_MAX_KEY: Final = 255
_LANGUAGE: Final = re.compile(r"[a-z]{2,3}(-[A-Za-z0-9]{2,8})*")
_SLUG: Final = re.compile(r"[^a-z0-9]+")
_SMALL_WORDS: Final = frozenset(
    {"a", "an", "and", "as", "at", "for", "in", "of", "on", "or", "the", "to", "with"}
)
_CHAPTER_TITLES: Final = (
    "Getting Started with {topic}",
    "Core Ideas of {topic}",
    "{topic} in Practice",
    "Going Further with {topic}",
    "Common Pitfalls in {topic}",
    "Review and Next Steps",
)
_LESSON_TITLES: Final = (
    "Welcome to {topic}",
    "Key Terms",
    "A Guided Example",
    "Try It Yourself",
    "Check Your Understanding",
    "Putting It Together",
)
_DESCRIPTION: Final = "A {level}-friendly course on {topic}."
_PRICE_SOURCE: Final = "platform_pricing_catalog_v2"
_TERMINAL: Final = frozenset({"COMPLETED", "FAILED"})


@attrs.frozen
class Workspace:
    """A TutorFlow workspace: its plan, its balance, its standing and its webhook endpoint.

    - `plan`: "free", "standard" or "production"; the rate limit follows it (60, 60 and
      1000 a minute) unless `rate_limit` says otherwise.
    - `credits_usd`: a prepaid balance in dollars (None: billed monthly, no limit). On the
      free plan it is the free allowance, and running out is 403 `free_credits_exhausted`;
      on other plans 402 `platform_insufficient_credits`.
    - `email_verified`, `suspended`: the owner's standing; either refuses every keyed call.
    - `webhook_url`, `webhook_secret`, `signature_key`: where events go and how they are
      signed ("secret": HMAC keyed by the secret; "sha256": by its hex SHA-256).
    """

    plan: Plan = "standard"
    rate_limit: int | None = attrs.field(default=None)
    credits_usd: Decimal | None = None
    email_verified: bool = True
    suspended: bool = False
    webhook_url: str | None = None
    webhook_secret: str | None = attrs.field(default=None, repr=False)
    signature_key: Literal["secret", "sha256"] = "secret"

    @property
    def limit(self) -> int:
        return self.rate_limit if self.rate_limit is not None else PLAN_RATE_LIMITS[self.plan]


@attrs.frozen
class ApiKey:
    """A Platform API key (`tf_platform_...`) of one workspace, and its state."""

    workspace: str
    revoked: bool = False
    expired: bool = False
    read_only: bool = False
    """A read-only key may poll but not create: 403 `platform_forbidden`."""


@attrs.frozen
class SimulatedCourse:
    """A course the vendor generated; it exists from `available_at` (vendor time) on."""

    id: str
    request_id: str
    title: str
    description: str
    language: str
    slug: str
    share_token: str
    edit_token: str = attrs.field(repr=False)
    chapters: tuple[Mapping[str, Any], ...]
    lessons: tuple[Mapping[str, Any], ...]
    """Each lesson as the API shows it, plus its `content` (public pages only)."""
    preview_url: str
    public_url: str
    completed_at: datetime
    available_at: float


@attrs.frozen
class PollRecord:
    """One GET of a course request: when (vendor time), the answer, and its hint."""

    vendor_time: float
    http_status: int
    status: str | None = None
    poll_after_ms: int | None = None


@attrs.define
class SimulatedRequest:
    """One course request (the client's job) and its whole planned timeline, in vendor
    seconds. What a GET reports is computed from the clock: nothing runs in the background.
    """

    id: str
    workspace: str
    request: Mapping[str, Any]
    fingerprint: str = attrs.field(repr=False)
    """The body, canonical, without its idempotency key: what a replay must repeat."""
    idempotency_key: str | None
    created_at: float
    processing_at: float
    ends_at: float
    outcome: Literal["succeed", "fail"]
    course: SimulatedCourse | None
    price: Mapping[str, Any]
    created_wall: datetime
    poll_after_ms: Mapping[str, int]
    statuses: tuple[str, ...] = ()
    error: Mapping[str, str] | None = None
    scripted: bool = False

    def status_at(self, t: float) -> str:
        """The raw status word a GET at vendor time `t` reports."""
        if t >= self.ends_at:
            return "COMPLETED" if self.outcome == "succeed" else "FAILED"
        if self.statuses:
            span = self.ends_at - self.created_at
            index = math.floor((t - self.created_at) / span * len(self.statuses))
            return self.statuses[min(max(index, 0), len(self.statuses) - 1)]
        return "PENDING" if t < self.processing_at else "PROCESSING"

    def to_json(self, t: float, *, replay: bool = False) -> dict[str, Any]:
        """The `CourseResDto` at vendor time `t`, keys in the docs' order."""
        status = self.status_at(t)
        done = status == "COMPLETED" and self.course is not None
        course = self.course if done else None
        request = self.request
        body: dict[str, Any] = {
            "id": self.id,
            "status": status,
            "courseId": course.id if course else None,
            "title": course.title if course else None,
            "description": course.description if course else None,
            "language": request.get("language") or "en",
            "subject": request.get("subject"),
            "level": request.get("level"),
        }
        if course:
            body["slug"] = course.slug
        body |= {
            "tier": request.get("tier") or "default",
            "mode": request.get("mode") or "sync",
            "hasQuiz": True,
            "hasPractice": True,
        }
        if course:
            body["lessonCount"] = len(course.lessons)
        body["priceSnapshot"] = dict(self.price)
        if course:
            body |= {
                "shareToken": course.share_token,
                "thumbnailUrl": None,
                "previewUrl": course.preview_url,
                "publicUrl": course.public_url,
                "chapters": [dict(chapter) for chapter in course.chapters],
                "lessons": [_without_content(lesson) for lesson in course.lessons],
            }
        if status == "FAILED" and self.error is not None:
            body["error"] = dict(self.error)
        terminal = status in _TERMINAL
        body |= {
            "idempotencyKey": self.idempotency_key,
            "idempotentReplay": True if replay else None,
            "isTerminal": terminal,
        }
        if not terminal:
            body["pollAfterMs"] = self.poll_after_ms.get(status, 3000)
        body["createdAt"] = _iso(self.created_wall)
        if course:
            body["completedAt"] = _iso(course.completed_at)
        return body


class _FixedWindow:
    """A workspace's requests in the current fixed window of `window` vendor seconds."""

    def __init__(self, limit: int, window: float) -> None:
        self.limit = limit
        self.window = window
        self.start = -math.inf
        self.count = 0

    def _roll(self, now: float) -> None:
        start = math.floor(now / self.window) * self.window
        if start != self.start:
            self.start = start
            self.count = 0

    def admit(self, now: float) -> bool:
        self._roll(now)
        if self.count >= self.limit:
            return False
        self.count += 1
        return True

    def reset_at(self, now: float) -> float:
        """The vendor time at which the current window ends."""
        self._roll(now)
        return self.start + self.window

    def headers(self, now: float, reset_wall: datetime) -> dict[str, str]:
        self._roll(now)
        return {
            "X-RateLimit-Limit": str(self.limit),
            "X-RateLimit-Remaining": str(max(self.limit - self.count, 0)),
            # An absolute Unix time, rounded up: never earlier than the real reset.
            "X-RateLimit-Reset": str(math.ceil(round(reset_wall.timestamp(), 6))),
        }


@attrs.frozen
class _Admitted:
    """A keyed request that passed auth, the rate limiter and the workspace checks."""

    key: str
    api_key: ApiKey
    workspace_id: str
    workspace: Workspace
    headers: Mapping[str, str]


class TutorFlowSandbox(Sandbox):
    """The TutorFlow Agent Platform API, simulated on vendor time.

    Options beyond the toolkit's (`speed`, `faults`, `seed`, `epoch`, `webhook_transport`):

    - `workspaces`: workspaces by id, merged over the default `DEMO_WORKSPACE`
      (standard plan, no balance, webhook secret `DEMO_WEBHOOK_SECRET`, no endpoint).
    - `keys`: API keys, merged over `DEMO_KEY` (of `DEMO_WORKSPACE`).
    - `failure_rate`: share of unscripted requests that fail (default 0).
    - `job_duration`, `pending_duration`: ranges of vendor seconds, drawn from the seed.
    - `poll_after_ms`: the `pollAfterMs` hint by status (default 3000 ms for both).
    - `rate_window`: the fixed window of the per-workspace limit (default 60 s).

    For tests: `jobs` (course requests by id), `courses` (generated by now), `charged`
    (dollars per workspace), `polls` (every GET of each request), `rate_limited_count`,
    plus the toolkit's `requests` and `webhooks`. `workspaces` and `api_keys` may be
    changed at run time: both are read on every request.
    """

    name = "tutorflow"
    base_url = _BASE_URL
    webhook_retry_delays = (5.0, 25.0, 125.0)

    def __init__(
        self,
        *,
        speed: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        workspaces: Mapping[str, Workspace] | None = None,
        keys: Mapping[str, ApiKey] | None = None,
        failure_rate: float = 0.0,
        job_duration: tuple[float, float] = (15.0, 45.0),
        pending_duration: tuple[float, float] = (1.0, 3.0),
        poll_after_ms: Mapping[str, int] | None = None,
        rate_window: float = 60.0,
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
            spans={"job_duration": job_duration, "pending_duration": pending_duration},
        )
        if not rate_window > 0:
            raise ValueError(f"rate_window must be positive, got {rate_window!r}")
        self.demo_key = DEMO_KEY
        self.workspaces: dict[str, Workspace] = {
            DEMO_WORKSPACE: Workspace(webhook_secret=DEMO_WEBHOOK_SECRET),
            **(workspaces or {}),
        }
        self.api_keys: dict[str, ApiKey] = {DEMO_KEY: ApiKey(DEMO_WORKSPACE), **(keys or {})}
        self.failure_rate = failure_rate
        self.job_duration = job_duration
        self.pending_duration = pending_duration
        self.poll_after_ms: dict[str, int] = {**DEFAULT_POLL_AFTER_MS, **(poll_after_ms or {})}
        self.rate_window = rate_window
        self.jobs: dict[str, SimulatedRequest] = {}
        self.charged: dict[str, Decimal] = {}
        self.polls: dict[str, list[PollRecord]] = {}
        self.rate_limited_count = 0
        self._windows: dict[str, _FixedWindow] = {}
        self._idempotency: dict[tuple[str, str], str] = {}

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
        """Vendor seconds between consecutive GETs of one course request."""
        times = [record.vendor_time for record in self.polls.get(job_id, [])]
        return [later - earlier for earlier, later in itertools.pairwise(times)]

    # -- the app --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route(_COURSES, self._create, methods=["POST"]),
            Route(_COURSES, self._list, methods=["GET"]),
            Route(f"{_COURSES}/public/{{token}}", self._public_course, methods=["GET"]),
            Route(f"{_COURSES}/public/{{token}}/full", self._public_full, methods=["GET"]),
            Route(
                f"{_COURSES}/public/{{token}}/lessons/{{sequence}}",
                self._public_lesson,
                methods=["GET"],
            ),
            Route(f"{_COURSES}/{{request_id}}", self._get, methods=["GET"]),
        ]

    def exception_handlers(self) -> Mapping[Any, ExceptionHandler]:
        return {404: self._no_route, 405: self._no_route}

    async def _no_route(self, request: Request, exc: Exception) -> Response:  # noqa: ARG002 - Starlette's handler signature
        # The vendor's framework answers an unknown method like an unknown path.
        message = f"Cannot {request.method} {request.url.path}"
        return self._error(404, "platform_not_found", message)

    def internal_error(self, request: Request) -> Response:
        # The limiter ran before the failure, so its headers are there; the failed
        # request is not counted against the workspace.
        headers: dict[str, str] = {}
        api_key = self.api_keys.get(_bearer(request.headers.get("authorization")) or "")
        if api_key is not None and api_key.workspace in self.workspaces:
            headers = self._rate_headers(api_key.workspace)
        return self._error(500, "platform_internal_error", "Internal server error", headers)

    def rate_limited(self, request: Request, retry_after: float) -> Response:
        # The vendor's refusal says when only through the absolute X-RateLimit-Reset
        # (and `Date`): no Retry-After, as the real one.
        del request  # the pool is the workspace's, whoever asked
        reset = self.wall_clock(self.vendor_now() + retry_after)
        headers = {
            "X-RateLimit-Limit": "60",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset": str(math.ceil(round(reset.timestamp(), 6))),
        }
        message = "Rate limit exceeded for this workspace"
        return self._error(429, "platform_rate_limit_exceeded", message, headers)

    def encode_webhook(self, event: str, body: Any) -> tuple[bytes, Mapping[str, str]]:
        content = json.dumps(body, separators=(",", ":")).encode()
        headers = {
            "content-type": "application/json",
            "user-agent": "tutorflow-sandbox",
            "x-platform-event": event,
        }
        workspace = self.workspaces.get(str(body.get("workspaceId")))
        if workspace is not None and workspace.webhook_secret:
            secret = workspace.webhook_secret.encode()
            if workspace.signature_key == "sha256":
                secret = hashlib.sha256(secret).hexdigest().encode()
            headers["x-platform-signature"] = hmac.new(secret, content, hashlib.sha256).hexdigest()
        return content, headers

    # -- plumbing -------------------------------------------------------------------------

    def _respond(
        self, body: Any, status: int = 200, headers: Mapping[str, str] | None = None
    ) -> Response:
        """A JSON answer with the vendor's `Date` (on vendor time, like the rate reset)."""
        date = format_datetime(self.wall_clock(), usegmt=True)
        return JSONResponse(body, status_code=status, headers={"Date": date, **(headers or {})})

    def _error(
        self, status: int, code: str, message: str, headers: Mapping[str, str] | None = None
    ) -> Response:
        envelope = {"error": {"code": code, "message": message, "status": status}}
        return self._respond(envelope, status, headers)

    def _window(self, workspace_id: str) -> _FixedWindow:
        limit = self.workspaces[workspace_id].limit
        window = self._windows.get(workspace_id)
        if window is None or window.limit != limit:
            fresh = _FixedWindow(limit, self.rate_window)
            if window is not None:  # a plan change keeps what was counted
                fresh.start, fresh.count = window.start, window.count
            window = self._windows[workspace_id] = fresh
        return window

    def _rate_headers(self, workspace_id: str) -> dict[str, str]:
        now = self.vendor_now()
        window = self._window(workspace_id)
        return window.headers(now, self.wall_clock(window.reset_at(now)))

    def _gate(self, request: Request, *, creating: bool = False) -> _Admitted | Response:  # noqa: PLR0911 - one refusal per documented check reads best flat
        """Authentication, the workspace's rate limit, then its standing: every keyed call."""
        authorization = request.headers.get("authorization")
        key = _bearer(authorization)
        if key is None:
            message = (
                "Missing Platform API key"
                if authorization is None
                else "Malformed Authorization header: expected 'Bearer tf_platform_...'"
            )
            return self._error(401, "platform_invalid_api_key", message)
        api_key = self.api_keys.get(key)
        if api_key is None or api_key.workspace not in self.workspaces:
            return self._error(401, "platform_invalid_api_key", "Invalid Platform API key")
        if api_key.revoked:
            return self._error(401, "platform_api_key_revoked", "This API key has been revoked")
        if api_key.expired:
            return self._error(401, "platform_api_key_expired", "This API key has expired")
        now = self.vendor_now()
        window = self._window(api_key.workspace)
        if not window.admit(now):
            self.rate_limited_count += 1
            return self._error(
                429,
                "platform_rate_limit_exceeded",
                f"Rate limit of {window.limit} requests per minute exceeded for this workspace",
                self._rate_headers(api_key.workspace),
            )
        headers = self._rate_headers(api_key.workspace)
        workspace = self.workspaces[api_key.workspace]
        if workspace.suspended:
            message = "This workspace is suspended"
            return self._error(403, "platform_workspace_suspended", message, headers)
        if not workspace.email_verified:
            message = "Verify your email address to use the Platform API"
            return self._error(403, "email_verification_required", message, headers)
        if creating and api_key.read_only:
            message = "This API key may not create courses"
            return self._error(403, "platform_forbidden", message, headers)
        return _Admitted(key, api_key, api_key.workspace, workspace, headers)

    # -- keyed endpoints ------------------------------------------------------------------

    async def _create(self, request: Request) -> Response:
        gate = self._gate(request, creating=True)
        if isinstance(gate, Response):
            return gate
        payload, problem = _json_object(await request.body())
        header_key = request.headers.get("idempotency-key")
        if problem is None:
            problem = _invalid_course(payload, header_key)
        if problem is not None:
            return self._error(400, "platform_invalid_request", problem, gate.headers)
        key = header_key if header_key is not None else payload.get("idempotencyKey")
        fingerprint = _fingerprint(payload)
        if key is not None:
            known = self._idempotency.get((gate.workspace_id, key))
            if known is not None:
                return self._replay(self.jobs[known], fingerprint, gate)
        units = payload.get("lessonCount") or _DEFAULT_LESSONS
        amount = UNIT_PRICE * units
        refusal = self._charge(gate, amount)
        if refusal is not None:
            return refusal
        job = self._new_job(
            gate.workspace_id,
            payload=payload,
            fingerprint=fingerprint,
            key=key,
            units=units,
            amount=amount,
        )
        if key is not None:
            self._idempotency[(gate.workspace_id, key)] = job.id
        if job.request.get("mode", "sync") == "sync":
            # Synchronous, the documented default: the answer comes once the course is.
            await self.sleep(job.ends_at - self.vendor_now())
            body = job.to_json(self.vendor_now())
            return self._respond(body, 201, self._rate_headers(gate.workspace_id))
        return self._respond(job.to_json(self.vendor_now()), 202, gate.headers)

    def _replay(self, job: SimulatedRequest, fingerprint: str, gate: _Admitted) -> Response:
        if job.fingerprint != fingerprint:
            message = "This idempotency key was already used with a different request body"
            return self._error(409, "platform_conflict", message, gate.headers)
        return self._respond(job.to_json(self.vendor_now(), replay=True), 200, gate.headers)

    def _charge(self, gate: _Admitted, amount: Decimal) -> Response | None:
        workspace = gate.workspace
        spent = self.charged.get(gate.workspace_id, Decimal(0))
        if workspace.credits_usd is not None and spent + amount > workspace.credits_usd:
            if workspace.plan == "free":
                message = "Your free credits are exhausted; upgrade to continue"
                return self._error(403, "free_credits_exhausted", message, gate.headers)
            left = workspace.credits_usd - spent
            message = f"Insufficient credits: this request costs ${amount}, ${left} left"
            return self._error(402, "platform_insufficient_credits", message, gate.headers)
        self.charged[gate.workspace_id] = spent + amount
        return None

    def _new_job(
        self,
        workspace_id: str,
        *,
        payload: Mapping[str, Any],
        fingerprint: str,
        key: str | None,
        units: int,
        amount: Decimal,
    ) -> SimulatedRequest:
        now = self.vendor_now()
        rng = self.random
        script = self.next_script()
        # Every draw is made for every request, scripted or not, so that scripting one
        # leaves the ids and timings of all the others unchanged.
        request_id = _uuid(rng.getrandbits(128))
        course_id = _uuid(rng.getrandbits(128))
        share_token = f"{rng.getrandbits(160):040x}"
        edit_token = f"{rng.getrandbits(128):032x}"
        slug_suffix = f"{rng.getrandbits(24):06x}"
        drawn_duration = rng.uniform(*self.job_duration)
        drawn_pending = rng.uniform(*self.pending_duration)
        drawn_failure = rng.random() < self.failure_rate
        types = [rng.choice(LESSON_TYPES) for _ in range(units)]

        duration = drawn_duration if script is None or script.duration is None else script.duration
        outcome: Literal["succeed", "fail"]
        if script is None:
            outcome = "fail" if drawn_failure else "succeed"
        else:
            outcome = "fail" if script.outcome == "fail" else "succeed"
        ends_at = now + duration
        course = None
        if outcome == "succeed":
            course = self._course(
                payload,
                request_id=request_id,
                course_id=course_id,
                share_token=share_token,
                edit_token=edit_token,
                slug_suffix=slug_suffix,
                types=types,
                ends_at=ends_at,
            )
        job = SimulatedRequest(
            id=request_id,
            workspace=workspace_id,
            request=dict(payload),
            fingerprint=fingerprint,
            idempotency_key=key,
            created_at=now,
            # Pending for a moment, but never for most of a short scripted request.
            processing_at=now + min(drawn_pending, duration / 2),
            ends_at=ends_at,
            outcome=outcome,
            course=course,
            price={
                "category": "course",
                "catalogKey": "course.default",
                "tier": "default",
                "unit": "lesson",
                "unitPrice": float(UNIT_PRICE),
                "units": units,
                "amountUsd": float(amount),
                "currency": "USD",
                "source": _PRICE_SOURCE,
            },
            created_wall=self.wall_clock(now),
            poll_after_ms=dict(self.poll_after_ms),
            statuses=script.statuses if script is not None else (),
            error=_scripted_error(script) if outcome == "fail" else None,
            scripted=script is not None,
        )
        self.jobs[request_id] = job
        workspace = self.workspaces[workspace_id]
        if workspace.webhook_url is not None:
            event = "course.deployed" if outcome == "succeed" else "course.completed"
            webhook = {
                "event": event,
                "workspaceId": workspace_id,
                "createdAt": _iso(self.wall_clock(ends_at)),
                "data": job.to_json(ends_at),
            }
            self.schedule_webhook(workspace.webhook_url, event, webhook, due=ends_at)
        return job

    def _course(
        self,
        payload: Mapping[str, Any],
        *,
        request_id: str,
        course_id: str,
        share_token: str,
        edit_token: str,
        slug_suffix: str,
        types: list[str],
        ends_at: float,
    ) -> SimulatedCourse:
        prompt = str(payload["prompt"]).strip()
        topic = _title(prompt)
        title = payload.get("title") or topic
        level = payload.get("level") or "beginner"
        description = payload.get("description") or _DESCRIPTION.format(level=level, topic=prompt)
        language = payload.get("language") or "en"
        site = f"{_SITE}/{language.split('-')[0]}/platform/courses"
        chapters: list[dict[str, Any]] = []
        lessons: list[dict[str, Any]] = []
        count = len(types)
        chapter_count = math.ceil(count / _LESSONS_PER_CHAPTER)
        sequence = 0
        for index in range(chapter_count):
            chapter_title = _CHAPTER_TITLES[index % len(_CHAPTER_TITLES)].format(topic=topic)
            chapter_slug = f"{_slug(chapter_title)}-{slug_suffix}"
            size = len(range(index, count, chapter_count))
            chapters.append(
                {
                    "title": chapter_title,
                    "sequence": index + 1,
                    "lessonCount": size,
                    "slug": chapter_slug,
                }
            )
            for _ in range(size):
                sequence += 1
                name = _LESSON_TITLES[(sequence - 1) % len(_LESSON_TITLES)].format(topic=topic)
                if sequence > len(_LESSON_TITLES):
                    name = f"{name} {math.ceil(sequence / len(_LESSON_TITLES))}"
                lessons.append(
                    {
                        "title": name,
                        "type": types[sequence - 1],
                        "sequence": sequence,
                        "chapterTitle": chapter_title,
                        "chapterSlug": chapter_slug,
                        "lessonSlug": f"{_slug(name)}-{slug_suffix}",
                        "lessonUrl": f"{site}/{share_token}/lessons/{sequence}",
                        "content": f"# {name}\n\nPart of *{title}* ({chapter_title}).\n",
                    }
                )
        return SimulatedCourse(
            id=course_id,
            request_id=request_id,
            title=title,
            description=description,
            language=language,
            slug=f"{_slug(title)}-{slug_suffix}",
            share_token=share_token,
            edit_token=edit_token,
            chapters=tuple(chapters),
            lessons=tuple(lessons),
            preview_url=f"{site}/edit/{course_id}",
            public_url=f"{site}/{share_token}/lessons/1",
            completed_at=self.wall_clock(ends_at),
            available_at=ends_at,
        )

    async def _get(self, request: Request) -> Response:
        request_id: str = request.path_params["request_id"]
        now = self.vendor_now()
        records = self.polls.setdefault(request_id, [])
        gate = self._gate(request)
        if isinstance(gate, Response):
            records.append(PollRecord(now, gate.status_code))
            return gate
        job = self.jobs.get(request_id)
        if job is None or job.workspace != gate.workspace_id:
            records.append(PollRecord(now, 404))
            return self._error(404, "platform_not_found", "Course request not found", gate.headers)
        body = job.to_json(now)
        records.append(PollRecord(now, 200, body["status"], body.get("pollAfterMs")))
        return self._respond(body, 200, gate.headers)

    async def _list(self, request: Request) -> Response:
        gate = self._gate(request)
        if isinstance(gate, Response):
            return gate
        query = request.query_params
        status = query.get("status") or None
        try:
            limit = int(query.get("limit", "20"))
            offset = int(query.get("offset", "0"))
        except ValueError:
            message = "limit and offset must be integers"
            return self._error(400, "platform_invalid_request", message, gate.headers)
        if not 1 <= limit <= 100 or offset < 0:  # noqa: PLR2004 - the documented bounds
            message = "limit must be from 1 to 100 and offset at least 0"
            return self._error(400, "platform_invalid_request", message, gate.headers)
        now = self.vendor_now()
        mine = [
            job.to_json(now)
            for job in reversed(self.jobs.values())  # newest first: jobs is in creation order
            if job.workspace == gate.workspace_id
        ]
        if status is not None:
            mine = [item for item in mine if item["status"] == status.upper()]
        body = {"items": mine[offset : offset + limit], "total": len(mine)}
        return self._respond(body, 200, gate.headers)

    # -- public pages (no key) -----------------------------------------------------------

    def _shared(self, token: str) -> SimulatedCourse | None:
        return next(
            (course for course in self.courses.values() if course.share_token == token), None
        )

    def _public_summary(self, course: SimulatedCourse) -> dict[str, Any]:
        owner_only = {"priceSnapshot", "idempotencyKey", "idempotentReplay", "isTerminal"}
        body = self.jobs[course.request_id].to_json(self.vendor_now())
        return {
            key: value
            for key, value in body.items()
            if key not in owner_only | {"chapters", "lessons", "tier", "mode"}
        }

    async def _public_course(self, request: Request) -> Response:
        course = self._shared(request.path_params["token"])
        if course is None:
            return self._error(404, "platform_not_found", "Shared course not found")
        return self._respond(self._public_summary(course))

    async def _public_full(self, request: Request) -> Response:
        course = self._shared(request.path_params["token"])
        if course is None:
            return self._error(404, "platform_not_found", "Shared course not found")
        body = self._public_summary(course)
        body |= {
            "chapters": [dict(chapter) for chapter in course.chapters],
            "lessons": [dict(lesson) for lesson in course.lessons],
            "editToken": course.edit_token,
        }
        return self._respond(body)

    async def _public_lesson(self, request: Request) -> Response:
        course = self._shared(request.path_params["token"])
        if course is None:
            return self._error(404, "platform_not_found", "Shared course not found")
        raw = request.path_params["sequence"]
        if not raw.isdigit():
            message = f"sequence must be a positive integer, not {raw!r}"
            return self._error(400, "platform_invalid_request", message)
        sequence = int(raw)
        lesson = next((item for item in course.lessons if item["sequence"] == sequence), None)
        if lesson is None:
            return self._error(404, "platform_not_found", f"Lesson {sequence} not found")
        return self._respond(dict(lesson))


def make_sandbox(**options: Any) -> TutorFlowSandbox:
    """Build the TutorFlow simulator; `options` are `TutorFlowSandbox`'s."""
    return TutorFlowSandbox(**options)


# -- helpers ------------------------------------------------------------------------------


def _bearer(authorization: str | None) -> str | None:
    if authorization is None or not authorization.startswith("Bearer "):
        return None
    return authorization.removeprefix("Bearer ").strip() or None


def _json_object(body: bytes) -> tuple[dict[str, Any], str | None]:
    try:
        payload = json.loads(body)
    except ValueError:
        return {}, "Request body must be valid JSON"
    if not isinstance(payload, dict):
        return {}, "Request body must be a JSON object"
    return payload, None


def _optional_string(payload: Mapping[str, Any], name: str) -> str | None:
    value = payload.get(name)
    if value is not None and not isinstance(value, str):
        return f"{name} must be a string"
    return None


def _invalid_course(payload: Mapping[str, Any], header_key: str | None) -> str | None:  # noqa: C901, PLR0911 - one check per documented rule reads best flat
    """The first rule `payload` breaks, in the vendor's words; None when it is valid."""
    prompt = payload.get("prompt")
    if not isinstance(prompt, str) or not prompt.strip():
        return "prompt should not be empty"
    for name in ("title", "description", "subject", "classroomId"):
        if problem := _optional_string(payload, name):
            return problem
    language = payload.get("language")
    if language is not None and (
        not isinstance(language, str) or not _LANGUAGE.fullmatch(language)
    ):
        return "language must be a language code such as 'en' or 'pt-BR'"
    if payload.get("level") is not None and payload["level"] not in _LEVELS:
        return f"level must be one of the following values: {', '.join(_LEVELS)}"
    count = payload.get("lessonCount")
    if count is not None and (
        isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= _MAX_LESSONS
    ):
        return f"lessonCount must be an integer from 1 to {_MAX_LESSONS}"
    if payload.get("tier") is not None and payload["tier"] not in _TIERS:
        return f"tier must be one of the following values: {', '.join(_TIERS)}"
    if payload.get("mode") is not None and payload["mode"] not in _MODES:
        return f"mode must be one of the following values: {', '.join(_MODES)}"
    body_key = payload.get("idempotencyKey")
    for key in (body_key, header_key):
        if key is not None and (not isinstance(key, str) or not 1 <= len(key) <= _MAX_KEY):
            return f"idempotencyKey must be a string of 1 to {_MAX_KEY} characters"
    if body_key is not None and header_key is not None and body_key != header_key:
        return "the Idempotency-Key header and idempotencyKey differ"
    return None


def _fingerprint(payload: Mapping[str, Any]) -> str:
    rest = {key: value for key, value in payload.items() if key != "idempotencyKey"}
    return json.dumps(rest, sort_keys=True, separators=(",", ":"))


def _scripted_error(script: JobScript | None) -> dict[str, str] | None:
    """An undocumented failure reason, only where a script asks for one."""
    if script is None:
        return None
    code = None if script.error_code is VENDOR_DEFAULT else script.error_code
    message = None if script.error_message is VENDOR_DEFAULT else script.error_message
    if code is None and message is None:
        return None
    error = {"message": message or "Course generation failed"}
    if code is not None:
        error["code"] = code
    return error


def _without_content(lesson: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in lesson.items() if key != "content"}


def _uuid(bits: int) -> str:
    return str(uuid.UUID(int=bits, version=4))


def _title(prompt: str) -> str:
    """A course name from a prompt: title case, small words kept low, at most 8 words."""
    words = prompt.split()[:8]
    return " ".join(
        word if index and word.lower() in _SMALL_WORDS else word[:1].upper() + word[1:]
        for index, word in enumerate(words)
    )


def _slug(text: str) -> str:
    return _SLUG.sub("-", text.lower()).strip("-") or "course"


def _iso(moment: datetime) -> str:
    """ISO 8601 in UTC with milliseconds and `Z`, as the vendor writes its dates."""
    return f"{moment:%Y-%m-%dT%H:%M:%S}.{moment.microsecond // 1000:03d}Z"
