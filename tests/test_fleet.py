"""A worker fleet survives the SIGKILL of a scope's owner: nothing lost, nothing twice.

Two `coursegen worker` processes on a database of their own, 300 jobs on two keys (two
TutorFlow workspaces, two rate scopes) submitted in fleet mode on a sandbox served by a
third process at speed. Once a third of the results are in, the worker owning the first
scope is SIGKILLed; the other notices the stopped heartbeat, takes the scope over with a
new epoch and finishes its jobs. Checked against the vendor's own record: every intent
ended with its result, no prompt made two vendor jobs, no request met a 429. Run with
`-s` to see the failover time and the time to the last result against the bound.
"""

from __future__ import annotations

import os
import signal
import subprocess

import anyio
import pytest

import coursegen
from coursegen import CourseRequest, FleetJob, JobStatus
from coursegen.worker import target_scope
from fleet_harness import (
    FreezableProxy,
    Unreachable,
    drop_database,
    fleet_database,
    lower_bound,
    now,
    served,
    start_worker,
    stop_workers,
    vendor_counts,
    worker_pid,
)
from stores import _unreachable

pytest.importorskip("procrastinate", reason="the fleet extra is not installed")

PER_KEY = 150
SPEED = 30.0
RATE_LIMIT = 300  # requests a minute per workspace (creates and reads in one pool)
KILL_AT = 100  # results in before the owner of the first scope is killed


async def _owners(store: coursegen.Store) -> dict[str, tuple[str, int, float]]:
    rows = await store.owners()  # type: ignore[attr-defined]
    return {scope: (owner, epoch, taken.timestamp()) for scope, owner, epoch, taken in rows}


async def _fleet(store_url: str, targets: dict[str, str]) -> dict[str, float]:
    names = sorted(targets)
    victim_scope = target_scope(targets[names[0]], speed=SPEED)
    started = now()
    async with (
        coursegen.connect(targets[names[0]], store=store_url, fleet=True, speed=SPEED) as one,
        coursegen.connect(targets[names[1]], store=store_url, fleet=True, speed=SPEED) as two,
    ):
        jobs: list[FleetJob] = []
        for number in range(PER_KEY):
            for label, client in (("a", one), ("b", two)):
                job = await client.submit(CourseRequest(subject=f"Fleet {label} {number:03d}"))
                assert isinstance(job, FleetJob)
                jobs.append(job)
        store = one.store
        assert store is not None
        while True:  # until a third of the results are in
            done = await store.jobs(status=JobStatus.SUCCEEDED)
            if len(done) >= KILL_AT:
                break
            await anyio.sleep(0.1)
        owner, epoch, _ = (await _owners(store))[victim_scope]
        os.kill(worker_pid(owner), signal.SIGKILL)
        killed = now()
        with anyio.fail_after(240):  # generous: a real-process test, not a timing one
            snapshots = [await job.wait() for job in jobs]
        last = max(job.record.updated_at.timestamp() for job in jobs if job.record)
        new_owner, new_epoch, taken = (await _owners(store))[victim_scope]
        records = await store.jobs()
    assert new_owner != owner
    assert new_epoch > epoch
    return {
        "lost": sum(1 for snapshot in snapshots if snapshot.status is not JobStatus.SUCCEEDED),
        "results": sum(1 for snapshot in snapshots if snapshot.result is not None),
        "distinct_vendor_ids": len({record.job_id for record in records}),
        "records": len(records),
        "failover": taken - killed,
        "last_result": last - started,
    }


def test_sigkill_of_a_scope_owner_loses_and_duplicates_nothing():
    """SIGKILL of a scope's owner mid-fleet: 0 jobs lost, 0 duplicate creates, 0 429s."""
    try:
        database = fleet_database()
        store_url = database.__enter__()
    except Unreachable as exc:
        _unreachable(str(exc))
    try:
        with served(SPEED, RATE_LIMIT, 2) as targets:
            workers = [start_worker(store_url, targets, SPEED, concurrency=4) for _ in range(2)]
            try:
                figures = anyio.run(_fleet, store_url, targets)
            finally:
                stop_workers(workers)
            vendor = [vendor_counts(url) for url in list(targets.values())[:1]]
    finally:
        database.__exit__(None, None, None)
    bound = lower_bound(PER_KEY, RATE_LIMIT, SPEED)
    print(  # noqa: T201 - the figures are this test's report (shown with -s)
        f"\nfleet: {2 * PER_KEY} jobs on 2 keys, 2 workers, owner SIGKILLed after {KILL_AT} "
        f"results: failover {figures['failover']:.1f} s; time to last result "
        f"{figures['last_result']:.1f} s vs bound {bound:.1f} s "
        f"({figures['last_result'] / bound:.2f}x); lost {figures['lost']}; vendor: "
        f"{vendor[0]['made']} jobs made, {vendor[0]['duplicates']} duplicate creates, "
        f"{vendor[0]['rate_limited']} 429s, {vendor[0]['requests']} requests"
    )
    assert figures["lost"] == 0
    assert figures["results"] == 2 * PER_KEY
    assert figures["distinct_vendor_ids"] == figures["records"] == 2 * PER_KEY
    assert vendor[0]["made"] == 2 * PER_KEY
    assert vendor[0]["duplicates"] == 0
    assert vendor[0]["rate_limited"] == 0


async def _owned(store_url: str) -> bool:
    async with coursegen.open_store(store_url) as store:
        return bool(await store.owners())


def _until_owned(store_url: str) -> None:
    """Wait until a worker owns a scope (real time: the worker is another process)."""
    for _ in range(600):  # a minute at the most
        if anyio.run(_owned, store_url):
            return
        anyio.run(anyio.sleep, 0.1)
    assert anyio.run(_owned, store_url), "the worker never took its scope"


def _exit_status_after_sigterm(worker: subprocess.Popen[str]) -> int | None:
    """SIGTERM to `worker`, then its exit status; None if it still ran two minutes on."""
    worker.send_signal(signal.SIGTERM)
    try:
        return worker.wait(timeout=120)  # generous: it stops, or it hangs
    except subprocess.TimeoutExpired:
        return None


def test_a_worker_whose_database_is_gone_stops_on_sigterm():
    """A worker owning a scope whose database is dropped under it still stops on SIGTERM
    (its writes fail after the pool's wait instead of hanging the shutdown)."""
    try:
        database = fleet_database()
        store_url = database.__enter__()
    except Unreachable as exc:
        _unreachable(str(exc))
    try:
        with served(SPEED, RATE_LIMIT, 1) as targets:
            worker = start_worker(
                store_url, targets, SPEED, concurrency=2, stderr=subprocess.DEVNULL
            )
            try:
                _until_owned(store_url)
                drop_database(store_url)
                code = _exit_status_after_sigterm(worker)
                print(f"\nworker with its database gone: exit status {code} after SIGTERM")  # noqa: T201 - shown with -s
                assert code is not None, "the worker did not stop on SIGTERM"
            finally:
                stop_workers([worker])
    finally:
        database.__exit__(None, None, None)


def test_a_worker_whose_database_stops_answering_stops_on_sigterm():
    """A worker owning a scope whose database stops answering mid-run (a partition: no
    answer, no reset, the statements in flight never return) still ends on SIGTERM."""
    try:
        database = fleet_database()
        store_url = database.__enter__()
    except Unreachable as exc:
        _unreachable(str(exc))
    proxy = FreezableProxy()
    try:
        with served(SPEED, RATE_LIMIT, 1) as targets:
            worker = start_worker(
                proxy.url(store_url),
                targets,
                SPEED,
                concurrency=2,
                stderr=subprocess.DEVNULL,
                extra=("--db-timeout", "2"),
            )
            try:
                _until_owned(store_url)
                proxy.freeze()
                code = _exit_status_after_sigterm(worker)
                print(f"\nworker with its database not answering: exit status {code}")  # noqa: T201 - shown with -s
                assert code is not None, "the worker did not stop on SIGTERM"
            finally:
                stop_workers([worker])
    finally:
        proxy.close()
        database.__exit__(None, None, None)
