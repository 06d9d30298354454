"""LearningStudioAI's JSON, as attrs records, and the one converter that reads and writes it.

The records mirror the vendor's payloads field for field, in snake_case; `CONVERTER`
holds every wire rule (camelCase keys, ISO dates, strict types, unknown keys ignored),
so the records themselves carry none. Statuses and event names stay plain strings here:
a word the vendor adds tomorrow must still parse, and the adapter decides what it means.
What a record means in coursegen's terms is its method (`CourseBody.course`,
`ErrorBody.info`, `ExportResponse.result`).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any, Final

import attrs

from coursegen import Course, ExportResult, JobErrorInfo
from coursegen.wire import camel_case, camel_case_converter, unknown_keys

if TYPE_CHECKING:
    from collections.abc import Mapping

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

    def course(self, data: Mapping[str, Any]) -> Course:
        """The neutral `Course`; `data` is this course's JSON, whose unread keys go to `extra`."""
        return Course(
            id=self.id,
            title=self.name,
            description=self.headline,
            language=self.language_id,
            format=self.format,
            share_url=self.share_url,
            created_at=self.created_at,
            extra=unknown_keys(data, COURSE_KEYS),
        )


@attrs.frozen
class ErrorBody:
    """Every error response, and a failed job's `error`. `code` is best-effort."""

    message: str
    code: str | None = None

    def info(self) -> JobErrorInfo:
        """A failed job's reason; an empty code counts as none."""
        return JobErrorInfo(message=self.message, code=self.code or None)


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

    def result(self) -> ExportResult:
        """The neutral `ExportResult` (a `course.exported` webhook reads the same)."""
        return ExportResult(
            course_id=self.course_id,
            format=self.format,
            download_url=self.download_url,
            share_url=self.share_url,
            exported_at=self.exported_at,
        )


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
class CourseExportedEvent(ExportResponse):
    event: str = ""


# --------------------------------------------------------------------------- rules

CONVERTER: Final[cattrs.Converter] = camel_case_converter()
"""The one converter for this vendor. LearningStudioAI is plain camelCase throughout."""

COURSE_KEYS: Final = frozenset(camel_case(field.name) for field in attrs.fields(CourseBody))
"""The course keys `CourseBody` reads; any other key goes to `Course.extra`."""
