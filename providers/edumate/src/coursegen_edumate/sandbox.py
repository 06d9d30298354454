"""EduMate, simulated: the server's side of the API, as the real server behaves.

This module is the vendor, not the client: it never imports the adapter, so a mistake
in the adapter meets an independent reading of the server here instead of being
mirrored. It follows what the server does (VENDORS.md, section 3) where that differs
from its docs (seed 003):

- `POST /chat?query=...&collection_name=...&blooms_requirements=...`: query parameters,
  no body, no authentication -> `{"status": "queued", "job_id": "<uuid4>"}`; a missing
  parameter -> FastAPI's 422 `{"detail": [{"type": "missing", "loc": [...], ...}]}`.
- `GET /job_status?job_id=` is HTTP 200 whatever the job's fate: `{"status": null}` for
  an unknown job and for one whose result expired (500 s after it finished; failed jobs
  are kept a year); `{"status": "finished", "result": {"mcqs": [...]}}`, with
  `result: null` when the collection gave nothing; `{"status": "failed", "error": "<a
  whole Python traceback>"}`; otherwise RQ's word (`queued`, `started`, and, scripted,
  `deferred`, `scheduled`, or any other).
- Questions in the server's shape: `{question_no, bloom_level, question,
  answer_options, correct_answer, explaination}` (sic). Some jobs (`letter_answer_rate`)
  write their options "A) ..." or "A. ..." and give the answer as a letter.
- `POST /chunking` (multipart `file`, a PDF) -> `{"status": "queued", "job_id",
  "collection_name": "edu_mate_<hex>"}`; `GET /chunking/status?job_id=` ends in
  `{"status": "chunked", "result": {stored, chunks, source, collection_name}}`, and
  from then on the collection can be generated from.
- Jobs run on RQ workers (`workers`, one by default, as one `rq worker` process): a job
  waits in `queued` for a free worker. A job running longer than 600 s fails with RQ's
  `JobTimeoutException` traceback.
- Redis down: every request answers a plain-text `500 Internal Server Error`
  (`redis_down = True`; `Faults.error_rate` injects the same answer at random).

- Seen on the real server: a file that is not a PDF (no `%PDF-` header) is queued like
  any upload and ends `chunked` with `chunks: 0`; a generation from the empty collection
  it made finishes with `result: null`. A generation from a collection that does not
  exist (yet, when a worker takes the job) fails with `ValueError: Collection <name> not
  found` at the end of its traceback.

Choices where nothing is known, each the more demanding one for a client:

- Each status endpoint knows the jobs of its own kind only; the other's are null.
- `cancel()` stops a job as RQ would: `canceled` while queued, `stopped` once started.
"""

from __future__ import annotations

import math
import random
import re
import uuid
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any, Final, Literal, TypeAlias

import attrs
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from coursegen.sandbox import DEFAULT_EPOCH, Sandbox, VendorDefault

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from datetime import datetime

    import httpx
    from starlette.requests import Request
    from starlette.routing import BaseRoute
    from starlette.types import ExceptionHandler

    from coursegen.sandbox import Faults, JobScript

__all__ = [
    "DEFAULT_BLOOMS",
    "DEMO_COLLECTION",
    "EduMateSandbox",
    "JobKind",
    "SimulatedJob",
    "make_sandbox",
]

DEMO_COLLECTION: Final = "edu_mate_demo"
"""A collection the sandbox holds from the start, so that generation works at once."""

DEFAULT_BLOOMS: Final = "5 remember, 3 understand, 4 apply, 3 analyze, 2 evaluate, 3 create"
"""The server's default `blooms_requirements`."""

JobKind: TypeAlias = Literal["generation", "chunking"]

_BASE_URL: Final = "http://localhost:8000"
_LEVELS: Final = ("remember", "understand", "apply", "analyze", "evaluate", "create")
_BLOOM_PART: Final = re.compile(r"(\d+)\s*([A-Za-z]+)")
_MAX_QUESTIONS: Final = 100
_OPTIONS_PER_QUESTION: Final = 4
_YEAR: Final = 365 * 24 * 3600.0
_PDF_MAGIC: Final = b"%PDF-"
_DEMO_CHUNKS: Final = 12
"""Chunks of each collection the server starts with (`collections`)."""
_BOUNDARY: Final = re.compile(r'boundary="?([^";]+)"?')
_DISPOSITION_PARAM: Final = re.compile(r'(\w+)="([^"]*)"')
_QUESTIONS: Final[Mapping[str, tuple[str, ...]]] = {
    "remember": ("What is {topic}?", "Which term belongs to {topic}?"),
    "understand": ("Which statement best explains {topic}?", "Why does {topic} matter?"),
    "apply": ("Where would you use {topic}?", "Which step applies {topic} correctly?"),
    "analyze": ("Which factor most affects {topic}?", "How do the parts of {topic} relate?"),
    "evaluate": ("Which claim about {topic} is best supported?", "Which use of {topic} is best?"),
    "create": ("Which plan builds on {topic}?", "Which design would extend {topic}?"),
}
_DEFAULT_FAILURES: Final[Mapping[JobKind, tuple[str, str]]] = {
    "generation": ("json.decoder.JSONDecodeError", "Expecting value: line 1 column 1 (char 0)"),
    "chunking": ("pypdf.errors.PdfReadError", "EOF marker not found"),
}
_TASKS: Final[Mapping[JobKind, str]] = {
    "generation": "generate_assessment",
    "chunking": "chunk_document",
}


@attrs.define
class SimulatedJob:
    """One RQ job and its whole planned timeline, in vendor seconds.

    Its fate is drawn (or scripted) at creation; what a poll reports is computed from
    the clock, so nothing runs in the background for a job to progress.
    """

    id: str
    kind: JobKind
    params: Mapping[str, str]
    """What the job was asked: the query parameters, or the upload's `filename`."""
    created_at: float
    started_at: float
    ends_at: float
    end_status: str
    """The word the job ends with: finished, chunked, failed, canceled or stopped."""
    kept_until: float
    """When Redis forgets the job (its status reads null from then on)."""
    result: Any = None
    error: str | None = None
    collection: str | None = None
    """The collection the job reads (generation) or makes (chunking)."""
    statuses: tuple[str, ...] = ()
    scripted: bool = False
    worker: int = 0
    """The RQ worker that runs (or ran) the job."""

    def status_at(self, t: float) -> str | None:
        """The raw status a poll at vendor time `t` reports (None: the job is gone)."""
        if t >= self.kept_until:
            return None
        if t >= self.ends_at:
            return self.end_status
        if self.statuses:
            span = self.ends_at - self.created_at
            index = math.floor((t - self.created_at) / span * len(self.statuses))
            return self.statuses[min(max(index, 0), len(self.statuses) - 1)]
        return "queued" if t < self.started_at else "started"

    def to_json(self, t: float) -> dict[str, Any]:
        status = self.status_at(t)
        if status in {"finished", "chunked"}:
            return {"status": status, "result": self.result}
        if status == "failed":
            return {"status": status, "error": self.error}
        return {"status": status}


class EduMateSandbox(Sandbox):
    """The EduMate server (FastAPI + RQ on Redis), simulated on vendor time.

    Options beyond the toolkit's (`speed`, `faults`, `seed`, `epoch`, `webhook_transport`):

    - `failure_rate`: share of unscripted jobs that fail (default 0: the demo succeeds).
    - `letter_answer_rate`: share of generation jobs whose options are lettered
      ("A) ..." or "A. ...") and whose answers are letters.
    - `generation_duration`, `chunking_duration`, `pickup_delay`: ranges of vendor
      seconds, drawn uniformly from the seeded RNG (`pickup_delay`: queued before a free
      worker takes the job).
    - `workers`: RQ workers running jobs side by side (default 1).
    - `job_timeout`, `result_ttl`, `failure_ttl`: RQ's 600 s timeout, and how long
      finished (500 s) and failed (a year) jobs are kept.
    - `collections`: collections that exist from the start (`DEMO_COLLECTION`).

    `JobScript` outcomes: `succeed`, `fail`, `cancel` (the job ends `canceled`) and
    `expire` (the job finishes and its result is gone at once). A scripted duration over
    `job_timeout` ends in RQ's timeout failure, whatever the outcome.

    For tests: `jobs` (both kinds; `generation_jobs`, `chunking_jobs`), `collections`
    (name -> vendor time it exists from), `polls` (vendor times of every status GET of
    each job id), `redis_down`, `cancel()`, plus the toolkit's `requests`.
    """

    name = "edumate"
    base_url = _BASE_URL
    demo_collection = DEMO_COLLECTION
    supported_outcomes = frozenset({"succeed", "fail", "cancel", "expire"})

    def __init__(
        self,
        *,
        speed: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
        failure_rate: float = 0.0,
        letter_answer_rate: float = 0.3,
        generation_duration: tuple[float, float] = (30.0, 120.0),
        chunking_duration: tuple[float, float] = (5.0, 30.0),
        pickup_delay: tuple[float, float] = (0.5, 3.0),
        workers: int = 1,
        job_timeout: float = 600.0,
        result_ttl: float = 500.0,
        failure_ttl: float = _YEAR,
        collections: Iterable[str] = (DEMO_COLLECTION,),
    ) -> None:
        super().__init__(
            speed=speed,
            faults=faults,
            seed=seed,
            epoch=epoch,
            webhook_transport=webhook_transport,
        )
        self.check_options(
            rates={"failure_rate": failure_rate, "letter_answer_rate": letter_answer_rate},
            spans={
                "generation_duration": generation_duration,
                "chunking_duration": chunking_duration,
                "pickup_delay": pickup_delay,
            },
        )
        if workers < 1:
            raise ValueError(f"workers must be at least 1, got {workers!r}")
        for label, seconds in {
            "job_timeout": job_timeout,
            "result_ttl": result_ttl,
            "failure_ttl": failure_ttl,
        }.items():
            if not seconds > 0:
                raise ValueError(f"{label} must be > 0 vendor seconds, got {seconds!r}")
        self.demo_key = ""  # EduMate takes no key
        self.failure_rate = failure_rate
        self.letter_answer_rate = letter_answer_rate
        self.generation_duration = generation_duration
        self.chunking_duration = chunking_duration
        self.pickup_delay = pickup_delay
        self.workers = workers
        self.job_timeout = job_timeout
        self.result_ttl = result_ttl
        self.failure_ttl = failure_ttl
        self.redis_down = False
        """True: every request answers a plain-text 500, as when the server lost Redis."""
        self.collections: dict[str, float] = dict.fromkeys(collections, 0.0)
        """Each collection and the vendor time it was ready at."""
        self.chunks: dict[str, int] = dict.fromkeys(collections, _DEMO_CHUNKS)
        """How many chunks each collection holds (0: made from a document with no text)."""
        self.jobs: dict[str, SimulatedJob] = {}
        self.polls: dict[str, list[float]] = {}
        self._free_at = [0.0] * workers

    # -- for tests ----------------------------------------------------------------------

    @property
    def generation_jobs(self) -> list[SimulatedJob]:
        """The `POST /chat` jobs, in creation order."""
        return [job for job in self.jobs.values() if job.kind == "generation"]

    @property
    def chunking_jobs(self) -> list[SimulatedJob]:
        """The `POST /chunking` jobs, in creation order."""
        return [job for job in self.jobs.values() if job.kind == "chunking"]

    def cancel(self, job_id: str) -> None:
        """Cancel a job now, as RQ does: `canceled` while queued, `stopped` once started.

        A job that already ended is left alone; an unknown id raises `KeyError`.
        """
        job = self.jobs[job_id]
        now = self.vendor_now()
        if now >= job.ends_at:
            return
        job.end_status = "canceled" if now < job.started_at else "stopped"
        if self._free_at[job.worker] == job.ends_at:
            self._free_at[job.worker] = now  # the worker is free for the next job
        job.ends_at = now
        job.statuses = ()
        job.result = None
        job.kept_until = now + self.failure_ttl
        if job.kind == "chunking" and job.collection is not None:
            self.collections.pop(job.collection, None)

    # -- the app --------------------------------------------------------------------------

    def routes(self) -> list[BaseRoute]:
        return [
            Route("/chat", self._guarded(self._chat), methods=["POST"]),
            Route("/job_status", self._guarded(self._job_status), methods=["GET"]),
            Route("/chunking", self._guarded(self._chunking), methods=["POST"]),
            Route("/chunking/status", self._guarded(self._chunking_status), methods=["GET"]),
        ]

    def exception_handlers(self) -> Mapping[Any, ExceptionHandler]:
        return {404: self._no_route, 405: self._no_route}

    async def _no_route(self, request: Request, exc: Exception) -> Response:  # noqa: ARG002 - Starlette's handler signature
        status = getattr(exc, "status_code", 404)
        if status == 405:  # noqa: PLR2004 - the HTTP status is the clearest name
            return JSONResponse({"detail": "Method Not Allowed"}, status_code=405)
        return JSONResponse({"detail": "Not Found"}, status_code=404)

    def internal_error(self, request: Request) -> Response:  # noqa: ARG002 - the toolkit's signature
        # What uvicorn sends when the app raised: Redis unreachable, most of the time.
        return _redis_down()

    def _guarded(
        self, handler: Callable[[Request], Awaitable[Response]]
    ) -> Callable[[Request], Awaitable[Response]]:
        async def guarded(request: Request) -> Response:
            if self.redis_down:
                return _redis_down()
            return await handler(request)

        return guarded

    async def _chat(self, request: Request) -> Response:
        params = request.query_params
        missing = [name for name in ("query", "collection_name") if name not in params]
        if missing:
            return _missing("query", missing)
        job = self._new_job(
            "generation",
            {
                "query": params["query"],
                "collection_name": params["collection_name"],
                "blooms_requirements": params.get("blooms_requirements", DEFAULT_BLOOMS),
            },
        )
        return JSONResponse({"status": "queued", "job_id": job.id})

    async def _chunking(self, request: Request) -> Response:
        upload = _uploaded_file(request.headers.get("content-type", ""), await request.body())
        if upload is None:
            return _missing("body", ["file"])
        filename, content = upload
        job = self._new_job("chunking", {"filename": filename or "upload.pdf"}, content)
        return JSONResponse(
            {"status": "queued", "job_id": job.id, "collection_name": job.collection}
        )

    async def _job_status(self, request: Request) -> Response:
        return self._status(request, "generation")

    async def _chunking_status(self, request: Request) -> Response:
        return self._status(request, "chunking")

    def _status(self, request: Request, kind: JobKind) -> Response:
        job_id = request.query_params.get("job_id")
        if job_id is None:
            return _missing("query", ["job_id"])
        now = self.vendor_now()
        self.polls.setdefault(job_id, []).append(now)
        job = self.jobs.get(job_id)
        if job is None or job.kind != kind:
            return JSONResponse({"status": None})
        return JSONResponse(job.to_json(now))

    # -- jobs ---------------------------------------------------------------------------

    def _new_job(
        self, kind: JobKind, params: Mapping[str, str], content: bytes = b""
    ) -> SimulatedJob:
        now = self.vendor_now()
        rng = self.random
        script = self.next_script()
        # Every draw is made for every job, scripted or not, so that scripting one job
        # leaves the ids and timings of all the others unchanged.
        job_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        collection_hex = f"{rng.getrandbits(48):012x}"
        drawn_pickup = rng.uniform(*self.pickup_delay)
        durations = self.generation_duration if kind == "generation" else self.chunking_duration
        drawn_duration = rng.uniform(*durations)
        drawn_failure = rng.random() < self.failure_rate
        lettered = rng.random() < self.letter_answer_rate
        delimiter = rng.choice((") ", ". "))
        # The questions draw from their own stream, however many there are.
        content_rng = random.Random(rng.getrandbits(64))  # noqa: S311 - simulated content

        if script is None or script.duration is None:
            pickup, work = drawn_pickup, drawn_duration
        else:
            # A scripted duration runs from creation to the end, when a worker is free.
            pickup = min(drawn_pickup, script.duration / 2)
            work = script.duration - pickup
        worker = min(range(self.workers), key=self._free_at.__getitem__)
        started_at = max(now + pickup, self._free_at[worker])
        outcome = script.outcome if script is not None else ("fail" if drawn_failure else "succeed")
        timed_out = work > self.job_timeout and outcome != "cancel"
        ends_at = started_at + (self.job_timeout if timed_out else work)
        self._free_at[worker] = ends_at

        job = SimulatedJob(
            id=job_id,
            kind=kind,
            params=dict(params),
            created_at=now,
            started_at=started_at,
            ends_at=ends_at,
            end_status="finished",
            kept_until=ends_at + self.result_ttl,
            statuses=script.statuses if script is not None else (),
            scripted=script is not None,
            worker=worker,
        )
        if kind == "chunking":
            job.collection = f"edu_mate_{collection_hex}"
        else:
            job.collection = params["collection_name"]
        if timed_out:
            job.end_status = "failed"
            job.error = _traceback(
                kind,
                "rq.timeouts.JobTimeoutException: Task exceeded maximum timeout value "
                f"({self.job_timeout:g} seconds)",
                timeout=True,
            )
            job.kept_until = ends_at + self.failure_ttl
        elif outcome == "fail":
            job.end_status = "failed"
            job.error = _traceback(kind, _failure_line(kind, script))
            job.kept_until = ends_at + self.failure_ttl
        elif outcome == "cancel":
            job.end_status = "canceled"
            job.kept_until = ends_at + self.failure_ttl
        else:
            if outcome == "expire":
                job.kept_until = ends_at  # gone the moment it finishes
            self._work(job, content, content_rng, lettered=lettered, delimiter=delimiter)
        self.jobs[job_id] = job
        return job

    def _work(
        self,
        job: SimulatedJob,
        content: bytes,
        rng: random.Random,
        *,
        lettered: bool,
        delimiter: str,
    ) -> None:
        """What a job meant to succeed does: chunk, generate, or find no collection."""
        if job.kind == "chunking":
            job.end_status = "chunked"
            job.result = self._chunked(job, job.params["filename"], content)
        elif not self._exists(job):
            job.end_status = "failed"
            job.error = _traceback(
                job.kind, f"ValueError: Collection {job.collection} not found", missing=True
            )
            job.kept_until = job.ends_at + self.failure_ttl
        else:
            job.result = self._generated(job, rng, lettered=lettered, delimiter=delimiter)

    def _chunked(self, job: SimulatedJob, filename: str, content: bytes) -> dict[str, Any]:
        assert job.collection is not None  # noqa: S101 - set by the caller for chunking
        # A PDF's text splits into chunks; anything else gives none, and the server
        # stores the empty collection all the same.
        chunks = math.ceil(len(content) / 1000) if content.startswith(_PDF_MAGIC) else 0
        self.collections[job.collection] = job.ends_at
        self.chunks[job.collection] = chunks
        return {
            "stored": True,
            "chunks": chunks,
            "source": filename,
            "collection_name": job.collection,
        }

    def _exists(self, job: SimulatedJob) -> bool:
        """The generation job's collection exists when a worker takes the job."""
        available = self.collections.get(job.collection or "")
        return available is not None and available <= job.started_at

    def _generated(
        self, job: SimulatedJob, rng: random.Random, *, lettered: bool, delimiter: str
    ) -> dict[str, Any] | None:
        """The questions of a generation job, or None when its collection gives nothing."""
        if not self.chunks.get(job.collection or ""):
            return None
        counts = _parse_blooms(job.params["blooms_requirements"])
        if not counts:
            return None
        topic = job.params["query"].strip() or "the topic"
        mcqs: list[dict[str, Any]] = []
        for level, count in counts:
            for _ in range(count):
                number = len(mcqs) + 1
                template = _QUESTIONS[level][number % 2]
                correct = rng.randrange(_OPTIONS_PER_QUESTION)
                texts = [
                    f"{topic}: the {level} answer to question {number}"
                    if index == correct
                    else f"{topic}: distractor {index + 1} of question {number}"
                    for index in range(_OPTIONS_PER_QUESTION)
                ]
                letter = chr(ord("A") + correct)
                options = (
                    [f"{chr(ord('A') + i)}{delimiter}{text}" for i, text in enumerate(texts)]
                    if lettered
                    else texts
                )
                mcqs.append(
                    {
                        "question_no": number,
                        "bloom_level": level,
                        "question": template.format(topic=topic),
                        "answer_options": options,
                        "correct_answer": letter if lettered else texts[correct],
                        "explaination": f"{texts[correct]} is what the source says.",
                    }
                )
        return {"mcqs": mcqs}


def make_sandbox(**options: Any) -> EduMateSandbox:
    """Build the EduMate simulator; `options` are `EduMateSandbox`'s."""
    return EduMateSandbox(**options)


# -- helpers ------------------------------------------------------------------------------


def _redis_down() -> Response:
    return PlainTextResponse("Internal Server Error", status_code=500)


def _missing(where: str, names: Iterable[str]) -> Response:
    """FastAPI's (pydantic 2's) 422 for required parameters that are absent."""
    detail = [
        {"type": "missing", "loc": [where, name], "msg": "Field required", "input": None}
        for name in names
    ]
    return JSONResponse({"detail": detail}, status_code=422)


def _uploaded_file(content_type: str, body: bytes) -> tuple[str | None, bytes] | None:
    """The `file` part of a multipart/form-data body: (its file name, its bytes)."""
    if not content_type.lower().startswith("multipart/form-data"):
        return None
    match = _BOUNDARY.search(content_type)
    if match is None:
        return None
    delimiter = b"--" + match.group(1).encode("latin-1")
    for part in body.split(delimiter)[1:]:
        if part.startswith(b"--"):
            break  # the closing delimiter
        head, separator, content = part.removeprefix(b"\r\n").partition(b"\r\n\r\n")
        if not separator:
            continue
        headers = head.decode("latin-1").split("\r\n")
        disposition = next(
            (h.split(":", 1)[1] for h in headers if h.lower().startswith("content-disposition:")),
            "",
        )
        fields = dict(_DISPOSITION_PARAM.findall(disposition))
        if fields.get("name") == "file":
            return fields.get("filename"), content.removesuffix(b"\r\n")
    return None


def _parse_blooms(text: str) -> list[tuple[str, int]]:
    """("remember", 5), ... from "5 remember, 3 understand"; unknown words are skipped."""
    counts: dict[str, int] = {}
    for number, word in _BLOOM_PART.findall(text):
        level = word.lower()
        if level in _LEVELS:
            counts[level] = counts.get(level, 0) + int(number)
    ordered = [(level, counts[level]) for level in _LEVELS if counts.get(level)]
    total = 0
    capped = []
    for level, count in ordered:
        take = min(count, _MAX_QUESTIONS - total)
        if take > 0:
            capped.append((level, take))
            total += take
    return capped


def _failure_line(kind: JobKind, script: JobScript | None) -> str:
    """The last line of a failure's traceback: "Exception: message", or the message."""
    default_code, message = _DEFAULT_FAILURES[kind]
    code: str | None = default_code
    if script is not None:
        if not isinstance(script.error_code, VendorDefault):
            code = script.error_code  # None: a bare message, no exception name
        if not isinstance(script.error_message, VendorDefault):
            message = script.error_message
    return f"{code}: {message}" if code else message


def _traceback(
    kind: JobKind, last_line: str, *, timeout: bool = False, missing: bool = False
) -> str:
    """A whole Python traceback of a failed RQ job, as the server stores it."""
    site = "/usr/local/lib/python3.11/site-packages/rq"
    call = "response = chain.invoke(inputs)" if kind == "generation" else "loader.load()"
    frames = [
        "Traceback (most recent call last):",
        f'  File "{site}/worker.py", line 1431, in perform_job',
        "    rv = job.perform()",
        f'  File "{site}/job.py", line 1280, in perform',
        "    self._result = self._execute()",
        f'  File "{site}/job.py", line 1317, in _execute',
        "    result = self.func(*self.args, **self.kwargs)",
        f'  File "/app/worker/tasks.py", line 57, in {_TASKS[kind]}',
        f"    {call}",
    ]
    if missing:
        frames += [
            '  File "/app/worker/vectorstore.py", line 22, in get_collection',
            "    raise ValueError(f'Collection {name} not found')",
        ]
    if timeout:
        frames += [
            f'  File "{site}/timeouts.py", line 63, in handle_death_penalty',
            "    raise self._exception(f'Task exceeded maximum timeout value ({timeout})')",
        ]
    return "\n".join([*frames, last_line]) + "\n"
