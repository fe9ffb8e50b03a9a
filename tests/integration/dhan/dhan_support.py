"""The simulated Dhan venue on loopback and Dhan adapters pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import date
from typing import Any

import attrs
import httpx
import structlog
import trio

from adapters.dhan.feed import DhanFeedConnection
from adapters.dhan.rest import DhanRest
from adapters.sim.venues import SimPorts, SimVenues
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket

TOKEN, CLIENT_ID = "t", "1"
DAY = date(2025, 10, 14)
NIFTY = (13, "IDX_I")


@attrs.define
class DhanBed:
    venues: SimVenues
    urls: dict[str, str]
    clock: Clock

    @property
    def rest_url(self) -> str:
        return self.urls["dhan"] + "/v2"

    @property
    def feed_url(self) -> str:
        return self.urls["dhan"].replace("http://", "ws://")

    @property
    def market(self) -> Any:
        return self.venues.venue("dhan").market

    def stats(self) -> Any:
        return self.venues.accounting("dhan").clients[CLIENT_ID]

    def faults(self) -> Any:
        return self.venues.faults("dhan")

    def expiries(self) -> list[str]:
        return [e.isoformat() for e in self.market.expiries("NIFTY")]

    def option_ids(self, count: int) -> list[tuple[str, int]]:
        """``count`` NIFTY option security ids, expiry by expiry."""
        ids: list[tuple[str, int]] = []
        for expiry in self.market.expiries("NIFTY"):
            for _, legs in self.market.chain("NIFTY", expiry):
                ids += [("NSE_FNO", sid) for sid in legs.values()]
        assert len(ids) >= count
        return ids[:count]

    def feed(self, token: str = TOKEN, **options: Any) -> DhanFeedConnection:
        return DhanFeedConnection(self.feed_url, token, CLIENT_ID, structlog.get_logger(), **options)


@asynccontextmanager
async def dhan_bed(seed: int = 7, **dhan_options: Any) -> AsyncIterator[DhanBed]:
    clock = Clock()
    options = {"access_token": TOKEN, "client_id": CLIENT_ID, "today": DAY, "underlyings": ("NIFTY",),
               **dhan_options}
    sim = SimVenues(seed=seed, clock=clock, ports=SimPorts(venues={"dhan": 0}), options={"dhan": options})
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(sim.run)
        try:
            yield DhanBed(sim, urls, clock)
        finally:
            sim.stop()
            nursery.cancel_scope.cancel()


@attrs.define
class SendLog:
    """Monotonic time of every request the httpx client sent (an event hook)."""

    sent_s: list[tuple[str, float]] = attrs.field(factory=list)

    async def __call__(self, request: httpx.Request) -> None:
        self.sent_s.append((request.url.path, trio.current_time()))


@asynccontextmanager
async def dhan_rest(bed: DhanBed, sends: SendLog | None = None, **options: Any) -> AsyncIterator[DhanRest]:
    hooks = {"request": [sends]} if sends is not None else {}
    metrics = EngineMetrics()
    chain = TokenBucket(clock=bed.clock, venue="dhan", capacity=1, refill_per_s=1 / 3, metrics=metrics)
    quotes = TokenBucket(clock=bed.clock, venue="dhan", capacity=1, refill_per_s=1, metrics=metrics)
    options = {"backoff_initial_s": 0.2, "backoff_max_s": 1.0, "jitter_seed": 3, **options}
    async with httpx.AsyncClient(timeout=5.0, event_hooks=hooks) as http:
        yield DhanRest(bed.rest_url, http, chain, quotes, TOKEN, CLIENT_ID, bed.clock, structlog.get_logger(),
                       metrics, **options)
