"""LiquidityActor: the liquid Binance USDT perpetuals, with ENTER/EXIT hysteresis, every few minutes.

Each round costs one exchangeInfo (budgeted at 10) and one all-symbols 24 h ticker (40) from
the shared weight budget. The universe and its metadata land in one MULTI/EXEC, so a reader
never sees a member without its ``oi:liquid_meta:{symbol}`` hash, nor a stale member beside a
new one. After a restart the previous universe is read back from Redis first, so the
hysteresis (and ``entered_at``) carries across restarts. A failed round changes nothing.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from actors.oi.topics import EXCHANGE_INFO_ASK, UNIVERSE_ASK, UNIVERSE_TOPIC, UniverseChanged, UniverseView
from actors.oi.universe import LiquidMeta, check_thresholds, classify
from adapters.binance.public import BinanceError
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable
from engine import keys
from engine.bus import Overflow

COMPONENT = "oi_universe"
VENUE_ERRORS = (BinanceError, VenueUnavailable, VenueProtocolError, VenueHttpError)


@attrs.define(eq=False)
class LiquidityActor:
    """See the module docstring. ``rounds`` / ``failures`` are read by tests."""

    interval_s: float = 300.0
    enter_usdt: float = 4_000_000.0
    exit_usdt: float = 2_000_000.0
    commit_timeout_s: float = 10.0

    meta: dict[str, LiquidMeta] = attrs.field(init=False, factory=dict)
    updated_ms: int | None = attrs.field(init=False, default=None)
    exchange_info_text: str | None = attrs.field(init=False, default=None)
    rounds: int = attrs.field(init=False, default=0)
    failures: int = attrs.field(init=False, default=0)

    def __attrs_post_init__(self) -> None:
        check_thresholds(self.enter_usdt, self.exit_usdt)

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name)
        universe_asks = ctx.bus.subscribe(UNIVERSE_ASK, maxlen=64, overflow=Overflow.BLOCK)
        info_asks = ctx.bus.subscribe(EXCHANGE_INFO_ASK, maxlen=64, overflow=Overflow.BLOCK)
        with universe_asks, info_asks:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer, universe_asks, self.view)
                nursery.start_soon(self._answer, info_asks, lambda: self.exchange_info_text)
                await self._restore(ctx, log)
                binance = ctx.venues.get("binance")
                if binance is None:
                    ctx.report(COMPONENT, False, "no Binance client: [venues.binance] is not configured")
                    await trio.sleep_forever()
                deadline_s = ctx.clock.monotonic()
                while True:
                    await self.run_round(ctx, binance, log)
                    deadline_s = max(deadline_s + self.interval_s, ctx.clock.monotonic())
                    await trio.sleep_until(deadline_s)

    def view(self) -> UniverseView:
        return UniverseView(tuple(sorted(self.meta)), dict(self.meta), self.updated_ms)

    @staticmethod
    async def _answer(sub: Any, answer: Any) -> None:
        async for ask in sub:
            ask.answer(answer())

    async def _restore(self, ctx: Any, log: Any) -> None:
        """The universe of the last run, so hysteresis and entered_at survive a restart."""
        try:
            members = await ctx.store.smembers(keys.OI_LIQUID_UNIVERSE)
            restored = {}
            for symbol in sorted(members):
                fields = await ctx.store.hgetall(keys.oi_liquid_meta(symbol))
                if fields:
                    restored[symbol] = LiquidMeta.from_hash(fields)
        except Exception as error:  # Redis down or foreign data: start from an empty universe
            log.warning("universe_restore_failed", error=f"{type(error).__name__}: {error}")
            return
        if restored:
            self.meta = restored
            ctx.bus.publish_nowait(UNIVERSE_TOPIC, UniverseChanged(frozenset(restored), (), (), ctx.clock.time_ms()))
            log.info("universe_restored", symbols=len(restored))

    async def run_round(self, ctx: Any, binance: Any, log: Any) -> bool:
        """One classification; False (and nothing changed) when the venue or Redis failed."""
        self.rounds += 1
        try:
            info = await binance.exchange_info()
            tickers, skipped = await binance.tickers_24h()
            now_ms = ctx.clock.time_ms()
            update = classify(self.meta, info.symbols, {s: t.quote_volume for s, t in tickers.items()}, now_ms,
                              self.enter_usdt, self.exit_usdt)
        except (*VENUE_ERRORS, ValueError) as error:
            return self._failed(ctx, log, f"{type(error).__name__}: {error}")
        self.exchange_info_text = json.dumps(info.raw, separators=(",", ":"))
        batch = ctx.store.atomic()
        batch.delete(keys.OI_LIQUID_UNIVERSE)
        if update.universe:
            batch.sadd(keys.OI_LIQUID_UNIVERSE, *sorted(update.universe))
        for symbol in update.left:
            batch.delete(keys.oi_liquid_meta(symbol))
        for symbol, meta in sorted(update.meta.items()):
            batch.hset(keys.oi_liquid_meta(symbol), meta.to_hash(now_ms))
        if not await ctx.store.commit(batch, timeout_s=self.commit_timeout_s):
            return self._failed(ctx, log, "Redis did not take the universe update")
        self.meta, self.updated_ms = dict(update.meta), now_ms
        ctx.bus.publish_nowait(UNIVERSE_TOPIC, UniverseChanged(update.universe, update.entered, update.left, now_ms))
        ctx.report(COMPONENT, True, f"{len(update.universe)} liquid symbols (+{len(update.entered)} "
                                    f"-{len(update.left)}) of {len(info.symbols)} listed")
        log.info("universe_updated", symbols=len(update.universe), entered=len(update.entered),
                 left=len(update.left), entered_first=list(update.entered[:10]), left_first=list(update.left[:10]),
                 listed=len(info.symbols), skipped_tickers=skipped + info.skipped)
        return True

    def _failed(self, ctx: Any, log: Any, detail: str) -> bool:
        self.failures += 1
        ctx.report(COMPONENT, False, f"round failed, universe unchanged: {detail}")
        log.warning("universe_round_failed", error=detail)
        return False

