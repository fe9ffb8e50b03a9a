"""OIPollerActor: open interest of every liquid symbol, spending the weight budget evenly.

Binance has no all-symbols open interest, so each symbol costs one request (weight 1) per
round. The round's interval comes from ``poll_interval_s`` (N symbols over the configured
requests per minute, between the min and max interval) and the requests are spread evenly
over it (``spread_offsets_s``), never sent as a burst; each is its own task, so a slow answer
never delays the next send. One all-symbols ``premiumIndex`` (weight 10) per round gives the
mark prices for OI in USD. Universe changes are picked up at the next round without a
restart. Symbols that enter (and all of them at start) get their ring buffers backfilled
from ``openInterestHist`` (5 m rows, its own 1000-per-5-min cap), a few at a time, beside
the polling, so alerts have a baseline from the first minute.
"""

from __future__ import annotations

import math
from typing import Any

import attrs
import trio

from actors.oi.interval import poll_interval_s, spread_offsets_s
from actors.oi.payloads import Sample
from actors.oi.records import DEFAULT_SAMPLES_MAXLEN, record_samples
from actors.oi.topics import BACKFILL_TOPIC, SAMPLES_TOPIC, UNIVERSE_TOPIC, Backfill, universe_key
from adapters.binance.public import BinanceError
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable
from engine.bus import Overflow

COMPONENT = "oi_poller"
VENUE_ERRORS = (BinanceError, VenueUnavailable, VenueProtocolError, VenueHttpError)
HIST_PERIOD_S = 300  # openInterestHist rows of 5 minutes
PUBLISH_EVERY_S = 0.25  # samples go to Redis and the alert actor in batches at least this often
MAX_IN_FLIGHT = 64  # requests in flight at once (slow answers never pile up unbounded)


@attrs.define(eq=False)
class OIPollerActor:
    """See the module docstring. Counters for tests and the benchmark: ``requests``, ``samples``,
    ``failures``, ``rounds``, ``backfilled``; ``interval_s`` of the current round."""

    max_requests_per_min: int = 2000
    min_interval_s: float = 5.0
    max_interval_s: float = 20.0
    mark_prices: bool = True
    backfill: bool = True
    backfill_window_s: float = 3 * 3600.0
    backfill_concurrency: int = 4
    samples_maxlen: int = DEFAULT_SAMPLES_MAXLEN

    universe: frozenset[str] = attrs.field(init=False, factory=frozenset)
    interval_s: float = attrs.field(init=False, default=0.0)
    requests: int = attrs.field(init=False, default=0)
    samples: int = attrs.field(init=False, default=0)
    failures: int = attrs.field(init=False, default=0)
    rounds: int = attrs.field(init=False, default=0)
    backfilled: int = attrs.field(init=False, default=0)
    _changed: trio.Event = attrs.field(init=False, factory=trio.Event)
    _backfill_send: Any = attrs.field(init=False, default=None)
    _pending: list[Sample] = attrs.field(init=False, factory=list)
    _limit: trio.CapacityLimiter = attrs.field(init=False, factory=lambda: trio.CapacityLimiter(MAX_IN_FLIGHT))

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name)
        binance = ctx.venues.get("binance")
        if binance is None:
            ctx.report(COMPONENT, False, "no Binance client: [venues.binance] is not configured")
            await trio.sleep_forever()
        send, receive = trio.open_memory_channel[str](10_000)  # bounded: at most every listed symbol, twice
        self._backfill_send = send
        with ctx.bus.subscribe(UNIVERSE_TOPIC, maxlen=1, overflow=Overflow.CONFLATE, key=universe_key) as universe:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_universe, universe, log)
                nursery.start_soon(self._flush_loop, ctx)
                if self.backfill:
                    for _ in range(self.backfill_concurrency):
                        nursery.start_soon(self._backfill_worker, ctx, binance, receive.clone(), log)
                await self._poll(ctx, binance, log)

    # ------------------------------------------------------------------ universe
    async def _follow_universe(self, sub: Any, log: Any) -> None:
        async for change in sub:
            entered = change.universe - self.universe
            self.universe = change.universe
            if self.backfill:
                for symbol in sorted(entered):
                    try:
                        self._backfill_send.send_nowait(symbol)
                    except trio.WouldBlock:
                        log.warning("backfill_queue_full", symbol=symbol)
            self._changed.set()

    # ------------------------------------------------------------------ polling
    async def _poll(self, ctx: Any, binance: Any, log: Any) -> None:
        while True:
            if not self.universe:
                ctx.report(COMPONENT, True, "waiting for the liquid universe")
                await self._changed.wait()
                self._changed = trio.Event()
                continue
            symbols = sorted(self.universe)
            self.interval_s = poll_interval_s(len(symbols), self.max_requests_per_min, self.min_interval_s,
                                              self.max_interval_s)
            started_s = ctx.clock.monotonic()
            marks = await self._marks(binance, log) if self.mark_prices else {}
            async with trio.open_nursery() as requests:
                for symbol, offset_s in spread_offsets_s(symbols, self.interval_s):
                    await trio.sleep_until(started_s + offset_s)
                    if symbol in self.universe:  # it may have left mid-round
                        requests.start_soon(self._fetch, ctx, binance, symbol, marks, log)
            self.rounds += 1
            ctx.report(COMPONENT, True, f"{len(symbols)} symbols every {self.interval_s:g} s "
                                        f"({len(symbols) * 60 / self.interval_s:.0f} requests/min)")
            await trio.sleep_until(max(started_s + self.interval_s, ctx.clock.monotonic()))

    async def _marks(self, binance: Any, log: Any) -> dict[str, float]:
        try:
            return {symbol: p.mark_price for symbol, p in (await binance.premium_indexes()).items()}
        except VENUE_ERRORS as error:
            log.warning("mark_prices_failed", error=f"{type(error).__name__}: {error}")
            return {}

    async def _fetch(self, ctx: Any, binance: Any, symbol: str, marks: dict[str, float], log: Any) -> None:
        async with self._limit:
            self.requests += 1
            try:
                oi = await binance.open_interest(symbol)
            except VENUE_ERRORS as error:
                self.failures += 1
                log.warning("open_interest_failed", symbol=symbol, error=f"{type(error).__name__}: {error}")
                return
        mark = marks.get(symbol)
        self._pending.append(Sample(symbol, oi.open_interest, oi.ts_ms, mark_price=mark,
                                    oi_usd=oi.open_interest * mark if mark is not None else None))

    async def _flush_loop(self, ctx: Any) -> None:
        """Samples to Redis (one writer flush) and to the alert actor, in batches."""
        while True:
            await trio.sleep(PUBLISH_EVERY_S)
            if self._pending:
                batch, self._pending = tuple(self._pending), []
                record_samples(ctx.store, batch, self.samples_maxlen)
                self.samples += len(batch)
                await ctx.bus.publish(SAMPLES_TOPIC, batch)

    # ------------------------------------------------------------------ backfill
    async def _backfill_worker(self, ctx: Any, binance: Any, symbols: Any, log: Any) -> None:
        limit = min(500, math.ceil(self.backfill_window_s / HIST_PERIOD_S) + 1)
        async with symbols:
            async for symbol in symbols:
                try:
                    rows = await binance.open_interest_hist(symbol, "5m", limit)
                except VENUE_ERRORS as error:
                    log.warning("backfill_failed", symbol=symbol, error=f"{type(error).__name__}: {error}")
                    continue
                history = tuple((r.ts_ms, r.open_interest, r.open_interest_value) for r in rows)
                await ctx.bus.publish(BACKFILL_TOPIC, Backfill(symbol, history))
                self.backfilled += 1
