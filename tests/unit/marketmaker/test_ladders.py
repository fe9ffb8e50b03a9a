"""Ladders: exact grid rounding away from the mid, min qty/notional, never crossing, position limit."""

from __future__ import annotations

from decimal import Decimal as D

import pytest
from hypothesis import assume, given, settings, strategies as st

from actors.marketmaker.ladders import (
    Book,
    Quote,
    SymbolRules,
    apply_position_limit,
    far_ladder,
    filter_crossing,
    near_ladder,
)
from actors.marketmaker.params import FarLadder, NearLadder

RULES = SymbolRules("0.1", "0.001", "0.001", "100")
BOOK = Book([("65000.0", "1"), ("64999.9", "2")], [("65000.1", "1.5"), ("65000.5", "3")], ts_ms=1_717_000_000_000)
NEAR = NearLadder(levels=5, first_spread_rate=D("0.0005"), step_rate=D("0.0003"), size=D("0.002"),
                  size_growth=D("1.5"))


def test_book_converts_and_reports() -> None:
    assert BOOK.bids[0] == (D("65000.0"), D("1")) and BOOK.best_ask == D("65000.1")
    assert BOOK.mid == D("65000.05") and BOOK.age_ms(1_717_000_000_250) == 250
    assert Book([], [("1", "1")]).mid is None and Book([], []).best_bid is None


@pytest.mark.parametrize("bids, asks, message", [
    ([("10", "1"), ("11", "1")], [], "bids must have strictly falling prices"),
    ([], [("11", "1"), ("11", "2")], "asks must have strictly rising prices"),
    ([("11", "1")], [("11", "1")], "crossed book"),
    ([("12", "1")], [("11", "1")], "crossed book"),
    ([("0", "1")], [], "price > 0"),
    ([("10", "-1")], [], "qty >= 0"),
    ([("10",)], [], "a book level is"),
    ([("abc", "1")], [], "book price must be a number"),
])
def test_book_refuses_bad_levels(bids: list, asks: list, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Book(bids, asks)


def test_rules_from_exchange_info() -> None:
    info = {"symbol": "BTCUSDT", "filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "556.80", "maxPrice": "4529764"},
        {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "1000"},
        {"filterType": "MARKET_LOT_SIZE", "stepSize": "0.001", "minQty": "0.001", "maxQty": "120"},
        {"filterType": "MIN_NOTIONAL", "notional": "100"},
        {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500"}]}
    rules = SymbolRules.from_exchange_info(info)
    assert rules == SymbolRules(D("0.1"), D("0.001"), D("0.001"), D("100"), D("556.8"), D("4529764"), D("1000"))
    no_max = SymbolRules.from_exchange_info({"filters": [
        {"filterType": "PRICE_FILTER", "tickSize": "0.01", "minPrice": "0", "maxPrice": "0"},
        {"filterType": "LOT_SIZE", "stepSize": "1", "minQty": "1", "maxQty": "0"}]})
    assert no_max.max_price is None and no_max.max_qty is None and no_max.min_notional == 0
    with pytest.raises(ValueError, match="no LOT_SIZE filter"):
        SymbolRules.from_exchange_info({"symbol": "X", "filters": [info["filters"][0]]})
    with pytest.raises(ValueError, match="tick_size must be a Decimal > 0"):
        SymbolRules("0", "1", "1")


def test_near_ladder_example() -> None:
    quotes = near_ladder(BOOK, NEAR, RULES)
    assert [(q.side, str(q.price), str(q.qty)) for q in quotes] == [
        ("SELL", "65032.6", "0.002"), ("BUY", "64967.5", "0.002"),  # 65032.5325 up, 64967.5175 down
        ("SELL", "65052.1", "0.003"), ("BUY", "64948.0", "0.003"),
        ("SELL", "65071.6", "0.004"), ("BUY", "64928.5", "0.004"),  # 0.0045 rounds down to the step
        ("SELL", "65091.1", "0.006"), ("BUY", "64909.0", "0.006"),
        ("SELL", "65110.6", "0.010"), ("BUY", "64889.5", "0.010"),
    ]
    assert all(q.ladder == "near" for q in quotes)


def test_levels_below_the_minimums_are_dropped() -> None:
    small = NearLadder(levels=4, first_spread_rate=D("0.001"), step_rate=D("0.001"), size=D("0.0015"),
                       size_growth=D("2"))
    quotes = near_ladder(BOOK, small, RULES)  # sizes 0.001 (65 USDT < 100), 0.003, 0.006, 0.012
    assert [str(q.qty) for q in quotes] == ["0.003", "0.003", "0.006", "0.006", "0.012", "0.012"]
    tiny = NearLadder(levels=2, first_spread_rate=D("0.001"), step_rate=D("0.001"), size=D("0.0004"))
    assert near_ladder(BOOK, tiny, SymbolRules("0.1", "0.001", "0.001")) == ()  # below minQty


def test_grid_anchored_at_min_price_and_min_qty() -> None:
    rules = SymbolRules(tick_size="0.5", step_size="0.2", min_qty="0.3", min_price="0.25")
    book = Book([("100.25", "1")], [("100.75", "1")])  # mid 100.5
    ladder = NearLadder(levels=1, first_spread_rate=D("0.01"), step_rate=D(0), size=D("1"))
    ask, bid = near_ladder(book, ladder, rules)
    assert (ask.price, bid.price) == (D("101.75"), D("99.25"))  # 101.505 up, 99.495 down, on 0.25 + k x 0.5
    assert ask.qty == D("0.9")  # 0.3 + 3 x 0.2


def test_max_price_and_max_qty() -> None:
    rules = SymbolRules(tick_size="1", step_size="1", min_qty="1", max_price="105", max_qty="3")
    book = Book([("99", "1")], [("101", "1")])
    ladder = NearLadder(levels=3, first_spread_rate=D("0.02"), step_rate=D("0.02"), size=D("5"))
    quotes = near_ladder(book, ladder, rules)
    assert [(q.side, q.price) for q in quotes] == [("SELL", 102), ("BUY", 98), ("SELL", 104), ("BUY", 96), ("BUY", 94)]
    assert all(q.qty == 3 for q in quotes)


def test_levels_finer_than_the_tick_collapse() -> None:
    book = Book([("99", "1")], [("101", "1")])
    ladder = NearLadder(levels=4, first_spread_rate=D("0.001"), step_rate=D("0.001"), size=D("1"))
    quotes = near_ladder(book, ladder, SymbolRules("1", "1", "1"))  # every level rounds to 101 / 99
    assert [(q.side, q.price) for q in quotes] == [("SELL", 101), ("BUY", 99)]


def test_far_ladder_spreads_evenly() -> None:
    book = Book([("99.99", "1")], [("100.01", "1")])  # mid 100
    quotes = far_ladder(book, FarLadder(5, (D(1), D(5)), D("2")), SymbolRules("0.01", "0.1", "0.1"))
    assert [(q.side, str(q.price)) for q in quotes] == [
        ("SELL", "101.00"), ("BUY", "99.00"), ("SELL", "102.00"), ("BUY", "98.00"), ("SELL", "103.00"),
        ("BUY", "97.00"), ("SELL", "104.00"), ("BUY", "96.00"), ("SELL", "105.00"), ("BUY", "95.00")]
    assert all(q.ladder == "far" and q.qty == 2 for q in quotes)
    one = far_ladder(book, FarLadder(1, (D(2), D(4)), D("1")), SymbolRules("0.01", "0.1", "0.1"))
    assert [str(q.price) for q in one] == ["102.00", "98.00"]
    assert far_ladder(book, FarLadder(0, (D(1), D(5)), D("1")), RULES) == ()
    assert far_ladder(Book([("1", "1")], []), FarLadder(3, (D(1), D(5)), D("1")), RULES) == ()
    assert near_ladder(Book([], [("1", "1")]), NEAR, RULES) == ()


def test_filter_crossing() -> None:
    book = Book([("100", "1")], [("101", "1")])
    quotes = (Quote("SELL", D(100), D(1)), Quote("SELL", D("100.5"), D(1)), Quote("BUY", D(101), D(1)),
              Quote("BUY", D("100.5"), D(1)), Quote("BUY", D(100), D(1)), Quote("SELL", D(99), D(1)))
    assert filter_crossing(quotes, book) == (quotes[1], quotes[3], quotes[4])
    assert filter_crossing(quotes, Book([], [])) == quotes


def q(side: str, price: str, qty: str, ladder: str = "near") -> Quote:
    return Quote(side, D(price), D(qty), ladder)  # type: ignore[arg-type]


def test_position_limit_drops_and_trims() -> None:
    rules = SymbolRules("0.1", "0.001", "0.001", "5")
    quotes = (q("SELL", "101", "0.4"), q("BUY", "99", "0.4"), q("SELL", "102", "0.4"), q("BUY", "98", "0.4"))
    assert apply_position_limit(quotes, D(0), D(1), rules) == quotes
    long = apply_position_limit(quotes, D("0.5"), D(1), rules)  # room to buy 0.5: 0.4 + 0.1 trimmed
    assert long == (quotes[0], quotes[1], quotes[2], q("BUY", "98", "0.1"))
    assert apply_position_limit(quotes, D(1), D(1), rules) == (quotes[0], quotes[2])  # at the limit: no bids
    assert apply_position_limit(quotes, D("-1.2"), D(1), rules) == (quotes[1], quotes[3])  # beyond it: no asks
    assert apply_position_limit(quotes, D("0.55"), D(1), rules) == quotes[:3]  # 0.05 x 98 < 5 USDT: dropped
    resting = apply_position_limit(quotes, D(0), D(1), rules, resting_buy_qty=D("0.7"), resting_sell_qty=D(1))
    assert resting == (q("BUY", "99", "0.3"),)


# --------------------------------------------------------------------------- properties

TICKS = [D("0.0001"), D("0.001"), D("0.01"), D("0.1"), D("0.5"), D("1"), D("10")]
STEPS = [D("0.001"), D("0.01"), D("0.1"), D("1"), D("100")]


@st.composite
def books(draw: st.DrawFn) -> tuple[Book, SymbolRules]:
    tick, step = draw(st.sampled_from(TICKS)), draw(st.sampled_from(STEPS))
    min_qty = step * draw(st.integers(1, 5))
    rules = SymbolRules(tick, step, min_qty, D(draw(st.sampled_from([0, 5, 100]))))
    bid_ticks = draw(st.integers(10, 10_000_000))
    spread_ticks = draw(st.integers(1, 50))
    bids = [((bid_ticks - i) * tick, D(1)) for i in range(draw(st.integers(0, 5)))]
    asks = [((bid_ticks + spread_ticks + i) * tick, D(1)) for i in range(draw(st.integers(0, 5)))]
    return Book(bids, asks), rules


near_st = st.builds(NearLadder, levels=st.integers(1, 50),
                    first_spread_rate=st.decimals("0.00001", "0.05", places=5),
                    step_rate=st.decimals("0", "0.01", places=5), size=st.decimals("0.001", "1000", places=3),
                    size_growth=st.decimals("0.5", "3", places=2))
far_st = st.builds(lambda levels, low, width, size: FarLadder(levels, (low, low + width), size),
                   levels=st.integers(0, 50), low=st.decimals("0.01", "20", places=2),
                   width=st.decimals("0", "40", places=2), size=st.decimals("0.001", "1000", places=3))


def check_quotes(quotes: tuple[Quote, ...], book: Book, rules: SymbolRules) -> None:
    assert filter_crossing(quotes, book) == quotes  # never crosses the book
    mid = book.mid
    for quote in quotes:
        assert rules.price_on_grid(quote.price) and rules.qty_on_grid(quote.qty)
        assert quote.qty >= rules.min_qty and quote.notional >= rules.min_notional
        assert (quote.price > mid) if quote.side == "SELL" else (quote.price < mid)  # type: ignore[operator]
    for side in ("BUY", "SELL"):
        prices = [x.price for x in quotes if x.side == side]
        assert len(set(prices)) == len(prices)


@settings(max_examples=300, deadline=None)
@given(book_rules=books(), near=near_st)
def test_near_ladder_properties(book_rules: tuple[Book, SymbolRules], near: NearLadder) -> None:
    book, rules = book_rules
    assume(near.deepest_spread_rate < 1)
    quotes = near_ladder(book, near, rules)
    if book.mid is None:
        assert quotes == ()
        return
    check_quotes(quotes, book, rules)
    for quote in quotes:  # rounded away from the mid: at least the spread asked for
        rate = abs(quote.price - book.mid) / book.mid
        assert rate >= near.first_spread_rate - D("1e-20")
        assert quote.qty <= max(near.size, near.size * near.size_growth ** (near.levels - 1))


@settings(max_examples=300, deadline=None)
@given(book_rules=books(), far=far_st)
def test_far_ladder_properties(book_rules: tuple[Book, SymbolRules], far: FarLadder) -> None:
    book, rules = book_rules
    assume(far.range_pct[1] < 100)
    quotes = far_ladder(book, far, rules)
    check_quotes(quotes, book, rules)
    assert len(quotes) <= 2 * far.levels
    if book.mid is not None:
        for quote in quotes:
            assert abs(quote.price - book.mid) / book.mid * 100 >= far.range_pct[0] - D("1e-20")


@settings(max_examples=300, deadline=None)
@given(book_rules=books(), near=near_st, position_steps=st.integers(-2000, 2000),
       limit_steps=st.integers(1, 2000), resting_buy=st.integers(0, 500), resting_sell=st.integers(0, 500))
def test_position_limit_bounds_the_worst_case(book_rules: tuple[Book, SymbolRules], near: NearLadder,
                                              position_steps: int, limit_steps: int, resting_buy: int,
                                              resting_sell: int) -> None:
    book, rules = book_rules
    assume(near.deepest_spread_rate < 1)
    step = rules.step_size
    position, max_position = position_steps * step, limit_steps * step + D("0.0001")
    quotes = near_ladder(book, near, rules)
    limited = apply_position_limit(quotes, position, max_position, rules,
                                   resting_buy_qty=resting_buy * step, resting_sell_qty=resting_sell * step)
    check_quotes(limited, book, rules)
    buys = sum((x.qty for x in limited if x.side == "BUY"), D(0))
    sells = sum((x.qty for x in limited if x.side == "SELL"), D(0))
    if buys:
        assert position + resting_buy * step + buys <= max_position
    if sells:
        assert position - resting_sell * step - sells >= -max_position
    originals = {(x.side, x.price): x.qty for x in quotes}
    assert all(x.qty <= originals[(x.side, x.price)] for x in limited)  # only ever trimmed, never grown
