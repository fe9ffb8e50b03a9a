"""MarketMakerActor on the paper venue, fed the simulated Binance's real-time books over a
websocket, with a real Redis: a quoting run that never crosses the book and gets filled when
the market trades through, a stale book pulling the near quotes, and a stop that leaves no
open order behind."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import redis as redis_py
import structlog
import trio

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.book_feed import BookFeedActor
from actors.marketmaker.params import example_pair_json, parse_pair_params
from adapters.binance.public import BinancePublic
from adapters.clients import binance_budget
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.venues.venue_support import Sim, http_client, running_sim


@attrs.define
class MmRig:
    sim: Sim
    ctx: ActorContext
    redis: redis_py.Redis
    nursery: trio.Nursery
    stopping: trio.Event

    async def until(self, condition: Any, timeout_s: float) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(0.02)

    def health(self, name: str) -> Any:
        return next((s for s in self.ctx.health.snapshot() if s.name == name), None)


@asynccontextmanager
async def mm_rig(redis_url: str, actor: MarketMakerActor) -> AsyncIterator[MmRig]:
    async with running_sim("binance") as sim, http_client() as http:
        metrics, log = EngineMetrics(), structlog.get_logger()
        public = BinancePublic(sim.binance_url, http, binance_budget(sim.clock, metrics), sim.clock, log, metrics)
        store = RedisStore(redis_url, clock=sim.clock, log=log, metrics=metrics)
        reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
        stopping = trio.Event()
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            ctx = ActorContext(name="mm", bus=Bus(metrics), store=store, clock=sim.clock, log=log, metrics=metrics,
                               venues={"binance": public}, stopping=stopping)
            feed = BookFeedActor((actor.symbol,), "stream", ws_url=sim.binance_url.replace("http://", "ws://"))
            nursery.start_soon(feed.run, attrs.evolve(ctx, name="book_feed", stopping=trio.Event()))
            nursery.start_soon(actor.run, attrs.evolve(ctx, name=f"mm_{actor.symbol}"))
            try:
                yield MmRig(sim, ctx, reader, nursery, stopping)
            finally:
                nursery.cancel_scope.cancel()
                reader.close()


def pair(**changes: Any) -> Any:
    doc = {**example_pair_json(), "near_interval_s": 0.2, "far_interval_s": 1.0, "stale_book_ms": 1000,
           "max_position": 0.2, **changes}
    return parse_pair_params(doc)


async def test_quotes_never_cross_get_filled_and_a_stop_leaves_no_order(redis_url: str) -> None:
    actor = MarketMakerActor(pair())
    async with mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 3 and actor.live, 15)
        book = actor.book
        orders = await actor.venue.open_orders("BTCUSDT")
        rules = actor.rules
        best_bid, best_ask = book.bids[0][0], book.asks[0][0]
        # the real market trades through our nearest ask: the paper venue fills it
        fills = actor.venue.on_book("BTCUSDT", best_ask * Decimal("1.01"), best_ask * Decimal("1.011"),
                                    book.ts_ms + 1)
        position = actor.venue.position_now("BTCUSDT")
        await rig.until(lambda: actor.rounds >= 6, 10)
        await rig.ctx.store.flush()
        status = json.loads(rig.redis.get(keys.mm_status("BTCUSDT")))
        stored = rig.redis.hgetall(keys.mm_orders("BTCUSDT"))
        rig.stopping.set()
        await rig.until(lambda: actor.remaining_after_stop is not None, 10)
        left = await actor.venue.open_orders("BTCUSDT")
    assert orders and all(actor._ids.owns(o.client_order_id) for o in orders)  # type: ignore[union-attr]
    assert all(json.loads(v)["side"] in ("BUY", "SELL") and Decimal(json.loads(v)["qty"]) > 0 for v in stored.values())
    assert all(o.price > best_bid for o in orders if o.side == "SELL")
    assert all(o.price < best_ask for o in orders if o.side == "BUY")
    assert all((o.price / rules.tick_size) % 1 == 0 and (o.orig_qty / rules.step_size) % 1 == 0 for o in orders)
    assert fills and position < 0  # asks filled: short
    assert abs(position) <= Decimal(str(actor.params.max_position))
    assert status["rounds"] >= 6 and status["placed"] >= len(orders) and stored
    assert Decimal(status["position"]) == position and "realised_pnl" in status and "unrealised_pnl" in status
    assert left == [] and actor.remaining_after_stop == 0


async def test_a_stale_book_pulls_the_near_quotes_until_it_is_fresh(redis_url: str) -> None:
    actor = MarketMakerActor(pair(far={"levels": 0, "range_pct": [1, 5], "size": 0.01}))
    async with mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 2 and actor.live, 15)
        rig.sim.venues.faults("binance").set_silent(True)  # the stream stays open and says nothing
        await rig.until(lambda: actor.pulls >= 1 and not actor.live, 10)
        pulled = await actor.venue.open_orders("BTCUSDT")
        health = rig.health("mm:BTCUSDT")
        rig.sim.venues.faults("binance").set_silent(False)
        await rig.until(lambda: actor.live, 20)
    assert pulled == [] and not health.ok and "stale" in health.detail


async def test_the_position_is_asked_for_only_when_it_may_have_changed(redis_url: str) -> None:
    actor = MarketMakerActor(pair(far={"levels": 0, "range_pct": [1, 5], "size": 0.01}))
    asked: list[int] = []
    async with mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.venue is not None, 5)
        venue_position = actor.venue.position

        async def counted(symbol: str) -> Decimal:
            asked.append(actor.rounds)
            return await venue_position(symbol)

        actor.venue.position = counted
        await rig.until(lambda: actor.rounds >= 10, 15)
        quiet = len(asked)
        book = actor.book
        actor.venue.on_book("BTCUSDT", book.asks[0][0] * Decimal("1.01"), book.asks[0][0] * Decimal("1.011"),
                            book.ts_ms + 1)  # a fill
        await rig.until(lambda: len(asked) > quiet, 5)
    assert quiet <= 2  # 10 quiet rounds: asked at start (and maybe once more), not every round
    assert actor.position is not None and actor.position < 0


async def test_a_stop_cancels_only_the_pairs_own_orders(redis_url: str) -> None:
    from adapters.binance.orders import NewOrder

    actor = MarketMakerActor(pair(far={"levels": 0, "range_pct": [1, 5], "size": 0.01}))
    async with mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 2 and actor.live, 15)
        tick = actor.rules.tick_size
        far_below = (actor.book.bids[0][0] * Decimal("0.9") / tick).to_integral_value() * tick
        [manual] = await actor.venue.place_batch([NewOrder("BTCUSDT", "BUY", Decimal("0.002"), far_below,
                                                           "trader-manual-1")])
        rig.stopping.set()
        await rig.until(lambda: actor.remaining_after_stop is not None, 10)
        left = await actor.venue.open_orders("BTCUSDT")
    assert manual.ok, manual
    assert [o.client_order_id for o in left] == ["trader-manual-1"]  # a trader's order stays
    assert actor.remaining_after_stop == 0
