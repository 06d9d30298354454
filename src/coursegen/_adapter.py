"""The plugin contract: what a provider implements so that coursegen can drive its vendor.

An adapter is sans-I/O. It turns neutral requests into `httpx.Request` objects and
vendor responses into neutral records, and nothing else: it never sends, awaits, sleeps
or reads a clock. The engine decides when to send; the adapter decides what to send and
what an answer means. That keeps every adapter testable with plain `httpx.Response`
objects, and every scheduling rule in one place.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, ClassVar, Protocol, Self, runtime_checkable

import attrs

if TYPE_CHECKING:
    import httpx

    from ._errors import ProviderError
    from ._models import Course, ExportResult, Lesson, Request, Snapshot, WebhookEvent
    from ._settings import Settings

__all__ = [
    "Adapter",
    "Capabilities",
    "Exporter",
    "Operation",
    "PollPolicy",
    "PublicPages",
    "RateLimit",
    "RateLimitState",
    "StagedAdapter",
    "WebhookReader",
]


class Operation(enum.StrEnum):
    """The kinds of request the engine sends; each has its own rate budget."""

    SUBMIT = "submit"
    POLL = "poll"
    EXPORT = "export"
    PUBLIC = "public"  # keyless reads of published courses


@attrs.frozen
class RateLimit:
    """At most `limit` requests in any `window` seconds of vendor time, per scope.

    Operations whose limits name the same `pool` share one budget (a vendor that counts
    every request of a workspace together); without a pool each operation has its own.
    """

    limit: int
    window: float = 60.0
    pool: str | None = None


@attrs.frozen
class RateLimitState:
    """What a response said of the budget: requests left and seconds until it refills."""

    remaining: int | None = None
    reset_after: float | None = None
    limit: int | None = None


def _mapping(value: Mapping[Operation, RateLimit]) -> Mapping[Operation, RateLimit]:
    return MappingProxyType(dict(value))


@attrs.frozen
class PollPolicy:
    """When a provider's jobs may and should be polled, in seconds of vendor time.

    - `min_interval`: the vendor's floor; no job is polled more often, whatever the hint.
    - `interval`: the cadence when the vendor gives no hint.
    - `max_interval` and `backoff`: an unchanged job is polled `backoff` times less often
      each time, up to `max_interval` (1.0 keeps the cadence fixed).
    - `job_timeout`: the default deadline of `Job.wait` and `Job.result`.
    - `result_ttl`: how long the vendor keeps a finished job (None: for good). When set,
      a job the engine has seen that the vendor no longer knows is EXPIRED.
    - `rate_limits`: the vendor's documented budget per operation, shared by every job of
      one scope (`Adapter.rate_scope`). Response headers and 429s correct it at run time.
    - `reusable_polls`: `Adapter.poll(job_id)` depends on the job id alone (no clock,
      nonce or per-request signature), so the engine builds each job's poll once and
      sends that request again. False (the default): `poll` is called for every poll.
    """

    min_interval: float
    interval: float
    job_timeout: float
    max_interval: float | None = None
    backoff: float = 1.0
    result_ttl: float | None = None
    rate_limits: Mapping[Operation, RateLimit] = attrs.field(factory=dict, converter=_mapping)
    reusable_polls: bool = False


@attrs.frozen
class Capabilities:
    """What a provider can do; the core checks requests against it before anything is sent.

    `request_fields` names the `CourseRequest`/`AssessmentRequest` fields the vendor
    honours: a request that sets any other field raises `UnsupportedFeature` (or warns
    with `strict=False`). `idempotent_submit` says the vendor deduplicates creates, so
    a create may be retried after a lost answer. `export_formats`, `webhooks` and
    `public_pages` announce the optional protocols the adapter implements (`Exporter`,
    `WebhookReader`, `PublicPages`); the conformance suite checks they agree. `keyless`
    names the operations sent with no credentials (host pinning lets only those leave
    the configured host).
    """

    request_kinds: frozenset[type] = frozenset()
    request_fields: frozenset[str] = frozenset()
    idempotent_submit: bool = False
    progress: bool = False
    cost: bool = False
    webhooks: bool = False
    signed_webhooks: bool = False
    export_formats: tuple[str, ...] = ()
    public_pages: bool = False
    requires_key: bool = True
    keyless: frozenset[Operation] = frozenset({Operation.PUBLIC})
    """Operations sent without credentials: only these may go to a host other than the
    configured one (a CDN's learner page), and they never carry a secret."""


@runtime_checkable
class Adapter(Protocol):
    """Translate between coursegen's neutral model and one vendor's HTTP API.

    Class attributes describe the vendor; instances are bound to one set of `Settings`.
    """

    # Optional, not part of the protocol's checks: `retry_policy`, a `RetryPolicy`
    # class attribute with the vendor's own retry rules (how often a 5xx may be
    # retried, from which delay), the client's default unless `connect(retry=...)`.

    name: ClassVar[str]
    """The provider name, also its URL scheme: `learningstudio://KEY@host`."""
    default_base_url: ClassVar[str]
    env_vars: ClassVar[Mapping[str, str]]
    """The vendor's own documented variables, by setting name: {"api_key": "LS_API_KEY"}."""
    capabilities: ClassVar[Capabilities]

    @property
    def policy(self) -> PollPolicy:
        """The vendor's documented policy, usually a class attribute; an instance may
        answer from its settings instead (a plan with higher rate limits)."""
        ...

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """Build the adapter; raise `ConfigurationError` naming what is missing."""
        ...

    @property
    def rate_scope(self) -> str:
        """Who shares a rate budget (a key's fingerprint, a workspace). Never a secret."""
        ...

    def submit(self, request: Request) -> httpx.Request:
        """The create request; raise `InvalidRequest` for input the vendor would refuse."""
        ...

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The job's first snapshot, from a successful create response."""
        ...

    def poll(self, job_id: str) -> httpx.Request:
        """The status request of job `job_id`; the id must appear in its URL."""
        ...

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The job's state from a successful poll; `MalformedResponse` if unreadable."""
        ...

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error for an unsuccessful response (any status >= 400)."""
        ...

    def read_rate_limit(self, response: httpx.Response) -> RateLimitState | None:
        """What the response's headers say of the budget, relative to now."""
        ...


@runtime_checkable
class Exporter(Protocol):
    """Optional: providers that package a course for an LMS."""

    def export(
        self,
        course_id: str,
        format: str | None = None,  # noqa: A002 - the vendors' word, and the user's
        callback_url: str | None = None,
    ) -> httpx.Request:
        """The export request of a finished course, in `format` (None: the vendor's default)."""
        ...

    def read_export(self, response: httpx.Response) -> ExportResult:
        """The packaged course, from a successful export response."""
        ...


@runtime_checkable
class PublicPages(Protocol):
    """Optional: vendors that publish finished courses by share token, readable with no key.

    The requests must carry no credentials: they are for learner-facing pages.
    """

    def public_course(self, share_token: str, *, full: bool = False) -> httpx.Request:
        """The course summary, or with `full` its chapters and lessons too."""
        ...

    def read_public_course(self, response: httpx.Response) -> Course:
        """The published course, from a successful answer to `public_course`."""
        ...

    def public_lesson(self, share_token: str, sequence: int) -> httpx.Request:
        """One lesson of a published course, by its sequence number (no key sent)."""
        ...

    def read_public_lesson(self, response: httpx.Response) -> Lesson:
        """The lesson with its content, from a successful answer to `public_lesson`."""
        ...


@runtime_checkable
class WebhookReader(Protocol):
    """Optional: providers whose vendor calls back. Raise `WebhookVerificationError`
    for a bad signature and `MalformedResponse` for a body that cannot be read."""

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """The event a delivery carries, verified against the webhook secret if signed."""
        ...


@runtime_checkable
class StagedAdapter(Protocol):
    """Optional: providers whose one job is several vendor jobs in a row.

    (An assessment from a PDF: first the vendor chunks the document, then it generates
    from the collection that made.) After each poll the engine asks `next_stage`; a
    request returned is the create of the next vendor job, sent like any create (never
    blindly retried), and `read_stage` reads its answer into the job's new first snapshot.
    The job's id then names the new vendor job, and so does its token: whatever a later
    stage needs must travel in the job id, which the adapter may compose as it likes.
    """

    def next_stage(self, snapshot: Snapshot) -> httpx.Request | None:
        """The create of the next stage, if `snapshot` ends the current one."""
        ...

    def read_stage(self, previous: Snapshot, response: httpx.Response) -> Snapshot:
        """The next stage's first snapshot, from the answer to `next_stage`'s request."""
        ...
