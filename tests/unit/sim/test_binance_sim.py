"""BinanceSim without I/O: determinism of market and books, and the control actions."""

from __future__ import annotations

from decimal import Decimal as D

import pytest

from adapters.sim.binance import BinanceSim, liquidity_for
from adapters.sim.control import VenueControl
from adapters.sim.matching import Side, TimeInForce
from engine.clock import Clock


def _sim(seed: int, clock: Clock, **options: object) -> BinanceSim:
    return BinanceSim(seed=seed, clock=clock, control=VenueControl.new("binance"), symbols=30, **options)


async def test_same_seed_and_steps_give_the_same_market_and_books() -> None:
    clock = Clock(epoch_s=1_767_225_600.0)

    def run(seed: int) -> dict:
        sim = _sim(seed, clock)
        for symbol in ("BTCUSDT", "SOLUSDT", "BTCUSDT_260327"):
            sim.activate(symbol)
        for _ in range(400):
            sim.step(0.25)
        return sim.snapshot()

    first = run(3)
    assert first == run(3)
    assert first != run(4)
    assert set(first["books"]) == {"BTCUSDT", "SOLUSDT", "BTCUSDT_260327"}


async def test_books_are_deep_for_busy_symbols_and_never_crossed_while_stepping() -> None:
    sim = _sim(5, Clock())
    btc, quiet = sim.market.states["BTCUSDT"].spec, sim.market.specs[-6]
    assert liquidity_for(btc, 20).level_lots * btc.step_size * D(str(btc.initial_price)) > 100_000
    assert liquidity_for(quiet, 20).level_lots >= 1
    sim.activate("BTCUSDT")
    for _ in range(200):
        sim.step(1.0)
        book = sim.book("BTCUSDT", 20)
        assert len(book.bids) == len(book.asks) == 20 and book.bids[0][0] < book.asks[0][0]
        mark = D(str(sim.market.states["BTCUSDT"].mark_price))
        assert book.bids[0][0] <= mark <= book.asks[0][0] + D("0.1")


async def test_jump_price_fills_resting_quotes_at_once() -> None:
    sim = _sim(6, Clock())
    sim.activate("ETHUSDT")
    bid = sim.book("ETHUSDT", 1).bids[0][0] - 5
    order = sim.engine.place(owner="sim-key", symbol="ETHUSDT", side=Side.BUY, quantity=D("0.10"), price=bid,
                             time_in_force=TimeInForce.GTX)
    result = sim.control_action("jump_price", {"symbol": "ETHUSDT", "pct": -2})
    assert result["symbol"] == "ETHUSDT" and result["fills"] == 1
    assert sim.engine.order(owner="sim-key", symbol="ETHUSDT", order_id=order.order_id).status.value == "FILLED"


async def test_control_actions_and_their_errors() -> None:
    sim = _sim(7, Clock())
    oi = sim.market.states["SOLUSDT"].open_interest.value
    assert sim.control_action("spike_oi", {"symbol": "SOLUSDT", "pct": -40})["open_interest"] == pytest.approx(oi * 0.6)
    assert sim.control_action("set_quote_volume", {"symbol": "SOLUSDT", "quote_volume": 3_900_000}) == {
        "symbol": "SOLUSDT", "quote_volume": 3_900_000.0}
    assert sim.control_action("set_status", {"symbol": "SOLUSDT", "status": "SETTLING"})["status"] == "SETTLING"
    for action, params, message in [
        ("nope", {"symbol": "SOLUSDT"}, "unknown action 'nope'"),
        ("jump_price", {"symbol": "NOPEUSDT", "pct": 1}, "listed symbol"),
        ("jump_price", {"symbol": "SOLUSDT", "pct": "1"}, "params.pct must be a finite number"),
        ("jump_price", {"symbol": "SOLUSDT", "pct": -100}, "> -100"),
        ("set_quote_volume", {"symbol": "SOLUSDT", "quote_volume": -1}, ">= 0"),
        ("set_status", {"symbol": "SOLUSDT", "status": "HALTED"}, "unknown status"),
    ]:
        with pytest.raises(ValueError, match=message):
            sim.control_action(action, params)
