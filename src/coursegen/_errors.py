"""The one exception tree of coursegen.

```
CourseGenError
├── ConfigurationError        unknown provider, missing key, bad URL (also ValueError)
├── UnsupportedFeature        the request asks what the provider cannot do (also ValueError)
├── ProviderError             the vendor said no: provider, status_code, vendor_code, message, raw
│   ├── AuthenticationError   401
│   ├── PermissionDenied      403 (paid plan required, suspended...)
│   ├── QuotaExceeded         403 usage limit, 402 credits
│   ├── RateLimited           429, .retry_after
│   ├── InvalidRequest        400/422, or bad input found before sending (also ValueError)
│   ├── NotFound              404
│   ├── Conflict              409
│   └── ProviderUnavailable   5xx
├── TransportError            network fault (retryable)
│   ├── SubmitOutcomeUnknown  a create was cut off after sending: a job may exist
│   └── RequestTimeout        one request, retries included, passed its deadline
├── MalformedResponse         the vendor sent what we cannot read (raw attached)
├── WebhookVerificationError  a webhook whose signature is missing or wrong
├── StoreError                the job store cannot be opened, migrated or written
├── SerializationError        text that is not JSON of the type asked for (also ValueError)
└── JobError                  a job ended without a result (snapshot and token attached)
    ├── JobFailed
    ├── JobExpired
    └── JobTimeout
```

Errors are classified from status codes and vendor codes, never from message text.
No secret (API key, webhook secret) is ever part of a message: messages are built from
the vendor's own error text, which never echoes the key, and from our own words.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._models import Snapshot

__all__ = [
    "AuthenticationError",
    "ConfigurationError",
    "Conflict",
    "CourseGenError",
    "InvalidRequest",
    "JobError",
    "JobExpired",
    "JobFailed",
    "JobTimeout",
    "MalformedResponse",
    "NotFound",
    "PermissionDenied",
    "ProviderError",
    "ProviderUnavailable",
    "QuotaExceeded",
    "RateLimited",
    "RequestTimeout",
    "SerializationError",
    "StoreError",
    "SubmitOutcomeUnknown",
    "TransportError",
    "UnsupportedFeature",
    "WebhookVerificationError",
]


class CourseGenError(Exception):
    """Base of every error coursegen raises on purpose."""


class ConfigurationError(CourseGenError, ValueError):
    """The configuration names no usable provider, key or URL. The message says what to set."""


class UnsupportedFeature(CourseGenError, ValueError):
    """The request asks for something the provider cannot do."""

    def __init__(
        self,
        provider: str,
        fields: tuple[str, ...] | str,
        detail: str = "",
        *,
        droppable: bool = False,
    ) -> None:
        self.provider = provider
        self.fields = (fields,) if isinstance(fields, str) else tuple(fields)
        self.droppable = droppable
        names = ", ".join(self.fields)
        super().__init__(
            f"{provider} does not support {names}"
            + (f": {detail}" if detail else "")
            + (
                " (connect with strict=False to drop such fields with a warning)"
                if droppable
                else ""
            )
        )


class ProviderError(CourseGenError):
    """The vendor answered, and the answer was no.

    `raw` is the response body as text, exactly as received.
    """

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        status_code: int | None = None,
        vendor_code: str | None = None,
        raw: str | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.status_code = status_code
        self.vendor_code = vendor_code
        self.raw = raw
        super().__init__(message)

    def __str__(self) -> str:
        where = f"{self.provider} {self.status_code}" if self.status_code else self.provider
        code = f" {self.vendor_code}" if self.vendor_code else ""
        return f"{where}{code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}({self.message!r}, provider={self.provider!r}, "
            f"status_code={self.status_code!r}, vendor_code={self.vendor_code!r})"
        )


class AuthenticationError(ProviderError):
    """The key is missing, unknown, revoked or expired (401)."""


class PermissionDenied(ProviderError):
    """The key is valid but may not do this: a paid plan is required, the account is suspended."""


class QuotaExceeded(ProviderError):
    """The plan's usage or the account's credits are spent. Waiting a moment will not help."""


class RateLimited(ProviderError):
    """Too many requests (429). `retry_after` is the vendor's hint, in seconds, if any."""

    def __init__(self, message: str, *, retry_after: float | None = None, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.retry_after = retry_after


class InvalidRequest(ProviderError, ValueError):
    """The request is invalid (400/422, or found so before sending anything).

    Also a `ValueError`: a request record built with a wrong type (`subject=None`) or
    a malformed locale raises it at construction, with `provider="coursegen"`.
    """


class NotFound(ProviderError):
    """No such job or course for this key (404).

    `job_gone` is True when the vendor itself says it does not know the job (at a vendor
    that discards jobs, a job seen before has expired), False when the request reached
    no route at all (a wrong base URL or proxy): then nothing is known of the job.
    """

    def __init__(self, message: str, *, job_gone: bool = True, **kwargs: object) -> None:
        super().__init__(message, **kwargs)  # type: ignore[arg-type]
        self.job_gone = job_gone


class Conflict(ProviderError):
    """The request conflicts with the vendor's state (409)."""


class ProviderUnavailable(ProviderError):
    """The vendor failed on its side (5xx). Transient: retried before it reaches you."""


class TransportError(CourseGenError):
    """The network failed: connection refused or reset, timeout, TLS. Transient."""


class SubmitOutcomeUnknown(TransportError):
    """A create request was sent and its answer lost: the vendor may hold a job for it.

    The vendor offers no way to tell (no idempotency key), so coursegen did not retry,
    which could have made a second job. `request` is what was sent; look for the job
    through the vendor's webhook (deduplicate on the job id) before submitting again.
    """

    def __init__(self, message: str, *, provider: str, request: object) -> None:
        super().__init__(message)
        self.provider = provider
        self.request = request


class RequestTimeout(TransportError):
    """One request got no final answer within `RetryPolicy.deadline`, retries included.

    The message names the last attempt's failure. (A create that a retry could duplicate
    raises `SubmitOutcomeUnknown` instead: an attempt may have reached the vendor.)
    """


class MalformedResponse(CourseGenError):
    """The vendor sent what we cannot read. `raw` is the body exactly as received."""

    def __init__(
        self,
        message: str,
        *,
        provider: str,
        raw: str | None,
        status_code: int | None = None,
    ) -> None:
        self.message = message
        self.provider = provider
        self.raw = raw
        self.status_code = status_code
        super().__init__(f"{provider}: {message}")


class StoreError(CourseGenError):
    """The job store cannot be opened, migrated, read or written. Its URL is never shown
    with a password in it."""


class SerializationError(CourseGenError, ValueError):
    """The text is not JSON of the type asked for; the message says where it differs."""


class WebhookVerificationError(CourseGenError):
    """A webhook's signature is missing or wrong: the body must not be trusted."""


class JobError(CourseGenError):
    """The job ended, or was given up on, without a result.

    `snapshot` is the last thing we knew; `token` resumes the job elsewhere.
    """

    def __init__(self, message: str, *, snapshot: Snapshot | None, token: str) -> None:
        super().__init__(message)
        self.snapshot = snapshot
        self.token = token


class JobFailed(JobError):
    """The vendor reports that the job failed or was cancelled; `snapshot.error` says why."""


class JobExpired(JobError):
    """The job's result is gone: it was not fetched within the vendor's retention time."""


class JobTimeout(JobError):
    """We stopped waiting before the job ended. The job itself goes on: resume it later."""
