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
3. cpu: engine CPU per poll against a raw httpx GET at 1k, 10k and 100k tracked jobs,
   in interleaved windows (`_cpu.py`).
4. overhead: 10,000 jobs (`--overhead-jobs`) tracked by one client in-process: `as_completed`
   over the whole fleet (every result, its order), memory per tracked job.
5. mixed: one client per vendor (LearningStudioAI, TutorFlow, EduMate), all in one
   process on trio's MockClock, each vendor's fleet submitted at once and awaited with
   `as_completed` per client, in one task group: results, requests per job, 429s,
   detection delay, and EduMate results lost to expiry (target: none).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import tracemalloc
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

if __package__ in {None, ""}:  # run as `python benchmarks/fleet.py`: import as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # what `python -m` would have set

import anyio

from coursegen.testing import virtual_backend

from ._contenders import CONTENDERS, SEED, lower_bound, raw_request_cpu
from ._cpu import cpu_rounds
from ._imports import import_lines, import_times
from ._measure import Run, in_process, served
from ._mixed import MixedRun, mixed, mixed_missing
from ._overhead import overhead
from ._report import cpu_lines, mixed_table, mixed_targets, plot, table, target_lines, targets

if TYPE_CHECKING:
    from ._cpu import CpuSize
    from ._imports import ImportTime
    from ._overhead import Overhead

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "benchmarks" / "out"
DOCS = ROOT / "docs" / "benchmarks.md"
PLOT = ROOT / "docs" / "benchmarks-fleet.svg"
VENDOR = "learningstudio"
SCENARIOS = ("virtual", "served", "cpu", "overhead", "mixed", "imports")


def _sizes(text: str) -> list[int]:
    """`10000` or `1000,10000,100000`: fleet sizes."""
    return [int(part) for part in text.split(",") if part.strip()]


def _virtual(contender: str, jobs: int) -> Run:
    """One contender on one fleet, in-process, on trio's virtual clock."""
    run = Run("virtual", contender, jobs)

    async def main() -> None:
        with in_process(VENDOR) as target:
            await CONTENDERS[contender](target, run)
        run.bound = lower_bound(target, jobs)
        _cross_check(run, target.stats)

    anyio.run(main, **_on_virtual_trio())
    return run


def _on_virtual_trio() -> dict[str, Any]:
    """`anyio.run` options for trio on an autojumping `MockClock`, its scheduler seeded
    (the tests' own virtual time, `coursegen.testing.virtual_backend`), with the global
    RNG seeded too: stamina's jitter draws from it (the clients get `seed=SEED`).

    Unseeded, trio's scheduler interleaves the tasks woken at one virtual instant
    differently each run, and coursegen's requests per job at 1,000 jobs moved between
    3.33 and 3.41.
    """
    random.seed(SEED)
    backend, options = virtual_backend("trio")
    return {"backend": backend, "backend_options": options}


def _mixed(jobs: int, edumate_workers: int) -> list[MixedRun]:
    """Every vendor's fleet at once, one client each, on trio's virtual clock."""
    fleet = dict.fromkeys(("learningstudio", "tutorflow", "edumate"), jobs)
    return anyio.run(
        lambda: mixed(fleet, seed=SEED, edumate_workers=edumate_workers), **_on_virtual_trio()
    )


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
    parser.add_argument(
        "--mixed-jobs",
        type=int,
        default=300,
        help="jobs per vendor in the mixed fleet (LearningStudioAI courses, TutorFlow "
        "courses, EduMate assessments)",
    )
    parser.add_argument(
        "--mixed-edumate-workers",
        type=int,
        default=10,
        help="RQ workers of the EduMate simulator in the mixed fleet (its default, one, "
        "queues 300 assessments for six vendor hours)",
    )
    parser.add_argument(
        "--contenders",
        nargs="+",
        default=list(CONTENDERS),
        choices=list(CONTENDERS),
        help="who runs in the virtual and served scenarios (default: all)",
    )
    parser.add_argument(
        "--cpu-sizes",
        "--jobs",
        type=_sizes,
        nargs="+",
        default=[[1000, 10_000, 100_000]],
        help="tracked jobs of the CPU-per-poll scenario (`1000 10000` or `1000,10000`)",
    )
    parser.add_argument(
        "--cpu-rounds", "--rounds", type=int, default=5, help="interleaved rounds per size"
    )
    parser.add_argument(
        "--cpu-polls",
        type=int,
        default=3000,
        help="GETs per round and side of the CPU scenario: engine polls, as many raw GETs",
    )
    parser.add_argument(
        "--cpu-window",
        type=int,
        default=250,
        help="GETs per window of the CPU scenario (a round alternates raw and engine ones)",
    )
    parser.add_argument("--cpu-speed", type=float, default=1500.0)
    parser.add_argument(
        "--overhead-jobs",
        type=_sizes,
        default=[10_000],
        help=(
            "fleet sizes of the overhead scenario (`10000,100000`; traced, 100,000 jobs "
            "take about half an hour)"
        ),
    )
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
        "--skip",
        nargs="*",
        default=[],
        choices=SCENARIOS,
    )
    parser.add_argument(
        "--only",
        nargs="+",
        choices=SCENARIOS,
        help="run these scenarios and skip the others (`--only cpu --jobs 1000,10000`)",
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
    args.cpu_sizes = [size for group in args.cpu_sizes for size in group]
    if args.only:
        args.skip = [name for name in SCENARIOS if name not in args.only]
    if args.quick:
        args.sizes = args.served_sizes = [30, 100]
        args.overhead_jobs = [1000]
        args.cpu_sizes = [1000, 10_000]
        args.target_jobs = 100
        args.mixed_jobs = 30
    return args


def main(argv: list[str] | None = None) -> int:  # noqa: C901, PLR0912, PLR0915 - one linear script
    args = _parse(argv)
    OUT.mkdir(parents=True, exist_ok=True)
    started = time.perf_counter()
    virtual: list[Run] = []
    served_runs: list[Run] = []
    raw_cpu: float | None = None
    over: list[Overhead] = []
    cpu: list[CpuSize] = []
    imports: list[ImportTime] = []
    mixed_runs: list[MixedRun] = []
    notes: list[str] = []

    if "virtual" not in args.skip:
        for jobs in args.sizes:
            for contender in args.contenders:
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
            for contender in args.contenders:
                if contender != "coursegen" and jobs > args.served_baselines_up_to:
                    continue
                run = _served(contender, jobs, args.speed)
                served_runs.append(run)
                print(f"served   {contender:13} {jobs:6,} jobs: {_brief(run)}", flush=True)
        tracemalloc.stop()

    if "cpu" not in args.skip:
        cpu = anyio.run(
            partial(
                cpu_rounds,
                args.cpu_sizes,
                rounds=args.cpu_rounds,
                polls=args.cpu_polls,
                chunk=args.cpu_window,
                speed=args.cpu_speed,
            ),
            backend="asyncio",
        )
        for line in cpu_lines(cpu)[2:]:
            print(f"cpu      {line}", flush=True)

    if "overhead" not in args.skip:
        over = anyio.run(overhead, args.overhead_jobs, args.overhead_speed, backend="asyncio")
        for size in over:
            print(
                f"overhead {size.jobs:,} jobs: {size.yielded:,} yielded (rank correlation "
                f"{size.order_correlation:.4f}, median delay {size.delay_median:,.0f} s), "
                f"{size.bytes_per_job / 1024:.1f} KB per tracked job",
                flush=True,
            )

    if "mixed" not in args.skip:
        missing = mixed_missing()
        if missing:
            notes.append(
                "Mixed fleet (all three vendors) not run: no simulator installed for "
                + ", ".join(missing)
                + " (`coursegen providers`). Each vendor's request is listed in `MIXED` "
                "in benchmarks/_mixed.py."
            )
            print(notes[-1])
        else:
            mixed_runs = _mixed(args.mixed_jobs, args.mixed_edumate_workers)
            for run in mixed_runs:
                print(f"mixed    {run.contender:13} {run.jobs:6,} jobs: {_brief(run)}", flush=True)

    if "imports" not in args.skip:
        imports = import_times()
        for line in import_lines(imports)[2:]:
            print(f"imports  {line}", flush=True)

    elapsed = time.perf_counter() - started
    found = targets(virtual, over, jobs=args.target_jobs, label="virtual time")
    if served_runs:
        found += targets(served_runs, [], jobs=args.target_jobs, label=f"served {args.speed:g}x")
    if mixed_runs:
        found += mixed_targets(mixed_runs)
    sections = _sections(virtual, served_runs, raw_cpu, over, mixed_runs, found, notes, args)
    if cpu:
        sections += [
            "",
            "## Engine CPU per poll against a raw httpx GET (interleaved rounds, asyncio)",
            "",
            *cpu_lines(cpu),
            "",
            (
                "Each round measures a window of raw httpx GETs, then a window of the engine's "
                "polls, in one process on one in-process simulator per size (its GET budget "
                "kept, its create budget and credits lifted, jobs that never end while "
                "measured). GC is timed apart through `gc.callbacks`: a whole-heap collection "
                "lands in whichever window set it off, so the ratio with GC swings from round "
                "to round while the ratio without it holds; a size passes when both medians "
                "are within the target. Most measured polls of a 10,000-job fleet, and all of a "
                "100,000-job one, are their job's first: their request is built, not reused. "
                "See `benchmarks/_cpu.py`."
            ),
        ]
    if imports:
        sections += [
            "",
            "## Import time (fresh interpreters)",
            "",
            *import_lines(imports),
            "",
            (
                "The median of seven interleaved runs each; the baseline imports, after "
                "`coursegen`, what its import loaded up front before imports were made "
                "lazy (the client and HTTP stack, the store, the sandboxes, the providers). "
                "See `benchmarks/_imports.py`."
            ),
        ]
    print("\n".join(sections))
    print(f"\n({elapsed:,.0f} s)")

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    raw = {
        "machine": _machine(),
        "args": vars(args),
        "virtual": [r.to_json() for r in virtual],
        "served": [r.to_json() for r in served_runs],
        "raw_request_cpu": raw_cpu,
        "overhead": [o.to_json() for o in over],
        "cpu": [c.to_json() for c in cpu],
        "mixed": [r.to_json() for r in mixed_runs],
        "imports": [t.to_json() for t in imports],
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
        f"{run.delay_p99:.1f} s, last {run.time_to_last:,.0f} s"
    )
    if isinstance(run, MixedRun):
        text += f", {run.expired:,} expired, {run.failed:,} failed"
    else:
        text += f" = {run.bound_ratio:.3f}x bound"
    return text + "".join(f" [{note}]" for note in run.notes)


def _sections(  # noqa: PLR0917 - private: the parts of one report
    virtual: list[Run],
    served_runs: list[Run],
    raw_cpu: float | None,
    over: list[Overhead],
    mixed_runs: list[MixedRun],
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
    if over:
        out += [
            "",
            f"## The engine at scale: one client, in-process ({over[0].speed:g}x, asyncio)",
            "",
            (
                "| tracked jobs | results via as_completed | rank correlation, yield vs end "
                "| median delay s | polls | KB/job submitted | KB/job polled once |"
            ),
            "|---|---|---|---|---|---|---|",
        ]
        for size in over:
            followed = (
                [
                    f"{size.yielded:,}",
                    f"{size.order_correlation:.4f}",
                    f"{size.delay_median:,.0f}",
                    f"{size.polls:,}",
                ]
                if size.followed
                else ["-"] * 4
            )
            out.append(
                f"| {size.jobs:,} | "
                + " | ".join(followed)
                + f" | {size.bytes_submitted / 1024:.1f} | {size.bytes_polled / 1024:.1f} |"
            )
        out += [
            "",
            (
                "Results: the whole fleet followed to its end (jobs of 10,000-15,000 vendor "
                "s, all in flight at once; the GET budget of 120 a minute is what delays "
                "them). Memory: a second pass under `tracemalloc` in which no job ends, "
                "beyond the same process with the client open; the simulator's allocations "
                "left out. See `benchmarks/_overhead.py`."
            ),
        ]
    if mixed_runs:
        out += [
            "",
            (
                "## Mixed fleet: three vendors, one client each (virtual time, "
                f"EduMate with {args.mixed_edumate_workers} RQ workers)"
            ),
            "",
        ]
        out += mixed_table(mixed_runs)
    if notes:
        out += ["", *notes]
    return out


_INTRO = """\
# Benchmarks: a fleet of jobs on one key

An LMS that generates a catalogue submits hundreds or thousands of jobs at once, often on
one key. The pollers people use today run one loop per job and know nothing of the key's
shared rate limit. This page compares coursegen's engine with two such loops on the same
fleet, in the same process, against LearningStudioAI's simulator (jobs of 60-120 s of
vendor time; 30 creates and 120 polls a minute per key), then runs one client per vendor
(LearningStudioAI, TutorFlow, EduMate) side by side in one process.

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
- **At scale** (10,000 jobs, in-process, asyncio): the simulator admits
  every create and the client's adapter has its POST limit removed (no key can create
  10,000 jobs in seconds); the GET budget stays. The fleet is followed to its end with
  `as_completed`. Memory: `tracemalloc` in a second pass where no job ends,
  leaving out what the simulator and Starlette allocate, beyond the same process with
  the client open and no job: once every job is submitted, and once each was polled.
- **Mixed fleet** (virtual time, in-process): one `coursegen.connect(name,
  sandbox=simulator)` client per vendor, default settings (`keep_results=True`), each
  vendor's fleet submitted at once and awaited with `as_completed`, the three clients in
  one task group. Simulators at their defaults but EduMate's RQ workers (its one worker
  would queue a fleet for hours; `--mixed-edumate-workers`); EduMate keeps a result
  500 s after its job ends. A simulator given to `connect` brings its own transport, so
  requests and 429s come from the simulator's log, and a job's detection is the first
  poll the vendor answered 200 at or after the job's end. *Lost to expiry*: jobs that
  ended EXPIRED (the vendor forgot the result before it was fetched).
- **Reproducibility.** Every coursegen client gets a fixed `seed=` (its poll jitter);
  the virtual-time runs also seed the global RNG (stamina's jitter) and trio's
  scheduler's, so coursegen's virtual-time figures repeat exactly. The other
  contenders' move by up to about 1% from run to run (the naive loop's between 27.4
  and 27.8 req/job at 1,000 jobs): their thousands of tasks meet 429s in an order
  these seeds do not pin down. The served
  raw-httpx figure leaves out 20 warm-up GETs.
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
