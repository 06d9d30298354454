"""The vendor's outgoing webhooks: queued at their due vendor time, delivered while running."""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any, Final

import anyio
import attrs

from ._records import DeliveredWebhook

if TYPE_CHECKING:
    from collections.abc import Callable

    import httpx
    from anyio.abc import TaskStatus

    from ._clock import VendorClock

__all__ = ["WebhookOutbox"]

_DUE_SLACK: Final = 1e-9
"""Vendor seconds under which a webhook counts as due: float rounding in `now()` must not
leave the deliverer waiting for a deadline too small for the loop's clock to reach."""


@attrs.frozen
class _Pending:
    url: str
    event: str
    body: Any
    content: bytes
    headers: Mapping[str, str]
    attempt: int


class WebhookOutbox:
    """Webhooks waiting for their due time, and the record of those that fell due.

    The vendor's job timeline is computed lazily from the clock, so nothing runs in the
    background unless the sandbox is entered; then `run` sends each webhook exactly at
    its due time. When not running, `promote_due` records due webhooks as never
    attempted, so a test without `async with sandbox` can still see what was sent.
    """

    def __init__(
        self,
        clock: VendorClock,
        *,
        timeout: float,
        retry_delays: tuple[float, ...],
        encode: Callable[[str, Any], tuple[bytes, Mapping[str, str]]],
    ) -> None:
        self._clock = clock
        self._timeout = timeout
        self._retry_delays = retry_delays
        self._encode = encode
        self._heap: list[tuple[float, int, _Pending]] = []
        self._order = itertools.count()
        self._wakeup: anyio.Event | None = None
        self.running = False
        self.records: list[DeliveredWebhook] = []

    def schedule(self, url: str, event: str, body: Any, *, due: float) -> None:
        content, headers = self._encode(event, body)
        self._push(due, _Pending(url, event, body, content, headers, attempt=1))

    def _push(self, due: float, pending: _Pending) -> None:
        heapq.heappush(self._heap, (due, next(self._order), pending))
        if self._wakeup is not None:
            self._wakeup.set()

    def promote_due(self, now: float) -> None:
        """Record every webhook due by `now` as not attempted (the sandbox is not running)."""
        while self._heap and self._heap[0][0] <= now + _DUE_SLACK:
            due, _, pending = heapq.heappop(self._heap)
            self.records.append(self._record(due, pending))

    def _record(self, due: float, pending: _Pending) -> DeliveredWebhook:
        return DeliveredWebhook(
            url=pending.url,
            event=pending.event,
            body=pending.body,
            vendor_time=due,
            attempt=pending.attempt,
            headers=pending.headers,
            content=pending.content,
        )

    async def run(
        self,
        client: httpx.AsyncClient,
        *,
        task_status: TaskStatus[None] = anyio.TASK_STATUS_IGNORED,
    ) -> None:
        """Deliver webhooks at their due time until cancelled."""
        self.running = True
        task_status.started()
        try:
            async with anyio.create_task_group() as tg:
                while True:
                    # A fresh event per turn: `schedule` sets it, waking us to re-read the heap.
                    self._wakeup = wakeup = anyio.Event()
                    if not self._heap:
                        await wakeup.wait()
                        continue
                    due = self._heap[0][0]
                    delay = due - self._clock.now()
                    if delay > _DUE_SLACK:
                        with anyio.move_on_after(self._clock.loop_seconds(delay)):
                            await wakeup.wait()
                        continue
                    _, _, pending = heapq.heappop(self._heap)
                    record = self._record(due, pending)
                    self.records.append(record)
                    # One task per delivery: a slow receiver must not delay the others.
                    tg.start_soon(self._deliver, client, record, pending)
        finally:
            self.running = False
            self._wakeup = None

    async def _deliver(
        self, client: httpx.AsyncClient, record: DeliveredWebhook, pending: _Pending
    ) -> None:
        try:
            with anyio.fail_after(self._clock.loop_seconds(self._timeout)):
                response = await client.post(
                    pending.url, content=pending.content, headers=dict(pending.headers)
                )
        except TimeoutError:
            record.error = f"no answer within {self._timeout:g} s"
        except Exception as exc:  # noqa: BLE001 - a receiver's failure, even a bug in a test's ASGI app, is recorded, not raised into the sandbox
            record.error = f"{type(exc).__name__}: {exc}"
        else:
            record.status_code = response.status_code
            record.delivered = response.is_success
            if not record.delivered:
                record.error = f"receiver answered HTTP {response.status_code}"
        if not record.delivered and pending.attempt <= len(self._retry_delays):
            delay = self._retry_delays[pending.attempt - 1]
            retry = attrs.evolve(pending, attempt=pending.attempt + 1)
            self._push(self._clock.now() + delay, retry)
