"""A provider's sandbox behind a transport that rewrites its answers: the fuzzers' vendor.

The sandbox answers as its vendor does; `Mangle` then changes what reaches the client
(status, headers, body bytes, a Content-Encoding that lies, a stall), so a test states
exactly which answer goes wrong while every other one stays the vendor's own.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING, Any

import anyio
import attrs
import httpx

import coursegen
from coursegen import AssessmentRequest, BloomLevel, CourseRequest, RetryPolicy
from coursegen_edumate.sandbox import DEMO_COLLECTION

if TYPE_CHECKING:
    from collections.abc import AsyncIterator, Callable

    from coursegen.sandbox import Sandbox

PROVIDERS = ("learningstudio", "tutorflow", "edumate")
REQUESTS: dict[str, coursegen.Request] = {
    "learningstudio": CourseRequest(subject="Workplace safety"),
    "tutorflow": CourseRequest(subject="Workplace safety"),
    "edumate": AssessmentRequest(
        topic="Photosynthesis", collection=DEMO_COLLECTION, bloom_mix={BloomLevel.REMEMBER: 1}
    ),
}
STALL = object()
"""Returned by a mutation: the answer never comes (the transport has no timeout)."""


@attrs.define
class Answer:
    """One answer as it will reach the client; a mutation edits it in place."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes


def kind_of(request: httpx.Request) -> str:
    """ "create" or "poll": what the request asks (creates are POSTs at every vendor)."""
    return "create" if request.method == "POST" else "poll"


class Mangle(httpx.AsyncBaseTransport):
    """Forwards to `inner`, then lets `mutate(request, answer)` change the answer.

    `mutate` returns None (send the edited answer) or `STALL`. The body is sent as a raw
    stream, so the client decodes it itself, as from a real server.
    """

    def __init__(
        self,
        inner: httpx.AsyncBaseTransport,
        mutate: Callable[[httpx.Request, Answer], object],
    ) -> None:
        self.inner = inner
        self.mutate = mutate
        self.counts: dict[str, int] = {}

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self.inner.handle_async_request(request)
        body = await response.aread()
        await response.aclose()
        headers = [
            (name, value)
            for name, value in response.headers.multi_items()
            if name.lower() not in ("content-length", "content-encoding")
        ]
        answer = Answer(response.status_code, headers, body)
        kind = kind_of(request)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if self.mutate(request, answer) is STALL:
            await anyio.sleep_forever()
        return httpx.Response(
            answer.status, headers=answer.headers, stream=httpx.ByteStream(answer.body)
        )


def simulator(provider: str) -> Sandbox:
    factory = coursegen.default_registry().get(provider).sandbox
    assert factory is not None
    return factory(speed=1.0, seed=0)


@asynccontextmanager
async def mangled(
    provider: str,
    mutate: Callable[[httpx.Request, Answer], object],
    **settings: Any,
) -> AsyncIterator[tuple[coursegen.Client, Sandbox, Mangle]]:
    """A client of `provider`'s sandbox whose answers pass through `mutate`."""
    sandbox = simulator(provider)
    transport = Mangle(sandbox.transport(), mutate)
    settings.setdefault("retry", RetryPolicy(attempts=3, initial=0.5, maximum=2.0))
    client = coursegen.connect(
        provider,
        api_key=sandbox.demo_key,
        base_url=sandbox.base_url,
        transport=transport,
        environ={},
        seed=0,
        **settings,
    )
    async with AsyncExitStack() as stack:
        await stack.enter_async_context(sandbox)
        await stack.enter_async_context(client)
        yield client, sandbox, transport
