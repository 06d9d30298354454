"""LearningStudioAI's JSON, as attrs records, and the one converter that reads and writes it.

The records mirror the vendor's payloads field for field, in snake_case; `CONVERTER`
holds every wire rule (camelCase keys, ISO dates, strict types, unknown keys ignored),
so the records themselves carry none. Statuses and event names stay plain strings here:
a word the vendor adds tomorrow must still parse, and the adapter decides what it means.
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Final

import attrs

from coursegen.wire import camel_case, camel_case_converter

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "CONVERTER",
    "COURSE_KEYS",
    "CourseBody",
    "CourseCreatedEvent",
    "CourseExportedEvent",
    "CourseFailedEvent",
    "CreateJobBody",
    "ErrorBody",
    "ExportBody",
    "ExportResponse",
    "JobResponse",
    "SubmitResponse",
]


# --------------------------------------------------------------------------- requests


@attrs.frozen
class CreateJobBody:
    """`POST /api/v1/courses`. Fields left None are not sent: the vendor's default applies."""

    subject: str
    format: str | None = None
    language_id: str | None = None
    outline: tuple[str, ...] | None = None
    add_ons: tuple[str, ...] | None = None
    callback_url: str | None = None


@attrs.frozen
class ExportBody:
    """`POST /api/v1/courses/:id/export`. `format` has no default so that it is always sent."""

    format: str
    callback_url: str | None = None


# --------------------------------------------------------------------------- responses


@attrs.frozen
class SubmitResponse:
    """`202 {jobId, status, pollUrl}`; `status` is "pending" right after creation."""

    job_id: str
    status: str
    poll_url: str | None = None


@attrs.frozen
class CourseBody:
    """A course, in a job or a `course.created` webhook.

    The webhook's course has no `format` or `languageId`, hence their defaults.
    """

    id: str
    name: str
    headline: str | None = None
    format: str | None = None
    language_id: str | None = None
    share_url: str | None = None
    created_at: datetime | None = None


@attrs.frozen
class ErrorBody:
    """Every error response, and a failed job's `error`. `code` is best-effort."""

    message: str
    code: str | None = None


@attrs.frozen
class JobResponse:
    """`GET /api/v1/courses/jobs/:jobId`. `progress` runs 0-100."""

    job_id: str
    status: str
    progress: float | None = None
    course: CourseBody | None = None
    error: ErrorBody | None = None


@attrs.frozen
class ExportResponse:
    """`200 {courseId, format, downloadUrl, shareUrl, exportedAt}` from an export."""

    course_id: str
    format: str
    download_url: str
    share_url: str | None = None
    exported_at: datetime | None = None


# --------------------------------------------------------------------------- webhooks


@attrs.frozen
class CourseCreatedEvent:
    event: str
    job_id: str
    course: CourseBody


@attrs.frozen
class CourseFailedEvent:
    event: str
    job_id: str
    error: ErrorBody


@attrs.frozen
class CourseExportedEvent:
    event: str
    course_id: str
    format: str
    download_url: str
    share_url: str | None = None
    exported_at: datetime | None = None


# --------------------------------------------------------------------------- rules

CONVERTER: Final[cattrs.Converter] = camel_case_converter()
"""The one converter for this vendor. LearningStudioAI is plain camelCase throughout."""

COURSE_KEYS: Final = frozenset(camel_case(field.name) for field in attrs.fields(CourseBody))
"""The course keys `CourseBody` reads; any other key goes to `Course.extra`."""
