"""Batches of order calls and the account's order-rate budget, as pure values.

Batches (venues.md): ``POST /fapi/v1/batchOrders`` takes at most 5 orders,
``DELETE /fapi/v1/batchOrders`` at most 10 ids. Placing batches interleave asks and bids
level by level, nearest the mid first, so every batch of two or more holds both sides
while both have quotes left: a batch that fails (or is cut by the budget) never leaves the
book quoted on one side only.

What the budget counts, and why:
- Only *new orders* count. Binance's order limits (300 / 10 s, 1200 / min per account)
  are reported in ``X-MBX-ORDER-COUNT-10S/-1M`` on order responses, and cancels add
  nothing to them (the simulator's ``order_counts`` agrees). Cancels are never held back by
  this budget: they take risk off the book, and the IP weight they cost (1 per call) is
  the shared ``WindowBudget``'s business, in the shell.
- A batchOrders call is charged 5 in the 10 s window whatever its size (Binance: "5 on 10s
  order rate limit; 1 on 1min order rate limit") and its order count in the 1 min window
  (the per-order reading of venues.md's "1200 orders/min"): the larger of the two
  readings on each window, so the budget holds whichever the venue applies.
- Windows are fixed and aligned to the Unix epoch like the venue's; ``safety_fraction``
  (0.9) leaves room for a clock offset at a window edge and for orders sent by hand.
  ``observe`` takes the venue's own counts from the response headers when they are higher.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import attrs

from actors.marketmaker.ladders import Quote
from actors.marketmaker.params import OrderRateLimits
from actors.marketmaker.refresh import LiveOrder, RefreshPlan

MAX_PLACE_PER_BATCH = 5
MAX_CANCEL_PER_BATCH = 10
BATCH_COST_10S = 5  # what one batchOrders call adds to X-MBX-ORDER-COUNT-10S, whatever its size
WINDOW_10S_MS = 10_000
WINDOW_1M_MS = 60_000


def _batch_size(value: int, high: int, name: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= high:
        raise ValueError(f"{name} must be an integer between 1 and {high}, got {value!r}")
    return value


def _chunks(items: Sequence, size: int) -> list[tuple]:
    return [tuple(items[i:i + size]) for i in range(0, len(items), size)]


def interleave_by_level(quotes: Iterable[Quote]) -> tuple[Quote, ...]:
    """Ask, bid, ask, bid, ... nearest the mid first (asks by rising, bids by falling price).

    The longer side's remaining quotes come last."""
    quotes = tuple(quotes)
    asks = sorted((q for q in quotes if q.side == "SELL"), key=lambda q: q.price)
    bids = sorted((q for q in quotes if q.side == "BUY"), key=lambda q: -q.price)
    out: list[Quote] = []
    for i in range(max(len(asks), len(bids))):
        out.extend(side[i] for side in (asks, bids) if i < len(side))
    return tuple(out)


def place_batches(quotes: Iterable[Quote], max_per_batch: int = MAX_PLACE_PER_BATCH) -> list[tuple[Quote, ...]]:
    """The quotes as batchOrders calls of at most ``max_per_batch`` (<= 5), both sides mixed in each."""
    return _chunks(interleave_by_level(quotes), _batch_size(max_per_batch, MAX_PLACE_PER_BATCH, "max_per_batch"))


def cancel_batches(orders: Iterable[LiveOrder],
                   max_per_batch: int = MAX_CANCEL_PER_BATCH) -> list[tuple[LiveOrder, ...]]:
    """The orders as batch-cancel calls of at most ``max_per_batch`` (<= 10), in the given order."""
    return _chunks(tuple(orders), _batch_size(max_per_batch, MAX_CANCEL_PER_BATCH, "max_per_batch"))


def _window_start(now_ms: int, window_ms: int) -> int:
    return now_ms // window_ms * window_ms


@attrs.frozen
class OrderRateBudget:
    """New orders counted in the current 10 s and 1 min windows, against the limits x safety_fraction."""

    per_10s: int = 300
    per_min: int = 1200
    safety_fraction: float = 0.9
    start_10s_ms: int | None = None
    count_10s: int = 0
    start_1m_ms: int | None = None
    count_1m: int = 0

    def __attrs_post_init__(self) -> None:
        if not 0 < self.safety_fraction <= 1:
            raise ValueError(f"safety_fraction must be in (0, 1], got {self.safety_fraction!r}")
        if self.limit_10s < BATCH_COST_10S or self.limit_1m < 1:
            raise ValueError(f"per_10s={self.per_10s}, per_min={self.per_min} x {self.safety_fraction:g} leave no room "
                             f"for one batch ({BATCH_COST_10S} in 10 s, 1 in 1 min)")

    @classmethod
    def from_limits(cls, limits: OrderRateLimits) -> OrderRateBudget:
        return cls(limits.per_10s, limits.per_min, limits.safety_fraction)

    @property
    def limit_10s(self) -> int:
        return math.floor(self.per_10s * self.safety_fraction + 1e-9)

    @property
    def limit_1m(self) -> int:
        return math.floor(self.per_min * self.safety_fraction + 1e-9)

    def at(self, now_ms: int) -> OrderRateBudget:
        """The budget in the windows holding ``now_ms`` (a new window starts at zero; time never runs back)."""
        s10, s1m = _window_start(now_ms, WINDOW_10S_MS), _window_start(now_ms, WINDOW_1M_MS)
        out = self
        if out.start_10s_ms is None or s10 > out.start_10s_ms:
            out = attrs.evolve(out, start_10s_ms=s10, count_10s=0)
        if out.start_1m_ms is None or s1m > out.start_1m_ms:
            out = attrs.evolve(out, start_1m_ms=s1m, count_1m=0)
        return out

    def room(self, now_ms: int, max_per_batch: int = MAX_PLACE_PER_BATCH) -> int:
        """How many new orders batchOrders calls of ``max_per_batch`` could still carry at ``now_ms``."""
        _batch_size(max_per_batch, MAX_PLACE_PER_BATCH, "max_per_batch")
        state = self.at(now_ms)
        calls = (state.limit_10s - state.count_10s) // BATCH_COST_10S
        return max(0, min(calls * max_per_batch, state.limit_1m - state.count_1m))

    def admit(self, now_ms: int, count: int, max_per_batch: int = MAX_PLACE_PER_BATCH) -> tuple[OrderRateBudget, int]:
        """Charge up to ``count`` new orders sent in calls of ``max_per_batch``: the budget after, and how many fit now.

        Each call costs BATCH_COST_10S in the 10 s window and its size in the 1 min window.
        """
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an integer >= 0, got {count!r}")
        state = self.at(now_ms)
        allowed = min(count, state.room(now_ms, max_per_batch))
        calls = -(-allowed // max_per_batch)
        return attrs.evolve(state, count_10s=state.count_10s + calls * BATCH_COST_10S,
                            count_1m=state.count_1m + allowed), allowed

    def observe(self, now_ms: int, count_10s: int, count_1m: int) -> OrderRateBudget:
        """Adopt the venue's counts (``X-MBX-ORDER-COUNT-10S/-1M``) where they exceed ours."""
        state = self.at(now_ms)
        return attrs.evolve(state, count_10s=max(state.count_10s, count_10s), count_1m=max(state.count_1m, count_1m))

    def next_window_ms(self, now_ms: int) -> int:
        """When the 10 s window holding ``now_ms`` ends: the earliest moment room can grow."""
        return _window_start(now_ms, WINDOW_10S_MS) + WINDOW_10S_MS


@attrs.frozen
class BatchPlan:
    """The calls to make now (place first, then cancel) and the quotes the budget held back."""

    place: tuple[tuple[Quote, ...], ...]
    cancel: tuple[tuple[LiveOrder, ...], ...]
    deferred: tuple[Quote, ...]

    @property
    def order_count(self) -> int:
        return sum(len(b) for b in self.place)


def plan_within(plan: RefreshPlan, budget: OrderRateBudget, now_ms: int, *,
                max_place_per_batch: int = MAX_PLACE_PER_BATCH,
                max_cancel_per_batch: int = MAX_CANCEL_PER_BATCH) -> tuple[OrderRateBudget, BatchPlan]:
    """What of ``plan`` fits the budget now: the nearest quotes (both sides interleaved) up to the room,
    every cancel; the rest of the quotes deferred (the next round plans them again as unmatched).

    Cancels always go: a previous order the plan drops is off-price or over-sized, and
    pulling it is the safe side even when its replacement must wait.
    """
    ordered = interleave_by_level(plan.place)
    budget, fits = budget.admit(now_ms, len(ordered), max_place_per_batch)
    return budget, BatchPlan(place=tuple(_chunks(ordered[:fits], max_place_per_batch)),
                             cancel=tuple(cancel_batches(plan.cancel, max_cancel_per_batch)),
                             deferred=ordered[fits:])
