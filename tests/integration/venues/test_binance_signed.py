"""BinanceSigned against the simulated Binance over real HTTP.

The simulator checks the API key, the HMAC-SHA256 signature of the exact query string
and the timestamp against its own clock, as the venue does; it places and cancels on its
matching engine and answers batches item by item. Faults: a 5xx burst (refused before
anything is executed), ``timeout_orders`` (placed, then answered 503 -1000 after
``order_timeout_hang_s``), ``reject_orders`` (-2019 per item).
"""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import ROUND_CEILING, ROUND_FLOOR, Decimal
from typing import Any

import httpx
import pytest
import structlog
import trio

from adapters.binance.orders import NewOrder
from adapters.binance.signed import SIGNED_WEIGHTS, BinanceAuthError, BinanceSigned, OrderStatusUnknown
from adapters.clients import binance_budget
from adapters.sim.actor import SIM_CREDENTIALS, venue_options
from adapters.sim.venues import SimPorts, SimVenues
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import WindowBudget
from tests.integration.venues.venue_support import Sim, http_client

KEY = SIM_CREDENTIALS["binance_api_key"]
SECRET = SIM_CREDENTIALS["binance_api_secret"]
SYMBOL = "ETHUSDT"


@asynccontextmanager
async def running_binance(**binance_options: Any) -> AsyncIterator[Sim]:
    """The simulated Binance alone, accepting the simulator's own credential."""
    clock = Clock()
    options = {"binance": {**venue_options(dict(SIM_CREDENTIALS))["binance"], **binance_options}}
    venues = SimVenues(seed=11, clock=clock, ports=SimPorts(venues={"binance": 0}), options=options)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(venues.run)
        try:
            yield Sim(venues, urls, clock)
        finally:
            venues.stop()
            nursery.cancel_scope.cancel()


def signed(sim: Sim, http: httpx.AsyncClient, metrics: EngineMetrics, *, clock: Clock | None = None,
           secret: str = SECRET, **options: Any) -> BinanceSigned:
    clock = clock or sim.clock
    return BinanceSigned(sim.binance_url, http, binance_budget(clock, metrics), KEY, secret, clock,
                         structlog.get_logger(), metrics, backoff_initial_s=0.05, backoff_max_s=0.5, **options)


def quotes(sim: Sim, prefix: str, count: int, symbol: str = SYMBOL) -> list[NewOrder]:
    """Post-only quotes 2 % and more away from the mark, alternating bids and asks, each
    worth about twice the minimum notional."""
    state = sim.venues.venue("binance").market.states[symbol]
    spec, mark = state.spec, Decimal(repr(state.mark_price))
    tick, step = spec.tick_size, spec.step_size
    bid = (mark * Decimal("0.98") / tick).to_integral_value(ROUND_FLOOR) * tick
    ask = (mark * Decimal("1.02") / tick).to_integral_value(ROUND_CEILING) * tick
    qty = max(spec.min_qty, (spec.min_notional * 2 / bid / step).to_integral_value(ROUND_CEILING) * step)
    orders = []
    for i in range(count):
        side, price = ("BUY", bid - i * tick) if i % 2 == 0 else ("SELL", ask + i * tick)
        orders.append(NewOrder(symbol=symbol, side=side, quantity=qty, price=price, client_order_id=f"{prefix}-{i}"))
    return orders


def off_tick(order: NewOrder, sim: Sim) -> NewOrder:
    """The same order priced half a tick off the grid: more decimals than the symbol allows (-1111)."""
    tick = sim.venues.venue("binance").market.states[order.symbol].spec.tick_size
    return NewOrder(symbol=order.symbol, side=order.side, quantity=order.quantity, price=order.price + tick / 2,
                    client_order_id=order.client_order_id)


def assert_within_budget(sim: Sim, budget: WindowBudget) -> None:
    """The venue never throttled or banned us, and never counted more weight than we budgeted."""
    stats = sim.stats("binance")
    assert stats.throttled == 0 and stats.banned == 0
    assert stats.weight <= budget.stats().granted_weight


async def test_place_a_batch_list_cancel_and_cancel_all() -> None:
    metrics = EngineMetrics()
    async with running_binance() as sim, http_client() as http:
        client = signed(sim, http, metrics)
        orders = quotes(sim, "mm1", 5)
        orders[2] = off_tick(orders[2], sim)
        results = await client.place_batch(orders)
        assert [r.client_order_id for r in results] == [o.client_order_id for o in orders]  # input order
        assert [r.ok for r in results] == [True, True, False, True, True]
        assert (results[2].code, results[2].status_unknown) == (-1111, False)
        accepted = [r for r in results if r.ok]
        assert all(r.status == "NEW" and r.order_id for r in accepted)
        assert [r.price for r in accepted] == [o.price for o in orders if o.client_order_id != "mm1-2"]
        assert all(r.orig_qty == orders[0].quantity and r.executed_qty == 0 for r in accepted)
        assert client.last_order_count_10s == 5 and client.last_order_count_1m == 1  # a batch counts 5 / 1

        resting = await client.open_orders(SYMBOL)
        assert {o.client_order_id for o in resting} == {"mm1-0", "mm1-1", "mm1-3", "mm1-4"}
        assert all(o.time_in_force == "GTX" and o.order_type == "LIMIT" for o in resting)

        cancelled = await client.cancel_batch(SYMBOL, ["mm1-0", "mm1-1", "nope-9"])
        assert [(c.ok, c.client_order_id) for c in cancelled] == [(True, "mm1-0"), (True, "mm1-1"),
                                                                  (False, "nope-9")]
        assert cancelled[0].status == "CANCELED" and cancelled[2].code == -2011
        assert {o.client_order_id for o in await client.open_orders(SYMBOL)} == {"mm1-3", "mm1-4"}

        await client.cancel_all(SYMBOL)
        assert await client.open_orders(SYMBOL) == []

        single = await client.place(quotes(sim, "one", 1)[0])
        assert single.ok and single.status == "NEW"
        refused = await client.place(off_tick(quotes(sim, "two", 1)[0], sim))
        assert (refused.ok, refused.code) == (False, -1111)
        await client.cancel_all(SYMBOL)

        stats = sim.stats("binance")
        assert stats.orders_placed == 5 and stats.orders_cancelled == 5
        assert stats.endpoints["GET /fapi/v1/time"] == 1  # the clock was measured once, at the start
        assert_within_budget(sim, client.budget)
        # time 1, batch place 5, three openOrders 1 each, batch cancel 1, two allOpenOrders 1 each
        expected = 1 + SIGNED_WEIGHTS[("POST", "/fapi/v1/batchOrders")] + 3 + 1 + 2
        assert client.budget.stats().granted_weight == expected + 2  # the two single orders, budgeted 1 each
        assert stats.weight == expected  # the venue charges no IP weight for POST /fapi/v1/order


async def test_a_wrong_secret_is_an_auth_error_and_is_not_retried() -> None:
    async with running_binance() as sim, http_client() as http:
        client = signed(sim, http, EngineMetrics(), secret="not-the-secret")
        with pytest.raises(BinanceAuthError) as caught:
            await client.place_batch(quotes(sim, "auth", 2))
        assert caught.value.code == -1022
        with pytest.raises(BinanceAuthError) as caught:
            await client.open_orders(SYMBOL)
        stats = sim.stats("binance")
        assert stats.endpoints["POST /fapi/v1/batchOrders"] == 1 and stats.orders_placed == 0
        assert stats.endpoints["GET /fapi/v1/openOrders"] == 1

        stranger = BinanceSigned(sim.binance_url, http, binance_budget(sim.clock, None), "some-other-key", SECRET,
                                 sim.clock, structlog.get_logger(), EngineMetrics())
        with pytest.raises(BinanceAuthError) as caught:
            await stranger.open_orders(SYMBOL)
        assert caught.value.code == -2015


async def test_the_clock_offset_is_measured_and_applied() -> None:
    async with running_binance() as sim, http_client() as http:
        # our wall clock runs 30 s behind the venue's: far outside the 5 s recvWindow
        behind = Clock(epoch_s=sim.clock.epoch_s - 30.0, origin_s=sim.clock.origin_s)
        client = signed(sim, http, EngineMetrics(), clock=behind)
        assert await client.open_orders(SYMBOL) == []
        assert client.clock_offset_ms is not None and abs(client.clock_offset_ms - 30_000) < 500
        assert abs(client.timestamp_ms() - sim.clock.time_ms()) < 500

        behind.epoch_s += 3.0  # our clock jumps 3 s ahead of the measure: the venue answers -1021
        results = await client.place_batch(quotes(sim, "skew", 2))
        assert all(r.ok for r in results)
        assert abs(client.clock_offset_ms - 27_000) < 500
        stats = sim.stats("binance")
        assert stats.endpoints["GET /fapi/v1/time"] == 2  # re-measured after the -1021
        assert stats.endpoints["POST /fapi/v1/batchOrders"] == 2 and stats.orders_placed == 2
        await client.cancel_all(SYMBOL)


async def test_a_5xx_on_a_batch_is_unknown_status_and_open_orders_tell_the_truth() -> None:
    async with running_binance() as sim, http_client() as http:
        client = signed(sim, http, EngineMetrics())
        await client.sync_clock()
        sim.venues.faults("binance").burst("5xx", 1)  # 503 -1001, refused before execution
        orders = quotes(sim, "five", 5)
        with pytest.raises(OrderStatusUnknown) as caught:
            await client.place_batch(orders)
        assert caught.value.client_ids == tuple(o.client_order_id for o in orders)
        assert caught.value.symbol == SYMBOL
        assert sim.stats("binance").endpoints["POST /fapi/v1/batchOrders"] == 1  # never resent
        assert await client.open_orders(SYMBOL) == []  # what really happened: nothing placed

        sim.venues.faults("binance").burst("5xx", 1)
        with pytest.raises(OrderStatusUnknown):
            await client.cancel_all(SYMBOL)
        assert sim.stats("binance").endpoints["DELETE /fapi/v1/allOpenOrders"] == 1


async def test_a_timeout_on_a_batch_is_unknown_status_and_the_orders_are_found() -> None:
    # the venue places the orders, then hangs longer than our client waits
    async with running_binance(order_timeout_hang_s=2.0) as sim, http_client(timeout_s=0.5) as http:
        client = signed(sim, http, EngineMetrics())
        sim.venues.faults("binance").timeout_orders = 1
        orders = quotes(sim, "slow", 5)
        with trio.fail_after(2.0):
            with pytest.raises(OrderStatusUnknown) as caught:
                await client.place_batch(orders)
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        assert sim.stats("binance").endpoints["POST /fapi/v1/batchOrders"] == 1
        found = {o.client_order_id for o in await client.open_orders(SYMBOL)}
        assert found == set(caught.value.client_ids)  # all five were placed after all

        cancelled = await client.cancel_batch(SYMBOL, list(caught.value.client_ids))
        assert all(c.ok for c in cancelled)
        assert await client.open_orders(SYMBOL) == []


async def test_a_503_after_placing_is_unknown_status_too() -> None:
    async with running_binance() as sim, http_client() as http:  # no hang: 503 -1000 at once
        client = signed(sim, http, EngineMetrics())
        sim.venues.faults("binance").timeout_orders = 1
        with pytest.raises(OrderStatusUnknown, match="-1000"):
            await client.place_batch(quotes(sim, "late", 3))
        assert {o.client_order_id for o in await client.open_orders(SYMBOL)} == {"late-0", "late-1", "late-2"}
        await client.cancel_all(SYMBOL)


async def test_rejected_items_and_a_slow_venue() -> None:
    async with running_binance() as sim, http_client(timeout_s=2.0) as http:
        client = signed(sim, http, EngineMetrics())
        faults = sim.venues.faults("binance")
        faults.reject_orders = 2
        results = await client.place_batch(quotes(sim, "rej", 4))
        assert [(r.ok, r.code) for r in results] == [(False, -2019), (False, -2019), (True, None), (True, None)]
        faults.delay_s = 0.3  # slower than usual, within our timeout: nothing unknown
        assert {o.client_order_id for o in await client.open_orders(SYMBOL)} == {"rej-2", "rej-3"}
        faults.delay_s = 0.0
        await client.cancel_all(SYMBOL)


async def test_a_quoting_run_stays_within_the_weight_and_order_budgets() -> None:
    metrics = EngineMetrics()
    async with running_binance() as sim, http_client() as http:
        ten_s = WindowBudget(clock=sim.clock, venue="binance_orders_10s", limit=300, window_s=10.0,
                             safety_fraction=0.9)
        client = signed(sim, http, metrics, order_budget=[ten_s])
        for round_no in range(12):
            batch = quotes(sim, f"r{round_no}", 5)
            results = await client.place_batch(batch)
            assert all(r.ok for r in results)
            cancelled = await client.cancel_batch(SYMBOL, [o.client_order_id for o in batch])
            assert all(c.ok for c in cancelled)
        assert await client.open_orders(SYMBOL) == []
        assert_within_budget(sim, client.budget)
        assert ten_s.stats().granted_weight == 12 * 5
        assert client.last_order_count_10s is not None and client.last_order_count_10s <= 60
        assert math.isclose(metrics.registry.get_sample_value(
            "engine_venue_requests_total", {"venue": "binance"}) or 0.0, 1 + 24 + 1)


async def test_position_follows_the_fills_of_post_only_quotes() -> None:
    async with running_binance() as sim, http_client() as http:
        client = signed(sim, http, EngineMetrics())
        assert await client.position(SYMBOL) == 0  # no trades: flat
        bid, ask = quotes(sim, "pos", 2)  # a bid 2 % under the mark, an ask 2 % over it
        assert all(r.ok and r.status == "NEW" for r in await client.place_batch([bid, ask]))
        assert await client.position(SYMBOL) == 0  # resting, not filled

        moved = sim.venues.action("binance", "jump_price", {"symbol": SYMBOL, "pct": -3.0})  # through the bid
        assert moved["fills"] >= 1
        assert await client.position(SYMBOL) == bid.quantity  # long what the bid bought
        assert {o.client_order_id for o in await client.open_orders(SYMBOL)} == {"pos-1"}

        sim.venues.action("binance", "jump_price", {"symbol": SYMBOL, "pct": 7.0})  # and up through the ask
        assert await client.position(SYMBOL) == bid.quantity - ask.quantity == 0
        assert await client.open_orders(SYMBOL) == []

        [short] = quotes(sim, "short", 2)[1:]  # a new ask over the new mark
        assert (await client.place(short)).ok
        sim.venues.action("binance", "jump_price", {"symbol": SYMBOL, "pct": 3.0})
        assert await client.position(SYMBOL) == -short.quantity
        assert await client.position("BTCUSDT") == 0  # a symbol the account never traded

        stats = sim.stats("binance")
        assert stats.endpoints["GET /fapi/v2/positionRisk"] == 6
        assert_within_budget(sim, client.budget)
