"""The worker-fleet benchmark: 1, 2 and 4 `coursegen worker`s x 1, 10 and 100 keys.

    uv run python -m benchmarks.workers            # every scenario (a few minutes)
    uv run python -m benchmarks.workers --quick    # 1 and 2 workers x 1 and 10 keys

Each scenario runs on a PostgreSQL database of its own (127.0.0.1:5432, dropped after),
a TutorFlow sandbox served by its own process at `--speed` with one workspace per key,
and the workers as real processes. A web-side client per key submits its share of the
jobs in fleet mode and waits on the handles (read from the store); the workers own one
scope each and send everything. Printed per scenario: requests per job and 429s (the
vendor's own log), time to the last result against the bound the vendor's limits allow
(`lower_bound`: each job's create and one read in the owner's share of the key's pool,
plus the shortest job), and store statements per job on both sides. The owners'
statements follow state changes (an intent, its claim, its id, each new status: the
`changes/job` column counts the history entries they wrote): polls that change nothing
write nothing, so `st/change` stays flat while `polls/job` grows with polling. `up` is how long the
workers took to start and own every scope; the time to the last result is counted from
then (the first submit).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

if __package__ in {None, ""}:  # run as `python benchmarks/workers.py`: import as a package
    sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
    __package__ = "benchmarks"  # what `python -m` would have set

import anyio

# The fleet harness (its database, served sandbox and worker processes) is the failover
# test's: one copy, so the benchmark measures exactly what the test checks.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import coursegen
from coursegen import CourseRequest, FleetJob, JobStatus
from fleet_harness import (
    fleet_database,
    lower_bound,
    served,
    start_worker,
    stop_workers,
    vendor_counts,
)

RATE_LIMIT = 300  # requests a minute per workspace (creates and reads share one pool)
WEB_POOL = 8  # connections of the web side's store (every key's client shares them)


async def _submit_and_wait(
    store: str, targets: dict[str, str], per_key: int, speed: float, launched: float
) -> tuple[float, float, int, int, int]:
    jobs: list[FleetJob] = []
    statements = 0
    # One store (one connection pool) for every key's client, as one web process has.
    async with coursegen.open_store(f"{store}?pool_size={WEB_POOL}") as opened:
        # The clock starts once the workers are up: every scope has its owner.
        while len(await opened.owners()) < len(targets):  # type: ignore[attr-defined] # noqa: ASYNC110 - rows of other processes: nothing to wait on but a read
            await anyio.sleep(0.05)
        started = time.monotonic()
        up = started - launched
        async with anyio.create_task_group() as tg:

            async def one_key(number: int, url: str) -> None:
                nonlocal statements
                view = opened.shared()
                async with coursegen.connect(url, store=view, fleet=True, speed=speed) as client:
                    mine = []
                    for index in range(per_key):
                        request = CourseRequest(subject=f"Bench {number:03d} {index:03d}")
                        job = await client.submit(request)
                        if not isinstance(job, FleetJob):
                            raise TypeError("a fleet client returns fleet handles")
                        mine.append(job)
                    jobs.extend(mine)
                    for job in mine:
                        await job.wait()
                    statements += client.store.statements if client.store is not None else 0

            for number, url in enumerate(targets.values()):
                tg.start_soon(one_key, number, url)
        elapsed = time.monotonic() - started
    done = sum(1 for job in jobs if job.snapshot.status is JobStatus.SUCCEEDED)
    return up, elapsed, done, len(jobs), statements


async def _changes(store: str) -> int:
    """State changes the owners wrote: one history entry per change of a job."""
    async with coursegen.open_store(store) as opened:
        rows = await opened._read("SELECT count(*) FROM coursegen_history", ())  # noqa: SLF001
    return int(rows[0][0])


def scenario(workers: int, keys: int, jobs: int, speed: float) -> dict[str, float]:
    per_key = max(1, jobs // keys)
    with fleet_database() as store, served(speed, RATE_LIMIT, keys) as targets:
        launched = time.monotonic()
        processes = [start_worker(store, targets, speed, concurrency=keys) for _ in range(workers)]
        try:
            up, elapsed, done, total, web_statements = anyio.run(
                _submit_and_wait, store, targets, per_key, speed, launched
            )
        finally:
            owner_statements = stop_workers(processes)
        vendor = vendor_counts(next(iter(targets.values())))
        changes = anyio.run(_changes, store)
    bound = lower_bound(per_key, RATE_LIMIT, speed)
    return {
        "workers": workers,
        "keys": keys,
        "jobs": total,
        "done": done,
        "requests_per_job": vendor["requests"] / total,
        "polls_per_job": vendor["polls"] / total,
        "changes_per_job": changes / total,
        "rate_limited": vendor["rate_limited"],
        "duplicates": vendor["duplicates"],
        "seconds": elapsed,
        "up": up,
        "bound": bound,
        "owner_statements_per_job": owner_statements / total,
        "web_statements_per_job": web_statements / total,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a smoke run: 4 small scenarios")
    parser.add_argument("--speed", type=float, default=30.0, help="vendor seconds per second")
    parser.add_argument("--jobs", type=int, default=None, help="jobs per scenario")
    args = parser.parse_args(argv)
    workers_list, keys_list = ((1, 2), (1, 10)) if args.quick else ((1, 2, 4), (1, 10, 100))
    jobs = args.jobs or (100 if args.quick else 300)
    header = (
        f"{'workers':>7} {'keys':>5} {'jobs':>5} {'done':>5} {'up':>6} {'req/job':>8} "
        f"{'polls/job':>9} "
        f"{'429s':>5} {'dups':>5} {'last result':>11} {'bound':>7} {'ratio':>6} "
        f"{'changes/job':>11} {'owner st/job':>12} {'st/change':>9} {'web st/job':>10}"
    )
    print(f"fleet benchmark: TutorFlow served at {args.speed:g}x, {RATE_LIMIT}/min per key")
    print(header)
    misses = 0
    for workers in workers_list:
        for keys in keys_list:
            row = scenario(workers, keys, jobs, args.speed)
            ok = row["done"] == row["jobs"] and not row["rate_limited"] and not row["duplicates"]
            misses += not ok
            per_change = row["owner_statements_per_job"] / max(row["changes_per_job"], 1e-9)
            print(
                f"{row['workers']:>7} {row['keys']:>5} {row['jobs']:>5} {row['done']:>5} "
                f"{row['up']:>5.1f}s {row['requests_per_job']:>8.2f} {row['polls_per_job']:>9.2f} "
                f"{row['rate_limited']:>5} {row['duplicates']:>5} {row['seconds']:>10.1f}s "
                f"{row['bound']:>6.1f}s {row['seconds'] / row['bound']:>6.2f} "
                f"{row['changes_per_job']:>11.2f} {row['owner_statements_per_job']:>12.1f} "
                f"{per_change:>9.2f} {row['web_statements_per_job']:>10.1f}  "
                f"{'pass' if ok else 'MISS'}",
                flush=True,
            )
    return 1 if misses else 0


if __name__ == "__main__":
    sys.exit(main())
