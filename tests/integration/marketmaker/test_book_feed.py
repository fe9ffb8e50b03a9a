"""BookFeedActor against the simulated Binance over a real websocket and a real Redis:
books of two symbols on the bus and in ``orderbook:binance:{symbol}``, a dropped connection
reconnected, a silent stream caught by the watchdog, and the redis mode reading documents
another service writes (a malformed one skipped, a missing key publishing nothing)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import attrs
import redis as redis_py
import structlog
import trio

from actors.marketmaker.book_feed import BookFeedActor, book_topic, subscribe_book
from actors.marketmaker.ladders import Book
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.venues.venue_support import Sim, running_sim

SYMBOLS = ("BTCUSDT", "ETHUSDT")


@attrs.define
class BookRig:
    sim: Sim
    ctx: ActorContext
    redis: redis_py.Redis
    nursery: trio.Nursery

    @property
    def ws_url(self) -> str:
        return self.sim.binance_url.replace("http://", "ws://")

    def start(self, actor: BookFeedActor) -> BookFeedActor:
        self.nursery.start_soon(actor.run, attrs.evolve(self.ctx, name="book_feed"))
        return actor

    def faults(self) -> Any:
        return self.sim.venues.faults("binance")

    def health(self, name: str) -> Any:
        return next((s for s in self.ctx.health.snapshot() if s.name == name), None)

    async def until(self, condition: Callable[[], bool], timeout_s: float) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(0.02)


@asynccontextmanager
async def book_rig(redis_url: str) -> AsyncIterator[BookRig]:
    async with running_sim("binance") as sim:
        metrics, log = EngineMetrics(), structlog.get_logger()
        store = RedisStore(redis_url, clock=sim.clock, log=log, metrics=metrics)
        reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            ctx = ActorContext(name="book_feed", bus=Bus(metrics), store=store, clock=sim.clock, log=log,
                               metrics=metrics)
            try:
                yield BookRig(sim, ctx, reader, nursery)
            finally:
                nursery.cancel_scope.cancel()
                reader.close()


def collect(sub: Any, into: list[Book], nursery: trio.Nursery) -> None:
    async def drain() -> None:
        async for book in sub:
            into.append(book)
    nursery.start_soon(drain)


async def test_stream_publishes_books_of_two_symbols_and_writes_both_keys(redis_url: str) -> None:
    async with book_rig(redis_url) as rig:
        received: dict[str, list[Book]] = {s: [] for s in SYMBOLS}
        for symbol in SYMBOLS:
            collect(subscribe_book(rig.ctx.bus, "binance", symbol), received[symbol], rig.nursery)
        actor = rig.start(BookFeedActor(SYMBOLS, "stream", ws_url=rig.ws_url, backoff_initial_s=0.05))
        await rig.until(lambda: all(len(received[s]) >= 5 for s in SYMBOLS), 10)
        await rig.ctx.store.flush()
        documents = {s: json.loads(rig.redis.get(keys.orderbook("binance", s))) for s in SYMBOLS}
        health = rig.health("book:binance")
    for symbol in SYMBOLS:
        book = received[symbol][-1]
        assert isinstance(book, Book) and isinstance(book.bids[0][0], Decimal)
        assert book.best_bid < book.best_ask and 0 < len(book.bids) <= 20 and book.ts_ms > 0
        document = documents[symbol]
        assert document["symbol"] == symbol and document["ts"] > 0 and document["received_ts"] >= document["ts"] - 5000
        assert Decimal(document["bids"][0][0]) < Decimal(document["asks"][0][0])
        assert all(isinstance(p, str) and isinstance(q, str) for p, q in document["bids"] + document["asks"])
    assert actor.books >= 10 and actor.reconnects == 0 and actor.stalls == 0 and actor.skipped == 0
    assert actor.connections == 1 and rig.sim.stats("binance").max_connections == 1  # one combined connection
    assert health is not None and health.ok


async def test_dropped_connection_is_reconnected(redis_url: str) -> None:
    async with book_rig(redis_url) as rig:
        actor = rig.start(BookFeedActor(SYMBOLS, "stream", ws_url=rig.ws_url, backoff_initial_s=0.05,
                                        backoff_max_s=0.2))
        await rig.until(lambda: actor.books >= 4, 10)
        rig.faults().drop_connections()
        await rig.until(lambda: actor.reconnects >= 1, 10)
        after_drop = actor.books
        await rig.until(lambda: actor.books >= after_drop + 4, 10)
        health = rig.health("book:binance")
    assert actor.connections >= 2 and actor.stalls == 0 and "closed" in (actor.last_error or "")
    assert health is not None and health.ok


async def test_silent_stream_trips_the_watchdog_and_recovers(redis_url: str) -> None:
    async with book_rig(redis_url) as rig:
        actor = rig.start(BookFeedActor(SYMBOLS, "stream", ws_url=rig.ws_url, watchdog_silence_s=0.5,
                                        backoff_initial_s=0.05, backoff_max_s=0.2))
        await rig.until(lambda: actor.books >= 4, 10)
        rig.faults().set_silent(True)
        await rig.until(lambda: actor.stalls >= 1 and not rig.health("book:binance").ok, 5)  # reported on close
        stalled = rig.health("book:binance")
        rig.faults().set_silent(False)
        resumed = actor.books
        await rig.until(lambda: actor.books >= resumed + 4, 10)
        health = rig.health("book:binance")
    assert actor.reconnects >= 1 and "no data" in (actor.last_error or "")
    assert stalled is not None and not stalled.ok and "no data" in (stalled.detail or "")
    assert health is not None and health.ok


def document(ts_ms: int, bid: str = "100.1", ask: str = "100.2") -> str:
    return json.dumps({"symbol": "BTCUSDT", "bids": [[bid, "1.5"], ["100.0", "2"]], "asks": [[ask, "0.7"]],
                       "ts": ts_ms, "received_ts": ts_ms + 3, "u": 1})


async def test_redis_mode_picks_up_documents_and_skips_malformed_ones(redis_url: str) -> None:
    async with book_rig(redis_url) as rig:
        received: list[Book] = []
        silent: list[Book] = []
        collect(subscribe_book(rig.ctx.bus, "binance", "BTCUSDT", maxlen=8), received, rig.nursery)
        collect(subscribe_book(rig.ctx.bus, "binance", "ETHUSDT"), silent, rig.nursery)  # never written
        actor = rig.start(BookFeedActor(SYMBOLS, "redis", redis_poll_s=0.02))
        btc_key = keys.orderbook("binance", "BTCUSDT")
        rig.redis.set(btc_key, document(1_000))
        await rig.until(lambda: len(received) == 1, 5)
        waiting = rig.health("book:binance")
        rig.redis.set(btc_key, document(1_000, bid="99.9"))  # same ts: not a new book
        rig.redis.set(btc_key, '{"bids": [["100.3", "1"]], "asks": [["100.2", "1"]], "ts": 2000}')  # crossed
        await rig.until(lambda: actor.malformed >= 1, 5)
        rig.redis.set(btc_key, "{not json")
        await rig.until(lambda: actor.malformed >= 2, 5)
        await trio.sleep(0.1)  # the same malformed document read again is not counted again
        malformed_health = rig.health("book:binance")
        rig.redis.set(btc_key, document(3_000, bid="100.15"))
        await rig.until(lambda: len(received) == 2, 5)
        await trio.sleep(0.1)
    first, second = received
    assert first.ts_ms == 1_000 and first.bids == ((Decimal("100.1"), Decimal("1.5")), (Decimal("100.0"), Decimal("2")))
    assert first.asks == ((Decimal("100.2"), Decimal("0.7")),)
    assert second.ts_ms == 3_000 and second.best_bid == Decimal("100.15")
    assert actor.malformed == 2 and actor.books == 2 and silent == []
    assert waiting is not None and not waiting.ok and "ETHUSDT" in (waiting.detail or "")
    assert malformed_health is not None and "malformed" in (malformed_health.detail or "")
    assert rig.ctx.bus.subscription_count(book_topic("binance", "BTCUSDT")) == 1
