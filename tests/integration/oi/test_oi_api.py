"""The OI surveillance API over real HTTP and WebSockets (hypercorn, trio worker), a real Bus
and a real private Redis behind a RedisStore.

The LiquidityActor is replaced by a small fake that answers ``UNIVERSE_ASK`` and
``EXCHANGE_INFO_ASK`` (the bus contract of ``actors.oi.topics``) from canned values, so the
API under test is exactly the one the engine mounts. A real AlertActor runs beside it (unless
a test says otherwise): the samples and alerts the reads answer are the ones it holds.
"""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import redis
import structlog
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from actors.oi.alert_actor import AlertActor
from actors.oi.alerts import Alert
from actors.oi import api as oi_api
from actors.oi.api import MAX_BODY_BYTES, oi_router
from actors.oi.page import render_page
from actors.oi.payloads import MAX_BATCH_ITEMS, Sample, alert_to_json
from actors.oi.records import DEFAULT_SAMPLES_MAXLEN
from actors.oi.topics import ALERT_TOPIC, EXCHANGE_INFO_ASK, SAMPLES_TOPIC, UNIVERSE_ASK, UniverseView
from actors.oi.universe import LiquidMeta
from engine import keys
from engine.actor import ActorContext, ChildSpec
from engine.bus import Bus, Overflow, Subscription
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.test_engine_api import _config
from tests.integration.api_support import api_served, with_engine

TOKEN = "oi-token"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
T0 = 1_770_000_000_000
# Odd spacing on purpose: a re-serialised answer would not match byte for byte.
EXCHANGE_INFO = '{"timezone": "UTC",  "serverTime": 1770000000000, "symbols": [{"symbol": "BTCUSDT"}]}'
UNIVERSE = UniverseView(
    symbols=("BTCUSDT", "ETHUSDT"),
    meta={"BTCUSDT": LiquidMeta(9_500_000_000.0, T0 - 86_400_000, T0),
          "ETHUSDT": LiquidMeta(4_200_000_000.0, T0 - 3_600_000, T0)},
    updated_ms=T0,
)

SAMPLES = "/api/market/open-interest/ingest"
ALERTS = "/api/open-interest-alerts/ingest"


@attrs.define
class FakeLiquidity:
    """Answers the LiquidityActor's asks from canned values."""

    view: UniverseView = UNIVERSE
    exchange_info: str | None = EXCHANGE_INFO
    silent: bool = False  # subscribed but never answers (a stuck actor)
    asked: list[str] = attrs.field(factory=list)

    async def serve(self, bus: Bus, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        handlers = {UNIVERSE_ASK: lambda: self.view, EXCHANGE_INFO_ASK: lambda: self.exchange_info}
        subs = [bus.subscribe(topic, maxlen=16, overflow=Overflow.BLOCK) for topic in handlers]
        try:
            async with trio.open_nursery() as nursery:
                for sub in subs:
                    nursery.start_soon(self._answer, sub, handlers[sub.topic])
                task_status.started()
        finally:
            for sub in subs:
                sub.close()

    async def _answer(self, sub: Subscription, handler: Any) -> None:
        async for request in sub:
            self.asked.append(sub.topic)
            if not self.silent:
                request.answer(handler())

    async def run(self, ctx: ActorContext) -> None:
        await self.serve(ctx.bus)


@attrs.define
class Served:
    url: str
    bus: Bus
    ctx: ActorContext
    client: httpx.AsyncClient
    raw: redis.Redis  # redis-py, to read back what the API wrote
    samples: Subscription  # what the AlertActor sees on SAMPLES_TOPIC
    alert_actor: AlertActor | None

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/ws"

    async def subscribers(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until ``count`` WebSocket clients hold an alert subscription."""
        with trio.fail_after(timeout_s):
            while self.bus.subscription_count(ALERT_TOPIC) != count:
                await trio.sleep(0.01)

    def published_samples(self) -> list[tuple[Sample, ...]]:
        batches = []
        while True:
            try:
                batches.append(self.samples.receive_nowait())
            except trio.WouldBlock:
                return batches

    def oi_keys(self) -> list[str]:
        return sorted(self.raw.keys("oi:*"))

    def dropped(self) -> float:
        value = self.ctx.metrics.registry.get_sample_value(
            "engine_bus_dropped_total", {"topic": ALERT_TOPIC, "policy": "drop_oldest"})
        return value or 0.0


@asynccontextmanager
async def served(redis_url: str, liquidity: FakeLiquidity | None = None, admin_token: str | None = TOKEN,
                 timeout_s: float = 2.0, alert_actor: AlertActor | None | bool = True) -> AsyncIterator[Served]:
    """``build_app`` served by the ApiActor (hypercorn) with the OI router mounted, and an
    AlertActor (``alert_actor``: True for a default one, False for none), started once it watches."""
    metrics = EngineMetrics()
    bus = Bus(metrics)
    log = structlog.get_logger()
    store = RedisStore(redis_url, clock=Clock(), log=log, metrics=metrics)
    ctx = ActorContext(name="api", bus=bus, store=store, clock=Clock(), log=log, metrics=metrics)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    routers = (partial(oi_router, timeout_s=timeout_s),)
    try:
        with trio.fail_after(30), bus.subscribe(SAMPLES_TOPIC, maxlen=64, overflow=Overflow.BLOCK) as samples:
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                if liquidity is not None:
                    await nursery.start(liquidity.serve, bus)
                actor = AlertActor() if alert_actor is True else alert_actor or None
                if actor is not None:
                    nursery.start_soon(actor.run, attrs.evolve(ctx, name="oi_alerts"))
                    with trio.fail_after(10):  # watching: the stream's past read back (or tried, Redis down)
                        while not any(s.name == "oi_alerts" and s.ok for s in ctx.health.snapshot()):
                            await trio.sleep(0.01)
                async with api_served(ctx, routers, admin_token) as url, \
                        httpx.AsyncClient(base_url=url, timeout=10) as client:
                    yield Served(url, bus, ctx, client, raw, samples, actor)
                await store.aclose(timeout_s=2.0)
                nursery.cancel_scope.cancel()
    finally:
        raw.close()


def _item(symbol: str = "BTCUSDT", oi: float = 1000.0, ts: int = T0, **extra: Any) -> dict[str, Any]:
    return {"symbol": symbol, "open_interest": oi, "ts": ts, **extra}


def _alert(symbol: str = "BTCUSDT", direction: str = "UP", ts: int = T0, oi: float = 1100.0) -> Alert:
    return Alert(symbol=symbol, direction=direction, open_interest=oi, baseline_oi=1000.0,  # type: ignore[arg-type]
                 pct_change=100.0 * (oi - 1000.0) / 1000.0, abs_change=oi - 1000.0, ts_ms=ts,
                 window_low_min=30.0, window_high_min=60.0, mark_price=65_000.5, oi_usd=oi * 65_000.5)


async def _next_json(ws: Any, timeout_s: float = 3.0) -> dict[str, Any]:
    with trio.fail_after(timeout_s):
        return json.loads(await ws.get_message())


# ---- POST /api/market/open-interest/ingest ------------------------------------------------


async def test_ingest_samples_writes_the_streams_and_publishes_the_batch(redis_url: str) -> None:
    items = [_item("BTCUSDT", 1000.0, T0, mark_price=65_000.5, oi_usd=65_000_500.0),
             _item("ETHUSDT", 2.5e5, T0 + 1),
             _item("BTCUSDT", 1010.5, T0 + 60_000)]
    async with served(redis_url) as api:
        response = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "snapshot", "items": items})
        assert response.status_code == 200
        assert response.json() == {"accepted": 3}
        # flushed before the answer: readable at once
        btc = api.raw.xrange(keys.oi_samples("BTCUSDT"))
        eth = api.raw.xrange(keys.oi_samples("ETHUSDT"))
        assert [fields for _, fields in btc] == [
            {"open_interest": "1000.0", "ts": str(T0), "source": "snapshot", "mark_price": "65000.5",
             "oi_usd": "65000500.0"},
            {"open_interest": "1010.5", "ts": str(T0 + 60_000), "source": "snapshot"}]
        assert [fields for _, fields in eth] == [{"open_interest": "250000.0", "ts": str(T0 + 1), "source": "snapshot"}]
        assert api.published_samples() == [(
            Sample("BTCUSDT", 1000.0, T0, 65_000.5, 65_000_500.0, "snapshot"),
            Sample("ETHUSDT", 2.5e5, T0 + 1, None, None, "snapshot"),
            Sample("BTCUSDT", 1010.5, T0 + 60_000, None, None, "snapshot"))]

        realtime = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": [_item(ts=T0 + 5)]})
        assert realtime.json() == {"accepted": 1}
        assert api.raw.xrevrange(keys.oi_samples("BTCUSDT"), count=1)[0][1]["source"] == "realtime"
        assert [s.source for batch in api.published_samples() for s in batch] == ["realtime"]

        empty = await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": []})
        assert empty.json() == {"accepted": 0}
        assert api.published_samples() == []


@pytest.mark.parametrize("body, error", [
    ({"source": "realtime", "items": [_item(), _item(oi=-1.0), _item()]}, "items[1].open_interest"),
    ({"source": "realtime", "items": [_item(), _item(), _item("btcusdt")]}, "items[2].symbol"),
    ({"source": "realtime", "items": [_item(ts=T0 // 1000)]}, "items[0].ts"),
    ({"source": "realtime", "items": [_item(), {**_item(), "openInterest": 5}]}, "items[1].openInterest"),
    ({"source": "realtime", "items": [_item(), _item(oi="1000")]}, "items[1].open_interest"),
    ({"source": "realtime", "items": [_item(mark_price=0)]}, "items[0].mark_price"),
    ({"source": "realtime", "items": [_item(), "BTCUSDT"]}, "items[1]"),
    ({"source": "later", "items": [_item()]}, "source"),
    ({"items": [_item()]}, "source"),
    ({"source": "realtime"}, "items"),
    ({"source": "realtime", "items": {"0": _item()}}, "items"),
    ([_item()], "payload"),
])
async def test_ingest_samples_refuses_a_bad_batch_naming_the_item_and_writes_nothing(
        redis_url: str, body: Any, error: str) -> None:
    async with served(redis_url) as api:
        response = await api.client.post(SAMPLES, headers=ADMIN, json=body)
        assert response.status_code == 400
        assert response.json()["error"].startswith(error + ":"), response.json()
        await api.ctx.store.flush(2.0)
        assert api.oi_keys() == []  # not even the good items before the bad one
        assert api.published_samples() == []


@pytest.mark.parametrize("content, error", [
    (b"not json", "body"), (b"", "body"), (b"   ", "body"), (b"\xff\xfe{}", "body"),
    (b"{\"source\": \"realtime\", \"items\": [" + b"[" * 100_000 + b"]" * 100_001 + b"}", "body"),
])
async def test_ingest_refuses_a_body_that_is_not_json(redis_url: str, content: bytes, error: str) -> None:
    async with served(redis_url) as api:
        for route in (SAMPLES, ALERTS):
            response = await api.client.post(route, headers={**ADMIN, "Content-Type": "application/json"},
                                              content=content)
            assert response.status_code == 400
            assert response.json()["error"].startswith(error + ":")
        assert api.oi_keys() == []


async def test_ingest_refuses_a_body_over_5_mb_with_413(redis_url: str) -> None:
    item = json.dumps(_item()).encode()
    count = MAX_BODY_BYTES // (len(item) + 1) + 10
    big = b'{"source": "realtime", "items": [' + b",".join([item] * count) + b"]}"
    assert len(big) > MAX_BODY_BYTES
    async with served(redis_url) as api:
        for _ in range(3):  # the rest of the body is drained: the connection never wedges
            declared = await api.client.post(SAMPLES, headers=ADMIN, content=big, timeout=5)
            assert declared.status_code == 413
            assert declared.json()["error"] == f"body: at most {MAX_BODY_BYTES} bytes, got {len(big)}"

        async def chunks() -> AsyncIterator[bytes]:  # no Content-Length: refused while streaming
            for start in range(0, len(big), 256 * 1024):
                yield big[start:start + 256 * 1024]

        streamed = await api.client.post(SAMPLES, headers=ADMIN, content=chunks(), timeout=5)
        assert streamed.status_code == 413
        assert "body" in streamed.json()["error"]
        assert api.oi_keys() == []
        assert api.published_samples() == []
        # exactly at the bound is fine: the most items a batch may hold, padded with JSON whitespace
        fits = b'{"source": "realtime", "items": [' + b",".join([item] * MAX_BATCH_ITEMS)
        fits += b" " * (MAX_BODY_BYTES - len(fits) - 2) + b"]}"
        assert len(fits) == MAX_BODY_BYTES
        assert (await api.client.post(SAMPLES, headers=ADMIN, content=fits)).json() == {"accepted": MAX_BATCH_ITEMS}
        assert DEFAULT_SAMPLES_MAXLEN <= api.raw.xlen(keys.oi_samples("BTCUSDT")) < MAX_BATCH_ITEMS  # capped


async def test_ingest_needs_the_admin_token_reads_stay_open(redis_url: str) -> None:
    async with served(redis_url, FakeLiquidity()) as api:
        body = {"source": "realtime", "items": [_item()]}
        assert (await api.client.post(SAMPLES, json=body)).status_code == 401
        assert (await api.client.post(SAMPLES, json=body, headers={"Authorization": "Bearer nope"})).status_code == 401
        assert (await api.client.post(ALERTS, json={"items": []})).status_code == 401
        assert api.oi_keys() == []
        for path in ("/api/market/open-interest/samples?symbol=BTCUSDT", "/api/open-interest-alerts",
                     "/api/market/open-interest/liquid-universe", "/api/binance/futures/info", "/debug/open-interest"):
            assert (await api.client.get(path)).status_code == 200, path


async def test_a_refused_big_body_does_not_wedge_the_connection(redis_url: str) -> None:
    """401 before anything is read, and 413: the unread body is drained after the answer."""
    body = json.dumps({"source": "realtime", "items": [_item(ts=T0 + i) for i in range(9000)]}).encode()
    assert len(body) > 500_000
    async with served(redis_url) as api:
        for _ in range(3):
            with trio.fail_after(10):
                refused = await api.client.post(SAMPLES, content=body, timeout=5)
                assert refused.status_code == 401 and "bearer" in refused.json()["detail"]
                assert (await api.client.get("/api/open-interest-alerts", timeout=5)).status_code == 200
        assert api.oi_keys() == []
        accepted = await api.client.post(SAMPLES, headers=ADMIN, content=body, timeout=5)
        assert accepted.json() == {"accepted": 9000}


async def test_a_body_past_the_drain_bound_is_refused_at_once_and_the_server_stays_up(
        redis_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Past DRAIN_MAX_BYTES the answer goes at once with Connection: close; the client may see
    the 413 or, if the close overtakes it, a reset. Either way nothing wedges."""
    monkeypatch.setattr(oi_api, "DRAIN_MAX_BYTES", 256 * 1024)
    big = b'{"source": "realtime", "items": [' + b" " * (MAX_BODY_BYTES + 2 * 1024 * 1024) + b"]}"
    async with served(redis_url) as api:
        for _ in range(3):
            with trio.fail_after(10):
                try:
                    response = await api.client.post(SAMPLES, headers=ADMIN, content=big, timeout=5)
                except httpx.TransportError:
                    pass
                else:
                    assert response.status_code == 413 and response.headers["connection"] == "close"
                assert (await api.client.get("/api/open-interest-alerts", timeout=5)).status_code == 200
        assert api.oi_keys() == []


async def test_without_a_configured_token_ingest_is_open(redis_url: str) -> None:
    async with served(redis_url, admin_token=None) as api:
        response = await api.client.post(SAMPLES, json={"source": "realtime", "items": [_item()]})
        assert response.json() == {"accepted": 1}


# ---- POST /api/open-interest-alerts/ingest, pub/sub and /ws -------------------------------


def _pubsub_messages(pubsub: Any, count: int, timeout_s: float) -> list[str]:
    """In a worker thread: the next ``count`` messages of a redis-py pubsub."""
    got: list[str] = []
    end = time.monotonic() + timeout_s
    while len(got) < count and time.monotonic() < end:
        message = pubsub.get_message(ignore_subscribe_messages=True, timeout=0.1)
        if message is not None and message["type"] == "message":
            got.append(message["data"])
    return got


async def test_ingest_alerts_reach_the_stream_the_channel_and_websocket_clients(redis_url: str) -> None:
    alerts = [_alert("BTCUSDT", "UP", T0), _alert("ETHUSDT", "DOWN", T0 + 1, oi=900.0)]
    async with served(redis_url) as api:
        pubsub = api.raw.pubsub()
        pubsub.subscribe(keys.OI_ALERTS)
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"
        async with open_websocket_url(api.ws_url) as every, open_websocket_url(api.ws_url + "?symbol=ETHUSDT") as eth:
            await api.subscribers(2)
            response = await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in alerts]})
            assert response.status_code == 200 and response.json() == {"accepted": 2}

            entries = api.raw.xrange(keys.OI_ALERTS)
            assert [(f["symbol"], f["direction"], f["type"], f["ts"]) for _, f in entries] == [
                ("BTCUSDT", "UP", "open_interest_alert", str(T0)), ("ETHUSDT", "DOWN", "open_interest_alert", str(T0 + 1))]
            assert [json.loads(f["payload"]) for _, f in entries] == [alert_to_json(a) for a in alerts]

            channel = await trio.to_thread.run_sync(_pubsub_messages, pubsub, 2, 5.0)
            assert [json.loads(m) for m in channel] == [alert_to_json(a) for a in alerts]

            pushed = [await _next_json(every), await _next_json(every)]
            assert pushed == [alert_to_json(a) for a in alerts]
            assert all(m["type"] == "open_interest_alert" for m in pushed)
            assert await _next_json(eth) == alert_to_json(alerts[1])  # the filter
        pubsub.close()


async def test_ingest_alerts_refuses_a_bad_item_and_writes_and_pushes_nothing(redis_url: str) -> None:
    good = alert_to_json(_alert())
    bad = {**alert_to_json(_alert(ts=T0 + 1)), "direction": "SIDEWAYS"}
    async with served(redis_url) as api:
        pubsub = api.raw.pubsub()
        pubsub.subscribe(keys.OI_ALERTS)
        assert pubsub.get_message(timeout=2)["type"] == "subscribe"
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            response = await api.client.post(ALERTS, headers=ADMIN, json={"items": [good, bad]})
            assert response.status_code == 400
            assert response.json()["error"].startswith("items[1].direction:")
            wrong_type = await api.client.post(ALERTS, headers=ADMIN, json={"items": [{**good, "type": "x"}]})
            assert wrong_type.json()["error"].startswith("items[0].type:")
            extra = await api.client.post(ALERTS, headers=ADMIN, json={"items": [], "source": "x"})
            assert extra.json()["error"].startswith("source:")
            await api.ctx.store.flush(2.0)
            assert api.oi_keys() == []
            assert await trio.to_thread.run_sync(_pubsub_messages, pubsub, 1, 0.3) == []
            with trio.move_on_after(0.3):
                pytest.fail(f"pushed after a refused batch: {await ws.get_message()}")
        pubsub.close()


# ---- GET samples and alerts --------------------------------------------------------------


async def test_samples_newest_first_with_a_limit(redis_url: str) -> None:
    async with served(redis_url) as api:
        items = [_item("BTCUSDT", 1000.0 + i, T0 + i * 60_000) for i in range(5)] + [_item("ETHUSDT", 7.0, T0)]
        await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": items})
        await api.client.post(SAMPLES, headers=ADMIN, json={"source": "snapshot",
                                                            "items": [_item("BTCUSDT", 2000.0, T0 + 10**6, oi_usd=1.5)]})
        three = await api.client.get("/api/market/open-interest/samples", params={"symbol": "BTCUSDT", "limit": 3})
        assert three.status_code == 200
        assert three.json() == {"symbol": "BTCUSDT", "samples": [
            {"symbol": "BTCUSDT", "open_interest": 2000.0, "ts": T0 + 10**6, "mark_price": None, "oi_usd": 1.5,
             "source": "snapshot"},
            {"symbol": "BTCUSDT", "open_interest": 1004.0, "ts": T0 + 240_000, "mark_price": None, "oi_usd": None,
             "source": "realtime"},
            {"symbol": "BTCUSDT", "open_interest": 1003.0, "ts": T0 + 180_000, "mark_price": None, "oi_usd": None,
             "source": "realtime"}]}
        default = (await api.client.get("/api/market/open-interest/samples", params={"symbol": "BTCUSDT"})).json()
        assert [s["ts"] for s in default["samples"]] == [T0 + 10**6] + [T0 + i * 60_000 for i in range(4, -1, -1)]
        eth = (await api.client.get("/api/market/open-interest/samples", params={"symbol": "ETHUSDT"})).json()
        assert [s["open_interest"] for s in eth["samples"]] == [7.0]
        unknown = await api.client.get("/api/market/open-interest/samples", params={"symbol": "XRPUSDT"})
        assert unknown.json() == {"symbol": "XRPUSDT", "samples": []}
        # a malformed entry written by someone else is skipped, not a 500
        api.raw.xadd(keys.oi_samples("ETHUSDT"), {"open_interest": "lots", "ts": "x", "source": "realtime"})
        skipped = await api.client.get("/api/market/open-interest/samples", params={"symbol": "ETHUSDT"})
        assert skipped.status_code == 200 and [s["open_interest"] for s in skipped.json()["samples"]] == [7.0]


@pytest.mark.parametrize("route", ["/api/market/open-interest/samples", "/api/open-interest-alerts"])
@pytest.mark.parametrize("params, field", [
    ({"symbol": "btcusdt"}, "symbol"), ({"symbol": ""}, "symbol"), ({"symbol": "BTC-USDT"}, "symbol"),
    ({"symbol": "BTCUSDT\n"}, "symbol"), ({"symbol": "BTCUSDT", "limit": "0"}, "limit"),
    ({"symbol": "BTCUSDT", "limit": "5001"}, "limit"), ({"symbol": "BTCUSDT", "limit": "ten"}, "limit"),
    ({"symbol": "BTCUSDT", "limit": "-1"}, "limit"), ({"symbol": "BTCUSDT", "limit": ""}, "limit"),
    ({"symbol": "BTCUSDT", "limit": "1e3"}, "limit"),
])
async def test_reads_refuse_bad_input_naming_the_field(redis_url: str, route: str, params: dict[str, str],
                                                       field: str) -> None:
    async with served(redis_url) as api:
        response = await api.client.get(route, params=params)
        assert response.status_code == 400
        assert response.json()["error"].startswith(field + ":")


async def test_samples_needs_a_symbol(redis_url: str) -> None:
    async with served(redis_url) as api:
        response = await api.client.get("/api/market/open-interest/samples", params={"limit": 5})
        assert response.status_code == 400 and response.json()["error"].startswith("symbol: required")
        assert (await api.client.get("/api/market/open-interest/samples",
                                     params={"symbol": "BTCUSDT", "limit": 5000})).status_code == 200


async def test_alerts_newest_first_filtered_by_symbol_with_a_limit(redis_url: str) -> None:
    sent = [_alert("BTCUSDT" if i % 3 else "ETHUSDT", "UP" if i % 2 else "DOWN", T0 + i) for i in range(12)]
    async with served(redis_url) as api:
        response = await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in sent]})
        assert response.json() == {"accepted": 12}
        everything = await api.client.get("/api/open-interest-alerts")
        assert everything.status_code == 200
        assert everything.json() == {"symbol": None, "alerts": [alert_to_json(a) for a in reversed(sent)]}
        limited = (await api.client.get("/api/open-interest-alerts", params={"limit": 2})).json()["alerts"]
        assert [a["ts"] for a in limited] == [T0 + 11, T0 + 10]
        eth = (await api.client.get("/api/open-interest-alerts", params={"symbol": "ETHUSDT"})).json()
        assert eth["symbol"] == "ETHUSDT"
        assert [a["ts"] for a in eth["alerts"]] == [T0 + 9, T0 + 6, T0 + 3, T0]
        eth2 = (await api.client.get("/api/open-interest-alerts", params={"symbol": "ETHUSDT", "limit": 2})).json()
        assert [a["ts"] for a in eth2["alerts"]] == [T0 + 9, T0 + 6]
        assert (await api.client.get("/api/open-interest-alerts", params={"symbol": "XRPUSDT"})).json()["alerts"] == []


async def test_alerts_filter_reads_at_most_ten_times_the_limit(redis_url: str) -> None:
    async with served(redis_url) as api:
        old = _alert("ETHUSDT", "UP", T0)
        recent = [_alert("BTCUSDT", "UP", T0 + 1 + i) for i in range(25)]
        await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(a) for a in [old, *recent]]})
        near = await api.client.get("/api/open-interest-alerts", params={"symbol": "ETHUSDT", "limit": 3})
        assert near.json()["alerts"] == [alert_to_json(old)]  # within the 30 newest entries
        far = await api.client.get("/api/open-interest-alerts", params={"symbol": "ETHUSDT", "limit": 2})
        assert far.json()["alerts"] == []  # older than the 20 entries a limit of 2 reads


# ---- liquid universe and exchangeInfo ------------------------------------------------------


async def test_liquid_universe_answers_the_actors_view(redis_url: str) -> None:
    liquidity = FakeLiquidity()
    async with served(redis_url, liquidity) as api:
        response = await api.client.get("/api/market/open-interest/liquid-universe")
        assert response.status_code == 200
        assert response.json() == UNIVERSE.to_json()
        assert response.json()["meta"]["BTCUSDT"]["entered_at"] == T0 - 86_400_000
        assert liquidity.asked == [UNIVERSE_ASK]


async def test_futures_info_answers_the_cached_text_with_cors(redis_url: str) -> None:
    async with served(redis_url, FakeLiquidity()) as api:
        response = await api.client.get("/api/binance/futures/info", headers={"Origin": "https://example.org"})
        assert response.status_code == 200
        assert response.text == EXCHANGE_INFO  # as cached, not re-serialised
        assert response.headers["content-type"] == "application/json"
        assert response.headers["access-control-allow-origin"] == "*"

        preflight = await api.client.options("/api/binance/futures/info", headers={
            "Origin": "https://example.org", "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "X-Requested-With, Content-Type"})
        assert preflight.status_code == 204
        assert preflight.headers["access-control-allow-origin"] == "*"
        assert "GET" in preflight.headers["access-control-allow-methods"]
        assert preflight.headers["access-control-allow-headers"] == "X-Requested-With, Content-Type"
        hostile = await api.client.options("/api/binance/futures/info",
                                           headers={"Access-Control-Request-Headers": "a\tb; c=<d>"})
        assert hostile.status_code == 204 and "access-control-allow-headers" not in hostile.headers
        # the CORS header is on this route only
        other = await api.client.get("/api/market/open-interest/liquid-universe", headers={"Origin": "https://x.org"})
        assert "access-control-allow-origin" not in other.headers


async def test_futures_info_is_503_before_the_first_exchange_info(redis_url: str) -> None:
    async with served(redis_url, FakeLiquidity(exchange_info=None)) as api:
        response = await api.client.get("/api/binance/futures/info")
        assert response.status_code == 503
        assert "exchangeInfo" in response.json()["error"]
        assert response.headers["access-control-allow-origin"] == "*"


async def test_no_liquidity_service_is_503(redis_url: str) -> None:
    async with served(redis_url, liquidity=None) as api:
        for path in ("/api/market/open-interest/liquid-universe", "/api/binance/futures/info"):
            response = await api.client.get(path)
            assert response.status_code == 503, path
            assert "liquidity service unavailable" in response.json()["error"]


async def test_a_stuck_liquidity_service_is_503_after_the_timeout(redis_url: str) -> None:
    async with served(redis_url, FakeLiquidity(silent=True), timeout_s=0.2) as api:
        started = trio.current_time()
        for path in ("/api/market/open-interest/liquid-universe", "/api/binance/futures/info"):
            response = await api.client.get(path)
            assert response.status_code == 503
            assert "within 0.2 s" in response.json()["error"]
        assert trio.current_time() - started < 3.0


# ---- WebSocket /ws -------------------------------------------------------------------------


async def test_websocket_pushes_alerts_published_on_the_bus(redis_url: str) -> None:
    async with served(redis_url) as api:
        async with open_websocket_url(api.ws_url) as every, open_websocket_url(api.ws_url + "?symbol=BTCUSDT") as btc:
            await api.subscribers(2)
            for alert in (_alert("ETHUSDT", "UP", T0), _alert("BTCUSDT", "DOWN", T0 + 1, oi=800.0)):
                assert api.bus.publish_nowait(ALERT_TOPIC, alert)  # as the AlertActor does
            assert [await _next_json(every), await _next_json(every)] == [
                alert_to_json(_alert("ETHUSDT", "UP", T0)), alert_to_json(_alert("BTCUSDT", "DOWN", T0 + 1, oi=800.0))]
            assert (await _next_json(btc))["symbol"] == "BTCUSDT"


@pytest.mark.parametrize("query", ["symbol=btcusdt", "symbol=", "symbol=%3Cscript%3E"])
async def test_websocket_rejects_a_malformed_filter_with_1008(redis_url: str, query: str) -> None:
    async with served(redis_url) as api:
        async with open_websocket_url(f"{api.ws_url}?{query}") as ws:
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(3):
                await ws.get_message()
        assert closed.value.reason.code == 1008
        assert "symbol" in closed.value.reason.reason
        assert api.bus.subscription_count(ALERT_TOPIC) == 0


async def test_websocket_unsubscribes_when_the_client_leaves(redis_url: str) -> None:
    async with served(redis_url) as api:
        async with open_websocket_url(api.ws_url):
            await api.subscribers(1)
        await api.subscribers(0)
        assert api.bus.publish_nowait(ALERT_TOPIC, _alert())


async def test_a_slow_client_loses_the_oldest_alerts_and_never_blocks_the_publisher(redis_url: str) -> None:
    published = 1000
    async with served(redis_url) as api:
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            for i in range(published):  # in one go: the forwarder cannot run in between
                assert api.bus.publish_nowait(ALERT_TOPIC, _alert(ts=T0 + i))
            # 256 queued, plus the first one if the forwarder was already waiting for it
            dropped = api.dropped()
            assert dropped in (published - 256, published - 257)
            received = [(await _next_json(ws))["ts"] for _ in range(published - int(dropped))]
            assert received[-256:] == [T0 + i for i in range(published - 256, published)]  # the newest, in order
            assert received[:-256] in ([], [T0])
            with trio.move_on_after(0.2):
                pytest.fail(f"more than the queue held: {await ws.get_message()}")


async def test_shutdown_closes_open_websockets_with_1001(redis_url: str) -> None:
    async with served(redis_url) as api:
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            api.ctx.stopping.set()
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(1.5):  # < hypercorn's 2 s grace
                await ws.get_message()
        assert closed.value.reason.code == 1001
        await api.subscribers(0)


# ---- GET /debug/open-interest --------------------------------------------------------------


async def test_debug_page_shows_the_universe_charts_and_alerts_escaped(redis_url: str) -> None:
    # another writer's entry with hostile text in every field, in the stream the AlertActor reads back at
    # start: escaped, never markup
    hostile = {**alert_to_json(_alert()), "symbol": "<script>alert(1)</script>", "direction": "\"><img src=x>",
               "pct_change": "<b>bold</b>", "window_min": "<i>"}
    with redis.Redis.from_url(redis_url, decode_responses=True) as raw:
        raw.xadd(keys.OI_ALERTS, {"symbol": "X", "direction": "UP", "type": "open_interest_alert",
                                  "ts": str(T0), "payload": json.dumps(hostile)})
    async with served(redis_url, FakeLiquidity()) as api:
        items = [_item("BTCUSDT", 1000.0 + 10 * i, T0 + i * 60_000, oi_usd=6.5e7) for i in range(10)]
        await api.client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": items})
        await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(_alert("ETHUSDT", "DOWN", T0))]})
        response = await api.client.get("/debug/open-interest")
        assert response.status_code == 200
        assert response.headers["content-type"].startswith("text/html")
        assert "default-src 'none'" in response.headers["content-security-policy"]
        page = response.text
        assert page.startswith("<!DOCTYPE html>")
        assert "BTCUSDT" in page and "ETHUSDT" in page and "9.50B" in page  # the universe and its volume
        assert page.index("BTCUSDT") < page.index("ETHUSDT")  # sorted by volume
        assert page.count("<polyline") == 1  # BTCUSDT has a chart, ETHUSDT no samples yet
        assert "no samples" in page
        assert "Recent alerts: 2" in page and "DOWN" in page
        # the only script is the engine's own live.js (same origin, allowed by the CSP; no inline code)
        assert page.count("<script") == 1 and '<script src="/static/live.js" defer></script>' in page
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "<img" not in page and "<b>" not in page and "<i>" not in page
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&quot;&gt;&lt;img src=x&gt;" in page
        assert "http://" not in page.replace('xmlns="http://www.w3.org/2000/svg"', "")  # no external assets
        assert "https://" not in page


async def test_debug_page_renders_without_the_liquidity_service(redis_url: str) -> None:
    async with served(redis_url, liquidity=None) as api:
        await api.client.post(ALERTS, headers=ADMIN, json={"items": [alert_to_json(_alert())]})
        response = await api.client.get("/debug/open-interest")
        assert response.status_code == 200
        assert "liquidity service unavailable" in response.text
        assert "Recent alerts: 1" in response.text


def test_render_page_escapes_text_and_charts_a_flat_series() -> None:
    """Pure: a symbol that could never pass validation is still escaped; flat and single-point charts."""
    view = UniverseView(("<BAD&SYM>", "ONE"), {"<BAD&SYM>": LiquidMeta(5e6, T0, T0), "ONE": LiquidMeta(4e6, T0, T0)},
                        None)
    flat = [Sample("<BAD&SYM>", 5.0, T0 + i) for i in range(3)]
    page = render_page(view, {"<BAD&SYM>": flat, "ONE": [Sample("ONE", 1.0, T0)]},
                       [{"symbol": "<x>", "direction": "UP", "ts": "<t>"}], T0, notes=["<note>"])
    assert "<BAD" not in page and "&lt;BAD&amp;SYM&gt;" in page
    assert "&lt;x&gt;" in page and "&lt;t&gt;" in page and "&lt;note&gt;" in page
    assert 'points="2.0,16.0 80.0,16.0 158.0,16.0"' in page  # flat: mid-height, spread over the width
    assert "<circle" in page  # one sample: a dot
    assert "updated never" in page


# ---- mounted in the real engine ------------------------------------------------------------


async def test_router_mounts_in_the_engine(tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url, env={"ENGINE_ADMIN_TOKEN": TOKEN})

    async def body(client: httpx.AsyncClient) -> None:
        while (universe := await client.get("/api/market/open-interest/liquid-universe")).status_code == 503:
            await trio.sleep(0.02)
        assert universe.json() == UNIVERSE.to_json()
        ingest = await client.post(SAMPLES, headers=ADMIN, json={"source": "realtime", "items": [_item()]})
        assert ingest.json() == {"accepted": 1}
        read = await client.get("/api/market/open-interest/samples", params={"symbol": "BTCUSDT"})
        assert [s["open_interest"] for s in read.json()["samples"]] == [1000.0]
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {SAMPLES, ALERTS, "/api/market/open-interest/samples", "/api/open-interest-alerts",
                "/api/market/open-interest/liquid-universe", "/api/binance/futures/info",
                "/debug/open-interest"} <= paths.keys()

    assert await with_engine(loaded, body, (ChildSpec("liquidity", FakeLiquidity),), (oi_router,)) == 0
