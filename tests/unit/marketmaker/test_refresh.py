"""The refresh rule: forced replaces all; otherwise keep what is within the diff rate, once per wanted quote."""

from __future__ import annotations

from collections import Counter
from decimal import Decimal as D

import pytest
from hypothesis import given, settings, strategies as st

from actors.marketmaker.ladders import Quote
from actors.marketmaker.refresh import LiveOrder, plan_refresh, rounds_after, within


def q(side: str, price: str, qty: str = "1", ladder: str = "near") -> Quote:
    return Quote(side, D(price), D(qty), ladder)  # type: ignore[arg-type]


def o(cid: str, side: str, price: str, qty: str = "1", ladder: str = "near") -> LiveOrder:
    return LiveOrder(cid, side, price, qty, ladder)  # type: ignore[arg-type]


PREVIOUS = (o("a1", "SELL", "100.05"), o("b1", "BUY", "99.95"), o("a2", "SELL", "101"), o("b2", "BUY", "97"))
WANTED = (q("SELL", "100.06"), q("BUY", "99.94"), q("SELL", "100.5"), q("BUY", "99"))


@pytest.mark.parametrize("diff_rate, rounds, force_num", [(0.0, 0, 10), (-1.0, 0, 10), (0.001, 10, 10),
                                                          (0.001, 11, 10), (0.001, 1, 1)])
def test_forced_replaces_everything(diff_rate: float, rounds: int, force_num: int) -> None:
    plan = plan_refresh(PREVIOUS, WANTED, diff_rate, rounds, force_num)
    assert plan.forced and plan.place == WANTED and plan.cancel == PREVIOUS and plan.keep == ()


@pytest.mark.parametrize("force_num, forced_rounds", [(1, [0, 1, 2, 3, 4, 5, 6]), (3, [0, 3, 6]), (4, [0, 4])])
def test_force_every_nth_round(force_num: int, forced_rounds: list[int]) -> None:
    rounds, seen = force_num, []  # a run starts forced
    for round_no in range(7):
        plan = plan_refresh(PREVIOUS, WANTED, 0.001, rounds, force_num)
        seen += [round_no] if plan.forced else []
        rounds = rounds_after(plan, rounds)
    assert seen == forced_rounds


def test_diff_keeps_close_orders_and_replaces_the_rest() -> None:
    plan = plan_refresh(PREVIOUS, WANTED, 0.001, 3, 10)
    assert not plan.forced
    assert [x.client_id for x in plan.keep] == ["a1", "b1"]  # 1 bp away: within 10 bp
    assert [x.client_id for x in plan.cancel] == ["a2", "b2"]
    assert plan.place == (WANTED[2], WANTED[3]) and plan.order_count == 2


def test_each_wanted_quote_keeps_at_most_one_order() -> None:
    previous = (o("x", "SELL", "100.02"), o("y", "SELL", "100.01"), o("z", "SELL", "100.03"))
    plan = plan_refresh(previous, (q("SELL", "100"),), 0.001, 0, 10)
    assert [x.client_id for x in plan.keep] == ["y"]  # the closest wins
    assert [x.client_id for x in plan.cancel] == ["x", "z"] and plan.place == ()


def test_side_ladder_and_size_must_agree() -> None:
    wanted = (q("SELL", "100", "1", "near"),)
    for order in (o("s", "BUY", "100"), o("l", "SELL", "100", ladder="far"), o("big", "SELL", "100", qty="2")):
        plan = plan_refresh((order,), wanted, 0.01, 0, 10)
        assert plan.keep == () and plan.cancel == (order,) and plan.place == wanted
    partly_filled = o("p", "SELL", "100", qty="0.4")
    assert plan_refresh((partly_filled,), wanted, 0.01, 0, 10).keep == (partly_filled,)


def test_boundary_is_inclusive() -> None:
    assert within(D("100.1"), D("100"), D("0.001")) and not within(D("100.1001"), D("100"), D("0.001"))
    plan = plan_refresh((o("edge", "BUY", "99.9"),), (q("BUY", "100"),), 0.001, 0, 10)
    assert [x.client_id for x in plan.keep] == ["edge"]


def test_empty_sides_and_bad_counters() -> None:
    assert plan_refresh((), WANTED, 0.001, 0, 10).place == WANTED
    assert plan_refresh(PREVIOUS, (), 0.001, 0, 10).cancel == PREVIOUS
    with pytest.raises(ValueError, match="force_refresh_num"):
        plan_refresh((), (), 0.001, 0, 0)
    with pytest.raises(ValueError, match="rounds_since_force"):
        plan_refresh((), (), 0.001, -1, 10)


def test_live_order_converts_venue_strings() -> None:
    order = LiveOrder("mm-X-a-1", "BUY", "65000.10", "0.010", "far", order_id=8_000_000_001)
    assert order.price == D("65000.1") and order.qty == D("0.01") and order.ladder == "far"


def perfect_matching(left, right, fits) -> bool:
    """Whether every item of ``left`` pairs with a distinct fitting item of ``right`` (augmenting paths)."""
    owner: dict[int, int] = {}

    def augment(i: int, seen: set[int]) -> bool:
        for j, item in enumerate(right):
            if j not in seen and fits(left[i], item):
                seen.add(j)
                if j not in owner or augment(owner[j], seen):
                    owner[j] = i
                    return True
        return False

    return all(augment(i, set()) for i in range(len(left)))


sides = st.sampled_from(["BUY", "SELL"])
ladders = st.sampled_from(["near", "far"])
prices = st.integers(9_900, 10_100).map(lambda t: D(t) / 100)
qtys = st.integers(1, 3).map(D)
quotes_st = st.lists(st.builds(Quote, sides, prices, qtys, ladders), max_size=25)
orders_st = st.lists(st.tuples(sides, prices, qtys, ladders), max_size=25).map(
    lambda rows: [LiveOrder(f"c{i}", s, p, n, lad) for i, (s, p, n, lad) in enumerate(rows)])


@settings(max_examples=400, deadline=None)
@given(previous=orders_st, wanted=quotes_st, diff_rate=st.sampled_from([-0.01, 0.0, 0.0001, 0.001, 0.005, 0.05]),
       rounds=st.integers(0, 12), force_num=st.integers(1, 10))
def test_refresh_properties(previous: list[LiveOrder], wanted: list[Quote], diff_rate: float, rounds: int,
                            force_num: int) -> None:
    plan = plan_refresh(previous, wanted, diff_rate, rounds, force_num)
    if diff_rate <= 0 or rounds >= force_num:
        assert plan.forced and plan.place == tuple(wanted) and plan.cancel == tuple(previous) and plan.keep == ()
        return
    assert not plan.forced
    ids = [x.client_id for x in plan.keep + plan.cancel]
    assert sorted(ids) == sorted(x.client_id for x in previous)  # every previous kept xor cancelled
    assert not {x.client_id for x in plan.keep} & {x.client_id for x in plan.cancel}
    # place + keep cover the wanted quotes exactly once: a matching of kept orders to the unplaced quotes
    unplaced = Counter(wanted) - Counter(plan.place)
    assert sum(unplaced.values()) == len(plan.keep) and Counter(plan.place) + unplaced == Counter(wanted)
    rate = D(repr(diff_rate))
    pool = list(unplaced.elements())  # every kept order is close to a distinct wanted quote: a perfect matching
    assert perfect_matching(plan.keep, pool, lambda x, w: w.side == x.side and w.ladder == x.ladder
                            and x.qty <= w.qty and within(x.price, w.price, rate))
    # maximal: no cancelled order would have fitted a quote that is placed instead
    for order in plan.cancel:
        assert not any(w.side == order.side and w.ladder == order.ladder and order.qty <= w.qty
                       and within(order.price, w.price, rate) for w in plan.place)
