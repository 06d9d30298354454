"""The provider-neutral records users see.

Plain frozen attrs classes: no wire names, no parsing. Each provider's converter turns its
vendor's JSON into these, so user code reads one shape whichever vendor did the work.
"""

from __future__ import annotations

import enum
import os
import re
from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, TypeAlias

import attrs

from ._errors import InvalidRequest

__all__ = [
    "Assessment",
    "AssessmentRequest",
    "BloomLevel",
    "Chapter",
    "Course",
    "CourseRequest",
    "ExportResult",
    "JobErrorInfo",
    "JobStatus",
    "Lesson",
    "Money",
    "Question",
    "Request",
    "Result",
    "Snapshot",
    "WebhookEvent",
]

_EMPTY: Mapping[str, Any] = MappingProxyType({})


def _frozen_mapping(value: Mapping[str, Any] | None) -> Mapping[str, Any]:
    return MappingProxyType(dict(value)) if value else _EMPTY


class JobStatus(enum.Enum):
    """Where a job is in its life, whatever the vendor calls it."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def is_terminal(self) -> bool:
        """True once the job can change no more."""
        return self in _TERMINAL


_TERMINAL = frozenset(
    {JobStatus.SUCCEEDED, JobStatus.FAILED, JobStatus.CANCELLED, JobStatus.EXPIRED}
)


class BloomLevel(enum.Enum):
    """The six levels of Bloom's revised taxonomy, lowest first."""

    REMEMBER = "remember"
    UNDERSTAND = "understand"
    APPLY = "apply"
    ANALYZE = "analyze"
    EVALUATE = "evaluate"
    CREATE = "create"


@attrs.frozen
class Money:
    """An amount of money; `Decimal` so that per-lesson prices add up exactly."""

    amount: Decimal
    currency: str = "USD"


@attrs.frozen
class JobErrorInfo:
    """Why a job failed, as the vendor told it; `code` is absent when the vendor gave none."""

    message: str
    code: str | None = None


@attrs.frozen
class Chapter:
    """A chapter of a course: its title, place, and lesson count where the vendor says."""

    title: str
    sequence: int
    lesson_count: int | None = None
    slug: str | None = None


@attrs.frozen
class Lesson:
    """One lesson; `content` is filled where the vendor serves it (public lesson pages)."""

    title: str
    sequence: int
    type: str | None = None
    chapter_title: str | None = None
    url: str | None = None
    content: str | None = None
    extra: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen_mapping)


@attrs.frozen
class Course:
    """A generated course. URLs are None where the vendor has no such page."""

    id: str
    title: str
    description: str | None = None
    language: str | None = None
    format: str | None = None
    chapters: tuple[Chapter, ...] = ()
    lessons: tuple[Lesson, ...] = ()
    share_url: str | None = None
    preview_url: str | None = None
    public_url: str | None = None
    created_at: datetime | None = None
    extra: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen_mapping)


@attrs.frozen
class Question:
    """One multiple-choice question; `correct_index` points into `options`.

    `correct_index` is None when the vendor's answer names none of the options (an
    unresolved answer): the question is kept, and its `Assessment.warnings` say so.
    """

    text: str
    options: tuple[str, ...]
    correct_index: int | None
    bloom_level: BloomLevel | None = None
    explanation: str | None = None
    number: int | None = None

    @property
    def correct_option(self) -> str | None:
        """The text of the correct option; None when the vendor's answer was not resolved."""
        return None if self.correct_index is None else self.options[self.correct_index]


@attrs.frozen
class Assessment:
    """The questions of an assessment; `warnings` name what the vendor sent that could
    not be read in full (a question kept without a resolved answer), one line each."""

    questions: tuple[Question, ...]
    extra: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_frozen_mapping)
    warnings: tuple[str, ...] = ()


Result: TypeAlias = Course | Assessment
"""What a successful job gives: a `Course` or an `Assessment`, by the request's kind."""


@attrs.frozen
class ExportResult:
    """A course packaged for an LMS (SCORM and the like)."""

    course_id: str
    format: str
    download_url: str
    share_url: str | None = None
    exported_at: datetime | None = None


# A BCP-47 tag's shape: a 2-3 letter language, then subtags (script, region, variant).
_LOCALE = re.compile(r"^[A-Za-z]{2,3}(?:-[A-Za-z0-9]{2,8})*$")


def _invalid(message: str) -> InvalidRequest:
    return InvalidRequest(message, provider="coursegen")


def _text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A required text field: anything but a `str` is refused when the record is built."""
    if not isinstance(value, str):
        raise _invalid(
            f"{type(instance).__name__}.{attribute.name} must be text, not {type(value).__name__}"
        )


def _optional_text(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is not None:
        _text(instance, attribute, value)


def _locale(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    """A locale is None or a BCP-47 tag (`en`, `en-US`, `pt-BR`), checked before any request.

    Blank is left to the adapters, which say what their vendor does with it.
    """
    _optional_text(instance, attribute, value)
    if value is not None and value.strip() and not _LOCALE.match(value.strip()):
        raise _invalid(
            f"language {value!r} is not a locale: use a BCP-47 tag such as 'en', 'en-US' or 'pt-BR'"
        )


def _items(value: Any, what: str) -> tuple[str, ...]:
    """The texts of an iterable of texts; anything else is `InvalidRequest`, not TypeError."""
    if isinstance(value, str):
        # A lone string is almost always a mistake for a one-item list.
        return (value,)
    if isinstance(value, Mapping | bytes) or not hasattr(value, "__iter__"):
        raise _invalid(f"{what} must be a list of texts, not {type(value).__name__}")
    items = tuple(value)
    for item in items:
        if not isinstance(item, str):
            raise _invalid(f"{what} must hold texts only, not {type(item).__name__}")
    return items


def _tuple_of_str(value: Any) -> tuple[str, ...]:
    return _items(value, "outline")


def _add_ons(value: Any) -> frozenset[str]:
    return frozenset(_items(value, "add_ons"))


def _extra(value: Any) -> Mapping[str, Any]:
    if value is not None and not isinstance(value, Mapping):
        raise _invalid(f"extra must be a mapping, not {type(value).__name__}")
    if value and not all(isinstance(key, str) for key in value):
        raise _invalid("extra's keys must be texts (they become the vendor's field names)")
    return _frozen_mapping(value)


@attrs.frozen
class CourseRequest:
    """Ask for a course. Fields left None take the vendor's default.

    `extra` is merged into the vendor's payload unchanged: the escape hatch for vendor
    features coursegen does not model. A field the chosen provider cannot honour raises
    `UnsupportedFeature` at submit time (or warns, with `strict=False`).
    """

    subject: str = attrs.field(validator=_text)
    language: str | None = attrs.field(default=None, validator=_locale)
    format: str | None = attrs.field(default=None, validator=_optional_text)
    outline: tuple[str, ...] = attrs.field(default=(), converter=_tuple_of_str)
    add_ons: frozenset[str] = attrs.field(default=frozenset(), converter=_add_ons)
    level: str | None = attrs.field(default=None, validator=_optional_text)
    lesson_count: int | None = None  # its range is the vendor's: the adapter checks it
    title: str | None = attrs.field(default=None, validator=_optional_text)
    description: str | None = attrs.field(default=None, validator=_optional_text)
    callback_url: str | None = attrs.field(default=None, validator=_optional_text)
    idempotency_key: str | None = attrs.field(default=None, validator=_optional_text)
    extra: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_extra)


def _frozen_mix(value: Any) -> Mapping[BloomLevel, int]:
    # Levels and counts are the adapters' to check (each says what its vendor takes).
    if not isinstance(value, Mapping):
        raise _invalid(
            f"bloom_mix must be a mapping of levels to counts, not {type(value).__name__}"
        )
    return MappingProxyType(dict(value))


def _source(instance: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    del attribute  # the validator's signature; the message names the field itself
    if value is not None and not isinstance(value, bytes | str | os.PathLike):
        raise _invalid(
            f"{type(instance).__name__}.source must be bytes or a path, not {type(value).__name__}"
        )


@attrs.frozen
class AssessmentRequest:
    """Ask for an assessment: questions on `topic`, from a collection or a source document.

    `source` is the document itself (bytes) or a path to it, read when the request is
    submitted; `source_name` is the file name the vendor is told (the path's, by default).
    `bloom_mix` asks for a number of questions per Bloom level.
    """

    topic: str = attrs.field(validator=_text)
    collection: str | None = attrs.field(default=None, validator=_optional_text)
    source: bytes | str | os.PathLike[str] | None = attrs.field(
        default=None, repr=False, validator=_source
    )
    source_name: str | None = attrs.field(default=None, validator=_optional_text)
    bloom_mix: Mapping[BloomLevel, int] = attrs.field(factory=dict, converter=_frozen_mix)
    callback_url: str | None = attrs.field(default=None, validator=_optional_text)
    idempotency_key: str | None = attrs.field(default=None, validator=_optional_text)
    extra: Mapping[str, Any] = attrs.field(default=_EMPTY, converter=_extra)


Request: TypeAlias = CourseRequest | AssessmentRequest
"""What `Client.submit` takes: a `CourseRequest` or an `AssessmentRequest`."""


@attrs.frozen
class Snapshot:
    """What we knew of a job at one moment.

    `status` is normalized; `vendor_status` keeps the vendor's own word, and `raw` the
    vendor's JSON, so nothing the vendor said is lost. `progress` runs from 0.0 to 1.0
    (None where the vendor reports none). `poll_after` is the vendor's hint in seconds
    of vendor time before the next poll, when it gives one.
    """

    job_id: str
    provider: str
    status: JobStatus
    vendor_status: str | None = None
    progress: float | None = None
    result: Result | None = None
    error: JobErrorInfo | None = None
    poll_after: float | None = None
    cost: Money | None = None
    raw: Any = attrs.field(default=None, repr=False, eq=False)
    observed_at: datetime | None = attrs.field(default=None, eq=False)

    def same_state(self, other: Snapshot | None) -> bool:
        """True when `other` tells nothing new: same job id (a staged job switches ids),
        status, progress, result and error."""
        return (
            other is not None
            and self.job_id == other.job_id
            and self.status is other.status
            and self.vendor_status == other.vendor_status
            and self.progress == other.progress
            and self.result == other.result
            and self.error == other.error
        )


@attrs.frozen
class WebhookEvent:
    """A vendor's callback, parsed.

    `verified` is False for vendors that do not sign their webhooks: treat such an event
    as a hint, and confirm it with `Client.confirm` before acting on it.
    """

    provider: str
    kind: str
    job_id: str | None = None
    snapshot: Snapshot | None = None
    export: ExportResult | None = None
    verified: bool = False
    raw: Any = attrs.field(default=None, repr=False, eq=False)
