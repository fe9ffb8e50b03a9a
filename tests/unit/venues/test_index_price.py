"""Index prices: freshness and values (pure), and the actor's isolation of sources
(fake venue clients, real bus, MockClock)."""

from __future__ import annotations

import json
from typing import Any

import attrs
import pytest
import structlog
import trio
from hypothesis import given
from hypothesis import strategies as st

from actors.instruments.index_price import (
    IndexPrice, IndexPriceActor, IndexPriceStale, IndexSource, checked_price, is_fresh, is_malformed, next_tick_s,
    redis_value, require_fresh,
)
from adapters.binance.public import PremiumIndex
from adapters.deribit.rest import IndexQuote
from adapters.http import VenueProtocolError, VenueUnavailable
from engine.actor import ActorContext
from engine.bus import Bus, Overflow
from engine.clock import Clock
from engine.metrics import EngineMetrics

BTC = IndexSource("BTC", "deribit", "btc_usdc")
ARB = IndexSource("ARB", "binance", "ARBUSDT")


def test_freshness_compares_the_age_with_the_limit() -> None:
    price = IndexPrice("BTC", 86000.0, ts_ms=1_000_000, source="deribit:btc_usdc")
    assert is_fresh(price, now_ms=1_060_000, max_age_s=60)
    assert not is_fresh(price, now_ms=1_060_001, max_age_s=60)
    assert is_fresh(price, now_ms=999_000, max_age_s=60)  # venue clock slightly ahead
    assert require_fresh(price, 1_000_500, 60) is price


def test_a_stale_price_says_which_market_how_old_and_the_limit() -> None:
    price = IndexPrice("ETH", 3200.0, ts_ms=0, source="deribit:eth_usdc")
    with pytest.raises(IndexPriceStale) as caught:
        require_fresh(price, now_ms=90_500, max_age_s=60)
    assert str(caught.value) == "index price of ETH is 90.5 s old, older than the limit of 60 s"
    assert (caught.value.market, caught.value.age_s, caught.value.max_age_s) == ("ETH", 90.5, 60)


def test_redis_value_is_the_contract_json() -> None:
    price = IndexPrice("BTC", 86012.5, ts_ms=1717000000123, source="deribit:btc_usdc")
    assert json.loads(redis_value(price)) == {"price": 86012.5, "ts": 1717000000123}


def test_checked_price_refuses_what_must_never_be_published() -> None:
    assert checked_price(ARB, 1.25, 5) == IndexPrice("ARB", 1.25, 5, "binance:ARBUSDT")
    for price, ts_ms in ((0.0, 5), (-1.0, 5), (float("nan"), 5), (float("inf"), 5), ("1.2", 5), (1.0, 0),
                         (1.0, None), (True, 5)):
        with pytest.raises(VenueProtocolError):
            checked_price(ARB, price, ts_ms)


def test_sources_name_a_known_venue() -> None:
    with pytest.raises(ValueError):
        IndexSource("ARB", "kraken", "ARBUSD")  # type: ignore[arg-type]
    assert BTC.label == "deribit:btc_usdc"


def test_malformed_means_unreadable_now_or_on_every_retry() -> None:
    protocol = VenueProtocolError("deribit", "x", "malformed JSON", retryable=True)
    gave_up = VenueUnavailable("deribit", "x", 5, "malformed")
    gave_up.__cause__ = protocol
    assert is_malformed(protocol) and is_malformed(gave_up)
    assert not is_malformed(VenueUnavailable("deribit", "x", 5, "timeout"))


@given(started=st.floats(0, 1e6), elapsed=st.floats(0, 1e4), interval=st.floats(0.01, 100))
def test_the_next_tick_is_on_the_grid_and_in_the_future(started: float, elapsed: float, interval: float) -> None:
    now = started + elapsed
    tick = next_tick_s(started, now, interval)
    assert tick > now - 1e-6
    assert tick - now <= interval + 1e-6


# --------------------------------------------------------------------------- actor


@attrs.define
class FakeStore:
    values: dict[str, Any] = attrs.field(factory=dict)

    def set(self, key: str, value: Any) -> None:
        self.values[key] = value


@attrs.define
class FakeDeribit:
    prices: dict[str, float]
    clock: Clock
    fail: bool = False

    async def get_index_price(self, index_name: str) -> IndexQuote:
        if self.fail:
            raise VenueUnavailable("deribit", "public/get_index_price", 5, "ReadTimeout")
        return IndexQuote(index_name, self.prices[index_name], self.clock.time_ms())


@attrs.define
class HangingBinance:
    """A venue that never answers: its source must not hold up the others."""

    async def premium_index(self, symbol: str) -> PremiumIndex:
        await trio.sleep_forever()
        raise AssertionError


@attrs.define
class GarbageBinance:
    clock: Clock

    async def premium_index(self, symbol: str) -> PremiumIndex:
        return PremiumIndex(symbol, 1.0, float("nan"), self.clock.time_ms())


def context(venues: dict[str, Any]) -> tuple[ActorContext, FakeStore, Bus]:
    metrics = EngineMetrics()
    bus, store = Bus(metrics), FakeStore()
    ctx = ActorContext(name="index_prices", bus=bus, store=store, clock=venues.pop("clock"),
                       log=structlog.get_logger(), metrics=metrics, venues=venues)
    return ctx, store, bus


async def test_each_source_polls_on_its_own(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock()
    deribit = FakeDeribit({"btc_usdc": 86000.0, "eth_usdc": 3200.0}, clock)
    ctx, store, bus = context({"clock": clock, "deribit": deribit, "binance": HangingBinance()})
    eth = IndexSource("ETH", "deribit", "eth_usdc")
    actor = IndexPriceActor([BTC, eth, ARB], interval_s=5.0)
    received: list[IndexPrice] = []
    with bus.subscribe("index_price.*", maxlen=100, overflow=Overflow.DROP_OLDEST) as sub:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(actor.run, ctx)
            await trio.sleep(12.5)  # polls at 0, 5 and 10 s
            deribit.fail = True
            await trio.sleep(10)  # polls at 15 and 20 s fail
            deribit.fail = False
            await trio.sleep(5)  # the poll at 25 s succeeds again
            nursery.cancel_scope.cancel()
        while True:
            try:
                received.append(sub.receive_nowait())
            except trio.WouldBlock:
                break
    btc = [p for p in received if p.market == "BTC"]
    assert len(btc) == 4 and {p.source for p in btc} == {"deribit:btc_usdc"}
    assert actor.stats["BTC"].failures == 2 and actor.stats["ETH"].published == 4
    assert actor.stats["ARB"].polls == 1 and actor.stats["ARB"].published == 0  # still hanging, alone
    assert json.loads(store.values["index_price:{BTC}"])["price"] == 86000.0
    assert "index_price:{ARB}" not in store.values


async def test_a_malformed_answer_is_counted_and_skipped(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock()
    ctx, store, _ = context({"clock": clock, "binance": GarbageBinance(clock)})
    actor = IndexPriceActor([ARB], interval_s=1.0)
    with trio.move_on_after(2.5):
        await actor.run(ctx)
    assert actor.stats["ARB"].malformed == 3 and actor.stats["ARB"].published == 0
    assert store.values == {}


async def test_an_unconfigured_venue_is_reported_and_the_actor_stays_up(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock()
    ctx, store, _ = context({"clock": clock})
    actor = IndexPriceActor([BTC], interval_s=1.0)
    with trio.move_on_after(3) as scope:
        await actor.run(ctx)
    assert scope.cancelled_caught and store.values == {}
    statuses = {s.name: s for s in ctx.health.snapshot()} if hasattr(ctx, "health") else {}
    if statuses:
        assert not statuses["index_price:BTC"].ok
