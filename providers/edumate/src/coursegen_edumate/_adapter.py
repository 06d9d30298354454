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

import hashlib
import json
from collections.abc import Mapping
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import attrs

from coursegen import (
    Assessment,
    AssessmentRequest,
    Capabilities,
    JobErrorInfo,
    JobStatus,
    MalformedResponse,
    NotFound,
    PollPolicy,
    ProviderError,
    RateLimitState,
    Request,
    Settings,
    Snapshot,
)
from coursegen.wire import VendorAPI, query_params, request_of

from ._blooms import blooms_or_problem
from ._stages import CHUNKING_PREFIX, PLAN_KEY, Plan, decode_plan, encode_plan, plan_of
from ._wire import (
    CONVERTER,
    ChunkResult,
    CreateAnswer,
    StatusAnswer,
    error_message,
    job_error,
    nothing_generated,
    read_assessment,
)

if TYPE_CHECKING:
    import httpx

__all__ = ["EduMate"]

PROVIDER: Final = "edumate"

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

_REFUSED_PREFIX: Final = "refused:"
_DEFAULT_SOURCE_NAME: Final = "document.pdf"
_NO_ORIGIN: Final = (
    "EduMate generates from a collection (collection=...) or from a source document "
    "(source=...): give one"
)
_EMPTY_DOCUMENT: Final = (
    "EduMate chunked the document {source}into 0 chunks: it holds no text EduMate can "
    "read (is it a PDF with a text layer?), so there is nothing to generate from"
)
_NOTHING_STORED: Final = (
    "EduMate processed the document but stored nothing from it (its result is null), "
    "so there is no collection to generate from"
)


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
        return self._api.server_scope()

    # ------------------------------------------------------------------- create

    def submit(self, request: Request) -> httpx.Request:
        """`POST /chat?...` for a collection, or `POST /chunking` (multipart) for a PDF.

        Everything checkable is checked first, and every problem reported at once.
        """
        request = self._api.only(request, AssessmentRequest, "assessments")
        problems: list[str] = []
        if not request.topic.strip():
            problems.append("topic must not be blank (it is EduMate's query)")
        blooms = blooms_or_problem(request.bloom_mix, problems)
        params, refused = query_params(request.extra, vendor="EduMate")
        problems.extend(refused)
        problems.extend(_origin_problems(request))
        self._api.refuse(problems)
        if request.collection is not None:
            return self._chat(request.topic, request.collection, blooms, params)
        source = request.source
        if not isinstance(source, bytes):  # pragma: no cover - `_origin_problems` refused it
            raise self._api.invalid("source must be bytes")
        plan = Plan(query=request.topic, blooms=blooms, params=params)
        name = (request.source_name or "").strip() or _DEFAULT_SOURCE_NAME
        files = {"file": (name, source, "application/pdf")}
        return self._api.upload("chunking", files=files, extensions={PLAN_KEY: plan})

    def read_submitted(self, response: httpx.Response) -> Snapshot:
        """The first snapshot, from `{"status": "queued", "job_id": ...}`.

        For an upload the job id is composed (see `next_stage`). An HTTP 200
        `{"status": "failed", "error": ...}` means nothing was queued: the job is FAILED
        at once, under an id that polls nothing.
        """
        return self._read_create(response, plan_of(response))

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
        if job_id.startswith(CHUNKING_PREFIX):
            plan = self._decode(job_id)
            return self._api.get("chunking", "status", params={"job_id": plan.job or ""})
        return self._api.get("job_status", params={"job_id": job_id})

    def read_snapshot(self, job_id: str, response: httpx.Response) -> Snapshot:
        """The job's state; `NotFound` for `{"status": null}` (unknown or expired)."""
        data, answer = self._api.read(response, CONVERTER, StatusAnswer)
        plan = self._decode(job_id) if job_id.startswith(CHUNKING_PREFIX) else None
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
            not snapshot.job_id.startswith(CHUNKING_PREFIX)
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
        message, vendor_code = error_message(response)
        if status == 404:  # noqa: PLR2004 - the HTTP status is the clearest name
            # EduMate answers a job it does not know with 200 `{"status": null}`; a 404 is
            # a route that is not there: the base URL (or a proxy in front) is wrong.
            sent = request_of(response)
            return NotFound(
                f"EduMate's {sent.url.path if sent else 'route'} "
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

    def _read_create(self, response: httpx.Response, plan: Plan | None) -> Snapshot:
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
                error=job_error(answer.error, f"EduMate refused the {kind} job"),
                raw=data,
            )
        if not answer.job_id:
            raise self._api.malformed(f"the answer to the {kind} create has no job_id", response)
        job_id = answer.job_id
        if plan is not None:
            job_id = encode_plan(
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
            assessment = read_assessment(answer.result, self._api, response)
            if assessment is None:
                status = JobStatus.FAILED
                error = nothing_generated(answer.result)
        elif status is JobStatus.FAILED:
            error = job_error(answer.error, "EduMate reports the job failed, without an error")
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
        plan: Plan,
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
                error = job_error(answer.error, "EduMate could not chunk the document")
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

    def _decode(self, job_id: str) -> Plan:
        try:
            return decode_plan(job_id)
        except ValueError as exc:
            raise self._api.invalid(
                f"the EduMate job id {job_id[:40]!r}... is damaged and cannot be read ({exc})"
            ) from exc


# ----------------------------------------------------------------------- translation


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
