"""Submitting to a worker fleet: intents recorded for the workers, handles read from the store.

A client connected with `fleet=True` sends no create itself. `submit` records the intent
(and, on PostgreSQL, wakes the workers with a NOTIFY in the same commit) and returns a
`FleetJob`, whose state is whatever the scope's owner (a `coursegen worker`) wrote. The
handles of one client are read together: one watcher task reads every awaited record in
one statement per round, so a thousand waiting handles cost one query a round, not a
thousand.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

import anyio

from . import _errors
from ._errors import (
    ConfigurationError,
    CourseGenError,
    JobTimeout,
    ProviderError,
    StoreError,
    SubmitOutcomeUnknown,
)
from ._job import DEFAULT, Job
from ._models import JobStatus, Snapshot
from .store import JobRecord, SubmitState

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from ._models import Result
    from .store import Store

__all__ = ["FleetJob", "FleetWatcher", "local", "rebuild_error", "scope_key"]

#: Real seconds between two reads of the awaited records (the workers write on change).
READ_EVERY = 0.25


def scope_key(provider: str, endpoint: str, rate_scope: str) -> str:
    """The name of one rate scope in the fleet: its procrastinate lock, its owner row.

    Made of the provider, the vendor's host and the adapter's `rate_scope` (a key's
    fingerprint or a workspace), never of a secret.
    """
    return f"coursegen:{provider}:{endpoint}:{rate_scope}"


def local(job: Job | FleetJob) -> Job:
    """`job` as a handle this process follows; a batch or a CLI command follows its own."""
    if isinstance(job, FleetJob):
        raise ConfigurationError(
            "this runs in one process: connect without fleet=True (the fleet follows "
            "its jobs in the workers)"
        )
    return job


def rebuild_error(record: JobRecord) -> CourseGenError:
    """The typed error a refused (or lost) create was recorded with, rebuilt for its handle."""
    text = record.last_error or "ProviderError: the create was refused (no reason recorded)"
    name, _, message = text.partition(": ")
    cls = getattr(_errors, name, None)
    if cls is SubmitOutcomeUnknown:
        return SubmitOutcomeUnknown(message, provider=record.provider, request=record.request)
    if isinstance(cls, type) and issubclass(cls, ProviderError):
        return cls(message, provider=record.provider)
    return ProviderError(text, provider=record.provider)


class FleetWatcher:
    """Reads the records of a client's unsettled handles, all in one statement a round,
    in rounds while anyone waits: a handle waited on after the others finds its record
    already read."""

    def __init__(self, store: Store, *, every: float = READ_EVERY) -> None:
        self.store = store
        self._every = every
        self._records: dict[str, JobRecord] = {}
        self._open: set[str] = set()  # handles not settled yet, as far as we read
        self._waiting = 0
        self._changed = anyio.Event()
        self._wake = anyio.Event()

    def track(self, record_id: str) -> None:
        self._open.add(record_id)

    def latest(self, record_id: str) -> JobRecord | None:
        return self._records.get(record_id)

    def seen(self, record: JobRecord) -> None:
        self._records[record.id] = record
        if _settled(record):
            self._open.discard(record.id)

    async def run(self) -> None:
        """Read the unsettled records every round while anyone waits (a client's task)."""
        while True:
            if not self._waiting:
                await self._wake.wait()
                self._wake = anyio.Event()
            try:
                found = await self.store.get_many(sorted(self._open))
            except StoreError:
                found = {}  # a failed read is retried next round; waiters keep waiting
            changed = False
            for record_id, record in found.items():
                if self._records.get(record_id) != record:
                    self.seen(record)
                    changed = True
            if changed:
                self._changed.set()
                self._changed = anyio.Event()
            await anyio.sleep(self._every)

    async def until_changed(self, record_id: str) -> None:
        """Wait for the next round that changes anything."""
        self._open.add(record_id)
        self._waiting += 1
        self._wake.set()
        try:
            await self._changed.wait()
        finally:
            self._waiting -= 1


def _never_made(record: JobRecord) -> bool:
    """The create was refused, or its outcome is unknown: the handle raises why."""
    return record.state in (SubmitState.REFUSED, SubmitState.UNKNOWN)


def _settled(record: JobRecord) -> bool:
    return _never_made(record) or (record.status is not None and record.status.is_terminal)


class FleetJob:
    """The handle of a job submitted to a fleet: its state is read from the store.

    `id` is the job's store id (`client.job(id)` finds it from any process); `job_id`
    the vendor's, once the owner has sent the create. A create the vendor refused raises
    its typed error (`InvalidRequest`, `QuotaExceeded`, ...) from `wait` and `result`.
    """

    __slots__ = ("_provider", "_record_id", "_watcher")

    def __init__(self, watcher: FleetWatcher, record_id: str, provider: str) -> None:
        self._watcher = watcher
        self._record_id = record_id
        self._provider = provider
        watcher.track(record_id)

    def __repr__(self) -> str:
        return f"<FleetJob {self.provider}:{self.id} {self.snapshot.status.value}>"

    @property
    def id(self) -> str:
        """The job's store id: `client.job(id)` finds it from any process."""
        return self._record_id

    @property
    def provider(self) -> str:
        """The provider's name."""
        return self._provider

    @property
    def record(self) -> JobRecord | None:
        """The record as last read (None before the first read)."""
        return self._watcher.latest(self._record_id)

    @property
    def job_id(self) -> str | None:
        """The vendor's id of the job, once the owner has sent its create."""
        record = self.record
        return record.job_id if record is not None else None

    @property
    def snapshot(self) -> Snapshot:
        """The latest state the store holds (PENDING until the owner sent the create)."""
        record = self.record
        if record is not None and record.snapshot is not None:
            return record.snapshot
        return Snapshot(job_id=self._record_id, provider=self._provider, status=JobStatus.PENDING)

    @property
    def token(self) -> str:
        """The job's token once the vendor's id is known (`Client.resume` takes it)."""
        record = self.record
        token = record.token if record is not None else None
        if token is None:
            raise StoreError(f"job {self._record_id} has no vendor id yet: wait for it first")
        return token

    async def refresh(self) -> Snapshot:
        """Read the store now."""
        found = await self._watcher.store.get_many([self._record_id])
        record = found.get(self._record_id)
        if record is not None:
            self._watcher.seen(record)
        return self.snapshot

    async def wait(self, timeout: float | object | None = DEFAULT) -> Snapshot:
        """Wait until the job ends and return its last snapshot (see `Job.wait`).

        `timeout` is real seconds (default and None: no deadline: a fleet's deadlines
        are its workers'). A refused create raises the vendor's typed error.
        """
        seconds = math.inf if timeout in (DEFAULT, None) else float(timeout)  # type: ignore[arg-type]
        try:
            with anyio.fail_after(seconds):
                while True:
                    record = self.record
                    if record is not None and _settled(record):
                        break
                    await self._watcher.until_changed(self._record_id)
        except TimeoutError:
            latest = self.record
            raise JobTimeout(
                f"{self.provider} job {self.id} did not end within {seconds:g} s "
                f"(last seen {self.snapshot.status.value}); the fleet goes on with it",
                snapshot=self.snapshot,
                token=(latest.token or "") if latest is not None else "",
            ) from None
        if _never_made(record):
            raise rebuild_error(record)
        return self.snapshot

    async def result(self, timeout: float | object | None = DEFAULT) -> Result:
        """Wait for the job and return its result, or raise why there is none."""
        snapshot = await self.wait(timeout)
        return Job._outcome(self, snapshot)  # type: ignore[arg-type] # noqa: SLF001 - one rule

    async def watch(self) -> AsyncIterator[Snapshot]:
        """Yield each new state the store holds, ending with the terminal one."""
        seen: Snapshot | None = None
        while True:
            snapshot = self.snapshot
            if not snapshot.same_state(seen):
                seen = snapshot
                yield snapshot
            record = self.record
            if record is not None and _settled(record):
                if _never_made(record):
                    raise rebuild_error(record)
                return
            await self._watcher.until_changed(self._record_id)
