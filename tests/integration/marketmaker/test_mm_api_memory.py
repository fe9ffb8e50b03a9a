"""The market-making API answers from the market makers' memory: a MarketMakerActor on the paper
venue, fed the simulated Binance's books, keeps answering ``/api/mm``, ``/api/mm/{pair}`` and
``/debug/mm`` with its live quotes while the private redis-server is killed, in the shape Redis
holds; a pair whose market maker does not answer is read from Redis, as last written.

Real HTTP (hypercorn, trio worker), a real Bus and a real redis-server of the test's own.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import httpx
import trio

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.api import make_mm_router
from engine import keys
from engine.redis_embedded import EmbeddedRedis
from tests.integration.api_support import api_served
from tests.integration.marketmaker.test_market_maker import MmRig, mm_rig, pair

PAIRS = ("BTCUSDT", "ETHUSDT")  # ETHUSDT is configured but has no market maker running


@asynccontextmanager
async def quoting(redis_url: str) -> AsyncIterator[tuple[MmRig, MarketMakerActor, httpx.AsyncClient]]:
    """A BTCUSDT market maker quoting, and the API the engine mounts for ``PAIRS``, on one bus."""
    actor = MarketMakerActor(pair())
    async with mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 2 and actor.live, 20)
        api_ctx = attrs.evolve(rig.ctx, name="api", stopping=trio.Event())
        async with api_served(api_ctx, (make_mm_router(PAIRS),)) as url, \
                httpx.AsyncClient(base_url=url, timeout=10) as client:
            yield rig, actor, client


async def get_json(client: httpx.AsyncClient, path: str) -> Any:
    response = await client.get(path)
    assert response.status_code == 200, (path, response.text)
    return response.json()


def check_quotes(document: dict[str, Any]) -> None:
    """A pair document of a quoting market maker: every live order, asks then bids, highest price first."""
    status, orders = document["status"], document["orders"]
    assert status["pair"] == "BTCUSDT" and status["venue"] == "paper" and status["rounds"] >= 2
    assert len(orders) == status["live_orders"] > 0
    sides = [o["side"] for o in orders]
    assert sides == sorted(sides, key=lambda side: side != "SELL") and {"BUY", "SELL"} <= set(sides)
    for side in ("SELL", "BUY"):
        prices = [Decimal(o["price"]) for o in orders if o["side"] == side]
        assert prices == sorted(prices, reverse=True)
    assert all(o["client_id"].startswith("mm-BTCUSDT") and o["ladder"] in ("near", "far") for o in orders)
    assert isinstance(document["book_age_ms"], int)


async def test_the_api_answers_from_the_market_makers_memory_while_redis_is_down(
        private_redis: EmbeddedRedis) -> None:
    async with quoting(private_redis.url) as (rig, actor, client):
        with_redis = await get_json(client, "/api/mm/BTCUSDT")
        check_quotes(with_redis)
        await rig.ctx.store.flush(5.0)
        written = json.loads(rig.redis.get(keys.mm_status("BTCUSDT")))
        assert set(with_redis["status"]) == set(written)  # the document the actor writes, in the same shape
        assert set(with_redis) == {"pair", "status", "orders", "book_age_ms"}

        await trio.to_thread.run_sync(private_redis.kill)
        first = await get_json(client, "/api/mm/BTCUSDT")
        check_quotes(first)
        assert set(first) == set(with_redis) and set(first["status"]) == set(written)
        rounds = first["status"]["rounds"]
        await rig.until(lambda: actor.rounds >= rounds + 3, 20)  # still quoting, from memory
        later = await get_json(client, "/api/mm/btcusdt")
        check_quotes(later)
        assert later["status"]["rounds"] >= rounds + 3 and later["status"]["ts"] > first["status"]["ts"]

        listed = (await get_json(client, "/api/mm"))["pairs"]
        assert [p["pair"] for p in listed] == list(PAIRS)
        assert listed[0]["status"]["pair"] == "BTCUSDT" and "problems" not in listed[0]
        assert listed[1]["status"] is None  # no market maker and no Redis: said so, not a 503 for the list
        assert listed[1]["problems"][0].startswith("market maker not answering and redis unavailable")
        missing = await client.get("/api/mm/ETHUSDT")
        assert missing.status_code == 503
        assert "market maker not answering and redis unavailable" in missing.json()["error"]

        page = await client.get("/debug/mm")
        assert page.status_code == 200
        btc = page.text[page.text.index("<h2>BTCUSDT</h2>"):]
        assert "Quotes: " in btc and "bid " in btc and " / ask " in btc  # the top of the book the actor holds
        assert "ETHUSDT: market maker not answering and redis unavailable" in page.text
        assert rig.ctx.store.status().connected is False


async def test_a_market_maker_that_does_not_answer_is_read_as_last_written(redis_url: str) -> None:
    async with quoting(redis_url) as (rig, actor, client):
        rig.stopping.set()  # the market maker cancels its quotes, writes its last state and stops answering
        await rig.until(lambda: actor.remaining_after_stop is not None, 20)
        await rig.ctx.store.flush(5.0)
        document = await get_json(client, "/api/mm/BTCUSDT")
        assert document["status"] == json.loads(rig.redis.get(keys.mm_status("BTCUSDT")))
        assert document["status"]["remaining_after_stop"] == 0 and document["orders"] == []
        eth = await get_json(client, "/api/mm/ETHUSDT")
        assert eth == {"pair": "ETHUSDT", "status": None, "orders": [], "book_age_ms": None}
