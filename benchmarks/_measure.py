"""What every run measures, the same way for the engine and for the baselines.

- Requests and 429s are counted on the client side, by a transport wrapped around the
  real one, so a contender cannot under-report; the served simulator's own log
  cross-checks them after the run.
- Time is the vendor's: `VendorTime` reads the served simulator's clock (see
  `_server.py`), so detection delay and time-to-last-result are in vendor seconds,
  whatever `speed` the run used.
- CPU is `time.process_time()` of this process over the run (the simulator runs in
  another process and is not counted); memory is `tracemalloc`'s peak over the run
  beyond what was traced when the run started.
"""

from __future__ import annotations

import json
import math
import statistics
import subprocess
import sys
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from contextlib import contextmanager
from datetime import datetime
from typing import IO, TYPE_CHECKING, Any

import attrs
import httpx

import coursegen
from coursegen.sandbox import Sandbox

if TYPE_CHECKING:
    from collections.abc import Iterator, Sequence

__all__ = [
    "CountingTransport",
    "Run",
    "Target",
    "VendorTime",
    "in_process",
    "measured",
    "percentile",
    "served",
    "simulator_stats",
]


class CountingTransport(httpx.AsyncBaseTransport):
    """Counts every request a client sends and every 429 it gets, around a real transport."""

    def __init__(self, inner: httpx.AsyncBaseTransport, clock: VendorTime) -> None:
        self._inner = inner
        self._clock = clock
        self.requests = 0
        self.polls = 0
        self.rate_limited = 0
        self.server_errors = 0
        self.transport_errors = 0
        # Vendor seconds from sending to the answer's head: how much the run itself bends
        # time (served at `speed` N, one real millisecond is N vendor milliseconds).
        self.latencies: list[float] = []

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if request.method == "GET":
            self.polls += 1
        started = self._clock.now()
        try:
            response = await self._inner.handle_async_request(request)
        except httpx.TransportError:
            self.transport_errors += 1
            raise
        self.latencies.append(self._clock.now() - started)
        if response.status_code == 429:  # noqa: PLR2004 - the status is the clearest name
            self.rate_limited += 1
        elif response.status_code >= 500:  # noqa: PLR2004 - as above
            self.server_errors += 1
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@attrs.frozen
class VendorTime:
    """The simulator's clock as the benchmark reads it, in vendor seconds.

    Served, `now` reads the other process's clock through the shared monotonic clock
    (see `_server.py`); in-process, it is the simulator's own `vendor_now`.
    """

    now: Callable[[], float]
    speed: float
    epoch: datetime

    def of_wall_clock(self, moment: datetime) -> float:
        """Vendor seconds of a wall-clock time the vendor wrote (e.g. a course's createdAt)."""
        return (moment - self.epoch).total_seconds()

    def loop(self, vendor_seconds: float) -> float:
        """Loop seconds a baseline sleeps for `vendor_seconds` of the vendor's time."""
        return vendor_seconds / self.speed


@attrs.define
class Target:
    """One simulated vendor a run talks to: where, with which key, on which clock."""

    vendor: str
    base_url: str
    key: str
    clock: VendorTime
    transport: Callable[[], httpx.AsyncBaseTransport]
    stats: dict[str, Any] = attrs.field(factory=dict)
    sandbox: Sandbox | None = None  # in-process only: the simulator's own state

    def ends_at(self, job_id: str) -> float:
        """When the in-process simulator finished `job_id`, read from its state."""
        job = getattr(self.sandbox, "jobs", {})[job_id]
        return float(job.ends_at)

    def connect_target(self) -> str:
        """The `connect()` target: `vendor+http://KEY@127.0.0.1:PORT` or `vendor://KEY@host`."""
        scheme, rest = self.base_url.split("://", 1)
        plain = "+http" if scheme == "http" else ""
        return f"{self.vendor}{plain}://{self.key}@{rest}"


def simulator_stats(sandbox: Sandbox) -> dict[str, Any]:
    """What the simulator saw: requests by method and status, and its jobs' timelines.

    Jobs are (created, ends) in vendor seconds, in creation order, where the simulator's
    records have such fields (the bound of a fleet needs durations in the order drawn).
    """
    jobs: list[tuple[float, float]] = []
    for job in getattr(sandbox, "jobs", {}).values():
        created = getattr(job, "created_at", None)
        ends = getattr(job, "ends_at", None)
        if isinstance(created, float) and isinstance(ends, float):
            jobs.append((created, ends))
    by_status = Counter(f"{r.method} {r.status}" for r in sandbox.requests)
    return {"requests": len(sandbox.requests), "by_status": dict(by_status), "jobs": jobs}


@contextmanager
def served(vendor: str, speed: float) -> Iterator[Target]:
    """Start `vendor`'s simulator in a new process; stop it and read its log on exit."""
    process = subprocess.Popen(  # noqa: S603 - our own module, run by our own interpreter
        [sys.executable, "-m", "benchmarks._server", vendor, repr(speed)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    stdin: IO[str] | None = process.stdin
    stdout: IO[str] | None = process.stdout
    if stdin is None or stdout is None:
        raise RuntimeError("the simulator process has no pipes")
    try:
        line = stdout.readline()
        if not line:
            raise RuntimeError(f"the {vendor} simulator process did not start")
        hello = json.loads(line)
        t0, rate = float(hello["t0"]), float(hello["speed"])
        target = Target(
            vendor=vendor,
            base_url=hello["url"],
            key=hello["key"],
            clock=VendorTime(
                now=lambda: (time.monotonic() - t0) * rate,
                speed=rate,
                epoch=datetime.fromisoformat(hello["epoch"]),
            ),
            transport=httpx.AsyncHTTPTransport,
        )
        yield target
        stdin.close()
        target.stats = json.loads(stdout.readline() or "{}")
        process.wait(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()


@contextmanager
def in_process(vendor: str, **options: Any) -> Iterator[Target]:
    """`vendor`'s simulator in this process (through its ASGI transport), on loop time."""
    info = coursegen.default_registry().get(vendor)
    if info.sandbox is None:
        raise RuntimeError(f"{vendor} ships no simulator")
    sandbox = info.sandbox(**options)
    target = Target(
        vendor=vendor,
        base_url=sandbox.base_url,
        key=sandbox.demo_key,
        clock=VendorTime(now=sandbox.vendor_now, speed=sandbox.speed, epoch=sandbox.clock.epoch),
        transport=sandbox.transport,
        sandbox=sandbox,
    )
    try:
        yield target
    finally:
        target.stats = simulator_stats(sandbox)


@attrs.define
class Run:
    """The figures of one contender on one fleet (vendor seconds unless named otherwise)."""

    scenario: str
    contender: str
    jobs: int
    collected: int = 0
    requests: int = 0
    polls: int = 0
    rate_limited: int = 0
    errors: int = 0
    delays: list[float] = attrs.field(factory=list, repr=False)
    time_to_last: float = math.nan
    bound: float = math.nan
    cpu_seconds: float = 0.0
    peak_bytes: int = 0
    wall_seconds: float = 0.0
    latency_p99: float = math.nan  # vendor seconds: the run's own distortion of time
    server_requests: int | None = None
    server_rate_limited: int | None = None
    notes: list[str] = attrs.field(factory=list)

    @property
    def delay_median(self) -> float:
        return statistics.median(self.delays) if self.delays else math.nan

    @property
    def delay_p99(self) -> float:
        return percentile(self.delays, 99)

    @property
    def requests_per_job(self) -> float:
        return self.requests / self.jobs if self.jobs else math.nan

    @property
    def cpu_per_request(self) -> float:
        """Client CPU seconds per request sent (every request is a poll or a create)."""
        return self.cpu_seconds / self.requests if self.requests else math.nan

    @property
    def bytes_per_job(self) -> float:
        return self.peak_bytes / self.jobs if self.jobs else math.nan

    @property
    def bound_ratio(self) -> float:
        return self.time_to_last / self.bound if self.bound > 0 else math.nan

    def to_json(self) -> dict[str, Any]:
        data = attrs.asdict(self)
        data.pop("delays")
        data |= {
            "delay_median": self.delay_median,
            "delay_p99": self.delay_p99,
            "requests_per_job": self.requests_per_job,
            "cpu_per_request": self.cpu_per_request,
            "bytes_per_job": self.bytes_per_job,
            "bound_ratio": self.bound_ratio,
        }
        return data


def percentile(values: Sequence[float], q: float) -> float:
    """The q-th percentile, nearest rank (no interpolation between two observations)."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(math.ceil(q / 100 * len(ordered)), 1)
    return ordered[rank - 1]


@contextmanager
def measured(run: Run, transport: CountingTransport) -> Iterator[None]:
    """Fill `run`'s CPU, memory, wall time and request counts from what the block did."""
    tracing = tracemalloc.is_tracing()
    tracemalloc.reset_peak()
    memory_before = tracemalloc.get_traced_memory()[0]
    cpu_before = time.process_time()
    wall_before = time.perf_counter()
    try:
        yield
    finally:
        run.cpu_seconds = time.process_time() - cpu_before
        run.wall_seconds = time.perf_counter() - wall_before
        if tracing:
            run.peak_bytes = max(tracemalloc.get_traced_memory()[1] - memory_before, 0)
        run.requests = transport.requests
        run.polls = transport.polls
        run.rate_limited = transport.rate_limited
        run.errors = transport.server_errors + transport.transport_errors
        run.latency_p99 = percentile(transport.latencies, 99)
