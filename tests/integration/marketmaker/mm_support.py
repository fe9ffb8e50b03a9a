"""A rig for MarketMakerActor on the simulated Binance with SIGNED orders (the "binance" venue).

The simulated Binance alone on a free loopback port, accepting the simulator's own
credential and verifying every signature; BinancePublic (exchangeInfo) and BinanceSigned
(the orders) sharing one weight budget, as ``adapters.clients`` builds them; the book from
the simulator's depth stream through a BookFeedActor; a real Redis. The test reads the
venue through its own signed client (the same account) and the simulator in-process.
"""

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

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.book_feed import BookFeedActor
from actors.marketmaker.params import PairParams, example_pair_json, parse_pair_params
from adapters.binance.public import BinancePublic
from adapters.binance.signed import BinanceSigned
from adapters.clients import binance_budget
from adapters.sim.actor import SIM_CREDENTIALS, venue_options
from adapters.sim.venues import SimPorts, SimVenues
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.venues.venue_support import Sim, http_client

SYMBOL = "BTCUSDT"
KEY = SIM_CREDENTIALS["binance_api_key"]  # the account: the simulator's books know its orders by the key
SECRET = SIM_CREDENTIALS["binance_api_secret"]


def binance_pair(**changes: Any) -> PairParams:
    """A fast BTCUSDT pair on the "binance" venue: near 5 levels x2 every 0.2 s (5 to 17 bps, about
    0.025 BTC a side), far 5 levels x2 (1 to 5 %, 0.01 each: two batches of 5) every second."""
    doc = {**example_pair_json(), "venue": "binance", "near_interval_s": 0.2, "far_interval_s": 1.0,
           "stale_book_ms": 1000, "max_position": 0.2, **changes}
    return parse_pair_params(doc)


@attrs.define
class BinanceMmRig:
    sim: Sim
    ctx: ActorContext
    actor: MarketMakerActor
    signed: BinanceSigned  # the test's view of the account (shares the actor's client and budget)
    redis: redis_py.Redis
    nursery: trio.Nursery
    stopping: trio.Event
    started: bool = False

    @property
    def faults(self) -> Any:
        return self.sim.venues.faults("binance")

    @property
    def venue(self) -> Any:
        """The BinanceSim object itself (market, matching engine)."""
        return self.sim.venues.venue("binance")

    def stats(self) -> Any:
        return self.sim.stats("binance")

    def start(self) -> None:
        """Start the market maker (the rig starts it itself unless told not to)."""
        assert not self.started
        self.started = True
        self.nursery.start_soon(self.actor.run, attrs.evolve(self.ctx, name=f"mm_{self.actor.symbol}"))

    async def until(self, condition: Callable[[], Any], timeout_s: float) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(0.02)

    def engine_orders(self) -> list[Any]:
        """The account's open orders in the simulator's matching engine (no request)."""
        return self.venue.engine.open_orders(KEY, self.actor.symbol)

    async def open_ids(self) -> set[str]:
        return {o.client_order_id for o in await self.signed.open_orders(self.actor.symbol)}

    async def settled(self, timeout_s: float = 10.0) -> set[str]:
        """Wait until the venue's open orders are exactly the actor's live orders, with the
        actor's set unchanged across the request; those client ids."""
        with trio.fail_after(timeout_s):
            while True:
                before = set(self.actor.live)
                venue = await self.open_ids()
                if venue == before == set(self.actor.live):
                    return venue
                await trio.sleep(0.05)

    async def status(self) -> dict[str, Any]:
        await self.ctx.store.flush()
        raw = self.redis.get(keys.mm_status(self.actor.symbol))
        assert raw is not None
        return json.loads(raw)

    def health(self) -> Any:
        return next((s for s in self.ctx.health.snapshot() if s.name == self.actor.component), None)

    async def stop(self, timeout_s: float = 10.0) -> None:
        self.stopping.set()
        await self.until(lambda: self.actor.remaining_after_stop is not None, timeout_s)


@asynccontextmanager
async def binance_mm_rig(redis_url: str, actor: MarketMakerActor, *, start: bool = True,
                         http_timeout_s: float = 5.0, seed: int = 11,
                         **binance_options: Any) -> AsyncIterator[BinanceMmRig]:
    """The simulated Binance (``binance_options``: e.g. ``order_timeout_hang_s``), the clients,
    the book feed and (unless ``start=False``) the market maker, all in one nursery."""
    clock = Clock()
    options = {"binance": {**venue_options(dict(SIM_CREDENTIALS))["binance"], **binance_options}}
    venues = SimVenues(seed=seed, clock=clock, ports=SimPorts(venues={"binance": 0}), options=options)
    async with trio.open_nursery() as sim_nursery:
        urls = await sim_nursery.start(venues.run)
        sim = Sim(venues, urls, clock)
        try:
            async with http_client(http_timeout_s) as http:
                metrics, log = EngineMetrics(), structlog.get_logger()
                budget = binance_budget(clock, metrics)  # one per IP: public and signed calls share it
                public = BinancePublic(sim.binance_url, http, budget, clock, log, metrics)
                signed = BinanceSigned(sim.binance_url, http, budget, KEY, SECRET, clock, log, metrics,
                                       backoff_initial_s=0.05, backoff_max_s=0.5)
                store = RedisStore(redis_url, clock=clock, log=log, metrics=metrics)
                reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
                stopping = trio.Event()
                try:
                    async with trio.open_nursery() as nursery:
                        await nursery.start(store.run)
                        ctx = ActorContext(name="mm", bus=Bus(metrics), store=store, clock=clock, log=log,
                                           metrics=metrics, venues={"binance": public, "binance_orders": signed},
                                           stopping=stopping)
                        feed = BookFeedActor((actor.symbol,), "stream", ws_url=sim.binance_url.replace("http://", "ws://"))
                        nursery.start_soon(feed.run, attrs.evolve(ctx, name="book_feed", stopping=trio.Event()))
                        rig = BinanceMmRig(sim, ctx, actor, signed, reader, nursery, stopping)
                        if start:
                            rig.start()
                        try:
                            yield rig
                        finally:
                            nursery.cancel_scope.cancel()
                finally:
                    reader.close()
        finally:
            venues.stop()
            sim_nursery.cancel_scope.cancel()


def far_from(price: Decimal, mid: Decimal, pct: Decimal = Decimal("0.9")) -> bool:
    """Whether ``price`` is at least ``pct`` % away from ``mid`` (the far ladder starts at 1 %)."""
    return abs(price - mid) * 100 >= mid * pct


def mark(rig: BinanceMmRig) -> Decimal:
    return Decimal(repr(rig.venue.market.states[rig.actor.symbol].mark_price))
