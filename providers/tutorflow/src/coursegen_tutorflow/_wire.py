"""TutorFlow's JSON, as attrs records, and the one converter that reads and writes it.

The records mirror the vendor's payloads field for field, in snake_case; `CONVERTER`
holds every wire rule (camelCase keys, ISO dates, strict types, unknown keys ignored).
Statuses, lesson types and event names stay plain strings: a word the vendor adds
tomorrow must still parse, and the adapter decides what it means.

TutorFlow omits result-side fields while a request is pending (absent, not null) and
sends many request-side fields as `null`: every field but `id` and `status` is optional.

What a record means in coursegen's terms is its method, or `course_record`.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Final

import attrs

from coursegen import (
    AuthenticationError,
    Chapter,
    Conflict,
    Course,
    InvalidRequest,
    JobErrorInfo,
    JobStatus,
    Lesson,
    Money,
    NotFound,
    PermissionDenied,
    ProviderError,
    ProviderUnavailable,
    QuotaExceeded,
    RateLimited,
)
from coursegen.wire import camel_case_converter, job_error_info, unknown_keys

if TYPE_CHECKING:
    from collections.abc import Mapping

    import cattrs

__all__ = [
    "CONVERTER",
    "ERRORS_BY_CODE",
    "ChapterBody",
    "CourseResponse",
    "CreateCourseBody",
    "ErrorBody",
    "ErrorEnvelope",
    "LessonBody",
    "PriceSnapshot",
    "PublicCourseResponse",
    "course_record",
    "failure",
]


# --------------------------------------------------------------------------- requests


@attrs.frozen
class CreateCourseBody:
    """`POST /v1/platform/courses`. Fields left None are not sent (the vendor's default
    applies); `mode` has no default so that it is always sent."""

    prompt: str
    mode: str
    title: str | None = None
    description: str | None = None
    language: str | None = None
    level: str | None = None
    lesson_count: int | None = None
    tier: str | None = None
    classroom_id: str | None = None
    idempotency_key: str | None = None


# --------------------------------------------------------------------------- responses


@attrs.frozen
class PriceSnapshot:
    """What the request costs, priced when it was made. Amounts are exact decimals."""

    amount_usd: Decimal | None = None
    currency: str | None = None
    unit_price: Decimal | None = None
    units: Decimal | None = None
    unit: str | None = None
    tier: str | None = None
    category: str | None = None
    catalog_key: str | None = None
    source: str | None = None

    def money(self) -> Money | None:
        """The price as Money: `amountUsd`, else `unitPrice` x `units`; None without either."""
        amount = self.amount_usd
        if amount is None and self.unit_price is not None and self.units is not None:
            amount = self.unit_price * self.units
        if amount is None:
            return None
        return Money(amount, (self.currency or "USD").upper())


@attrs.frozen
class ChapterBody:
    title: str
    sequence: int
    lesson_count: int | None = None
    slug: str | None = None

    def chapter(self) -> Chapter:
        """The neutral `Chapter`."""
        return Chapter(
            title=self.title,
            sequence=self.sequence,
            lesson_count=self.lesson_count,
            slug=self.slug,
        )


@attrs.frozen
class LessonBody:
    """A lesson of a course; `content` only on the public lesson page (any JSON)."""

    title: str
    sequence: int
    type: str | None = None
    chapter_title: str | None = None
    chapter_slug: str | None = None
    lesson_slug: str | None = None
    lesson_url: str | None = None

    def lesson(self, data: Mapping[str, Any]) -> Lesson:
        """The neutral `Lesson`; `data` is its JSON: a text `content` is the lesson's,
        any other (structured content) stays in `extra` with every key not read."""
        content = data.get("content")
        known = _LESSON_FIELDS | ({"content"} if isinstance(content, str) else set())
        return Lesson(
            title=self.title,
            sequence=self.sequence,
            type=self.type,
            chapter_title=self.chapter_title,
            url=self.lesson_url,
            content=content if isinstance(content, str) else None,
            extra=unknown_keys(data, frozenset(known)),
        )


@attrs.frozen
class CourseResponse:
    """`CourseResDto`: the answer to a create and to `GET /v1/platform/courses/:id`.

    `id` names the course *request* (our job); `course_id` the course it made.
    """

    id: str
    status: str
    course_id: str | None = None
    title: str | None = None
    description: str | None = None
    language: str | None = None
    subject: str | None = None
    level: str | None = None
    slug: str | None = None
    tier: str | None = None
    mode: str | None = None
    lesson_count: int | None = None
    price_snapshot: PriceSnapshot | None = None
    share_token: str | None = None
    thumbnail_url: str | None = None
    preview_url: str | None = None
    public_url: str | None = None
    chapters: tuple[ChapterBody, ...] | None = None
    lessons: tuple[LessonBody, ...] | None = None
    idempotency_key: str | None = None
    idempotent_replay: bool | None = None
    is_terminal: bool | None = None
    poll_after_ms: float | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None

    def cost(self) -> Money | None:
        """What the request costs (`priceSnapshot`), if the vendor priced it."""
        return None if self.price_snapshot is None else self.price_snapshot.money()

    def outcome(self, data: Mapping[str, Any]) -> tuple[JobStatus, JobErrorInfo | None]:
        """The neutral status of the request (and why it failed), honouring `isTerminal`
        when the vendor sends it; `data` is the request's JSON."""
        known = _STATUSES.get(self.status.upper())
        terminal = self.is_terminal
        if terminal is None:
            status = known or JobStatus.RUNNING
        elif terminal:
            if known is JobStatus.SUCCEEDED:
                status = JobStatus.SUCCEEDED
            elif known is JobStatus.FAILED:
                status = JobStatus.FAILED
            else:
                message = (
                    f"TutorFlow ended the course request (isTerminal) with status "
                    f"{self.status!r}, which is neither COMPLETED nor FAILED"
                )
                return JobStatus.FAILED, JobErrorInfo(message=message, code=None)
        else:
            # Not over, whatever the word: a COMPLETED still deploying is still running.
            status = known if known is JobStatus.PENDING else JobStatus.RUNNING
        return status, (failure(data) if status is JobStatus.FAILED else None)


@attrs.frozen
class PublicCourseResponse:
    """The public share-token summary (`CourseResDto` without its owner's fields) and the
    full page (`CourseFullResDto`, adding chapters, lessons and maybe an edit token).

    The docs show no example: every field is optional, and the course id is read from
    `courseId`, else `id`.
    """

    id: str | None = None
    course_id: str | None = None
    title: str | None = None
    description: str | None = None
    language: str | None = None
    slug: str | None = None
    share_token: str | None = None
    preview_url: str | None = None
    public_url: str | None = None
    chapters: tuple[ChapterBody, ...] | None = None
    lessons: tuple[LessonBody, ...] | None = None
    created_at: datetime | None = None
    completed_at: datetime | None = None


@attrs.frozen
class ErrorBody:
    """The inside of the error envelope `{"error": {"code", "message", "status"}}`."""

    code: str | None = None
    message: str | None = None
    status: int | None = None


@attrs.frozen
class ErrorEnvelope:
    error: ErrorBody


# --------------------------------------------------------------------------- rules

CONVERTER: Final[cattrs.Converter] = camel_case_converter()
"""The one converter for this vendor. TutorFlow is plain camelCase throughout."""

# CourseResDto keys that a neutral `Course` field reads, and those about the request
# (the job) rather than the course; every other key goes to `Course.extra`.
_COURSE_FIELDS: Final = frozenset(
    {
        "courseId",
        "title",
        "description",
        "language",
        "previewUrl",
        "publicUrl",
        "chapters",
        "lessons",
        "completedAt",
    }
)
_JOB_FIELDS: Final = frozenset(
    {
        "id",
        "status",
        "isTerminal",
        "pollAfterMs",
        "priceSnapshot",
        "idempotencyKey",
        "idempotentReplay",
    }
)
_LESSON_FIELDS: Final = frozenset({"title", "sequence", "type", "chapterTitle", "lessonUrl"})


def course_record(
    page: CourseResponse | PublicCourseResponse, course_id: str, data: Mapping[str, Any]
) -> Course:
    """The course a COMPLETED request made, or a published page shows (`data` is its
    JSON). `share_url` and `public_url` are both the learner page (`publicUrl`); the
    share token stays in `extra["shareToken"]`."""
    raw_lessons = data.get("lessons")
    # `structure` checked the shape, so `raw_lessons` is the list the lessons were read from.
    items = raw_lessons if isinstance(raw_lessons, list) else []
    return Course(
        id=course_id,
        title=page.title or page.slug or course_id,
        description=page.description,
        language=page.language,
        chapters=tuple(chapter.chapter() for chapter in page.chapters or ()),
        lessons=tuple(
            lesson.lesson(item) for lesson, item in zip(page.lessons or (), items, strict=False)
        ),
        share_url=page.public_url,
        preview_url=page.preview_url,
        public_url=page.public_url,
        created_at=page.completed_at or page.created_at,
        extra=unknown_keys(data, _COURSE_FIELDS | _JOB_FIELDS),
    )


_STATUSES: Final[Mapping[str, JobStatus]] = MappingProxyType(
    {
        "PENDING": JobStatus.PENDING,
        "PROCESSING": JobStatus.RUNNING,
        "COMPLETED": JobStatus.SUCCEEDED,
        "FAILED": JobStatus.FAILED,
    }
)

# Every code of the docs' table. The codes say more than the status does: a 403 may be a
# spent free allowance (QuotaExceeded) rather than a refusal (PermissionDenied).
ERRORS_BY_CODE: Final[Mapping[str, type[ProviderError]]] = MappingProxyType(
    {
        "platform_invalid_request": InvalidRequest,
        "platform_invalid_api_key": AuthenticationError,
        "platform_api_key_revoked": AuthenticationError,
        "platform_api_key_expired": AuthenticationError,
        "payment_required": QuotaExceeded,
        "x402_payment_failed": QuotaExceeded,
        "platform_insufficient_credits": QuotaExceeded,
        "platform_forbidden": PermissionDenied,
        "email_verification_required": PermissionDenied,
        "free_credits_exhausted": QuotaExceeded,
        "platform_workspace_suspended": PermissionDenied,
        "platform_not_found": NotFound,
        "platform_conflict": Conflict,
        "platform_rate_limit_exceeded": RateLimited,
        "platform_internal_error": ProviderUnavailable,
    }
)
"""What each code of the docs' error table means; `read_error` reads it."""

_NO_REASON: Final = "TutorFlow reports the course request FAILED (its API gives no reason)"


def failure(data: Mapping[str, Any]) -> JobErrorInfo:
    """Why a request failed, best effort: the docs define no reason field, so an
    `error` object or string is read if a copy of the API sends one."""
    return job_error_info(data.get("error"), fallback=_NO_REASON)
