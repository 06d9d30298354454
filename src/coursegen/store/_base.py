"""What both drivers share: the records, the store's operations, migrations on open.

A driver supplies three things, all synchronous and run in a worker thread through
`anyio.to_thread` (no asyncio-only driver: trio keeps working): `_open_sync`,
`_close_sync` and `_transaction`, a context manager yielding a DB-API cursor that takes
`?` placeholders. Everything else, every statement included, lives here and in
`_schema.py`, so the two databases cannot drift apart.
"""

from __future__ import annotations

import copy
import enum
import threading
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, Self, TypeVar

import anyio.to_thread
import attrs

from coursegen._errors import StoreError
from coursegen._job import SANDBOX_ENDPOINT, JobToken
from coursegen._json import from_json, to_json
from coursegen._models import Course, JobStatus, Request, Snapshot

from ._schema import LATEST, MIGRATIONS, SQL, PostgresOnly

if TYPE_CHECKING:
    from collections.abc import Callable, Sequence
    from contextlib import AbstractContextManager
    from types import TracebackType

__all__ = [
    "Cursor",
    "HistoryEntry",
    "JobRecord",
    "OwnershipLost",
    "SQLStore",
    "SnapshotUpdate",
    "SubmitState",
]

T = TypeVar("T")


class OwnershipLost(StoreError):
    """This process no longer owns the rate scope it writes for: a successor took it over
    (its epoch is newer). Nothing was written; the owner must stop."""


class SubmitState(enum.Enum):
    """How far a job's create got. Only `SUBMITTED` jobs have a vendor id."""

    PENDING = "pending"  # recorded, not sent yet (waiting for its rate budget)
    SENDING = "sending"  # being sent: the vendor may or may not hold a job for it
    SUBMITTED = "submitted"  # the vendor answered with the job's id
    UNKNOWN = "unknown"  # sent, answer lost, not safe to resend: see `Client.reconcile`
    REFUSED = "refused"  # the vendor said no (or it never left): no job exists


@attrs.frozen
class JobRecord:
    """A job as the store knows it, readable from any process with no vendor call.

    `id` is the store's own id for the job (it stays when a staged job's vendor id
    changes); `job_id` is the vendor's, once known. `snapshot` is the last state seen
    (with the result, once read); `following` says a client still follows the job, and
    `last_error` why its last poll failed, if it did.
    """

    id: str
    provider: str
    endpoint: str
    scope: str
    state: SubmitState
    request: Request | None
    idempotency_key: str | None
    job_id: str | None
    snapshot: Snapshot | None
    last_error: str | None
    following: bool
    created_at: datetime
    updated_at: datetime

    @property
    def status(self) -> JobStatus | None:
        """The job's status in its last snapshot; None before the vendor answered."""
        return self.snapshot.status if self.snapshot is not None else None

    @property
    def result(self) -> Any:
        """The job's `Course` or `Assessment`, when it was read; else None."""
        return self.snapshot.result if self.snapshot is not None else None

    @property
    def title(self) -> str | None:
        """A title to show: the result's, else the request's subject or topic."""
        return _title(self.request, self.snapshot)

    @property
    def token(self) -> str | None:
        """The token `Client.resume` takes, once the vendor's id is known."""
        if self.job_id is None:
            return None
        host = self.endpoint.removeprefix(SANDBOX_ENDPOINT)
        sandbox = host != self.endpoint  # made on an in-process sandbox
        return JobToken(self.provider, self.job_id, host, sandbox=sandbox).encode()


@attrs.frozen
class SnapshotUpdate:
    """A change the engine saw, to be written: the latest state of one record."""

    record_id: str
    snapshot: Snapshot
    last_error: str | None
    following: bool
    former_ids: tuple[str, ...] = ()
    """Vendor ids of the job's earlier stages (a staged job), kept so they still find it."""


class Cursor(Protocol):
    """The DB-API cursor methods the store uses, with `?` placeholders."""

    @property
    def rowcount(self) -> int: ...
    def execute(self, sql: str, params: Sequence[object] = ()) -> object: ...
    def fetchall(self) -> list[tuple[Any, ...]]: ...


def _now() -> str:
    return datetime.now(UTC).isoformat()


def _title(request: Request | None, snapshot: Snapshot | None) -> str | None:
    if snapshot is not None and isinstance(snapshot.result, Course):
        return snapshot.result.title
    if request is None:
        return None
    return getattr(request, "subject", None) or getattr(request, "topic", None)


class SQLStore:
    """The job store over one DB-API driver. Open it with `async with` (or `open()`)."""

    #: The driver's own exception base classes, turned into `StoreError`.
    driver_errors: tuple[type[BaseException], ...] = ()

    def __init__(self, display_url: str, *, password: str | None = None) -> None:
        self.url = display_url  # never with a password in it
        self._password = password
        self.statements = 0  # statements executed, for the per-job figure
        self._opened = False
        self._count_lock = threading.Lock()
        # Set by `fence`: the scope this store writes for as its owner, and the epoch
        # it took it with; every write transaction checks the epoch first.
        self._fence: tuple[str, int] | None = None
        self._borrowed = False  # a view made by `fenced`, on another store's connections
        self.fence_lost = False
        # Intents recorded at once (a web process's many submits) share one commit; the
        # views of this store (`shared`) share it too.
        self._intents = _GroupCommit()

    def __repr__(self) -> str:
        return f"<coursegen store {self.url}>"

    # -- driver hooks (synchronous, run in a worker thread) ------------------------------

    def _open_sync(self) -> None:
        raise NotImplementedError

    def _close_sync(self) -> None:
        raise NotImplementedError

    def _transaction(
        self, *, durable: bool, read_only: bool = False
    ) -> AbstractContextManager[Cursor]:
        raise NotImplementedError

    def _migration_lock(self, cursor: Cursor) -> None:
        """Keep two processes from migrating at once (SQLite's write lock does already)."""

    #: PostgreSQL: the fleet's shared rate budget (`rate_take`) and its notices.
    postgres = False

    #: Appended to the epoch check: a row lock where the database has one.
    _share_lock = ""

    def _intent_notice(self, scope_key: str) -> tuple[str, Sequence[object]] | None:  # noqa: ARG002 - drivers with a notice use it
        """A statement telling a fleet's workers of a new intent, in the same commit."""
        return None

    # -- life cycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect and bring the schema up to date (forward only)."""
        if self._opened or self._borrowed:
            return
        await self._call(self._open_sync)
        try:
            await self._call(self._migrate_sync)
        except BaseException:
            await self._call(self._close_sync)
            raise
        self._opened = True

    async def close(self) -> None:
        if self._opened and not self._borrowed:
            self._opened = False
            await self._call(self._close_sync)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.close()

    async def schema_version(self) -> int:
        rows = await self._read(SQL.CURRENT_VERSION, ())
        return int(rows[0][0] or 0)

    def _migrate_sync(self) -> None:
        with self._transaction(durable=True) as cursor:
            self._migration_lock(cursor)
            self._execute(cursor, SQL.CREATE_VERSIONS)
            self._execute(cursor, SQL.CURRENT_VERSION)
            current = int(cursor.fetchall()[0][0] or 0)
            if current > LATEST:
                raise StoreError(
                    f"the store at {self.url} has schema version {current}, written by a "
                    f"newer coursegen; this one knows versions up to {LATEST}: upgrade it"
                )
            for version, statements in MIGRATIONS:
                if version <= current:
                    continue
                for statement in statements:
                    if isinstance(statement, PostgresOnly):
                        if not self.postgres:
                            continue
                        statement = statement.sql  # noqa: PLW2901 - the same statement, unwrapped
                    self._execute(cursor, statement)
                self._execute(cursor, SQL.RECORD_VERSION, (version, _now()))

    # -- writing ------------------------------------------------------------------------

    async def add_intent(
        self,
        *,
        record_id: str,
        provider: str,
        endpoint: str,
        scope: str,
        request: Request,
        notify: str | None = None,
    ) -> None:
        """Record a create before it is sent (committed durably before this returns).

        `notify` (a fleet's scope key) also wakes the workers, in the same commit.
        """
        now = _now()
        row = (
            record_id,
            provider,
            endpoint,
            scope,
            SubmitState.PENDING.value,
            to_json(request),
            request.idempotency_key,
            None,
            None,
            _title(request, None),
            None,
            None,
            1,
            now,
            now,
        )
        statements: list[tuple[str, Sequence[object]]] = [(SQL.INSERT_JOB, row)]
        notice = self._intent_notice(notify) if notify is not None else None
        if notice is not None:
            statements.append(notice)
        if self._fence is not None:
            await self._write(statements, durable=True)
            return
        await self._intents.write(self, statements)

    # -- owning a rate scope (a worker fleet) -------------------------------------------

    async def take_ownership(self, scope_key: str, owner: str) -> int:
        """Become the owner of `scope_key`: the new epoch (the previous one plus one)."""

        def work() -> int:
            with self._transaction(durable=True) as cursor:
                self._execute(cursor, SQL.TAKE_OWNERSHIP, (scope_key, owner, _now()))
                return int(cursor.fetchall()[0][0])

        return await self._call(work)

    def fenced(self, scope_key: str, epoch: int) -> Self:
        """This open store, as the owner of `scope_key` at `epoch` sees it: it writes only
        while the scope's epoch is still `epoch`; a newer one (a successor's) fails the
        write with `OwnershipLost` and sets `fence_lost`. It shares this store's
        connections (opening and closing it does nothing: this store's owner does that)."""
        view = self.shared()
        view._fence = (scope_key, epoch)  # noqa: SLF001 - a copy of ourselves
        return view

    def shared(self) -> Self:
        """This open store for another client: the same connections, its own statement
        count; opening and closing it does nothing (this store's owner does that)."""
        view = copy.copy(self)
        view._borrowed = True  # noqa: SLF001 - a copy of ourselves
        view.statements = 0
        return view

    async def rate_take(
        self, scope: str, limit: int, window: float, in_flight: float
    ) -> tuple[int | None, float]:
        """Take a place in the fleet's shared budget of `scope` (PostgreSQL only): at most
        `limit` requests in any `window` seconds of the database's clock, counted until
        settled, an unsettled one for up to `in_flight` seconds.

        `(entry, taken_at)` when admitted (the database's time, epoch seconds), else
        `(None, seconds to wait)`: one statement either way.
        """
        if not self.postgres:
            raise StoreError("a shared rate budget needs a PostgreSQL store")
        rows = await self._read(SQL.RATE_TAKE, (scope, limit, window, in_flight), write=True)
        entry, taken_at, wait = rows[0]
        if entry is None:
            return None, float(wait)
        return int(entry), float(taken_at)

    async def rate_settle(self, scope: str, entry: int) -> float:
        """The request `entry` admitted was answered: it counts from now (the database's
        time, returned) and leaves the window with it."""
        rows = await self._read(SQL.RATE_SETTLE, (scope, entry), write=True)
        return float(rows[0][0])

    async def owners(self) -> list[tuple[str, str, int, datetime]]:
        """Each scope's owner in a fleet: (scope key, owner, epoch, taken at)."""
        rows = await self._read(SQL.OWNERS, ())
        return [(s, o, int(e), datetime.fromisoformat(t)) for s, o, e, t in rows]

    def _check_fence(self, cursor: Cursor) -> None:
        if self._fence is None:
            return
        scope_key, epoch = self._fence
        self._execute(cursor, SQL.EPOCH_OF + self._share_lock, (scope_key,))
        rows = cursor.fetchall()
        current = int(rows[0][0]) if rows else None
        if current != epoch:
            self.fence_lost = True
            raise OwnershipLost(
                f"scope {scope_key} was taken over (epoch {current}, ours {epoch}): "
                "its successor writes its records now"
            )

    async def mark_sending(
        self, record_id: str, *, from_state: SubmitState = SubmitState.PENDING
    ) -> bool:
        """The create is about to leave: from now its outcome may be unknown.

        False if the row is no longer in `from_state`: another client took it first.
        """
        params = (SubmitState.SENDING.value, _now(), record_id, from_state.value)
        return await self._write([(SQL.CLAIM, params)], durable=True) > 0

    async def mark_submitted(self, record_id: str, snapshot: Snapshot) -> None:
        """The vendor's id for the job, as soon as it is known (committed durably)."""
        params = (
            SubmitState.SUBMITTED.value,
            snapshot.job_id,
            snapshot.status.value,
            _title(None, snapshot),
            to_json(snapshot),
            int(not snapshot.status.is_terminal),
            _now(),
            record_id,
        )
        await self._write(
            [(SQL.SET_SUBMITTED, params), _history(record_id, snapshot, None)], durable=True
        )

    async def mark_outcome(self, record_id: str, state: SubmitState, error: str | None) -> None:
        """A create that ended without a vendor id: `UNKNOWN` or `REFUSED`, and why."""
        following = int(state is SubmitState.UNKNOWN)
        await self._write(
            [(SQL.SET_OUTCOME, (state.value, error, following, _now(), record_id))],
            durable=True,
        )

    async def save(self, updates: Sequence[SnapshotUpdate]) -> None:
        """Write the latest snapshots, in one transaction.

        Not fsynced one by one (the job's id already is): a snapshot lost to a power cut
        is read again from the vendor on recovery.
        """
        if not updates:
            return
        now = _now()
        statements: list[tuple[str, Sequence[object]]] = []
        for update in updates:
            snapshot = update.snapshot
            title = _title(None, snapshot)
            params = (
                snapshot.job_id,
                snapshot.status.value,
                title,
                to_json(snapshot),
                update.last_error,
                int(update.following),
                now,
                update.record_id,
            )
            statements.append((SQL.SET_SNAPSHOT, params))
            statements.append(_history(update.record_id, snapshot, update.last_error))
            statements.extend(
                (SQL.INSERT_FORMER_ID, (former, update.record_id)) for former in update.former_ids
            )
        await self._write(statements, durable=False)

    async def adopt(self, *, record_id: str, endpoint: str, scope: str, snapshot: Snapshot) -> str:
        """The record of a job this store did not see created (resumed by token); its id."""
        existing = await self.find(snapshot.provider, endpoint, snapshot.job_id)
        if existing is not None:
            return existing.id
        now = _now()
        row = (
            record_id,
            snapshot.provider,
            endpoint,
            scope,
            SubmitState.SUBMITTED.value,
            None,
            None,
            snapshot.job_id,
            snapshot.status.value,
            _title(None, snapshot),
            to_json(snapshot),
            None,
            int(not snapshot.status.is_terminal),
            now,
            now,
        )
        await self._write([(SQL.INSERT_JOB, row)], durable=True)
        return record_id

    async def record_event(self, provider: str, event_key: str) -> bool:
        """Remember a webhook delivery; False if it was recorded before (a duplicate)."""
        inserted = await self._write(
            [(SQL.INSERT_EVENT, (provider, event_key, _now()))], durable=True
        )
        return inserted > 0

    async def add_sample(self, batch: str, taken_at: datetime, sample: str) -> None:
        """Record a batch's fleet figures (JSON) at one moment (see `coursegen batch`)."""
        await self._write(
            [(SQL.INSERT_SAMPLE, (batch, taken_at.isoformat(), sample))], durable=False
        )

    # -- reading ------------------------------------------------------------------------

    async def history(self, record_id: str) -> list[HistoryEntry]:
        """Every change written for a job, oldest first: its timeline."""
        rows = await self._read(SQL.HISTORY_OF, (record_id,))
        return [from_json(entry, HistoryEntry) for _, entry in rows]

    async def samples(self) -> list[str]:
        """Every batch's fleet samples (JSON), oldest first."""
        return [sample for (sample,) in await self._read(SQL.SAMPLES, ())]

    async def get(self, record_id: str) -> JobRecord | None:
        rows = await self._read(SQL.BY_ID, (record_id,))
        return _record(rows[0]) if rows else None

    async def find(self, provider: str, endpoint: str, job_id: str) -> JobRecord | None:
        """The record of a vendor job, by the vendor's id (or an earlier stage's)."""
        rows = await self._read(
            SQL.BY_VENDOR_ID, (provider, endpoint, job_id, provider, endpoint, job_id, job_id)
        )
        return _record(rows[0]) if rows else None

    async def lookup(self, any_id: str) -> list[JobRecord]:
        """Records whose store id or vendor id is `any_id` (several vendors may share one)."""
        return [_record(row) for row in await self._read(SQL.BY_ANY_ID, (any_id, any_id))]

    async def jobs(
        self,
        *,
        provider: str | None = None,
        status: JobStatus | str | None = None,
        state: SubmitState | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Jobs in the store, newest first, filtered by provider, job status, submit state."""
        status_value = JobStatus(status).value if status is not None else None
        sql, params = SQL.select(
            provider=provider,
            status=status_value,
            state=state.value if state is not None else None,
            limit=limit,
        )
        return [_record(row) for row in await self._read(sql, params)]

    async def pending(self, provider: str, endpoint: str, scope: str) -> list[JobRecord]:
        """Creates recorded for this provider, endpoint and scope, not sent yet: oldest first."""
        rows = await self._read(SQL.PENDING, (provider, endpoint, scope))
        return [_record(row) for row in rows]

    async def get_many(self, record_ids: Sequence[str]) -> dict[str, JobRecord]:
        """The records of many store ids, read in one statement per 500 ids."""
        found: dict[str, JobRecord] = {}
        ids = list(dict.fromkeys(record_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start : start + 500]
            for row in await self._read(SQL.by_ids(len(chunk)), chunk):
                record = _record(row)
                found[record.id] = record
        return found

    async def unfinished(self, provider: str, endpoint: str, scope: str) -> list[JobRecord]:
        """What a client of this provider, endpoint and key scope must recover, oldest first."""
        rows = await self._read(SQL.UNFINISHED, (provider, endpoint, scope))
        return [_record(row) for row in rows]

    # -- plumbing -----------------------------------------------------------------------

    def _execute(self, cursor: Cursor, sql: str, params: Sequence[object] = ()) -> None:
        cursor.execute(sql, params)
        with self._count_lock:
            self.statements += 1

    async def _write(
        self, statements: Sequence[tuple[str, Sequence[object]]], *, durable: bool
    ) -> int:
        def work() -> int:
            count = 0
            with self._transaction(durable=durable) as cursor:
                self._check_fence(cursor)
                for sql, params in statements:
                    self._execute(cursor, sql, params)
                    count = cursor.rowcount
            return count

        return await self._call(work)

    async def _read(
        self, sql: str, params: Sequence[object], *, write: bool = False
    ) -> list[tuple[Any, ...]]:
        """One statement's rows (`write`: a statement that also writes, not fsynced)."""

        def work() -> list[tuple[Any, ...]]:
            with self._transaction(durable=False, read_only=not write) as cursor:
                self._execute(cursor, sql, params)
                return cursor.fetchall()

        return await self._call(work)

    async def _call(self, work: Callable[[], T]) -> T:
        try:
            return await anyio.to_thread.run_sync(work)
        except StoreError:
            raise
        except self.driver_errors as exc:
            raise StoreError(
                f"the store at {self.url} failed: {type(exc).__name__}: {self._scrub(exc)}"
            ) from None

    def _scrub(self, exc: BaseException) -> str:
        """The driver's first line of message, with the URL's password masked out."""
        text = str(exc).strip()
        line = text.splitlines()[0] if text else "no detail"
        if self._password:
            line = line.replace(self._password, "********")
        return line


class _Queued:
    """One write waiting for its group's commit, and how it ended."""

    __slots__ = ("done", "error", "statements")

    def __init__(self, statements: Sequence[tuple[str, Sequence[object]]]) -> None:
        self.statements = statements
        self.done = False
        self.error: BaseException | None = None


class _GroupCommit:
    """Durable writes that arrive while one is committing go together in the next
    transaction: one commit (one fsync) for many intents instead of one each. A batch
    the database refuses (one intent's key already taken) is written again one write
    at a time, so each caller gets its own outcome."""

    def __init__(self) -> None:
        self._queue: list[_Queued] = []
        self._lock: anyio.Lock | None = None

    async def write(
        self, store: SQLStore, statements: Sequence[tuple[str, Sequence[object]]]
    ) -> None:
        item = _Queued(statements)
        self._queue.append(item)
        if self._lock is None:
            self._lock = anyio.Lock()
        async with self._lock:
            if not item.done:
                batch, self._queue = self._queue, []
                await self._flush(store, batch)
        if item.error is not None:
            raise item.error

    @staticmethod
    async def _flush(store: SQLStore, batch: list[_Queued]) -> None:
        try:
            await store._write([s for queued in batch for s in queued.statements], durable=True)  # noqa: SLF001 - the store's own helper
        except StoreError as exc:
            if len(batch) == 1:
                batch[0].error = exc
            else:
                for queued in batch:
                    try:
                        await store._write(queued.statements, durable=True)  # noqa: SLF001
                    except StoreError as one:
                        queued.error = one
        except BaseException as exc:
            for queued in batch:  # cancelled, or worse: nobody's intent is known to be in
                queued.error = exc
            raise
        finally:
            for queued in batch:
                queued.done = True


@attrs.frozen
class HistoryEntry:
    """One change of a job as written: when it was seen, and its state then."""

    observed_at: datetime
    status: JobStatus
    vendor_status: str | None = None
    progress: float | None = None
    error: str | None = None


def _history(
    record_id: str, snapshot: Snapshot, last_error: str | None
) -> tuple[str, Sequence[object]]:
    """The statement recording one change of a job in its timeline."""
    observed = snapshot.observed_at or datetime.now(UTC)
    entry = HistoryEntry(
        observed_at=observed,
        status=snapshot.status,
        vendor_status=snapshot.vendor_status,
        progress=snapshot.progress,
        error=last_error or (snapshot.error.message if snapshot.error else None),
    )
    return SQL.INSERT_HISTORY, (record_id, observed.isoformat(), to_json(entry))


def _record(row: tuple[Any, ...]) -> JobRecord:
    (
        record_id,
        provider,
        endpoint,
        scope,
        state,
        request,
        key,
        job_id,
        _status,
        _title_column,
        snapshot,
        last_error,
        following,
        created_at,
        updated_at,
    ) = row
    return JobRecord(
        id=record_id,
        provider=provider,
        endpoint=endpoint,
        scope=scope,
        state=SubmitState(state),
        request=from_json(request, Request) if request is not None else None,  # type: ignore[arg-type]
        idempotency_key=key,
        job_id=job_id,
        snapshot=from_json(snapshot, Snapshot) if snapshot is not None else None,
        last_error=last_error,
        following=bool(following),
        created_at=datetime.fromisoformat(created_at),
        updated_at=datetime.fromisoformat(updated_at),
    )
