"""One vendor simulator served on loopback, in its own process, for one benchmark run.

`python -m benchmarks._server VENDOR SPEED` prints one JSON line as soon as it listens:
`{"url", "key", "t0", "speed", "epoch"}`. `t0` is the event-loop time at which the
simulator's vendor clock started. asyncio's loop clock is `time.monotonic()`, which on
Linux and macOS is one system-wide clock, so the benchmark process can read the vendor's
time directly: `(time.monotonic() - t0) * speed`. No request is needed to synchronise.

When its stdin closes (the benchmark is done with it), it prints a second JSON line with
what the simulator itself saw, for the cross-check of the client's own counts: requests
by method and status, and each job's creation and end in vendor seconds, in creation
order (the lower bound of a fleet needs the durations in the order the vendor drew them).
A fresh process per run means a fresh seeded simulator: every contender meets the same
fleet of job durations. It is served by `coursegen.sandbox.serve` (uvicorn on a
loopback socket bound as IPPROTO_TCP, so Nagle's algorithm is off on every connection).
"""

from __future__ import annotations

import json
import sys

import anyio
import anyio.to_thread

import coursegen
from coursegen.sandbox import serve

from ._measure import simulator_stats


async def _main(vendor: str, speed: float) -> None:
    info = coursegen.default_registry().get(vendor)
    if info.sandbox is None:
        raise SystemExit(f"{vendor} ships no simulator")
    sandbox = info.sandbox(speed=speed)
    async with serve(sandbox) as url:
        t0 = anyio.current_time()
        sandbox.vendor_now()  # starts the vendor clock now, at loop time t0
        hello = {
            "url": url,
            "key": sandbox.demo_key,
            "t0": t0,
            "speed": speed,
            "epoch": sandbox.clock.epoch.isoformat(),
        }
        print(json.dumps(hello), flush=True)
        # A thread waits for EOF on stdin: the benchmark closes it when the run is over.
        await anyio.to_thread.run_sync(sys.stdin.read)
        print(json.dumps(simulator_stats(sandbox)), flush=True)


if __name__ == "__main__":
    anyio.run(_main, sys.argv[1], float(sys.argv[2]))
