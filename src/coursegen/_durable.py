"""What a client with a store does: crash-safe creates, recovery on open, write-behind.

The life of a create, each step committed before the next one starts:

1. `PENDING`: the request (and its idempotency key) is recorded; then it waits for its
   rate budget.
2. `SENDING`: recorded just before the request leaves; from here the vendor may hold a job.
3. `SUBMITTED`: the vendor's job id, as soon as the answer is read. (`REFUSED` if the
   vendor said no, `UNKNOWN` if the answer was lost where a resend could duplicate.)

Opening a client on a store recovers the jobs of its provider, endpoint and key scope
that a previous process left unfinished: `PENDING` intents are sent; `SENDING` ones are
re-sent with their stored idempotency key where the vendor deduplicates creates, and
otherwise become `UNKNOWN` (a later webhook naming an unknown job id is matched to them
by `Client.reconcile`); `SUBMITTED` jobs are followed again from their last snapshot.

Everything the engine sees afterwards reaches the store through the engine's
`on_change`: a state change, a failed poll, the end of following. Those writes go through
one writer task that coalesces a burst into one transaction, so a result is on disk
moments after it is read, and a fleet's polls that change nothing write nothing.
"""

from __future__ import annotations

import logging
import math
import uuid
import weakref
from datetime import UTC, datetime
from typing import TYPE_CHECKING

import anyio
import attrs

from ._adapter import Operation
from ._engine import stamp
from ._errors import (
    CourseGenError,
    MalformedResponse,
    NotFound,
    StoreError,
    SubmitOutcomeUnknown,
)
from ._models import Course
from .store import JobRecord, SnapshotUpdate, SubmitState

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable
    from contextlib import AsyncExitStack

    import httpx
    from anyio.abc import TaskGroup
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._engine import Engine, ProviderRuntime, Tracked
    from ._models import Request, Snapshot, WebhookEvent
    from .store import Store

__all__ = ["Durability"]

logger = logging.getLogger("coursegen")


def _describe(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {exc}"


class Durability:
    """The store side of one client: which record each tracked job is, and the writer."""

    def __init__(self, store: Store) -> None:
        self.store = store
        self._records: weakref.WeakKeyDictionary[Tracked, str] = weakref.WeakKeyDictionary()
        self._send: MemoryObjectSendStream[SnapshotUpdate] | None = None
        self._recovered: list[Tracked] = []
        self._recovery_done: anyio.Event | None = None  # made inside the event loop
        self.unknown = 0  # creates whose outcome this client found unknown on recovery
        # Store ids this client's recovery took up: a fleet owner sends every other intent.
        self.taken: set[str] = set()
        # Creates between their claim (SENDING) and their outcome: a fleet's handover
        # waits for none to be left (`quiet`), woken by the last one, not by polling.
        self.sending = 0
        self._quiet: anyio.Event | None = None

    # -- life cycle ---------------------------------------------------------------------

    async def open(self, stack: AsyncExitStack) -> None:
        """Open the store and start the writer; both end with `stack`, after the engine
        (register the engine after this call), so the last changes are written."""
        self._recovery_done = anyio.Event()
        await self.store.open()
        stack.push_async_callback(self.store.close)
        writer = await stack.enter_async_context(anyio.create_task_group())
        send, receive = anyio.create_memory_object_stream[SnapshotUpdate](math.inf)
        self._send = send
        writer.start_soon(self._write, receive)
        stack.callback(send.close)  # the writer drains what is queued, then ends

    async def _write(self, receive: MemoryObjectReceiveStream[SnapshotUpdate]) -> None:
        async with receive:
            async for first in receive:
                batch = {first.record_id: first}
                while True:
                    try:
                        update = receive.receive_nowait()
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                    batch[update.record_id] = update  # the latest state of each job wins
                try:
                    await self.store.save(list(batch.values()))
                except StoreError as exc:
                    # The jobs are still followed in memory; their ids are on disk already.
                    logger.warning("coursegen store: %d snapshots not written: %s", len(batch), exc)

    def on_change(self, tracked: Tracked) -> None:
        """The engine saw something new about `tracked`: queue it for the writer."""
        record_id = self._records.get(tracked)
        if record_id is None or self._send is None:
            return
        error = tracked.last_error
        update = SnapshotUpdate(
            record_id=record_id,
            snapshot=tracked.snapshot,
            last_error=_describe(error) if error is not None else None,
            following=tracked.following,
            former_ids=tracked.former_ids,
        )
        try:
            self._send.send_nowait(update)
        except anyio.ClosedResourceError:
            logger.debug("coursegen store: closed; change to %s not written", record_id)

    def remember(self, tracked: Tracked, record_id: str) -> None:
        self._records[tracked] = record_id

    def record_of(self, tracked: Tracked) -> str | None:
        return self._records.get(tracked)

    # -- creating -----------------------------------------------------------------------

    async def submit(
        self,
        runtime: ProviderRuntime,
        engine: Engine,
        request: Request,
        *,
        idempotent: bool,
        record_id: str | None = None,
        from_state: SubmitState = SubmitState.PENDING,
        awaits_webhook: bool = False,
        key: str | None = None,
    ) -> Tracked:
        """Create a job, its every step recorded first (see the module docstring).

        `record_id` names an intent already in the store (a recovered one, found in
        `from_state`); `key` is the id a new intent is recorded under (default: random).
        """
        store = self.store
        adapter = runtime.adapter
        # Built first: input the adapter refuses never becomes a row.
        http_request = adapter.submit(request)
        if record_id is None:
            record_id = key or uuid.uuid4().hex
            await store.add_intent(
                record_id=record_id,
                provider=runtime.name,
                endpoint=runtime.endpoint,
                scope=runtime.adapter.rate_scope,
                request=request,
            )
        budget = runtime.sender.budget(Operation.SUBMIT)
        # The budget's place is taken before the intent is marked as sending, so that a
        # create waiting for its turn is still safely PENDING if the process dies.
        sent_at = await budget.acquire() if budget is not None else None
        try:
            claimed = await store.mark_sending(record_id, from_state=from_state)
        except BaseException:
            if budget is not None and sent_at is not None:
                budget.settle(sent_at, anyio.current_time())
            raise
        if not claimed:
            if budget is not None and sent_at is not None:
                budget.settle(sent_at, anyio.current_time())
            raise StoreError(
                f"create {record_id} was taken by another client of this store: it sends it"
            )
        self.began_sending()
        try:
            return await self._on_the_wire(
                runtime,
                engine,
                http_request,
                record_id=record_id,
                sent_at=sent_at,
                idempotent=idempotent,
                awaits_webhook=awaits_webhook,
            )
        finally:
            self.ended_sending()

    def began_sending(self) -> None:
        """A claimed create is going on the wire."""
        self.sending += 1

    def ended_sending(self) -> None:
        """A create's outcome is recorded (or it failed): wake `quiet` if it was the last."""
        self.sending -= 1
        if not self.sending and self._quiet is not None:
            self._quiet.set()
            self._quiet = None

    async def _on_the_wire(
        self,
        runtime: ProviderRuntime,
        engine: Engine,
        http_request: httpx.Request,
        *,
        record_id: str,
        sent_at: float | None,
        idempotent: bool,
        awaits_webhook: bool,
    ) -> Tracked:
        """The claimed create on the wire, and its outcome recorded."""
        store = self.store
        adapter = runtime.adapter
        try:
            snapshot = await runtime.sender.send(
                Operation.SUBMIT,
                http_request,
                adapter.read_submitted,
                idempotent=idempotent,
                reserved_at=sent_at,
            )
        except (SubmitOutcomeUnknown, MalformedResponse) as exc:
            # Sent, and the vendor may hold a job we cannot name: never guess.
            await store.mark_outcome(record_id, SubmitState.UNKNOWN, _describe(exc))
            raise
        except CourseGenError as exc:
            await store.mark_outcome(record_id, SubmitState.REFUSED, _describe(exc))
            raise
        snapshot = stamp(snapshot)
        try:
            await store.mark_submitted(record_id, snapshot)
        finally:
            # Followed even if the store failed: the job exists at the vendor now.
            tracked = engine.track(runtime, snapshot, submitted=True, awaits_webhook=awaits_webhook)
            self.remember(tracked, record_id)
        return tracked

    async def quiet(self) -> None:
        """Return once no create of this client is between its claim and its outcome."""
        while self.sending:
            if self._quiet is None:
                self._quiet = anyio.Event()
            await self._quiet.wait()

    # -- recovery -----------------------------------------------------------------------

    async def recover(
        self,
        runtime: ProviderRuntime,
        engine: Engine,
        task_group: TaskGroup,
        *,
        idempotent: bool,
        enabled: bool = True,
    ) -> None:
        """Take up what a previous client of this provider, endpoint and scope left.

        Jobs with a vendor id are tracked at once; creates to (re)send go out in the
        background, at their rate budget's pace (`recovered()` waits for them).
        Not `enabled`: a one-off client (a CLI command) leaves the fleet to its owner.
        """
        if not enabled:
            self._done()
            return
        rows = await self.store.unfinished(
            runtime.name, runtime.endpoint, runtime.adapter.rate_scope
        )
        resend: list[JobRecord] = []
        self.taken.update(row.id for row in rows)
        for row in rows:
            if row.state is SubmitState.SUBMITTED and row.job_id is not None:
                self._follow(runtime, engine, row)
            elif row.state is SubmitState.PENDING and row.request is not None:
                resend.append(row)
            elif (
                row.state is SubmitState.SENDING
                and row.request is not None
                and (idempotent and row.idempotency_key is not None)
            ):
                resend.append(row)  # the vendor answers a repeat with the same job
            elif row.state is SubmitState.SENDING:
                self.unknown += 1
                await self.store.mark_outcome(
                    row.id,
                    SubmitState.UNKNOWN,
                    "SubmitOutcomeUnknown: the process sending this create ended before "
                    "the answer was read, and this vendor does not deduplicate creates; "
                    "a webhook naming its job id (Client.reconcile) will match it",
                )
            elif row.state is SubmitState.UNKNOWN:
                self.unknown += 1
        if not resend:
            self._done()
            return
        task_group.start_soon(self._resend_all, runtime, engine, resend, idempotent)

    async def _resend_all(
        self, runtime: ProviderRuntime, engine: Engine, rows: list[JobRecord], idempotent: bool
    ) -> None:
        try:
            async with anyio.create_task_group() as tg:
                for row in rows:
                    tg.start_soon(self._resend, runtime, engine, row, idempotent)
        finally:
            self._done()

    def _done(self) -> None:
        if self._recovery_done is not None:
            self._recovery_done.set()

    async def send_intent(
        self, runtime: ProviderRuntime, engine: Engine, row: JobRecord, *, idempotent: bool
    ) -> Tracked | None:
        """Send a create another process recorded (a fleet's web process), as its owner.

        A refusal is recorded on the row (the submitter's handle raises it); None then.
        """
        assert row.request is not None  # noqa: S101 - intents always carry their request
        self.taken.add(row.id)
        try:
            return await self.submit(
                runtime,
                engine,
                row.request,
                idempotent=idempotent,
                record_id=row.id,
                awaits_webhook=row.request.callback_url is not None,
            )
        except CourseGenError as exc:
            logger.info("coursegen: create %s not made: %s", row.id, _describe(exc))
            return None

    async def _resend(
        self, runtime: ProviderRuntime, engine: Engine, row: JobRecord, idempotent: bool
    ) -> None:
        assert row.request is not None  # noqa: S101 - filtered by the caller
        try:
            tracked = await self.submit(
                runtime,
                engine,
                row.request,
                idempotent=idempotent,
                record_id=row.id,
                from_state=row.state,
            )
        except CourseGenError as exc:
            # Recorded on the row (UNKNOWN or REFUSED); nobody awaits this create.
            logger.warning("coursegen: recovered create %s not made: %s", row.id, _describe(exc))
            return
        self._recovered.append(tracked)

    def _follow(self, runtime: ProviderRuntime, engine: Engine, row: JobRecord) -> Tracked:
        assert row.job_id is not None  # noqa: S101 - filtered by the caller
        snapshot = row.snapshot
        if snapshot is None or snapshot.job_id != row.job_id:
            from ._models import JobStatus, Snapshot  # noqa: PLC0415 - rare path

            snapshot = Snapshot(job_id=row.job_id, provider=runtime.name, status=JobStatus.PENDING)
        age = (datetime.now(UTC) - row.created_at).total_seconds() * runtime.time_scale
        # A row adopted from a token (no request: made elsewhere) never starts a later
        # stage of a staged job; one this store saw created does (see `Client.resume`).
        tracked = engine.track(
            runtime, snapshot, elapsed=max(age, 0.0), owns_stages=row.request is not None
        )
        self.remember(tracked, row.id)
        self._recovered.append(tracked)
        return tracked

    async def recovered(self) -> list[Tracked]:
        if self._recovery_done is None:
            raise RuntimeError("use the client inside `async with client:`")
        await self._recovery_done.wait()
        return list(self._recovered)

    # -- reconciling --------------------------------------------------------------------

    async def reconcile(
        self,
        runtime: ProviderRuntime,
        engine: Engine,
        event: WebhookEvent,
        confirm: Callable[[str], Awaitable[Snapshot]],
    ) -> Tracked | None:
        """Match a webhook to the store (see `Client.reconcile`)."""
        if event.job_id is None:
            return None
        known = await self.store.find(runtime.name, runtime.endpoint, event.job_id)
        if known is not None:
            tracked = engine.find(runtime.name, event.job_id)
            snapshot = await confirm(event.job_id)
            if tracked is None:
                tracked = self._follow(runtime, engine, attrs.evolve(known, snapshot=snapshot))
            engine.observe(tracked, snapshot)
            return tracked
        candidates = await self.store.jobs(provider=runtime.name, state=SubmitState.UNKNOWN)
        candidates = [
            row
            for row in candidates
            if row.endpoint == runtime.endpoint and row.scope == runtime.adapter.rate_scope
        ]
        if not candidates:
            return None
        try:
            snapshot = await confirm(event.job_id)  # an unsigned event is only a hint
        except NotFound:
            return None
        row = _best_match(candidates, snapshot)
        await self.store.mark_submitted(row.id, snapshot)
        tracked = self._follow(runtime, engine, attrs.evolve(row, job_id=snapshot.job_id))
        engine.observe(tracked, snapshot)
        return tracked


def _best_match(candidates: list[JobRecord], snapshot: Snapshot) -> JobRecord:
    """The lost create a confirmed job most likely came from: the oldest whose subject
    the vendor's title repeats, else the oldest."""
    oldest_first = sorted(candidates, key=lambda row: row.created_at)
    title = snapshot.result.title if isinstance(snapshot.result, Course) else None
    if title is not None:
        wanted = title.casefold()
        for row in oldest_first:
            if row.title is not None and row.title.casefold() == wanted:
                return row
    return oldest_first[0]
