"""`coursegen worker`: run the procrastinate worker of a fleet (see `coursegen.worker`).

    coursegen worker --store postgresql://app@db/app --target tenant-a --target tenant-b

Each target's provider URL (with its key) is read from `COURSEGEN_TARGET_<NAME>` (the name
upper-cased, `-` as `_`), never from the command line, where `ps` would show the key.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING, Any

from ._errors import ConfigurationError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import TextIO

__all__ = ["add_parser", "run_command", "target_variable"]


def target_variable(name: str) -> str:
    """The environment variable holding a target's provider URL."""
    return "COURSEGEN_TARGET_" + name.upper().replace("-", "_")


def add_parser(commands: Any) -> None:
    worker = commands.add_parser(
        "worker", help="run a worker of a fleet on PostgreSQL (needs coursegen[fleet])"
    )
    worker.add_argument("--store", help="the fleet's store (default: COURSEGEN_STORE)")
    worker.add_argument(
        "--target",
        action="append",
        default=[],
        metavar="NAME",
        help="a key this worker may own; its URL is in COURSEGEN_TARGET_<NAME> (repeatable)",
    )
    worker.add_argument("--concurrency", type=int, default=10, help="scopes owned at once")
    worker.add_argument("--heartbeat", type=float, default=2.0, help="seconds between beats")
    worker.add_argument(
        "--stalled-after", type=float, default=6.0, help="seconds without a beat: stalled"
    )
    worker.add_argument("--grace", type=float, default=10.0, help="seconds a handover waits")
    worker.add_argument(
        "--db-timeout",
        type=float,
        default=5.0,
        help="seconds a statement waits for a database connection before it fails",
    )
    worker.add_argument("--speed", type=float, default=None, help="a served sandbox's speed")


def run_command(
    args: argparse.Namespace, out: TextIO, environ: Mapping[str, str] | None = None
) -> int:
    from .worker import Fleet  # noqa: PLC0415 - procrastinate only when used

    env = os.environ if environ is None else environ
    store = args.store or env.get("COURSEGEN_STORE")
    if not store:
        raise ConfigurationError("a worker needs the fleet's store: --store or COURSEGEN_STORE")
    targets: dict[str, str] = {}
    for name in args.target:
        url = env.get(target_variable(name))
        if not url:
            raise ConfigurationError(f"target {name!r}: set {target_variable(name)} to its URL")
        targets[name] = url
    fleet = Fleet(
        store,
        targets,
        concurrency=args.concurrency,
        heartbeat=args.heartbeat,
        stalled_after=args.stalled_after,
        grace=args.grace,
        db_timeout=args.db_timeout,
        speed=args.speed,
    )
    out.write(f"coursegen worker {fleet.name}: {len(targets)} targets\n")
    out.flush()
    asyncio.run(fleet.run())
    out.write(f"coursegen worker {fleet.name}: stopped; {fleet.statements} store statements\n")
    return 0
