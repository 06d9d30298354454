"""Send one request: host pinning, rate budget, retries of transient faults, error mapping.

This is the only place coursegen talks to the network. The policy, in order:

1. Every request goes to the configured host only, unless the provider declares its
   operation keyless (`Capabilities.keyless`: public pages); a keyless request carries no
   header or URL holding a configured secret. Anything else is refused before a byte is
   sent (a vendor answer must never redirect our key).
2. Every attempt waits for the budget of its (provider, scope, operation).
3. Transient faults are retried with exponential backoff and full jitter, the vendor's
   `Retry-After` taking precedence (capped at `RetryPolicy.max_hint`): connection faults,
   stalls (`attempt_timeout`), 5xx, 429, and unreadable 2xx bodies. All attempts of one
   request end by `RetryPolicy.deadline` (`RequestTimeout`).
4. A create (`Operation.SUBMIT`) is retried only when a retry cannot make a second job:
   the request provably never reached the vendor (no connection; the request never
   completely written, as httpcore's trace events tell), the vendor answered 429
   (nothing was created), or the provider deduplicates creates by idempotency key (an
   unreadable 2xx answer is then retried too: the replay answers the original). A create
   that may duplicate goes out on a fresh connection when the client owns its pool, so a
   pooled connection the vendor closed can never eat it. Otherwise the caller gets
   `SubmitOutcomeUnknown` (an answer was lost) or the vendor's error.
5. The body is read here, raw, and decoded here: a body that does not match its
   `Content-Encoding` is `MalformedResponse` carrying the bytes received, and every
   configured secret is masked in it before an adapter sees it.
"""

from __future__ import annotations

import functools
import logging
import zlib
from typing import TYPE_CHECKING, Any, Final, TypeVar

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
    RequestTimeout,
    SubmitOutcomeUnknown,
    TransportError,
)
from ._models import Snapshot
from ._redact import Redactor

if TYPE_CHECKING:
    import random
    import ssl
    from collections.abc import Callable, Mapping

    from ._adapter import Adapter
    from ._ratelimit import RateBudget, RateBudgets

__all__ = ["MAX_BODY", "RetryPolicy", "Sender"]

logger = logging.getLogger("coursegen")

T = TypeVar("T")

# The connection was never made: the vendor cannot have seen the request.
_NOT_SENT = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)
MAX_BODY: Final = 64 * 1024 * 1024
"""The largest vendor answer read (received or decoded), in bytes: past it, the answer is
`MalformedResponse`. Vendors send kilobytes; this bounds a broken or hostile server."""
_SECRET_HEADERS: Final = frozenset({"authorization", "proxy-authorization", "cookie", "x-api-key"})
"""Header names that carry credentials by their meaning, whatever their value."""


class _NoCookies(httpx.Cookies):
    """A cookie jar that keeps nothing: no vendor here authenticates by cookie (each
    request carries its key), and reading every answer's `Set-Cookie` into a jar costs
    a copy of the request and the response in urllib's shapes, on every poll."""

    def extract_cookies(self, response: httpx.Response) -> None:  # noqa: ARG002 - kept: nothing
        return None

    def set_cookie_header(self, request: httpx.Request) -> None:  # noqa: ARG002 - sent: nothing
        return None


@functools.cache
def _ssl_context() -> ssl.SSLContext:
    """httpx's default TLS context, made once per process: making one loads the CA
    bundle (a tenth of a second or more), and every client makes two pools."""
    return httpx.create_ssl_context()


class NoCookiesClient(httpx.AsyncClient):
    """The `httpx.AsyncClient` a client makes for itself when none is given: no cookies.

    A cookie a vendor set would also be sent back by every later request of the pool,
    to every job's poll, which no vendor documents: keys are the only credential.
    Its TLS context is the process's one (`_ssl_context`), unless `verify` is given.
    """

    _no_cookies = _NoCookies()

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("verify", _ssl_context())
        super().__init__(**kwargs)

    @property
    def cookies(self) -> httpx.Cookies:
        return self._no_cookies

    @cookies.setter
    def cookies(self, cookies: object) -> None:  # noqa: ARG002 - refused, whatever it is
        raise ConfigurationError("coursegen's own HTTP client keeps no cookies")


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

    - `attempts`, `initial`, `maximum`, `multiplier`: the backoff between attempts.
    - `attempt_timeout`: one exchange gets no answer within it (a stalled server, a
      transport without a timeout): it is a transport fault, retried like one. This and
      `deadline` are seconds of the client's clock, never divided by a sandbox's speed.
    - `deadline`: every attempt of one request, backoffs and budget waits between them
      included, ends by then (`RequestTimeout`); counted from the first send, so a
      create queued behind a thousand others in its budget is not cut short.
    - `max_hint`: the longest server hint obeyed (`Retry-After`, a rate-limit reset,
      a poll-after): a 429 saying "retry in a year" waits this long at most.
    - `server_errors`: caps the retries of a 5xx answer within `attempts` (None: no cap
      of its own), for vendors that say "retry 500 at most 3 times" while 429s and
      network faults may be retried longer.

    A provider carries its vendor's rules as its adapter's `retry_policy`; a policy
    given to `connect(retry=...)` replaces it.
    """

    attempts: int = 5
    initial: float = 1.0
    maximum: float = 30.0
    multiplier: float = 2.0
    attempt_timeout: float = 60.0
    deadline: float = 600.0
    max_hint: float = 300.0
    server_errors: int | None = None

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Full jitter (AWS architecture blog): spreads a crowd of retries evenly."""
        ceiling = min(self.maximum, self.initial * self.multiplier ** (attempt - 1))
        return rng.uniform(0.0, ceiling)


@attrs.define
class _Progress:
    """What httpcore's trace events said of one attempt: how far the request got."""

    traced: bool = False
    written: bool = False

    async def trace(self, event: str, info: Mapping[str, Any]) -> None:
        del info
        self.traced = True
        if event.endswith("send_request_body.complete"):
            self.written = True

    @property
    def provably_unsent(self) -> bool:
        """True when the vendor cannot have received a whole request.

        Only httpcore reports its progress; for any other transport (a mock, the
        in-process sandbox) only the kind of exception can tell.
        """
        return self.traced and not self.written


@attrs.define
class _InAir:
    """Whether an attempt that must not be repeated is being sent right now."""

    unsafe: bool = False


class _Stalled(Exception):
    """An exchange got no answer within `RetryPolicy.attempt_timeout`."""


class Sender:
    """Sends the requests of one provider's adapter through one `httpx.AsyncClient`.

    `fresh` is a client that keeps no connection alive, for creates that a retry could
    duplicate (None: use `http`, e.g. an injected transport with no pool); `redactor`
    masks the configured secrets in answers and messages.
    """

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
        redactor: Redactor | None = None,
        fresh: httpx.AsyncClient | None = None,
    ) -> None:
        self.http = http
        self.fresh = fresh
        self.adapter = adapter
        self.budgets = budgets
        self.pinned_host = pinned_host
        self.retry = retry
        self.time_scale = time_scale
        self.rng = rng
        self.redactor = redactor or Redactor(())
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
        budget, at that loop time. The request's deadline runs from the first send.
        """
        self._check_host(operation, request)
        budget = self.budget(operation)
        if budget is not None and reserved_at is None:
            reserved_at = await budget.acquire()
        elif budget is not None and budget.shared and reserved_at is not None:
            await budget.admit(reserved_at)  # the engine took the local place only
        failures: list[CourseGenError] = []
        in_air = _InAir()
        safe_to_repeat = operation is not Operation.SUBMIT or idempotent
        # Not scaled by `time_scale`: a stalled network is as slow next to a sped-up
        # sandbox as next to the vendor (a loaded machine must not trip them).
        deadline = anyio.current_time() + self.retry.deadline
        failed: _Retry | None = None
        if self.retry.attempt_timeout < self.retry.deadline:
            # The first attempt ends within `attempt_timeout`, so before the deadline:
            # it needs no deadline scope (most requests need no second attempt, and a
            # cancel scope is a good share of what a poll costs beyond its exchange).
            outcome = await self._try(
                operation,
                request,
                read,
                budget,
                attempt=1,
                sent_at=reserved_at,
                safe_to_repeat=safe_to_repeat,
                in_air=in_air,
            )
            if not isinstance(outcome, _Retry):
                return outcome
            failed = outcome
        with anyio.CancelScope(deadline=deadline) as scope:
            return await self._attempts(
                operation,
                request,
                read,
                budget,
                reserved_at=reserved_at,
                safe_to_repeat=safe_to_repeat,
                failures=failures,
                in_air=in_air,
                failed=failed,
            )
        if scope.cancelled_caught:
            raise self._deadline_passed(request, failures, unknown=in_air.unsafe)
        raise AssertionError("unreachable: the attempts return or raise")

    async def _attempts(
        self,
        operation: Operation,
        request: httpx.Request,
        read: Callable[[httpx.Response], T],
        budget: RateBudget | None,
        *,
        reserved_at: float | None,
        safe_to_repeat: bool,
        failures: list[CourseGenError],
        in_air: _InAir,
        failed: _Retry | None,
    ) -> T:
        """Every attempt of the request; `failed` is how the first went, if it went."""
        server_errors = 0
        outcome: T | _Retry | None = failed
        for attempt in range(1, self.retry.attempts + 1):
            if outcome is None:
                outcome = await self._try(
                    operation,
                    request,
                    read,
                    budget,
                    attempt=attempt,
                    sent_at=reserved_at if attempt == 1 else None,
                    safe_to_repeat=safe_to_repeat,
                    in_air=in_air,
                )
            if not isinstance(outcome, _Retry):
                return outcome
            failures.append(outcome.failure)
            if isinstance(outcome.failure, ProviderUnavailable):
                server_errors += 1
            cap = self.retry.server_errors
            if attempt == self.retry.attempts or (cap is not None and server_errors > cap):
                raise outcome.failure
            delay = max(self._backoff(attempt), self._hint(outcome.hint) or 0.0)
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
            outcome = None
        raise AssertionError("unreachable: the last attempt returns or raises")

    async def _try(
        self,
        operation: Operation,
        request: httpx.Request,
        read: Callable[[httpx.Response], T],
        budget: RateBudget | None,
        *,
        attempt: int,
        sent_at: float | None,
        safe_to_repeat: bool,
        in_air: _InAir,
    ) -> T | _Retry:
        """One attempt, its place in the budget taken (`sent_at`, else now) and settled."""
        if budget is not None and sent_at is None:
            sent_at = await budget.acquire(retry=True)
        in_air.unsafe = not safe_to_repeat
        try:
            return await self._attempt(
                operation,
                request,
                read,
                budget,
                attempt=attempt,
                safe_to_repeat=safe_to_repeat,
            )
        finally:
            in_air.unsafe = False
            if budget is not None and sent_at is not None:
                budget.settle(sent_at, anyio.current_time())
                if budget.shared:
                    await budget.settle_shared(sent_at)

    def _deadline_passed(
        self,
        request: httpx.Request,
        failures: list[CourseGenError],
        *,
        unknown: bool,
    ) -> CourseGenError:
        provider = self.adapter.name
        last = f"; the last attempt: {failures[-1]}" if failures else ""
        message = (
            f"{provider}: {request.method} {request.url.path} got no final answer within "
            f"its {self.retry.deadline:g} s deadline (RetryPolicy.deadline){last}"
        )
        if unknown:
            # A create that a retry could duplicate was in the air when the deadline
            # struck: it may have reached the vendor.
            return SubmitOutcomeUnknown(
                message + ". The vendor may hold a job for it.", provider=provider, request=request
            )
        return RequestTimeout(self.redactor.text(message))

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
        response = await self._answer(request, safe_to_repeat=safe_to_repeat)
        if isinstance(response, _Retry):
            return response
        if budget is not None:
            state = self.adapter.read_rate_limit(response)
            if state is not None:
                # The hint's cap in vendor seconds; the budget divides by the scale itself.
                budget.observe(
                    state,
                    anyio.current_time(),
                    time_scale=self.time_scale,
                    max_reset=self.retry.max_hint,
                )
        if response.is_success:
            try:
                return self._checked(operation, self._read(read, response), response)
            except MalformedResponse as exc:
                if not safe_to_repeat:
                    raise  # readable or not, the job exists now: never create another
                # A poll, or an idempotent create: the replay of its key answers the
                # original request, so asking again makes no second job.
                return _Retry(exc)
        error = self._read_error(response)
        if isinstance(error, RateLimited):
            if budget is not None:
                budget.rate_limited_total += 1
                # Our count said there was room: the vendor's clock runs apart from ours.
                budget.widen(budget.margin * 2)
                pause = self._hint(error.retry_after) or self._backoff(attempt)
                budget.block_for(pause, anyio.current_time())
            return _Retry(error, error.retry_after)
        if isinstance(error, ProviderUnavailable) and safe_to_repeat:
            return _Retry(error)
        raise error

    async def _answer(
        self, request: httpx.Request, *, safe_to_repeat: bool
    ) -> httpx.Response | _Retry:
        """The vendor's answer, or what to retry; a create that may have been received
        and lost raises `SubmitOutcomeUnknown`."""
        provider = self.adapter.name
        progress = _Progress()
        try:
            return await self._exchange(request, progress, safe_to_repeat=safe_to_repeat)
        except (httpx.TransportError, _Stalled) as exc:
            unsent = isinstance(exc, _NOT_SENT) or progress.provably_unsent
            if not safe_to_repeat and not unsent:
                raise SubmitOutcomeUnknown(
                    f"{provider}: the create request was sent but its answer was lost "
                    f"({type(exc).__name__}); the vendor may hold a job for it, so it "
                    "was not retried. Check the vendor's webhook (deduplicate on the "
                    "job id) before submitting again.",
                    provider=provider,
                    request=request,
                ) from exc
            failure = TransportError(
                self.redactor.text(
                    f"{provider}: {type(exc).__name__} talking to {request.url.host}"
                    + (f": {exc}" if str(exc) else "")
                )
            )
            failure.__cause__ = exc
            return _Retry(failure)
        except (httpx.HTTPError, httpx.InvalidURL, httpx.StreamError) as exc:
            # Anything else httpx raises (a URL or a protocol it cannot handle) is no
            # vendor answer and no transient fault: typed, never retried.
            raise TransportError(
                self.redactor.text(f"{provider}: {type(exc).__name__}: {exc}")
            ) from exc
        except MalformedResponse as exc:
            # A body that does not match its Content-Encoding, or too large to read.
            if not safe_to_repeat:
                raise  # the vendor answered: a job may exist, never create another
            return _Retry(exc)

    async def _exchange(
        self, request: httpx.Request, progress: _Progress, *, safe_to_repeat: bool
    ) -> httpx.Response:
        http = self.http if safe_to_repeat or self.fresh is None else self.fresh
        extensions = request.extensions
        request.extensions = {**extensions, "trace": progress.trace}
        try:
            with anyio.move_on_after(self.retry.attempt_timeout) as scope:  # unscaled, as above
                response = await http.send(request, stream=True)
                try:
                    received = await _read_raw(response, self.adapter.name)
                finally:
                    await response.aclose()
        finally:
            # A request kept for the job's next poll keeps nothing of this attempt.
            request.extensions = extensions
        if scope.cancelled_caught:
            raise _Stalled(f"no answer within {self.retry.attempt_timeout:g} s")
        if logger.isEnabledFor(logging.DEBUG):  # the path is not even read otherwise
            logger.debug(
                "%s %s %s -> %d",
                self.adapter.name,
                request.method,
                request.url.path,
                response.status_code,
            )
        return self._decoded(request, response, received)

    def _decoded(
        self, request: httpx.Request, response: httpx.Response, received: bytes | None
    ) -> httpx.Response:
        """The response with its body decoded by us, and every secret in it masked."""
        if received is None:
            # Built in memory and read when it was made (a mock): its content is final.
            content = response.content
            headers = response.headers
        elif (encoding := response.headers.get("Content-Encoding")) is None:
            content = received  # the common case: nothing to decode, no header to drop
            headers = response.headers
        else:
            try:
                content = _decode(received, encoding)
            except _Undecodable as exc:
                if response.is_success:
                    raise MalformedResponse(
                        f"HTTP {response.status_code} came with a body that is not "
                        f"{encoding!r}-encoded as it says: {exc}",
                        provider=self.adapter.name,
                        raw=self.redactor.text(received.decode("utf-8", "replace")),
                        status_code=response.status_code,
                    ) from None
                # An error answer is classified by its status: its bytes as they came.
                content = received
            headers = httpx.Headers(
                [
                    (name, value)
                    for name, value in response.headers.multi_items()
                    if name.lower() != "content-encoding"  # the body is decoded now
                ]
            )
        decoded = httpx.Response(
            response.status_code,
            headers=self._masked_headers(headers),
            content=self.redactor.bytes(content),
            request=request,
            extensions=response.extensions,
        )
        try:
            # Without a charset the text is UTF-8 with replacements, and cannot fail:
            # only a declared charset is tried here (the text is decoded on demand).
            if "charset" in decoded.headers.get("Content-Type", "").lower():
                decoded.text  # noqa: B018 - decoded once here, so that reading it never raises
        except (UnicodeError, LookupError):
            # The declared charset cannot decode the body (UTF-16 without a BOM): the
            # text is read as UTF-8 with replacements, like a body that declares none.
            decoded = httpx.Response(
                decoded.status_code,
                headers=[
                    (name, value.split(";", 1)[0] if name.lower() == "content-type" else value)
                    for name, value in decoded.headers.multi_items()
                ],
                content=decoded.content,
                request=request,
                extensions=response.extensions,
            )
        return decoded

    def _masked_headers(self, headers: httpx.Headers) -> httpx.Headers:
        if not self.redactor:
            return headers
        if headers.encoding in ("ascii", "utf-8"):
            # The secrets' UTF-8 bytes are found in the raw values without decoding them.
            found = any(self.redactor.contains_bytes(value) for _, value in headers.raw)
        else:
            found = any(self.redactor.contains(value) for value in headers.values())
        if not found:
            return headers
        return httpx.Headers(
            [(name, self.redactor.text(value)) for name, value in headers.multi_items()]
        )

    def _checked(self, operation: Operation, result: T, response: httpx.Response) -> T:
        """What every snapshot read must be, whatever the adapter: a create names its job,
        and a poll-after hint is no longer than `RetryPolicy.max_hint`."""
        if not isinstance(result, Snapshot):
            return result
        job_id: object = result.job_id
        if operation is Operation.SUBMIT and (not isinstance(job_id, str) or not job_id.strip()):
            raise MalformedResponse(
                f"the create was answered without a job id ({job_id!r})",
                provider=self.adapter.name,
                raw=response.text,
                status_code=response.status_code,
            )
        if result.poll_after is not None and not 0 <= result.poll_after <= self.retry.max_hint:
            capped = min(max(result.poll_after, 0.0), self.retry.max_hint)
            return attrs.evolve(result, poll_after=capped)
        return result

    def _read_error(self, response: httpx.Response) -> ProviderError:
        try:
            error: object = self.adapter.read_error(response)
        except Exception as exc:  # noqa: BLE001 - a plugin's bug must not hide the vendor's answer
            error = exc
        if isinstance(error, ProviderError):
            error.message = self.redactor.text(error.message)
            error.raw = self.redactor.optional(error.raw)
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
        except MalformedResponse as exc:
            exc.raw = self.redactor.optional(exc.raw)
            raise
        except CourseGenError:
            raise
        except Exception as exc:
            # Adapters are meant to raise MalformedResponse themselves; a KeyError or
            # TypeError escaping one still means the same thing to the user.
            raise MalformedResponse(
                self.redactor.text(f"the response could not be read ({type(exc).__name__}: {exc})"),
                provider=self.adapter.name,
                raw=response.text,
                status_code=response.status_code,
            ) from exc

    def _check_host(self, operation: Operation, request: httpx.Request) -> None:
        keyless = operation in self.adapter.capabilities.keyless
        if request.url.host != self.pinned_host and not keyless:
            raise ConfigurationError(
                f"{self.adapter.name}: refusing to send a {operation} request to "
                f"{request.url.host!r}; only the configured host {self.pinned_host!r} "
                "receives requests that may carry credentials"
            )
        if keyless and (
            any(name.lower() in _SECRET_HEADERS for name in request.headers)
            or any(self.redactor.contains(value) for value in request.headers.values())
            or self.redactor.contains(str(request.url))
        ):
            raise ConfigurationError(
                f"{self.adapter.name}: refusing to send credentials with a keyless "
                f"{operation} request"
            )

    def _backoff(self, attempt: int) -> float:
        return self.retry.delay(attempt, self.rng) / self.time_scale

    def _hint(self, vendor_seconds: float | None) -> float | None:
        """A server's hint in loop seconds, capped at `RetryPolicy.max_hint`."""
        if vendor_seconds is None:
            return None
        return min(max(vendor_seconds, 0.0), self.retry.max_hint) / self.time_scale


class _Undecodable(Exception):
    """The body does not match its Content-Encoding."""


async def _read_raw(response: httpx.Response, provider: str) -> bytes | None:
    """The body as received (no decoding), at most `MAX_BODY`; None if already read."""
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in response.aiter_raw():
            size += len(chunk)
            if size > MAX_BODY:
                raise MalformedResponse(
                    f"HTTP {response.status_code} came with a body over {MAX_BODY} bytes",
                    provider=provider,
                    raw=None,
                    status_code=response.status_code,
                )
            chunks.append(chunk)
    except httpx.StreamConsumed:
        return None
    return b"".join(chunks)


def _decode(received: bytes, header: str | None) -> bytes:
    """`received` decoded by its Content-Encoding codings (last applied, first undone).

    gzip and deflate are decoded here, strictly (a truncated stream is an error, not
    the part that arrived) and bounded by `MAX_BODY`; any other coding httpx knows (br,
    zstd with their packages installed) by httpx, and a coding nobody knows is taken as
    identity, as httpx does.
    """
    codings = [part.strip().lower() for part in (header or "").split(",") if part.strip()]
    data = received
    for coding in reversed(codings):
        if coding in ("identity", ""):
            continue
        if coding in ("gzip", "x-gzip"):
            data = _inflate(data, 16 + zlib.MAX_WBITS)
        elif coding == "deflate":
            try:
                data = _inflate(data, zlib.MAX_WBITS)
            except _Undecodable:
                data = _inflate(data, -zlib.MAX_WBITS)  # raw deflate, as some servers send
        else:
            try:
                data = httpx.Response(
                    200, headers={"Content-Encoding": coding}, content=data
                ).content
            except httpx.DecodingError as exc:
                raise _Undecodable(str(exc)) from None
    return data


def _inflate(data: bytes, wbits: int) -> bytes:
    decoder = zlib.decompressobj(wbits)
    try:
        out = decoder.decompress(data, MAX_BODY)
    except zlib.error as exc:
        raise _Undecodable(str(exc)) from None
    if decoder.unconsumed_tail:
        raise _Undecodable(f"it decodes to more than {MAX_BODY} bytes")
    if not decoder.eof:
        raise _Undecodable("the compressed stream is truncated")
    return out
