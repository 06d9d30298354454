"""The blocking facade: the same names without `await`, for Django, Celery and scripts.

```python
import coursegen.sync

client = coursegen.sync.connect("learningstudio")  # the same client on every call
job = client.submit(coursegen.CourseRequest(subject="Workplace safety basics"))
course = job.result(timeout=600)
```

One long-lived client per process and target (the `connect` arguments): its engine runs
on a background thread (an anyio blocking portal) that every thread of the process
shares, so a thousand requests of a web app spend one rate budget per key, and a job
submitted in one request is still followed after it. It may be called from any thread,
even one that runs an event loop of its own (an async view: the call blocks that thread
until the answer is there). It is closed at interpreter exit, or by `close()`. A child
process (a forked worker) gets its own client on first use.

Errors are the typed ones of the async API, never an `ExceptionGroup`.
"""

from __future__ import annotations

import asyncio
import atexit
import functools
import os
import sys
import threading
from contextlib import ExitStack
from typing import TYPE_CHECKING, Any, ParamSpec, Self, TypeVar

from anyio.from_thread import start_blocking_portal

from . import webhooks
from ._config import connect as _connect_async
from ._job import DEFAULT

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Mapping
    from types import TracebackType

    from anyio.from_thread import BlockingPortal

    from ._adapter import Capabilities, PollPolicy
    from ._client import Client
    from ._fleet import FleetJob
    from ._job import Job
    from ._models import (
        Course,
        ExportResult,
        JobStatus,
        Lesson,
        Request,
        Result,
        Snapshot,
        WebhookEvent,
    )
    from ._settings import Settings
    from .sandbox import Sandbox

__all__ = ["SyncClient", "SyncJob", "close_all", "connect"]

_P = ParamSpec("_P")
_T = TypeVar("_T")
_U = TypeVar("_U")

_lock = threading.Lock()
_clients: dict[tuple[Any, ...], SyncClient] = {}


def connect(
    target: str | None = None,
    *,
    backend: str = "asyncio",
    backend_options: Mapping[str, Any] | None = None,
    **options: Any,
) -> SyncClient:
    """The process's one open client for these arguments (made and opened on first call).

    Takes `coursegen.connect`'s arguments. `backend` and `backend_options` choose the
    event loop its thread runs (anyio's: `"asyncio"` or `"trio"`, and their options;
    tests pass `coursegen.testing.virtual_backend(...)` to run it on virtual time).
    """
    key = _key(target, backend, backend_options, options)
    with _lock:
        client = _clients.get(key)
        if client is None or client.closed:
            client = SyncClient(
                functools.partial(_connect_async, target, **options),
                backend=backend,
                backend_options=dict(backend_options or {}),
            )
            _clients[key] = client
        return client


def close_all() -> None:
    """Close every client `connect` opened in this process (run at interpreter exit)."""
    with _lock:
        clients = list(_clients.values())
        _clients.clear()
    for client in clients:
        client.close()


atexit.register(close_all)


def _forget_inherited() -> None:
    # A forked child has the parent's records but not its portal threads.
    global _lock  # noqa: PLW0603 - the parent's lock may have been held at the fork
    _lock = threading.Lock()
    _clients.clear()


if hasattr(os, "register_at_fork"):  # pragma: no branch - absent on Windows only
    os.register_at_fork(after_in_child=_forget_inherited)


def _key(*parts: Any) -> tuple[Any, ...]:
    """A hashable form of the connect arguments: equal arguments, one client."""
    return tuple(_frozen(part) for part in parts)


def _frozen(value: Any) -> Any:
    if isinstance(value, dict):
        return ("dict", tuple(sorted((str(k), _frozen(v)) for k, v in value.items())))
    if isinstance(value, list | tuple):
        return ("seq", tuple(_frozen(v) for v in value))
    try:
        hash(value)
    except TypeError:
        return ("id", id(value))  # an object given to share: the same object, one client
    return value


def _unwrapped(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The one error a user should see: the first typed one, else the first leaf."""
    leaves: list[BaseException] = []

    def walk(exc: BaseException) -> None:
        if isinstance(exc, BaseExceptionGroup):
            for inner in exc.exceptions:
                walk(inner)
        else:
            leaves.append(exc)

    walk(group)
    from ._errors import CourseGenError  # noqa: PLC0415 - kept next to its one use

    typed = [leaf for leaf in leaves if isinstance(leaf, CourseGenError)]
    return (typed or leaves)[0]


def _runs_event_loop() -> bool:
    """True in a thread that runs an event loop of its own (an async view, a test)."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        pass
    else:
        return True
    trio = sys.modules.get("trio")
    if trio is None:
        return False
    try:
        trio.lowlevel.current_task()
    except RuntimeError:
        return False
    return True


def _blocking(function: Callable[[], _T]) -> _T:
    """Run `function` here, or, from a thread that runs an event loop, on a short-lived
    thread of its own: trio refuses to be called into from a thread running trio, and a
    loop's thread is blocked until the answer either way."""
    if not _runs_event_loop():
        return function()
    outcome: list[tuple[bool, Any]] = []

    def run() -> None:
        try:
            outcome.append((True, function()))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            outcome.append((False, exc))

    thread = threading.Thread(target=run, name="coursegen-sync-call", daemon=True)
    thread.start()
    thread.join()
    ok, value = outcome[0]
    if not ok:
        raise value
    result: _T = value
    return result


class SyncClient:
    """A `Client` driven from threads: each method blocks until the engine answers.

    Get one with `coursegen.sync.connect`; it is shared, so do not close it in a web
    request (interpreter exit does). `with` closes it, for scripts.
    """

    def __init__(
        self,
        make: Callable[[], Client],
        *,
        backend: str = "asyncio",
        backend_options: dict[str, Any] | None = None,
    ) -> None:
        self._stack = ExitStack()
        self._closed = False

        def start() -> tuple[BlockingPortal, Client]:
            portal = self._stack.enter_context(
                start_blocking_portal(backend, backend_options, name="coursegen-sync")
            )
            # Made in its loop: everything the client holds belongs to that loop.
            client = portal.call(_made, make)
            self._stack.enter_context(portal.wrap_async_context_manager(client))
            return portal, client

        try:
            self._portal, self._client = _blocking(start)
        except BaseExceptionGroup as group:
            _blocking(self._stack.close)
            raise _unwrapped(group) from None
        except BaseException:
            _blocking(self._stack.close)
            raise

    def __repr__(self) -> str:
        state = " closed" if self._closed else ""
        return f"<coursegen.sync.SyncClient {self._client.provider}{state}>"

    # -- life cycle ---------------------------------------------------------------------

    @property
    def closed(self) -> bool:
        """True once `close()` ran (or the process is exiting)."""
        return self._closed

    def close(self) -> None:
        """Stop the engine and its thread; calls still waiting raise `RuntimeError`."""
        if self._closed:
            return
        self._closed = True
        try:
            _blocking(self._stack.close)
        except BaseExceptionGroup as group:
            raise _unwrapped(group) from None

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def call(
        self, function: Callable[_P, Awaitable[_T]], *args: _P.args, **kwargs: _P.kwargs
    ) -> _T:
        """Run `await function(*args, **kwargs)` on the client's loop and return its value."""
        if self._closed:
            raise RuntimeError("this coursegen.sync client is closed")
        portal = self._portal
        bound = functools.partial(function, *args, **kwargs)

        def run() -> _T:
            return portal.call(bound)

        try:
            return _blocking(run)
        except BaseExceptionGroup as group:
            raise _unwrapped(group) from None

    # -- what it is ---------------------------------------------------------------------

    @property
    def client(self) -> Client:
        """The async client underneath; use it only inside `call`."""
        return self._client

    @property
    def provider(self) -> str:
        """The provider's name (`"learningstudio"`)."""
        return self._client.provider

    @property
    def capabilities(self) -> Capabilities:
        """What the provider can do (`Client.capabilities`)."""
        return self._client.capabilities

    @property
    def policy(self) -> PollPolicy:
        """When the provider's jobs are polled, and its rate limits (`Client.policy`)."""
        return self._client.policy

    @property
    def settings(self) -> Settings:
        """The merged settings the adapter was built from (`Client.settings`)."""
        return self._client.settings

    @property
    def sandbox(self) -> Sandbox | None:
        """The in-process simulator, for a sandboxed client; else None."""
        return self._client.sandbox

    # -- jobs ---------------------------------------------------------------------------

    def submit(self, request: Request) -> SyncJob:
        """Create a job at the vendor (see `Client.submit`)."""
        return SyncJob(self, self.call(self._client.submit, request))

    def resume(self, token: str, *, start_next_stage: bool = False) -> SyncJob:
        """The job a token names (see `Client.resume`)."""
        return SyncJob(
            self,
            self.call(
                functools.partial(self._client.resume, start_next_stage=start_next_stage), token
            ),
        )

    def as_completed(self, jobs: Iterable[SyncJob]) -> Iterator[SyncJob]:
        """Yield each job as it ends (or its polling fails for good), first finished first."""
        given = {job.id: job for job in jobs}
        handles = [job.job for job in given.values()]
        return _blocking_iter(self, self._client.as_completed(handles), lambda j: given[j.id])

    # -- optional capabilities ----------------------------------------------------------

    def export(
        self,
        course: Course | str,
        format: str | None = None,  # noqa: A002 - the vendor's and the user's word for it
        *,
        callback_url: str | None = None,
    ) -> ExportResult:
        """Package a finished course for an LMS (see `Client.export`)."""
        return self.call(self._client.export, course, format, callback_url=callback_url)

    def read_webhook(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent:
        """Parse (and, where the vendor signs them, verify) a webhook; nothing is sent."""
        return self._client.read_webhook(headers, body)

    def confirm(self, event: WebhookEvent) -> Snapshot:
        """Ask the vendor for the state of the job a webhook names."""
        return self.call(self._client.confirm, event)

    def receive_webhook(self, headers: Mapping[str, str], body: bytes) -> webhooks.Receipt:
        """Handle one webhook delivery (see `coursegen.webhooks.receive`): verify or
        confirm, deduplicate, feed the engine. Reply with `receipt.status_code`."""
        return self.call(webhooks.receive, self._client, headers, body)

    def public_course(self, share_token: str, *, full: bool = False) -> Course:
        """A published course by its share token (no key is sent)."""
        return self.call(self._client.public_course, share_token, full=full)

    def public_lesson(self, share_token: str, sequence: int) -> Lesson:
        """One lesson of a published course (no key is sent)."""
        return self.call(self._client.public_lesson, share_token, sequence)

    def stats(self) -> Mapping[str, Any]:
        """Counters for monitoring (see `Client.stats`)."""
        return self._client.stats()


class SyncJob:
    """The blocking handle of one job; reading its state sends nothing."""

    __slots__ = ("_client", "job")

    def __init__(self, client: SyncClient, job: Job | FleetJob) -> None:
        self._client = client
        self.job = job
        """The async handle underneath."""

    def __repr__(self) -> str:
        return f"<SyncJob {self.provider}:{self.id} {self.status.value}>"

    @property
    def id(self) -> str:
        """The vendor's id of the job."""
        return self.job.id

    @property
    def provider(self) -> str:
        """The name of the provider running the job."""
        return self.job.provider

    @property
    def snapshot(self) -> Snapshot:
        """The latest snapshot the engine has; no request is sent."""
        return self.job.snapshot

    @property
    def status(self) -> JobStatus:
        """The status in the latest snapshot (reading it sends nothing)."""
        return self.job.snapshot.status

    @property
    def token(self) -> str:
        """Resume this job elsewhere with `resume(token)`; it holds no secret."""
        return self.job.token

    def done(self) -> bool:
        """True once the job has ended, whatever the outcome."""
        return self.job.snapshot.status.is_terminal

    def refresh(self) -> Snapshot:
        """Ask the vendor now (as soon as its per-job floor allows)."""
        return self._client.call(self.job.refresh)

    def wait(self, timeout: float | object | None = DEFAULT) -> Snapshot:
        """Block until the job ends; `JobTimeout` at the deadline (see `Job.wait`)."""
        return self._client.call(self.job.wait, timeout)

    def result(self, timeout: float | object | None = DEFAULT) -> Result:
        """Block until the job ends and return its result, or raise why there is none."""
        return self._client.call(self.job.result, timeout)

    def watch(self) -> Iterator[Snapshot]:
        """Yield the job's snapshot each time it changes, ending with the terminal one."""
        return _blocking_iter(self._client, self.job.watch(), lambda snapshot: snapshot)


async def _made(make: Callable[[], Client]) -> Client:
    return make()


_END: Any = object()


def _blocking_iter(
    client: SyncClient, iterator: AsyncIterator[_T], convert: Callable[[_T], _U]
) -> Iterator[_U]:
    """Drive an async generator from a thread, one item per portal call; closed on exit."""

    async def step() -> _T:
        try:
            return await anext(iterator)
        except StopAsyncIteration:
            end: _T = _END  # a marker no generator yields
            return end

    async def close() -> None:
        aclose = getattr(iterator, "aclose", None)
        if aclose is not None:
            await aclose()

    try:
        while True:
            item = client.call(step)
            if item is _END:
                return
            yield convert(item)
    finally:
        if not client.closed:
            client.call(close)
