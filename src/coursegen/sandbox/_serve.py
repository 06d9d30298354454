"""Serving a sandbox on loopback, for tools that cannot take an in-process transport."""

from __future__ import annotations

import socket
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Final

import anyio
import sniffio

from coursegen._errors import ConfigurationError

if TYPE_CHECKING:
    from collections.abc import AsyncIterator

    from starlette.types import ASGIApp

    from ._base import Sandbox

__all__ = ["serve", "serve_asgi"]

_STARTUP_TIMEOUT: Final = 10.0
"""Real seconds uvicorn may take to start listening on an already bound socket."""


class _MissingExtraError(ConfigurationError, ImportError):
    """An optional dependency is missing; catchable as either parent."""


@asynccontextmanager
async def serve(sandbox: Sandbox, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve `sandbox` over HTTP on `host:port`; yield its base URL (`http://127.0.0.1:54321`).

    Port 0 picks a free port. The sandbox is also entered (webhooks delivered) unless it
    already runs. Connection faults (`reset_before_rate`, `reset_after_rate`) need the
    in-process transport; served, only errors, malformed bodies and latency are injected.
    Needs the `serve` extra (uvicorn), which runs on asyncio only.
    """
    _uvicorn()  # before the sandbox starts: a missing extra is a plain error
    async with AsyncExitStack() as stack:
        if not sandbox.running:
            await stack.enter_async_context(sandbox)
        async with serve_asgi(sandbox.app, host, port) as url:
            yield url


def _uvicorn() -> None:
    """Refuse early what uvicorn cannot do: run without its extra, or on trio."""
    try:
        import uvicorn  # noqa: F401, PLC0415 - optional: only serving needs it
    except ImportError as exc:
        raise _MissingExtraError("serving needs uvicorn: install coursegen[serve]") from exc
    if sniffio.current_async_library() != "asyncio":
        raise RuntimeError("serve() needs the asyncio backend: uvicorn runs on asyncio only")


@asynccontextmanager
async def serve_asgi(app: ASGIApp, host: str = "127.0.0.1", port: int = 0) -> AsyncIterator[str]:
    """Serve any ASGI app on `host:port` with uvicorn; yield its base URL. Port 0 picks one."""
    _uvicorn()
    import uvicorn  # noqa: PLC0415 - optional, checked above

    started = anyio.Event()

    class _Server(uvicorn.Server):
        # uvicorn offers only a `started` flag; an event spares us polling it.
        async def startup(self, sockets: list[socket.socket] | None = None) -> None:
            await super().startup(sockets)
            started.set()

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # Bound here rather than by uvicorn, so the port is known before the server starts
    # and requests sent meanwhile wait in the listen backlog instead of failing.
    # IPPROTO_TCP, not create_server's 0: asyncio turns Nagle's algorithm off only on
    # sockets that say they are TCP, and accepted connections inherit the setting.
    # With it on, uvicorn's separately written head and body wait for the client's
    # delayed ACK: some 40 ms per request, seconds of vendor time at a high speed.
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    bound = sock.getsockname()[1]
    url = f"http://[{host}]:{bound}" if family == socket.AF_INET6 else f"http://{host}:{bound}"
    server = _Server(
        uvicorn.Config(
            app,
            lifespan="off",
            log_config=None,  # leave the host application's logging alone
            log_level="warning",
            access_log=False,
            interface="asgi3",
            # The simulator sends its own vendor-clock Date (absolute rate-limit resets
            # are read against it) and no server should claim to be the vendor's.
            date_header=False,
            server_header=False,
        )
    )
    async with AsyncExitStack() as stack:
        stack.callback(sock.close)
        async with anyio.create_task_group() as tg:
            tg.start_soon(server.serve, [sock])
            with anyio.fail_after(_STARTUP_TIMEOUT):
                await started.wait()
            try:
                yield url
            finally:
                server.should_exit = True
