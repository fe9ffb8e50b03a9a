"""IndexPriceActor with real venue clients against the simulators, a real bus and a real
Redis store: prices land in Redis and on the bus, follow the market, and one failing
source never stops the others."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import redis
import structlog
import trio

from actors.instruments.index_price import IndexPrice, IndexPriceActor, IndexSource
from adapters.clients import open_venue_clients
from engine.actor import ActorContext
from engine.bus import Bus, Overflow, Subscription
from engine.config import BinanceVenue, DeribitVenue, VenuesSection
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.venues.venue_support import Sim, binance_public, deribit_rest, http_client, running_sim

SOURCES = [IndexSource("BTC", "deribit", "btc_usdc"), IndexSource("ETH", "deribit", "eth_usdc"),
           IndexSource("ARB", "binance", "ARBUSDT")]


@attrs.define
class RecordingLog:
    """The actor's logger: keeps every event for the test to read."""

    events: list[tuple[str, dict[str, Any]]] = attrs.field(factory=list)

    def bind(self, **_: Any) -> RecordingLog:
        return self

    def _record(self, event: str, **fields: Any) -> None:
        self.events.append((event, fields))

    debug = info = warning = error = exception = _record


@asynccontextmanager
async def running_actor(sim: Sim, redis_url: str, venues: dict[str, Any], sources: list[IndexSource],
                        metrics: EngineMetrics) -> AsyncIterator[tuple[IndexPriceActor, Subscription, RecordingLog]]:
    bus = Bus(metrics)
    store = RedisStore(redis_url, clock=sim.clock, log=structlog.get_logger(), metrics=metrics)
    log = RecordingLog()
    ctx = ActorContext(name="index_prices", bus=bus, store=store, clock=sim.clock, log=log, metrics=metrics,
                       venues=venues)
    actor = IndexPriceActor(sources, interval_s=0.2)
    with bus.subscribe("index_price.*", maxlen=1000, overflow=Overflow.DROP_OLDEST) as prices:
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            nursery.start_soon(actor.run, ctx)
            try:
                yield actor, prices, log
            finally:
                await store.aclose(timeout_s=2.0)
                nursery.cancel_scope.cancel()


async def next_price(prices: Subscription, market: str, above: float = 0.0) -> IndexPrice:
    with trio.fail_after(5):
        async for price in prices:
            if price.market == market and price.price > above:
                return price
    raise AssertionError("the bus closed")


async def redis_json(raw: redis.Redis, key: str, above: float = 0.0) -> dict[str, Any]:
    with trio.fail_after(5):
        while True:
            value = raw.get(key)
            if value is not None and json.loads(value)["price"] > above:
                return json.loads(value)
            await trio.sleep(0.02)


async def test_prices_reach_redis_and_the_bus_and_follow_the_market(redis_url: str) -> None:
    metrics = EngineMetrics()
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    async with running_sim() as sim:
        section = VenuesSection(deribit=DeribitVenue(rest_url=sim.deribit_url),
                                binance=BinanceVenue(rest_url=sim.binance_url))
        async with open_venue_clients(section, sim.clock, structlog.get_logger(), metrics) as venues, \
                running_actor(sim, redis_url, venues, SOURCES, metrics) as (_, prices, log):
            btc = await next_price(prices, "BTC")
            eth = await next_price(prices, "ETH")
            arb = await next_price(prices, "ARB")
            assert (btc.source, eth.source, arb.source) == ("deribit:btc_usdc", "deribit:eth_usdc", "binance:ARBUSDT")
            assert 0.5 < arb.price < 2.0 and eth.price > 0
            stored = await redis_json(raw, "index_price:{BTC}")
            assert set(stored) == {"price", "ts"} and stored["price"] > 0
            assert abs(stored["ts"] - sim.clock.time_ms()) < 5_000
            assert (await redis_json(raw, "index_price:{ARB}"))["price"] > 0

            sim.venues.action("deribit", "jump_price", {"currency": "BTC", "pct": 5})
            jumped = await next_price(prices, "BTC", above=btc.price * 1.03)
            assert jumped.ts_ms >= btc.ts_ms
            assert (await redis_json(raw, "index_price:{BTC}", above=btc.price * 1.03))["ts"] >= btc.ts_ms
            assert not [event for event, _ in log.events if event == "index_price_failed"]
    assert metrics.registry.get_sample_value("engine_venue_requests_total", {"venue": "deribit"}) >= 3


async def test_one_failing_source_never_stops_the_others(redis_url: str) -> None:
    metrics = EngineMetrics()
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    sources = [*SOURCES, IndexSource("XRP", "deribit", "arb_usdc")]  # Deribit has no such index
    async with running_sim() as sim, http_client(timeout_s=1.0) as deribit_http, \
            http_client(timeout_s=1.0) as binance_http:
        sim.venues.faults("binance").burst("5xx", 1_000_000)  # Binance is down for good
        venues = {"deribit": deribit_rest(sim, deribit_http, metrics),
                  "binance": binance_public(sim, binance_http, metrics)}
        async with running_actor(sim, redis_url, venues, sources, metrics) as (actor, prices, log):
            seen_btc = 0
            with trio.move_on_after(2.0):
                async for price in prices:
                    assert price.market in ("BTC", "ETH")
                    seen_btc += price.market == "BTC"
            assert seen_btc >= 5  # every 0.2 s, whatever the others do
            assert actor.stats["ARB"].failures >= 1 and actor.stats["ARB"].published == 0
            assert actor.stats["XRP"].failures >= 5
            failed = {(fields["market"], fields["venue"]) for event, fields in log.events
                      if event == "index_price_failed"}
            assert failed == {("ARB", "binance"), ("XRP", "deribit")}
            assert all("error" in fields for event, fields in log.events if event == "index_price_failed")
            assert raw.get("index_price:{ARB}") is None and raw.get("index_price:{XRP}") is None
            assert (await redis_json(raw, "index_price:{ETH}"))["price"] > 0
