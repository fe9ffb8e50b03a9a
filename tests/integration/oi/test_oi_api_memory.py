"""The OI reads answer from the AlertActor's memory: with the private Redis server killed they
still answer 200 with the same data (what was ingested and raised before and during the
outage), memory reads back the streams' past after a restart, and without an AlertActor the
reads fall back to the streams (503 only when neither answers).

Real HTTP (hypercorn, trio worker), a real Bus, a real AlertActor and a real redis-server of
the test's own (``private_redis``), killed with SIGKILL for the outage.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import redis
import trio

from actors.oi.alert_actor import AlertActor
from actors.oi.payloads import alert_to_json
from engine import keys
from engine.redis_embedded import EmbeddedRedis
from tests.integration.oi.test_oi_api import (
    ADMIN,
    ALERTS,
    SAMPLES,
    T0,
    FakeLiquidity,
    Served,
    _alert,
    _item,
    served,
)

READ_SAMPLES = "/api/market/open-interest/samples"
READ_ALERTS = "/api/open-interest-alerts"
MINUTE_MS = 60_000


async def kill(server: EmbeddedRedis) -> None:
    await trio.to_thread.run_sync(server.kill)
    assert not server.running


async def history_read(api: Served, timeout_s: float = 10.0) -> None:
    """Wait until the AlertActor has read back the past of every symbol it holds."""
    actor = api.alert_actor
    assert actor is not None
    with trio.fail_after(timeout_s):
        while actor.recent_samples.unloaded(1) or not actor.recent_alerts.loaded:
            await trio.sleep(0.02)


async def samples_of(client: httpx.AsyncClient, symbol: str, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(READ_SAMPLES, params={"symbol": symbol, **params})
    assert response.status_code == 200, response.text
    return response.json()["samples"]


async def alerts_of(client: httpx.AsyncClient, **params: Any) -> list[dict[str, Any]]:
    response = await client.get(READ_ALERTS, params=params)
    assert response.status_code == 200, response.text
    return response.json()["alerts"]


def baseline_items(symbol: str, oi: float, count: int = 31) -> list[dict[str, Any]]:
    """A flat open interest, one sample a minute from T0: the baseline of a sample 45 min on."""
    return [_item(symbol, oi, T0 + i * MINUTE_MS) for i in range(count)]


async def test_reads_answer_from_memory_while_redis_is_down(private_redis: EmbeddedRedis) -> None:
    before = [_alert("BTCUSDT", "UP", T0 + 1), _alert("ETHUSDT", "DOWN", T0 + 2, oi=900.0),
              _alert("BTCUSDT", "DOWN", T0 + 3, oi=850.0)]
    during = _alert("ETHUSDT", "UP", T0 + 4, oi=1200.0)
    async with served(private_redis.url, FakeLiquidity()) as api:
        ingest = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": [
            *baseline_items("BTCUSDT", 1000.0), _item("ETHUSDT", 7.0, T0, mark_price=3200.5, oi_usd=22_403.5)]})
        assert ingest.json() == {"accepted": 32}
        snapshot = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "snapshot", "items": [
            _item("BTCUSDT", 1001.0, T0 + 31 * MINUTE_MS, oi_usd=6.5e7)]})
        assert snapshot.json() == {"accepted": 1}
        assert (await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in before]})
                ).json() == {"accepted": 3}
        await history_read(api)
        with_redis = {"btc": await samples_of(api.client, "BTCUSDT", limit=5), "eth": await samples_of(api.client, "ETHUSDT"),
                      "all": await alerts_of(api.client), "eth_alerts": await alerts_of(api.client, symbol="ETHUSDT")}

        await kill(private_redis)
        # answered while Redis is down, exactly as before
        assert await samples_of(api.client, "BTCUSDT", limit=5) == with_redis["btc"]
        assert await samples_of(api.client, "ETHUSDT") == with_redis["eth"]
        assert await alerts_of(api.client) == with_redis["all"]
        assert await alerts_of(api.client, symbol="ETHUSDT") == with_redis["eth_alerts"]
        assert with_redis["btc"][:2] == [
            {"symbol": "BTCUSDT", "open_interest": 1001.0, "ts": T0 + 31 * MINUTE_MS, "mark_price": None,
             "oi_usd": 6.5e7, "source": "snapshot"},
            {"symbol": "BTCUSDT", "open_interest": 1000.0, "ts": T0 + 30 * MINUTE_MS, "mark_price": None,
             "oi_usd": None, "source": "realtime"}]
        assert [s["ts"] for s in with_redis["btc"]] == [T0 + i * MINUTE_MS for i in range(31, 26, -1)]
        assert with_redis["eth"] == [{"symbol": "ETHUSDT", "open_interest": 7.0, "ts": T0, "mark_price": 3200.5,
                                      "oi_usd": 22_403.5, "source": "realtime"}]
        assert with_redis["all"] == [alert_to_json(a) for a in reversed(before)]
        assert with_redis["eth_alerts"] == [alert_to_json(before[1])]

        # written during the outage (the writes stay queued): read back from memory
        spike = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": [
            _item("BTCUSDT", 1300.0, T0 + 45 * MINUTE_MS), _item("SOLUSDT", 150.0, T0 + 45 * MINUTE_MS)]})
        assert spike.json() == {"accepted": 2}  # the AlertActor judges the spike against its 30-60 min baseline
        assert (await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(during)]})
                ).json() == {"accepted": 1}
        alerts = await alerts_of(api.client)
        raised = alerts[1]
        assert (raised["symbol"], raised["direction"], raised["ts"], raised["baseline_oi"]) == (
            "BTCUSDT", "UP", T0 + 45 * MINUTE_MS, 1000.0)
        assert alerts == [alert_to_json(during), raised, *with_redis["all"]]
        assert await alerts_of(api.client, symbol="BTCUSDT", limit=2) == [raised, alert_to_json(before[2])]
        assert [s["open_interest"] for s in await samples_of(api.client, "BTCUSDT", limit=3)] == [1300.0, 1001.0, 1000.0]
        # a symbol first seen during the outage: its stream's past cannot be read, memory's part is the answer
        assert [s["open_interest"] for s in await samples_of(api.client, "SOLUSDT")] == [150.0]

        page = await api.client.get("/debug/open-interest")
        assert page.status_code == 200
        assert "redis unavailable" not in page.text  # memory held every answer whole
        # both symbols charted: BTCUSDT's line, ETHUSDT's single sample as a dot
        assert page.text.count("<polyline") == 1 and page.text.count("<circle") == 1
        assert "Recent alerts: 5" in page.text
        universe = await api.client.get("/debug/open-interest/universe")
        assert universe.status_code == 200 and "redis unavailable" not in universe.text
        assert universe.text.count("<polyline") == 1 and universe.text.count("<circle") == 1
        assert api.ctx.store.status().connected is False


async def test_after_a_restart_memory_reads_the_streams_past_back(private_redis: EmbeddedRedis) -> None:
    past = [_alert("BTCUSDT", "UP", T0 + i, oi=1100.0 + i) for i in range(3)]
    items = [_item("BTCUSDT", 1000.0 + i, T0 + i * MINUTE_MS) for i in range(5)]
    async with served(private_redis.url) as api:
        await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": items})
        await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in past]})
    actor = AlertActor()
    async with served(private_redis.url, alert_actor=actor) as api:  # a new run: memory starts empty
        assert len(actor.recent_alerts) == 3  # read back at start, with the cooldowns
        assert actor.last_alert_ms[("BTCUSDT", "UP")] == T0 + 2
        fresh = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "snapshot", "items": [
            _item("BTCUSDT", 2000.0, T0 + 10 * MINUTE_MS)]})
        assert fresh.json() == {"accepted": 1}
        await history_read(api)  # the symbol's first sample of this run: its past is read back behind it
        assert len(actor.recent_samples.get("BTCUSDT")) == 6  # type: ignore[arg-type]
        await kill(private_redis)
        samples = await samples_of(api.client, "BTCUSDT")
        assert [(s["open_interest"], s["source"]) for s in samples] == [
            (2000.0, "snapshot"), *[(1000.0 + i, "realtime") for i in range(4, -1, -1)]]
        assert await alerts_of(api.client) == [alert_to_json(a) for a in reversed(past)]


async def test_a_start_during_an_outage_reads_the_past_once_redis_is_back(private_redis: EmbeddedRedis) -> None:
    """Memory answers what it holds during the outage; once Redis is back (empty, then given back what
    the writer had queued) the stream is read and merged without repeating what memory held."""
    await kill(private_redis)
    actor = AlertActor()
    async with served(private_redis.url, alert_actor=actor, timeout_s=1.0) as api:
        assert not actor.recent_alerts.loaded and api.ctx.store.status().connected is False
        raised = [_alert("ETHUSDT", "DOWN", T0 + i, oi=900.0 - i) for i in range(2)]
        assert (await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in raised]})
                ).json() == {"accepted": 2}
        assert await alerts_of(api.client) == [alert_to_json(a) for a in reversed(raised)]
        await trio.to_thread.run_sync(private_redis.restart)
        await history_read(api, timeout_s=30.0)
        assert await alerts_of(api.client) == [alert_to_json(a) for a in reversed(raised)]  # merged, not repeated
        assert len(actor.recent_alerts) == 2
        with redis.Redis.from_url(private_redis.url, decode_responses=True) as raw:
            assert [json.loads(f["payload"]) for _id, f in raw.xrange(keys.OI_ALERTS)] == [
                alert_to_json(a) for a in raised]


async def test_without_an_alert_actor_reads_come_from_the_streams(private_redis: EmbeddedRedis) -> None:
    async with served(private_redis.url, alert_actor=False) as api:
        await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": [
            _item("ETHUSDT", 7.0 + i, T0 + i) for i in range(3)]})
        await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(_alert())]})
        # another writer's malformed entry is skipped, not a 500
        api.raw.xadd(keys.oi_samples("ETHUSDT"), {"open_interest": "lots", "ts": "x", "source": "realtime"})
        assert [s["open_interest"] for s in await samples_of(api.client, "ETHUSDT")] == [9.0, 8.0, 7.0]
        assert await alerts_of(api.client) == [alert_to_json(_alert())]
        await kill(private_redis)
        for path, params in ((READ_SAMPLES, {"symbol": "ETHUSDT"}), (READ_ALERTS, {})):
            response = await api.client.get(path, params=params)
            assert response.status_code == 503, path
            assert "alert service not answering and redis unavailable" in response.json()["error"]
