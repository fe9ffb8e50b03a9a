"""The seed's refresh rule: replace all (forced) or keep what is still close enough (diff).

Forced when ``near_diff_rate_per_round <= 0`` or ``rounds_since_force >= force_refresh_num``:
cancel every previous order, place every wanted quote. Otherwise a previous order is kept
when its price is within ``diff_rate`` (relative to the wanted price) of a wanted quote of
the same side and ladder, each wanted quote matched at most once; the unmatched wanted
are placed and the unmatched previous cancelled. Saving those cancel/replace pairs is what
keeps the strategy far inside the order-rate limits (the benchmark's comparison).

One condition beyond the seed: a kept order's quantity must not exceed the wanted quote's
(a partly filled order qualifies, an oversized one does not), so a size cut by the
position limit is never undone by keeping an older, larger order.

Matching pairs the closest (previous, wanted) prices first, ties by input order, so the
plan is deterministic. Rounds are counted by ``rounds_after``: 1 after a forced round, + 1
after any other, so ``force_refresh_num`` = N forces every N-th round (1: every round).
Start a run at ``force_refresh_num`` so its first round replaces whatever it finds.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import attrs

from actors.marketmaker.ladders import LADDERS, SIDES, LadderName, Quote, Side
from actors.marketmaker.params import to_decimal


@attrs.frozen
class LiveOrder:
    """An order resting on the venue (or sent and not yet known otherwise); ``qty`` is what remains open."""

    client_id: str
    side: Side = attrs.field(validator=attrs.validators.in_(SIDES))
    price: Decimal = attrs.field(converter=to_decimal)
    qty: Decimal = attrs.field(converter=to_decimal)
    ladder: LadderName = attrs.field(default="near", validator=attrs.validators.in_(LADDERS))
    order_id: int | None = None


@attrs.frozen
class RefreshPlan:
    place: tuple[Quote, ...]
    cancel: tuple[LiveOrder, ...]
    keep: tuple[LiveOrder, ...]
    forced: bool

    @property
    def order_count(self) -> int:
        """New orders this plan sends (what the venue's order-rate limits count)."""
        return len(self.place)


def is_forced(diff_rate: float, rounds_since_force: int, force_refresh_num: int) -> bool:
    """Whether this round replaces every order (the seed's two triggers)."""
    return diff_rate <= 0 or rounds_since_force >= force_refresh_num


def rounds_after(plan: RefreshPlan, rounds_since_force: int) -> int:
    """The ``rounds_since_force`` of the next round, once ``plan`` has been carried out."""
    return 1 if plan.forced else rounds_since_force + 1


def within(price: Decimal, wanted: Decimal, diff_rate: Decimal) -> bool:
    """|price - wanted| <= diff_rate x wanted."""
    return abs(price - wanted) <= diff_rate * wanted


def plan_refresh(previous: Sequence[LiveOrder], wanted: Sequence[Quote], diff_rate: float,
                 rounds_since_force: int, force_refresh_num: int) -> RefreshPlan:
    """What to place, cancel and keep so the live orders become ``wanted`` (see the module doc)."""
    if isinstance(force_refresh_num, bool) or not isinstance(force_refresh_num, int) or force_refresh_num < 1:
        raise ValueError(f"force_refresh_num must be an integer >= 1, got {force_refresh_num!r}")
    if isinstance(rounds_since_force, bool) or not isinstance(rounds_since_force, int) or rounds_since_force < 0:
        raise ValueError(f"rounds_since_force must be an integer >= 0, got {rounds_since_force!r}")
    rate = to_decimal(diff_rate, "diff_rate")
    previous, wanted = tuple(previous), tuple(wanted)
    if is_forced(float(rate), rounds_since_force, force_refresh_num):
        return RefreshPlan(place=wanted, cancel=previous, keep=(), forced=True)
    candidates = sorted(
        (abs(old.price - new.price) / new.price, p, w)
        for p, old in enumerate(previous)
        for w, new in enumerate(wanted)
        if old.side == new.side and old.ladder == new.ladder and old.qty <= new.qty
        and within(old.price, new.price, rate)
    )
    kept: set[int] = set()
    matched: set[int] = set()
    for _, p, w in candidates:
        if p not in kept and w not in matched:
            kept.add(p)
            matched.add(w)
    return RefreshPlan(
        place=tuple(q for w, q in enumerate(wanted) if w not in matched),
        cancel=tuple(o for p, o in enumerate(previous) if p not in kept),
        keep=tuple(o for p, o in enumerate(previous) if p in kept),
        forced=False,
    )
