"""EduMate's JSON, as attrs records, and the one converter that reads it.

EduMate speaks snake_case (FastAPI and Python on the server), so unlike most vendors its
keys need no renaming. The records mirror what the server sends, not what its docs
say where the two differ: an MCQ's options come as `answer_options` from the server and
as `options` in the docs, its explanation as `explaination` (sic) or `explanation`.
`CONVERTER` reads both spellings into one field, so the records themselves carry no wire
rules. Statuses stay plain strings here: the adapter decides what a word means.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
from cattrs.gen import make_dict_structure_fn

from coursegen.wire import camel_case_converter

if TYPE_CHECKING:
    import cattrs
    from cattrs.dispatch import StructureHook

__all__ = [
    "CONVERTER",
    "ChunkResult",
    "CreateAnswer",
    "Mcq",
    "McqList",
    "StatusAnswer",
    "ValidationErrorBody",
    "ValidationProblem",
    "json_type_name",
]


# --------------------------------------------------------------------------- answers


@attrs.frozen
class CreateAnswer:
    """`POST /chat` and `POST /chunking`: `{status: "queued", job_id}` (chunking adds
    `collection_name`), or an HTTP 200 `{status: "failed", error}` when nothing was queued."""

    status: str | None = None
    job_id: str | None = None
    collection_name: str | None = None
    error: str | None = None


@attrs.frozen
class StatusAnswer:
    """`GET /job_status` and `GET /chunking/status`, always HTTP 200 while the server is up.

    `status` is required and may be null (an unknown or expired job). `result` is left
    raw: its shape depends on the job's kind and on the server's version.
    """

    status: str | None
    result: Any = None
    error: str | None = None


@attrs.frozen
class ChunkResult:
    """The `result` of a chunked document: where its chunks went, and how many there were.

    `collection_name` is also in the upload's answer, so the adapter can do without it here.
    """

    collection_name: str | None = None
    stored: Any = None
    chunks: Any = None
    source: str | None = None


@attrs.frozen
class Mcq:
    """One multiple-choice question, in either the server's or the docs' spelling.

    `correct_answer` is the full text of an option or just its letter; `question_no` is
    the server's number (the docs' shape has none). Both are interpreted by the adapter.
    """

    question: str
    options: tuple[str, ...]
    correct_answer: str
    bloom_level: str | None = None
    explanation: str | None = None
    question_no: Any = None


@attrs.frozen
class McqList:
    """The questions of a finished generation job, wherever the result keeps them."""

    mcqs: tuple[Mcq, ...]


@attrs.frozen
class ValidationProblem:
    """One entry of a FastAPI 422 `detail`: `{type, loc, msg, input}`."""

    type: str
    loc: tuple[Any, ...] = ()
    msg: str = ""


@attrs.frozen
class ValidationErrorBody:
    """FastAPI's 422 body: `{"detail": [...]}`."""

    detail: tuple[ValidationProblem, ...]


# --------------------------------------------------------------------------- rules

_ALIASES: Final[Mapping[type, Mapping[str, tuple[str, ...]]]] = {
    # field: wire keys, the server's spelling first (it wins when a body has both).
    Mcq: {"options": ("answer_options", "options"), "explanation": ("explaination", "explanation")},
}


def json_type_name(value: object) -> str:
    """The JSON name of a parsed value's type, for messages about the vendor's bodies."""
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    names = {dict: "object", list: "array", str: "string", type(None): "null"}
    return names.get(type(value), type(value).__name__)


def _with_aliases(data: Mapping[str, Any], aliases: Mapping[str, tuple[str, ...]]) -> Any:
    """`data` with each aliased field under its attribute name, taken from the first
    wire key present."""
    renamed = dict(data)
    for field, keys in aliases.items():
        for key in keys:
            if key in data:
                renamed[field] = data[key]
                break
    return renamed


def _snake_case_converter() -> cattrs.Converter:
    """The core's strict JSON converter (scalars checked, not coerced; unknown keys
    ignored; arrays must be arrays), reading attrs classes under their own names."""
    converter = camel_case_converter()

    def structure_factory(cls: type[Any]) -> StructureHook:
        generated = make_dict_structure_fn(cls, converter)
        aliases = _ALIASES.get(cls, {})

        def structure_object(data: Any, type_: Any) -> Any:
            if not isinstance(data, Mapping):
                msg = f"expected an object, got {json_type_name(data)}"
                raise TypeError(msg)
            if aliases:
                data = _with_aliases(data, aliases)
            return generated(data, type_)

        return structure_object

    converter.register_structure_hook_factory(attrs.has, structure_factory)
    return converter


CONVERTER: Final[cattrs.Converter] = _snake_case_converter()
"""The one converter for this vendor."""
