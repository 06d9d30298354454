"""The asyncio virtual clock (`VirtualClockEventLoop`) that every asyncio test runs on,
and the repeatability of the trio side (`virtual_backend("trio")`).

These tests drive the loop themselves (`anyio.run` with its `loop_factory`), so they are
plain functions: the loop under test is the point, not a fixture.
"""

from __future__ import annotations

import asyncio
import random
import socket
import threading
from typing import TYPE_CHECKING, Any

import anyio
import anyio.lowlevel
import anyio.to_thread

from coursegen.testing import VirtualClockEventLoop, virtual_backend

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable


def run_virtual(main: Callable[[], Awaitable[Any]]) -> Any:
    return anyio.run(
        main, backend="asyncio", backend_options={"loop_factory": VirtualClockEventLoop}
    )


def test_the_clock_starts_at_zero_and_sleeps_add_up_exactly():
    """Three sleeps of 5 s end at exactly 15, and three of 0.1 s at exactly 0.1 + 0.1 + 0.1."""

    async def main() -> tuple[float, float, float]:
        start = anyio.current_time()
        for _ in range(3):
            await anyio.sleep(5)
        fives = anyio.current_time()
        for _ in range(3):
            await anyio.sleep(0.1)
        return start, fives, anyio.current_time()

    start, fives, tenths = run_virtual(main)
    assert start == 0.0
    assert fives == 15.0
    assert tenths == 15.0 + 0.1 + 0.1 + 0.1


def test_the_clock_does_not_move_while_a_task_can_run():
    """A task busy for a thousand checkpoints keeps the clock still; the sleeper waits for it."""

    async def main() -> list[tuple[str, float]]:
        seen: list[tuple[str, float]] = []

        async def sleeper() -> None:
            await anyio.sleep(1)
            seen.append(("slept", anyio.current_time()))

        async def busy() -> None:
            for _ in range(1000):
                await anyio.lowlevel.checkpoint()  # runnable again at once: never idle
            seen.append(("busy done", anyio.current_time()))

        async with anyio.create_task_group() as group:
            group.start_soon(sleeper)
            group.start_soon(busy)
        return seen

    assert run_virtual(main) == [("busy done", 0.0), ("slept", 1.0)]


def test_ready_io_is_served_before_the_clock_jumps():
    """Bytes waiting on a socket are read at time 0 although a one-hour timer is pending."""

    async def main() -> tuple[bytes, float, float]:
        loop = asyncio.get_running_loop()
        left, right = socket.socketpair()
        left.setblocking(False)  # noqa: FBT003 - the socket API's own positional flag
        right.setblocking(False)  # noqa: FBT003 - same
        with left, right:
            async with anyio.create_task_group() as group:
                group.start_soon(anyio.sleep, 3600)
                await loop.sock_sendall(left, b"ping")
                data = await loop.sock_recv(right, 4)
                read_at = anyio.current_time()
            return data, read_at, anyio.current_time()

    data, read_at, end = run_virtual(main)
    assert data == b"ping"
    assert read_at == 0.0
    assert end == 3600.0


def test_work_in_a_thread_completes_and_its_result_comes_back():
    """anyio.to_thread runs the function on another thread and the loop waits for it."""
    release = threading.Event()

    def work() -> str:
        release.wait()
        return threading.current_thread().name

    async def main() -> tuple[str, float]:
        async with anyio.create_task_group() as group:
            group.start_soon(anyio.to_thread.run_sync, release.set)
            name = await anyio.to_thread.run_sync(work)
        return name, anyio.current_time()

    name, now = run_virtual(main)
    assert name != threading.current_thread().name
    assert now == 0.0


def test_the_same_program_gives_the_same_times_on_every_run():
    """Tasks sleeping seeded random delays wake in one order at the same times on every run."""

    async def main() -> list[tuple[int, float]]:
        rng = random.Random(42)  # noqa: S311 - delays for a test, not cryptography
        woke: list[tuple[int, float]] = []

        async def task(number: int, delays: list[float]) -> None:
            for delay in delays:
                await anyio.sleep(delay)
                woke.append((number, anyio.current_time()))

        async with anyio.create_task_group() as group:
            for number in range(20):
                group.start_soon(task, number, [rng.uniform(0.1, 30) for _ in range(10)])
        return woke

    first, second, third = (run_virtual(main) for _ in range(3))
    assert len(first) == 200
    assert first == second == third
    assert [at for _, at in first] == sorted(at for _, at in first)


def test_a_fleet_on_virtual_trio_sends_the_same_polls_on_every_run():
    """On `virtual_backend("trio")` a fleet's every poll goes out at the same vendor time
    on every run: trio's scheduler, which shuffles the tasks woken at one instant, is
    seeded per run, as the asyncio loop's order is fixed (unseeded, the later jobs of
    `test_planning`'s 120-job fleet cost from 2.6 to 3.5 polls each, run to run)."""
    import coursegen  # noqa: PLC0415 - only this test needs a client
    from coursegen import CourseRequest  # noqa: PLC0415 - as above
    from coursegen_learningstudio.sandbox import LearningStudioSandbox  # noqa: PLC0415

    async def fleet() -> dict[str, list[float]]:
        simulator = LearningStudioSandbox(seed=11)
        async with coursegen.connect("learningstudio", sandbox=simulator, seed=3) as client:
            jobs = [await client.submit(CourseRequest(subject=f"Topic {i}")) for i in range(60)]
            async with anyio.create_task_group() as tg:
                for job in jobs:
                    tg.start_soon(job.wait)
        return {job_id: list(times) for job_id, times in simulator.polls.items()}

    def run_on_trio() -> dict[str, list[float]]:
        backend, options = virtual_backend("trio")
        return anyio.run(fleet, backend=backend, backend_options=options)

    first, second, third = (run_on_trio() for _ in range(3))
    assert len(first) == 60
    assert first == second == third
