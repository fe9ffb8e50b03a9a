"""The matching engine: price-time priority book (properties) and the engine's market flow."""

from __future__ import annotations

from decimal import ROUND_DOWN
from decimal import Decimal as D

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.matching import (
    Instrument, LiquidityProfile, MatchingEngine, OrderNotFound, OrderRejected, OrderStatus, Side, TimeInForce,
)
from adapters.sim.matching_book import BookOrder, OrderBook


def _order(order_id: int, side: Side, price: int | None, lots: int, owner: str = "a") -> BookOrder:
    return BookOrder(order_id, owner, side, price, lots)


# --------------------------------------------------------------------------- the book


def test_price_then_time_priority_and_fills_at_resting_prices() -> None:
    book = OrderBook()
    book.rest(_order(1, Side.SELL, 101, 5))
    book.rest(_order(2, Side.SELL, 100, 5))
    book.rest(_order(3, Side.SELL, 100, 5))
    taker = _order(4, Side.BUY, 101, 12)
    fills = book.submit(taker, TimeInForce.GTC)
    assert [(f.maker_id, f.price_ticks, f.qty_lots) for f in fills] == [(2, 100, 5), (3, 100, 5), (1, 101, 2)]
    assert taker.status is OrderStatus.FILLED
    assert taker.quote_ticks_lots == 100 * 10 + 101 * 2
    assert book.depth(Side.SELL, 5) == [(101, 3)]


def test_gtc_remainder_rests_and_ioc_remainder_expires() -> None:
    book = OrderBook()
    book.rest(_order(1, Side.SELL, 100, 2))
    gtc = _order(2, Side.BUY, 100, 5)
    book.submit(gtc, TimeInForce.GTC)
    assert gtc.status is OrderStatus.PARTIALLY_FILLED and book.best(Side.BUY) == 100
    ioc = _order(3, Side.SELL, 99, 10)
    book.submit(ioc, TimeInForce.IOC)
    assert ioc.status is OrderStatus.EXPIRED and ioc.filled_lots == 3
    assert book.best(Side.BUY) is None and not book.resting


def test_resting_a_crossing_order_is_refused() -> None:
    book = OrderBook()
    book.rest(_order(1, Side.SELL, 100, 1))
    with pytest.raises(ValueError):
        book.rest(_order(2, Side.BUY, 100, 1))


_ops = st.lists(
    st.one_of(
        st.tuples(st.just("order"), st.sampled_from(Side), st.integers(90, 110), st.integers(1, 20),
                  st.sampled_from([TimeInForce.GTC, TimeInForce.IOC])),
        st.tuples(st.just("market"), st.sampled_from(Side), st.integers(1, 30)),
        st.tuples(st.just("cancel"), st.integers(0, 60)),
    ),
    max_size=60,
)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_book_properties(ops: list[tuple]) -> None:
    """Never crossed; fills at the maker's price within the taker's limit, best price
    first then arrival order; every lot a taker gets a maker gives."""
    book, orders = OrderBook(), {}
    for op_id, op in enumerate(ops, start=1):
        if op[0] == "cancel":
            book.remove(op[1])
            continue
        if op[0] == "order":
            _, side, price, lots, tif = op
        else:
            _, side, lots = op
            price, tif = None, TimeInForce.IOC
        resting_before = {oid: (o.price_ticks, o.remaining_lots) for oid, o in book.resting.items()}
        taker = orders[op_id] = _order(op_id, side, price, lots)
        fills = book.submit(taker, tif)
        keys = []
        for fill in fills:
            maker_price, maker_lots = resting_before[fill.maker_id]
            assert fill.price_ticks == maker_price
            assert price is None or (fill.price_ticks <= price if side is Side.BUY else fill.price_ticks >= price)
            assert fill.qty_lots <= maker_lots
            keys.append((fill.price_ticks if side is Side.BUY else -fill.price_ticks, fill.maker_id))
        assert keys == sorted(keys)
        assert sum(f.qty_lots for f in fills) == taker.filled_lots
        if fills and taker.remaining_lots:  # a taker left with quantity took everything it could
            assert not book.crosses(side, price)
        assert not book.is_crossed()
        for order in orders.values():
            assert 0 <= order.filled_lots <= order.qty_lots
        buys = sum(o.filled_lots for o in orders.values() if o.side is Side.BUY)
        sells = sum(o.filled_lots for o in orders.values() if o.side is Side.SELL)
        assert buys == sells
        on_book = sum(lots for s in Side for _, lots in book.depth(s, 1000))
        assert on_book == sum(o.remaining_lots for o in book.resting.values())


# --------------------------------------------------------------------------- the engine


def _engine(levels: int = 5, spacing: int = 1, seed: int = 7) -> MatchingEngine:
    engine = MatchingEngine(seed=seed)
    engine.add_instrument(Instrument("BTCUSDT", D("0.1"), D("0.001"), LiquidityProfile(levels, spacing, 50)))
    return engine


def test_background_liquidity_quotes_around_the_market_price() -> None:
    engine = _engine()
    engine.on_market_price("BTCUSDT", 65000.0)
    book = engine.depth("BTCUSDT", 10)
    assert book.bids[0][0] == D("64999.9") and book.asks[0][0] == D("65000.1")
    assert len(book.bids) == len(book.asks) == 5


def test_resting_quote_fills_when_the_market_trades_through_it() -> None:
    engine = _engine()
    engine.on_market_price("BTCUSDT", 65000.0, now_ms=1)
    bid = engine.place(owner="mm", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.005"), price=D("64990.0"),
                       time_in_force=TimeInForce.GTX, client_order_id="q1", now_ms=2)
    assert bid.status is OrderStatus.NEW
    trades = engine.on_market_price("BTCUSDT", 64980.0, now_ms=3)
    assert [(t.order_id, t.price, t.qty, t.is_maker) for t in trades] == [(bid.order_id, D("64990.0"), D("0.005"), True)]
    filled = engine.order(owner="mm", symbol="BTCUSDT", client_order_id="q1")
    assert filled.status is OrderStatus.FILLED and filled.avg_price == D("64990.0") and filled.update_time_ms == 3
    assert engine.open_orders("mm") == []
    assert not engine.depth("BTCUSDT", 20).bids or engine.depth("BTCUSDT", 20).bids[0][0] < engine.depth(
        "BTCUSDT", 20).asks[0][0]


def test_quote_at_the_touch_fills_partially_at_some_seed() -> None:
    partial = 0
    for seed in range(20):
        engine = _engine(seed=seed)
        engine.on_market_price("BTCUSDT", 65000.0)
        order = engine.place(owner="mm", symbol="BTCUSDT", side=Side.SELL, quantity=D("1.000"),
                             price=D("65000.5"), time_in_force=TimeInForce.GTC)
        engine.on_market_price("BTCUSDT", 65000.5)
        state = engine.order(owner="mm", symbol="BTCUSDT", order_id=order.order_id)
        partial += state.status is OrderStatus.PARTIALLY_FILLED
        assert state.executed_qty < D("1.000")
    assert partial > 5


def test_post_only_fok_duplicate_id_and_cancel() -> None:
    engine = _engine()
    engine.on_market_price("BTCUSDT", 65000.0)
    with pytest.raises(OrderRejected, match="post_only"):
        engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("65000.1"),
                     time_in_force=TimeInForce.GTX)
    with pytest.raises(OrderRejected, match="fok"):
        engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=D("100"), price=D("65000.5"),
                     time_in_force=TimeInForce.FOK)
    engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("64000"),
                 client_order_id="x")
    with pytest.raises(OrderRejected, match="duplicate"):
        engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("64000"),
                     client_order_id="x")
    engine.place(owner="b", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("64000"),
                 client_order_id="x")  # ids are per owner
    cancelled = engine.cancel(owner="a", symbol="BTCUSDT", client_order_id="x", now_ms=9)
    assert cancelled.status is OrderStatus.CANCELED and cancelled.update_time_ms == 9
    with pytest.raises(OrderNotFound):
        engine.cancel(owner="a", symbol="BTCUSDT", client_order_id="x")
    with pytest.raises(OrderNotFound):  # another owner's order
        engine.cancel(owner="a", symbol="BTCUSDT", order_id=cancelled.order_id + 1)
    assert engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=D("0.001"), price=D("64000"),
                        client_order_id="x").status is OrderStatus.NEW  # reusable once closed


def test_taking_order_fills_at_resting_prices_and_reports_average() -> None:
    engine = _engine()
    engine.on_market_price("BTCUSDT", 65000.0)
    asks = engine.depth("BTCUSDT", 2).asks
    half = (asks[1][1] / 2).quantize(D("0.001"), rounding=ROUND_DOWN)
    qty = asks[0][1] + half
    report = engine.place(owner="a", symbol="BTCUSDT", side=Side.BUY, quantity=qty, price=asks[1][0],
                          time_in_force=TimeInForce.IOC)
    assert report.status is OrderStatus.FILLED and report.executed_qty == qty
    assert report.cum_quote == asks[0][0] * asks[0][1] + asks[1][0] * half
    assert report.avg_price == report.cum_quote / qty


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.floats(-0.004, 0.004), st.sampled_from(Side), st.integers(-30, 30),
                          st.integers(1, 40)), max_size=40), st.integers(0, 5))
def test_engine_properties_under_market_moves(moves: list[tuple], seed: int) -> None:
    """Whatever the market does: books never cross, fills happen at the owner's own
    price, and executed + open quantities never exceed what was ordered."""
    engine, price = _engine(levels=8, spacing=3, seed=seed), 65000.0
    engine.on_market_price("BTCUSDT", price)
    placed: dict[int, D] = {}
    for ret, side, offset_ticks, lots in moves:
        limit = D(str(round(price, 1))) + D("0.1") * offset_ticks
        try:
            report = engine.place(owner="mm", symbol="BTCUSDT", side=side, quantity=D("0.001") * lots, price=limit)
            placed[report.order_id] = report.price
        except OrderRejected:
            pass
        price *= 1 + ret
        for trade in engine.on_market_price("BTCUSDT", price):
            assert trade.price == placed[trade.order_id]  # makers fill at their own price
        book = engine.depth("BTCUSDT", 100)
        assert not (book.bids and book.asks and book.bids[0][0] >= book.asks[0][0])
        for report in engine.open_orders("mm"):
            assert D(0) <= report.executed_qty < report.orig_qty


def test_same_seed_same_prices_give_the_same_books() -> None:
    def run(seed: int) -> tuple:
        engine, price = _engine(seed=seed), 65000.0
        for i in range(50):
            price *= 1.0007 if i % 3 else 0.9990
            engine.on_market_price("BTCUSDT", price)
        book = engine.depth("BTCUSDT", 5)
        return book.bids, book.asks

    assert run(1) == run(1)
    assert run(1) != run(2)
