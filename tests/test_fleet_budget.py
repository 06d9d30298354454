"""The fleet's shared rate budget: a sliding log in PostgreSQL, on the database's clock.

A scope's owner keeps `limit - web_share(limit)` places of each vendor limit in memory
(its `RateBudget`, exact and free of database round trips); the web processes that send
requests themselves (exports, public pages, polls of resumed jobs) take the web share
from `coursegen_rate_take`, one log per scope under an advisory lock. Every figure here
is counted from the times the database gave: no assertion reads a real-time duration.
"""

from __future__ import annotations

import anyio
import pytest

import coursegen
from coursegen import CourseRequest, JobStatus
from coursegen._adapter import Operation
from coursegen._ratelimit import RateBudget, SharedBudget, web_share
from coursegen.store import open_store

pytestmark = [pytest.mark.anyio, pytest.mark.real_clock]

LIMIT = 20  # the vendor's requests per window on the key
WINDOW = 0.5  # seconds of the database's clock
WEB = 4  # web processes, each with connections of its own
PER_WEB = 3  # requests each web process sends
SPEED = 100.0  # the sandbox's vendor seconds per real second
SCOPE = "coursegen:test:host:scope-a:pool"


class _Recorded:
    """A store as a web process's budget uses it, noting each time the database gave."""

    def __init__(self, store, stamps: list[float]) -> None:
        self._store = store
        self._stamps = stamps
        self.settled = 0

    async def rate_take(self, scope, limit, window, in_flight):
        return await self._store.rate_take(scope, limit, window, in_flight)

    async def rate_settle(self, scope, entry):
        at = await self._store.rate_settle(scope, entry)
        self._stamps.append(at)  # the request counts from its answer: where the log has it
        self.settled += 1
        return at


async def _database_now(store) -> float:
    rows = await store._read("SELECT extract(epoch FROM clock_timestamp())", ())
    return float(rows[0][0])


def _most_in_a_window(stamps: list[float], window: float) -> int:
    """The most stamps any half-open window of `window` seconds holds."""
    ordered = sorted(stamps)
    most = 0
    start = 0
    for end, at in enumerate(ordered):
        while ordered[start] <= at - window:
            start += 1
        most = max(most, end - start + 1)
    return most


async def test_owner_and_web_processes_together_never_exceed_the_limit(postgres_store_url):
    """An owner and four web processes (separate connections) hammer one scope: in no
    window of the database's clock do their requests together exceed the vendor's
    limit; the owner keeps all but the web share, the web processes never pass theirs."""
    share = web_share(LIMIT)
    owner_stamps: list[float] = []
    web_stamps: list[float] = []
    done = anyio.Event()
    async with open_store(postgres_store_url) as owner_store:
        owner = RateBudget(LIMIT, WINDOW, reserved=share)

        async def own() -> None:
            # The owner's budget on the database's clock: each request counted at once.
            while not done.is_set():
                now = await _database_now(owner_store)
                at = owner.available_at(now)
                if at <= now:
                    owner.settle(owner.take(now), now)
                    owner_stamps.append(now)
                else:
                    await anyio.sleep(at - now)

        async def web(stores: list[_Recorded]) -> None:
            async with open_store(postgres_store_url) as store:
                recorded = _Recorded(store, web_stamps)
                stores.append(recorded)
                budget = SharedBudget(LIMIT, WINDOW, store=recorded, key=SCOPE, in_flight=60.0)
                for _ in range(PER_WEB):
                    sent_at = await budget.acquire()
                    budget.settle(sent_at, anyio.current_time())
                    await budget.settle_shared(sent_at)

        stores: list[_Recorded] = []
        async with anyio.create_task_group() as owner_group:
            owner_group.start_soon(own)
            async with anyio.create_task_group() as webs:
                for _ in range(WEB):
                    webs.start_soon(web, stores)
            done.set()
    every = owner_stamps + web_stamps
    print(  # noqa: T201 - the figures are this test's report (shown with -s)
        f"\nshared budget: {LIMIT}/{WINDOW:g} s, web share {share}: owner {len(owner_stamps)} "
        f"requests (most in a window {_most_in_a_window(owner_stamps, WINDOW)}), {WEB} web "
        f"processes {len(web_stamps)} (most {_most_in_a_window(web_stamps, WINDOW)}); "
        f"together at most {_most_in_a_window(every, WINDOW)} in a window"
    )
    assert len(web_stamps) == WEB * PER_WEB
    assert sum(store.settled for store in stores) == WEB * PER_WEB
    assert _most_in_a_window(web_stamps, WINDOW) <= share
    assert _most_in_a_window(owner_stamps, WINDOW) <= LIMIT - share
    assert _most_in_a_window(every, WINDOW) <= LIMIT


async def test_a_request_in_the_air_keeps_its_place_until_answered(postgres_store_url):
    """The log counts an unsettled entry past its window (its request may reach the
    vendor late); once answered it counts from then, and leaves with its window."""
    async with open_store(postgres_store_url) as store:
        first, _ = await store.rate_take("s", 1, 0.001, 60.0)
        assert first is not None
        await anyio.sleep(0.01)  # the window has passed on any clock; the answer has not
        entry, wait = await store.rate_take("s", 1, 0.001, 60.0)
        assert entry is None
        assert wait > 0
        await store.rate_settle("s", first)
        await anyio.sleep(0.01)
        entry, _ = await store.rate_take("s", 1, 0.001, 60.0)
        assert entry is not None
        # A full log says how long until its oldest place frees: at most the window.
        settled, _ = await store.rate_take("t", 1, 30.0, 60.0)
        assert settled is not None
        await store.rate_settle("t", settled)
        entry, wait = await store.rate_take("t", 1, 30.0, 60.0)
        assert entry is None
        assert 0 < wait <= 30.0


async def test_a_fleet_web_process_takes_its_polls_from_the_shared_budget(postgres_store_url):
    """A fleet-mode client's own requests (here the polls of a job it resumed) go through
    the database's log, the web share of the key's limit; a scope owner's budget keeps
    that share free."""
    async with coursegen.connect("tutorflow", sandbox=True, speed=SPEED) as plain:
        simulator = plain.sandbox
        job = await plain.submit(CourseRequest(subject="Shared budget"))
        token = job.token
    async with coursegen.connect(
        "tutorflow", sandbox=simulator, store=postgres_store_url, fleet=True, speed=SPEED
    ) as web:
        budget = web._running.sender.budget(Operation.POLL)
        assert isinstance(budget, SharedBudget)
        limit = web.policy.rate_limits[Operation.POLL].limit
        assert budget.share == web_share(limit)
        resumed = await web.resume(token)
        snapshot = await resumed.wait(timeout=60)
        assert snapshot.status is JobStatus.SUCCEEDED
        rows = await web.store._read("SELECT count(*) FROM coursegen_rate_log", ())
        assert int(rows[0][0]) >= 1
    owner = coursegen.connect("tutorflow", sandbox=simulator, speed=SPEED)
    owner._fleet_owner = True
    async with owner:
        own = owner._running.sender.budget(Operation.POLL)
        assert own is not None
        assert not own.shared
        assert own.limit == limit - web_share(limit)
