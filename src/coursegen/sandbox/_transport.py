"""The in-process transport: httpx talks to a sandbox's ASGI app, with network faults."""

from __future__ import annotations

from contextvars import ContextVar
from typing import TYPE_CHECKING

import attrs
import httpx

from ._records import RecordedRequest

if TYPE_CHECKING:
    from ._base import Sandbox

__all__ = ["SandboxTransport"]


@attrs.define
class Exchange:
    """What the transport tells the app about the request in flight.

    Passed through a context variable because `httpx.ASGITransport` calls the app in the
    caller's own context: no header or scope key has to be smuggled into the request the
    simulated vendor sees, and a served sandbox (no transport) simply finds none.
    """

    reset_after: bool = False


CURRENT_EXCHANGE: ContextVar[Exchange | None] = ContextVar(
    "coursegen_sandbox_exchange", default=None
)


class SandboxTransport(httpx.AsyncBaseTransport):
    """An `httpx.ASGITransport` to one sandbox that also fails like a network.

    Requests keep the real vendor's URL (`Sandbox.base_url`); one for any other host fails
    as a DNS failure would, with `httpx.ConnectError`, so a client that builds a wrong
    URL is caught rather than silently served. Get one with `Sandbox.transport()`.
    """

    def __init__(self, sandbox: Sandbox) -> None:
        self._sandbox = sandbox
        self._asgi = httpx.ASGITransport(app=sandbox.app)
        self._host = httpx.URL(sandbox.base_url).host

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        """Answer `request` from the simulator, with its faults; refuse any other host."""
        sandbox = self._sandbox
        if request.url.host != self._host:
            raise httpx.ConnectError(
                f"[{sandbox.name} sandbox] no such host {request.url.host!r}: "
                f"this sandbox serves {self._host!r} only",
                request=request,
            )
        # Both draws happen on every request so that the fault sequence, hence the test,
        # does not shift when one rate is changed.
        reset_before = sandbox.fault_random.random() < sandbox.faults.reset_before_rate
        reset_after = sandbox.fault_random.random() < sandbox.faults.reset_after_rate
        lost = sandbox.faults.lost_answers
        if not reset_before and lost.get(request.url.path, 0) > 0:
            lost[request.url.path] -= 1
            reset_after = True
        if reset_before:
            sandbox.requests.append(
                RecordedRequest(
                    method=request.method,
                    path=request.url.path,
                    query=request.url.query.decode("ascii", "replace"),
                    status=None,
                    vendor_time=sandbox.vendor_now(),
                    headers=request.headers.multi_items(),
                    body=await request.aread(),
                    fault="reset_before",
                )
            )
            raise httpx.ConnectError(
                f"[{sandbox.name} sandbox] connection refused (injected fault)", request=request
            )
        token = CURRENT_EXCHANGE.set(Exchange(reset_after=reset_after))
        try:
            response = await self._asgi.handle_async_request(request)
        finally:
            CURRENT_EXCHANGE.reset(token)
        if reset_after:
            await response.aclose()
            raise httpx.ReadError(
                f"[{sandbox.name} sandbox] connection reset before the answer arrived "
                "(injected fault; the request was processed)",
                request=request,
            )
        return response

    async def aclose(self) -> None:
        """Close the in-process ASGI transport."""
        await self._asgi.aclose()
