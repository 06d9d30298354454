"""The contenders of the served fleet: coursegen's engine and two per-job pollers.

Each one gets the same fleet (a fresh simulator process with the same seed, so the k-th
job created lasts as long in every run) and writes into a `Run`. The baselines are what
people write today, LearningStudioAI's docs in hand; every vendor duration they sleep is
divided by the run's `speed`, exactly as coursegen divides its own.

- `naive`: one task per job: POST, then `GET` every 5 s (the docs' floor), and on a 429
  sleep until `RateLimit-Reset` (the docs' header) before asking again.
- `stamina`: the same loop with every request wrapped in stamina's retry (its default
  exponential backoff with jitter, 0.1 s doubling to 5 s; unlimited attempts, so that no
  job is lost to a give-up: the comparison is about pace, not about giving up).
"""

from __future__ import annotations

import math
import time
from datetime import datetime
from typing import TYPE_CHECKING, Any

import anyio
import httpx
import stamina

import coursegen
from coursegen import CourseRequest, Operation, PollPolicy

from ._measure import CountingTransport, Run, Target, measured

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable

    from coursegen import RateLimit

    from ._measure import VendorTime

__all__ = [
    "CONTENDERS",
    "SEED",
    "engine",
    "informed_plan",
    "lower_bound",
    "naive",
    "rate_paced",
    "raw_request_cpu",
    "with_stamina",
]

# The clients' jitter seed: the same engine decisions, so the same figures, every run.
SEED = 1
_POLL_EVERY = 5.0  # vendor seconds: "Poll at most once every 5 seconds"
_COURSES = "/api/v1/courses"
_DONE = frozenset({"completed", "failed"})
# httpx's default pool (100 connections), without the pool timeout: a thousand tasks
# queueing for a connection should wait, not fail (that is not what is compared).
_TIMEOUT = httpx.Timeout(30.0, pool=None)

# stamina reports each retry through logging by default: thousands of lines here.
stamina.instrumentation.set_on_retry_hooks([])


def subject(index: int) -> str:
    return f"Workplace safety, part {index}"


def _record(run: Run, clock: VendorTime, created_at: datetime | None) -> float:
    """Note one result: its detection delay, if the vendor said when it completed."""
    seen = clock.now()
    run.collected += 1
    if created_at is not None:
        run.delays.append(seen - clock.of_wall_clock(created_at))
    return seen


def _created_at(body: dict[str, Any]) -> datetime | None:
    course = body.get("course") or {}
    stamp = course.get("createdAt")
    return datetime.fromisoformat(stamp) if isinstance(stamp, str) else None


async def _fleet(run: Run, clock: VendorTime, one: Callable[[int], Awaitable[float]]) -> None:
    """Start every job's task at once (a catalogue submitted in one go); note the last."""
    start = clock.now()
    last = start

    async def job(index: int) -> None:
        nonlocal last
        last = max(last, await one(index))

    async with anyio.create_task_group() as tg:
        for index in range(run.jobs):
            tg.start_soon(job, index)
    run.time_to_last = last - start


async def engine(target: Target, run: Run) -> None:
    """coursegen: one client, one engine; each job's task submits it and awaits it."""
    clock = target.clock
    transport = CountingTransport(target.transport(), clock)
    client = coursegen.connect(
        target.connect_target(), speed=clock.speed, transport=transport, seed=SEED
    )
    with measured(run, transport):
        async with client:

            async def one(index: int) -> float:
                job = await client.submit(CourseRequest(subject=subject(index)))
                snapshot = await job.wait(timeout=None)
                result = snapshot.result
                created = result.created_at if isinstance(result, coursegen.Course) else None
                return _record(run, clock, created)

            await _fleet(run, clock, one)


def _reset_after(response: httpx.Response) -> float:
    """Vendor seconds the docs say to wait after a 429: `RateLimit-Reset` (or Retry-After)."""
    for header in ("RateLimit-Reset", "Retry-After"):
        value = response.headers.get(header)
        if value is not None:
            try:
                return max(float(value), 0.0)
            except ValueError:
                continue
    return _POLL_EVERY


def _client(target: Target, transport: CountingTransport) -> httpx.AsyncClient:
    return httpx.AsyncClient(
        base_url=target.base_url,
        transport=transport,
        headers={"Authorization": f"Bearer {target.key}"},
        timeout=_TIMEOUT,
    )


async def naive(target: Target, run: Run) -> None:
    """The loop LearningStudioAI's docs suggest, one task per job."""
    clock = target.clock
    transport = CountingTransport(target.transport(), clock)

    async def send(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
        while True:
            try:
                response = await http.request(method, url, **kw)
            except httpx.TransportError:
                await anyio.sleep(clock.loop(_POLL_EVERY))
                continue
            if response.status_code == 429:  # noqa: PLR2004 - the status is the clearest name
                await anyio.sleep(clock.loop(_reset_after(response)))
                continue
            if response.status_code >= 500:  # noqa: PLR2004 - as above
                await anyio.sleep(clock.loop(_POLL_EVERY))
                continue
            return response

    with measured(run, transport):
        async with _client(target, transport) as http:

            async def one(index: int) -> float:
                created = await send(http, "POST", _COURSES, json={"subject": subject(index)})
                job_id = created.json()["jobId"]
                while True:
                    await anyio.sleep(clock.loop(_POLL_EVERY))
                    body = (await send(http, "GET", f"{_COURSES}/jobs/{job_id}")).json()
                    if body["status"] in _DONE:
                        return _record(run, clock, _created_at(body))

            await _fleet(run, clock, one)


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, httpx.HTTPStatusError):
        status = exc.response.status_code
        return status == 429 or status >= 500  # noqa: PLR2004 - the statuses are the names
    return isinstance(exc, httpx.TransportError)


async def with_stamina(target: Target, run: Run) -> None:
    """The same per-job loop, each request retried by stamina (backoff, full jitter)."""
    clock = target.clock
    transport = CountingTransport(target.transport(), clock)

    async def send(http: httpx.AsyncClient, method: str, url: str, **kw: Any) -> httpx.Response:
        async for attempt in stamina.retry_context(
            on=_retryable,
            attempts=None,
            timeout=None,
            # stamina's defaults, in vendor seconds like every other sleep of the run.
            wait_initial=clock.loop(0.1),
            wait_max=clock.loop(5.0),
            wait_jitter=clock.loop(1.0),
        ):
            with attempt:
                response = await http.request(method, url, **kw)
                response.raise_for_status()
                return response
        raise AssertionError("unreachable: unlimited attempts return or raise")

    with measured(run, transport):
        async with _client(target, transport) as http:

            async def one(index: int) -> float:
                created = await send(http, "POST", _COURSES, json={"subject": subject(index)})
                job_id = created.json()["jobId"]
                while True:
                    await anyio.sleep(clock.loop(_POLL_EVERY))
                    body = (await send(http, "GET", f"{_COURSES}/jobs/{job_id}")).json()
                    if body["status"] in _DONE:
                        return _record(run, clock, _created_at(body))

            await _fleet(run, clock, one)


class _Pacer:
    """Spaces sends evenly at a documented rate: one every `window / limit` seconds."""

    def __init__(self, clock: VendorTime, limit: RateLimit) -> None:
        self._gap = clock.loop(limit.window / limit.limit)
        self._next = -math.inf

    async def turn(self) -> None:
        now = anyio.current_time()
        slot = max(now, self._next)
        self._next = slot + self._gap
        await anyio.sleep(slot - now)


async def _paced(target: Target, run: Run, *, first: float, every: float) -> None:
    """One task per job, every request paced at the documented rates (never a 429): POST,
    then a first GET `first` vendor seconds after the create, then every `every` s."""
    clock = target.clock
    transport = CountingTransport(target.transport(), clock)
    creates = _Pacer(clock, _documented_limit(target.vendor, Operation.SUBMIT))
    polls = _Pacer(clock, _documented_limit(target.vendor, Operation.POLL))
    with measured(run, transport):
        async with _client(target, transport) as http:

            async def paced(pacer: _Pacer, method: str, url: str, **kw: Any) -> httpx.Response:
                # Paced at the documented rate, which on virtual time never draws a 429;
                # served, real time jitters across a window's edge now and then, and a
                # 429 is waited out as its `Retry-After` says.
                while True:
                    await pacer.turn()
                    response = await http.request(method, url, **kw)
                    if response.status_code != 429:  # noqa: PLR2004 - HTTP's Too Many Requests
                        return response
                    await anyio.sleep(clock.loop(float(response.headers.get("Retry-After", 1))))

            async def one(index: int) -> float:
                created = await paced(creates, "POST", _COURSES, json={"subject": subject(index)})
                job_id = created.json()["jobId"]
                await anyio.sleep(clock.loop(first))
                while True:
                    body = (await paced(polls, "GET", f"{_COURSES}/jobs/{job_id}")).json()
                    if body["status"] in _DONE:
                        return _record(run, clock, _created_at(body))
                    await anyio.sleep(clock.loop(every))

            await _fleet(run, clock, one)


async def rate_paced(target: Target, run: Run) -> None:
    """A hand-written asyncio loop paced at the documented rates, polling every 5 s."""
    await _paced(target, run, first=_POLL_EVERY, every=_POLL_EVERY)


async def informed_plan(target: Target, run: Run) -> None:
    """A fixed plan that knows the 60-120 s durations in advance: 80 s, then every 20 s."""
    await _paced(target, run, first=80.0, every=20.0)


CONTENDERS: dict[str, Callable[[Target, Run], Awaitable[None]]] = {
    "coursegen": engine,
    "rate-paced loop": rate_paced,
    "informed plan": informed_plan,
    "naive loop": naive,
    "stamina loop": with_stamina,
}


async def raw_request_cpu(target: Target, samples: int, warmup: int = 20) -> float:
    """Client CPU seconds of one plain httpx GET of a job, same server, same process.

    Paced under the vendor's GET limit so that every answer is a real 200, and timed
    around the request alone: the floor any poller pays, against which the others'
    CPU per request is a ratio. The first `warmup` GETs are sent but not timed (first
    use of httpx's and h11's code paths, the connection's setup), as a long run's
    requests are measured in steady state.
    """
    clock = target.clock
    transport = CountingTransport(target.transport(), clock)
    poll_limit = _documented_limit(target.vendor, Operation.POLL)
    pace = clock.loop(poll_limit.window / poll_limit.limit * 1.1)
    total = 0.0
    async with _client(target, transport) as http:
        created = await http.post(_COURSES, json={"subject": subject(0)})
        url = f"{_COURSES}/jobs/{created.json()['jobId']}"
        for index in range(warmup + samples):
            await anyio.sleep(pace)
            before = time.process_time()
            response = await http.get(url)
            if index >= warmup:
                total += time.process_time() - before
            response.raise_for_status()
    return total / samples


def lower_bound(target: Target, jobs: int) -> float:
    """The earliest the last of `jobs` results can be known, the vendor's limits allowing.

    The k-th job created (k from 0) cannot be created before `floor(k / L) * W` vendor
    seconds after the first (at most L creates in any W seconds, a sliding window), and
    its result exists only `d_k` seconds later, `d_k` being the duration the simulator
    drew for the k-th job it created (the same in every run: same seed). A client that
    creates at the limit's pace and asks once, at the very moment each job ends, reaches
    `max_k(floor(k / L) * W + d_k)`; no client can do better.
    """
    created: list[tuple[float, float]] = target.stats.get("jobs", [])[:jobs]
    if len(created) < jobs:
        return math.nan
    submit = _documented_limit(target.vendor, Operation.SUBMIT)
    return max(
        (k // submit.limit) * submit.window + (ends - began)
        for k, (began, ends) in enumerate(created)
    )


def _documented_limit(vendor: str, operation: Operation) -> RateLimit:
    """The vendor's documented limit, as its adapter declares it."""
    policy: object = coursegen.default_registry().get(vendor).adapter.policy
    if not isinstance(policy, PollPolicy):  # an adapter may compute its policy per instance
        raise TypeError(f"{vendor}'s adapter declares no class-level poll policy")
    return policy.rate_limits[operation]
