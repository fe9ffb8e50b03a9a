"""InstrumentsActor against a real private Redis: contract keys, atomicity, isolation, triggers."""

from __future__ import annotations

import json
import threading
import time
from typing import Any

import pytest
import redis as redis_py
import structlog
import trio

from actors.instruments.actor import InstrumentsActor, next_run_s
from actors.instruments.index_price import IndexPrice
from actors.instruments.maturities import live_maturities
from actors.instruments.names import parse_instrument_name
from actors.instruments.service import market_rules
from adapters.sim.svi_feed import sim_svi_params
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.config import InstrumentMarketConfig
from engine.metrics import EngineMetrics
from engine.store import RedisStore

PRICES = {"BTC": 86_000.0, "ETH": 3_200.0, "ARB": 0.42}


def _rules(*markets: str) -> tuple[Any, ...]:
    return tuple(market_rules(m, InstrumentMarketConfig()) for m in markets)


async def _context(nursery: trio.Nursery, redis_url: str) -> ActorContext:
    clock, metrics = Clock(), EngineMetrics()
    store = RedisStore(redis_url, clock=clock, log=structlog.get_logger(), metrics=metrics)
    await nursery.start(store.run)
    return ActorContext(name="instruments", bus=Bus(metrics), store=store, clock=clock,
                        log=structlog.get_logger().bind(actor="instruments"), metrics=metrics)


def _seed_svi(client: redis_py.Redis, markets: tuple[str, ...] = ("BTC", "ETH", "ARB")) -> None:
    params = {k: v for k, v in sim_svi_params(time.time()).items() if any(f"{{{m}}}" in k for m in markets)}
    client.mset(params)


def _actor(markets: tuple[str, ...], ctx: ActorContext, age_s: float = 0.0, chunk: int = 1000) -> InstrumentsActor:
    actor = InstrumentsActor(_rules(*markets), run_at_start=False, sadd_chunk=chunk)
    now_ms = ctx.clock.time_ms()
    for market in markets:
        actor._prices[market] = IndexPrice(market, PRICES[market], now_ms - int(age_s * 1000), "test")
    return actor


@pytest.fixture
def reader(redis_url: str) -> Any:
    client = redis_py.Redis.from_url(redis_url, decode_responses=True)
    yield client
    client.close()


async def test_update_writes_the_contract_keys(redis_url: str, reader: Any) -> None:
    _seed_svi(reader)
    async with trio.open_nursery() as nursery:
        ctx = await _context(nursery, redis_url)
        results = await _actor(("BTC", "ETH", "ARB"), ctx).regenerate(ctx, "test")
        assert [r.ok for r in results] == [True, True, True]
        for market in ("BTC", "ETH", "ARB"):
            names = reader.smembers(keys.instruments(market))
            assert names and len(names) == next(r.live for r in results if r.market == market)
            codes = {parse_instrument_name(n).code for n in names}
            assert codes == {m.code for m in live_maturities(ctx.clock.time_ms(), market_rules(market, InstrumentMarketConfig()).policy)}
            assert abs(int(reader.get(keys.instruments_updated_at(market))) - ctx.clock.time_ms()) < 60_000
        assert "ARB_USDC-" in next(iter(reader.smembers(keys.instruments("ARB"))))
        assert all("d" in n.split("-")[2] for n in reader.smembers(keys.instruments("ARB")))
        nursery.cancel_scope.cancel()


async def test_expired_names_leave_and_live_ones_stay(redis_url: str, reader: Any) -> None:
    _seed_svi(reader, ("BTC",))
    async with trio.open_nursery() as nursery:
        ctx = await _context(nursery, redis_url)
        live_code = live_maturities(ctx.clock.time_ms(), market_rules("BTC", InstrumentMarketConfig()).policy)[-1].code
        off_ladder = f"BTC_USDC-{live_code}-1000000-C"  # listed earlier, far from today's ladder, not expired
        reader.sadd(keys.instruments("BTC"), "BTC_USDC-3JAN20-7000-C", "BTC_USDC-3JAN20-7000-P", off_ladder)
        [result] = await _actor(("BTC",), ctx).regenerate(ctx, "test")
        names = reader.smembers(keys.instruments("BTC"))
        assert "BTC_USDC-3JAN20-7000-C" not in names and off_ladder in names
        assert result.removed == 2
        nursery.cancel_scope.cancel()


async def test_reader_never_sees_a_half_updated_set(redis_url: str, reader: Any) -> None:
    _seed_svi(reader)
    seen: list[tuple[int, str | None]] = []
    stop = threading.Event()

    def hammer() -> None:
        client = redis_py.Redis.from_url(redis_url, decode_responses=True)
        while not stop.is_set():
            pipe = client.pipeline(transaction=True)
            pipe.scard(keys.instruments("BTC"))
            pipe.get(keys.instruments_updated_at("BTC"))
            size, stamp = pipe.execute()
            seen.append((size, stamp))
        client.close()

    thread = threading.Thread(target=hammer)
    thread.start()
    try:
        async with trio.open_nursery() as nursery:
            ctx = await _context(nursery, redis_url)
            actor = _actor(("BTC",), ctx, chunk=7)  # many SADD commands inside the one MULTI
            [first] = await actor.regenerate(ctx, "test")
            await trio.sleep(0.05)
            nursery.cancel_scope.cancel()
    finally:
        stop.set()
        thread.join()
    states = set(seen)
    assert states <= {(0, None), (first.live, reader.get(keys.instruments_updated_at("BTC")))}
    assert len(seen) > 10


async def test_missing_svi_fails_that_maturity_and_a_stale_price_fails_the_market(redis_url: str, reader: Any) -> None:
    _seed_svi(reader, ("BTC",))
    async with trio.open_nursery() as nursery:
        ctx = await _context(nursery, redis_url)
        policy = market_rules("BTC", InstrumentMarketConfig()).policy
        first = live_maturities(ctx.clock.time_ms(), policy)[0].code
        reader.set(keys.svi("BTC", first), json.dumps({"a": 0.1, "b": -1, "rho": 0, "m": 0, "sigma": 0.1}))
        actor = _actor(("BTC", "ETH"), ctx)
        actor._prices["ETH"] = IndexPrice("ETH", 3200.0, ctx.clock.time_ms() - 600_000, "test")
        btc, eth = await actor.regenerate(ctx, "test")
        assert btc.ok and list(btc.failed_maturities) == [first] and "b" in btc.failed_maturities[first]
        assert not any(parse_instrument_name(n).code == first for n in reader.smembers(keys.instruments("BTC")))
        assert not eth.ok and "ETH is 600 s old" in eth.error
        assert reader.scard(keys.instruments("ETH")) == 0
        health = {c.name: c for c in ctx.health.snapshot()}
        assert health["instruments:BTC"].ok and not health["instruments:ETH"].ok
        nursery.cancel_scope.cancel()


async def test_concurrent_triggers_run_one_after_the_other(redis_url: str, reader: Any) -> None:
    _seed_svi(reader, ("BTC", "ARB"))
    with structlog.testing.capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            ctx = await _context(nursery, redis_url)
            actor = _actor(("BTC", "ARB"), ctx)
            async with trio.open_nursery() as triggers:
                for trigger in ("request", "schedule"):
                    triggers.start_soon(actor.regenerate, ctx, trigger)
            nursery.cancel_scope.cancel()
    order = [(e["event"], e.get("market")) for e in logs if e["event"] in ("instruments_updated", "instruments_regenerated")]
    one_run = [("instruments_updated", "BTC"), ("instruments_updated", "ARB"), ("instruments_regenerated", None)]
    assert order == one_run * 2


@pytest.mark.parametrize(("now", "expected"), [
    ("2026-03-01T07:59:59", "2026-03-01T08:00:00"),
    ("2026-03-01T08:00:00", "2026-03-02T08:00:00"),
    ("2026-12-31T23:00:00", "2027-01-01T08:00:00"),
    ("2028-02-28T09:00:00", "2028-02-29T08:00:00"),
])
def test_next_run_is_the_next_0800_utc(now: str, expected: str) -> None:
    import datetime as dt

    def ts(text: str) -> float:
        return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()

    assert next_run_s(ts(now), "08:00") == ts(expected)


async def test_view_answers_the_last_listing_and_the_last_attempt(redis_url: str, reader: Any) -> None:
    """VIEW_TOPIC: what the operator page shows and draws, from the actor's memory."""
    from actors.instruments.actor import REGENERATE_TOPIC, VIEW_TOPIC
    from actors.instruments.names import names_for
    from actors.instruments.page import ladder_picture, listed_ladder
    from engine.requests import ask

    _seed_svi(reader, ("BTC",))
    async with trio.open_nursery() as nursery:
        ctx = await _context(nursery, redis_url)
        actor = _actor(("BTC", "ARB"), ctx)
        nursery.start_soon(actor.run, ctx)
        while ctx.bus.subscription_count(VIEW_TOPIC) == 0:
            await trio.sleep(0.01)
        before = await ask(ctx.bus, VIEW_TOPIC, None, 2.0)
        assert [(s.market, s.result, s.listing) for s in before] == [("BTC", None, None), ("ARB", None, None)]

        await ask(ctx.bus, REGENERATE_TOPIC, "regenerate", 30.0)
        btc, arb = await ask(ctx.bus, VIEW_TOPIC, None, 2.0)
        assert btc.result.ok and btc.listing is not None and btc.attempt_ms is not None
        assert btc.listing.updated_ms == int(reader.get(keys.instruments_updated_at("BTC")))
        assert btc.listing.forward == PRICES["BTC"]
        assert btc.listing.plan.names <= reader.smembers(keys.instruments("BTC"))
        for outcome in btc.listing.plan.maturities:  # drawn again from the listing's inputs: the same strikes
            ladder = listed_ladder(btc.listing, outcome.code)
            assert ladder is not None and tuple(names_for("BTC", outcome.code, ladder.strikes)) == outcome.names
        picture = ladder_picture(btc.listing, btc.listing.plan.maturities[0].code)
        assert picture is not None and picture.startswith(b"\x89PNG\r\n\x1a\n")
        # no ARB smiles were seeded: the update ran (updated_at written) and listed no maturity, each saying why
        assert not arb.result.ok and arb.listing is not None
        assert all("missing" in (m.error or "") for m in arb.listing.plan.maturities)

        reader.delete(*reader.keys("svi:{BTC}:*"))  # the next run lists nothing: the view says so, as Redis does
        await ask(ctx.bus, REGENERATE_TOPIC, "regenerate", 30.0)
        btc_after, _ = await ask(ctx.bus, VIEW_TOPIC, None, 2.0)
        assert not btc_after.result.ok and btc_after.attempt_ms >= btc.attempt_ms
        assert btc_after.listing.updated_ms == int(reader.get(keys.instruments_updated_at("BTC")))
        assert not any(m.ok for m in btc_after.listing.plan.maturities)
        assert listed_ladder(btc_after.listing, btc.listing.plan.maturities[0].code) is None
        nursery.cancel_scope.cancel()
