"""The market-making API and page over real HTTP (hypercorn, trio worker), reading a real private
Redis through a RedisStore; the state is written with redis-py, as the MarketMakerActor's
writer leaves it (``mm:{PAIR}:status`` JSON, ``mm:{PAIR}:orders`` hash)."""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import redis
import structlog
import trio

from actors.marketmaker.api import make_mm_router
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.api_support import api_served

PAIRS = ("BTCUSDT", "ETHUSDT")


@attrs.define
class Served:
    client: httpx.AsyncClient
    raw: redis.Redis


@asynccontextmanager
async def served(redis_url: str, pairs: tuple[str, ...] = PAIRS) -> AsyncIterator[Served]:
    """``build_app`` served by the ApiActor with the router ``run.py`` mounts."""
    metrics, log = EngineMetrics(), structlog.get_logger()
    store = RedisStore(redis_url, clock=Clock(), log=log, metrics=metrics)
    ctx = ActorContext(name="api", bus=Bus(metrics), store=store, clock=Clock(), log=log, metrics=metrics)
    raw = redis.Redis.from_url(redis_url, decode_responses=True)
    try:
        with trio.fail_after(30):
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                async with api_served(ctx, (make_mm_router(pairs),)) as url, \
                        httpx.AsyncClient(base_url=url, timeout=10) as client:
                    yield Served(client, raw)
                await store.aclose(timeout_s=2.0)
                nursery.cancel_scope.cancel()
    finally:
        raw.close()


def now_ms() -> int:
    return int(time.time() * 1000)


def status_doc(pair: str = "BTCUSDT", **changes: Any) -> dict[str, Any]:
    """The document MarketMakerActor._write_state sets."""
    ts = now_ms()
    return {"pair": pair, "venue": "paper", "ts": ts, "rounds": 12, "live_orders": 4, "placed": 30, "cancelled": 26,
            "rejected": 1, "pulls": 0, "rollbacks": 0, "errors": 0, "book_ts": ts - 1500,
            "remaining_after_stop": None, **changes}


def order(side: str, price: str, qty: str, ladder: str = "near", order_id: int = 1) -> str:
    return json.dumps({"side": side, "price": price, "qty": qty, "ladder": ladder, "order_id": order_id})


def write_state(raw: redis.Redis, pair: str = "BTCUSDT", status: dict[str, Any] | None = None,
                orders: dict[str, str] | None = None) -> None:
    raw.set(keys.mm_status(pair), json.dumps(status if status is not None else status_doc(pair)))
    if orders:
        raw.hset(keys.mm_orders(pair), mapping=orders)


BTC_ORDERS = {
    "mm-BTCUSDT-r1-1": order("BUY", "64990.10", "0.002", order_id=11),
    "mm-BTCUSDT-r1-2": order("SELL", "65010.30", "0.002", order_id=12),
    "mm-BTCUSDT-r1-3": order("SELL", "65640.00", "0.010", "far", order_id=13),
    "mm-BTCUSDT-r1-4": order("BUY", "64350.00", "0.010", "far", order_id=14),
}


# ---- GET /api/mm/{pair} ---------------------------------------------------------------------------


async def test_pair_answers_status_and_orders_as_a_ladder(redis_url: str) -> None:
    async with served(redis_url) as api:
        write_state(api.raw, orders=BTC_ORDERS)
        response = await api.client.get("/api/mm/BTCUSDT")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"pair", "status", "orders", "book_age_ms"}
    assert body["pair"] == "BTCUSDT"
    status = body["status"]
    assert {k: status[k] for k in ("pair", "venue", "rounds", "live_orders", "placed", "rejected")} == {
        "pair": "BTCUSDT", "venue": "paper", "rounds": 12, "live_orders": 4, "placed": 30, "rejected": 1}
    assert 1500 <= body["book_age_ms"] < 1500 + 10_000
    # asks then bids, highest price first; prices and sizes are the exact strings written
    assert [(o["side"], o["price"], o["qty"], o["ladder"]) for o in body["orders"]] == [
        ("SELL", "65640.00", "0.010", "far"), ("SELL", "65010.30", "0.002", "near"),
        ("BUY", "64990.10", "0.002", "near"), ("BUY", "64350.00", "0.010", "far")]
    assert body["orders"][0] == {"client_id": "mm-BTCUSDT-r1-3", "side": "SELL", "price": "65640.00",
                                 "qty": "0.010", "ladder": "far", "order_id": 13}


async def test_a_configured_pair_without_state_yet_is_200_with_null_status(redis_url: str) -> None:
    async with served(redis_url) as api:
        response = await api.client.get("/api/mm/ETHUSDT")
    assert response.status_code == 200
    assert response.json() == {"pair": "ETHUSDT", "status": None, "orders": [], "book_age_ms": None}


async def test_pair_names_are_case_insensitive(redis_url: str) -> None:
    async with served(redis_url) as api:
        write_state(api.raw)
        response = await api.client.get("/api/mm/btcusdt")
    assert response.status_code == 200 and response.json()["pair"] == "BTCUSDT"


async def test_an_unknown_pair_is_404_even_with_keys_in_redis(redis_url: str) -> None:
    async with served(redis_url) as api:
        write_state(api.raw, "SOLUSDT", status_doc("SOLUSDT"))  # keys another writer left: still not ours
        unknown = await api.client.get("/api/mm/SOLUSDT")
        junk = await api.client.get("/api/mm/%3Cscript%3E")
    assert unknown.status_code == 404
    assert unknown.json() == {"error": "pair: 'SOLUSDT' is not configured", "pairs": ["BTCUSDT", "ETHUSDT"]}
    assert junk.status_code == 404


async def test_malformed_state_is_reported_not_fatal(redis_url: str) -> None:
    async with served(redis_url) as api:
        api.raw.set(keys.mm_status("BTCUSDT"), "{not json")
        api.raw.hset(keys.mm_orders("BTCUSDT"), mapping={"a": "[]", "b": order("BUY", "1.5", "2"), "c": "x"})
        response = await api.client.get("/api/mm/BTCUSDT")
    assert response.status_code == 200
    body = response.json()
    assert body["status"] is None and [o["client_id"] for o in body["orders"]] == ["b"]
    assert body["problems"][0].startswith("status is not JSON")
    assert body["problems"][1] == "2 malformed order entries skipped"


# ---- GET /api/mm --------------------------------------------------------------------------------


async def test_list_has_every_configured_pair_with_its_status(redis_url: str) -> None:
    async with served(redis_url) as api:
        write_state(api.raw, orders=BTC_ORDERS)
        write_state(api.raw, "SOLUSDT", status_doc("SOLUSDT"))  # not configured: not listed
        response = await api.client.get("/api/mm")
    assert response.status_code == 200
    pairs = response.json()["pairs"]
    assert [p["pair"] for p in pairs] == ["BTCUSDT", "ETHUSDT"]
    assert pairs[0]["status"]["rounds"] == 12 and pairs[0]["book_age_ms"] >= 1500
    assert pairs[1] == {"pair": "ETHUSDT", "status": None, "book_age_ms": None}


# ---- GET /debug/mm ------------------------------------------------------------------------------


async def test_debug_page_renders_quotes_counters_and_book_escaped(redis_url: str) -> None:
    async with served(redis_url) as api:
        write_state(api.raw, orders=BTC_ORDERS)
        api.raw.set(keys.orderbook("binance", "BTCUSDT"), json.dumps(
            {"bids": [["65000.00", "1.2"]], "asks": [["65000.20", "0.8"]], "ts": now_ms()}))
        # another writer's hostile text, in the status and in an order: escaped, never markup
        hostile = status_doc("ETHUSDT", venue="<script>alert(1)</script>", note="\"><img src=x>", position="-0.040",
                             realised_pnl="1.2345", unrealised_pnl="-0.5")
        write_state(api.raw, "ETHUSDT", hostile, {"<b>id</b>": order("SELL", "3200.5", "<i>1</i>")})
        response = await api.client.get("/debug/mm")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/html")
    assert "default-src 'none'" in response.headers["content-security-policy"]
    page = response.text
    assert page.startswith("<!DOCTYPE html>")
    assert "Market making: 2 pairs" in page
    assert page.index("<h2>BTCUSDT</h2>") < page.index("<h2>ETHUSDT</h2>")
    btc = page[page.index("<h2>BTCUSDT</h2>"):page.index("<h2>ETHUSDT</h2>")]
    # the ladder: asks high to low, the book, bids high to low
    order_of = [btc.index(text) for text in ("65640.00", "65010.30", "bid 65000.00 / ask 65000.20", "64990.10",
                                             "64350.00")]
    assert order_of == sorted(order_of)
    assert "Quotes: 4 open (2 asks, 2 bids)" in btc
    assert "<th>rounds</th>" in btc and "<td>12</td>" in btc and "<th>rejected</th>" in btc
    assert "not reported by the market maker" in btc  # no position/PnL in the status: said so
    eth = page[page.index("<h2>ETHUSDT</h2>"):]
    assert "<td>-0.040</td>" in eth and "<td>1.2345</td>" in eth and "realised_pnl" in eth
    age = re.search(r"book quoted from: ([0-9.]+) s old", btc)
    assert age is not None and 1.5 <= float(age.group(1)) < 11.5  # the status's book_ts was 1.5 s old
    assert "<td>+98.4</td>" in btc and "<td>-1.5</td>" in btc  # bps from the mid (65000.10)
    assert "<script" not in page and "<img" not in page and "<b>" not in page and "<i>" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page and "&quot;&gt;&lt;img src=x&gt;" in page
    assert "&lt;b&gt;id&lt;/b&gt;" in page and "&lt;i&gt;1&lt;/i&gt;" in page
    assert "http://" not in page and "https://" not in page  # no external assets


async def test_debug_page_with_no_state_yet(redis_url: str) -> None:
    async with served(redis_url) as api:
        response = await api.client.get("/debug/mm")
    assert response.status_code == 200
    assert response.text.count("no status written yet") == 2
