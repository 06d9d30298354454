"""A worker fleet on PostgreSQL: procrastinate workers, one owner per rate scope.

```python
fleet = coursegen.worker.Fleet(
    "postgresql://app@db/app", {"tenant-a": "learningstudio://KEY_A@learningstudioai.com"}
)
asyncio.run(fleet.run())          # or: coursegen worker --store ... --target tenant-a
```

Needs the `fleet` extra (`pip install coursegen[fleet]`). What runs where:

- Each rate scope (provider, endpoint and the adapter's `rate_scope`: a key's fingerprint
  or a workspace) is followed by ONE long-running procrastinate job, `coursegen.own_scope`,
  deferred with `lock=` and `queueing_lock=` the scope's key. Its arguments are the
  target's name and the scope key, never the key itself: each worker reads its targets'
  URLs from its own configuration. The job runs the unchanged engine for all the scope's
  jobs: it takes up what the store holds (the durable store's recovery) and sends the
  intents web processes record (`connect(..., fleet=True)`), woken by their NOTIFY and
  re-scanning now and then. Only one process sends a key's traffic, so the engine's
  `RateBudget` stays exact.
- The owner takes its scope with a new epoch (`coursegen_owners`); every write it makes
  checks that epoch first (`SELECT ... FOR SHARE`), so a worker cut off from the database
  stops at its first write after a takeover instead of overwriting its successor's rows.
- A worker that dies stops its heartbeat. Every worker runs the stalled-jobs recipe
  periodically: a scope job of a stalled worker is marked failed (retrying it in place
  would clash with the queued successor's `queueing_lock`) and a fresh one is deferred,
  which the next free worker picks up. The newcomer waits out the vendor's rate window
  before its first request: it cannot know what its predecessor sent in it.
- SIGTERM (or SIGINT): the worker stops fetching, each scope job finishes the creates in
  flight, defers its successor and returns: the handover. Another worker takes the scope.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import sys
import threading
import time
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from ._config import connect
from ._errors import ConfigurationError, CourseGenError, StoreError
from ._fleet import scope_key
from .store import SQLStore, SubmitState, open_store

if TYPE_CHECKING:
    from collections.abc import Mapping

    from ._client import Client
    from ._durable import Durability
    from ._engine import Engine, ProviderRuntime
    from .store import JobRecord

__all__ = ["QUEUE", "TASK", "Fleet", "target_scope"]

logger = logging.getLogger("coursegen.worker")

TASK = "coursegen.own_scope"
QUEUE = "coursegen"
_SCHEMA_LOCK = 0x636F_7572_7366  # one advisory lock while procrastinate's schema is made


def target_scope(url: str, *, speed: float | None = None) -> str:
    """The scope key of a target URL (its provider, endpoint and rate scope); no request."""
    return _scope_of(connect(url, **_speed(speed)))


def _speed(speed: float | None) -> dict[str, Any]:
    return {"speed": speed} if speed is not None else {}


def _scope_of(client: Client) -> str:
    return scope_key(client.provider, client.settings.base_url.host, client._adapter.rate_scope)  # noqa: SLF001


def _procrastinate_conninfo(store_url: str) -> tuple[str, dict[str, Any]]:
    """procrastinate's connection: the store's, its `?schema=` as the search path."""
    parts = urlsplit(store_url)
    query = dict(parse_qsl(parts.query))
    schema = query.pop("schema", None)
    query.pop("pool_size", None)  # the store's own pool
    conninfo = urlunsplit(parts._replace(scheme="postgresql", query=urlencode(query)))
    kwargs: dict[str, Any] = {}
    if schema is not None:
        kwargs["options"] = f"-c search_path={schema}"
    return conninfo, kwargs


class Fleet:
    """The procrastinate worker of one process, owning rate scopes of its targets.

    `targets` maps a target's name (what scope jobs carry) to its provider URL (with
    its key: it never leaves this process). `concurrency` bounds the scopes this process
    owns at once. `heartbeat` and `stalled_after` (seconds) say how soon a dead worker
    is noticed; `recover_every` how often the stalled-jobs recipe runs; `rescan` how
    often an owner looks for intents without being woken; `grace` how long a handover
    waits for creates in flight; `db_timeout` how long a statement waits for a database
    connection before it fails (a database gone fails the scope jobs and lets a stopping
    worker exit, instead of hanging them). `exit_within` (seconds after SIGTERM or
    SIGINT; default: the grace, four `db_timeout`s and 15 s) ends the process even if a
    statement to an unreachable database never returns. `speed` is passed to `connect`
    (served sandboxes).
    """

    def __init__(
        self,
        store: str,
        targets: Mapping[str, str],
        *,
        concurrency: int = 10,
        heartbeat: float = 2.0,
        stalled_after: float = 6.0,
        recover_every: float = 1.0,
        rescan: float = 2.0,
        grace: float = 10.0,
        db_timeout: float = 5.0,
        exit_within: float | None = None,
        speed: float | None = None,
        name: str | None = None,
    ) -> None:
        try:
            import procrastinate  # noqa: PLC0415 - the fleet extra
        except ImportError as exc:
            raise ConfigurationError(
                "the worker fleet needs procrastinate: pip install coursegen[fleet]"
            ) from exc
        if not targets:
            raise ConfigurationError("a worker needs at least one target (--target NAME)")
        if concurrency < 1:
            raise ConfigurationError("concurrency must be at least 1")
        self._store_url = store
        self._targets = dict(targets)
        self._speed = speed
        self.concurrency = concurrency
        self.heartbeat = heartbeat
        self.stalled_after = stalled_after
        self.recover_every = recover_every
        self.rescan = rescan
        self.grace = grace
        self.db_timeout = db_timeout
        self.exit_within = grace + 4 * db_timeout + 15.0 if exit_within is None else exit_within
        self.name = name or f"{socket.gethostname()}-{os.getpid()}"
        self._scopes = {target: target_scope(url, speed=speed) for target, url in targets.items()}
        conninfo, kwargs = _procrastinate_conninfo(store)
        self.app = procrastinate.App(
            connector=procrastinate.PsycopgConnector(
                conninfo=conninfo, kwargs=kwargs, timeout=db_timeout
            )
        )
        self.app.task(name=TASK, queue=QUEUE, pass_context=True)(self._own_scope)
        self._store: SQLStore | None = None
        self._stopping = asyncio.Event()
        self._wakes: dict[str, asyncio.Event] = {}
        self.owned: dict[str, float] = {}  # scope key -> when this process took it
        self._running: set[int] = set()  # procrastinate ids of the scope jobs running here
        self.statements = 0  # store statements of the scopes this process owned

    def __repr__(self) -> str:
        return f"<coursegen.worker.Fleet {self.name} targets={sorted(self._targets)}>"

    # -- the worker ---------------------------------------------------------------------

    async def run(self, *, install_signal_handlers: bool = True) -> None:
        """Run until SIGTERM/SIGINT (or `stop()`), then hand the owned scopes over."""
        store = open_store(self._store_url)
        configure = getattr(store, "configure_pool", None)
        if configure is not None:
            # Every owned scope writes through it: a connection per scope, up to 8 (a
            # create's claim and its id are two commits each, which should not queue
            # behind the other scopes' writes), unless the URL sets `pool_size`.
            size = None if "pool_size=" in self._store_url else min(self.concurrency + 2, 8)
            configure(size=max(size, 4) if size is not None else None, timeout=self.db_timeout)
        await store.open()
        self._store = store
        try:
            async with self.app.open_async():
                await self._install_schema()
                await self.ensure_scope_jobs()
                if install_signal_handlers:
                    loop = asyncio.get_running_loop()
                    for number in (signal.SIGTERM, signal.SIGINT):
                        loop.add_signal_handler(number, self._signalled)
                side = [
                    asyncio.create_task(self._listen(), name="coursegen-listen"),
                    asyncio.create_task(self._recover_forever(), name="coursegen-recover"),
                ]
                worker = asyncio.create_task(
                    self.app.run_worker_async(
                        queues=[QUEUE],
                        name=self.name,
                        concurrency=self.concurrency,
                        install_signal_handlers=False,
                        update_heartbeat_interval=self.heartbeat,
                        stalled_worker_timeout=self.stalled_after,
                        fetch_job_polling_interval=self.rescan,
                        shutdown_graceful_timeout=self.grace + 5.0,
                    )
                )
                stop = asyncio.create_task(self._stopping.wait())
                await asyncio.wait({worker, stop}, return_when=asyncio.FIRST_COMPLETED)
                # Fetching stops at once; the scope jobs see `_stopping`, hand over, end.
                worker.cancel()
                await self._ended(worker)
                for task in (*side, stop):
                    task.cancel()
                await asyncio.gather(*side, stop, return_exceptions=True)
        finally:
            self._store = None
            await store.close()

    async def _ended(self, worker: asyncio.Task[None]) -> None:
        """Wait for procrastinate's worker to end: the handovers, then the scope jobs'
        statuses. With the database gone those writes fail after `db_timeout` each; past
        the grace and a few of those, the worker is left behind and the process goes on
        to exit (the stalled-jobs recipe of the others takes its scopes)."""
        limit = self.grace + 4 * self.db_timeout
        done, _ = await asyncio.wait({worker}, timeout=limit)
        if not done:
            logger.error(
                "coursegen worker %s: not stopped %.0f s after the signal (is the database "
                "gone?): leaving its scope jobs to the stalled-jobs recovery",
                self.name,
                limit,
            )
            return
        with contextlib.suppress(asyncio.CancelledError):
            worker.result()  # what failed it (a database gone) fails the run

    def _signalled(self) -> None:
        """SIGTERM or SIGINT: stop, and make sure the process ends within `exit_within`
        seconds. A partitioned network answers nothing and resets nothing: a statement
        in flight then never returns, and no cancellation reaches the thread it runs in."""
        if self._stopping.is_set():
            return
        self.stop()
        timer = threading.Timer(self.exit_within, self._exit_now)
        timer.daemon = True
        timer.start()

    def _exit_now(self) -> None:
        logger.error(
            "coursegen worker %s: still running %.0f s after the signal (the database does "
            "not answer): exiting; the other workers' recovery takes its scopes",
            self.name,
            self.exit_within,
        )
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(1)

    def stop(self) -> None:
        """Stop fetching scope jobs and hand the owned scopes over (what SIGTERM does)."""
        self._stopping.set()
        for wake in self._wakes.values():
            wake.set()

    async def _install_schema(self) -> None:
        """procrastinate's tables, made once by whichever worker comes first."""
        connector = self.app.connector
        await connector.execute_query_async("SELECT pg_advisory_lock(%(key)s)", key=_SCHEMA_LOCK)
        try:
            row = await connector.execute_query_one_async(
                "SELECT to_regclass('procrastinate_jobs') IS NOT NULL AS present"
            )
            if not row["present"]:
                await self.app.schema_manager.apply_schema_async()
        finally:
            await connector.execute_query_async(
                "SELECT pg_advisory_unlock(%(key)s)", key=_SCHEMA_LOCK
            )

    async def ensure_scope_jobs(self) -> None:
        """One queued scope job per target: the owner-to-be (the queueing lock keeps it one)."""
        import procrastinate.exceptions  # noqa: PLC0415 - the fleet extra

        for target, scope in self._scopes.items():
            with contextlib.suppress(procrastinate.exceptions.AlreadyEnqueued):
                await self.app.configure_task(
                    TASK, lock=scope, queueing_lock=scope, queue=QUEUE
                ).defer_async(target=target, scope=scope)

    async def recover_stalled(self) -> int:
        """The stalled-jobs recipe: scope jobs of workers whose heartbeat stopped are
        marked failed and their scopes deferred afresh. The number recovered."""
        from procrastinate import jobs  # noqa: PLC0415 - the fleet extra

        manager = self.app.job_manager
        stalled = await manager.get_stalled_jobs(
            task_name=TASK, seconds_since_heartbeat=self.stalled_after
        )
        recovered = 0
        for job in stalled:
            if job.id in self._running:
                # Ours, and we are alive (we run this recipe): only our heartbeat is late,
                # a busy loop's. Failing it would hand the scope to a newcomer who waits
                # out a rate window before sending anything.
                continue
            try:
                await manager.finish_job(job, status=jobs.Status.FAILED, delete_job=False)
            except Exception as exc:  # noqa: BLE001 - another worker's recipe took it first
                logger.debug("coursegen worker: stalled job %s already taken: %s", job.id, exc)
                continue
            recovered += 1
            logger.warning("coursegen worker: scope job %s of a stalled worker recovered", job.id)
        await self.ensure_scope_jobs()
        return recovered

    async def _recover_forever(self) -> None:
        while True:
            try:
                await self.recover_stalled()
            except Exception as exc:  # noqa: BLE001 - a failed round is retried next round
                logger.warning("coursegen worker: stalled-jobs recovery failed: %s", exc)
            await asyncio.sleep(self.recover_every)

    async def _listen(self) -> None:
        """Wake a scope's owner when a web process records an intent for it (NOTIFY)."""
        import psycopg  # noqa: PLC0415 - the fleet extra

        from .store._postgres import INTENTS_CHANNEL  # noqa: PLC0415

        conninfo, kwargs = _procrastinate_conninfo(self._store_url)
        while True:
            try:
                async with await psycopg.AsyncConnection.connect(
                    conninfo, autocommit=True, **kwargs
                ) as connection:
                    await connection.execute(f"LISTEN {INTENTS_CHANNEL}")
                    async for notice in connection.notifies():
                        wake = self._wakes.get(notice.payload)
                        if wake is not None:
                            wake.set()
            except psycopg.Error as exc:
                # The owners re-scan meanwhile: a lost listener delays, never loses.
                logger.warning("coursegen worker: LISTEN failed (%s); reconnecting", exc)
                await asyncio.sleep(self.rescan)

    # -- one scope ----------------------------------------------------------------------

    async def _own_scope(self, context: Any, *, target: str, scope: str) -> None:
        """The scope job: own `scope` until this worker stops or a successor takes it."""
        store = self._store
        url = self._targets.get(target)
        if store is None or url is None or self._scopes.get(target) != scope:
            logger.error("coursegen worker: no target %r for scope %s here", target, scope)
            return
        job_id = context.job.id
        self._running.add(job_id)
        try:
            await self._own(store, url, scope)
        finally:
            self._running.discard(job_id)

    async def _own(self, store: SQLStore, url: str, scope: str) -> None:
        """Own `scope` with a new epoch: follow its jobs, send its intents, hand it over."""
        epoch = await store.take_ownership(scope, self.name)
        fenced = store.fenced(scope, epoch)
        wake = self._wakes.setdefault(scope, asyncio.Event())
        self.owned[scope] = time.monotonic()
        logger.info("coursegen worker %s owns %s (epoch %d)", self.name, scope, epoch)
        client = connect(url, store=fenced, **_speed(self._speed))
        client._fleet_owner = True  # noqa: SLF001 - keeps the web processes' share free
        if epoch > 1:
            await anyio.sleep(self._quiet(client))
        try:
            await self._follow(client, fenced, scope, wake)
        finally:
            self.statements += fenced.statements
            self.owned.pop(scope, None)
            self._wakes.pop(scope, None)
        if self._stopping.is_set() and not fenced.fence_lost:
            await self.ensure_scope_jobs()  # the handover: the successor is queued

    def _quiet(self, client: Client) -> float:
        """Loop seconds to wait before a newcomer's first request: the longest rate window
        (the predecessor may have spent the budget just before it died)."""
        windows = [limit.window for limit in client.policy.rate_limits.values()]
        return max(windows, default=0.0) / client.settings.time_scale

    async def _follow(
        self, client: Client, store: SQLStore, scope: str, wake: asyncio.Event
    ) -> None:
        async with client:
            durable = client._durable  # noqa: SLF001 - the worker is the store's own client
            runtime = client._running  # noqa: SLF001
            engine = client._engine  # noqa: SLF001
            assert durable is not None  # noqa: S101 - connected with a store
            idempotent = client.capabilities.idempotent_submit
            rate_scope = client._adapter.rate_scope  # noqa: SLF001
            async with anyio.create_task_group() as sends:
                while not (self._stopping.is_set() or store.fence_lost):
                    wake.clear()
                    try:
                        rows = await store.pending(runtime.name, runtime.endpoint, rate_scope)
                    except StoreError as exc:
                        logger.warning("coursegen worker: %s: %s", scope, exc)
                        rows = []
                    for row in rows:
                        if row.id not in durable.taken and row.request is not None:
                            durable.taken.add(row.id)
                            sends.start_soon(_send, durable, runtime, engine, row, idempotent)
                    with anyio.move_on_after(self.rescan):
                        await wake.wait()
                # Handing over: creates in flight finish; those still waiting for their
                # budget stay PENDING for the successor.
                with anyio.move_on_after(self.grace):
                    await _drain(durable, store, runtime, rate_scope, rescan=self.rescan)
                sends.cancel_scope.cancel()


async def _send(
    durable: Durability, runtime: ProviderRuntime, engine: Engine, row: JobRecord, idempotent: bool
) -> None:
    try:
        await durable.send_intent(runtime, engine, row, idempotent=idempotent)
    except CourseGenError as exc:  # the store failed: the row stays for the successor
        logger.warning("coursegen worker: create %s left for later: %s", row.id, exc)


async def _drain(
    durable: Durability,
    store: SQLStore,
    runtime: ProviderRuntime,
    rate_scope: str,
    *,
    rescan: float,
) -> None:
    """Wait until no create of this scope is on the wire (SENDING).

    The owner's own creates say when the last one ends (`Durability.quiet`: no polling);
    the store is read once then, and again every `rescan` seconds while it still shows
    one (a create this process did not send: the safety net, never a spin).
    """
    while True:
        await durable.quiet()
        sending = [
            record
            for record in await store.jobs(provider=runtime.name, state=SubmitState.SENDING)
            if record.endpoint == runtime.endpoint and record.scope == rate_scope
        ]
        if not sending:
            return
        await anyio.sleep(rescan)
