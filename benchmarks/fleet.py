"""The fleet benchmark: one command, every scenario, figures printed with pass/miss.

    uv run --group bench python -m benchmarks.fleet            # the full run (minutes)
    uv run --group bench python -m benchmarks.fleet --quick    # a smoke run (a minute)
    uv run --group bench python -m benchmarks.fleet --write-docs   # also docs/benchmarks.md

Scenarios (see benchmarks/README.md for what each measures and why):

1. virtual: every contender against the in-process simulator on trio's MockClock. Time
   moves only when every task waits, so the CPU the contenders burn never bends vendor
   time: requests, 429s, detection delays and time-to-last-result are exact.
2. served: every contender against a simulator served on loopback by uvicorn in its own
   process, on asyncio, at `--speed`. Real sockets, real CPU and memory; a contender
   that saturates the CPU bends time (its requests take longer, in vendor seconds), which
   the `p99 latency` column shows.
3. overhead: 10,000 jobs tracked by one client in-process: CPU per poll against a raw
   httpx request, memory per tracked job, `as_completed` order.
4. mixed: one client per vendor, all in one process; needs the TutorFlow and EduMate
   simulators. Only the check is written: it reports them missing (`MIXED` lists each
   vendor's request); the run itself is still to be written.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in {None, ""}:  # run as `python benchmarks/fleet.py`: import as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # what `python -m` would have set

import anyio
import trio.testing

import coursegen
from coursegen import AssessmentRequest, CourseRequest

from ._contenders import CONTENDERS, lower_bound, raw_request_cpu, subject
from ._measure import Run, in_process, served
from ._overhead import overhead
from ._report import plot, table, target_lines, targets

if TYPE_CHECKING:
    from collections.abc import Callable

    from ._overhead import Overhead

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-fleet.svg"
VENDOR = "learningstudio"

# The mixed fleet: one entry per vendor, the request its jobs make. A vendor whose
# plugin or simulator is not installed is reported and the mixed fleet skipped.
MIXED: dict[str, Callable[[int], coursegen.Request]] = {
    "learningstudio": lambda i: CourseRequest(subject=subject(i)),
    "tutorflow": lambda i: CourseRequest(subject=subject(i)),
    "edumate": lambda i: AssessmentRequest(topic=subject(i), collection="edu_mate_bench"),
}


def _virtual(contender: str, jobs: int) -> Run:
    """One contender on one fleet, in-process, on trio's virtual clock."""
    run = Run("virtual", contender, jobs)

    async def main() -> None:
        with in_process(VENDOR) as target:
            await CONTENDERS[contender](target, run)
        run.bound = lower_bound(target, jobs)
        _cross_check(run, target.stats)

    clock = trio.testing.MockClock(autojump_threshold=0)
    anyio.run(main, backend="trio", backend_options={"clock": clock})
    return run


def _served(contender: str, jobs: int, speed: float) -> Run:
    """One contender on one fleet, against a fresh simulator process on loopback."""
    run = Run("served", contender, jobs)
    with served(VENDOR, speed) as target:
        anyio.run(CONTENDERS[contender], target, run, backend="asyncio")
    run.bound = lower_bound(target, jobs)
    _cross_check(run, target.stats)
    return run


def _cross_check(run: Run, stats: dict[str, Any]) -> None:
    """The simulator's own counts beside the client's: they must agree."""
    by_status: dict[str, int] = stats.get("by_status", {})
    run.server_requests = stats.get("requests")
    run.server_rate_limited = sum(n for key, n in by_status.items() if key.endswith(" 429"))
    if run.server_requests != run.requests or run.server_rate_limited != run.rate_limited:
        run.notes.append(
            f"client counted {run.requests} requests / {run.rate_limited} 429s, the "
            f"simulator {run.server_requests} / {run.server_rate_limited}"
        )


def _raw(speed: float) -> float:
    with served(VENDOR, speed) as target:
        return anyio.run(raw_request_cpu, target, 300, backend="asyncio")


def _mixed_missing() -> list[str]:
    providers = coursegen.default_registry().providers
    return [name for name in MIXED if name not in providers or providers[name].sandbox is None]


def _machine() -> str:
    model = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (
        f"{os.cpu_count()} CPUs ({model}), {platform.system()} {platform.release()}, "
        f"Python {platform.python_version()}"
    )


def _parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks.fleet",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--sizes",
        type=int,
        nargs="+",
        default=[100, 300, 1000],
        help="fleet sizes (jobs on one key) of the virtual-time scenario",
    )
    parser.add_argument(
        "--served-sizes",
        type=int,
        nargs="+",
        default=[100, 300, 1000],
        help="fleet sizes of the served scenario",
    )
    parser.add_argument(
        "--served-baselines-up-to",
        type=int,
        default=300,
        help="largest served fleet the baselines run on (they saturate "
        "the CPU beyond; the virtual-time scenario has them at every size)",
    )
    parser.add_argument(
        "--speed",
        type=float,
        default=50.0,
        help="vendor seconds per real second of the served simulator",
    )
    parser.add_argument("--overhead-jobs", type=int, default=10_000)
    parser.add_argument("--overhead-speed", type=float, default=500.0)
    parser.add_argument(
        "--target-jobs", type=int, default=1000, help="the fleet size the targets are checked at"
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small fleets (30, 100) and 1,000 jobs of overhead: a smoke run",
    )
    parser.add_argument(
        "--skip", nargs="*", default=[], choices=["virtual", "served", "overhead", "mixed"]
    )
    parser.add_argument(
        "--trace-served",
        action="store_true",
        help="trace memory in the served runs (KB/job); bends their CPU and time",
    )
    parser.add_argument(
        "--write-docs",
        action="store_true",
        help=f"write {DOCS.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}",
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.sizes = args.served_sizes = [30, 100]
        args.overhead_jobs = 1000
        args.target_jobs = 100
    return args


def main(argv: list[str] | None = None) -> int:  # noqa: C901 - one linear script
    args = _parse(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    virtual: list[Run] = []
    served_runs: list[Run] = []
    raw_cpu: float | None = None
    over: tuple[Overhead, Overhead] | None = None
    notes: list[str] = []

    if "virtual" not in args.skip:
        for jobs in args.sizes:
            for contender in CONTENDERS:
                run = _virtual(contender, jobs)
                virtual.append(run)
                print(f"virtual  {contender:13} {jobs:6,} jobs: {_brief(run)}", flush=True)

    if "served" not in args.skip:
        # Tracing multiplies the client's CPU per request several times over, and served
        # at `speed` N that CPU becomes N times as much vendor time: only on request.
        if args.trace_served:
            tracemalloc.start()
        raw_cpu = _raw(args.speed)
        print(f"served   raw httpx GET: {raw_cpu * 1e6:,.0f} µs of client CPU", flush=True)
        for jobs in args.served_sizes:
            for contender in CONTENDERS:
                if contender != "coursegen" and jobs > args.served_baselines_up_to:
                    continue
                run = _served(contender, jobs, args.speed)
                served_runs.append(run)
                print(f"served   {contender:13} {jobs:6,} jobs: {_brief(run)}", flush=True)
        tracemalloc.stop()

    if "overhead" not in args.skip:
        over = anyio.run(overhead, args.overhead_jobs, args.overhead_speed, backend="asyncio")
        timing, memory = over
        print(
            f"overhead {timing.jobs:,} jobs: {timing.cpu_per_poll * 1e6:,.0f} µs CPU per poll "
            f"vs {timing.raw_cpu * 1e6:,.0f} µs raw httpx ({timing.cpu_ratio:.2f}x), "
            f"{memory.bytes_per_job / 1024:.1f} KB per tracked job, "
            f"{timing.yielded:,} yielded",
            flush=True,
        )

    if "mixed" not in args.skip:
        missing = _mixed_missing()
        why = (
            "no simulator installed for " + ", ".join(missing) + " (`coursegen providers`)"
            if missing
            else "the mixed-fleet run is still to be written"
        )
        notes.append(
            f"Mixed fleet (all three vendors) not run: {why}. Each vendor's request is "
            "listed in `MIXED` in benchmarks/fleet.py."
        )
        print(notes[-1])

    elapsed = time.perf_counter() - started
    found = targets(virtual, over, jobs=args.target_jobs, label="virtual time")
    if served_runs:
        found += targets(served_runs, None, jobs=args.target_jobs, label=f"served {args.speed:g}x")
    sections = _sections(virtual, served_runs, raw_cpu, over, found, notes, args)
    print("\n".join(sections))
    print(f"\n({elapsed:,.0f} s)")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "machine": _machine(),
        "args": vars(args),
        "virtual": [r.to_json() for r in virtual],
        "served": [r.to_json() for r in served_runs],
        "raw_request_cpu": raw_cpu,
        "overhead": [o.to_json() for o in over] if over else None,
        "seconds": elapsed,
    }
    (OUT / f"fleet-{stamp}.json").write_text(json.dumps(raw, indent=2))
    plot(virtual, served_runs, OUT / "fleet.svg")
    if args.write_docs:
        plot(virtual, served_runs, PLOT)
        DOCS.write_text(_page(sections, args, elapsed))
        print(f"wrote {DOCS.relative_to(ROOT)} and {PLOT.relative_to(ROOT)}")
    return 0


def _brief(run: Run) -> str:
    text = (
        f"{run.collected:,} results, {run.requests:,} requests ({run.requests_per_job:.2f}/job), "
        f"{run.rate_limited:,} 429s, delay median {run.delay_median:.1f} s p99 "
        f"{run.delay_p99:.1f} s, last {run.time_to_last:,.0f} s = {run.bound_ratio:.3f}x bound"
    )
    return text + "".join(f" [{note}]" for note in run.notes)


def _sections(  # noqa: PLR0917 - private: the parts of one report
    virtual: list[Run],
    served_runs: list[Run],
    raw_cpu: float | None,
    over: tuple[Overhead, Overhead] | None,
    found: list[tuple[str, str, bool | None]],
    notes: list[str],
    args: argparse.Namespace,
) -> list[str]:
    out = ["", "## Targets", "", *target_lines(found)]
    if virtual:
        out += ["", "## Fleet on virtual time (exact vendor time, in-process)", ""]
        out += table(virtual, served=False)
    if served_runs:
        out += ["", f"## Fleet served on loopback ({args.speed:g}x, separate process)", ""]
        out += table(served_runs, served=True)
        if raw_cpu is not None:
            out += ["", f"A raw httpx GET in the same run: {raw_cpu * 1e6:,.0f} µs of client CPU."]
    if over is not None:
        timing, memory = over
        out += [
            "",
            f"## Engine overhead: {timing.jobs:,} jobs in-process ({timing.speed:g}x, asyncio)",
            "",
            "| figure | value |",
            "|---|---|",
            f"| CPU per poll, engine | {timing.cpu_per_poll * 1e6:,.0f} µs |",
            f"| CPU per raw httpx GET, same transport | {timing.raw_cpu * 1e6:,.0f} µs |",
            f"| ratio | {timing.cpu_ratio:.2f}x |",
            f"| polls sent | {timing.polls:,} |",
            f"| results yielded by as_completed | {timing.yielded:,} |",
            f"| rank correlation, yield order vs completion | {timing.order_correlation:.4f} |",
            f"| median detection delay | {timing.delay_median:,.0f} vendor s |",
            f"| polling phase | {timing.wall_seconds:,.0f} s real |",
        ]
        out += [
            f"| memory per tracked job at {k} | {v / 1024:.1f} KB |"
            for k, v in memory.bytes_at.items()
        ]
    if notes:
        out += ["", *notes]
    return out


_INTRO = """\
# Benchmarks: a fleet of jobs on one key

An LMS that generates a catalogue submits hundreds or thousands of jobs at once, often on
one key. The pollers people use today run one loop per job and know nothing of the key's
shared rate limit. This page compares coursegen's engine with two such loops on the same
fleet, in the same process, against LearningStudioAI's simulator (jobs of 60-120 s of
vendor time; 30 creates and 120 polls a minute per key).

*Generated by `{command}` on {date} (no commit recorded), on {machine}. Every figure is
reproduced by that command; raw outputs land in `benchmarks/out/`.*

![Detection delay and requests per job against fleet size](benchmarks-fleet.svg)
"""

_METHOD = """\
## How it is measured

- **Contenders.** *coursegen*: one client; one task per job submits it and awaits
  `job.wait()`; the engine decides every poll. *naive loop*: what the vendor's docs
  suggest, one task per job: POST, then GET every 5 s, and on a 429 sleep until
  `RateLimit-Reset`. *stamina loop*: the same loop with each request retried by stamina
  (its default backoff, 0.1 s doubling to 5 s with jitter; unlimited attempts, so no job
  is lost to giving up). All sleeps are in vendor seconds divided by the run's speed.
- **Same fleet.** Each run gets a fresh simulator with the same seed: the k-th job
  created lasts as long for every contender.
- **Requests and 429s** are counted by a transport wrapped around the client's; the
  simulator's own log is compared after each run (a mismatch would be printed).
- **Detection delay**: vendor time from a job's completion to the client holding its
  result. Completion is the course's `createdAt` (the simulator's wall clock is a fixed
  epoch plus vendor time); the client's vendor time is the simulator's own clock
  (in-process) or, served, the simulator process's clock read through the shared
  monotonic clock (it reports the loop time at which its vendor clock started).
- **Lower bound** of time-to-last-result: the k-th create cannot happen before
  `floor(k/30) * 60` s after the first (30 creates in any 60 s), and its result exists
  `d_k` later (`d_k` as the simulator drew it): `max_k(floor(k/30) * 60 + d_k)`.
- **Virtual time** (trio `MockClock`, in-process): the clock moves only when every task
  waits, so the figures are exact whatever CPU a contender burns. **Served** (uvicorn
  in its own process, asyncio, real sockets) adds client CPU per request
  (`time.process_time()`, the simulator is in another process), peak traced memory per
  job (`tracemalloc`, every served run traced alike) and the p99 latency of a request
  in vendor seconds: at speed N a real millisecond is N vendor milliseconds, so a
  contender that saturates the CPU shows it there, and its time figures are bent.
- **Overhead** (10,000 jobs, in-process, asyncio): the simulator admits every create
  and the client's adapter has its POST limit removed (no key can create 10,000 jobs
  in seconds); the GET budget stays. CPU per poll over the polling phase against a raw
  httpx GET timed around the request alone, both through the same in-process transport
  (both include the simulator's work). Memory: `tracemalloc` in a second pass, leaving
  out what the simulator and Starlette allocate, beyond the same process before any job.
"""


def _page(sections: list[str], args: argparse.Namespace, elapsed: float) -> str:
    command = "uv run --group bench python -m benchmarks.fleet --write-docs"
    if args.quick:
        command += " --quick"
    intro = _INTRO.format(
        command=command,
        date=datetime.now(UTC).strftime("%Y-%m-%d"),
        machine=_machine(),
    )
    body = "\n".join(sections).strip()
    return f"{intro}\n{body}\n\nThe whole run took {elapsed / 60:.1f} minutes.\n\n{_METHOD}"


if __name__ == "__main__":
    raise SystemExit(main())
