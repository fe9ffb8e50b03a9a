"""A ChainActor wired to the simulated Dhan (real HTTP and websockets) and a real private Redis."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import attrs
import httpx
import redis as redis_py
import structlog
import trio

from actors.optionchain.actor import ChainActor, UnderlyingPlan
from adapters.dhan.client import DhanClient
from adapters.sim.dhan_rest import INSTRUMENT_MASTER_PATH
from engine import keys
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.store import RedisStore
from tests.integration.dhan.dhan_support import CLIENT_ID, DAY, TOKEN, DhanBed, dhan_bed, dhan_rest

IST = timezone(timedelta(hours=5, minutes=30))
NIFTY = UnderlyingPlan("NIFTY", 13, "IDX_I", "index_major", 2)
FAST = {"first_tick_wait_s": 2.0, "watchdog_silence_s": 2.0, "feed_backoff_initial_s": 0.1,
        "feed_backoff_max_s": 1.0, "market_check_interval_s": 0.5}


def ist_s(day: date, at: time) -> float:
    return datetime.combine(day, at, IST).timestamp()


@attrs.define
class ChainRig:
    bed: DhanBed
    ctx: ActorContext
    actor: ChainActor
    redis: redis_py.Redis

    def doc(self, underlying: str, expiry: str) -> dict[str, Any] | None:
        raw = self.redis.get(keys.optionchain(underlying, expiry))
        return json.loads(raw) if raw else None

    def health(self, name: str) -> Any:
        return next((s for s in self.ctx.health.snapshot() if s.name == name), None)

    async def until(self, condition: Any, timeout_s: float, step_s: float = 0.05) -> None:
        with trio.fail_after(timeout_s):
            while not condition():
                await trio.sleep(step_s)

    async def flushed(self) -> None:
        await self.ctx.store.flush(timeout_s=5.0)


@asynccontextmanager
async def chain_rig(redis_url: str, plans: tuple[UnderlyingPlan, ...] = (NIFTY,), *, venue: bool = True,
                    epoch_s: float | None = None, dhan_options: dict[str, Any] | None = None,
                    prepare: Callable[[DhanBed], None] | None = None, **actor_options: Any) -> AsyncIterator[ChainRig]:
    """The actor on an engine clock at ``epoch_s`` (default 10:00 IST of the simulator's day);
    ``prepare`` sets up the venue (faults, listings) before the actor starts."""
    options = {"step_interval_s": 0.2, "underlyings": tuple(p.name for p in plans), **(dhan_options or {})}
    async with dhan_bed(**options) as bed:
        log = structlog.get_logger()
        if prepare is not None:
            prepare(bed)
        async with dhan_rest(bed) as rest, httpx.AsyncClient(timeout=10.0) as master_http:
            client = DhanClient(rest, bed.feed_url, bed.urls["dhan"] + INSTRUMENT_MASTER_PATH, master_http, TOKEN,
                                CLIENT_ID, bed.clock, log)
            clock, metrics = Clock(epoch_s=epoch_s if epoch_s is not None else ist_s(DAY, time(10, 0))), EngineMetrics()
            store = RedisStore(redis_url, clock=clock, log=log, metrics=metrics)
            reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
            async with trio.open_nursery() as nursery:
                await nursery.start(store.run)
                ctx = ActorContext(name="optionchain", bus=Bus(metrics), store=store, clock=clock,
                                   log=log.bind(actor="optionchain"), metrics=metrics,
                                   venues={"dhan": client} if venue else {})
                actor = ChainActor(plans, **{**FAST, **actor_options})
                nursery.start_soon(actor.run, ctx)
                try:
                    yield ChainRig(bed, ctx, actor, reader)
                finally:
                    nursery.cancel_scope.cancel()
                    reader.close()
