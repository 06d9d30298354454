"""`coursegen batch FILE`: a whole catalogue from one file, submitted as one fleet.

A catalogue file is one request per line (a text file of subjects) or per row (CSV with
a header, or JSONL objects) whose columns are request fields. Every row is read and
checked against the provider before the first create, so a typo on row 170 costs
nothing. Each row gets a stable *batch key*: the batch id (from the file's path, or
`--batch-id`), the row's normalized content, and which copy of that content it is
(the n-th identical row). The key names the row's job in the ledger, so a rerun of the
same file finds what was already submitted and submits nothing twice. Position in the
file is deliberately not part of the key: inserting or appending a row keeps every other
row's key (and job).

The runner submits through one client (one rate budget per key: creates go out at the
vendor's pace), follows every job to its end, writes each outcome to `--out` as it
arrives, and shows the fleet: done / running / failed, requests, 429s, and the ETA the
vendor's limits allow.
"""

from __future__ import annotations

import csv
import enum
import hashlib
import io
import json
import logging
import math
import re
import statistics
from collections import Counter
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING, Any, Protocol, Self, TextIO

import anyio
import attrs

from ._adapter import Operation
from ._errors import (
    AuthenticationError,
    ConfigurationError,
    Conflict,
    CourseGenError,
    InvalidRequest,
    JobError,
    JobExpired,
    JobFailed,
    PermissionDenied,
    QuotaExceeded,
    StoreError,
    SubmitOutcomeUnknown,
    UnsupportedFeature,
)
from ._exit import BATCH_EXIT_CODES as EXIT_CODES
from ._exit import (
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_ROWS_FAILED,
    EXIT_STOPPED,
    EXIT_UNFINISHED,
)
from ._fleet import local
from ._job import Job
from ._json import to_json
from ._models import AssessmentRequest, BloomLevel, CourseRequest, JobStatus, Snapshot
from ._ratelimit import BudgetUse
from .store import JobRecord, Store, SubmitState

if TYPE_CHECKING:
    import argparse
    from collections.abc import Iterable
    from pathlib import Path

    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream

    from ._client import Client
    from ._models import Request

__all__ = [
    "EXIT_CODES",
    "BatchFileError",
    "BatchReport",
    "BatchRow",
    "FleetDisplay",
    "FleetFigures",
    "FleetSample",
    "Ledger",
    "RowOutcome",
    "batch_id_for",
    "read_batch",
    "run_batch",
]

logger = logging.getLogger("coursegen")


# -- reading a catalogue --------------------------------------------------------------------

_COURSE_FIELDS = frozenset(
    {"subject", "language", "format", "outline", "add_ons", "level", "lesson_count"}
    | {"title", "description"}
)
_ASSESSMENT_FIELDS = frozenset({"topic", "collection", "bloom_mix"})
_SHARED_FIELDS = frozenset({"callback_url", "extra"})
_ALIASES: Mapping[str, str] = {
    **{name: name for name in _COURSE_FIELDS | _ASSESSMENT_FIELDS | _SHARED_FIELDS},
    "addons": "add_ons",
    "chapters": "outline",
    "lessons": "lesson_count",
    "bloom": "bloom_mix",
}
# A list in one CSV cell: chapter titles and add-ons hold commas, but hardly ever a bar.
_LIST_SEPARATOR = "|"
_MAX_PROBLEMS = 20


class BatchFileError(ConfigurationError):
    """The catalogue file cannot be used as it is; `problems` lists (line, what) pairs.

    Raised before anything is submitted, with every bad row found (up to twenty), so
    that one edit fixes them all.
    """

    def __init__(self, path: str, problems: Sequence[tuple[int, str]]) -> None:
        self.path = path
        self.problems = tuple(problems)
        lines = "\n".join(f"  line {line}: {problem}" for line, problem in self.problems)
        count = len(self.problems)
        super().__init__(
            f"{path}: {count} bad row{'s' if count != 1 else ''}, nothing was submitted:\n{lines}"
        )


@attrs.frozen
class BatchRow:
    """One request of a catalogue: where it is, its stable key, its normalized fields."""

    line: int
    key: str
    fields: Mapping[str, Any]

    @property
    def label(self) -> str:
        return str(self.fields.get("subject") or self.fields.get("topic"))

    def request(self, kinds: Iterable[type]) -> Request:
        """The row as a request of a kind the provider makes.

        A bare subject (a text file's line) becomes an assessment's topic on a provider
        that makes only assessments.
        """
        fields = dict(self.fields)
        kinds = frozenset(kinds)
        bare = set(fields) <= {"subject"} | _SHARED_FIELDS
        if bare and CourseRequest not in kinds and AssessmentRequest in kinds:
            fields["topic"] = fields.pop("subject")
        if "topic" in fields:
            mix = {BloomLevel(level): count for level, count in fields.pop("bloom_mix", {}).items()}
            return AssessmentRequest(bloom_mix=mix, **fields)
        return CourseRequest(**fields)


def batch_id_for(path: Path) -> str:
    """The batch id of a file: its name, readable, and a digest of its absolute path."""
    stem = re.sub(r"[^a-z0-9]+", "-", path.stem.lower()).strip("-") or "batch"
    digest = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:8]
    return f"{stem[:24]}-{digest}"


def read_batch(path: Path, *, batch_id: str | None = None) -> tuple[str, list[BatchRow]]:
    """The batch id and rows of a catalogue file (`.csv`, `.jsonl`/`.ndjson`, else text)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read the file ({exc.strerror or exc})") from exc
    except UnicodeDecodeError as exc:
        raise BatchFileError(str(path), [(1, f"not UTF-8 text ({exc.reason})")]) from exc
    suffix = path.suffix.lower()
    if suffix == ".csv":
        records = _csv_records(text)
    elif suffix in {".jsonl", ".ndjson"}:
        records = _jsonl_records(text)
    else:
        records = _text_records(text)
    problems: list[tuple[int, str]] = []
    normalized: list[tuple[int, dict[str, Any]]] = []
    for line, record in records:
        if isinstance(record, str):
            problems.append((line, record))
            continue
        try:
            normalized.append((line, _normalize(record)))
        except _RowProblem as exc:
            problems.append((line, str(exc)))
    if not normalized and not problems:
        problems.append((1, "the file holds no request"))
    if problems:
        raise BatchFileError(str(path), problems[:_MAX_PROBLEMS])
    batch = batch_id or batch_id_for(path)
    return batch, _keyed(batch, normalized)


def _keyed(batch: str, normalized: Sequence[tuple[int, dict[str, Any]]]) -> list[BatchRow]:
    copies: Counter[str] = Counter()
    rows = []
    for line, fields in normalized:
        canonical = json.dumps(fields, sort_keys=True, separators=(",", ":"))
        digest = hashlib.sha256(f"{batch}\n{canonical}".encode()).hexdigest()[:20]
        copies[digest] += 1
        rows.append(BatchRow(line=line, key=f"{batch}.{digest}.{copies[digest]}", fields=fields))
    return rows


_Record = tuple[int, "Mapping[str, Any] | str"]  # a row's fields, or why it cannot be read


def _text_records(text: str) -> list[_Record]:
    records: list[_Record] = []
    for number, line in enumerate(text.splitlines(), 1):
        subject = line.strip()
        if subject and not subject.startswith("#"):
            records.append((number, {"subject": subject}))
    return records


def _jsonl_records(text: str) -> list[_Record]:
    records: list[_Record] = []
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            records.append((number, f"not JSON ({exc.msg} at column {exc.colno})"))
            continue
        if not isinstance(value, dict):
            records.append((number, f"a JSON object is needed, not {type(value).__name__}"))
            continue
        records.append((number, value))
    return records


def _csv_records(text: str) -> list[_Record]:
    reader = csv.DictReader(text.splitlines(), restkey="\0extra", strict=True)
    records: list[_Record] = []
    try:
        header = reader.fieldnames or []
        unknown = [name for name in header if _column(name) not in _ALIASES]
        if unknown:
            known = ", ".join(sorted(_ALIASES))
            return [(1, f"unknown column(s) {', '.join(map(repr, unknown))} (known: {known})")]
        for record in reader:
            line = reader.line_num
            if "\0extra" in record:
                records.append((line, f"more cells than the header's {len(header)} columns"))
                continue
            cells = {name: value for name, value in record.items() if value not in (None, "")}
            if cells:
                records.append((line, cells))
    except csv.Error as exc:
        records.append((reader.line_num, f"not CSV ({exc})"))
    return records


def _column(name: str) -> str:
    return re.sub(r"[\s-]+", "_", name.strip().lower())


class _RowProblem(ValueError):
    pass


def _normalize(record: Mapping[str, Any]) -> dict[str, Any]:
    """The row's request fields, canonical: the same request always reads the same."""
    fields: dict[str, Any] = {}
    for column, value in record.items():
        name = _ALIASES.get(_column(column))
        if name is None:
            raise _RowProblem(f"unknown field {column!r} (known: {', '.join(sorted(_ALIASES))})")
        if value is None or value in ("", []):
            continue
        read: Callable[[str, Any], Any] = _READERS.get(name, _text)
        fields[name] = read(name, value)
    if "subject" in fields and "topic" in fields:
        raise _RowProblem("a row is a course (subject) or an assessment (topic), not both")
    if "topic" not in fields and _ASSESSMENT_FIELDS & fields.keys():
        raise _RowProblem("collection and bloom are for assessments: the row needs a topic")
    if "topic" in fields and (course := sorted(_COURSE_FIELDS & fields.keys())):
        raise _RowProblem(f"an assessment takes no {', '.join(course)} (course fields)")
    if "subject" not in fields and "topic" not in fields:
        raise _RowProblem("no subject (or topic, for an assessment)")
    return fields


def _text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise _RowProblem(f"{name} must be text, not {type(value).__name__}")
    text = value.strip()
    if not text:
        raise _RowProblem(f"{name} is blank")
    return text


def _text_list(name: str, value: Any) -> list[str]:
    items = value.split(_LIST_SEPARATOR) if isinstance(value, str) else value
    if not isinstance(items, list) or not all(isinstance(item, str) for item in items):
        raise _RowProblem(f"{name} must be a list of text (in CSV: separated by '|')")
    return [item.strip() for item in items if item.strip()]


def _sorted_list(name: str, value: Any) -> list[str]:
    return sorted(set(_text_list(name, value)))


def _count(name: str, value: Any) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise _RowProblem(f"{name} must be a whole number, not {value!r}") from None
    if isinstance(value, bool | float) or number < 1:
        raise _RowProblem(f"{name} must be a whole number of at least 1, not {value!r}")
    return number


def _bloom(name: str, value: Any) -> dict[str, int]:
    if isinstance(value, str):
        pairs = [part.partition("=") for part in value.split(_LIST_SEPARATOR) if part.strip()]
        if any(not sep for _, sep, _ in pairs):
            raise _RowProblem(f"{name} takes LEVEL=N pairs separated by '|', not {value!r}")
        value = {level: count for level, _, count in pairs}
    if not isinstance(value, dict):
        raise _RowProblem(f"{name} must map Bloom levels to numbers of questions")
    mix: dict[str, int] = {}
    for level, count in value.items():
        try:
            mix[BloomLevel(str(level).strip().lower()).value] = _count(name, count)
        except ValueError:
            levels = ", ".join(level.value for level in BloomLevel)
            raise _RowProblem(f"{name}: {level!r} is not a Bloom level ({levels})") from None
    return dict(sorted(mix.items()))


def _extra(name: str, value: Any) -> dict[str, Any]:
    if isinstance(value, str):
        try:
            value = json.loads(value)
        except json.JSONDecodeError:
            raise _RowProblem(f"{name} must be a JSON object") from None
    if not isinstance(value, dict):
        raise _RowProblem(f"{name} must be a JSON object")
    return value


_READERS: Mapping[str, Callable[[str, Any], Any]] = {
    "outline": _text_list,
    "add_ons": _sorted_list,
    "lesson_count": _count,
    "bloom_mix": _bloom,
    "extra": _extra,
}


# -- the ledger: where a row's job is found again --------------------------------------------


@attrs.frozen
class Found:
    """What the ledger knows of a row's job from an earlier run.

    Exactly one is set: `job` (followed now), `ended` (its terminal snapshot, read from
    the store: no vendor call), `pending` (a create the store's recovery is sending:
    await it for what it became; None means nothing was created), or `error` (why the
    job cannot be followed, e.g. a create whose outcome is unknown).
    """

    job: Job | None = None
    ended: Snapshot | None = None
    token: str | None = None
    pending: Callable[[], Awaitable[Found | None]] | None = None
    error: CourseGenError | None = None


class Ledger(Protocol):
    """Where the batch finds a row's job again: the seam between the runner and a store."""

    async def find(self, key: str) -> Found | None:
        """What an earlier run made of the row `key`; None: nothing, submit it."""
        ...

    async def submit(self, key: str, request: Request) -> Job:
        """Submit `request` as the row `key`'s job; recorded before the create is sent."""
        ...


class MemoryLedger:
    """A ledger of this process only: no rerun finds anything (there is no store)."""

    def __init__(self, client: Client) -> None:
        self._client = client
        self._jobs: dict[str, Job] = {}

    async def find(self, key: str) -> Found | None:
        job = self._jobs.get(key)
        return Found(job=job) if job is not None else None

    async def submit(self, key: str, request: Request) -> Job:
        job = self._jobs[key] = local(await self._client.submit(request, key=key))
        return job


def attempt_key(key: str, attempt: int) -> str:
    """The store id of a row's `attempt`-th create: the key, then `key~2`, `key~3`..."""
    return key if attempt <= 1 else f"{key}~{attempt}"


class StoreLedger:
    """The client's job store as the ledger: a row's job is the record named by its key.

    A create the vendor refused made nothing, so a rerun sends it again, as the row's
    next attempt (`key~2`); so does an operator's retry of a failed job. The latest
    attempt is the row's job.
    """

    def __init__(self, client: Client, store: Store) -> None:
        self._client = client
        self._store = store
        self._attempts: dict[str, int] = {}

    async def find(self, key: str) -> Found | None:
        latest: JobRecord | None = None
        attempt = 0
        while (record := await self._store.get(attempt_key(key, attempt + 1))) is not None:
            latest, attempt = record, attempt + 1
        self._attempts[key] = attempt
        return await self._found(latest) if latest is not None else None

    async def _found(self, record: JobRecord) -> Found | None:  # noqa: PLR0911 - one return per submit state reads best flat
        state = record.state
        if state is SubmitState.REFUSED:
            return None  # the vendor made nothing: send it again
        if state is SubmitState.UNKNOWN:
            return Found(
                error=SubmitOutcomeUnknown(
                    record.last_error or "the create was sent and its answer lost",
                    provider=record.provider,
                    request=record.request,
                )
            )
        if state in (SubmitState.PENDING, SubmitState.SENDING):
            return Found(pending=partial(self._after_recovery, record.id))
        snapshot = record.snapshot
        if snapshot is not None and snapshot.status.is_terminal:
            return Found(ended=snapshot, token=record.token)
        if record.token is None:  # pragma: no cover - a submitted record has its id
            return Found(error=CourseGenError(f"the store's job {record.id} has no vendor id"))
        try:
            # Followed since the client opened (the store's recovery): no vendor call.
            return Found(job=await self._client.resume(record.token))
        except CourseGenError as exc:
            return Found(error=exc)

    async def _after_recovery(self, record_id: str) -> Found | None:
        await self._client.recovered()
        record = await self._store.get(record_id)
        if record is None or record.state in (SubmitState.PENDING, SubmitState.SENDING):
            return Found(error=CourseGenError(f"the store's create {record_id} was not sent"))
        return await self._found(record)

    async def submit(self, key: str, request: Request) -> Job:
        attempt = self._attempts.get(key, 0) + 1
        self._attempts[key] = attempt
        return local(await self._client.submit(request, key=attempt_key(key, attempt)))


def ledger_for(client: Client) -> Ledger:
    """The client's store as the ledger, or one of this process only."""
    store = client.store
    return StoreLedger(client, store) if store is not None else MemoryLedger(client)


def ended_error(snapshot: Snapshot, token: str | None) -> JobError:
    """The typed error of a job that ended without a result, as `Job.result()` raises it."""
    why = snapshot.error.message if snapshot.error else "no reason given"
    what = f"{snapshot.provider} job {snapshot.job_id}"
    if snapshot.status is JobStatus.EXPIRED:
        return JobExpired(f"{what} expired ({why})", snapshot=snapshot, token=token or "")
    return JobFailed(f"{what} {snapshot.status.value}: {why}", snapshot=snapshot, token=token or "")


# -- running a fleet --------------------------------------------------------------------------


class RowState(enum.Enum):
    QUEUED = "queued"  # no create sent yet
    RUNNING = "running"  # created, not ended
    SUCCEEDED = "succeeded"
    FAILED = "failed"  # the job failed or expired, or the vendor refused its create
    UNFINISHED = "unfinished"  # outcome unknown, or still running at the deadline
    NOT_SENT = "not sent"  # the batch stopped before this row's create

    @property
    def settled(self) -> bool:
        return self not in (RowState.QUEUED, RowState.RUNNING)


@attrs.define
class RowRun:
    row: BatchRow
    state: RowState = RowState.QUEUED
    job: Job | None = None
    error: CourseGenError | None = None
    submitted_at: float | None = None  # loop time, when this process sent the create
    resumed: bool = False  # found in the ledger: submitted by an earlier run
    ended: Snapshot | None = None  # the terminal snapshot an earlier run stored
    token: str | None = None  # with `ended`: the job's token

    @property
    def snapshot(self) -> Snapshot | None:
        return self.job.snapshot if self.job is not None else self.ended

    @property
    def job_token(self) -> str | None:
        return self.job.token if self.job is not None else self.token


@attrs.frozen
class FleetFigures:
    """What the display shows; also the `--json` progress line and the final summary."""

    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    unfinished: int
    resumed: int
    requests: int
    creates: int
    rate_limited: int
    eta: float | None  # real seconds, None when it cannot be told yet
    eta_is_floor: bool  # no job has ended yet: the ETA counts only the creates left

    @property
    def done(self) -> int:
        return self.succeeded + self.failed + self.unfinished


class Fleet:
    """Every row's state, and the figures the display and the summary read."""

    def __init__(self, client: Client, rows: Sequence[BatchRow]) -> None:
        self.client = client
        self.runs = [RowRun(row) for row in rows]
        self.stopped: CourseGenError | None = None
        self.durations: list[float] = []  # vendor seconds from create to end, this run
        self.changed = anyio.Event()

    def announce(self) -> None:
        self.changed.set()
        self.changed = anyio.Event()

    @property
    def settled(self) -> bool:
        return all(run.state.settled for run in self.runs)

    def figures(self) -> FleetFigures:
        states = Counter(run.state for run in self.runs)
        budgets = self.client.budgets()
        creates = sum(use.sent for use in budgets if use.name == Operation.SUBMIT.value)
        eta, floor = self._eta(states[RowState.QUEUED])
        return FleetFigures(
            total=len(self.runs),
            queued=states[RowState.QUEUED],
            running=states[RowState.RUNNING],
            succeeded=states[RowState.SUCCEEDED],
            failed=states[RowState.FAILED],
            unfinished=states[RowState.UNFINISHED] + states[RowState.NOT_SENT],
            resumed=sum(run.resumed for run in self.runs),
            requests=sum(use.sent for use in budgets),
            creates=creates,
            rate_limited=sum(use.rate_limited for use in budgets),
            eta=eta,
            eta_is_floor=floor,
        )

    def _eta(self, creates_left: int) -> tuple[float | None, bool]:
        """Real seconds until the last row ends, as the vendor's create limit allows.

        The creates left go out at the limit's pace (the budget as the vendor last
        corrected it, else `PollPolicy.rate_limits`); the last of them then takes a
        usual job's time (the median seen in this run). Before any job has ended, only
        the creates are counted, shown as a floor.
        """
        scale = self.client.settings.time_scale
        pace = self._create_pace()
        typical = statistics.median(self.durations) if self.durations else None
        now = anyio.current_time()
        sending = creates_left * pace if pace is not None else 0.0
        running = [run for run in self.runs if run.state is RowState.RUNNING]
        if not creates_left and not running:
            return 0.0, False
        if typical is None:
            return (sending / scale if pace is not None else None), True
        ends = [sending + typical] if creates_left else []
        for run in running:
            age = (now - run.submitted_at) * scale if run.submitted_at is not None else 0.0
            ends.append(max(typical - age, 0.0))
        return max(ends) / scale, False

    def _create_pace(self) -> float | None:
        """Vendor seconds per create the vendor allows, from the live budget if any."""
        for use in self.client.budgets():
            if use.name == Operation.SUBMIT.value:
                return use.window / use.limit
        limit = self.client.policy.rate_limits.get(Operation.SUBMIT)
        return limit.window / limit.limit if limit is not None else None

    def exit_status(self) -> int:
        states = {run.state for run in self.runs}
        if self.stopped is not None:
            return EXIT_STOPPED
        if states & {RowState.UNFINISHED, RowState.NOT_SENT, RowState.QUEUED, RowState.RUNNING}:
            return EXIT_UNFINISHED
        if RowState.FAILED in states:
            return EXIT_ROWS_FAILED
        return EXIT_OK


# Errors that stop every create of the batch, not just one row's: the key, the plan.
_STOPS_THE_BATCH = (AuthenticationError, PermissionDenied, QuotaExceeded)
# Errors that refuse one row's create and create nothing: that row failed.
_REFUSES_THE_ROW = (InvalidRequest, UnsupportedFeature, Conflict, ConfigurationError)


class Runner:
    """Submits a catalogue's rows, follows their jobs, records each outcome as it arrives."""

    def __init__(
        self,
        fleet: Fleet,
        ledger: Ledger,
        *,
        results: ResultsFile | None,
        display: FleetDisplay,
        samples: SampleWriter | None = None,
        timeout: float | None = None,
    ) -> None:
        self.fleet = fleet
        self.ledger = ledger
        self.results = results
        self.display = display
        self.samples = samples
        # Creates go out at the budget's pace whatever the number of senders. Where the
        # vendor cannot deduplicate them, one at a time: a crash then leaves at most one
        # create of unknown outcome; several senders only help an idempotent vendor.
        self.submitters = 4 if fleet.client.capabilities.idempotent_submit else 1
        self.timeout = timeout

    async def run(self) -> int:
        fleet = self.fleet
        async with anyio.create_task_group() as background:
            background.start_soon(self.display.run, fleet)
            if self.samples is not None:
                background.start_soon(self.samples.run, fleet)
            async with anyio.create_task_group() as followers:
                send, receive = anyio.create_memory_object_stream[RowRun](math.inf)
                with send:
                    for run in fleet.runs:
                        found = await self.ledger.find(run.row.key)
                        if found is None:
                            send.send_nowait(run)
                        else:
                            run.resumed = True
                            self._take_up(run, found, followers)
                async with anyio.create_task_group() as sending, receive:
                    for _ in range(self.submitters):
                        sending.start_soon(self._submit_each, receive.clone(), followers)
            background.cancel_scope.cancel()
        if self.samples is not None:
            await self.samples.write(fleet)
        self.display.final(fleet)
        return fleet.exit_status()

    def _take_up(self, run: RowRun, found: Found, followers: TaskGroup) -> None:
        """Carry on with what an earlier run made of this row."""
        if found.job is not None:
            run.job = found.job
            self._running(run)
            followers.start_soon(self._follow, run, found.job)
        elif found.pending is not None:
            self._running(run)
            followers.start_soon(self._after_pending, run, found.pending, followers)
        elif found.ended is not None:
            run.ended, run.token = found.ended, found.token
            if found.ended.status is JobStatus.SUCCEEDED:
                self._settle(run, RowState.SUCCEEDED)
            else:
                self._settle(run, RowState.FAILED, ended_error(found.ended, found.token))
        else:
            self._settle(run, RowState.UNFINISHED, found.error)

    async def _after_pending(
        self, run: RowRun, pending: Callable[[], Awaitable[Found | None]], followers: TaskGroup
    ) -> None:
        found = await pending()
        if found is None:
            await self._submit(run, followers)
        else:
            self._take_up(run, found, followers)

    async def _submit_each(
        self, rows: MemoryObjectReceiveStream[RowRun], followers: TaskGroup
    ) -> None:
        async with rows:
            async for run in rows:
                await self._submit(run, followers)

    async def _submit(self, run: RowRun, followers: TaskGroup) -> None:
        if self.fleet.stopped is not None:
            self._settle(run, RowState.NOT_SENT, self.fleet.stopped)
            return
        kinds = self.fleet.client.capabilities.request_kinds
        try:
            job = await self.ledger.submit(run.row.key, run.row.request(kinds))
        except _STOPS_THE_BATCH as exc:
            if self.fleet.stopped is None:
                self.fleet.stopped = exc
            self._settle(run, RowState.NOT_SENT, exc)
            return
        except _REFUSES_THE_ROW as exc:
            self._settle(run, RowState.FAILED, exc)
            return
        except CourseGenError as exc:
            # SubmitOutcomeUnknown, a vendor outage past the retries: a job may or may
            # not exist; the store knows what was sent, and a rerun goes on from there.
            self._settle(run, RowState.UNFINISHED, exc)
            return
        run.job = job
        run.submitted_at = anyio.current_time()
        self._running(run)
        followers.start_soon(self._follow, run, job)

    async def _follow(self, run: RowRun, job: Job) -> None:
        timeout: float | object | None
        timeout = self.timeout if self.timeout is not None else _PROVIDER_DEFAULT
        try:
            snapshot = await (job.wait() if timeout is _PROVIDER_DEFAULT else job.wait(timeout))
        except CourseGenError as exc:  # JobTimeout, or following failed for good
            self._settle(run, RowState.UNFINISHED, exc)
            return
        if snapshot.status is JobStatus.SUCCEEDED:
            if run.submitted_at is not None:
                elapsed = anyio.current_time() - run.submitted_at
                self.fleet.durations.append(elapsed * self.fleet.client.settings.time_scale)
            self._settle(run, RowState.SUCCEEDED)
            return
        try:
            await job.result(timeout=0)
        except JobError as exc:
            self._settle(run, RowState.FAILED, exc)

    def _running(self, run: RowRun) -> None:
        run.state = RowState.RUNNING
        self.fleet.announce()
        self.display.changed(self.fleet, run)

    def _settle(self, run: RowRun, state: RowState, error: CourseGenError | None = None) -> None:
        run.state = state
        run.error = error
        if self.results is not None:
            self.results.write(outcome_record(run))
        self.fleet.announce()
        self.display.changed(self.fleet, run)


_PROVIDER_DEFAULT = object()


def outcome_record(run: RowRun) -> dict[str, Any]:
    """A row's line in `--out`: where it came from, its job, and its result or error."""
    snapshot = run.snapshot
    record: dict[str, Any] = {
        "line": run.row.line,
        "key": run.row.key,
        "request": dict(run.row.fields),
        "status": run.state.value,
        "provider": snapshot.provider if snapshot is not None else None,
        "job_id": snapshot.job_id if snapshot is not None else None,
        "token": run.job_token,
        "result": _plain(snapshot.result) if snapshot and snapshot.result else None,
        "error": error_record(run.error),
    }
    if snapshot is not None and snapshot.cost is not None:
        record["cost"] = _plain(snapshot.cost)
    return record


def _plain(value: object) -> Any:
    """`value` in the public JSON form (`coursegen.to_json`), as plain data."""
    return json.loads(to_json(value))


def error_record(error: CourseGenError | None) -> dict[str, Any] | None:
    """A typed error as JSON: its class, its message and, for a job, the vendor's code."""
    if error is None:
        return None
    data: dict[str, Any] = {"type": type(error).__name__, "message": str(error)}
    if isinstance(error, JobError) and error.snapshot is not None and error.snapshot.error:
        data["code"] = error.snapshot.error.code
        data["message"] = error.snapshot.error.message
    if isinstance(error, SubmitOutcomeUnknown):
        data["message"] = "the create was sent and its answer lost; a job may exist"
    return data


@attrs.frozen
class FleetSample:
    """A batch's figures at one moment, written by the process running it.

    `eta` is in seconds (None: not known yet; `eta_is_floor`: only the creates left
    are counted). `budgets` is each rate budget of its client as it stood then.
    """

    at: datetime
    batch: str
    total: int
    queued: int
    running: int
    succeeded: int
    failed: int
    unfinished: int
    requests: int
    rate_limited: int
    eta: float | None
    eta_is_floor: bool = False
    budgets: Sequence[BudgetUse] = ()


# -- fleet samples: what the dashboard plots ----------------------------------------------


class SampleWriter:
    """Writes the fleet's figures to the store as they change, and at the end: the
    dashboard's ETA and its plots of each budget's use and 429s over time.

    One write at a time, each taking in every change since the last: a fast fleet
    writes fewer samples, never a queue of them. Driven by the fleet's changes, not a
    timer, so it never keeps a finished fleet (or a virtual clock) ticking.
    """

    def __init__(self, store: Store, batch: str) -> None:
        self.store = store
        self.batch = batch

    async def run(self, fleet: Fleet) -> None:
        while True:
            changed = fleet.changed
            await self.write(fleet)
            await changed.wait()

    async def write(self, fleet: Fleet) -> None:
        figures = fleet.figures()
        now = datetime.now(UTC)
        shared = attrs.asdict(figures)
        del shared["creates"], shared["resumed"]  # this run's own, not the fleet's
        sample = FleetSample(
            at=now, batch=self.batch, budgets=tuple(fleet.client.budgets()), **shared
        )
        try:
            await self.store.add_sample(self.batch, now, to_json(sample))
        except StoreError as exc:
            logger.warning("coursegen batch: fleet sample not written: %s", exc)


# -- the output file --------------------------------------------------------------------------


class ResultsFile:
    """`--out results.jsonl`: one line per row as its outcome arrives, never two per key.

    Opened for appending: a rerun keeps what an interrupted run wrote, drops a last line
    cut short by a crash, and skips rows whose line is already there.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.keys: set[str] = set()
        kept: list[str] = []
        damaged = False
        if path.exists():
            for line in path.read_text(encoding="utf-8").splitlines(keepends=True):
                try:
                    record = json.loads(line)
                    key = record["key"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    damaged = True
                    continue
                if not line.endswith("\n"):
                    line += "\n"  # noqa: PLW2901 - the last line, completed
                    damaged = True
                if key not in self.keys:
                    self.keys.add(key)
                    kept.append(line)
        if damaged:
            path.write_text("".join(kept), encoding="utf-8")
        self._stream: TextIO | None = None

    def __enter__(self) -> Self:
        self._stream = self.path.open("a", encoding="utf-8")
        return self

    def __exit__(self, *exc: object) -> None:
        if self._stream is not None:
            self._stream.close()
            self._stream = None

    def write(self, record: Mapping[str, Any]) -> None:
        key = record["key"]
        if key in self.keys or self._stream is None:
            return
        # Only ended rows are final; an unfinished one is written by the rerun that ends it.
        if record["status"] in (RowState.UNFINISHED.value, RowState.NOT_SENT.value):
            return
        self.keys.add(key)
        self._stream.write(json.dumps(record, sort_keys=True) + "\n")
        self._stream.flush()


# -- the display ------------------------------------------------------------------------------


def duration_text(seconds: float | None) -> str:
    """A duration as people read it: `45s`, `3m05s`, `2h10m` (`--` when unknown)."""
    if seconds is None:
        return "--"
    seconds = max(math.ceil(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"


def _eta_text(figures: FleetFigures) -> str:
    if figures.eta is None:
        return "ETA --"
    return ("ETA >= " if figures.eta_is_floor else "ETA ") + duration_text(figures.eta)


class FleetDisplay:
    """The fleet as a person or a script sees it.

    On a terminal: a few lines redrawn in place (ANSI) twice a second. Elsewhere: one
    line per change of a row. With `--json`: one JSON object per change on stdout.
    """

    redraw_every = 0.5  # real seconds, on a terminal

    def __init__(
        self, out: TextIO, err: TextIO, *, name: str, as_json: bool = False, quiet: bool = False
    ) -> None:
        self.out = out
        self.err = err
        self.name = name
        self.as_json = as_json
        self.quiet = quiet
        self.live = not (as_json or quiet) and err.isatty()
        self._drawn = 0
        self._last: str | None = None

    async def run(self, fleet: Fleet) -> None:
        """Redraw the live display until cancelled (only on a terminal)."""
        if not self.live:
            await anyio.sleep_forever()
        while True:
            self._draw(fleet)
            with anyio.move_on_after(self.redraw_every):
                await anyio.sleep_forever()

    def changed(self, fleet: Fleet, run: RowRun) -> None:
        if self.quiet:
            return
        figures = fleet.figures()
        if self.as_json:
            event: dict[str, Any] = {
                "event": "row",
                "line": run.row.line,
                "key": run.row.key,
                "status": run.state.value,
                "job_id": run.snapshot.job_id if run.snapshot is not None else None,
                "error": error_record(run.error),
                "fleet": attrs.asdict(figures),
            }
            self.out.write(json.dumps(event) + "\n")
            self.out.flush()
        elif self.live:
            self._draw(fleet, figures)
        else:
            line = self._line(figures)
            if line != self._last:
                self._last = line
                self.err.write(line + "\n")
                self.err.flush()

    @staticmethod
    def _line(figures: FleetFigures) -> str:
        return (
            f"[{figures.done}/{figures.total}] done {figures.succeeded}, running "
            f"{figures.running}, failed {figures.failed}, unfinished {figures.unfinished}, "
            f"queued {figures.queued} | requests {figures.requests}, 429s "
            f"{figures.rate_limited} | {_eta_text(figures)}"
        )

    def _draw(self, fleet: Fleet, figures: FleetFigures | None = None) -> None:
        figures = figures or fleet.figures()
        width = 30
        filled = round(width * figures.done / figures.total) if figures.total else width
        lines = [
            (
                f"{self.name}: {figures.total} rows on {fleet.client.provider}  "
                f"[{'#' * filled}{'.' * (width - filled)}] {figures.done}/{figures.total}"
            ),
            (
                f"  done {figures.succeeded}   running {figures.running}   failed "
                f"{figures.failed}   unfinished {figures.unfinished}   queued {figures.queued}"
            ),
            (
                f"  requests {figures.requests} (creates {figures.creates})   429s "
                f"{figures.rate_limited}   {_eta_text(figures)}"
            ),
        ]
        up = f"\x1b[{self._drawn}F" if self._drawn else ""
        self.err.write(up + "".join(f"\x1b[2K{line}\n" for line in lines))
        self.err.flush()
        self._drawn = len(lines)

    def final(self, fleet: Fleet) -> None:
        figures = fleet.figures()
        if self.live:
            self._draw(fleet, figures)
        if self.as_json:
            summary = {"event": "summary", "exit_status": fleet.exit_status()}
            summary.update(attrs.asdict(figures))
            self.out.write(json.dumps(summary) + "\n")
            self.out.flush()
            return
        self.out.write(summary_text(fleet, figures))
        self.out.flush()


def summary_text(fleet: Fleet, figures: FleetFigures) -> str:
    lines = [
        (
            f"{figures.total} rows: {figures.succeeded} succeeded, {figures.failed} failed, "
            f"{figures.unfinished} unfinished ({figures.resumed} found from an earlier run)"
        ),
        (
            f"requests sent: {figures.requests} ({figures.creates} creates), "
            f"429s: {figures.rate_limited}"
        ),
    ]
    lines.extend(
        f"  line {run.row.line} {run.state.value}: {run.row.label}: "
        f"{(error_record(run.error) or {}).get('type', '')}: "
        f"{(error_record(run.error) or {}).get('message', '')}"
        for run in fleet.runs
        if run.state in (RowState.FAILED, RowState.UNFINISHED, RowState.NOT_SENT)
    )
    if fleet.stopped is not None:
        lines.append(f"stopped: {fleet.stopped}")
    lines.append(f"exit status {fleet.exit_status()}: {EXIT_CODES[fleet.exit_status()]}")
    return "\n".join(lines) + "\n"


# -- the command ------------------------------------------------------------------------------


@attrs.frozen
class RowOutcome:
    """How one row of a batch ended (or did not)."""

    line: int
    key: str
    status: str
    job_id: str | None
    error: Mapping[str, Any] | None


@attrs.frozen
class BatchReport:
    """What `run_batch` did: the final figures, each row's outcome, the exit status."""

    figures: FleetFigures
    rows: tuple[RowOutcome, ...]
    exit_status: int

    @property
    def meaning(self) -> str:
        return EXIT_CODES[self.exit_status]


async def run_batch(
    client: Client,
    rows: Sequence[BatchRow],
    *,
    name: str = "batch",
    batch_id: str | None = None,
    out: Path | None = None,
    ledger: Ledger | None = None,
    display: FleetDisplay | None = None,
    job_timeout: float | None = None,
) -> BatchReport:
    """Submit every row through `client`, follow every job, write outcomes to `out`.

    Every row is checked against the provider first (`BatchFileError` names each bad
    one, and nothing is sent). `ledger` finds the jobs of an earlier run (default: this
    client's store, if it has one); `job_timeout` bounds how long each job is followed
    (seconds; default: the provider's `PollPolicy.job_timeout`).
    """
    _check_rows(client, rows, name)
    if batch_id is None:
        batch_id = rows[0].key.split(".", 1)[0] if rows else name
    fleet = Fleet(client, rows)
    display = display or FleetDisplay(io.StringIO(), io.StringIO(), name=name, quiet=True)
    results = ResultsFile(out) if out is not None else None
    store = client.store
    runner = Runner(
        fleet,
        ledger or ledger_for(client),
        results=results,
        display=display,
        samples=SampleWriter(store, batch_id) if store is not None else None,
        timeout=job_timeout,
    )
    if results is None:
        status = await runner.run()
    else:
        with results:
            status = await runner.run()
    outcomes = tuple(
        RowOutcome(
            line=run.row.line,
            key=run.row.key,
            status=run.state.value,
            job_id=run.snapshot.job_id if run.snapshot is not None else None,
            error=error_record(run.error),
        )
        for run in fleet.runs
    )
    return BatchReport(figures=fleet.figures(), rows=outcomes, exit_status=status)


async def run_command(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    client_for: Callable[[argparse.Namespace, TextIO], Client],
) -> int:
    """`coursegen batch`: read the file, check every row, then run the fleet."""
    batch_id, rows = read_batch(args.file, batch_id=args.batch_id)
    async with client_for(args, err) as client:
        display = FleetDisplay(out, err, name=args.file.name, as_json=args.json, quiet=args.quiet)
        if not (args.json or args.quiet):
            where = f"store {client.store.url}" if client.store is not None else "no store"
            err.write(f"batch {batch_id}: {len(rows)} rows on {client.provider} ({where})\n")
            if client.store is None:
                err.write("No job store: a rerun cannot resume this batch (pass --store).\n")
        report = await run_batch(
            client,
            rows,
            name=str(args.file),
            batch_id=batch_id,
            out=args.out,
            display=display,
            job_timeout=args.timeout,
        )
        return report.exit_status


def _check_rows(client: Client, rows: Sequence[BatchRow], path: str) -> None:
    problems = []
    for row in rows:
        try:
            client.check(row.request(client.capabilities.request_kinds))
        except (ConfigurationError, UnsupportedFeature, InvalidRequest) as exc:
            problems.append((row.line, str(exc)))
    if problems:
        raise BatchFileError(path, problems[:_MAX_PROBLEMS])


def main(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    client_for: Callable[[argparse.Namespace, TextIO], Client],
) -> int:
    try:
        return anyio.run(run_command, args, out, err, client_for)
    except KeyboardInterrupt:
        err.write("\ncoursegen: interrupted; run the same command again to continue\n")
        return EXIT_INTERRUPTED
