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
fleet of job durations.
"""

from __future__ import annotations

import json
import socket
import sys
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
import uvicorn

import coursegen

from ._measure import simulator_stats

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from coursegen.sandbox import Sandbox


@asynccontextmanager
async def _serve(sandbox: Sandbox) -> AsyncIterator[str]:
    """`coursegen.sandbox.serve`, but with Nagle's algorithm off on every connection.

    `serve()` binds its socket with `socket.create_server`, whose protocol number is 0;
    asyncio sets TCP_NODELAY only on sockets whose `proto` is IPPROTO_TCP, and accepted
    sockets inherit it. uvicorn writes a response's head and body separately, so on a
    kept-alive connection the body then waits for the client's delayed ACK: 40 ms per
    request (measured here: 44 ms per GET, against 2 ms with this socket). Scaled by
    `speed`, that is seconds of vendor time per request. Reported; kept here until fixed.
    """
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.bind(("127.0.0.1", 0))
    sock.listen(2048)
    server = uvicorn.Server(
        uvicorn.Config(
            sandbox.app,
            lifespan="off",
            log_config=None,
            log_level="warning",
            access_log=False,
            interface="asgi3",
        )
    )
    started = anyio.Event()

    async def run() -> None:
        # uvicorn offers a `started` flag only; watch it from a task of its own.
        async with anyio.create_task_group() as inner:
            inner.start_soon(server.serve, [sock])
            while not server.started:  # noqa: ASYNC110 - nothing to wait on but the flag
                await anyio.sleep(0.01)
            started.set()

    async with sandbox, anyio.create_task_group() as tg:
        tg.start_soon(run)
        await started.wait()
        try:
            yield f"http://127.0.0.1:{sock.getsockname()[1]}"
        finally:
            server.should_exit = True


async def _main(vendor: str, speed: float) -> None:
    info = coursegen.default_registry().get(vendor)
    if info.sandbox is None:
        raise SystemExit(f"{vendor} ships no simulator")
    sandbox = info.sandbox(speed=speed)
    async with _serve(sandbox) as url:
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
