"""A catalogue with a job store: interrupted, killed, and run again, nothing is sent twice."""

from __future__ import annotations

import io
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from pathlib import Path

import anyio
import pytest

import coursegen
from coursegen.batch import FleetDisplay, read_batch, run_batch
from coursegen.sandbox import Sandbox
from coursegen_learningstudio.sandbox import DEMO_KEY, Account, LearningStudioSandbox
from served import serve_learningstudio, stop, vendor_log

CREATE_PATH = "/api/v1/courses"


@pytest.fixture(autouse=True)
def no_configuration(monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test starts with no provider or store configured in the environment."""
    for name in ("COURSEGEN_URL", "COURSEGEN_CONFIG", "COURSEGEN_STORE", "LEARNINGSTUDIO_API_KEY"):
        monkeypatch.delenv(name, raising=False)


def catalogue(tmp_path: Path, count: int) -> Path:
    path = tmp_path / "catalogue.txt"
    path.write_text("".join(f"Subject number {n:03d}\n" for n in range(1, count + 1)))
    return path


def creates(sandbox: Sandbox) -> Counter[str]:
    """How many jobs the vendor made for each subject."""
    return Counter(
        request.json()["subject"]
        for request in sandbox.requests
        if request.method == "POST" and request.path == CREATE_PATH and request.status == 202
    )


def store_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'jobs.db'}"


class CancelAfter(FleetDisplay):
    """A display that cancels the run once `count` rows have been created (a Ctrl-C)."""

    def __init__(self, scope: anyio.CancelScope, count: int) -> None:
        super().__init__(io.StringIO(), io.StringIO(), name="cut", quiet=True)
        self.scope = scope
        self.count = count
        self.seen = 0

    def changed(self, fleet: object, run: object) -> None:
        self.seen += 1
        if self.seen >= self.count:
            self.scope.cancel()


# The store works in threads: a virtual clock would jump over their real time (every job
# deadline at once), so tests with a store run on the real clock and assert outcomes only.
FAST = 100.0  # vendor seconds per real second, in-process


@pytest.mark.real_clock
@pytest.mark.anyio
async def test_an_interrupted_batch_resumes_without_submitting_twice(tmp_path: Path) -> None:
    """Cut off mid-fleet (as Ctrl-C does) and run again on the same store: the rerun takes
    up the jobs already made, creates only the rest, and every row ends once."""
    _, rows = read_batch(catalogue(tmp_path, 200))
    out = tmp_path / "results.jsonl"
    sandbox = LearningStudioSandbox(seed=3, speed=FAST)
    store = store_url(tmp_path)
    with anyio.CancelScope() as scope:
        async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
            await run_batch(client, rows, out=out, display=CancelAfter(scope, 70))
    made_before = sum(creates(sandbox).values())
    # Cut mid-fleet: some made, not all. How many depends on the machine's speed (jobs
    # advance on the real clock here), so the bound says only that the cut fell inside.
    assert 0 < made_before < 200
    async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
        report = await run_batch(client, rows, out=out)
    made = creates(sandbox)
    assert max(made.values()) == 1  # no subject was created twice
    assert report.figures.resumed >= made_before - 1
    assert report.figures.unfinished <= 1  # at most the one create cut off in flight
    assert report.figures.succeeded + report.figures.unfinished == 200
    assert len(made) - report.figures.unfinished <= report.figures.succeeded <= len(made)
    keys = [json.loads(line)["key"] for line in out.read_text().splitlines()]
    assert len(keys) == len(set(keys)) == report.figures.succeeded


@pytest.mark.real_clock
@pytest.mark.anyio
async def test_a_finished_batch_run_again_sends_nothing(tmp_path: Path) -> None:
    """A rerun of a batch that ended reads every row from the store: no request at all."""
    _, rows = read_batch(catalogue(tmp_path, 5))
    store = store_url(tmp_path)
    async with coursegen.connect("sandbox+learningstudio://", store=store, speed=FAST) as client:
        first = await run_batch(client, rows)
    async with coursegen.connect("sandbox+learningstudio://", store=store, speed=FAST) as client:
        again = await run_batch(client, rows)
        assert client.sandbox is not None
        assert client.sandbox.requests == []
    assert first.exit_status == again.exit_status == 0
    assert again.figures.resumed == 5
    assert [row.job_id for row in again.rows] == [row.job_id for row in first.rows]


@pytest.mark.real_clock
@pytest.mark.anyio
async def test_a_refused_create_is_sent_again_on_the_rerun(tmp_path: Path) -> None:
    """Rows the vendor refused (a spent plan) made no job: once the plan is topped up, the
    rerun sends them, and only them."""
    _, rows = read_batch(catalogue(tmp_path, 4))
    sandbox = LearningStudioSandbox(keys={DEMO_KEY: Account(monthly_credits=2)}, speed=FAST)
    store = store_url(tmp_path)
    async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
        first = await run_batch(client, rows)
    assert first.exit_status == 3
    sandbox.accounts[DEMO_KEY] = Account()
    async with coursegen.connect("learningstudio", sandbox=sandbox, store=store) as client:
        again = await run_batch(client, rows)
    assert again.exit_status == 0
    assert again.figures.succeeded == 4
    assert sorted(creates(sandbox).values()) == [1, 1, 1, 1]


@pytest.mark.real_clock
@pytest.mark.anyio
async def test_the_batch_reports_its_fleet_to_the_store(tmp_path: Path) -> None:
    """A batch on a store writes fleet samples (figures, ETA, budgets) the dashboard reads;
    the last one is the end of the run."""
    _, rows = read_batch(catalogue(tmp_path, 3))
    url = store_url(tmp_path)
    async with coursegen.connect("sandbox+learningstudio://", store=url, speed=FAST) as client:
        await run_batch(client, rows, batch_id="autumn")
        assert client.store is not None
        samples = [json.loads(sample) for sample in await client.store.samples()]
    assert {sample["batch"] for sample in samples} == {"autumn"}
    last = samples[-1]
    assert (last["total"], last["succeeded"], last["running"]) == (3, 3, 0)
    submit = next(use for use in last["budgets"] if use["name"] == "submit")
    assert (submit["limit"], submit["sent"], submit["rate_limited"]) == (30, 3, 0)


# -- across processes: a served sandbox, a batch killed and run again ---------------------------

SPEED = 40.0  # vendor seconds per real second: the 200 creates take 10 s


def _batch(path: Path, target: str, store: str, out: Path) -> list[str]:
    command = [sys.executable, "-m", "coursegen", "batch", str(path), "--provider", target]
    return [*command, "--speed", str(SPEED), "--store", store, "--out", str(out), "--json"]


def _made(target: str) -> Counter[str]:
    return Counter(
        json.loads(request["body"])["subject"]
        for request in vendor_log(target)["requests"]
        if request["method"] == "POST"
        and request["path"] == CREATE_PATH
        and request["status"] in (200, 201, 202)
    )


def _interrupt_and_rerun(
    tmp_path: Path, how: signal.Signals
) -> tuple[int, int, dict, Counter[str], list[dict]]:
    path = catalogue(tmp_path, 200)
    store, out = store_url(tmp_path), tmp_path / "results.jsonl"
    server, target = serve_learningstudio(SPEED)
    try:
        first = subprocess.Popen(  # noqa: S603 - our own command
            _batch(path, target, store, out), stdout=subprocess.PIPE, text=True
        )
        assert first.stdout is not None
        running = 0
        for line in first.stdout:
            event = json.loads(line)
            running += event["event"] == "row" and event["status"] == "running"
            if running >= 60:  # two bursts of creates in: mid-fleet
                break
        os.kill(first.pid, how)
        first_status = first.wait(timeout=30)
        first.stdout.close()
        rerun = subprocess.run(  # noqa: S603 - our own command
            _batch(path, target, store, out),
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        summary = json.loads(rerun.stdout.splitlines()[-1])
        made = _made(target)
    finally:
        stop(server)
    records = [json.loads(line) for line in out.read_text().splitlines()]
    return first_status, rerun.returncode, summary, made, records


@pytest.mark.real_clock
def test_a_killed_batch_resumes_on_its_store_without_duplicates(tmp_path: Path) -> None:
    """SIGKILL mid-fleet (a crash), then the same command again: the vendor made at most one
    job per row, every job it made is followed to its end, and `--out` holds each row once."""
    killed, status, summary, made, records = _interrupt_and_rerun(tmp_path, signal.SIGKILL)
    duplicates = sum(count - 1 for count in made.values())
    succeeded = [record for record in records if record["status"] == "succeeded"]
    print(  # noqa: T201 - the figures of the must-show, seen with -s
        f"\nbatch killed (SIGKILL) and run again: vendor made {sum(made.values())} jobs for "
        f"{len(made)} rows, {duplicates} duplicated; rerun: {summary['resumed']} taken up, "
        f"{summary['creates']} created, {summary['succeeded']} succeeded, "
        f"{summary['unfinished']} unfinished; results in --out: {len(records)}"
    )
    assert killed == -signal.SIGKILL
    assert duplicates == 0
    assert summary["resumed"] >= 60
    # Only a create cut off mid-send may stay unknown: one sender, so at most one.
    assert summary["unfinished"] <= 1
    assert status == (5 if summary["unfinished"] else 0)  # 5: rows unfinished
    assert summary["succeeded"] + summary["unfinished"] == 200
    assert len(succeeded) == summary["succeeded"] == len(records)
    assert len({record["key"] for record in records}) == len(records)
    assert len(made) - summary["unfinished"] <= len(succeeded) <= len(made)


@pytest.mark.real_clock
def test_an_interrupted_batch_exits_130_and_the_rerun_finishes_it(tmp_path: Path) -> None:
    """Ctrl-C (SIGINT) stops the batch with exit status 130; the same command then ends
    every row, with no job made twice."""
    interrupted, status, summary, made, records = _interrupt_and_rerun(tmp_path, signal.SIGINT)
    assert interrupted == 130
    assert max(made.values()) == 1
    assert status == (5 if summary["unfinished"] else 0)  # 5: rows unfinished
    assert summary["succeeded"] + summary["unfinished"] == 200
    assert len(records) == summary["succeeded"]
