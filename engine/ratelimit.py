"""Venue rate limiting: pure budget arithmetic plus a thin trio shell that waits in FIFO order.

One limiter instance per venue budget is shared by every caller (it travels in the
actor context), so the budget is spent once however many actors use the venue.
The accounting is pure functions over frozen attrs states, taking the time as an
argument; the shell only reads the clock, sleeps and records statistics.

Two shapes:

* ``WindowBudget``: Binance-style fixed windows aligned to the wall clock (request
  weight per minute per IP). It follows the server's ``X-MBX-USED-WEIGHT-1M`` header
  (``observe_used``) and 429/418 answers (``pause_for``).
* ``TokenBucket``: credit pools (Deribit) and spacing (Dhan: one option-chain call
  every 3 s is ``capacity=1, refill_per_s=1/3``).
"""

from __future__ import annotations

import math
from typing import Protocol

import attrs
import trio

from engine.clock import Clock
from engine.metrics import EngineMetrics

# Shortest sleep of the shell. Float rounding can leave "wake at the window start"
# a few ulps short of it; sleeping at least this long guarantees progress instead of
# spinning on zero-length sleeps, and the grant condition itself stays exact.
MIN_WAIT_S = 1e-6


# --------------------------------------------------------------------------- windows


@attrs.frozen
class WindowState:
    """Weight spent in the current wall-clock window and any server-imposed pause.

    The defaults stand for "never used": the first call rolls into the real window.
    """

    window_start_s: float = -math.inf
    used: int = 0
    paused_until_s: float = -math.inf


def window_start_s(now_s: float, window_s: float) -> float:
    """Start of the window holding ``now_s``; windows are aligned to the Unix epoch
    (so a 60 s window is the wall-clock minute, as the venue counts it)."""
    return math.floor(now_s / window_s) * window_s


def allowed_weight(limit: int, safety_fraction: float) -> int:
    """Weight we allow ourselves per window: a fraction of the venue's limit leaves
    room for clock skew and for requests we do not see (other processes on the IP)."""
    return max(1, math.floor(limit * safety_fraction + 1e-9))


def roll_window(state: WindowState, now_s: float, window_s: float) -> WindowState:
    """Move to the window holding ``now_s``, forgetting the weight of older windows."""
    start_s = window_start_s(now_s, window_s)
    if start_s > state.window_start_s:
        return WindowState(window_start_s=start_s, used=0, paused_until_s=state.paused_until_s)
    return state


def plan_window(
    state: WindowState, now_s: float, weight: int, allowed: int, window_s: float
) -> tuple[WindowState, float]:
    """Try to spend ``weight`` at ``now_s``.

    Returns ``(state with the weight spent, 0.0)`` when granted, otherwise
    ``(rolled state, wait_s > 0)``: the caller sleeps and plans again, so a pause or
    a server observation that arrived meanwhile is always seen before a grant.
    """
    state = roll_window(state, now_s, window_s)
    if now_s < state.paused_until_s:
        return state, state.paused_until_s - now_s
    if state.used + weight > allowed:
        return state, state.window_start_s + window_s - now_s
    return attrs.evolve(state, used=state.used + weight), 0.0


def observe_window(
    state: WindowState, now_s: float, used: int, at_s: float | None, window_s: float
) -> WindowState:
    """Follow the server's count of the window's used weight: ``max(local, server)``.

    ``at_s`` is when the request carrying the header was granted; a report about an
    older window (the answer crossed a window boundary) is ignored instead of
    charging the new window with the old window's weight.
    """
    state = roll_window(state, now_s, window_s)
    at = now_s if at_s is None else min(at_s, now_s)
    if window_start_s(at, window_s) < state.window_start_s:
        return state
    return attrs.evolve(state, used=max(state.used, used))


def pause_window(
    state: WindowState, now_s: float, retry_after_s: float | None, window_s: float
) -> WindowState:
    """Grant nothing until ``now_s + retry_after_s`` (``None``: the next window start).

    A pause never shortens an earlier one (a 429 must not cut a 418 ban short).
    """
    state = roll_window(state, now_s, window_s)
    if retry_after_s is None:
        until_s = state.window_start_s + window_s
    else:
        until_s = now_s + max(0.0, retry_after_s)
    return attrs.evolve(state, paused_until_s=max(state.paused_until_s, until_s))


# --------------------------------------------------------------------------- buckets


@attrs.frozen
class BucketState:
    """Tokens available at ``updated_s`` (monotonic seconds).

    The default ``updated_s = -inf`` means "idle forever": the first refill fills the
    bucket, so a fresh limiter may burst up to its capacity.
    """

    tokens: float
    updated_s: float = -math.inf
    paused_until_s: float = -math.inf


def refill_bucket(state: BucketState, now_s: float, capacity: float, refill_per_s: float) -> BucketState:
    """Tokens accrued since ``updated_s``, capped at the capacity."""
    if now_s <= state.updated_s:
        return state
    tokens = min(capacity, state.tokens + (now_s - state.updated_s) * refill_per_s)
    return BucketState(tokens=tokens, updated_s=now_s, paused_until_s=state.paused_until_s)


def plan_bucket(
    state: BucketState, now_s: float, cost: float, capacity: float, refill_per_s: float
) -> tuple[BucketState, float]:
    """Try to take ``cost`` tokens at ``now_s``; same contract as ``plan_window``.

    Tokens are only taken when they are all there, so the level never goes negative.
    """
    state = refill_bucket(state, now_s, capacity, refill_per_s)
    if now_s < state.paused_until_s:
        return state, state.paused_until_s - now_s
    if state.tokens < cost:
        return state, (cost - state.tokens) / refill_per_s
    return attrs.evolve(state, tokens=state.tokens - cost), 0.0


def pause_bucket(
    state: BucketState, now_s: float, retry_after_s: float | None, capacity: float, refill_per_s: float
) -> BucketState:
    """After a throttle answer the server's pool is empty: drain ours and grant nothing
    until the pause ends (``None``: the time a full refill takes). Tokens keep
    accruing during the pause, as they do on the server."""
    state = refill_bucket(state, now_s, capacity, refill_per_s)
    pause_s = capacity / refill_per_s if retry_after_s is None else max(0.0, retry_after_s)
    return BucketState(
        tokens=0.0, updated_s=now_s, paused_until_s=max(state.paused_until_s, now_s + pause_s)
    )


# --------------------------------------------------------------------------- shell


@attrs.frozen
class LimiterStats:
    """What a limiter granted and how long callers waited: "requests vs budget"."""

    venue: str
    granted_requests: int
    granted_weight: float
    waits: int  # acquisitions that could not be granted at once
    wait_s: float  # total time those callers spent waiting (queue + throttle)
    pauses: int  # pause_for calls (server throttle answers)


@attrs.define
class _Meter:
    """Counts grants and pauses into stats and (when given) Prometheus."""

    venue: str
    metrics: EngineMetrics | None
    granted_requests: int = 0
    granted_weight: float = 0.0
    waits: int = 0
    wait_s: float = 0.0
    pauses: int = 0

    def granted(self, weight: float, waited: bool, wait_s: float) -> None:
        self.granted_requests += 1
        self.granted_weight += weight
        if waited:
            self.waits += 1
            self.wait_s += wait_s
        if self.metrics is not None and weight:
            self.metrics.venue_weight_used.labels(venue=self.venue).inc(weight)

    def paused(self) -> None:
        self.pauses += 1
        if self.metrics is not None:
            self.metrics.venue_throttled.labels(venue=self.venue).inc()

    def snapshot(self) -> LimiterStats:
        return LimiterStats(
            venue=self.venue,
            granted_requests=self.granted_requests,
            granted_weight=self.granted_weight,
            waits=self.waits,
            wait_s=self.wait_s,
            pauses=self.pauses,
        )


class RateLimiter(Protocol):
    """What an adapter needs from any limiter."""

    venue: str

    async def acquire(self, weight: int = 1, /) -> object: ...

    def pause_for(self, retry_after_s: float | None = None, /) -> None: ...

    def stats(self) -> LimiterStats: ...


def _positive(_instance: object, attribute: attrs.Attribute, value: float) -> None:
    if not value > 0:
        raise ValueError(f"{attribute.name} must be > 0, got {value!r}")


@attrs.define(eq=False, kw_only=True)
class WindowBudget:
    """Weight per fixed wall-clock window (Binance: ``limit=2400, window_s=60``).

    ``acquire`` waits until the current window has room under
    ``limit * safety_fraction``. Waiters hold a fair ``trio.Lock`` while sleeping, so
    they are served in arrival order and a heavy request is never starved by light
    ones; each sleep ends in a fresh plan, so pauses and server observations made
    meanwhile apply to callers already waiting.
    """

    clock: Clock
    venue: str
    limit: int = attrs.field(validator=_positive)
    window_s: float = attrs.field(default=60.0, validator=_positive)
    safety_fraction: float = attrs.field(default=0.9, validator=_positive)
    metrics: EngineMetrics | None = None
    _state: WindowState = attrs.field(init=False, factory=WindowState)
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _meter: _Meter = attrs.field(init=False)

    @safety_fraction.validator
    def _check_fraction(self, attribute: attrs.Attribute, value: float) -> None:
        if value > 1:
            raise ValueError(f"safety_fraction must be in (0, 1], got {value!r}")

    @_meter.default
    def _make_meter(self) -> _Meter:
        return _Meter(venue=self.venue, metrics=self.metrics)

    @property
    def allowed(self) -> int:
        """Weight we grant per window."""
        return allowed_weight(self.limit, self.safety_fraction)

    async def acquire(self, weight: int = 1) -> float:
        """Wait for room, spend ``weight``; return the grant's wall time (Unix s).

        Pass the returned time as ``at_s`` to ``observe_used`` for the answer of the
        request it admitted.
        """
        if weight < 0 or weight > self.allowed:
            raise ValueError(
                f"{self.venue}: weight {weight} outside [0, {self.allowed}] (limit {self.limit}"
                f" x safety {self.safety_fraction} per {self.window_s} s): it could never be granted"
            )
        started_s = self.clock.monotonic()
        waited = self._lock.locked()
        async with self._lock:
            while True:
                now_s = self.clock.time_s()
                self._state, wait_s = plan_window(self._state, now_s, weight, self.allowed, self.window_s)
                if wait_s <= 0:
                    break
                waited = True
                await self.clock.sleep(max(wait_s, MIN_WAIT_S))
        self._meter.granted(weight, waited, self.clock.monotonic() - started_s)
        return now_s

    def observe_used(self, used_weight: int, at_s: float | None = None) -> None:
        """Follow the server's ``X-MBX-USED-WEIGHT-1M``: the window's used weight becomes
        ``max(local, server)``, so weight spent by other processes on the IP slows us.

        ``at_s``: wall time the request was granted (``acquire``'s return value);
        ``None`` means now, which may wrongly charge a fresh window with the previous
        window's count when the answer crossed a boundary.
        """
        self._state = observe_window(self._state, self.clock.time_s(), used_weight, at_s, self.window_s)

    def pause_for(self, retry_after_s: float | None = None) -> None:
        """After a 429/418: grant nothing for ``retry_after_s`` (``None``: until the
        next window starts), including to callers already waiting."""
        self._state = pause_window(self._state, self.clock.time_s(), retry_after_s, self.window_s)
        self._meter.paused()

    def remaining(self) -> int:
        """Weight grantable right now without waiting (0 while paused)."""
        now_s = self.clock.time_s()
        state = roll_window(self._state, now_s, self.window_s)
        if now_s < state.paused_until_s:
            return 0
        return max(0, self.allowed - state.used)

    def stats(self) -> LimiterStats:
        return self._meter.snapshot()


@attrs.define(eq=False, kw_only=True)
class TokenBucket:
    """Token bucket on the monotonic clock: credit pools and request spacing.

    Deribit: ``capacity=50_000, refill_per_s=10_000``, ``acquire(500)`` per public
    request (bursts 100, then about 20/s). Dhan option chain and expiry list share
    ``capacity=1, refill_per_s=1/3`` (one call every 3 s, FIFO); quotes
    ``capacity=1, refill_per_s=1``. Starts full. Same FIFO and pause semantics as
    ``WindowBudget``.
    """

    clock: Clock
    venue: str
    capacity: float = attrs.field(validator=_positive)
    refill_per_s: float = attrs.field(validator=_positive)
    metrics: EngineMetrics | None = None
    _state: BucketState = attrs.field(init=False)
    _lock: trio.Lock = attrs.field(init=False, factory=trio.Lock)
    _meter: _Meter = attrs.field(init=False)

    @_state.default
    def _full(self) -> BucketState:
        return BucketState(tokens=self.capacity)

    @_meter.default
    def _make_meter(self) -> _Meter:
        return _Meter(venue=self.venue, metrics=self.metrics)

    async def acquire(self, cost: float = 1) -> None:
        """Wait for ``cost`` tokens (credits, or 1 per request) and take them."""
        if cost < 0 or cost > self.capacity:
            raise ValueError(
                f"{self.venue}: cost {cost} outside [0, {self.capacity}]: it could never be granted"
            )
        started_s = self.clock.monotonic()
        waited = self._lock.locked()
        async with self._lock:
            while True:
                self._state, wait_s = plan_bucket(
                    self._state, self.clock.monotonic(), cost, self.capacity, self.refill_per_s
                )
                if wait_s <= 0:
                    break
                waited = True
                await self.clock.sleep(max(wait_s, MIN_WAIT_S))
        self._meter.granted(cost, waited, self.clock.monotonic() - started_s)

    def pause_for(self, retry_after_s: float | None = None) -> None:
        """After a throttle answer (Deribit 10028, Dhan 805): drain the bucket and grant
        nothing for ``retry_after_s`` (``None``: the time a full refill takes)."""
        self._state = pause_bucket(
            self._state, self.clock.monotonic(), retry_after_s, self.capacity, self.refill_per_s
        )
        self._meter.paused()

    def available(self) -> float:
        """Tokens grantable right now (0 while paused)."""
        now_s = self.clock.monotonic()
        state = refill_bucket(self._state, now_s, self.capacity, self.refill_per_s)
        return 0.0 if now_s < state.paused_until_s else state.tokens

    def stats(self) -> LimiterStats:
        return self._meter.snapshot()
