"""Send one request: host pinning, rate budget, retries of transient faults, error mapping.

This is the only place coursegen talks to the network. The policy, in order:

1. A request carrying credentials goes only to the configured host; anything else is
   refused before a byte is sent (a vendor answer must never redirect our key).
2. Every attempt waits for the budget of its (provider, scope, operation).
3. Transient faults are retried with exponential backoff and full jitter, the vendor's
   `Retry-After` taking precedence: connection faults, 5xx, 429, and unreadable 2xx bodies.
4. A create (`Operation.SUBMIT`) is retried only when a retry cannot make a second job:
   the connection failed before the request was sent, the vendor answered 429 (nothing
   was created), or the provider deduplicates creates by idempotency key. Otherwise the
   caller gets `SubmitOutcomeUnknown` (an answer was lost) or the vendor's error.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, TypeVar

import anyio
import attrs
import httpx

from ._adapter import Operation
from ._errors import (
    ConfigurationError,
    CourseGenError,
    MalformedResponse,
    ProviderError,
    ProviderUnavailable,
    RateLimited,
    SubmitOutcomeUnknown,
    TransportError,
)

if TYPE_CHECKING:
    import random
    from collections.abc import Callable

    from ._adapter import Adapter
    from ._ratelimit import RateBudget, RateBudgets

__all__ = ["RetryPolicy", "Sender"]

logger = logging.getLogger("coursegen")

T = TypeVar("T")

# The connection was never made: the vendor cannot have seen the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


@attrs.frozen
class _Retry:
    """An attempt that failed in a way worth another: the error, and the vendor's hint."""

    failure: CourseGenError
    hint: float | None = None


@attrs.frozen
class RetryPolicy:
    """How one request is retried when the fault is transient (seconds of vendor time).

    Separate from `PollPolicy` on purpose: how often to ask whether a job is done and
    how hard to insist when one asking fails are different questions.

    `server_errors` caps the retries of a 5xx answer within `attempts` (None: no cap of
    its own), for vendors that say "retry 500 at most 3 times" while 429s and network
    faults may be retried longer. A provider carries its vendor's rules as its adapter's
    `retry_policy`; a policy given to `connect(retry=...)` replaces it.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    server_errors: int | None = None

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): spreads a crowd of retries evenly."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


class Sender:
    """Sends the requests of one provider's adapter through one `httpx.AsyncClient`."""

    def __init__(
        self,
        http: httpx.AsyncClient,
        adapter: Adapter,
        budgets: RateBudgets,
        *,
        pinned_host: str,
        retry: RetryPolicy,
        time_scale: float,
        rng: random.Random,
    ) -> None:
        self.http = http
        self.adapter = adapter
        self.budgets = budgets
        self.pinned_host = pinned_host
        self.retry = retry
        self.time_scale = time_scale
        self.rng = rng
        # Looked up on every request: the adapter's scope and policy do not change.
        self._budget_of: dict[Operation, RateBudget | None] = {}

    def budget(self, operation: Operation) -> RateBudget | None:
        """The budget this sender spends for `operation` (None: the vendor sets no limit)."""
        try:
            return self._budget_of[operation]
        except KeyError:
            budget = self._budget_of[operation] = self.budgets.get(
                self.adapter.name,
                self.adapter.rate_scope,
                operation,
                self.adapter.policy.rate_limits.get(operation),
                self.time_scale,
            )
            return budget

    async def send(
        self,
        operation: Operation,
        request: httpx.Request,
        read: Callable[[httpx.Response], T],
        *,
        idempotent: bool = False,
        reserved_at: float | None = None,
    ) -> T:
        """Send until a readable answer or a final error; `read` parses a 2xx response.

        `reserved_at` says the caller already took the first attempt's place in the
        budget, at that loop time.
        """
        self._check_host(request)
        budget = self.budget(operation)
        safe_to_repeat = operation is not Operation.SUBMIT or idempotent
        server_errors = 0
        for attempt in range(1, self.retry.attempts + 1):
            sent_at = reserved_at if attempt == 1 else None
            if budget is not None and sent_at is None:
                sent_at = await budget.acquire()
            try:
                outcome = await self._attempt(
                    operation,
                    request,
                    read,
                    budget,
                    attempt=attempt,
                    safe_to_repeat=safe_to_repeat,
                )
            finally:
                if budget is not None and sent_at is not None:
                    budget.settle(sent_at, anyio.current_time())
            if not isinstance(outcome, _Retry):
                return outcome
            if isinstance(outcome.failure, ProviderUnavailable):
                server_errors += 1
            cap = self.retry.server_errors
            if attempt == self.retry.attempts or (cap is not None and server_errors > cap):
                raise outcome.failure
            delay = max(self._backoff(attempt), self._to_loop(outcome.hint) or 0.0)
            logger.info(
                "%s %s %s: %s; retry %d/%d in %.2fs",
                self.adapter.name,
                request.method,
                request.url.path,
                type(outcome.failure).__name__,
                attempt,
                self.retry.attempts - 1,
                delay,
            )
            await anyio.sleep(delay)
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _attempt(
        self,
        operation: Operation,
        request: httpx.Request,
        read: Callable[[httpx.Response], T],
        budget: RateBudget | None,
        *,
        attempt: int,
        safe_to_repeat: bool,
    ) -> T | _Retry:
        """One exchange: its result, a final error raised, or what to retry and why."""
        provider = self.adapter.name
        try:
            response = await self._exchange(request)
        except httpx.TransportError as exc:
            if not safe_to_repeat and not isinstance(exc, _NOT_SENT):
                raise SubmitOutcomeUnknown(
                    f"{provider}: the create request was sent but its answer was lost "
                    f"({type(exc).__name__}); the vendor may hold a job for it, so it "
                    "was not retried. Check the vendor's webhook (deduplicate on the "
                    "job id) before submitting again.",
                    provider=provider,
                    request=request,
                ) from exc
            failure = TransportError(
                f"{provider}: {type(exc).__name__} talking to {request.url.host}"
                + (f": {exc}" if str(exc) else "")
            )
            failure.__cause__ = exc
            return _Retry(failure)
        state = self.adapter.read_rate_limit(response)
        if budget is not None and state is not None:
            budget.observe(
                attrs.evolve(state, reset_after=self._to_loop(state.reset_after)),
                anyio.current_time(),
            )
        if response.is_success:
            try:
                return self._read(read, response)
            except MalformedResponse as exc:
                if operation is Operation.SUBMIT:
                    raise  # readable or not, the job exists now: never create another
                return _Retry(exc)
        error = self._read_error(response)
        if isinstance(error, RateLimited):
            if budget is not None:
                budget.rate_limited_total += 1
                pause = self._to_loop(error.retry_after) or self._backoff(attempt)
                budget.block_for(pause, anyio.current_time())
            return _Retry(error, error.retry_after)
        if isinstance(error, ProviderUnavailable) and safe_to_repeat:
            return _Retry(error)
        raise error

    async def _exchange(self, request: httpx.Request) -> httpx.Response:
        response = await self.http.send(request)
        try:
            await response.aread()
        finally:
            await response.aclose()
        logger.debug(
            "%s %s %s -> %d",
            self.adapter.name,
            request.method,
            request.url.path,
            response.status_code,
        )
        return response

    def _read_error(self, response: httpx.Response) -> ProviderError:
        try:
            error: object = self.adapter.read_error(response)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not hide the vendor's answer
            error = exc
        if isinstance(error, ProviderError):
            return error
        return ProviderError(
            f"HTTP {response.status_code} (the adapter could not read the error body: "
            f"{type(error).__name__})",
            provider=self.adapter.name,
            status_code=response.status_code,
            raw=response.text,
        )

    def _read(self, read: Callable[[httpx.Response], T], response: httpx.Response) -> T:
        try:
            return read(response)
        except CourseGenError:
            raise
        except Exception as exc:
            # Adapters are meant to raise MalformedResponse themselves; a KeyError or
            # TypeError escaping one still means the same thing to the user.
            raise MalformedResponse(
                f"the response could not be read ({type(exc).__name__}: {exc})",
                provider=self.adapter.name,
                raw=response.text,
                status_code=response.status_code,
            ) from exc

    def _check_host(self, request: httpx.Request) -> None:
        if "authorization" in request.headers and request.url.host != self.pinned_host:
            raise ConfigurationError(
                f"{self.adapter.name}: refusing to send credentials to {request.url.host!r}; "
                f"only the configured host {self.pinned_host!r} receives them"
            )

    def _backoff(self, attempt: int) -> float:
        return self.retry.delay(attempt, self.rng) / self.time_scale

    def _to_loop(self, vendor_seconds: float | None) -> float | None:
        return None if vendor_seconds is None else vendor_seconds / self.time_scale
