"""EduMate's JSON, as attrs records, and the one converter that reads it.

EduMate speaks snake_case (FastAPI and Python on the server), so unlike most vendors its
keys need no renaming. The records mirror what the server sends, not what its docs
say where the two differ: an MCQ's options come as `answer_options` from the server and
as `options` in the docs, its explanation as `explaination` (sic) or `explanation`.
`CONVERTER` reads both spellings into one field, so the records themselves carry no wire
rules. Statuses stay plain strings here: the adapter decides what a word means; what
a record means in coursegen's terms is its method (`Mcq.to_question`,
`ValidationProblem.describe`) or `job_error` (a job's `error`, a Python traceback).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import attrs
from cattrs.gen import make_dict_structure_fn

from coursegen import Assessment, JobErrorInfo, MalformedResponse, Question
from coursegen.wire import camel_case_converter, read_json, structure

from ._blooms import bloom_level

if TYPE_CHECKING:
    import cattrs
    import httpx
    from cattrs.dispatch import StructureHook

    from coursegen.wire import VendorAPI

__all__ = [
    "CONVERTER",
    "ChunkResult",
    "CreateAnswer",
    "Mcq",
    "McqList",
    "StatusAnswer",
    "ValidationErrorBody",
    "ValidationProblem",
    "error_message",
    "job_error",
    "json_type_name",
    "nothing_generated",
    "read_assessment",
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
    the server's number (the docs' shape has none). `to_question` reads both.
    """

    question: str
    options: tuple[str, ...]
    correct_answer: str
    bloom_level: str | None = None
    explanation: str | None = None
    question_no: Any = None

    def to_question(self, position: int, warnings: list[str]) -> Question:
        """One MCQ as a `Question`; what cannot be resolved is noted in `warnings`."""
        label = f"question {position} of the result"
        if self.question_no is not None:
            label += f" (question_no {self.question_no!r})"
        options = _without_letters(self.options)
        index = _answer_index(self.correct_answer, self.options, options) if options else None
        if not options:
            warnings.append(f"{label} has no options; kept without a resolved answer")
        elif index is None:
            last = chr(ord("A") + len(options) - 1)
            warnings.append(
                f"{label}: correct_answer {self.correct_answer!r} is neither one of its "
                f"{len(options)} options nor the letter of one (A-{last}); kept without a "
                "resolved answer"
            )
        return Question(
            text=self.question,
            options=options,
            correct_index=index,
            bloom_level=bloom_level(self.bloom_level),
            explanation=self.explanation,
            number=_question_number(self.question_no, position),
        )


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

    def describe(self) -> str:
        """One FastAPI validation problem in words: "missing query parameter 'query'"."""
        loc = [str(part) for part in self.loc]
        where = {"query": "query parameter", "body": "form field", "path": "path parameter"}
        if len(loc) >= 2 and loc[0] in where:  # noqa: PLR2004 - (where, name...)
            what = f"{where[loc[0]]} {'.'.join(loc[1:])!r}"
        else:
            what = ".".join(loc) or "the request"
        if self.type == "missing":
            return f"missing {what}"
        return f"{what}: {self.msg or self.type}"


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

# --------------------------------------------------------------------------- meaning

_TRACEBACK_HEADER: Final = "Traceback (most recent call last):"
_EXCEPTION_LINE: Final = re.compile(r"([A-Za-z_][\w.]*)(?::\s.*)?", re.DOTALL)
_LETTERED: Final = re.compile(r"\s*\(?([A-Za-z])[).:]\s+(.*)", re.DOTALL)
_LETTER_ONLY: Final = re.compile(r"\(?([A-Za-z])\s*[).:]?")


def _without_letters(options: tuple[str, ...]) -> tuple[str, ...]:
    """Options without their "A) "/"A. " prefixes, when every option carries its own
    letter in order; otherwise unchanged (an option that merely starts "A. " is kept)."""
    stripped = []
    for index, option in enumerate(options):
        match = _LETTERED.fullmatch(option)
        if match is None or match.group(1).upper() != chr(ord("A") + index):
            return options
        stripped.append(match.group(2).strip())
    return tuple(stripped)


def _answer_index(answer: str, written: tuple[str, ...], options: tuple[str, ...]) -> int | None:
    """The index of the option `answer` names: its text (with or without its letter),
    its letter ("A", "A)", "A."), or its text written differently in case or spacing."""
    given = answer.strip()
    for candidates in (written, options):
        for index, option in enumerate(candidates):
            if option.strip() == given:
                return index
    if (match := _LETTER_ONLY.fullmatch(given)) and (
        index := ord(match.group(1).upper()) - ord("A")
    ) < len(options):
        return index
    if match := _LETTERED.fullmatch(given):
        index = ord(match.group(1).upper()) - ord("A")
        text = match.group(2).strip()
        if index < len(options) and options[index].strip() == text:
            return index
        if text in options:
            return options.index(text)
    wanted = _normalized(given)
    matches = [index for index, option in enumerate(options) if _normalized(option) == wanted]
    return matches[0] if len(matches) == 1 else None


def _normalized(text: str) -> str:
    return " ".join(text.split()).casefold()


def _question_number(value: Any, position: int) -> int:
    """The server's `question_no` (a number, or digits as text); else the position."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str) and value.strip().isdigit():
        return int(value.strip())
    return position


def job_error(error: str | None, fallback: str) -> JobErrorInfo:
    """A failure's one-line message: a traceback's exception line (the first line after
    its last frame, `dotted.Name: message`), not a trailing hint such as pydantic's
    "For further information visit ..."; the exception's name is the code."""
    if error is None or not error.strip():
        return JobErrorInfo(fallback)
    lines = [line for line in error.strip().splitlines() if line.strip()]
    if lines[0].strip() != _TRACEBACK_HEADER:
        return JobErrorInfo(lines[-1].strip())
    # Frames are indented ("  File ...", then their code); the exception line is not.
    # With chained exceptions the last traceback is the one that ended the job.
    frames = [index for index, line in enumerate(lines) if line.startswith("  File ")]
    after = lines[frames[-1] + 1 :] if frames else lines[1:]
    for line in after:
        if not line[:1].isspace() and (match := _EXCEPTION_LINE.fullmatch(line.strip())):
            return JobErrorInfo(line.strip(), code=match.group(1))
    return JobErrorInfo(lines[-1].strip())


def read_assessment(result: Any, api: VendorAPI, response: httpx.Response) -> Assessment | None:
    """The questions of a finished job, or None when it generated none."""
    if isinstance(result, str):
        # An LLM's JSON kept as text: read it, or say what it is.
        try:
            result = json.loads(result)
        except ValueError:
            raise api.malformed(
                "the finished job's result is text, not questions", response
            ) from None
    extra: dict[str, Any] = {}
    if result is None:
        return None
    if isinstance(result, list):
        mcqs: Any = result
    elif isinstance(result, Mapping):
        key = next((k for k in ("mcqs", "questions") if k in result), None)
        if key is None:
            raise api.malformed("the finished job's result has no `mcqs` list", response)
        mcqs = result[key]
        extra = {k: v for k, v in result.items() if k != key}
    else:
        raise api.malformed(
            f"the finished job's result is {json_type_name(result)}, not questions",
            response,
        )
    if mcqs is None:
        return None
    read = api.structure({"mcqs": mcqs}, response, CONVERTER, McqList)
    if not read.mcqs:
        return None
    # One question the server got wrong (an answer naming no option) must not cost
    # the other nineteen: it is kept without a resolved answer, and said so.
    warnings: list[str] = []
    questions = tuple(
        mcq.to_question(position, warnings) for position, mcq in enumerate(read.mcqs, start=1)
    )
    return Assessment(questions=questions, extra=extra, warnings=tuple(warnings))


def error_message(response: httpx.Response) -> tuple[str, str | None]:
    """The message and code of an unsuccessful answer: FastAPI's 422 names each missing
    or invalid parameter (the first problem's type is the code), a `detail` text is the
    message, a plain-text 5xx is the server failing (its Redis down)."""
    status = response.status_code
    try:
        body = read_json(response, provider="edumate")
    except MalformedResponse:
        body = None  # a proxy's page, or the server's plain-text 500
    reason = f" {response.reason_phrase}" if response.reason_phrase else ""
    detail = body.get("detail") if isinstance(body, Mapping) else None
    if isinstance(detail, list) and (problems := _problems(body, response)):
        described = "; ".join(problem.describe() for problem in problems)
        return f"EduMate refused the request: {described}", problems[0].type
    if isinstance(detail, str) and detail:
        return detail, None
    if body is None and response.content and status >= 500:  # noqa: PLR2004 - 5xx
        return (
            f"HTTP {status}{reason} in plain text: the EduMate server failed "
            "(its Redis may be down)"
        ), None
    return f"HTTP {status}{reason}, without an EduMate error message", None


def _problems(body: Any, response: httpx.Response) -> tuple[ValidationProblem, ...]:
    try:
        read = structure(
            CONVERTER, body, ValidationErrorBody, provider="edumate", raw=response.text
        )
    except MalformedResponse:
        return ()
    return read.detail


_NOTHING_GENERATED: Final = (
    "EduMate finished the job but generated nothing ({what}): no questions came out of "
    "the collection for this topic (an empty collection, such as one from a document "
    "with no text, gives none); check the topic and what the collection was made from"
)


def nothing_generated(result: Any) -> JobErrorInfo:
    """Why a finished job with no questions failed: what its result said, in the user's words."""
    return JobErrorInfo(_NOTHING_GENERATED.format(what=_nothing(result)), code="empty_result")


def _nothing(result: Any) -> str:
    """How a finished job's result said it held no questions, in the user's words."""
    if result is None:
        return "its result is null"
    if isinstance(result, Mapping):
        key = next((k for k in ("mcqs", "questions") if k in result), "mcqs")
        return (
            f"its `{key}` list is empty" if result.get(key) is not None else f"its `{key}` is null"
        )
    return "its result is an empty list"
