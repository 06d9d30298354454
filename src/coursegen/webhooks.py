"""Webhooks as the zero-poll path: verify or confirm, deduplicate, feed the engine, answer fast.

```python
from coursegen import webhooks

receipt = await webhooks.receive(client, request.headers, await request.body())
# receipt.status_code: 200/202 accepted, 400 unreadable, 401 bad signature, 413 too large
app = webhooks.asgi_app(client)  # a Starlette app: mount it in FastAPI, Starlette or Django
```

What happens to one delivery:

1. The provider's `WebhookReader` parses it (`Client.read_webhook`). A signed vendor's
   signature is checked first (TutorFlow: HMAC-SHA256 in `X-Platform-Signature`, keyed by
   the secret or by its SHA-256): a bad one is a 401 and nothing is read. A body that
   cannot be read, whatever is wrong with it, is a 400. No error ever becomes a 500.
2. A signed body seen before within the dedupe horizon is a duplicate: answered 200,
   recorded once. The horizon (`DEDUPE_HORIZON`, 600 vendor seconds) covers the longest
   retry schedule we know (TutorFlow: after 5, 25 and 125 s, each with a 10 s timeout).
   In memory, at most `_MAX_REMEMBERED` bodies are kept (oldest forgotten first). A
   client with a job store also records each signed body's SHA-256 there
   (`coursegen_events`), so a delivery replayed to another process, or after a restart,
   is a duplicate too, whenever it comes.
   Unsigned bodies are not remembered: a forged hint must not make the real event a
   "duplicate". A second hint for a job whose confirmation is pending costs nothing (the
   engine has one poll queued for it), and one for a job known to have ended is answered
   as a duplicate.
3. `Client.notify` feeds the engine: a signed end is the job's state at once (and the job
   is polled no more); an unsigned event (LearningStudioAI) is a hint, confirmed by one
   GET the engine sends as soon as the job's floor and the rate budget allow, before
   anything is marked done. The receiver answers without waiting for that GET (202), so
   the vendor's short timeout is never at risk.
"""

from __future__ import annotations

import enum
import hashlib
import logging
from collections import OrderedDict
from contextlib import aclosing
from typing import TYPE_CHECKING, Final
from weakref import WeakKeyDictionary

import anyio
import attrs
from starlette.applications import Starlette
from starlette.responses import JSONResponse
from starlette.routing import Route

from ._client import Client, WebhookEffect
from ._errors import CourseGenError, StoreError, UnsupportedFeature, WebhookVerificationError
from ._models import Snapshot, WebhookEvent

if TYPE_CHECKING:
    from collections.abc import Mapping

    from starlette.requests import Request
    from starlette.responses import Response

    from .sync import SyncClient

__all__ = [
    "DEDUPE_HORIZON",
    "MAX_BODY",
    "Outcome",
    "Receipt",
    "Receiver",
    "WebhookEffect",
    "asgi_app",
    "receive",
]

logger = logging.getLogger("coursegen")

DEDUPE_HORIZON: Final = 600.0
"""Vendor seconds a signed body is remembered: past the longest vendor retry schedule."""
MAX_BODY: Final = 1024 * 1024
"""The largest webhook body read, in bytes; vendors send a few kilobytes."""
_MAX_REMEMBERED: Final = 100_000
"""Signed bodies remembered at most, oldest forgotten first: memory stays bounded."""


class Outcome(enum.StrEnum):
    """What the receiver made of one delivery."""

    ACCEPTED = "accepted"
    """Recorded: a signed end is the job's state now, or the vendor confirmed it."""
    CONFIRMING = "confirming"
    """An unsigned hint: the engine asks the vendor before anything is marked done."""
    DUPLICATE = "duplicate"
    """Seen before (a vendor's retry, a replay), or the job's end was already known."""
    REJECTED = "rejected"
    """The signature is missing or wrong: nothing was read."""
    INVALID = "invalid"
    """The body cannot be read (or is too large)."""
    UNSUPPORTED = "unsupported"
    """This provider sends no webhooks."""


_STATUS: Final = {
    Outcome.ACCEPTED: 200,
    Outcome.CONFIRMING: 202,
    Outcome.DUPLICATE: 200,
    Outcome.REJECTED: 401,
    Outcome.INVALID: 400,
    Outcome.UNSUPPORTED: 404,
}


@attrs.frozen
class Receipt:
    """The answer to one delivery: what to reply (`status_code`, `body()`) and what it did."""

    outcome: Outcome
    message: str
    event: WebhookEvent | None = None
    snapshot: Snapshot | None = attrs.field(default=None, repr=False)
    status_code: int = attrs.field()

    @status_code.default
    def _status_code(self) -> int:
        return _STATUS[self.outcome]

    def body(self) -> dict[str, str | None]:
        """A JSON-ready reply: the outcome and why, never the body or a secret."""
        job_id = self.event.job_id if self.event is not None else None
        return {"outcome": self.outcome.value, "message": self.message, "job_id": job_id}


class Receiver:
    """Receives one client's webhooks; holds the signed bodies seen within the horizon.

    Use it in the client's own event loop (where `async with client` runs), or through
    `coursegen.sync`, whose client runs it on its portal thread.
    """

    def __init__(
        self,
        client: Client,
        *,
        horizon: float = DEDUPE_HORIZON,
        max_body: int = MAX_BODY,
    ) -> None:
        self.client = client
        self.horizon = horizon
        self.max_body = max_body
        # Body digest -> loop time first seen, oldest first.
        self._seen: OrderedDict[bytes, float] = OrderedDict()

    async def receive(self, headers: Mapping[str, str], body: bytes) -> Receipt:
        """Handle one delivery; never raises a `CourseGenError` (it becomes a 4xx receipt)."""
        event = self._read(headers, body)
        if isinstance(event, Receipt):
            return event
        if event.verified and await self._seen_before(body):
            return Receipt(Outcome.DUPLICATE, "this signed body was received before", event)
        try:
            effect, snapshot = await self.client.notify(event)
        except CourseGenError as exc:
            # The vendor could not be asked now: the job stays followed, and an answer
            # other than 2xx would only make a vendor that retries send it again.
            return Receipt(
                Outcome.CONFIRMING, f"not confirmed yet ({type(exc).__name__})", event, None
            )
        return _receipt(effect, event, snapshot)

    def _read(self, headers: Mapping[str, str], body: bytes) -> WebhookEvent | Receipt:
        """The event, or the refusal: too large, badly signed, unreadable, unexpected."""
        if len(body) > self.max_body:
            return Receipt(
                Outcome.INVALID, f"the body is over {self.max_body} bytes", status_code=413
            )
        try:
            return self.client.read_webhook(headers, body)
        except WebhookVerificationError as exc:
            return Receipt(Outcome.REJECTED, str(exc))
        except UnsupportedFeature as exc:
            return Receipt(Outcome.UNSUPPORTED, str(exc))
        except CourseGenError as exc:
            return Receipt(Outcome.INVALID, str(exc))

    async def _seen_before(self, body: bytes) -> bool:
        """Seen in memory within the horizon, or (with a store) by any process ever."""
        digest = hashlib.sha256(body).digest()
        if self._remembered(digest):
            return True
        store = self.client.store
        if store is None:
            return False
        try:
            return not await store.record_event(self.client.provider, f"sha256:{digest.hex()}")
        except StoreError as exc:
            # Memory still dedupes this process's deliveries; the delivery is not lost.
            logger.warning("coursegen webhooks: store not written (%s); deduped in memory", exc)
            return False

    def _remembered(self, digest: bytes) -> bool:
        now = anyio.current_time()
        horizon = self.horizon / self.client.settings.time_scale
        while self._seen and (
            len(self._seen) >= _MAX_REMEMBERED or next(iter(self._seen.values())) < now - horizon
        ):
            self._seen.popitem(last=False)
        if digest in self._seen:
            return True
        self._seen[digest] = now
        return False


def _receipt(effect: WebhookEffect, event: WebhookEvent, snapshot: Snapshot | None) -> Receipt:
    if effect is WebhookEffect.ALREADY_ENDED:
        return Receipt(Outcome.DUPLICATE, "the job's end was already known", event, snapshot)
    if effect is WebhookEffect.CONFIRMING:
        return Receipt(Outcome.CONFIRMING, "the vendor is asked before the job is done", event)
    if effect is WebhookEffect.NO_JOB:
        return Receipt(Outcome.ACCEPTED, f"{event.kind} names no job to follow", event)
    status = snapshot.status.value if snapshot is not None else "unknown"
    return Receipt(Outcome.ACCEPTED, f"{effect.value}: the job is {status}", event, snapshot)


_receivers: WeakKeyDictionary[Client, Receiver] = WeakKeyDictionary()


def receiver_for(client: Client) -> Receiver:
    """The one `Receiver` of `client` (made on first use): a repeated delivery is seen."""
    found = _receivers.get(client)
    if found is None:
        found = _receivers[client] = Receiver(client)
    return found


async def receive(client: Client, headers: Mapping[str, str], body: bytes) -> Receipt:
    """Handle one webhook delivery for `client` (framework-agnostic; see the module doc).

    Reply with `receipt.status_code` and, if you like, `receipt.body()` as JSON. Sync
    code (a Django view) calls `coursegen.sync` clients' `receive_webhook` instead.
    """
    return await receiver_for(client).receive(headers, body)


def asgi_app(client: Client | SyncClient) -> Starlette:
    """A Starlette app that receives `client`'s webhooks on POST to any path under it.

    Give it the `Client` that runs in the same event loop as the app (FastAPI's lifespan),
    or a `coursegen.sync` client (Django): that one is called from a worker thread, so the
    server's loop never blocks.
    """

    async def endpoint(request: Request) -> Response:
        body = await _read_body(request)
        headers = dict(request.headers)
        if body is None:
            receipt = Receipt(
                Outcome.INVALID, f"the body is over {MAX_BODY} bytes", status_code=413
            )
        elif isinstance(client, Client):
            receipt = await receive(client, headers, body)
        else:
            receipt = await anyio.to_thread.run_sync(client.receive_webhook, headers, body)
        return JSONResponse(receipt.body(), status_code=receipt.status_code)

    return Starlette(routes=[Route("/{path:path}", endpoint, methods=["POST"])])


async def _read_body(request: Request) -> bytes | None:
    """The body, or None once it passes `MAX_BODY` (the rest is never read into memory)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY:
        return None
    chunks: list[bytes] = []
    size = 0
    async with aclosing(request.stream()) as stream:
        async for chunk in stream:
            size += len(chunk)
            if size > MAX_BODY:
                return None
            chunks.append(chunk)
    return b"".join(chunks)
