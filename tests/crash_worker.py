"""The two processes of the crash test: `submit` (killed mid-fleet) and `recover`.

    python crash_worker.py submit TARGET STORE COUNT SPEED
    python crash_worker.py recover TARGET STORE SPEED LOG_URL

`submit` records and sends COUNT creates at the vendor's pace, printing one line per
create the vendor answered, until it is killed. `recover` opens the same store, takes
up what it finds, matches lost creates to the vendor's webhooks, waits for every job to
end, and prints one JSON line of counts.
"""

# ruff: noqa: T201 - a worker process reports to its parent test on stdout

from __future__ import annotations

import json
import sys

import anyio
import httpx

import coursegen
from coursegen import CourseRequest, JobStatus, SubmitState

CALLBACK = "https://127.0.0.1:9/hooks"  # nobody listens: the vendor's record keeps the body


def subject(number: int) -> str:
    return f"Fleet course {number:03d}"


async def submit(target: str, store: str, count: int, speed: float) -> None:
    async with coursegen.connect(target, store=store, speed=speed) as client:

        async def one(number: int) -> None:
            job = await client.submit(CourseRequest(subject=subject(number), callback_url=CALLBACK))
            print(f"submitted {job.id}", flush=True)

        async with anyio.create_task_group() as tg:
            for number in range(count):
                tg.start_soon(one, number)
        print("all submitted", flush=True)
        await anyio.sleep_forever()


async def _reconcile(client: coursegen.Client, log_url: str) -> list[coursegen.Job]:
    """Feed the vendor's `course.created` webhooks naming unknown jobs to `reconcile`, as a
    webhook receiver would, until no create of unknown outcome is left, or every job the
    vendor made has ended (sent its webhook) and none is left to match."""
    found: list[coursegen.Job] = []
    async with httpx.AsyncClient() as http:
        while True:
            records = await client.jobs(provider=client.provider)
            if not any(record.state is SubmitState.UNKNOWN for record in records):
                break
            log = (await http.get(log_url)).json()
            made = sum(
                1
                for request in log["requests"]
                if request["method"] == "POST" and request["status"] in (200, 201, 202)
            )
            for hook in log["webhooks"]:
                event = client.read_webhook(hook["headers"], hook["body"].encode())
                if event.kind != "course.created" or event.job_id is None:
                    continue
                if await client.job(event.job_id) is not None:
                    continue
                job = await client.reconcile(event)
                if job is not None:
                    found.append(job)
            if len(log["webhooks"]) >= made:
                break  # every job the vendor made has ended and been offered
            await anyio.sleep(0.5)
    return found


async def recover(target: str, store: str, speed: float, log_url: str) -> None:
    async with coursegen.connect(target, store=store, speed=speed) as client:
        jobs = await client.recovered()
        unknown_at_open = sum(
            1 for record in await client.jobs() if record.state is SubmitState.UNKNOWN
        )
        ended = 0
        async for _ in client.as_completed(jobs):
            ended += 1
        reconciled = await _reconcile(client, log_url)
        for job in reconciled:
            await job.wait()
        records = await client.jobs()
        summary = {
            "recovered": len(jobs),
            "ended": ended,
            "unknown_at_open": unknown_at_open,
            "reconciled": len(reconciled),
            "records": len(records),
            "succeeded": sum(1 for r in records if r.status is JobStatus.SUCCEEDED),
            "statements": client.store.statements if client.store else 0,
        }
    print(json.dumps(summary), flush=True)


if __name__ == "__main__":
    mode, target, store_url, *rest = sys.argv[1:]
    if mode == "submit":
        anyio.run(submit, target, store_url, int(rest[0]), float(rest[1]))
    else:
        anyio.run(recover, target, store_url, float(rest[0]), rest[1])
