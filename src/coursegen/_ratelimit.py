"""Rate budgets shared by every job on one (provider, scope, operation).

A vendor limits requests per key (or workspace) and endpoint over a sliding window.
Many jobs on one key must share that limit instead of each tripping it, so the engine
asks the budget *before* sending, never finds out from a 429. The budget starts from the
vendor's documented limit and learns from what the vendor says at run time: the
`*-Remaining`/`*-Reset` headers (others may use the same key) and 429s.

Everything here is in loop seconds; the caller converts vendor seconds first.
"""

from __future__ import annotations

import bisect
import logging
import math
import weakref
from typing import TYPE_CHECKING, ClassVar

import anyio
import anyio.lowlevel
import attrs

from ._errors import ConfigurationError, StoreError

if TYPE_CHECKING:
    from ._adapter import Operation, RateLimit, RateLimitState
    from .store import SQLStore

__all__ = ["BudgetUse", "RateBudget", "RateBudgets", "SharedBudget", "web_share"]

logger = logging.getLogger("coursegen")

# Our clock and the vendor's never agree exactly. Latency needs no margin (a send is
# counted from its answer, after the vendor saw it: see `settle`); what remains is the
# vendor's clock running apart from ours. The margin starts at this share of the window,
# until the vendor's `*-Reset` headers have said how far apart the clocks are (`observe`):
# then it is what they showed, and no more. A 429 our count did not foresee puts it back
# to at least this share, and doubles it on each further one (`widen`).
_MIN_MARGIN = 0.001
# The margin never grows beyond this share of the window.
_MAX_MARGIN = 0.1
# Resets compared with our own count before the margin is taken from them alone.
_SKEW_SAMPLES = 8
# What remains of the margin when the clocks agree: float rounding, as a share of the
# window (a send due exactly when the vendor's window ends must not arrive before it).
_GUARD = 1e-6


@attrs.frozen
class BudgetUse:
    """One rate budget of a client at one moment, for monitoring (`Client.budgets()`).

    `scope` is who shares it (a key's fingerprint, a workspace: never a secret) and
    `name` the operation or pool it limits. `limit` and `window` are what the vendor
    allows (`window` in vendor seconds); `in_window` the sends counted in the current
    window; `sent` and `rate_limited` count every answered send and 429 so far.
    """

    provider: str
    scope: str
    name: str
    limit: int
    window: float
    in_window: int
    sent: int
    rate_limited: int


class RateBudget:
    """At most `limit` sends in any `window` seconds: a sliding log of send times.

    `available_at(now)` tells when the next send may go without spending it; `take(now)`
    spends it. The scheduler uses the pair to reschedule instead of blocking a task per
    job; `acquire()` is the blocking form for one-off requests.

    `reserved` places of the vendor's limit are kept for others (a fleet's web
    processes, see `SharedBudget`): this budget spends `limit - reserved` of them, and a
    limit the vendor reports is lowered by as much.
    """

    #: Whether sends also take a place in a budget kept elsewhere (`SharedBudget`).
    shared: ClassVar[bool] = False

    def __init__(self, limit: int, window: float, *, reserved: int = 0) -> None:
        limit -= reserved
        if limit < 1 or window <= 0:
            raise ValueError("a rate limit needs limit >= 1 and window > 0")
        self.limit = limit
        self.reserved = reserved
        self.nominal_window = window  # the vendor's, without our margin
        self.margin = window * _MIN_MARGIN
        self.window = window + self.margin
        # How much later than our count the vendor's window has been seen to end, at
        # most (loop seconds; negative: never later), over how many resets compared;
        # and the least margin 429s have asked for (`widen`).
        self.skew = -math.inf
        self.skew_samples = 0
        self._widened = 0.0
        # Send times inside the current window, oldest first (phantoms included: sends by
        # others on the same key that the vendor told us about).
        self._sent: list[float] = []
        self._blocked_until = -math.inf
        # Waiters take their turn in arrival order (anyio's Lock is fair): a thousand
        # concurrent creates go out at the allowed pace without a thundering herd.
        self._turn = anyio.Lock()
        # For monitoring (`Client.budgets()`): sends answered, and 429s among them.
        self.sent_total = 0
        self.rate_limited_total = 0

    def __repr__(self) -> str:
        return f"RateBudget(limit={self.limit}, window={self.window:.2f}, used={len(self._sent)})"

    def _expire(self, now: float) -> None:
        horizon = now - self.window
        cut = bisect.bisect_right(self._sent, horizon)
        if cut:
            del self._sent[:cut]

    def available_at(self, now: float) -> float:
        self._expire(now)
        at = max(now, self._blocked_until)
        if len(self._sent) >= self.limit:
            at = max(at, self._sent[len(self._sent) - self.limit] + self.window)
        return at

    def take(self, now: float) -> float:
        """Spend a send at `now`; returns the time to `settle` it with."""
        bisect.insort(self._sent, now)
        return now

    def settle(self, sent_at: float, answered_at: float) -> None:
        """The send taken at `sent_at` was answered (or failed) at `answered_at`.

        The vendor counted it somewhere in between, when it arrived, which we cannot see:
        a send queued in a connection pool, or slow on the wire, arrives late. Counting it
        from the answer makes sure the next window starts after the vendor's own.
        """
        self.sent_total += 1
        index = bisect.bisect_left(self._sent, sent_at)
        if index < len(self._sent) and self._sent[index] == sent_at:
            del self._sent[index]
            bisect.insort(self._sent, answered_at)

    async def acquire(self, *, retry: bool = False) -> float:
        """Wait, first come first served, until a send is allowed; then spend it.

        A `retry` (another attempt of a request already sent) does not queue behind the
        requests not yet sent: it takes the next free place, so the request's deadline
        is not spent waiting for a thousand others' first sends.
        Returns the time it was taken, to `settle` it with.
        """
        if retry:
            return await self._next_place()
        async with self._turn:
            return await self._next_place()

    async def _next_place(self) -> float:
        while True:
            now = anyio.current_time()
            at = self.available_at(now)
            if at <= now:
                return self.take(now)
            await anyio.sleep(at - now)

    def observe(
        self,
        state: RateLimitState,
        now: float,
        *,
        time_scale: float = 1.0,
        max_reset: float = math.inf,
    ) -> None:
        """Reconcile with what the vendor reported after a response. Its seconds are the
        vendor's (`time_scale` of them make one loop second), a reset taken as at most
        `max_reset` of them: no copy of the state is made per response."""
        if state.limit is not None and 0 < state.limit - self.reserved < self.limit:
            self.limit = state.limit - self.reserved
        if state.remaining is None:
            return
        if state.reset_after is None:
            reset_after = self.window
        else:
            reset_after = min(max(state.reset_after, 0.0), max_reset) / time_scale
        if state.remaining <= 0:
            self.block_for(reset_after, now)
            return
        self._expire(now)
        # The vendor counts more than we sent: someone else uses this key. Record their
        # share as phantom sends that leave the window when the vendor says it resets.
        unseen = (self.limit - len(self._sent)) - state.remaining
        if unseen == 0 and self._sent and state.reset_after is not None and reset_after > 0:
            self._compare_clocks(state.reset_after, time_scale, now)
        if unseen > 0:
            leaves_at = now + reset_after - self.window
            for _ in range(unseen):
                bisect.insort(self._sent, leaves_at)

    def _compare_clocks(self, vendor_reset: float, time_scale: float, now: float) -> None:
        """The vendor counts the sends we count, and says its window frees up in
        `vendor_reset` of its seconds: compare with when our oldest send leaves our
        count, and keep the margin to what the difference needs.

        A whole number of seconds may have been rounded up (or down) by up to one: the
        vendor's window ends at least `reset_after` less that second from now. Over many
        answers, at every fraction of a second, the largest difference seen comes within
        a small part of a second of the true one.
        """
        rounding = 1.0 if float(vendor_reset).is_integer() else 0.0
        least = (vendor_reset - rounding) / time_scale
        ours = self._sent[0] + self.nominal_window - now
        self.skew = max(self.skew, least - ours)
        self.skew_samples += 1
        if self.skew_samples >= _SKEW_SAMPLES:
            self._set_margin(max(self.skew, 0.0) + self.nominal_window * _GUARD)

    def _set_margin(self, margin: float) -> None:
        margin = min(max(margin, self._widened), self.nominal_window * _MAX_MARGIN)
        self.margin = margin
        self.window = self.nominal_window + margin

    def widen(self, margin: float) -> None:
        """Keep at least `margin` loop seconds of each window free of doubt (up to a cap):
        a 429 our count did not foresee. Never less than the margin the budget started
        with: the clocks differ by more than the vendor's resets showed."""
        margin = max(margin, self.nominal_window * _MIN_MARGIN)
        self._widened = max(self._widened, min(margin, self.nominal_window * _MAX_MARGIN))
        if margin > self.margin:
            self._set_margin(margin)

    def in_window(self, now: float) -> int:
        """Sends counted in the window that ends at `now` (others' sends included)."""
        self._expire(now)
        return len(self._sent)

    def block_for(self, seconds: float, now: float) -> None:
        """Send nothing for `seconds` (a 429's Retry-After, a reset with nothing left)."""
        self._blocked_until = max(self._blocked_until, now + max(seconds, 0.0))

    async def admit(self, sent_at: float) -> None:
        """A place taken with `take` (the engine's polls) is confirmed where the budget is
        shared; here, nothing to do."""

    async def settle_shared(self, sent_at: float) -> None:
        """The shared side of `settle` (see `SharedBudget`); here, nothing to do."""


def web_share(limit: int) -> int:
    """The places of a vendor's `limit` a fleet keeps for the requests its web processes
    send themselves (exports, public pages): a tenth, at least one; the scope's owner
    spends the rest. Both sides compute it from the same limit, so they agree."""
    return max(1, limit // 10) if limit > 1 else 0


class SharedBudget(RateBudget):
    """A fleet web process's budget: every send also takes a place in the PostgreSQL
    sliding log of the scope (`coursegen_rate_take`, on the database's clock, under an
    advisory lock), which all the fleet's web processes share. They get `web_share` of
    the vendor's limit together; the scope's owner keeps the rest in memory (its
    `RateBudget` is made with `reserved=` that share), so owner and web processes never
    exceed the limit together, and the owner pays no database round trip per request.

    The local log (the parent class) still paces this process's own sends and keeps the
    engine's scheduling synchronous; the database's log is the one that decides.
    """

    shared: ClassVar[bool] = True

    def __init__(
        self, limit: int, window: float, *, store: SQLStore, key: str, in_flight: float
    ) -> None:
        self.share = web_share(limit)
        super().__init__(limit, window, reserved=limit - max(self.share, 1))
        self._store = store
        self._key = key
        self._in_flight = in_flight
        self._entries: dict[float, int] = {}  # local take time -> the database's entry

    def __repr__(self) -> str:
        return f"SharedBudget({self._key}, share={self.share}, window={self.window:.2f})"

    async def acquire(self, *, retry: bool = False) -> float:
        sent_at = await super().acquire(retry=retry)
        try:
            await self.admit(sent_at)
        except BaseException:
            super().settle(sent_at, anyio.current_time())
            raise
        return sent_at

    async def admit(self, sent_at: float) -> None:
        """Wait for a place in the database's log too (the local one is taken)."""
        if sent_at in self._entries:
            return  # admitted already (`acquire`, then a send with its place reserved)
        if self.share < 1:
            raise ConfigurationError(
                f"{self._key}: the vendor allows one request per window, which the "
                "scope's owner keeps: a fleet's web processes cannot send here"
            )
        while True:
            entry, value = await self._store.rate_take(
                self._key, self.share, self.window, self._in_flight
            )
            if entry is not None:
                self._entries[sent_at] = entry
                return
            await anyio.sleep(value)

    def observe(
        self,
        state: RateLimitState,
        now: float,
        *,
        time_scale: float = 1.0,
        max_reset: float = math.inf,
    ) -> None:
        """Only a spent key blocks: what others on the key sent is the owner's share,
        already kept out of this one (no phantom sends)."""
        if state.remaining is not None and state.remaining <= 0:
            reset = self.window if state.reset_after is None else state.reset_after
            self.block_for(min(max(reset, 0.0), max_reset) / time_scale, now)

    async def settle_shared(self, sent_at: float) -> None:
        """The answer came: the database's entry counts from now (see `settle`)."""
        entry = self._entries.pop(sent_at, None)
        if entry is None:
            return
        try:
            await self._store.rate_settle(self._key, entry)
        except StoreError as exc:  # it still leaves after `in_flight` seconds
            logger.warning("coursegen: shared budget %s: answer not recorded: %s", self._key, exc)


class RateBudgets:
    """The budgets one client spends from, each shared by every client of the process
    that talks to the same endpoint on the same key or workspace.

    The vendor counts a key's (or a workspace's) requests together, whichever client
    sent them: two clients in one process each keeping its own budget would together
    draw 429s. So a budget is looked up in a process-wide registry keyed by the event
    loop (budgets live on one loop's clock and lock), the endpoint (`endpoint`: the host,
    and the simulator for an in-process one), the provider, `Adapter.rate_scope` and the
    pool or operation. The registry holds budgets weakly: they go with their last client.
    """

    _shared: ClassVar[weakref.WeakValueDictionary[tuple[object, ...], RateBudget]] = (
        weakref.WeakValueDictionary()
    )

    def __init__(
        self,
        endpoint: str = "",
        *,
        reserve: bool = False,
        shared: tuple[SQLStore, str, float] | None = None,
    ) -> None:
        self._endpoint = endpoint
        self._budgets: dict[tuple[str, str, str], RateBudget] = {}
        # A fleet's scope owner keeps `web_share` of each limit for the web processes
        # (`reserve`); a fleet's web process spends that share, in the database
        # (`shared`: the store, the scope's key, how long a request may be in the air).
        self._reserve = reserve
        self._shared_in = shared

    def items(self) -> list[tuple[tuple[str, str, str], RateBudget]]:
        """Every budget made so far, by (provider, scope, pool or operation)."""
        return list(self._budgets.items())

    def get(
        self, provider: str, scope: str, operation: Operation, limit: RateLimit | None, scale: float
    ) -> RateBudget | None:
        if limit is None:
            return None
        key = (provider, scope, str(limit.pool or operation))
        budget = self._budgets.get(key)
        if budget is None:
            window = limit.window / scale
            # A shared budget is its store's (it goes with it); a reserving one is not
            # an owner-less one's.
            kind: object = "reserve" if self._reserve else "own"
            if self._shared_in is not None:
                kind = ("shared", id(self._shared_in[0]))
            shared = (
                anyio.lowlevel.current_token(),
                self._endpoint,
                *key,
                limit.limit,
                window,
                kind,
            )
            budget = self._shared.get(shared)
            if budget is None:
                budget = self._shared[shared] = self._make(key, limit.limit, window)
            self._budgets[key] = budget
        return budget

    def _make(self, key: tuple[str, str, str], limit: int, window: float) -> RateBudget:
        if self._shared_in is not None:
            store, scope, in_flight = self._shared_in
            name = f"{scope}:{key[2]}"
            return SharedBudget(limit, window, store=store, key=name, in_flight=in_flight)
        if self._reserve and limit > 1:
            return RateBudget(limit, window, reserved=web_share(limit))
        return RateBudget(limit, window)
