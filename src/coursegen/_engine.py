"""The one polling scheduler of a client.

One task and one heap of (due time, job) decide when every job is polled; no job owns a
task or a timer of its own, so ten thousand jobs cost ten thousand small records. A job
is followed to its end while the client is open (`keep_results`, the default), or else
only while someone waits on it (`wait`, `result`, `watch`, `as_completed`).

When a job falls due:
- its poll takes a place in the rate budget of its (provider, scope, `POLL`) scope; if
  the budget is spent, the job joins that budget's first-come-first-served queue and the
  scheduler wakes when a place frees up, so jobs sharing a key share it fairly;
- after each answer the next poll is due in `max(vendor floor, hint or cadence)` plus up
  to 10% jitter (never less: a floor or a hint is a promise to the vendor). The hint is
  the vendor's own (`pollAfterMs`); the cadence backs off while a job does not change.

Per-request retries of transient faults live in `Sender`; this module never retries a
request, it only schedules the next question. A poll whose retries all failed is asked
again later, with backoff (capped at `_RETRY_CAP` vendor seconds, or the provider's
cadence if longer, and never more than a fifth of the vendor's `result_ttl`, so a result
is read before the vendor discards it). What happens meanwhile depends on the fault:

- a transient one (`TRANSIENT`: the network, a 5xx, a 429) is an outage, not an answer:
  waiters keep waiting and the job is followed for as long as the client is open, past
  its own deadline too (nobody knows how the job fares until the vendor is back); only a
  terminal answer or a waiter's own timeout ends a wait;
- any other (a revoked key, a body that never reads) is told to waiters at once, and the
  job is followed on until its deadline (`PollPolicy.job_timeout` from its creation, or
  from its last change of state if later: a queued job's timeout has not begun).

So a vendor outage never silently drops a job. Only a `NotFound` ends following early.
A job the vendor still calls running at its deadline stops being followed there, unless
someone waits on it without a timeout (`wait(timeout=None)`): then it is followed on, its
polls backed off to `_RETRY_CAP`, with a `JobTimeout` in `last_error` saying it is overdue.

`on_change`, if given, is called with a job's record each time what is known of it
changes (a new state, a failed poll, the end of following): the client's store hears of
everything the engine sees through it, and the engine knows nothing of storage.
"""

from __future__ import annotations

import enum
import heapq
import itertools
import math
import weakref
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import partial
from typing import TYPE_CHECKING

import anyio
import attrs

from ._adapter import Operation, StagedAdapter
from ._durations import DurationModel
from ._errors import (
    CourseGenError,
    JobTimeout,
    MalformedResponse,
    NotFound,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    TransportError,
)
from ._job import SANDBOX_ENDPOINT, JobToken, origin
from ._models import JobErrorInfo, JobStatus, Snapshot

if TYPE_CHECKING:
    import random
    from collections.abc import Callable, Iterator

    import httpx
    from anyio.abc import TaskGroup, TaskStatus
    from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

    from ._adapter import Adapter, PollPolicy
    from ._http import Sender
    from ._ratelimit import RateBudget

__all__ = ["TRANSIENT", "Engine", "ProviderRuntime", "Tracked", "stamp"]

TRANSIENT: tuple[type[CourseGenError], ...] = (TransportError, ProviderUnavailable, RateLimited)
"""Poll failures that say nothing of the job, only that the vendor cannot answer now."""

_JITTER = 0.1
# The longest gap a learnt plan may leave between two polls, in vendor seconds, unless
# the provider sets `max_interval`: it bounds how late a finished job is noticed.
_LONGEST_PLAN = 30.0
# The longest wait between two tries of a job whose polls keep failing, in vendor
# seconds (the provider's cadence, if longer): a long outage costs a poll a minute.
_RETRY_CAP = 60.0
# Vendor seconds between the fallback polls of a job whose end a webhook will announce:
# only a lost webhook makes one of them needed, so they are rare.
WEBHOOK_FALLBACK = 300.0


def stamp(snapshot: Snapshot) -> Snapshot:
    """The snapshot with the wall-clock time it was observed (a label, never a schedule)."""
    now = datetime.now(UTC)
    if type(snapshot) is not Snapshot:
        return attrs.evolve(snapshot, observed_at=now)  # a subclass keeps its own fields
    # Made directly: a fourth of what `attrs.evolve` costs, on every poll.
    return Snapshot(
        job_id=snapshot.job_id,
        provider=snapshot.provider,
        status=snapshot.status,
        vendor_status=snapshot.vendor_status,
        progress=snapshot.progress,
        result=snapshot.result,
        error=snapshot.error,
        poll_after=snapshot.poll_after,
        cost=snapshot.cost,
        raw=snapshot.raw,
        observed_at=now,
    )


class ProviderRuntime:
    """One provider as a client runs it: its adapter, its sender, its clock scale."""

    def __init__(
        self,
        adapter: Adapter,
        sender: Sender,
        *,
        time_scale: float,
        host: str,
        scheme: str = "https",
        port: int | None = None,
        sandbox: bool = False,
    ) -> None:
        self.adapter = adapter
        self.sender = sender
        self.time_scale = time_scale
        self.host = host
        # Where the jobs live, for their tokens: the endpoint and whether it is in-process.
        self.scheme = scheme
        self.port = port
        self.sandbox = sandbox
        self.durations = DurationModel()
        # Protocol isinstance checks are slow, and asked after every poll: ask once.
        self.staged = adapter if isinstance(adapter, StagedAdapter) else None
        # Read on every poll: each job's request is built once when the policy allows.
        self.reusable_polls = adapter.policy.reusable_polls

    @property
    def name(self) -> str:
        return self.adapter.name

    @property
    def endpoint(self) -> str:
        """Where the jobs live, as the store records it: the vendor's host, or for an
        in-process sandbox `sandbox:` and the host it stands in for (its jobs end with
        its process: no client of the real vendor may take them up, and a command
        reading the store can say so without a key). Any other origin than https on its
        default port is recorded whole (`http://127.0.0.1:8765`), so a job's token rebuilt
        from the store finds a served sandbox or a proxy again."""
        where = self.host
        if self.scheme != "https" or self.port not in (None, 443):
            where = origin(self.scheme, self.host, self.port)
        return f"{SANDBOX_ENDPOINT}{where}" if self.sandbox else where

    @property
    def policy(self) -> PollPolicy:
        return self.adapter.policy

    def token(self, job_id: str) -> str:
        """The token of this provider's job `job_id`: where it lives, never a secret."""
        where = JobToken(self.name, job_id, self.host, self.scheme, self.port, self.sandbox)
        return where.encode()

    def to_loop(self, vendor_seconds: float) -> float:
        return vendor_seconds / self.time_scale


_Due = tuple["Tracked", float | None]


def _stage_failed(tracked: Tracked, snapshot: Snapshot, why: str, *, code: str) -> Snapshot:
    """The terminal snapshot of a staged job whose next stage is not started: FAILED,
    with what the last stage showed (its answer stays in `raw`)."""
    return Snapshot(
        job_id=tracked.job_id,
        provider=tracked.runtime.name,
        status=JobStatus.FAILED,
        vendor_status=snapshot.vendor_status,
        progress=snapshot.progress,
        error=JobErrorInfo(why, code=code),
        raw=snapshot.raw,
    )


"""A poll for a worker: the job, and when its place in the rate budget was taken."""


class _State(enum.Enum):
    IDLE = "idle"  # not scheduled: nobody waits, or the job has ended
    SCHEDULED = "scheduled"  # in the heap
    QUEUED = "queued"  # due, waiting for its rate budget
    IN_FLIGHT = "in flight"


class Tracked:
    """Everything the engine knows of one job. Users hold it through a `Job`."""

    __slots__ = (
        "__weakref__",
        "awaits_webhook",
        "cadence",
        "changed_signal",
        "deadline",
        "error",
        "failures",
        "following",
        "former_ids",
        "heap_seq",
        "hinted_at",
        "interest",
        "job_id",
        "last_error",
        "last_polled",
        "listeners",
        "next_at",
        "next_due",
        "overdue_polls",
        "owns_stages",
        "patient",
        "poll_request",
        "runtime",
        "settled_signal",
        "snapshot",
        "stage_ends",
        "started_at",
        "state",
        "submitted_at",
    )

    def __init__(
        self,
        runtime: ProviderRuntime,
        snapshot: Snapshot,
        now: float,
        *,
        submitted: bool,
        elapsed: float = 0.0,
        awaits_webhook: bool = False,
        owns_stages: bool = True,
    ) -> None:
        self.runtime = runtime
        # This client may start the job's next stage (a `StagedAdapter`'s): it made the
        # job, or its store records it. False for a token of an earlier stage resumed
        # with no record of it: another process may have started that stage already.
        self.owns_stages = owns_stages
        # A webhook will announce the end: polls are only a fallback for a lost one.
        self.awaits_webhook = awaits_webhook
        # Loop time of the first webhook about the job: the vendor sent it at the end.
        self.hinted_at: float | None = None
        # Loop time of the create, when this client made the job: the start of its age.
        self.submitted_at = now if submitted else None
        # Loop time from which the learnt plan counts the job's age: its create, then its
        # last answer that said it was still queued (a queue's wait is not its work).
        self.started_at = self.submitted_at
        self.job_id = snapshot.job_id
        # The ids of the stages before this one (a `StagedAdapter`'s job), oldest first.
        self.former_ids: tuple[str, ...] = ()
        # The last snapshot of each of those stages (a document chunked), in order.
        self.stage_ends: tuple[Snapshot, ...] = ()
        self.snapshot = snapshot
        # The error a waiter is told (cleared when a new waiter asks again).
        self.error: CourseGenError | None = None
        # Why the last poll failed, until one succeeds; and how many failed in a row.
        self.last_error: CourseGenError | None = None
        self.failures = 0
        # Followed until a terminal answer or this loop time (`job_timeout` from its
        # creation, pushed back by each change of state; `elapsed` vendor seconds of its
        # life went by before we saw it).
        self.following = not snapshot.status.is_terminal
        self.deadline = now + runtime.to_loop(max(runtime.policy.job_timeout - elapsed, 0.0))
        # Made by the first waiter that needs it, set and dropped at the next change:
        # most jobs of a fleet have nobody watching each of their steps.
        self.changed_signal: anyio.Event | None = None
        self.interest = 0
        # Waiters without a timeout: while any waits, the deadline does not end following.
        self.patient = 0
        # Polls answered since the deadline passed with a patient waiter (their backoff).
        self.overdue_polls = 0
        self.state = _State.IDLE
        self.heap_seq = -1
        self.last_polled = now  # loop time of the last answer about this job
        self.next_at = now  # when the next poll should go, if anyone waits
        self.next_due = math.inf  # when it is due in the heap, while SCHEDULED
        self.cadence: float | None = None  # vendor seconds between polls without a hint
        # The job's poll, kept when the adapter's polls are reusable (see ProviderRuntime).
        self.poll_request: httpx.Request | None = None
        self.listeners: list[Callable[[Tracked], None]] = []
        # Made by the first waiter that needs it: waiters for the end only wake at the end.
        self.settled_signal: anyio.Event | None = None

    @property
    def changed(self) -> anyio.Event:
        """An event set when what is known of the job next changes."""
        if self.changed_signal is None:
            self.changed_signal = anyio.Event()
        return self.changed_signal

    def until_settled(self) -> anyio.Event:
        """An event set when the job next settles (ends, or its polling fails for good)."""
        if self.settled_signal is None:
            self.settled_signal = anyio.Event()
        return self.settled_signal

    @property
    def settled(self) -> bool:
        """The job ended, or its last poll failed for good: a waiter must wake."""
        return self.snapshot.status.is_terminal or self.error is not None

    def _announce(self) -> None:
        if self.changed_signal is not None:
            self.changed_signal.set()
            self.changed_signal = None
        if self.settled:
            if self.settled_signal is not None:
                self.settled_signal.set()
                self.settled_signal = None
            for listener in list(self.listeners):
                listener(self)


class Engine:
    """Schedules the polls of every job of one client. Run it in the client's task group."""

    def __init__(
        self,
        *,
        rng: random.Random,
        max_in_flight: int = 64,
        keep_results: bool = True,
        on_change: Callable[[Tracked], None] | None = None,
        webhook_fallback: float = WEBHOOK_FALLBACK,
    ) -> None:
        self._rng = rng
        self._on_change = on_change
        self._webhook_fallback = webhook_fallback
        self._keep_results = keep_results
        self._heap: list[tuple[float, int, Tracked | RateBudget]] = []
        self._seq = itertools.count()
        # Due jobs waiting for a place in their budget: a heap per budget, the job asked
        # longest ago first.
        self._waiting: dict[RateBudget, list[tuple[float, int, Tracked]]] = {}
        self._wake = anyio.Event()
        self._max_in_flight = max_in_flight
        # Polls with a place in their budget, for the `max_in_flight` poll workers (a fixed
        # pool fed by the scheduler costs less than a new task for every poll); made when
        # the engine runs.
        self._send_poll: MemoryObjectSendStream[_Due] | None = None
        self._tg: TaskGroup | None = None
        self._tracked: weakref.WeakValueDictionary[tuple[str, str], Tracked] = (
            weakref.WeakValueDictionary()
        )
        self.polls_sent = 0

    def track(
        self,
        runtime: ProviderRuntime,
        snapshot: Snapshot,
        *,
        submitted: bool = False,
        elapsed: float = 0.0,
        awaits_webhook: bool = False,
        owns_stages: bool = True,
    ) -> Tracked:
        """The one record of this job in this client, made from its first snapshot.

        `submitted` says this client created the job just now, so its age is known;
        `elapsed` is how many vendor seconds old the job was when we saw it (a job
        recovered from a store), which brings its deadline closer.
        `awaits_webhook` that the vendor will call back at its end (polls are a fallback).
        `owns_stages` False: never start the job's next stage (see `Tracked`).
        """
        key = (runtime.name, snapshot.job_id)
        tracked = self._tracked.get(key)
        if tracked is None:
            now = anyio.current_time()
            tracked = self._tracked[key] = Tracked(
                runtime,
                snapshot,
                now,
                submitted=submitted,
                elapsed=elapsed,
                awaits_webhook=awaits_webhook,
                owns_stages=owns_stages,
            )
            tracked.next_at = now + self._interval(tracked, snapshot, changed=True, now=now)
            if self._keep_results:
                self._keep_until_settled(tracked)
        return tracked

    def _keep_until_settled(self, tracked: Tracked) -> None:
        """Poll `tracked` with nobody waiting, until it ends: its end is noticed on time
        (a fleet submitted before anyone waits) and its result fetched before a vendor
        that discards results (`result_ttl`) does so.

        The engine's own interest ends when the job does (or following it ends at its
        deadline), and the record then lives only as long as someone holds its `Job`.
        """
        if tracked.snapshot.status.is_terminal:
            return
        scope = self.interest(tracked)
        scope.__enter__()

        def release(settled: Tracked) -> None:
            if settled.following:
                return  # a poll failed: waiters were told, but following goes on
            settled.listeners.remove(release)
            scope.__exit__(None, None, None)

        tracked.listeners.append(release)

    def find(self, provider: str, job_id: str) -> Tracked | None:
        return self._tracked.get((provider, job_id))

    # -- running ------------------------------------------------------------------------

    async def run(self, *, task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED) -> None:
        send, receive = anyio.create_memory_object_stream[_Due](math.inf)
        with send, receive:
            self._send_poll = send
            async with anyio.create_task_group() as tg:
                self._tg = tg
                for _ in range(self._max_in_flight):
                    tg.start_soon(self._worker, receive.clone())
                task_status.started()
                await self._loop()

    async def _loop(self) -> None:
        while True:
            now = anyio.current_time()
            while self._heap and self._heap[0][0] <= now:
                _, seq, item = heapq.heappop(self._heap)
                if isinstance(item, Tracked):
                    self._due(item, seq, now)
                else:
                    self._drain(item, now)
            wake = self._wake
            delay = self._heap[0][0] - now if self._heap else math.inf
            with anyio.move_on_after(delay):
                await wake.wait()
            if wake.is_set():
                self._wake = anyio.Event()

    def _push(self, at: float, item: Tracked | RateBudget) -> int:
        seq = next(self._seq)
        heapq.heappush(self._heap, (at, seq, item))
        if self._heap[0][2] is item:
            self._wake.set()
        return seq

    # -- scheduling ---------------------------------------------------------------------

    def schedule(self, tracked: Tracked, at: float) -> None:
        """Poll `tracked` at `at` (or earlier, if it is already due earlier)."""
        if tracked.state is _State.SCHEDULED and tracked.next_due <= at:
            return
        if tracked.state in (_State.QUEUED, _State.IN_FLIGHT):
            return  # an answer is coming anyway; the next poll is planned from it
        tracked.state = _State.SCHEDULED
        tracked.next_due = at
        tracked.heap_seq = self._push(at, tracked)

    def _due(self, tracked: Tracked, seq: int, now: float) -> None:
        if tracked.state is not _State.SCHEDULED or tracked.heap_seq != seq:
            return  # a stale heap entry: the job was rescheduled since
        if tracked.interest == 0 or tracked.snapshot.status.is_terminal:
            tracked.state = _State.IDLE  # nobody waits, or a webhook announced the end
            return
        budget = tracked.runtime.sender.budget(Operation.POLL)
        if budget is not None:
            queue = self._waiting.get(budget)
            if queue is None:
                at = budget.available_at(now)
                if at <= now:
                    self._start(tracked, budget.take(now))
                    return
                queue = self._waiting[budget] = []
                self._push(at, budget)
            tracked.state = _State.QUEUED
            # Longest unasked first. The plan already keeps jobs that cannot have ended
            # out of the queue; a key that never goes stale keeps the rest from starving.
            heapq.heappush(queue, (tracked.last_polled, next(self._seq), tracked))
            return
        self._start(tracked, None)

    def _drain(self, budget: RateBudget, now: float) -> None:
        queue = self._waiting[budget]
        while queue:
            at = budget.available_at(now)
            if at > now:
                self._push(at, budget)
                return
            _, _, tracked = heapq.heappop(queue)
            if tracked.interest == 0:
                tracked.state = _State.IDLE
                continue
            self._start(tracked, budget.take(now))
        del self._waiting[budget]

    def _start(self, tracked: Tracked, reserved_at: float | None) -> None:
        assert self._send_poll is not None, "the engine is not running"  # noqa: S101 - internal invariant
        tracked.state = _State.IN_FLIGHT
        self.polls_sent += 1
        self._send_poll.send_nowait((tracked, reserved_at))

    async def _worker(self, polls: MemoryObjectReceiveStream[_Due]) -> None:
        """One of the `max_in_flight` poll workers: at most that many polls at once."""
        with polls:
            async for tracked, reserved_at in polls:
                await self._poll_once(tracked, reserved_at)

    @staticmethod
    def _poll_request(tracked: Tracked) -> httpx.Request:
        request = tracked.poll_request
        if request is None:
            request = tracked.runtime.adapter.poll(tracked.job_id)
            if tracked.runtime.reusable_polls:
                tracked.poll_request = request
        return request

    async def _poll_once(self, tracked: Tracked, reserved_at: float | None) -> None:
        runtime = tracked.runtime
        adapter = runtime.adapter
        try:
            snapshot = await runtime.sender.send(
                Operation.POLL,
                self._poll_request(tracked),
                partial(adapter.read_snapshot, tracked.job_id),
                reserved_at=reserved_at,
            )
            if runtime.staged is not None:
                snapshot = await self._next_stage(tracked, runtime.staged, snapshot)
        except NotFound as exc:
            tracked.state = _State.IDLE
            if runtime.policy.result_ttl is None or not exc.job_gone:
                self._fail(tracked, exc, retry=False)
            else:
                self.observe(tracked, stamp(self._discarded(tracked, exc)))
            return
        except CourseGenError as exc:
            tracked.state = _State.IDLE
            self._fail(tracked, exc, retry=True)
            return
        tracked.state = _State.IDLE
        self.observe(tracked, stamp(snapshot))

    async def _next_stage(
        self, tracked: Tracked, adapter: StagedAdapter, snapshot: Snapshot
    ) -> Snapshot:
        request = adapter.next_stage(snapshot)
        if request is None:
            return snapshot
        if not tracked.owns_stages:
            return self._stage_not_ours(tracked, snapshot, request)
        # The end of a stage is a step of the job: watchers see it (a document chunked)
        # before the next stage's create is sent, and then the switch of id.
        ended = stamp(snapshot)
        self.observe(tracked, ended)
        try:
            following = await tracked.runtime.sender.send(
                Operation.SUBMIT, request, partial(adapter.read_stage, snapshot)
            )
        except (SubmitOutcomeUnknown, MalformedResponse) as exc:
            # Sent, and the vendor may hold the next stage's job under an id we never
            # read: sending it again could make a second one. The job ends here, said so.
            return self._stage_unknown(tracked, snapshot, request, exc)
        # The former id still names this job: a token taken before the switch resumes
        # it here rather than starting the next stage a second time.
        tracked.former_ids += (tracked.job_id,)
        # Kept for watchers that had not woken before the next stage replaced it.
        tracked.stage_ends += (ended,)
        tracked.job_id = following.job_id
        tracked.poll_request = None  # it asked about the stage before
        self._tracked[(tracked.runtime.name, tracked.job_id)] = tracked
        return following

    @staticmethod
    def _stage_not_ours(tracked: Tracked, snapshot: Snapshot, request: httpx.Request) -> Snapshot:
        """The terminal snapshot of a staged job resumed from an earlier stage's token
        with no record of it, once that stage ended: FAILED, code `next_stage_unknown`.
        The next stage is not started here: the process that made the token (or any
        other holding it) may have started it already, and a second one would be a
        duplicate the vendor cannot tell apart."""
        stage = len(tracked.former_ids) + 2
        why = (
            f"stage {stage - 1} ended, and this client did not start stage {stage} "
            f"({request.method} {request.url.path}): the token names stage {stage - 1}, "
            "and nothing here records whether another process (the one that made the "
            "token) started the next stage already; starting it again could make a "
            "second job. Resume the token the job gives once its next stage began, or "
            "use a job store (connect(store=...)) in every process that follows it; to "
            "go on from what stage "
            f"{stage - 1} made, submit a new request from it (its answer is in raw)"
        )
        return _stage_failed(tracked, snapshot, why, code="next_stage_unknown")

    @staticmethod
    def _stage_unknown(
        tracked: Tracked,
        snapshot: Snapshot,
        request: httpx.Request,
        exc: SubmitOutcomeUnknown | MalformedResponse,
    ) -> Snapshot:
        """The terminal snapshot of a staged job whose next stage's create was sent and
        its answer lost or unreadable: FAILED, code `submit_outcome_unknown`, so that no
        poll, resume or recovery (the store keeps it terminal) sends it a second time."""
        stage = len(tracked.former_ids) + 2
        why = (
            f"the create of stage {stage} ({request.method} {request.url.path}) was sent "
            f"but its answer was {'unreadable' if isinstance(exc, MalformedResponse) else 'lost'} "
            f"({type(exc).__name__}): the vendor may be running that stage under a job id "
            "coursegen never learnt, so it was not sent again (that could start a second "
            "one); submit the request again for a new job"
        )
        return _stage_failed(tracked, snapshot, why, code="submit_outcome_unknown")

    @staticmethod
    def _discarded(tracked: Tracked, exc: NotFound) -> Snapshot:
        """A job we saw, that the vendor no longer knows: it discarded it after its TTL,
        or (last seen sooner than that, or not yet finished) lost it."""
        runtime = tracked.runtime
        ttl = runtime.policy.result_ttl or 0.0
        last = tracked.snapshot.status.value
        ago = (anyio.current_time() - tracked.last_polled) * runtime.time_scale
        seen = f"this job was last seen {last} {ago:.0f} s ago"
        if ago < ttl:
            # Too soon for a result to have expired: the vendor lost the job instead.
            why = (
                f"the vendor no longer knows this job, although {seen} and it keeps "
                f"results about {ttl:g} s: it lost the job (restarted with its queue "
                "emptied?)"
            )
            code = "lost"
        else:
            why = (
                f"its result was not fetched before the vendor discarded it: it keeps "
                f"results about {ttl:g} s and {seen}"
            )
            code = "expired"
        return Snapshot(
            job_id=tracked.job_id,
            provider=runtime.name,
            status=JobStatus.EXPIRED,
            vendor_status=tracked.snapshot.vendor_status,
            progress=tracked.snapshot.progress,
            error=JobErrorInfo(why, code=code),
            raw=exc.raw,
        )

    def _fail(self, tracked: Tracked, exc: CourseGenError, *, retry: bool) -> None:
        """A poll failed for good: ask again later, and tell the waiters unless the fault
        is an outage (`TRANSIENT`), which they sit out until their own timeout."""
        outage = retry and isinstance(exc, TRANSIENT)
        tracked.last_error = exc
        if not outage:
            tracked.error = exc
        tracked.failures += 1
        now = anyio.current_time()
        if retry:
            policy = tracked.runtime.policy
            cap = max(_RETRY_CAP, policy.interval)
            if policy.result_ttl is not None:
                # A result finished during the outage must still be there when we ask.
                cap = max(min(cap, policy.result_ttl / 5), policy.min_interval)
            pause = min(cap, policy.interval * 2 ** (tracked.failures - 1))
            at = now + tracked.runtime.to_loop(pause) * (1.0 + self._rng.random() * _JITTER)
            # Past its deadline a job is still asked about while the vendor is down: how
            # it fared is unknown until the vendor answers.
            retry = outage or at <= tracked.deadline
        if retry:
            tracked.next_at = at
            if tracked.interest > 0:
                self.schedule(tracked, at)
        else:
            tracked.following = False
        tracked._announce()  # noqa: SLF001 - the engine owns its records
        self._changed(tracked)

    def _changed(self, tracked: Tracked) -> None:
        if self._on_change is not None:
            self._on_change(tracked)

    def _stop_at_deadline(self, tracked: Tracked) -> None:
        """The job outlived its own deadline without ending: following it ends here."""
        runtime = tracked.runtime
        tracked.following = False
        tracked.error = JobTimeout(
            f"{runtime.name} job {tracked.job_id} did not end within its "
            f"{runtime.policy.job_timeout:g} s deadline (last seen "
            f"{tracked.snapshot.status.value}); it is no longer followed: resume it with "
            "its token to ask again",
            snapshot=tracked.snapshot,
            token=runtime.token(tracked.job_id),
        )

    def _overdue(self, tracked: Tracked, now: float) -> bool:
        """Keep following `tracked` past its deadline for a waiter without a timeout:
        polls back off from the cadence to `_RETRY_CAP` (never past a fifth of the
        vendor's `result_ttl`); True the first time, when `last_error` starts saying so."""
        runtime = tracked.runtime
        policy = runtime.policy
        first = tracked.overdue_polls == 0
        tracked.overdue_polls += 1
        tracked.following = True
        cap = max(_RETRY_CAP, policy.interval)
        if policy.result_ttl is not None:
            cap = max(min(cap, policy.result_ttl / 5), policy.min_interval)
        pause = min(cap, policy.interval * 2 ** min(tracked.overdue_polls, 32))
        pause *= 1.0 + self._rng.random() * _JITTER
        tracked.next_at = max(tracked.next_at, now + runtime.to_loop(pause))
        tracked.last_error = JobTimeout(
            f"{runtime.name} job {tracked.job_id} is past its "
            f"{policy.job_timeout:g} s deadline (last seen {tracked.snapshot.status.value}); "
            "it is still followed, every "
            f"{pause:.0f} s or so, because a wait without a timeout is on it",
            snapshot=tracked.snapshot,
            token=runtime.token(tracked.job_id),
        )
        return first

    def observe(self, tracked: Tracked, snapshot: Snapshot) -> None:
        """Record an answer about `tracked` and plan its next poll."""
        if tracked.snapshot.status.is_terminal and not snapshot.status.is_terminal:
            # An end is final: a poll sent before a webhook announced it answers late.
            return
        now = anyio.current_time()
        changed = not snapshot.same_state(tracked.snapshot)
        self._learn(tracked, snapshot, now)
        if snapshot.status is JobStatus.PENDING and tracked.started_at is not None:
            tracked.started_at = now  # still queued: its work, and its plan, begin later
        # A poll failed before this answer (an overdue job's `JobTimeout` is no failure).
        recovered = tracked.last_error is not None and not isinstance(
            tracked.last_error, JobTimeout
        )
        tracked.snapshot = snapshot
        tracked.error = tracked.last_error = None
        tracked.failures = 0
        tracked.last_polled = now
        tracked.next_at = now + self._interval(tracked, snapshot, changed=changed, now=now)
        if (changed or snapshot.status is JobStatus.PENDING) and not snapshot.status.is_terminal:
            # A job that moves is alive, and a queued one has not begun its work: a
            # vendor's timeout runs from when its work began (a queued EduMate job has
            # not started its 600 s, however long the queue), so the deadline follows.
            tracked.deadline = max(
                tracked.deadline, now + tracked.runtime.to_loop(tracked.runtime.policy.job_timeout)
            )
        if snapshot.status.is_terminal:
            tracked.following = False
        elif now < tracked.deadline:
            tracked.overdue_polls = 0
        elif tracked.patient > 0:
            # Past the deadline, a waiter without a timeout still waits: following goes
            # on, backed off, and `last_error` says the job is overdue.
            changed = self._overdue(tracked, now) or changed
        elif tracked.following:
            self._stop_at_deadline(tracked)
            changed = True
        if changed or recovered or snapshot.status.is_terminal:
            tracked._announce()  # noqa: SLF001 - the engine owns its records
            self._changed(tracked)
        if not snapshot.status.is_terminal and tracked.interest > 0:
            self.schedule(tracked, tracked.next_at)

    def hint(self, tracked: Tracked) -> bool:
        """A webhook says `tracked` may have ended: ask the vendor as soon as its per-job
        floor and the rate budget allow (the one GET that confirms an unsigned event).

        False when nobody follows the job (`keep_results=False` and no waiter): the caller
        asks the vendor itself then.
        """
        if tracked.hinted_at is None:
            tracked.hinted_at = anyio.current_time()
        if tracked.snapshot.status.is_terminal:
            return True
        if tracked.interest == 0:
            return False
        floor = tracked.runtime.to_loop(tracked.runtime.policy.min_interval)
        tracked.next_at = min(tracked.next_at, tracked.last_polled + floor)
        self.schedule(tracked, max(anyio.current_time(), tracked.next_at))
        return True

    def pushed(self, tracked: Tracked, snapshot: Snapshot) -> None:
        """Record a snapshot a signed webhook carried: as good as a poll's answer."""
        if tracked.hinted_at is None:
            tracked.hinted_at = anyio.current_time()
        self.observe(tracked, snapshot)

    @staticmethod
    def _learn(tracked: Tracked, snapshot: Snapshot, now: float) -> None:
        """Feed the provider's duration model with a job seen ending now."""
        ended = snapshot.status in (JobStatus.SUCCEEDED, JobStatus.FAILED)
        started = tracked.started_at
        if not ended or started is None or tracked.snapshot.status.is_terminal:
            return
        if tracked.hinted_at is not None:
            # The vendor called back when the job ended: its end is known, not guessed.
            estimate = tracked.hinted_at - started
            tracked.runtime.durations.observe(estimate * tracked.runtime.time_scale)
            return
        # It ended between the last answer that said "not yet" and this one: the model
        # is told both ages, and works out where in between jobs usually end.
        runtime = tracked.runtime
        scale = runtime.time_scale
        runtime.durations.observe_between(
            (tracked.last_polled - started) * scale,
            (now - started) * scale,
        )

    def _interval(
        self, tracked: Tracked, snapshot: Snapshot, *, changed: bool, now: float
    ) -> float:
        """Loop seconds until the next poll, plus upward jitter: the latest of the vendor's
        floor, its hint, and the plan learnt from its jobs' durations (else the cadence)."""
        runtime = tracked.runtime
        policy = runtime.policy
        if changed or tracked.cadence is None:
            tracked.cadence = policy.interval
        else:
            ceiling = policy.max_interval if policy.max_interval is not None else math.inf
            tracked.cadence = min(tracked.cadence * policy.backoff, ceiling)
        candidates = [policy.min_interval]
        if snapshot.poll_after is not None:
            candidates.append(snapshot.poll_after)
        planned = None
        if tracked.started_at is not None:
            age = (now - tracked.started_at) * runtime.time_scale
            longest = policy.max_interval if policy.max_interval is not None else _LONGEST_PLAN
            draw = self._rng.random()
            planned = runtime.durations.next_poll(age, policy.min_interval, longest, draw)
        if planned is not None:
            if policy.result_ttl is not None:
                # However sure the plan is, a result is read before the vendor drops it.
                planned = min(planned, max(policy.result_ttl / 5, policy.min_interval))
            candidates.append(planned)
        elif snapshot.poll_after is None:
            candidates.append(tracked.cadence)
        if tracked.awaits_webhook and tracked.hinted_at is None:
            candidates.append(self._webhook_fallback)
        wait = max(candidates)
        # Jitter spreads polls that would go out together; a learnt plan's wait is long
        # (the first poll comes when the fastest jobs end) and each job's is already its
        # own (from its own create), so its jitter is that of one cadence, not of the
        # whole wait, which would only add to every job's detection delay.
        spread = min(wait, policy.interval) if wait == planned else wait
        return runtime.to_loop(wait + spread * self._rng.random() * _JITTER)

    # -- interest -----------------------------------------------------------------------

    @contextmanager
    def interest(
        self, tracked: Tracked, *, now_ok: bool = False, patient: bool = False
    ) -> Iterator[None]:
        """Keep `tracked` polled while the block runs.

        `now_ok` asks for a poll as soon as the vendor's floor allows, ignoring the
        cadence and the hint (an explicit refresh). `patient` is a waiter without a
        timeout: while one waits, the job's deadline does not end following it.
        """
        tracked.interest += 1
        if patient:
            tracked.patient += 1
        try:
            if not tracked.snapshot.status.is_terminal:
                if patient:
                    tracked.following = True
                if tracked.error is not None:
                    tracked.error = None  # a new waiter asks again
                now = anyio.current_time()
                at = tracked.next_at
                if now_ok:
                    floor = tracked.runtime.to_loop(tracked.runtime.policy.min_interval)
                    at = min(at, tracked.last_polled + floor)
                self.schedule(tracked, max(now, at))
            yield
        finally:
            tracked.interest -= 1
            if patient:
                tracked.patient -= 1
