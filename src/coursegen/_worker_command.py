"""`coursegen worker`: run the procrastinate worker of a fleet (see `coursegen.worker`).

    coursegen worker --store postgresql://app@db/app --target tenant-a --target tenant-b

Each target's provider URL (with its key) is read from `COURSEGEN_TARGET_<NAME>` (the name
upper-cased, `-` as `_`), never from the command line, where `ps` would show the key.
"""

from __future__ import annotations

import asyncio
import os
from typing import TYPE_CHECKING

from ._errors import ConfigurationError

if TYPE_CHECKING:
    import argparse
    from collections.abc import Mapping
    from typing import TextIO

__all__ = ["run_command", "target_variable"]


def target_variable(name: str) -> str:
    """The environment variable holding a target's provider URL."""
    return "COURSEGEN_TARGET_" + name.upper().replace("-", "_")


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
