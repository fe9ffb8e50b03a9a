"""The OI actors against the simulated Binance over real HTTP and a real Redis: the liquid
universe with hysteresis and restart, a poller inside the weight budget with evenly spread
requests, and an injected OI spike raising exactly one UP alert (stream and pub/sub)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import redis as redis_py
import structlog
import trio

from actors.oi.alert_actor import AlertActor
from actors.oi.alerts import AlertRules
from actors.oi.liquidity import LiquidityActor
from actors.oi.poller import OIPollerActor
from actors.oi.topics import UNIVERSE_TOPIC, UniverseChanged
from adapters.clients import binance_budget
from adapters.binance.public import BinancePublic
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.venues.test_binance_public import spend_weight
from tests.integration.venues.venue_support import Sim, http_client, jump_to_second, running_sim


@attrs.define
class OiRig:
    sim: Sim
    ctx: ActorContext
    public: BinancePublic
    redis: redis_py.Redis
    nursery: trio.Nursery

    def start(self, actor: Any, name: str) -> Any:
        self.nursery.start_soon(actor.run, attrs.evolve(self.ctx, name=name))
        return actor

    def action(self, action: str, **params: Any) -> Any:
        return self.sim.venues.action("binance", action, params)

    async def until(self, condition: Any, timeout_s: float) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(0.05)

    def health(self, name: str) -> Any:
        return next((s for s in self.ctx.health.snapshot() if s.name == name), None)


@asynccontextmanager
async def oi_rig(redis_url: str) -> AsyncIterator[OiRig]:
    async with running_sim("binance") as sim, http_client() as http:
        metrics, log = EngineMetrics(), structlog.get_logger()
        public = BinancePublic(sim.binance_url, http, binance_budget(sim.clock, metrics), sim.clock, log, metrics)
        store = RedisStore(redis_url, clock=sim.clock, log=log, metrics=metrics)
        reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            ctx = ActorContext(name="oi", bus=Bus(metrics), store=store, clock=sim.clock, log=log, metrics=metrics,
                               venues={"binance": public})
            try:
                yield OiRig(sim, ctx, public, reader, nursery)
            finally:
                nursery.cancel_scope.cancel()
                reader.close()


async def test_universe_hysteresis_persistence_and_restart(redis_url: str) -> None:
    async with oi_rig(redis_url) as rig:
        actor = LiquidityActor(interval_s=3600)
        log = structlog.get_logger()
        assert await actor.run_round(rig.ctx, rig.public, log)
        await rig.ctx.store.flush()
        members = rig.redis.smembers(keys.OI_LIQUID_UNIVERSE)
        meta = rig.redis.hgetall(keys.oi_liquid_meta("BTCUSDT"))
        rig.action("set_quote_volume", symbol="BTCUSDT", quote_volume=3_000_000)  # between exit and enter: stays
        rig.action("set_status", symbol="ETHUSDT", status="SETTLING")  # stops trading: leaves
        rig.action("set_quote_volume", symbol="SOLUSDT", quote_volume=1_000_000)  # below exit: leaves
        assert await actor.run_round(rig.ctx, rig.public, log)
        await rig.ctx.store.flush()
        after = rig.redis.smembers(keys.OI_LIQUID_UNIVERSE)
        gone_meta = rig.redis.exists(keys.oi_liquid_meta("SOLUSDT"))
        restarted = LiquidityActor(interval_s=3600)
        rig.start(restarted, "oi_universe")
        await rig.until(lambda: restarted.meta, 10)
        stats = attrs.evolve(rig.sim.stats("binance"))
    assert "BTCUSDT" in members and len(members) > 50
    assert float(meta["quote_volume_24h"]) >= 4_000_000 and int(meta["entered_at"]) > 0
    assert "BTCUSDT" in after and "ETHUSDT" not in after and "SOLUSDT" not in after and gone_meta == 0
    assert restarted.meta["BTCUSDT"].entered_at_ms == int(meta["entered_at"])  # hysteresis state survived
    assert stats.throttled == 0 and stats.banned == 0


async def test_poller_spreads_requests_inside_the_budget_and_writes_samples(redis_url: str) -> None:
    symbols = frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT"})
    sent_s: list[float] = []
    async with oi_rig(redis_url) as rig:
        async def log_send(request: Any) -> None:
            if request.url.path == "/fapi/v1/openInterest":
                sent_s.append(trio.current_time())
        rig.public.http.event_hooks["request"].append(log_send)
        poller = rig.start(OIPollerActor(max_requests_per_min=240, min_interval_s=2.0, max_interval_s=20.0,
                                         backfill=False), "oi_poller")
        await trio.sleep(0.05)
        rig.ctx.bus.publish_nowait(UNIVERSE_TOPIC, UniverseChanged(symbols, tuple(sorted(symbols)), (), 0))
        await rig.until(lambda: poller.rounds >= 2 and poller.samples >= 16, 15)
        await rig.ctx.store.flush()
        stream = rig.redis.xrevrange(keys.oi_samples("BTCUSDT"), count=5)
        stats = attrs.evolve(rig.sim.stats("binance"))
    # 8 symbols at 240/min -> every 2 s, one request each 0.25 s (never a burst)
    assert poller.interval_s == 2.0 and poller.failures == 0
    first_round = sorted(sent_s[:8])
    gaps = [b - a for a, b in zip(first_round, first_round[1:])]
    assert min(gaps) > 0.15 and max(gaps) < 0.5
    assert len(stream) >= 2 and float(stream[0][1]["open_interest"]) > 0 and stream[0][1]["source"] == "realtime"
    assert float(stream[0][1]["mark_price"]) > 0 and float(stream[0][1]["oi_usd"]) > 0
    assert stats.throttled == 0 and stats.banned == 0


async def test_an_oi_spike_raises_exactly_one_up_alert(redis_url: str) -> None:
    async with oi_rig(redis_url) as rig:
        pubsub = rig.redis.pubsub()
        pubsub.subscribe(keys.OI_ALERTS)
        alerts = rig.start(AlertActor(AlertRules(pct_threshold=5.0, cooldown_s=600), ring_interval_s=1.0),
                           "oi_alerts")
        poller = rig.start(OIPollerActor(max_requests_per_min=120, min_interval_s=1.0, max_interval_s=20.0),
                           "oi_poller")
        await trio.sleep(0.05)
        universe = frozenset({"BTCUSDT", "ETHUSDT"})
        rig.ctx.bus.publish_nowait(UNIVERSE_TOPIC, UniverseChanged(universe, tuple(sorted(universe)), (), 0))
        await rig.until(lambda: poller.backfilled == 2 and poller.samples >= 4, 15)
        quiet = alerts.alerts
        rig.action("spike_oi", symbol="BTCUSDT", pct=20.0)
        spiked_s = trio.current_time()
        await rig.until(lambda: alerts.alerts > quiet, 5)
        raised_within_s = trio.current_time() - spiked_s
        await trio.sleep(2.5)  # two more rounds at the spiked level: the cooldown holds
        await rig.ctx.store.flush()
        stream = rig.redis.xrevrange(keys.OI_ALERTS, count=10)
        message = None
        for _ in range(50):
            message = pubsub.get_message(timeout=0.1)
            if message and message["type"] == "message":
                break
        pubsub.close()
    assert quiet == 0 and alerts.alerts == 1 and raised_within_s <= 1.0 + 1.5  # one poll interval + a flush
    (entry,) = [fields for _id, fields in stream]
    payload = json.loads(entry["payload"])
    assert payload["type"] == "open_interest_alert" and payload["symbol"] == "BTCUSDT" and payload["direction"] == "UP"
    assert payload["pct_change"] >= 15 and message is not None and json.loads(message["data"]) == payload


EIGHT = frozenset({"BTCUSDT", "ETHUSDT", "SOLUSDT", "XRPUSDT", "BNBUSDT", "DOGEUSDT", "ADAUSDT", "LINKUSDT"})


async def _poll_eight(rig: OiRig) -> tuple[OIPollerActor, list[float]]:
    """A poller on 8 symbols every second, and the wall times of its openInterest sends."""
    sent_s: list[float] = []

    async def log_send(request: Any) -> None:
        if request.url.path == "/fapi/v1/openInterest":
            sent_s.append(rig.sim.clock.time_s())

    rig.public.http.event_hooks["request"].append(log_send)
    poller = rig.start(OIPollerActor(max_requests_per_min=480, min_interval_s=1.0, max_interval_s=20.0,
                                     backfill=False), "oi_poller")
    await trio.sleep(0.05)
    rig.ctx.bus.publish_nowait(UNIVERSE_TOPIC, UniverseChanged(EIGHT, tuple(sorted(EIGHT)), (), 0))
    return poller, sent_s


async def test_weight_spent_by_another_client_on_the_ip_holds_the_poller_until_the_minute_turns(
        redis_url: str) -> None:
    async with oi_rig(redis_url) as rig:
        jump_to_second(rig.sim.clock, 1.0)
        await spend_weight(rig.sim.binance_url, 2160)  # another process took our whole share of this minute
        minute_end_s = jump_to_second(rig.sim.clock, 56.0)
        poller, sent_s = await _poll_eight(rig)
        await trio.sleep(2.0)
        held = [t for t in sent_s if t < minute_end_s]
        jump_to_second(rig.sim.clock, 0.5)  # the minute turns
        await rig.until(lambda: len(sent_s) >= len(held) + 8, 10)
        stats = attrs.evolve(rig.sim.stats("binance"))
    assert held == [] and poller.failures == 0  # only the round's mark-price probe went out
    assert stats.throttled == 0 and stats.banned == 0


async def test_an_injected_429_stops_every_request_for_its_retry_after(redis_url: str) -> None:
    async with oi_rig(redis_url) as rig:
        minute_end_s = jump_to_second(rig.sim.clock, 54.0)
        poller, sent_s = await _poll_eight(rig)
        await rig.until(lambda: poller.requests >= 8, 10)
        rig.sim.venues.faults("binance").burst("429", 1)  # Retry-After: until this minute ends
        await rig.until(lambda: len(sent_s) >= 30, 20)
        stats = attrs.evolve(rig.sim.stats("binance"))
    gaps = [b - a for a, b in zip(sent_s, sent_s[1:])]
    pause_start_s = sent_s[gaps.index(max(gaps))]
    assert max(gaps) >= 2.5 and sorted(gaps)[-2] < 1.0  # one pause, otherwise steady
    assert not any(pause_start_s < t < minute_end_s for t in sent_s)  # nothing inside Retry-After
    assert stats.banned == 0 and stats.throttled == 0 and poller.failures == 0  # the 429'd request was retried


async def test_the_whole_service_stays_inside_the_venue_limits(redis_url: str) -> None:
    """The real universe (about 200 symbols) polled at the default 2000 requests/min: the
    venue's own accounting shows no 429 and no ban, and the rate is the plan's."""
    async with oi_rig(redis_url) as rig:
        universe = rig.start(LiquidityActor(interval_s=3600), "oi_universe")
        poller = rig.start(OIPollerActor(max_requests_per_min=2000, backfill=False), "oi_poller")
        await rig.until(lambda: poller.rounds >= 1, 30)
        requests_0, started_s = poller.requests, trio.current_time()
        await trio.sleep(12.0)
        rate_per_min = (poller.requests - requests_0) * 60 / (trio.current_time() - started_s)
        stats = attrs.evolve(rig.sim.stats("binance"))
    planned = len(universe.meta) * 60 / poller.interval_s
    assert len(universe.meta) > 150 and poller.failures == 0
    assert 0.9 * planned <= rate_per_min <= 1.05 * planned <= 2160
    assert stats.throttled == 0 and stats.banned == 0
