"""`Client`: one provider, one HTTP client, one engine; everything a user does goes here."""

from __future__ import annotations

import enum
import random
import uuid
from contextlib import AsyncExitStack, ExitStack
from typing import TYPE_CHECKING, Any, Self

import anyio
import attrs
import httpx

from ._adapter import (
    Adapter,
    Capabilities,
    Exporter,
    Operation,
    PollPolicy,
    PublicPages,
    WebhookReader,
)
from ._durable import Durability
from ._engine import Engine, ProviderRuntime, Tracked, stamp
from ._errors import (
    ConfigurationError,
    CourseGenError,
    InvalidRequest,
    MalformedResponse,
    UnsupportedFeature,
)
from ._features import check_request
from ._fleet import FleetJob, FleetWatcher, scope_key
from ._http import NoCookiesClient, RetryPolicy, Sender
from ._job import CourseJob, Job, JobToken
from ._models import AssessmentRequest, JobStatus
from ._ratelimit import BudgetUse, RateBudgets
from ._redact import LogRedaction, Redactor
from .store import JobRecord, Store, open_store

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Iterable, Mapping
    from types import TracebackType

    from ._models import Course, ExportResult, Lesson, Request, Snapshot, WebhookEvent
    from ._settings import Settings
    from .sandbox import Sandbox

__all__ = ["Client", "WebhookEffect"]

_TIMEOUT = httpx.Timeout(30.0, connect=10.0)


async def _load_source(request: Request) -> Request:
    """Read a source document given by path: adapters never touch the file system."""
    if not isinstance(request, AssessmentRequest) or request.source is None:
        return request
    if isinstance(request.source, bytes):
        return request
    path = anyio.Path(request.source)
    try:
        content = await path.read_bytes()
    except OSError as exc:
        raise InvalidRequest(
            f"the source document {str(path)!r} cannot be read: {exc.strerror or exc}",
            provider="coursegen",
        ) from exc
    return attrs.evolve(request, source=content, source_name=request.source_name or path.name)


class WebhookEffect(enum.StrEnum):
    """What `Client.notify` did with a webhook."""

    RECORDED = "recorded"
    """A signed event carried the job's new state: it is the job's state now."""
    CONFIRMING = "confirming"
    """The engine asks the vendor (one GET) before anything is marked done."""
    CONFIRMED = "confirmed"
    """The vendor was asked at once (nobody followed the job); its answer is recorded."""
    ALREADY_ENDED = "already ended"
    """The job's end was already known: nothing changed."""
    NO_JOB = "no job"
    """The event names no job (an export finished, say): nothing to follow."""


def _complete(snapshot: Snapshot) -> bool:
    """A snapshot that can stand for the job: a success carries its result."""
    return snapshot.status is not JobStatus.SUCCEEDED or snapshot.result is not None


class Client:
    """Talks to one provider. Use it as an async context manager; build it with `connect()`.

    Everything the client starts (its scheduler, the polls in flight, an in-process
    sandbox) lives inside `async with` and ends with it.
    """

    def __init__(
        self,
        adapter: Adapter,
        settings: Settings,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        http_client: httpx.AsyncClient | None = None,
        sandbox: Sandbox | None = None,
        own_sandbox: bool = True,
        retry: RetryPolicy | None = None,
        max_in_flight: int = 64,
        keep_results: bool = True,
        seed: int | None = None,
        store: Store | str | None = None,
        recover: bool = True,
        expect_webhooks: bool = False,
        fleet: bool = False,
    ) -> None:
        if transport is not None and http_client is not None:
            raise ConfigurationError("pass either transport or http_client, not both")
        if fleet and store is None:
            raise ConfigurationError(
                "fleet=True records intents for a worker fleet: it needs the fleet's store "
                "(store='postgresql://...')"
            )
        self._adapter = adapter
        self._settings = settings
        self._transport = transport
        self._http_client = http_client
        self._sandbox = sandbox
        # A simulator shared between clients runs in its creator's hands, not ours.
        self._own_sandbox = own_sandbox
        # The user's policy, else the vendor's own rules (an adapter's `retry_policy`).
        default = getattr(adapter, "retry_policy", None)
        self._retry = retry or (default if isinstance(default, RetryPolicy) else RetryPolicy())
        self._rng = random.Random(seed)  # noqa: S311 - jitter, not cryptography
        if isinstance(store, str):
            store = open_store(store)
        self._durable = Durability(store) if store is not None else None
        # A fleet's web process: it records intents and leaves sending to the scope's
        # owner (a `coursegen worker`), which also does the recovery.
        self._fleet: FleetWatcher | None = (
            FleetWatcher(self._durable.store) if fleet and self._durable is not None else None
        )
        self._recover = recover and not fleet
        # Set by a fleet's worker on the clients it owns scopes with: they keep the web
        # processes' share of every rate limit free (see `RateBudgets`).
        self._fleet_owner = False
        self._engine = Engine(
            rng=self._rng,
            max_in_flight=max_in_flight,
            keep_results=keep_results,
            on_change=self._durable.on_change if self._durable is not None else None,
        )
        self._stack: AsyncExitStack | None = None
        self._runtime: ProviderRuntime | None = None
        self._redactor = Redactor((settings.api_key, settings.webhook_secret))
        # The vendor calls back at every job's end (a workspace-wide endpoint): polls
        # are only a fallback. A request's own `callback_url` says so for its job.
        self._expect_webhooks = expect_webhooks

    def __repr__(self) -> str:
        mode = " sandbox" if self._sandbox is not None else ""
        return f"<coursegen.Client {self.provider}{mode} {self._settings.base_url}>"

    # -- life cycle ---------------------------------------------------------------------

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError("this client is already open")
        stack = AsyncExitStack()
        try:
            redactor = self._redactor
            redaction = LogRedaction.installed()
            redaction.add(redactor)
            stack.callback(redaction.discard, redactor)
            http = self._http_client
            fresh = None
            if http is None:
                http = await stack.enter_async_context(
                    NoCookiesClient(
                        transport=self._transport, timeout=_TIMEOUT, follow_redirects=False
                    )
                )
            if self._http_client is None and self._transport is None:
                # Our own pool: creates that a retry could duplicate get a connection of
                # their own, never a pooled one the vendor may have closed meanwhile.
                fresh = await stack.enter_async_context(
                    NoCookiesClient(
                        timeout=_TIMEOUT,
                        follow_redirects=False,
                        limits=httpx.Limits(max_keepalive_connections=0),
                    )
                )
            if self._sandbox is not None and self._own_sandbox:
                await stack.enter_async_context(self._sandbox)
            host = self._settings.base_url.host
            # Budgets are shared with the process's other clients of this endpoint (an
            # in-process simulator is an endpoint of its own).
            url = self._settings.base_url
            endpoint = f"{url.scheme}://{host}:{url.port or ''}"
            if self._sandbox is not None:
                endpoint += f"#sandbox-{id(self._sandbox):x}"
            sender = Sender(
                http,
                self._adapter,
                self._budgets(endpoint),
                pinned_host=host,
                retry=self._retry,
                time_scale=self._settings.time_scale,
                rng=self._rng,
                redactor=redactor,
                fresh=fresh,
            )
            base_url = self._settings.base_url
            runtime = ProviderRuntime(
                self._adapter,
                sender,
                time_scale=self._settings.time_scale,
                host=host,
                scheme=base_url.scheme,
                port=base_url.port,
                sandbox=self._sandbox is not None,
            )
            if self._durable is not None:
                await self._durable.open(stack)  # closed after the engine stops
            task_group = await stack.enter_async_context(anyio.create_task_group())
            stack.callback(task_group.cancel_scope.cancel)
            await task_group.start(self._engine.run)
            if self._fleet is not None:
                task_group.start_soon(self._fleet.run)
            if self._durable is not None:
                await self._durable.recover(
                    runtime,
                    self._engine,
                    task_group,
                    idempotent=self._adapter.capabilities.idempotent_submit,
                    enabled=self._recover,
                )
            self._runtime = runtime
        except BaseException:
            await stack.aclose()
            raise
        self._stack = stack
        return self

    def _budgets(self, endpoint: str) -> RateBudgets:
        """This client's rate budgets: its own; a fleet owner's, keeping the web share
        free; a fleet web process's, that share, taken in the fleet's database."""
        store = self._durable.store if self._durable is not None else None
        if self._fleet is not None and getattr(store, "postgres", False):
            key = scope_key(self.provider, self._settings.base_url.host, self._adapter.rate_scope)
            return RateBudgets(
                endpoint,
                shared=(store, key, self._retry.attempt_timeout),  # type: ignore[arg-type]
            )
        return RateBudgets(endpoint, reserve=self._fleet_owner)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        stack, self._stack = self._stack, None
        self._runtime = None
        if stack is not None:
            await stack.aclose()

    @property
    def _running(self) -> ProviderRuntime:
        if self._runtime is None:
            raise RuntimeError("use the client inside `async with client:`")
        return self._runtime

    # -- what it is ---------------------------------------------------------------------

    @property
    def provider(self) -> str:
        """The provider's name (`"learningstudio"`)."""
        return self._adapter.name

    @property
    def capabilities(self) -> Capabilities:
        """What the provider can do; requests are checked against it before sending."""
        return self._adapter.capabilities

    @property
    def policy(self) -> PollPolicy:
        """When this provider's jobs are polled, and its rate limits."""
        return self._adapter.policy

    @property
    def settings(self) -> Settings:
        """The merged settings; secrets in it print as a mask."""
        return self._settings

    @property
    def sandbox(self) -> Sandbox | None:
        """The in-process simulator this client talks to, if it was connected to one."""
        return self._sandbox

    # -- jobs ---------------------------------------------------------------------------

    async def submit(self, request: Request, *, key: str | None = None) -> Job | FleetJob:
        """Create a job at the vendor and return its handle.

        The request is checked against the provider's capabilities first, so a field the
        vendor cannot honour fails here without spending a request. Where the provider
        deduplicates creates, an idempotency key is added if the request has none, which
        makes a create safe to retry after a lost answer.

        `key` names the job for good: its id in the store (`client.job(key)` finds it
        from any process; a key already in the store is refused with `StoreError`), and
        the idempotency key where the vendor deduplicates creates. A catalogue's batch
        key is one: a rerun looks its rows up before submitting anything.
        """
        runtime = self._running
        capabilities = self._adapter.capabilities
        request = check_request(request, capabilities, self.provider, strict=self._settings.strict)
        request = await _load_source(request)
        if capabilities.idempotent_submit and request.idempotency_key is None:
            request = attrs.evolve(request, idempotency_key=key or uuid.uuid4().hex)
        awaits_webhook = self._expect_webhooks or request.callback_url is not None
        if self._fleet is not None:
            return await self._record_intent(runtime, request, key)
        if self._durable is not None:
            tracked = await self._durable.submit(
                runtime,
                self._engine,
                request,
                idempotent=capabilities.idempotent_submit,
                awaits_webhook=awaits_webhook,
                key=key,
            )
            return Job(self._engine, tracked)
        snapshot = await runtime.sender.send(
            Operation.SUBMIT,
            self._adapter.submit(request),
            self._adapter.read_submitted,
            idempotent=capabilities.idempotent_submit,
        )
        tracked = self._engine.track(
            runtime, stamp(snapshot), submitted=True, awaits_webhook=awaits_webhook
        )
        return Job(self._engine, tracked)

    async def _record_intent(
        self, runtime: ProviderRuntime, request: Request, key: str | None
    ) -> FleetJob:
        """Fleet mode: the intent is the whole of a submit; the scope's owner sends it."""
        assert self._fleet is not None  # noqa: S101 - the caller checked
        self._adapter.submit(request)  # built first: input the adapter refuses never becomes a row
        record_id = key or uuid.uuid4().hex
        rate_scope = self._adapter.rate_scope
        await self._fleet.store.add_intent(
            record_id=record_id,
            provider=runtime.name,
            endpoint=runtime.endpoint,
            scope=rate_scope,
            request=request,
            notify=scope_key(runtime.name, runtime.host, rate_scope),
        )
        return FleetJob(self._fleet, record_id, runtime.name)

    def check(self, request: Request) -> Request:
        """The request as `submit` would send it, checked without sending anything.

        Raises what `submit` would raise before sending: `UnsupportedFeature` for a field
        the provider cannot honour, `InvalidRequest` for input the adapter refuses. Used
        to find every bad row of a catalogue before its first create.
        """
        request = check_request(
            request, self.capabilities, self.provider, strict=self._settings.strict
        )
        if not (isinstance(request, AssessmentRequest) and request.source is not None):
            self._adapter.submit(request)  # builds the create, where validation happens
        return request

    async def resume(self, token: str, *, start_next_stage: bool = False) -> Job:
        """The job a token names (from `Job.token`), with its state read from the vendor.

        A staged job (an EduMate PDF job) resumed from an earlier stage's token starts
        its next stage only where that is known to be safe: this client made the job,
        or its store records it. Otherwise nothing says whether the process that made
        the token started that stage already, and the job ends FAILED with code
        `next_stage_unknown` when its stage ends (never a silent second job).
        `start_next_stage=True` takes charge of the later stages anyway: for when you
        know the process that made the token ended before starting them.
        """
        runtime = self._running
        parsed = JobToken.decode(token)
        if parsed.provider != self.provider:
            raise ConfigurationError(
                f"this token is for provider {parsed.provider!r}; this client talks to "
                f"{self.provider!r}"
            )
        if parsed.host != runtime.host or parsed.port not in (None, runtime.port):
            raise ConfigurationError(
                f"this token is for a job at {parsed.origin}; this client talks to "
                f"{runtime.scheme}://{runtime.host}" + (f":{runtime.port}" if runtime.port else "")
            )
        job_id = parsed.job_id
        # Only a job this client's store records may have its next stage started here
        # (a staged job): a bare token of an earlier stage may have gone on elsewhere.
        owned = start_next_stage
        if self._engine.find(self.provider, job_id) is None and self._durable is not None:
            # A token of an earlier stage of a staged job: the store knows its later id.
            record = await self._durable.store.find(self.provider, runtime.endpoint, job_id)
            if record is not None and record.job_id is not None:
                job_id = record.job_id
            # A job the store saw end is never taken further, nor one it only adopted
            # (resumed by token before, with no request: it was made elsewhere).
            ended = record is not None and record.status is not None and record.status.is_terminal
            owned = owned or (record is not None and record.request is not None and not ended)
        tracked = self._engine.find(self.provider, job_id)
        if tracked is not None:
            return Job(self._engine, tracked)
        snapshot = await self._fetch(runtime, job_id)
        job = Job(self._engine, self._engine.track(runtime, snapshot, owns_stages=owned))
        if self._durable is not None and self._durable.record_of(job._tracked) is None:  # noqa: SLF001
            record_id = await self._durable.store.adopt(
                record_id=uuid.uuid4().hex,
                endpoint=runtime.endpoint,
                scope=self._adapter.rate_scope,
                snapshot=snapshot,
            )
            self._durable.remember(job._tracked, record_id)  # noqa: SLF001 - same package
            self._durable.on_change(job._tracked)  # noqa: SLF001 - what the GET just read
        return job

    # -- the store ----------------------------------------------------------------------

    @property
    def store(self) -> Store | None:
        """The job store this client records to, if it has one (`connect(store=...)`)."""
        return self._durable.store if self._durable is not None else None

    def _stored(self) -> Durability:
        if self._durable is None:
            raise ConfigurationError(
                "this client has no job store: connect(..., store='sqlite:///jobs.db') "
                "or set COURSEGEN_STORE"
            )
        return self._durable

    async def jobs(
        self,
        *,
        status: JobStatus | str | None = None,
        provider: str | None = None,
        limit: int | None = None,
    ) -> list[JobRecord]:
        """Jobs in the store, newest first, as recorded by any process: no vendor call.

        `status` filters by job status (`JobStatus` or its value), `provider` by
        provider name (every provider's jobs by default).
        """
        return await self._stored().store.jobs(provider=provider, status=status, limit=limit)

    async def job(self, job_id: str) -> JobRecord | None:
        """One job from the store, by its store id or its vendor id (this provider's
        first), with its result when it was read; no vendor call. None if unknown."""
        found = await self._stored().store.lookup(job_id)
        found.sort(key=lambda record: record.provider != self.provider)
        return found[0] if found else None

    async def recovered(self) -> list[Job]:
        """The jobs this client took up from its store when it opened, once the creates
        it had to (re)send are sent: followed to their end like any other job."""
        tracked = await self._stored().recovered()
        return [Job(self._engine, each) for each in tracked]

    async def reconcile(self, event: WebhookEvent) -> Job | None:
        """Match a webhook event to the store, after one GET confirms it.

        A job the store knows is observed (and the store updated); a job id it has never
        seen is matched to a create whose answer was lost (`SubmitState.UNKNOWN`, for
        vendors that do not deduplicate creates): the oldest such create of this
        endpoint and key whose subject the vendor's title repeats, else the oldest.
        Returns the job, or None if the event names nothing this store waits for.
        """
        durable = self._stored()
        runtime = self._running
        tracked = await durable.reconcile(
            runtime, self._engine, event, lambda job_id: self._fetch(runtime, job_id)
        )
        return Job(self._engine, tracked) if tracked is not None else None

    async def as_completed(self, jobs: Iterable[CourseJob]) -> AsyncIterator[Job]:
        """Yield each job as it ends (or its polling fails for good), first finished first.

        No task is started per job: the jobs' own records notify one stream.
        """
        handles = list({job.id: self._own(job) for job in jobs}.values())
        send, receive = anyio.create_memory_object_stream[Job](max_buffer_size=len(handles))
        pending = {id(job._tracked): job for job in handles}  # noqa: SLF001 - same package

        def settled(tracked: Tracked) -> None:
            job = pending.pop(id(tracked), None)
            if job is not None:
                send.send_nowait(job)

        with send, receive, ExitStack() as stack:
            for job in handles:
                tracked = job._tracked  # noqa: SLF001 - same package
                if tracked.snapshot.status.is_terminal:
                    settled(tracked)
                    continue
                tracked.listeners.append(settled)
                stack.callback(tracked.listeners.remove, settled)
                stack.enter_context(self._engine.interest(tracked))
            for _ in range(len(handles)):
                yield await receive.receive()

    # -- optional capabilities ----------------------------------------------------------

    async def export(
        self,
        course: Course | str,
        format: str | None = None,  # noqa: A002 - the vendor's and the user's word for it
        *,
        callback_url: str | None = None,
    ) -> ExportResult:
        """Package a finished course for an LMS (SCORM and the like)."""
        runtime = self._running
        adapter = self._adapter
        if not isinstance(adapter, Exporter):
            raise UnsupportedFeature(self.provider, "export")
        course_id = course if isinstance(course, str) else course.id
        return await runtime.sender.send(
            Operation.EXPORT,
            adapter.export(course_id, format, callback_url),
            adapter.read_export,
        )

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Parse (and, where the vendor signs them, verify) a webhook the vendor sent.

        An event with `verified=False` is a hint: `await client.confirm(event)` asks the
        vendor before you act on it.
        """
        adapter = self._adapter
        if not isinstance(adapter, WebhookReader):
            raise UnsupportedFeature(self.provider, "webhooks")
        try:
            return adapter.read_webhook(headers, body)
        except MalformedResponse as exc:
            exc.raw = self._redactor.optional(exc.raw)
            raise
        except CourseGenError:
            raise
        except Exception as exc:
            # Anyone can post to a webhook URL: whatever breaks an adapter's reading (a
            # body nested too deep, a stray KeyError) is an unreadable body, typed.
            raise MalformedResponse(
                f"the webhook could not be read ({type(exc).__name__})",
                provider=self.provider,
                raw=self._redactor.text(body.decode("utf-8", errors="replace")),
            ) from exc

    async def notify(self, event: WebhookEvent) -> tuple[WebhookEffect, Snapshot | None]:
        """Tell the engine what a webhook said, and return what it did and the job's state.

        A signed event's snapshot is recorded as the job's state (a job that ends so is
        polled no more). An unsigned one is a hint: the engine asks the vendor as soon
        as the job's floor and the rate budget allow, and only that answer counts. A job
        this client does not follow yet is asked about at once, then followed.
        """
        runtime = self._running
        if event.job_id is None:
            return WebhookEffect.NO_JOB, None
        tracked = self._engine.find(self.provider, event.job_id)
        if tracked is not None and tracked.snapshot.status.is_terminal:
            return WebhookEffect.ALREADY_ENDED, tracked.snapshot
        pushed = event.snapshot
        if event.verified and pushed is not None and _complete(pushed):
            pushed = stamp(pushed)
            if tracked is None:
                self._engine.track(runtime, pushed)
            else:
                self._engine.pushed(tracked, pushed)
            return WebhookEffect.RECORDED, pushed
        if tracked is not None and self._engine.hint(tracked):
            return WebhookEffect.CONFIRMING, tracked.snapshot
        confirmed = await self.confirm(event)
        if tracked is None:
            self._engine.track(runtime, confirmed)
        return WebhookEffect.CONFIRMED, confirmed

    async def confirm(self, event: WebhookEvent) -> Snapshot:
        """Ask the vendor for the state of the job a webhook names."""
        runtime = self._running
        if event.job_id is None:
            raise ConfigurationError(f"a {event.kind} event names no job to confirm")
        snapshot = await self._fetch(runtime, event.job_id)
        tracked = self._engine.find(self.provider, event.job_id)
        if tracked is not None:
            self._engine.observe(tracked, snapshot)
        return snapshot

    async def public_course(self, share_token: str, *, full: bool = False) -> Course:
        """A published course by its share token (no key is sent); `full` adds lessons."""
        adapter = self._public_pages()
        return await self._running.sender.send(
            Operation.PUBLIC,
            adapter.public_course(share_token, full=full),
            adapter.read_public_course,
        )

    async def public_lesson(self, share_token: str, sequence: int) -> Lesson:
        """One lesson of a published course, by its sequence number (no key is sent)."""
        adapter = self._public_pages()
        return await self._running.sender.send(
            Operation.PUBLIC,
            adapter.public_lesson(share_token, sequence),
            adapter.read_public_lesson,
        )

    def _public_pages(self) -> PublicPages:
        adapter = self._adapter
        if not isinstance(adapter, PublicPages):
            raise UnsupportedFeature(self.provider, "public course pages")
        return adapter

    # -- helpers ------------------------------------------------------------------------

    async def _fetch(self, runtime: ProviderRuntime, job_id: str) -> Snapshot:
        snapshot = await runtime.sender.send(
            Operation.POLL,
            self._adapter.poll(job_id),
            lambda response: self._adapter.read_snapshot(job_id, response),
        )
        return stamp(snapshot)

    def _job(self, runtime: ProviderRuntime, snapshot: Snapshot) -> Job:
        return Job(self._engine, self._engine.track(runtime, snapshot))

    def _own(self, job: CourseJob) -> Job:
        if isinstance(job, FleetJob):
            raise TypeError(f"{job!r} is followed by the fleet: await job.wait() instead")
        if not isinstance(job, Job) or job._engine is not self._engine:  # noqa: SLF001
            raise ValueError(f"{job!r} belongs to another client")
        return job

    def stats(self) -> Mapping[str, Any]:
        """Counters for monitoring: polls sent so far."""
        return {"polls_sent": self._engine.polls_sent}

    def budgets(self) -> list[BudgetUse]:
        """The rate budgets this client has spent from so far, each as it stands now."""
        runtime = self._running
        now = anyio.current_time()
        scale = runtime.time_scale
        uses = []
        for key, budget in runtime.sender.budgets.items():
            provider, scope, name = key
            uses.append(
                BudgetUse(
                    provider=provider,
                    scope=scope,
                    name=name,
                    limit=budget.limit,
                    window=budget.nominal_window * scale,
                    in_window=budget.in_window(now),
                    sent=budget.sent_total,
                    rate_limited=budget.rate_limited_total,
                )
            )
        return uses
