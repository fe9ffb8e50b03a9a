"""InstrumentsActor: lists BTC, ETH and ARB options daily at 08:00 UTC and on request.

It keeps each market's last listing in memory with what it was computed from, and answers
``VIEW_TOPIC`` asks with them, so the operator page shows (and draws) exactly what was listed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import attrs
import trio

from actors.instruments.index_price import IndexPrice
from actors.instruments.maturities import live_maturities
from actors.instruments.plan import MarketPlan, MarketRules, chunks, plan_market, plan_set_update
from engine import keys
from engine.actor import ActorContext
from engine.bus import Overflow
from engine.requests import Ask

REGENERATE_TOPIC = "instruments.regenerate"
VIEW_TOPIC = "instruments.view"  # payload None -> tuple[MarketState, ...] in the configured order
DAY_S = 86_400


def next_run_s(now_s: float, run_at_utc: str) -> float:
    """The next wall-clock instant (Unix s) at ``HH:MM`` UTC strictly after ``now_s``."""
    hours, minutes = (int(part) for part in run_at_utc.split(":"))
    day_start = now_s - now_s % DAY_S
    candidate = day_start + hours * 3600 + minutes * 60
    return candidate if candidate > now_s else candidate + DAY_S


@attrs.frozen
class MarketResult:
    """One market's outcome, as logged, shown in /health and answered to POST /instruments."""

    market: str
    ok: bool
    added: int = 0
    removed: int = 0
    live: int | None = None
    maturities: int = 0
    failed_maturities: dict[str, str] = attrs.field(factory=dict)
    error: str | None = None


@attrs.frozen
class MarketListing:
    """A market's last listing written to Redis, with its inputs: the ladders can be drawn again."""

    rules: MarketRules
    updated_ms: int
    forward: float  # the index price it was listed around
    plan: MarketPlan
    svi_by_code: Mapping[str, str | bytes | None]


@attrs.frozen
class MarketState:
    """One market for the operator page: the last attempt and the last listing that was written."""

    market: str
    attempt_ms: int | None = None
    result: MarketResult | None = None
    listing: MarketListing | None = None


@attrs.define
class InstrumentsActor:
    """Serialises every update (schedule and requests share one lock) so two never overlap."""

    rules: tuple[MarketRules, ...]
    run_at_utc: str = "08:00"
    max_index_age_s: float = 60.0
    run_at_start: bool = True
    startup_wait_s: float = 15.0
    sadd_chunk: int = 1000
    commit_timeout_s: float = 30.0
    _prices: dict[str, IndexPrice] = attrs.field(factory=dict, init=False)
    _lock: trio.Lock = attrs.field(factory=trio.Lock, init=False)
    _have_prices: trio.Event = attrs.field(factory=trio.Event, init=False)
    _listings: dict[str, MarketListing] = attrs.field(factory=dict, init=False)
    _attempts: dict[str, tuple[int, MarketResult]] = attrs.field(factory=dict, init=False)

    async def run(self, ctx: ActorContext) -> None:
        prices = ctx.bus.subscribe("index_price.*", maxlen=64, overflow=Overflow.CONFLATE, key=lambda p: p.market)
        requests = ctx.bus.subscribe(REGENERATE_TOPIC, maxlen=16, overflow=Overflow.BLOCK)
        views = ctx.bus.subscribe(VIEW_TOPIC, maxlen=16, overflow=Overflow.DROP_OLDEST)
        with prices, requests, views:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._follow_prices, prices)
                nursery.start_soon(self._serve_requests, ctx, requests)
                nursery.start_soon(self._serve_views, views)
                if self.run_at_start:
                    with trio.move_on_after(self.startup_wait_s):
                        await self._have_prices.wait()
                    await self.regenerate(ctx, trigger="start")
                while True:
                    await ctx.clock.sleep_until_time_s(next_run_s(ctx.clock.time_s(), self.run_at_utc))
                    await self.regenerate(ctx, trigger="schedule")

    async def _follow_prices(self, prices: Any) -> None:
        markets = {r.market for r in self.rules}
        async for price in prices:
            self._prices[price.market] = price
            if markets <= self._prices.keys():
                self._have_prices.set()

    async def _serve_requests(self, ctx: ActorContext, requests: Any) -> None:
        async for request in requests:
            if isinstance(request, Ask):
                request.answer(await self.regenerate(ctx, trigger="request"))

    async def _serve_views(self, views: Any) -> None:
        async for request in views:  # answered at once, even while an update runs
            if isinstance(request, Ask):
                request.answer(self.states())

    def states(self) -> tuple[MarketState, ...]:
        def state(market: str) -> MarketState:
            attempt_ms, result = self._attempts.get(market, (None, None))
            return MarketState(market, attempt_ms, result, self._listings.get(market))
        return tuple(state(r.market) for r in self.rules)

    async def regenerate(self, ctx: ActorContext, trigger: str) -> list[MarketResult]:
        """Every market, each isolated: one market's failure never stops the others."""
        async with self._lock:
            results = []
            for rules in self.rules:
                try:
                    result = await self._update_market(ctx, rules)
                except Exception as error:  # noqa: BLE001 - isolate the market, report why
                    ctx.log.error("instruments_market_failed", market=rules.market, trigger=trigger,
                                  error=f"{type(error).__name__}: {error}", exc_info=error)
                    result = MarketResult(rules.market, ok=False, error=f"{type(error).__name__}: {error}")
                ctx.report(f"instruments:{rules.market}", result.ok, result.error)
                self._attempts[rules.market] = (ctx.clock.time_ms(), result)
                results.append(result)
            ctx.log.info("instruments_regenerated", trigger=trigger, ok=[r.market for r in results if r.ok],
                         failed=[r.market for r in results if not r.ok])
            return results

    async def _update_market(self, ctx: ActorContext, rules: MarketRules) -> MarketResult:
        market = rules.market
        now_ms = ctx.clock.time_ms()
        price = self._prices.get(market)
        if price is None:
            return MarketResult(market, ok=False, error=f"no index price for {market} yet")
        age_s = (now_ms - price.ts_ms) / 1000.0
        if age_s > self.max_index_age_s:
            return MarketResult(market, ok=False, error=(
                f"index price for {market} is {age_s:.0f} s old (limit {self.max_index_age_s:g} s): not used"))
        plan, svi_by_code = await self._plan(ctx, rules, price.price, now_ms)
        set_key = keys.instruments(market)
        current = await ctx.store.smembers(set_key)
        update = plan_set_update(current, plan.names, now_ms)
        batch = ctx.store.atomic()
        if update.remove:
            batch.srem(set_key, *update.remove)
        for chunk in chunks(update.add, self.sadd_chunk):
            batch.sadd(set_key, *chunk)
        batch.set(keys.instruments_updated_at(market), str(now_ms))
        if not await ctx.store.commit(batch, timeout_s=self.commit_timeout_s):
            return MarketResult(market, ok=False, error="the Redis transaction did not complete")
        self._listings[market] = MarketListing(rules, now_ms, price.price, plan, svi_by_code)
        live = await ctx.store.call(lambda client: client.scard(set_key))
        failed = {m.code: m.error or "" for m in plan.failed}
        for code, reason in failed.items():
            ctx.log.warning("instruments_maturity_failed", market=market, maturity=code, reason=reason)
        listed = len(plan.maturities) - len(failed)
        ctx.log.info("instruments_updated", market=market, index_price=price.price, maturities=listed,
                     added=len(update.add), removed=len(update.remove), scard=live)
        error = None if listed else f"no maturity of {market} could be listed: {json.dumps(failed)}"
        return MarketResult(market, ok=listed > 0, added=len(update.add), removed=len(update.remove), live=live,
                            maturities=listed, failed_maturities=failed, error=error)

    async def _plan(self, ctx: ActorContext, rules: MarketRules, forward: float,
                    now_ms: int) -> tuple[MarketPlan, dict[str, str | bytes | None]]:
        """The plan, and the SVI parameters (raw) it was made from."""
        maturities = live_maturities(now_ms, rules.policy)
        svi_keys = [keys.svi(rules.market, m.code) for m in maturities]
        raws = await ctx.store.call(lambda client: client.mget(svi_keys)) if svi_keys else []
        svi_by_code = {m.code: raw for m, raw in zip(maturities, raws)}
        return plan_market(rules, maturities, forward, now_ms, svi_by_code), svi_by_code
