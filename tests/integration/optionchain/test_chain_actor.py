"""ChainActor against the simulated Dhan and a real Redis: the whole flow inside the venue's
limits, ticks vs strikes, manual regeneration, REST refreshes, holidays, restarts, rollover."""

from __future__ import annotations

import json
from datetime import date, time

import attrs
import trio

from actors.optionchain.topics import GET_TOPIC
from engine import keys
from engine.bus import Overflow
from engine.requests import ask
from tests.integration.dhan.dhan_support import DAY
from tests.integration.optionchain.chain_support import NIFTY, chain_rig, ist_s

ONE_EXPIRY = attrs.evolve(NIFTY, expiries=1)


def strikes(doc: dict) -> list[float]:
    return [row["strike"] for row in doc["rows"]]


def below_atm(doc: dict) -> int:
    return sum(1 for s in strikes(doc) if s < doc["atm_strike"])


async def test_whole_flow_builds_streams_and_stays_inside_the_limits(redis_url: str) -> None:
    async with chain_rig(redis_url, prepare=lambda bed: bed.faults().burst("805", 2)) as rig:
        expiries = rig.bed.expiries()[:2]
        await rig.until(lambda: len(rig.actor.book) == 2 and rig.actor.replans >= 2
                        and all(s.subscribed for s in rig.actor.shards), 40)
        await rig.until(lambda: rig.actor.book.ticks_merged > 500, 10)
        await rig.until(lambda: all(rig.doc("NIFTY", e) for e in expiries), 5)
        docs = [rig.doc("NIFTY", e) for e in expiries]
        atm = json.loads(rig.redis.get(keys.optionchain_atm("NIFTY")))
        registry = json.loads(rig.redis.get(keys.optionchain_expiries("NIFTY")))
        first_updated = docs[0]["updated_ms"]
        first_ltps = [row["ce"]["ltp"] for row in docs[0]["rows"]]
        await rig.until(lambda: rig.doc("NIFTY", expiries[0])["updated_ms"] > first_updated + 500, 5)
        later = rig.doc("NIFTY", expiries[0])
        stats = attrs.evolve(rig.bed.stats())  # a copy: the live counters fall back when the rig closes
        feed_health, chain_health = rig.health("dhan_feed:0"), rig.health("optionchain:NIFTY")
        metrics = rig.ctx.metrics.render().decode()
    assert registry == rig.bed.expiries()  # the venue's list, every expiry of it
    for doc, expiry in zip(docs, expiries):
        assert doc["expiry"] == expiry and doc["stale"] is False and doc["lot_size"] == 75
        assert doc["strike_interval"] == 50 and len(doc["rows"]) == 100 and below_atm(doc) == 50
        assert doc["atm_strike"] in strikes(doc) and strikes(doc) == sorted(strikes(doc))
        assert all(row["ce"]["security_id"] and row["pe"]["security_id"] for row in doc["rows"])
    assert atm.keys() == {"atm", "ltp", "interval", "ts"} and atm["interval"] == 50
    assert atm["atm"] == round(atm["ltp"] / 50) * 50 and atm["ltp"] > 0
    assert strikes(later) == strikes(docs[0])  # ticks never move strikes
    assert [row["ce"]["ltp"] for row in later["rows"]] != first_ltps
    # the venue's own accounting: no 3 s breach, no message over 100, one connection of 401 tokens
    assert stats.throttled == 0 and stats.rejected == 0
    assert stats.max_connections == 1 and stats.subscriptions == 401
    assert stats.endpoints["optionchain/expirylist"] == 3 and stats.endpoints["optionchain"] == 2  # 2 were 805s
    assert feed_health.ok and chain_health.ok and "2/2 chains built" in chain_health.detail
    merged = next(line for line in metrics.splitlines() if line.startswith('engine_ticks_merged_total{service="optionchain"}'))
    assert float(merged.split()[-1]) > 500 and 'engine_cache_writes_total{service="optionchain"}' in metrics


async def test_ticks_move_the_atm_but_only_a_manual_refresh_moves_the_strikes(redis_url: str) -> None:
    async with chain_rig(redis_url, (ONE_EXPIRY,)) as rig:
        expiry = rig.bed.expiries()[0]
        await rig.until(lambda: len(rig.actor.book) == 1 and rig.actor.replans >= 2, 30)
        await rig.until(lambda: rig.doc("NIFTY", expiry) is not None, 5)
        built = rig.doc("NIFTY", expiry)
        rig.bed.venues.action("dhan", "jump_price", {"underlying": "NIFTY", "pct": 2.0})
        await rig.until(lambda: rig.doc("NIFTY", expiry)["atm_strike"] >= built["atm_strike"] + 400, 5)
        jumped = rig.doc("NIFTY", expiry)
        builds = rig.actor.builds
        answer = await ask(rig.ctx.bus, "optionchain.refresh", "NIFTY", 2.0)
        await rig.until(lambda: rig.actor.builds > builds, 15)
        await rig.until(lambda: below_atm(rig.doc("NIFTY", expiry)) == 50, 5)
        rebuilt = rig.doc("NIFTY", expiry)
        served = await ask(rig.ctx.bus, GET_TOPIC, ("NIFTY", expiry), 2.0)
        unknown = rig.actor.schedule_refresh("NOPE")
    assert jumped["atm_strike"] >= built["atm_strike"] + 400 and strikes(jumped) == strikes(built)
    assert below_atm(jumped) >= 58  # the window stayed where it was built, the ATM moved up inside it
    assert answer.accepted and answer.underlyings == ("NIFTY",) and answer.queued_requests == 2
    assert below_atm(rebuilt) == 50 and strikes(rebuilt) != strikes(built)
    assert json.loads(served)["atm_strike"] == rebuilt["atm_strike"]
    assert not unknown.accepted and "unknown underlying" in unknown.error


async def test_rest_refresh_runs_round_robin_at_the_effective_interval(redis_url: str) -> None:
    async with chain_rig(redis_url, refresh_interval_s=3.0) as rig:
        await rig.until(lambda: len(rig.actor.book) == 2, 40)
        await rig.until(lambda: rig.actor.refreshes >= 2, 25)
        stats = rig.bed.stats()
        overall = rig.health("optionchain")
        plan = rig.actor.refresh_plan()
    # two chains wanted every 3 s = 40/min, the queue has 20/min less 2 kept: every 6.67 s
    assert not plan.feasible and round(plan.effective_interval_s, 2) == 6.67
    assert "INFEASIBLE" in overall.detail and "6.66667 s" in overall.detail
    assert stats.throttled == 0 and stats.endpoints["optionchain"] >= 4


async def test_holiday_ltp_of_zero_stops_the_underlying_without_guessing(redis_url: str) -> None:
    async with chain_rig(redis_url, (ONE_EXPIRY,), dhan_options={"holiday_mode": True}) as rig:
        await rig.until(lambda: rig.health("optionchain:NIFTY") is not None, 30)
        health = rig.health("optionchain:NIFTY")
        stats = rig.bed.stats()
        await rig.flushed()
        atm = rig.redis.get(keys.optionchain_atm("NIFTY"))
        bad_ticks = rig.actor.book.bad_underlying_ticks
    assert not health.ok and "no usable LTP" in health.detail and "no ATM guessed" in health.detail
    assert len(rig.actor.book) == 0 and atm is None and bad_ticks >= 1
    assert stats.endpoints["optionchain"] == 0  # no chain was even asked for


async def test_a_restart_serves_the_last_redis_copy_marked_stale(redis_url: str) -> None:
    async with chain_rig(redis_url, (ONE_EXPIRY,)) as rig:
        expiry = rig.bed.expiries()[0]
        await rig.until(lambda: len(rig.actor.book) == 1, 30)
        await rig.until(lambda: rig.actor.cache.writes >= 2, 5)
        await rig.flushed()
        live = rig.doc("NIFTY", expiry)
    async with chain_rig(redis_url, (ONE_EXPIRY,), venue=False) as again:
        await again.until(lambda: again.actor.cache.texts, 5)
        served = json.loads(await ask(again.ctx.bus, GET_TOPIC, ("NIFTY", expiry), 2.0))
        await again.flushed()
        stored = again.doc("NIFTY", expiry)
        overall = again.health("optionchain")
    assert live["stale"] is False and served["stale"] is True and stored["stale"] is True
    assert strikes(served) == strikes(live) and served["updated_ms"] >= live["built_ms"]
    assert not overall.ok and "no Dhan client" in overall.detail


async def test_expiry_rollover_at_midnight_drops_the_expired_chain_and_builds_the_next(redis_url: str) -> None:
    listing = [DAY, date(2025, 10, 16), date(2025, 10, 23)]

    def prepare(bed) -> None:
        bed.venues.action("dhan", "set_expiries", {"underlying": "NIFTY", "expiries": [d.isoformat() for d in listing]})

    async with chain_rig(redis_url, epoch_s=ist_s(DAY, time(23, 59, 45)), prepare=prepare) as rig:
        await rig.until(lambda: len(rig.actor.book) == 2, 30)
        before = rig.actor.book.keys()
        await rig.until(lambda: rig.actor.book.keys() == [("NIFTY", "2025-10-16"), ("NIFTY", "2025-10-23")], 40)
        await rig.until(lambda: rig.doc("NIFTY", "2025-10-23") is not None, 5)
        gone = rig.redis.get(keys.optionchain("NIFTY", DAY.isoformat()))
        new = rig.doc("NIFTY", "2025-10-23")
    assert before == [("NIFTY", "2025-10-14"), ("NIFTY", "2025-10-16")]
    assert gone is None and new is not None and len(new["rows"]) == 100


async def test_market_open_regenerates_the_strikes(redis_url: str) -> None:
    async with chain_rig(redis_url, (ONE_EXPIRY,), epoch_s=ist_s(DAY, time(9, 14, 45))) as rig:
        await rig.until(lambda: len(rig.actor.book) == 1, 30)
        builds = rig.actor.builds
        await rig.until(lambda: rig.actor.builds > builds, 30)
        health = rig.health("optionchain:NIFTY")
    assert "(market open)" in health.detail



async def test_a_drop_and_a_stall_both_end_with_every_token_streaming_again(redis_url: str) -> None:
    async with chain_rig(redis_url, (ONE_EXPIRY,)) as rig:
        await rig.until(lambda: len(rig.actor.book) == 1 and rig.actor.replans >= 2
                        and all(s.subscribed for s in rig.actor.shards), 30)
        tokens = set(rig.actor.book.feed_tokens()[0])
        seen: set[tuple[str, int]] = set()

        async def watch() -> None:
            with rig.ctx.bus.subscribe("dhan.ticks", maxlen=256, overflow=Overflow.BLOCK) as sub:
                async for updates in sub:
                    seen.update((u.segment, u.security_id) for u in updates)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(watch)
            shard = rig.actor.shards[0]
            rig.bed.faults().drop_connections()
            await rig.until(lambda: shard.reconnects >= 1 and shard.subscribed, 10)
            seen.clear()
            await rig.until(lambda: tokens <= seen, 5)
            rig.bed.faults().set_silent(True)
            await rig.until(lambda: shard.stalls >= 1, 10)
            rig.bed.faults().set_silent(False)
            seen.clear()
            await rig.until(lambda: tokens <= seen, 10)
            nursery.cancel_scope.cancel()
        stats = attrs.evolve(rig.bed.stats())
    assert len(tokens) == 201 and stats.rejected == 0 and stats.max_connections == 1


async def test_a_build_the_venue_failed_is_retried_on_its_own(redis_url: str) -> None:
    def prepare(bed) -> None:
        bed.faults().burst("5xx", 5)  # the first expiry list and its 4 retries all fail

    async with chain_rig(redis_url, (ONE_EXPIRY,), prepare=prepare, retry_failed_build_s=2.0) as rig:
        await rig.until(lambda: rig.health("optionchain:NIFTY") is not None, 30)
        failed = rig.health("optionchain:NIFTY")
        await rig.until(lambda: len(rig.actor.book) == 1, 30)
        rebuilt = rig.health("optionchain:NIFTY")
    assert not failed.ok and "expiry_list failed" in failed.detail
    assert rebuilt.ok and "(retry after a venue failure)" in rebuilt.detail
