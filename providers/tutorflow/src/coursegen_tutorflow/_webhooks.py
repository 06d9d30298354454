"""TutorFlow's webhooks: the signature over the raw body, and what each event means.

Copies of the docs disagree on the HMAC key (the secret, or its SHA-256), so every
spelling is accepted. `course.deployed` means success; `course.completed` is a legacy
event sent on FAILURE, despite its name. The course request is under `data` (or
`course`), or is the body itself.
"""

from __future__ import annotations

import hashlib
from typing import TYPE_CHECKING, Any, Final

from coursegen import JobStatus, WebhookEvent, WebhookVerificationError
from coursegen.wire import verify_hmac_sha256

from ._wire import CONVERTER, CourseResponse, course_record, failure

if TYPE_CHECKING:
    from collections.abc import Mapping

    from coursegen import Secret
    from coursegen.wire import WebhookBody

__all__ = ["verify_signature", "webhook_event"]

_UNVERIFIABLE: Final = (
    "no TutorFlow webhook secret is configured (set TUTORFLOW_WEBHOOK_SECRET, "
    "COURSEGEN_TUTORFLOW_WEBHOOK_SECRET or webhook_secret=): the webhook cannot be verified"
)


def verify_signature(secret: Secret | None, signature: str | None, body: bytes) -> None:
    """`WebhookVerificationError` unless `signature` (`X-Platform-Signature`) is the hex
    HMAC-SHA256 of `body` keyed by the secret, its hex SHA-256 or its raw SHA-256."""
    if secret is None or not secret:
        raise WebhookVerificationError(_UNVERIFIABLE)
    raw = secret.reveal().encode()
    keys = (raw, hashlib.sha256(raw).hexdigest().encode(), hashlib.sha256(raw).digest())
    verify_hmac_sha256(body, signature, keys, header="X-Platform-Signature")


def webhook_event(hook: WebhookBody, event: str) -> WebhookEvent:
    """The verified `event`: a snapshot for `course.deployed` (SUCCEEDED) and
    `course.completed` (FAILED), the bare event otherwise."""
    payload = _payload(hook.data)
    if payload is None:
        return hook.event_of(event)
    # The event, not the body's status, says how the request ended; a body without
    # a status is read all the same.
    readable = dict(payload)
    if not isinstance(readable.get("status"), str):
        readable["status"] = event
    course = hook.read(CONVERTER, CourseResponse, readable)
    if event == "course.deployed":
        made = course.course_id
        result = None if made is None else course_record(course, made, payload)
        return hook.job_event(
            event, course.id, JobStatus.SUCCEEDED, result=result, cost=course.cost()
        )
    if event == "course.completed":
        error = failure(payload)
        return hook.job_event(event, course.id, JobStatus.FAILED, error=error, cost=course.cost())
    return hook.event_of(event, course.id)


def _payload(data: Any) -> Mapping[str, Any] | None:
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
