"""Batches mix both sides and respect the venue's sizes; the order-rate budget never lets a window overflow."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from actors.marketmaker.batches import (
    OrderRateBudget,
    cancel_batches,
    interleave_by_level,
    place_batches,
    plan_within,
)
from actors.marketmaker.ladders import Quote
from actors.marketmaker.params import OrderRateLimits
from actors.marketmaker.refresh import LiveOrder, RefreshPlan
from adapters.sim import binance_limits


def ladder(asks: int, bids: int) -> tuple[Quote, ...]:
    return tuple([Quote("SELL", D(101 + i), D(1)) for i in range(asks)]
                 + [Quote("BUY", D(99 - i), D(1)) for i in range(bids)])


def sides(batch: tuple[Quote, ...]) -> str:
    return "".join("A" if x.side == "SELL" else "B" for x in batch)


def test_place_batches_interleave_nearest_first() -> None:
    quotes = ladder(5, 5)[::-1]  # input order does not matter
    batches = place_batches(quotes)
    assert [sides(b) for b in batches] == ["ABABA", "BABAB"]
    assert [x.price for x in batches[0]] == [101, 99, 102, 98, 103]
    assert [sides(b) for b in place_batches(ladder(1, 6))] == ["ABBBB", "BB"]
    assert [sides(b) for b in place_batches(ladder(3, 3), max_per_batch=2)] == ["AB", "AB", "AB"]
    assert place_batches(()) == []


def test_near_before_far_whatever_the_input_order() -> None:
    far = (Quote("SELL", D(110), D(1), "far"), Quote("BUY", D(90), D(1), "far"))
    near = (Quote("BUY", D(99), D(1)), Quote("SELL", D(101), D(1)))
    assert interleave_by_level(far + near) == (near[1], near[0], far[0], far[1])


def test_batch_sizes_are_the_venue_limits() -> None:
    with pytest.raises(ValueError, match="between 1 and 5, got 6"):
        place_batches(ladder(3, 3), max_per_batch=6)
    orders = [LiveOrder(f"c{i}", "BUY", "99", "1") for i in range(23)]
    assert [len(b) for b in cancel_batches(orders)] == [10, 10, 3]
    assert [x.client_id for b in cancel_batches(orders) for x in b] == [x.client_id for x in orders]
    with pytest.raises(ValueError, match="between 1 and 10, got 11"):
        cancel_batches(orders, max_per_batch=11)


def test_budget_limits_and_windows() -> None:
    budget = OrderRateBudget.from_limits(OrderRateLimits())
    assert (budget.limit_10s, budget.limit_1m) == (270, 1080)
    budget, allowed = budget.admit(1_000, 12)  # 3 calls: 15 in the 10 s window, 12 in the minute
    assert allowed == 12 and (budget.count_10s, budget.count_1m) == (15, 12)
    budget, allowed = budget.admit(9_999, 1_000)
    assert allowed == 255 and budget.count_10s == 270 and budget.count_1m == 267  # 51 full calls
    assert budget.admit(9_999, 1)[1] == 0 and budget.room(9_999) == 0
    assert budget.next_window_ms(9_999) == 10_000
    budget, allowed = budget.admit(10_000, 5)  # new 10 s window, same minute
    assert allowed == 5 and (budget.count_10s, budget.count_1m) == (5, 272)
    assert budget.at(60_000).count_1m == 0


def test_budget_one_minute_window_binds() -> None:
    budget = OrderRateBudget(per_10s=300, per_min=20, safety_fraction=1.0)
    budget, allowed = budget.admit(0, 50)
    assert allowed == 20 and budget.count_10s == 20
    assert budget.admit(30_000, 1)[1] == 0 and budget.admit(60_000, 1)[1] == 1


def test_budget_adopts_the_venues_higher_counts() -> None:
    budget = OrderRateBudget().admit(1_000, 5)[0]
    seen = budget.observe(2_000, count_10s=200, count_1m=3)
    assert (seen.count_10s, seen.count_1m) == (200, 5) and seen.room(2_000) == 70
    assert budget.observe(11_000, 0, 0).count_10s == 0  # a later window starts afresh


@pytest.mark.parametrize("kwargs", [{"per_10s": 5}, {"per_10s": 4, "safety_fraction": 1.0},
                                    {"per_min": 1, "safety_fraction": 0.5}, {"safety_fraction": 0},
                                    {"safety_fraction": 1.5}])
def test_budget_refuses_impossible_limits(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        OrderRateBudget(**kwargs)


def test_plan_within_trims_places_and_keeps_every_cancel() -> None:
    previous = tuple(LiveOrder(f"c{i}", "SELL", "105", "1") for i in range(12))
    plan = RefreshPlan(place=ladder(6, 6), cancel=previous, keep=(), forced=True)
    budget = OrderRateBudget(per_10s=10, per_min=1000, safety_fraction=1.0)  # room for 2 calls
    budget, batches = plan_within(plan, budget, now_ms=5_000)
    assert [sides(b) for b in batches.place] == ["ABABA", "BABAB"] and batches.order_count == 10
    assert [sides((x,)) for x in batches.deferred] == ["A", "B"]  # the farthest level waits
    assert [len(b) for b in batches.cancel] == [10, 2]
    assert budget.count_10s == 10 and budget.room(5_000) == 0
    budget, later = plan_within(plan, budget, now_ms=10_000)
    assert later.order_count == 10


# --------------------------------------------------------------------------- properties

quote_st = st.builds(Quote, st.sampled_from(["BUY", "SELL"]), st.integers(1, 50).map(lambda t: D(100) + D(t) / 10),
                     st.just(D(1)), st.sampled_from(["near", "far"]))


def fixed_prices(quotes: list[Quote]) -> list[Quote]:
    """Asks above 100, bids below: a valid ladder whatever the drawn side."""
    return [x if x.side == "SELL" else Quote("BUY", D(200) - x.price, x.qty, x.ladder) for x in quotes]


@settings(max_examples=300, deadline=None)
@given(quotes=st.lists(quote_st, max_size=60).map(fixed_prices), size=st.integers(1, 5))
def test_every_batch_mixes_sides_while_both_remain(quotes: list[Quote], size: int) -> None:
    batches = place_batches(quotes, size)
    assert all(1 <= len(b) <= size for b in batches)
    flat = [x for b in batches for x in b]
    assert Counter(flat) == Counter(quotes)
    total_asks = sum(x.side == "SELL" for x in quotes)
    total_bids = len(quotes) - total_asks
    sent = 0
    for batch in batches:  # every prefix of the calls is balanced until one side runs out
        if len(batch) >= 2 and sum(x.side == "SELL" for x in flat[:sent]) < total_asks \
                and sum(x.side == "BUY" for x in flat[:sent]) < total_bids:
            assert {x.side for x in batch} == {"BUY", "SELL"}
        sent += len(batch)
        asks = sum(x.side == "SELL" for x in flat[:sent])
        bids = sent - asks
        assert abs(asks - bids) <= 1 or asks == total_asks or bids == total_bids


rounds_st = st.lists(st.tuples(st.integers(0, 4_000), st.lists(quote_st, max_size=40).map(fixed_prices),
                               st.integers(0, 30), st.integers(1, 5)), min_size=1, max_size=120)


@settings(max_examples=200, deadline=None)
@given(rounds=rounds_st, per_10s=st.integers(6, 320), per_min=st.integers(5, 1300),
       fraction=st.sampled_from([0.5, 0.9, 1.0]))
def test_budget_never_breaks_the_windows(rounds: list, per_10s: int, per_min: int, fraction: float) -> None:
    try:
        budget = OrderRateBudget(per_10s, per_min, fraction)
    except ValueError:
        return
    now_ms, per_window_10s, per_window_1m = 0, Counter(), Counter()
    sim = binance_limits.OrderCountState()
    for gap_ms, quotes, cancels, size in rounds:
        now_ms += gap_ms
        previous = tuple(LiveOrder(f"c{i}", "BUY", "90", "1") for i in range(cancels))
        plan = RefreshPlan(place=tuple(quotes), cancel=previous, keep=(), forced=False)
        budget, batches = plan_within(plan, budget, now_ms, max_place_per_batch=size)
        assert all(1 <= len(b) <= size for b in batches.place) and all(1 <= len(b) <= 10 for b in batches.cancel)
        assert Counter(x for b in batches.place for x in b) + Counter(batches.deferred) == Counter(quotes)
        assert [x for b in batches.cancel for x in b] == list(previous)  # cancels never held back
        for batch in batches.place:
            per_window_10s[now_ms // 10_000] += 5
            per_window_1m[now_ms // 60_000] += len(batch)
            # the venue's own count (5 per call on 10 s, 1 on 1 min, as the simulator applies it)
            sim, verdict = binance_limits.admit_orders(sim, now_ms / 1000, (5, 1), budget.limit_10s, budget.limit_1m)
            assert verdict.ok
    assert all(v <= budget.limit_10s for v in per_window_10s.values())
    assert all(v <= budget.limit_1m for v in per_window_1m.values())
    assert budget.limit_10s <= per_10s and budget.limit_1m <= per_min
