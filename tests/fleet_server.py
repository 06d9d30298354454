"""A TutorFlow sandbox with two workspaces (one key each), served on loopback.

    python fleet_server.py SPEED RATE_LIMIT

Prints `ready BASE_URL` once it listens; runs until terminated. The fleet test and the
fleet benchmark point their workers at it: each key is its own rate scope.
"""

# ruff: noqa: T201 - a server process reports its address to its parent on stdout

from __future__ import annotations

import sys

import anyio

from coursegen.sandbox import serve
from coursegen_tutorflow.sandbox import ApiKey, TutorFlowSandbox, Workspace


def key(number: int) -> str:
    return f"tf_platform_fleet_{number:03d}"


async def main(speed: float, rate_limit: int, keys: int) -> None:
    sandbox = TutorFlowSandbox(
        speed=speed,
        workspaces={
            f"ws_{number:03d}": Workspace(plan="production", rate_limit=rate_limit)
            for number in range(keys)
        },
        keys={key(number): ApiKey(f"ws_{number:03d}") for number in range(keys)},
    )
    async with serve(sandbox) as url:
        print(f"ready {url}", flush=True)
        await anyio.sleep_forever()


if __name__ == "__main__":
    anyio.run(main, float(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]))
