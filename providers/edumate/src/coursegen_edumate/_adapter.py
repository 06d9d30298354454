"""The EduMate adapter: coursegen's `AssessmentRequest` to EduMate's assessment jobs and back.

Sans-I/O like every adapter: it builds `httpx.Request` objects and reads
`httpx.Response` objects, and never sends, sleeps or reads a clock.

EduMate is a self-hosted FastAPI server running its jobs on RQ (Redis Queue). What the
server does beyond its (Mintlify) docs, and how this adapter meets it:

- Everything goes in QUERY parameters (`POST /chat?query=...&collection_name=...`), with
  no body and no authentication.
- `GET /job_status` answers HTTP 200 whatever the job's fate: `{"status": null}` for a
  job the server does not know, which includes a finished job whose result expired
  (RQ keeps a result about 500 s). The adapter raises `NotFound`; the engine turns that
  into EXPIRED for a job it has seen, and (with the default `keep_results=True`) follows
  every job to its end with nobody waiting, so that no result expires unfetched.
- `finished` with `result: null` means nothing was generated: a FAILED job, not an
  empty assessment. A failed job's `error` is a whole Python traceback: its last line is
  the message, the exception's name the code, and the full text stays in `raw`.
- The server's questions say `answer_options` and `explaination` (sic) where the docs say
  `options` and `explanation`; `correct_answer` is an option's text or its letter.
- An assessment from a PDF takes two vendor jobs, chunking then generation; to the user
  it is one job (`StagedAdapter`). Stage one's job id carries what stage two needs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import math
import re
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, ClassVar, Final, Self

import attrs
import httpx

from coursegen import (
    Assessment,
    AssessmentRequest,
    BloomLevel,
    Capabilities,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    NotFound,
    PollPolicy,
    ProviderError,
    Question,
    RateLimitState,
    Request,
    Settings,
    Snapshot,
    UnsupportedFeature,
)
from coursegen.wire import VendorAPI, structure

from ._wire import (
    CONVERTER,
    ChunkResult,
    CreateAnswer,
    Mcq,
    McqList,
    StatusAnswer,
    ValidationErrorBody,
    json_type_name,
)

__all__ = ["DEFAULT_BLOOM_MIX", "EduMate", "blooms_requirements"]

PROVIDER: Final = "edumate"

DEFAULT_BLOOM_MIX: Final[Mapping[BloomLevel, int]] = MappingProxyType(
    {
        BloomLevel.REMEMBER: 5,
        BloomLevel.UNDERSTAND: 3,
        BloomLevel.APPLY: 4,
        BloomLevel.ANALYZE: 3,
        BloomLevel.EVALUATE: 2,
        BloomLevel.CREATE: 3,
    }
)
"""The server's default `blooms_requirements`: 20 questions over the six levels."""

RESULT_TTL: Final = 500.0
"""Seconds the server keeps a finished job's result (RQ's default result TTL)."""

_STATUSES: Final[Mapping[str, JobStatus]] = MappingProxyType(
    {
        # RQ's job statuses. Any other word (rq 3.0's `rate_limited` and
        # `ready_to_enqueue`, or tomorrow's) reads as RUNNING: the job is not over.
        "created": JobStatus.PENDING,
        "queued": JobStatus.PENDING,
        "deferred": JobStatus.PENDING,
        "scheduled": JobStatus.PENDING,
        "started": JobStatus.RUNNING,
        "finished": JobStatus.SUCCEEDED,
        "failed": JobStatus.FAILED,
        "stopped": JobStatus.CANCELLED,
        "canceled": JobStatus.CANCELLED,
    }
)
_CHUNKED: Final = frozenset({"chunked", "finished"})
"""The words that end a chunking job well: `chunked`, or RQ's own `finished`."""

_CHUNKING_PREFIX: Final = "chunking:"
_REFUSED_PREFIX: Final = "refused:"
_STAGE_VERSION: Final = 1
_PLAN_KEY: Final = "coursegen_edumate.plan"
"""The `httpx.Request.extensions` key carrying an upload's plan to `read_submitted`.

Extensions are never sent: the plan stays on our side of the wire."""

_DEFAULT_SOURCE_NAME: Final = "document.pdf"
_TRACEBACK_HEADER: Final = "Traceback (most recent call last):"
_EXCEPTION_LINE: Final = re.compile(r"([A-Za-z_][\w.]*)(?::\s.*)?", re.DOTALL)
_LETTERED: Final = re.compile(r"\s*\(?([A-Za-z])[).:]\s+(.*)", re.DOTALL)
_LETTER_ONLY: Final = re.compile(r"\(?([A-Za-z])\s*[).:]?")
_BLOOM_STEMS: Final = (
    # Prefixes of each level's names, old taxonomy included (knowledge, synthesis...).
    (("rememb", "knowledge", "recall"), BloomLevel.REMEMBER),
    (("underst", "comprehen"), BloomLevel.UNDERSTAND),
    (("appl",), BloomLevel.APPLY),
    (("analy",), BloomLevel.ANALYZE),
    (("evaluat",), BloomLevel.EVALUATE),
    (("creat", "synthes"), BloomLevel.CREATE),
)
_NO_ORIGIN: Final = (
    "EduMate generates from a collection (collection=...) or from a source document "
    "(source=...): give one"
)
_NOTHING_GENERATED: Final = (
    "EduMate finished the job but generated nothing ({what}): no questions came out of "
    "the collection for this topic (an empty collection, such as one from a document "
    "with no text, gives none); check the topic and what the collection was made from"
)
_EMPTY_DOCUMENT: Final = (
    "EduMate chunked the document {source}into 0 chunks: it holds no text EduMate can "
    "read (is it a PDF with a text layer?), so there is nothing to generate from"
)
_NOTHING_STORED: Final = (
    "EduMate processed the document but stored nothing from it (its result is null), "
    "so there is no collection to generate from"
)


def _frozen_params(value: Mapping[str, str | None]) -> Mapping[str, str | None]:
    return MappingProxyType(dict(value))


@attrs.frozen
class _Plan:
    """What stage two of a PDF job needs, carried by stage one's job id.

    `job` is the chunking job's id and `collection` the collection its create answer
    named; both are None until the upload is answered.
    """

    query: str
    blooms: str | None
    params: Mapping[str, str | None] = attrs.field(factory=dict, converter=_frozen_params)
    job: str | None = None
    collection: str | None = None


@attrs.frozen
class EduMate:
    """EduMate (self-hosted, https://github.com/suyash-sketch/edu-mate): multiple-choice
    assessments at chosen Bloom levels, from a document collection or a PDF.

    Honours `AssessmentRequest.topic` (sent as `query`), `collection`
    (`collection_name`), `source` and `source_name` (a PDF, chunked into a new collection
    first), `bloom_mix` (`blooms_requirements`, the server's default mix when empty) and
    `extra` (more query parameters for the generation call; a None value removes one).
    EduMate has no webhooks, idempotency keys or authentication.

    The server usually runs next to its user on plain HTTP (`edumate+http://host:8000`,
    the default `http://localhost:8000`); across any network you do not control, put it
    behind HTTPS (`edumate://host`). A key, if configured, is never sent: EduMate's
    generation endpoints take none.
    """

    name: ClassVar[str] = PROVIDER
    default_base_url: ClassVar[str] = "http://localhost:8000"
    env_vars: ClassVar[Mapping[str, str]] = MappingProxyType({})
    option_names: ClassVar[frozenset[str]] = frozenset()
    """Settings beyond the core ones (`connect()` refuses any other): EduMate takes none."""
    capabilities: ClassVar[Capabilities] = Capabilities(
        request_kinds=frozenset({AssessmentRequest}),
        request_fields=frozenset(
            {"topic", "collection", "source", "source_name", "bloom_mix", "extra"}
        ),
        idempotent_submit=False,
        progress=False,
        requires_key=False,
    )
    policy: ClassVar[PollPolicy] = PollPolicy(
        min_interval=2.0,
        interval=2.5,  # the docs: "poll every 2-3 seconds"
        job_timeout=600.0,  # the server's own job timeout
        result_ttl=RESULT_TTL,
    )

    _api: VendorAPI = attrs.field(alias="api")

    @classmethod
    def from_settings(cls, settings: Settings) -> Self:
        """The adapter for `settings`. EduMate needs no key; any scheme but http(s) is refused."""
        api = VendorAPI.from_settings(
            settings,
            provider=PROVIDER,
            vendor="EduMate",
            default_base_url=cls.default_base_url,
            keyed=False,  # the server takes no key: none is ever sent to it
        )
        return cls(api=api)

    @property
    def rate_scope(self) -> str:
        """EduMate sets no rate limits; its server is the one thing jobs share."""
        base = self._api.base_url
        port = f":{base.port}" if base.port else ""
        return f"server-{base.host}{port}"

    # ------------------------------------------------------------------- create

    def submit(self, request: Request) -> httpx.Request:
        """`POST /chat?...` for a collection, or `POST /chunking` (multipart) for a PDF.

        Everything checkable is checked first, and every problem reported at once.
        """
        if not isinstance(request, AssessmentRequest):
            raise UnsupportedFeature(
                self.name, type(request).__name__, "EduMate generates assessments only"
            )
        problems: list[str] = []
        if not request.topic.strip():
            problems.append("topic must not be blank (it is EduMate's query)")
        blooms = _blooms_or_problem(request.bloom_mix, problems)
        params = _extra_params(request.extra, problems)
        problems.extend(_origin_problems(request))
        self._api.refuse(problems)
        if request.collection is not None:
            return self._chat(request.topic, request.collection, blooms, params)
        source = request.source
        if not isinstance(source, bytes):  # pragma: no cover - `_origin_problems` refused it
            raise self._api.invalid("source must be bytes")
        plan = _Plan(query=request.topic, blooms=blooms, params=params)
        name = (request.source_name or "").strip() or _DEFAULT_SOURCE_NAME
        return httpx.Request(
            "POST",
            self._api.url("chunking"),
            files={"file": (name, source, "application/pdf")},
            headers=self._api.headers(),
            extensions={_PLAN_KEY: plan},
        )

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The first snapshot, from `{"status": "queued", "job_id": ...}`.

        For an upload the job id is composed (see `next_stage`). An HTTP 200
        `{"status": "failed", "error": ...}` means nothing was queued: the job is FAILED
        at once, under an id that polls nothing.
        """
        return self._read_create(response, _plan_of(response))

    # ------------------------------------------------------------------- poll

    def poll(self, job_id: str) -> httpx.Request:
        """`GET /job_status?job_id=`, or `GET /chunking/status?job_id=` for stage one."""
        if not job_id:
            raise self._api.invalid("the job id must not be empty")
        if job_id.startswith(_REFUSED_PREFIX):
            raise NotFound(
                "EduMate refused this job when it was submitted: there is no job to follow",
                provider=self.name,
            )
        if job_id.startswith(_CHUNKING_PREFIX):
            plan = self._decode(job_id)
            return self._api.get("chunking", "status", params={"job_id": plan.job or ""})
        return self._api.get("job_status", params={"job_id": job_id})

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The job's state; `NotFound` for `{"status": null}` (unknown or expired)."""
        data, answer = self._api.read(response, CONVERTER, StatusAnswer)
        plan = self._decode(job_id) if job_id.startswith(_CHUNKING_PREFIX) else None
        if answer.status is None:
            vendor_id = job_id if plan is None else plan.job
            raise NotFound(
                f"EduMate does not know job {vendor_id!r} (its status is null): it never "
                "existed on this server, or the server no longer keeps it",
                provider=self.name,
                status_code=response.status_code,
                raw=response.text,
            )
        if plan is not None:
            return self._chunking_snapshot(job_id, plan, answer, data, response)
        return self._generation_snapshot(job_id, answer, data, response)

    # ------------------------------------------------------------------- stages

    def next_stage(self, snapshot: Snapshot) -> httpx.Request | None:
        """Once the document is chunked, the generation job's create: `POST /chat`.

        Everything it needs comes from stage one's job id (topic, Bloom mix, extra
        parameters) and its last answer (the collection), so a token of stage one
        resumes in any process.
        """
        if (
            not snapshot.job_id.startswith(_CHUNKING_PREFIX)
            or snapshot.vendor_status not in _CHUNKED
            or snapshot.status is not JobStatus.RUNNING
        ):
            return None
        plan = self._decode(snapshot.job_id)
        result = snapshot.raw.get("result") if isinstance(snapshot.raw, Mapping) else None
        named = result.get("collection_name") if isinstance(result, Mapping) else None
        collection = named if isinstance(named, str) and named else plan.collection
        if not collection:
            raise MalformedResponse(
                "the chunked document names no collection to generate from",
                provider=self.name,
                raw=json.dumps(snapshot.raw),
            )
        return self._chat(plan.query, collection, plan.blooms, plan.params)

    def read_stage(self, previous: Snapshot, response: httpx.Response) -> Snapshot:
        """The generation job's first snapshot, from the answer to `POST /chat`."""
        del previous  # the new job stands on its own: its id is the vendor's
        return self._read_create(response, None)

    # ------------------------------------------------------------------- errors

    def read_error(self, response: httpx.Response) -> ProviderError:
        """The typed error of a response with status >= 400.

        FastAPI's 422 names each missing or invalid parameter, and so does the message.
        A plain-text 500 is the server failing (Redis down): `ProviderUnavailable`,
        retried for polls. Any other status goes by `error_class_for_status`.
        """
        status = response.status_code
        vendor_code: str | None = None
        body = self._api.json_or_none(response)
        reason = f" {response.reason_phrase}" if response.reason_phrase else ""
        detail = body.get("detail") if isinstance(body, Mapping) else None
        if isinstance(detail, list) and (problems := self._problems(body, response)):
            message = "EduMate refused the request: " + "; ".join(
                _describe_problem(problem) for problem in problems
            )
            vendor_code = problems[0].type
        elif isinstance(detail, str) and detail:
            message = detail
        elif body is None and response.content and status >= 500:  # noqa: PLR2004 - 5xx
            message = (
                f"HTTP {status}{reason} in plain text: the EduMate server failed "
                "(its Redis may be down)"
            )
        else:
            message = f"HTTP {status}{reason}, without an EduMate error message"
        if status == 404:  # noqa: PLR2004 - the HTTP status is the clearest name
            # EduMate answers a job it does not know with 200 `{"status": null}`; a 404 is
            # a route that is not there: the base URL (or a proxy in front) is wrong.
            return NotFound(
                f"EduMate's {response.request.url.path if _has_request(response) else 'route'} "
                f"answered HTTP 404 ({message}); that route always exists on an EduMate "
                f"server, so the base URL {str(self._api.base_url)!r} looks wrong (a wrong "
                "path prefix or a proxy in front?)",
                job_gone=False,
                provider=self.name,
                status_code=status,
                vendor_code=vendor_code,
                raw=response.text,
            )
        return self._api.error(response, code=vendor_code, message=message, codes={})

    def read_rate_limit(self, response: httpx.Response) -> RateLimitState | None:
        """EduMate sends no rate-limit headers."""
        del response
        return None

    # ------------------------------------------------------------------- helpers

    def _read_create(self, response: httpx.Response, plan: _Plan | None) -> Snapshot:
        data, answer = self._api.read(response, CONVERTER, CreateAnswer)
        kind = "generation" if plan is None else "chunking"
        if answer.status == "failed" or (not answer.job_id and answer.error):
            # Nothing was queued. The id is the answer's digest: the same refusal gives
            # the same id, and it polls nothing (`poll` raises NotFound for it).
            digest = hashlib.sha256(response.content).hexdigest()[:16]
            return Snapshot(
                job_id=f"{_REFUSED_PREFIX}{kind}:{digest}",
                provider=self.name,
                status=JobStatus.FAILED,
                vendor_status=answer.status,
                error=_job_error(answer.error, f"EduMate refused the {kind} job"),
                raw=data,
            )
        if not answer.job_id:
            raise self._api.malformed(f"the answer to the {kind} create has no job_id", response)
        job_id = answer.job_id
        if plan is not None:
            job_id = _encode(
                attrs.evolve(plan, job=answer.job_id, collection=answer.collection_name)
            )
        word = answer.status
        status = _STATUSES.get(word or "queued", JobStatus.RUNNING)
        if status.is_terminal:
            status = JobStatus.PENDING  # only a poll can end a job that was just created
        return Snapshot(
            job_id=job_id,
            provider=self.name,
            status=status,
            vendor_status=word,
            raw=data,
        )

    def _generation_snapshot(
        self, job_id: str, answer: StatusAnswer, data: Any, response: httpx.Response
    ) -> Snapshot:
        word = answer.status or ""
        status = _STATUSES.get(word, JobStatus.RUNNING)
        assessment: Assessment | None = None
        error: JobErrorInfo | None = None
        if status is JobStatus.SUCCEEDED:
            assessment = self._assessment(answer.result, response)
            if assessment is None:
                status = JobStatus.FAILED
                error = JobErrorInfo(
                    _NOTHING_GENERATED.format(what=_nothing(answer.result)), code="empty_result"
                )
        elif status is JobStatus.FAILED:
            error = _job_error(answer.error, "EduMate reports the job failed, without an error")
        elif status is JobStatus.CANCELLED:
            error = JobErrorInfo(f"the job was {word} on the EduMate server", code=word)
        return Snapshot(
            job_id=job_id,
            provider=self.name,
            status=status,
            vendor_status=word,
            result=assessment,
            error=error,
            raw=data,
        )

    def _chunking_snapshot(
        self,
        job_id: str,
        plan: _Plan,
        answer: StatusAnswer,
        data: Any,
        response: httpx.Response,
    ) -> Snapshot:
        word = answer.status or ""
        error: JobErrorInfo | None = None
        if word in _CHUNKED:
            # The document is in its collection: the job goes on (`next_stage`).
            status = JobStatus.RUNNING
            if answer.result is None:
                status = JobStatus.FAILED
                error = JobErrorInfo(_NOTHING_STORED, code="empty_result")
            else:
                chunked = self._api.structure(answer.result, response, CONVERTER, ChunkResult)
                if not (chunked.collection_name or plan.collection):
                    raise self._api.malformed(
                        "the chunked document names no collection to generate from", response
                    )
                if chunked.chunks == 0 and not isinstance(chunked.chunks, bool):
                    # The server goes on to generate from an empty collection, which
                    # finishes with a null result: say why now, and spend no generation.
                    status = JobStatus.FAILED
                    source = f"{chunked.source!r} " if chunked.source else ""
                    error = JobErrorInfo(
                        _EMPTY_DOCUMENT.format(source=source), code="empty_document"
                    )
        else:
            status = _STATUSES.get(word, JobStatus.RUNNING)
            if status is JobStatus.FAILED:
                error = _job_error(answer.error, "EduMate could not chunk the document")
            elif status is JobStatus.CANCELLED:
                error = JobErrorInfo(f"the chunking job was {word} on the EduMate server", word)
        return Snapshot(
            job_id=job_id,
            provider=self.name,
            status=status,
            vendor_status=word,
            error=error,
            raw=data,
        )

    def _assessment(self, result: Any, response: httpx.Response) -> Assessment | None:
        """The questions of a finished job, or None when it generated none."""
        if isinstance(result, str):
            # An LLM's JSON kept as text: read it, or say what it is.
            try:
                result = json.loads(result)
            except ValueError:
                raise self._api.malformed(
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
                raise self._api.malformed("the finished job's result has no `mcqs` list", response)
            mcqs = result[key]
            extra = {k: v for k, v in result.items() if k != key}
        else:
            raise self._api.malformed(
                f"the finished job's result is {json_type_name(result)}, not questions",
                response,
            )
        if mcqs is None:
            return None
        read = self._api.structure({"mcqs": mcqs}, response, CONVERTER, McqList)
        if not read.mcqs:
            return None
        # One question the server got wrong (an answer naming no option) must not cost
        # the other nineteen: it is kept without a resolved answer, and said so.
        warnings: list[str] = []
        questions = tuple(
            _question(position, mcq, warnings) for position, mcq in enumerate(read.mcqs, start=1)
        )
        return Assessment(questions=questions, extra=extra, warnings=tuple(warnings))

    def _chat(
        self,
        query: str,
        collection: str,
        blooms: str | None,
        params: Mapping[str, str | None],
    ) -> httpx.Request:
        merged: dict[str, str | None] = {
            "query": query,
            "collection_name": collection,
            "blooms_requirements": blooms,
            **params,
        }
        # An `extra` value of None removes a parameter (the server's default applies).
        sent = {key: value for key, value in merged.items() if value is not None}
        return self._api.post("chat", params=sent)

    def _decode(self, job_id: str) -> _Plan:
        try:
            return _decode(job_id)
        except ValueError as exc:
            raise self._api.invalid(
                f"the EduMate job id {job_id[:40]!r}... is damaged and cannot be read ({exc})"
            ) from exc

    def _problems(self, body: Any, response: httpx.Response) -> tuple[Any, ...]:
        try:
            read = structure(
                CONVERTER, body, ValidationErrorBody, provider=self.name, raw=response.text
            )
        except MalformedResponse:
            return ()
        return read.detail


# ----------------------------------------------------------------------- translation


def blooms_requirements(mix: Mapping[BloomLevel, int]) -> str:
    """EduMate's `blooms_requirements` for a mix: "5 remember, 3 understand, ...".

    Levels go lowest first and levels asked zero times are left out; an empty mix is
    the server's default (`DEFAULT_BLOOM_MIX`). `ValueError` for a mix EduMate cannot take.
    """
    problems: list[str] = []
    text = _blooms_or_problem(mix, problems)
    if problems:
        raise ValueError("; ".join(problems))
    return text


def _origin_problems(request: AssessmentRequest) -> list[str]:
    """Why the request's collection or source document cannot be used, if it cannot."""
    source = request.source
    if request.collection is not None and source is not None:
        return ["give a collection or a source document, not both"]
    if request.collection is None and source is None:
        return [_NO_ORIGIN]
    problems = []
    if request.collection is not None:
        if not request.collection.strip():
            problems.append("collection must not be blank")
        if request.source_name is not None:
            problems.append("source_name names a source document, and there is none")
    elif not isinstance(source, bytes):
        problems.append(
            "source must be the document's bytes here (coursegen's Client reads a path "
            "before the adapter sees the request)"
        )
    elif not source:
        problems.append("the source document is empty")
    return problems


def _blooms_or_problem(mix: Mapping[Any, Any], problems: list[str]) -> str:
    """The `blooms_requirements` text of `mix`, noting in `problems` why it is invalid."""
    if not mix:
        mix = DEFAULT_BLOOM_MIX
    counts: dict[BloomLevel, int] = {}
    for key, count in mix.items():
        level = key if isinstance(key, BloomLevel) else _exact_level(key)
        if level is None:
            problems.append(
                f"bloom_mix keys must be BloomLevel values, not {key!r} (EduMate knows "
                + ", ".join(level.value for level in BloomLevel)
                + ")"
            )
            continue
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            problems.append(
                f"bloom_mix[{level.value}] must be a whole number of questions >= 0, not {count!r}"
            )
            continue
        counts[level] = counts.get(level, 0) + count
    if not problems and not any(counts.values()):
        problems.append("bloom_mix asks for no questions at all")
    return ", ".join(f"{counts[level]} {level.value}" for level in BloomLevel if counts.get(level))


def _exact_level(value: object) -> BloomLevel | None:
    if not isinstance(value, str):
        return None
    try:
        return BloomLevel(value.strip().lower())
    except ValueError:
        return None


def _extra_params(extra: Mapping[str, Any], problems: list[str]) -> dict[str, str | None]:
    """`extra` as query parameters: text, numbers and booleans; None removes one."""
    params: dict[str, str | None] = {}
    for key, value in extra.items():
        if value is None:
            params[key] = None
        elif isinstance(value, bool):
            params[key] = "true" if value else "false"
        elif isinstance(value, str | int) or (isinstance(value, float) and math.isfinite(value)):
            params[key] = str(value)
        else:
            problems.append(
                f"extra[{key!r}] cannot be a query parameter: EduMate takes text, numbers "
                f"and booleans, not {type(value).__name__}"
            )
    return params


def _bloom_level(value: str | None) -> BloomLevel | None:
    """The `BloomLevel` a vendor's word names ("Analyze", "analysis", "Synthesis"), or None."""
    if value is None:
        return None
    word = value.strip().lower()
    exact = _exact_level(word)
    if exact is not None:
        return exact
    for stems, level in _BLOOM_STEMS:
        if word.startswith(stems):
            return level
    return None


def _question(position: int, mcq: Mcq, warnings: list[str]) -> Question:
    """One MCQ as a `Question`; what cannot be resolved is noted in `warnings`."""
    label = f"question {position} of the result"
    if mcq.question_no is not None:
        label += f" (question_no {mcq.question_no!r})"
    options = _without_letters(mcq.options)
    index = _answer_index(mcq.correct_answer, mcq.options, options) if options else None
    if not options:
        warnings.append(f"{label} has no options; kept without a resolved answer")
    elif index is None:
        last = chr(ord("A") + len(options) - 1)
        warnings.append(
            f"{label}: correct_answer {mcq.correct_answer!r} is neither one of its "
            f"{len(options)} options nor the letter of one (A-{last}); kept without a "
            "resolved answer"
        )
    return Question(
        text=mcq.question,
        options=options,
        correct_index=index,
        bloom_level=_bloom_level(mcq.bloom_level),
        explanation=mcq.explanation,
        number=_question_number(mcq.question_no, position),
    )


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


def _job_error(error: str | None, fallback: str) -> JobErrorInfo:
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


def _has_request(response: httpx.Response) -> bool:
    try:
        response.request  # noqa: B018 - httpx raises when a response has no request
    except RuntimeError:
        return False
    return True


def _describe_problem(problem: Any) -> str:
    """One FastAPI validation problem in words: "missing query parameter 'query'"."""
    loc = [str(part) for part in problem.loc]
    where = {"query": "query parameter", "body": "form field", "path": "path parameter"}
    if len(loc) >= 2 and loc[0] in where:  # noqa: PLR2004 - (where, name...)
        what = f"{where[loc[0]]} {'.'.join(loc[1:])!r}"
    else:
        what = ".".join(loc) or "the request"
    if problem.type == "missing":
        return f"missing {what}"
    return f"{what}: {problem.msg or problem.type}"


def _plan_of(response: httpx.Response) -> _Plan | None:
    """The plan an upload request carried, if `response` answers one."""
    try:
        request = response.request
    except RuntimeError:  # a response built without its request (a test's)
        return None
    plan = request.extensions.get(_PLAN_KEY)
    return plan if isinstance(plan, _Plan) else None


def _encode(plan: _Plan) -> str:
    payload = {
        "v": _STAGE_VERSION,
        "job": plan.job,
        "collection": plan.collection,
        "query": plan.query,
        "blooms": plan.blooms,
        "params": dict(plan.params),
    }
    text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"), sort_keys=True)
    return _CHUNKING_PREFIX + base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _decode(job_id: str) -> _Plan:
    """The plan of a stage-one job id; `ValueError` saying what is wrong with it."""
    body = job_id.removeprefix(_CHUNKING_PREFIX)
    try:
        data = json.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    except (binascii.Error, ValueError) as exc:
        raise ValueError("not base64-encoded JSON") from exc
    if not isinstance(data, dict) or data.get("v") != _STAGE_VERSION:
        raise ValueError("an unknown version")
    job, query, blooms = data.get("job"), data.get("query"), data.get("blooms")
    collection, params = data.get("collection"), data.get("params", {})
    if not isinstance(job, str) or not job or not isinstance(query, str):
        raise ValueError("no job or query")
    if blooms is not None and not isinstance(blooms, str):
        raise ValueError("blooms is not text")
    if collection is not None and not isinstance(collection, str):
        raise ValueError("collection is not text")
    if not isinstance(params, dict) or not all(
        isinstance(value, str | None) for value in params.values()
    ):
        raise ValueError("params are not text")
    return _Plan(query=query, blooms=blooms, params=params, job=job, collection=collection)
