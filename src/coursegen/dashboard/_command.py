"""`coursegen dashboard`: serve the fleet's pages over a job store, on loopback."""

from __future__ import annotations

from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, TextIO

import anyio

from coursegen.store import open_store

from ._store import StoreSource

if TYPE_CHECKING:
    import argparse
    from collections.abc import Callable

    from coursegen._client import Client

__all__ = ["run_command"]

_LOOPBACK = frozenset({"127.0.0.1", "::1", "localhost"})


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
