"""`Sandbox`: the base every vendor simulator is built on.

A simulator subclass supplies the vendor's routes (Starlette) and its error body; the
base supplies what every simulator needs the same way: vendor time, seeded randomness,
scripted outcomes, injected faults, the request log and webhook delivery.
"""

from __future__ import annotations

import abc
import functools
import json
import math
import random
from collections import deque
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any, ClassVar, Final, Self

import anyio
import attrs
import httpx
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import PlainTextResponse, Response

from ._clock import DEFAULT_EPOCH, VendorClock
from ._faults import FaultKind, Faults
from ._records import DeliveredWebhook, RecordedRequest
from ._transport import CURRENT_EXCHANGE, SandboxTransport
from ._webhooks import WebhookOutbox

if TYPE_CHECKING:
    from collections.abc import Awaitable, Callable, Mapping
    from datetime import datetime
    from types import TracebackType

    from starlette.routing import BaseRoute
    from starlette.types import ASGIApp, ExceptionHandler, Message, Receive, Scope, Send

    from ._script import JobScript

__all__ = ["LOG_PATH", "Sandbox"]

LOG_PATH: Final = "/_sandbox/log"
"""The simulator's own read-only route: its request log and webhooks (`Sandbox.log`)."""

_PROXY_PAGE: Final = (
    b"<!DOCTYPE html>\n<html><head><title>Just a moment...</title></head>\n"
    b"<body><h1>Checking your connection</h1>"
    b"<p>The upstream server is taking too long to respond.</p></body></html>\n"
)
"""What a misbehaving proxy or CDN answers with a 200 in place of the vendor's JSON."""


class Sandbox(abc.ABC):
    """An in-process simulator of one vendor's HTTP API.

    Subclasses set `name`, `base_url` and `demo_key`, and implement `routes()`. Handlers
    read time only through `vendor_now()`, draw randomness only from `random`, and take
    scripted fates from `next_script()`, so one seed and one clock replay a whole run.

    Used three ways: through `transport()` for in-process httpx clients; with
    `async with sandbox:` to deliver webhooks on time; and on loopback with `serve()`.

    `GET /_sandbox/log` (answered by the simulator itself, never recorded, faults never
    injected) returns the request log and the webhooks as JSON, so that a test in
    another process can compare what a client did with what the vendor saw.
    """

    name: ClassVar[str]
    """The provider's name, as coursegen registers it."""
    base_url: ClassVar[str]
    """The real vendor's base URL; in-process requests use it unchanged."""
    supported_outcomes: ClassVar[frozenset[str]] = frozenset({"succeed", "fail"})
    """The `JobScript` outcomes this vendor can produce; `script()` refuses the others."""
    webhook_timeout: ClassVar[float] = 10.0
    """Vendor seconds the vendor waits for a webhook receiver's answer."""
    webhook_retry_delays: ClassVar[tuple[float, ...]] = ()
    """Vendor seconds before each retry of a failed webhook; empty: delivered once."""

    demo_collection: ClassVar[str | None] = None
    """A document collection that exists from the start, for vendors that generate from
    collections: what a first try (`coursegen assess` on the sandbox) draws from."""
    demo_key: str
    """A key that works, set by each subclass's `__init__`."""

    def __init__(
        self,
        *,
        speed: float = 1.0,
        faults: Faults | None = None,
        seed: int = 0,
        epoch: datetime = DEFAULT_EPOCH,
        webhook_transport: httpx.AsyncBaseTransport | None = None,
    ) -> None:
        self.clock: Final = VendorClock(speed=speed, epoch=epoch)
        self.faults: Faults = Faults() if faults is None else faults
        self.seed: Final = seed
        # Two streams from one seed: faults switched on or off never shift the vendor's
        # own draws (job ids, durations), so a test can add a fault without re-pinning.
        self.random: Final = random.Random(seed)  # noqa: S311 - simulated behaviour, not security
        self.fault_random: Final = random.Random(f"faults/{seed}")  # noqa: S311 - as above
        self.requests: Final[list[RecordedRequest]] = []
        self._scripts: deque[JobScript] = deque()
        self._webhook_transport = webhook_transport
        self._outbox: Final = WebhookOutbox(
            self.clock,
            timeout=self.webhook_timeout,
            retry_delays=self.webhook_retry_delays,
            encode=self.encode_webhook,
        )
        self._stack: AsyncExitStack | None = None

    # -- what a subclass provides -------------------------------------------------------

    @abc.abstractmethod
    def routes(self) -> list[BaseRoute]:
        """The vendor's endpoints; called once, when the app is first needed."""

    def exception_handlers(self) -> Mapping[Any, ExceptionHandler]:
        """Starlette exception handlers, e.g. the vendor's own body for unknown routes."""
        return {}

    def internal_error(self, request: Request) -> Response:  # noqa: ARG002 - subclasses read it
        """The vendor's answer to an injected server error; nothing has been processed."""
        return PlainTextResponse("Internal Server Error", status_code=500)

    def rate_limited(self, request: Request, retry_after: float) -> Response:  # noqa: ARG002 - subclasses read it
        """The vendor's 429 for an injected refusal (`Faults.rate_limited`), saying in the
        vendor's own way to wait `retry_after` vendor seconds; nothing has been processed.
        This default is a proxy's: plain text and a `Retry-After` header."""
        return PlainTextResponse(
            "Too Many Requests",
            status_code=429,
            headers={"Retry-After": str(math.ceil(retry_after))},
        )

    def encode_webhook(
        self,
        event: str,  # noqa: ARG002 - signing vendors name the event in a header
        body: Any,
    ) -> tuple[bytes, Mapping[str, str]]:
        """The exact bytes and headers of a webhook; vendors that sign them override this."""
        content = json.dumps(body, separators=(",", ":")).encode()
        return content, {"content-type": "application/json", "user-agent": f"{self.name}-sandbox"}

    # -- time ---------------------------------------------------------------------------

    @property
    def speed(self) -> float:
        """Vendor seconds per loop second. Fixed: a client scaled its floors to it."""
        return self.clock.speed

    def vendor_now(self) -> float:
        """Vendor seconds since this sandbox's clock started (on first use)."""
        return self.clock.now()

    def wall_clock(self, vendor_time: float | None = None) -> datetime:
        """The vendor's UTC time at `vendor_time` (default: now): the epoch plus vendor time."""
        return self.clock.wall_clock(vendor_time)

    async def sleep(self, vendor_seconds: float) -> None:
        """Let `vendor_seconds` of vendor time pass."""
        await self.clock.sleep(vendor_seconds)

    # -- scripts ------------------------------------------------------------------------

    @staticmethod
    def check_options(
        *,
        rates: Mapping[str, float] | None = None,
        spans: Mapping[str, tuple[float, float]] | None = None,
    ) -> None:
        """Refuse a simulator's options out of range, naming the option: `rates` are
        probabilities, `spans` are `(low, high)` ranges of vendor seconds."""
        for label, rate in (rates or {}).items():
            if not 0 <= rate <= 1:
                raise ValueError(f"{label} must be from 0 to 1, got {rate!r}")
        for label, (low, high) in (spans or {}).items():
            if not 0 <= low <= high:
                raise ValueError(f"{label} must be (low, high) with 0 <= low <= high")

    def script(self, *scripts: JobScript) -> None:
        """Queue the fates of the next jobs created, first in first out.

        Once the queue is empty, jobs behave as the vendor normally does (seeded).
        """
        for item in scripts:
            if item.outcome not in self.supported_outcomes:
                raise ValueError(
                    f"the {self.name} sandbox cannot {item.outcome} a job; "
                    f"it supports {', '.join(sorted(self.supported_outcomes))}"
                )
        self._scripts.extend(scripts)

    def next_script(self) -> JobScript | None:
        """The next queued script, for a subclass creating a job; None when none is left."""
        return self._scripts.popleft() if self._scripts else None

    # -- webhooks -----------------------------------------------------------------------

    def schedule_webhook(
        self, url: str, event: str, body: Any, *, due: float | None = None
    ) -> None:
        """Send `body` to `url` at vendor time `due` (default: now)."""
        self._outbox.schedule(url, event, body, due=self.vendor_now() if due is None else due)

    @property
    def webhooks(self) -> list[DeliveredWebhook]:
        """Every webhook that fell due, in due order; each updated when its delivery ends."""
        if not self._outbox.running:
            try:
                now = self.vendor_now()
            except anyio.NoEventLoopError:
                # Read outside any event loop: report what is known without the clock.
                pass
            else:
                self._outbox.promote_due(now)
        return self._outbox.records

    def log(self) -> dict[str, Any]:
        """The request log and the webhooks as plain JSON data (no credentials in it)."""
        return {
            "requests": [
                {
                    "method": record.method,
                    "path": record.path,
                    "status": record.status,
                    "fault": record.fault,
                    "vendor_time": record.vendor_time,
                    "body": record.body.decode("utf-8", errors="replace"),
                }
                for record in self.requests
            ],
            "webhooks": [
                {
                    "url": hook.url,
                    "event": hook.event,
                    "body": hook.content.decode("utf-8", errors="replace"),
                    "headers": dict(hook.headers),
                    "delivered": hook.delivered,
                }
                for hook in self.webhooks
            ],
        }

    @property
    def running(self) -> bool:
        """True inside `async with sandbox`, while webhooks are being delivered."""
        return self._stack is not None

    async def __aenter__(self) -> Self:
        if self._stack is not None:
            raise RuntimeError(f"the {self.name} sandbox is already running")
        async with AsyncExitStack() as stack:
            client = await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=self._webhook_transport,
                    timeout=None,  # noqa: S113 - the vendor's own timeout, in vendor time, applies
                )
            )
            tg = await stack.enter_async_context(anyio.create_task_group())
            await tg.start(self._outbox.run, client)
            stack.callback(tg.cancel_scope.cancel)
            self._stack = stack.pop_all()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        stack, self._stack = self._stack, None
        if stack is None:
            return None
        return await stack.__aexit__(exc_type, exc, tb)

    # -- the app --------------------------------------------------------------------------

    def transport(self) -> SandboxTransport:
        """An httpx transport to this sandbox, in-process, injecting `faults`."""
        return SandboxTransport(self)

    @functools.cached_property
    def app(self) -> ASGIApp:
        """The vendor as an ASGI app, with faults and the request log around its routes."""
        # Built on first use, not in `__init__`: a subclass's routes need its own state,
        # which it sets up after calling `super().__init__`.
        inner = Starlette(routes=self.routes(), exception_handlers=self.exception_handlers())
        return _App(self._handle, inner)

    async def _handle(self, inner: ASGIApp, scope: Scope, receive: Receive, send: Send) -> None:
        """Around every request: record it, inject the faults drawn for it, add latency."""
        if scope["type"] != "http":
            await inner(scope, receive, send)
            return
        if scope["path"] == LOG_PATH and scope["method"] == "GET":
            await Response(json.dumps(self.log()), media_type="application/json")(
                scope, receive, send
            )
            return
        arrived = self.vendor_now()
        if not self._outbox.running:
            self._outbox.promote_due(arrived)
        body = await _read_body(receive)
        exchange = CURRENT_EXCHANGE.get()
        fault, as_html = self._draw_fault(reset_after=exchange is not None and exchange.reset_after)

        replay = _Replay(body, receive)
        answer = _Answer()
        try:
            if fault in ("error", "rate_limited"):
                response = self._fault_response(fault, Request(scope, replay))
                await response(scope, replay, answer.send)
            else:
                await inner(scope, replay, answer.send)
        finally:
            self.requests.append(
                RecordedRequest(
                    method=scope["method"],
                    path=scope["path"],
                    query=scope["query_string"].decode("latin-1"),
                    status=answer.status,
                    vendor_time=arrived,
                    headers=[
                        (k.decode("latin-1"), v.decode("latin-1")) for k, v in scope["headers"]
                    ],
                    body=body,
                    fault=fault,
                )
            )
        if fault == "malformed":
            answer = answer.garbled(as_html=as_html)
        if self.faults.latency > 0:
            await self.clock.sleep(self.faults.latency)
        await answer.replay(send)

    def _draw_fault(self, *, reset_after: bool) -> tuple[FaultKind | None, bool]:
        """The fault of one request, and whether a garbled body is an HTML page."""
        # Every draw on every request, whatever the rates: the sequence stays put.
        error = self.fault_random.random() < self.faults.error_rate
        malformed = self.fault_random.random() < self.faults.malformed_rate
        as_html = self.fault_random.random() < 0.5  # noqa: PLR2004 - a fair coin
        fault: FaultKind | None = None
        if reset_after:
            fault = "reset_after"  # the request must be processed: nothing else applies
        elif self.faults.rate_limited > 0:
            self.faults.rate_limited -= 1
            fault = "rate_limited"
        elif error:
            fault = "error"
        elif malformed:
            fault = "malformed"
        return fault, as_html

    def _fault_response(self, fault: FaultKind, request: Request) -> Response:
        if fault == "rate_limited":
            return self.rate_limited(request, self.faults.retry_after)
        return self.internal_error(request)


class _App:
    """The ASGI callable a server is given.

    A plain object with an async `__call__`, not a bound method: servers tell ASGI 3 from
    ASGI 2 by inspecting `__call__`, and a bound method's reads as synchronous.
    """

    def __init__(
        self,
        handle: Callable[[ASGIApp, Scope, Receive, Send], Awaitable[None]],
        inner: ASGIApp,
    ) -> None:
        self._handle = handle
        self._inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._handle(self._inner, scope, receive, send)


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


class _Replay:
    """An ASGI `receive` that hands the app the body the sandbox already read."""

    def __init__(self, body: bytes, receive: Receive) -> None:
        self._body: bytes | None = body
        self._receive = receive

    async def __call__(self) -> Message:
        if self._body is None:
            return await self._receive()
        body, self._body = self._body, None
        return {"type": "http.request", "body": body, "more_body": False}


@attrs.define
class _Answer:
    """A whole response held back, so that latency and malformed bodies can be applied."""

    status: int | None = None
    headers: list[tuple[bytes, bytes]] = attrs.field(factory=list)
    body: bytes = b""

    async def send(self, message: Message) -> None:
        if message["type"] == "http.response.start":
            self.status = message["status"]
            self.headers = list(message.get("headers", []))
        elif message["type"] == "http.response.body":
            self.body += message.get("body", b"")

    def garbled(self, *, as_html: bool) -> _Answer:
        """A 200 nobody can parse: a proxy's HTML page, or the real JSON cut in half."""
        if as_html:
            return _Answer(200, [(b"content-type", b"text/html; charset=utf-8")], _PROXY_PAGE)
        cut = self.body[: len(self.body) // 2] if len(self.body) > 1 else b'{"'
        return _Answer(200, self.headers, cut)

    async def replay(self, send: Send) -> None:
        headers = [(k, v) for k, v in self.headers if k.lower() != b"content-length"]
        headers.append((b"content-length", str(len(self.body)).encode()))
        await send(
            {"type": "http.response.start", "status": self.status or 500, "headers": headers}
        )
        await send({"type": "http.response.body", "body": self.body, "more_body": False})
