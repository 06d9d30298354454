"""`coursegen dashboard`: serve the fleet's pages over a job store, on loopback."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, TextIO

import anyio

from coursegen.store import open_store

from ._store import StoreSource

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from coursegen._client import Client

__all__ = ["add_parser", "run_command"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


def add_parser(commands: Any, add_provider_options: Callable[[Any], None]) -> None:
    """Register `coursegen dashboard` on the CLI's subcommands."""
    dashboard = commands.add_parser(
        "dashboard",
        help="watch the fleet on a web page (jobs, failures, budgets, ETA)",
        description=(
            "Serve the dashboard over a job store: jobs by status, each job's timeline "
            "and result, failures with their typed error, each rate budget's use and "
            "429s, and each batch's ETA. Read-only, except retrying a failed job, which "
            "needs --provider (the vendor to submit it to)."
        ),
    )
    dashboard.add_argument(
        "--store", help="job store URL (default: COURSEGEN_STORE, else the data folder)"
    )
    dashboard.add_argument("--host", default="127.0.0.1", help="default: loopback only")
    dashboard.add_argument("--port", type=int, default=8080, help="0 picks a free port")
    dashboard.add_argument("--refresh", type=float, default=5.0, help="seconds between updates")
    add_provider_options(dashboard)


async def run_command(
    args: argparse.Namespace,
    out: TextIO,
    err: TextIO,
    client_for: Callable[[argparse.Namespace, TextIO], Client],
    store_url: Callable[[argparse.Namespace], str],
) -> int:
    # Starlette (the pages, the server) only when the dashboard runs, not for `--help`.
    from coursegen.sandbox._serve import serve_asgi  # noqa: PLC0415 - see above

    from ._app import create_app  # noqa: PLC0415 - see above

    url = store_url(args)
    if args.host not in _LOOPBACK:
        err.write(
            f"coursegen dashboard: listening on {args.host}, not loopback: anyone who "
            "reaches it sees your jobs and may retry them\n"
        )
    async with AsyncExitStack() as stack:
        store = await stack.enter_async_context(open_store(url))
        client = None
        if args.provider:
            client = await stack.enter_async_context(client_for(args, err))
        app = create_app(StoreSource(store, client=client), refresh=args.refresh)
        served = await stack.enter_async_context(serve_asgi(app, args.host, args.port))
        out.write(f"coursegen dashboard on {served} (store {store.url})\n")
        out.flush()
        await anyio.sleep_forever()
    return 0
