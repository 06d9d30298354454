"""TutorFlow's JSON, as attrs records, and the one converter that reads and writes it.

The records mirror the vendor's payloads field for field, in snake_case; `CONVERTER`
holds every wire rule (camelCase keys, ISO dates, strict types, unknown keys ignored).
Statuses, lesson types and event names stay plain strings: a word the vendor adds
tomorrow must still parse, and the adapter decides what it means.

TutorFlow omits result-side fields while a request is pending (absent, not null) and
sends many request-side fields as `null`: every field but `id` and `status` is optional.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import TYPE_CHECKING, Final

import attrs

from coursegen.wire import camel_case_converter

if TYPE_CHECKING:
    import cattrs

__all__ = [
    "CONVERTER",
    "ChapterBody",
    "CourseResponse",
    "CreateCourseBody",
    "ErrorBody",
    "ErrorEnvelope",
    "LessonBody",
    "PriceSnapshot",
    "PublicCourseResponse",
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


@attrs.frozen
class ChapterBody:
    title: str
    sequence: int
    lesson_count: int | None = None
    slug: str | None = None


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
