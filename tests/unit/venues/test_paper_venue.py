"""The paper venue: BinanceSigned's order interface over the matching engine, filled when the
real market trades through our quotes (no network, no background liquidity)."""

from __future__ import annotations

import itertools
from decimal import Decimal

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.binance.orders import InvalidOrder, NewOrder, OpenOrder, PlaceResult
from adapters.binance.public import BinanceError
from adapters.paper import Fill, PaperVenue
from engine.clock import Clock

D = Decimal
SYMBOL = "ETHUSDT"
FEE = D("0.0002")


def venue(**kwargs: object) -> PaperVenue:
    paper = PaperVenue(Clock(), **kwargs)  # type: ignore[arg-type]
    paper.add_symbol(SYMBOL, D("0.01"), D("0.001"), D("0.001"), D("5"))
    return paper


def order(cid: str, side: str, price: str, qty: str = "0.100", tif: str = "GTX", **kwargs: object) -> NewOrder:
    return NewOrder(symbol=SYMBOL, side=side, quantity=D(qty), price=D(price), client_order_id=cid,
                    time_in_force=tif, **kwargs)  # type: ignore[arg-type]


async def test_a_batch_with_one_crossing_post_only_item_is_refused_for_that_item_alone() -> None:
    paper = venue()
    paper.on_book(SYMBOL, D("2000.00"), D("2000.50"), 1)
    results = await paper.place_batch([
        order("a1", "SELL", "2000.60"), order("b1", "BUY", "1999.90"),
        order("b2", "BUY", "2000.50"),  # at the real best ask: would take
        order("a2", "SELL", "2000.70"), order("b3", "BUY", "1999.80"),
    ])
    assert [r.client_order_id for r in results] == ["a1", "b1", "b2", "a2", "b3"]  # input order
    assert [r.ok for r in results] == [True, True, False, True, True]
    refused = results[2]
    assert (refused.code, refused.order_id) == (-5022, None)
    assert "Post Only" in refused.msg
    accepted = results[0]
    assert isinstance(accepted, PlaceResult)
    assert (accepted.status, accepted.price, accepted.orig_qty, accepted.executed_qty) == \
        ("NEW", D("2000.60"), D("0.100"), D(0))
    assert len({r.order_id for r in results if r.ok}) == 4
    assert sorted(o.client_order_id for o in await paper.open_orders(SYMBOL)) == ["a1", "a2", "b1", "b3"]


async def test_post_only_through_our_own_resting_order_is_refused_and_takers_are_not_simulated() -> None:
    paper = venue()
    paper.on_book(SYMBOL, D("2000.00"), D("2001.00"), 1)
    assert (await paper.place(order("a1", "SELL", "2000.50"))).ok  # inside the real spread
    own_cross = await paper.place(order("b1", "BUY", "2000.50"))  # would trade with our own ask
    assert (own_cross.ok, own_cross.code) == (False, -5022)
    gtc_own = await paper.place(order("b2", "BUY", "2000.60", tif="GTC"))
    gtc_market = await paper.place(order("b3", "BUY", "2001.00", tif="GTC"))
    assert [(r.ok, r.code) for r in (gtc_own, gtc_market)] == [(False, -2010), (False, -2010)]
    rests = await paper.place(order("b4", "BUY", "1999.00", tif="GTC"))
    ioc = await paper.place(order("b5", "BUY", "1999.00", tif="IOC"))
    fok = await paper.place(order("b6", "BUY", "1999.00", tif="FOK"))
    assert (rests.ok, rests.status) == (True, "NEW")
    assert (ioc.ok, ioc.status, ioc.executed_qty) == (True, "EXPIRED", D(0))
    assert (fok.ok, fok.code) == (False, -5021)
    assert sorted(o.client_order_id for o in await paper.open_orders(SYMBOL)) == ["a1", "b4"]
    assert paper.fills == []


async def test_open_orders_carry_the_real_adapters_fields() -> None:
    clock = Clock()
    paper = PaperVenue(clock)
    paper.add_symbol(SYMBOL, D("0.01"), D("0.001"), D("0.001"), D("5"))
    paper.add_symbol("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("100"))
    placed_from_ms = clock.time_ms()
    await paper.place_batch([order("a1", "SELL", "2000.60", "0.250"),
                             NewOrder("BTCUSDT", "BUY", D("0.002"), D("60000.0"), "x1")])
    placed_to_ms = clock.time_ms()
    [listed] = await paper.open_orders(SYMBOL)
    assert isinstance(listed, OpenOrder)
    assert (listed.symbol, listed.client_order_id, listed.side, listed.status, listed.order_type,
            listed.time_in_force, listed.price, listed.orig_qty, listed.executed_qty) == \
        (SYMBOL, "a1", "SELL", "NEW", "LIMIT", "GTX", D("2000.60"), D("0.250"), D(0))
    assert listed.time_ms == listed.update_time_ms and placed_from_ms <= listed.time_ms <= placed_to_ms
    assert sorted(o.symbol for o in await paper.open_orders(None)) == ["BTCUSDT", SYMBOL]


async def test_cancel_batch_answers_per_id_and_an_unknown_id_is_minus_2011() -> None:
    paper = venue()
    await paper.place_batch([order("a1", "SELL", "2001.00"), order("a2", "SELL", "2002.00"),
                             order("b1", "BUY", "1999.00")])
    results = await paper.cancel_batch(SYMBOL, ["a2", "nope", "b1", "b1"])
    assert [(r.client_order_id, r.ok, r.code) for r in results] == \
        [("a2", True, None), ("nope", False, -2011), ("b1", True, None), ("b1", False, -2011)]
    assert results[0].status == "CANCELED" and results[0].price == D("2002.00")
    assert results[1].msg == "Unknown order sent."
    assert [o.client_order_id for o in await paper.open_orders(SYMBOL)] == ["a1"]
    again = await paper.place(order("a2", "SELL", "2002.00"))  # a closed id may be used again
    assert again.ok


async def test_cancel_all_empties_one_symbol_only() -> None:
    paper = venue()
    paper.add_symbol("BTCUSDT", D("0.1"), D("0.001"), D("0.001"), D("100"))
    await paper.place_batch([order(f"a{i}", "SELL", f"{2001 + i}.00") for i in range(5)])
    await paper.place(NewOrder("BTCUSDT", "BUY", D("0.002"), D("60000.0"), "x1"))
    await paper.cancel_all(SYMBOL)
    assert await paper.open_orders(SYMBOL) == []
    assert [o.client_order_id for o in await paper.open_orders("BTCUSDT")] == ["x1"]
    await paper.cancel_all(SYMBOL)  # nothing open: fine, as on Binance


async def test_a_market_move_through_a_resting_ask_fills_it_exactly_once() -> None:
    paper = venue()
    paper.on_book(SYMBOL, D("2000.00"), D("2000.50"), 1_000)
    placed = await paper.place(order("a1", "SELL", "2001.00", "0.500"))
    assert paper.on_book(SYMBOL, D("2000.90"), D("2001.20"), 2_000) == []  # bid below our ask: nothing
    fills = paper.on_book(SYMBOL, D("2001.50"), D("2001.60"), 3_000)  # the market traded through
    fee = D("2001.00") * D("0.500") * FEE
    assert fills == [Fill(client_order_id="a1", side="SELL", price=D("2001.00"), qty=D("0.500"), fee=fee,
                          ts_ms=3_000, symbol=SYMBOL, order_id=placed.order_id)]  # at our price, not the market's
    assert paper.fills == fills
    assert paper.on_book(SYMBOL, D("2002.00"), D("2002.10"), 4_000) == []  # filled once only
    assert paper.on_book(SYMBOL, D("2001.50"), D("2001.60"), 5_000) == []
    assert paper.fills == fills
    assert await paper.position(SYMBOL) == paper.position_now(SYMBOL) == D("-0.500")
    assert paper.realised_pnl(SYMBOL) == -fee == D("-0.2001")
    assert paper.average_price(SYMBOL) == D("2001.00")
    assert paper.unrealised_pnl(SYMBOL, D("2002.00")) == D("-0.500")  # short 0.5 marked 1 higher
    assert await paper.open_orders(SYMBOL) == []
    [gone] = await paper.cancel_batch(SYMBOL, ["a1"])
    assert (gone.ok, gone.code) == (False, -2011)

    # Buy it back lower: the realised PnL is the spread captured net of both fees.
    await paper.place(order("b1", "BUY", "2000.00", "0.500"))
    [buy] = paper.on_book(SYMBOL, D("1999.00"), D("2000.00"), 6_000)  # the ask came down to our bid
    assert (buy.side, buy.price, buy.qty) == ("BUY", D("2000.00"), D("0.500"))
    assert paper.position_now(SYMBOL) == 0
    assert paper.realised_pnl(SYMBOL) == D("0.500") - fee - buy.fee == D("0.0999")
    assert paper.unrealised_pnl(SYMBOL, D("1234")) == 0


async def test_partial_semantics_the_whole_order_fills_at_the_touch_and_nothing_beyond_it() -> None:
    """No queue, no depth: a quote the real touch reaches fills in full (never PARTIALLY_FILLED);
    one the touch does not reach does not fill at all; each fills at its own price."""
    paper = venue()
    paper.on_book(SYMBOL, D("2000.00"), D("2000.50"), 1)
    await paper.place_batch([order("a1", "SELL", "2000.60", "0.300"), order("a2", "SELL", "2000.80", "0.200"),
                             order("a3", "SELL", "2001.00", "0.100"), order("b1", "BUY", "1999.00", "0.400")])
    fills = paper.on_book(SYMBOL, D("2000.80"), D("2000.90"), 2)  # at a2's price exactly: a2 fills too
    assert [(f.client_order_id, f.price, f.qty) for f in fills] == \
        [("a1", D("2000.60"), D("0.300")), ("a2", D("2000.80"), D("0.200"))]
    assert [(o.client_order_id, o.executed_qty) for o in await paper.open_orders(SYMBOL)] == \
        [("a3", D(0)), ("b1", D(0))]
    assert paper.position_now(SYMBOL) == D("-0.500")
    # Both sides through at once (a locked/crossed real book): each side fills, once.
    fills = paper.on_book(SYMBOL, D("2001.00"), D("1999.00"), 3)
    assert sorted((f.client_order_id, f.side) for f in fills) == [("a3", "SELL"), ("b1", "BUY")]
    assert paper.position_now(SYMBOL) == D("-0.200")


async def test_average_cost_through_a_position_flip() -> None:
    paper = venue(fee_rate_maker=D(0))
    paper.on_book(SYMBOL, D("99.00"), D("101.00"), 1)
    await paper.place_batch([order("b1", "BUY", "100.00", "1.000"), order("b2", "BUY", "98.00", "1.000")])
    paper.on_book(SYMBOL, D("97.00"), D("98.00"), 2)  # both buys: long 2 at 99
    assert (paper.position_now(SYMBOL), paper.average_price(SYMBOL)) == (D(2), D(99))
    assert paper.unrealised_pnl(SYMBOL, D(100)) == D(2)
    await paper.place(order("a1", "SELL", "102.00", "3.000"))
    paper.on_book(SYMBOL, D("102.00"), D("103.00"), 3)  # sell 3: close 2 at +3 each, open short 1 at 102
    assert paper.realised_pnl(SYMBOL) == D(6)
    assert (paper.position_now(SYMBOL), paper.average_price(SYMBOL)) == (D(-1), D(102))
    assert paper.unrealised_pnl(SYMBOL, D(100)) == D(2)


async def test_the_exchange_filters_answer_per_item_with_binance_codes() -> None:
    paper = venue()
    paper.on_book(SYMBOL, D("2000.00"), D("2000.50"), 1)
    results = await paper.place_batch([
        order("q1", "BUY", "1999.00", "0.0005"),  # below min qty
        order("q2", "BUY", "1999.00", "0.0015"),  # off the step
        order("q3", "BUY", "1999.005", "0.100"),  # off the tick
        order("q4", "BUY", "1999.00", "0.002"),  # notional 4 < 5
        NewOrder("XRPUSDT", "BUY", D("10"), D("0.5"), "q5"),  # not registered
    ])
    assert [r.code for r in results] == [-4004, -4023, -4014, -4164, -1121]
    assert (await paper.place(order("r1", "BUY", "1999.00", "0.002", reduce_only=True))).code == -2022  # flat
    assert (await paper.place(order("d1", "BUY", "1999.00"))).ok
    assert (await paper.place(order("d1", "BUY", "1998.00"))).code == -4116  # open with that id


async def test_request_level_mistakes_raise_like_the_real_adapter() -> None:
    paper = venue()
    with pytest.raises(InvalidOrder):
        await paper.place_batch([order(f"b{i}", "BUY", f"{1990 + i}.00") for i in range(6)])
    with pytest.raises(InvalidOrder):
        await paper.place_batch([order("b1", "BUY", "1990.00"), order("b1", "BUY", "1991.00")])
    with pytest.raises(InvalidOrder):
        await paper.cancel_batch(SYMBOL, [f"c{i}" for i in range(11)])
    with pytest.raises(InvalidOrder):
        await paper.cancel_batch(SYMBOL, "abc")
    for call in (paper.cancel_all("XRPUSDT"), paper.open_orders("XRPUSDT"), paper.cancel_batch("XRPUSDT", ["x"]),
                 paper.position("XRPUSDT")):
        with pytest.raises(BinanceError) as caught:
            await call
        assert caught.value.code == -1121
    with pytest.raises(KeyError):
        paper.on_book("XRPUSDT", D(1), D(2), 0)
    with pytest.raises(ValueError):
        paper.add_symbol(SYMBOL, D("0.1"), D("0.001"), D("0.001"), D("5"))  # other rules
    paper.add_symbol(SYMBOL, D("0.01"), D("0.001"), D("0.001"), D("5"))  # the same rules: no-op


async def test_every_call_is_a_scheduling_point_and_a_cancelled_call_has_no_effect() -> None:
    paper = venue()
    with trio.CancelScope() as scope:
        scope.cancel()
        await paper.place(order("b1", "BUY", "1999.00"))
    assert scope.cancelled_caught
    assert await paper.open_orders(SYMBOL) == []


# --------------------------------------------------------------------------- property

_ops = st.lists(st.one_of(
    st.tuples(st.just("place"), st.sampled_from(["BUY", "SELL"]), st.integers(-30, 30), st.integers(1, 50),
              st.sampled_from(["GTX", "GTX", "GTC"])),
    st.tuples(st.just("book"), st.integers(-40, 40), st.integers(-2, 10)),
    st.tuples(st.just("cancel"), st.integers(0, 1000)),
), max_size=60)


@settings(max_examples=150, deadline=None)
@given(_ops)
def test_position_is_the_signed_sum_of_fills_and_no_fill_is_worse_than_its_limit(ops: list[tuple]) -> None:
    async def main() -> None:
        paper = PaperVenue(Clock(), fee_rate_maker=D("0.0003"))
        tick, step = D("0.5"), D("0.01")
        paper.add_symbol(SYMBOL, tick, step, step, D(0))
        mid, limits, ids = 200, {}, itertools.count()
        placed: list[str] = []
        for op in ops:
            if op[0] == "place":
                _, side, offset, lots, tif = op
                cid = f"o{next(ids)}"
                price, qty = (mid + offset) * tick, lots * step
                result = await paper.place(order(cid, side, str(price), str(qty), tif=tif))
                if result.ok:
                    limits[cid] = (side, price, qty)
                    placed.append(cid)
            elif op[0] == "book":
                _, move, spread = op
                mid = max(50, mid + move)
                bid, ask = (mid - 1) * tick, (mid - 1 + spread) * tick  # spread < 1 tick: a locked/crossed book
                paper.on_book(SYMBOL, bid, ask, 0)
                for resting in await paper.open_orders(SYMBOL):  # nothing left that the market traded through
                    assert resting.price > bid if resting.side == "SELL" else resting.price < ask
            elif placed:
                await paper.cancel_batch(SYMBOL, [placed[op[1] % len(placed)]])
        assert paper.position_now(SYMBOL) == sum((f.signed_qty for f in paper.fills), D(0))
        assert len({f.client_order_id for f in paper.fills}) == len(paper.fills)  # each order fills once
        for fill in paper.fills:
            side, limit, qty = limits[fill.client_order_id]
            assert fill.side == side and fill.qty == qty
            assert fill.price <= limit if side == "BUY" else fill.price >= limit
            assert fill.fee == fill.price * fill.qty * D("0.0003")
        # Realised + unrealised is the cash flow net of fees plus the position at the mark.
        mark = mid * tick
        cash = -sum((f.signed_qty * f.price + f.fee for f in paper.fills), D(0))
        total = paper.realised_pnl(SYMBOL) + paper.unrealised_pnl(SYMBOL, mark)
        assert abs(total - (cash + paper.position_now(SYMBOL) * mark)) < D("1e-18")

    trio.run(main)
