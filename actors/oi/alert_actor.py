"""AlertActor: OI spikes and dumps against the median of the last hour, with a cooldown.

It owns one ring buffer per symbol (the alert window, about 3 h, bounded), fed by the
poller's and the ingest API's samples and by the backfill history. Every new sample is
judged against the median of the samples aged ``low_min``..``high_min`` minutes; an alert
goes to the ``oi:alerts`` stream, the ``oi:alerts`` pub/sub channel and ``/ws`` clients.
Cooldowns are read back from the recent alerts at start, so a restart never repeats an alert.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from actors.oi.alerts import AlertRules, baseline, evaluate
from actors.oi.payloads import alert_from_json
from actors.oi.records import DEFAULT_ALERTS_MAXLEN, record_alert
from actors.oi.ring import OIRing
from actors.oi.topics import BACKFILL_TOPIC, SAMPLES_TOPIC, UNIVERSE_TOPIC, universe_key
from engine import keys
from engine.bus import Overflow

COMPONENT = "oi_alerts"
MAX_SYMBOLS = 2000  # rings kept at once: every Binance perpetual, with room; memory stays bounded


@attrs.define(eq=False)
class AlertActor:
    """See the module docstring. ``alerts``, ``evaluated``, ``refused_symbols`` and ``latency_ms`` (sample
    time to alert recorded, per alert, bounded) are read by tests and the benchmark."""

    rules: AlertRules = attrs.field(factory=AlertRules)
    ring_interval_s: float = 5.0  # the poller's shortest interval: sizes the rings
    window_s: float = 3 * 3600.0
    alerts_maxlen: int = DEFAULT_ALERTS_MAXLEN

    rings: dict[str, OIRing] = attrs.field(init=False, factory=dict)
    last_alert_ms: dict[tuple[str, str], int] = attrs.field(init=False, factory=dict)
    alerts: int = attrs.field(init=False, default=0)
    evaluated: int = attrs.field(init=False, default=0)
    refused_symbols: int = attrs.field(init=False, default=0)
    latency_ms: list[int] = attrs.field(init=False, factory=list)

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name)
        samples = ctx.bus.subscribe(SAMPLES_TOPIC, maxlen=256, overflow=Overflow.BLOCK)
        backfills = ctx.bus.subscribe(BACKFILL_TOPIC, maxlen=256, overflow=Overflow.BLOCK)
        universe = ctx.bus.subscribe(UNIVERSE_TOPIC, maxlen=1, overflow=Overflow.CONFLATE, key=universe_key)
        with samples, backfills, universe:
            await self._restore_cooldowns(ctx, log)
            ctx.report(COMPONENT, True, "watching")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._take_backfills, backfills)
                nursery.start_soon(self._follow_universe, universe)
                async for batch in samples:
                    for sample in batch:
                        self.judge(ctx, sample, log)

    def ring(self, symbol: str) -> OIRing | None:
        ring = self.rings.get(symbol)
        if ring is None:
            if len(self.rings) >= MAX_SYMBOLS:
                self.refused_symbols += 1
                return None
            ring = self.rings[symbol] = OIRing.for_window(self.ring_interval_s, self.window_s)
        return ring

    def judge(self, ctx: Any, sample: Any, log: Any) -> None:
        """Store the sample; alert when it moved enough against the baseline and the cooldown allows."""
        ring = self.ring(sample.symbol)
        if ring is None or not ring.append(sample.ts_ms, sample.open_interest, sample.oi_usd):
            return  # no room for another symbol, or not newer than what the ring holds
        self.evaluated += 1
        base = baseline(ring, sample.ts_ms, self.rules.low_min, self.rules.high_min)
        alert = evaluate(sample.symbol, sample.open_interest, sample.ts_ms, base, self.rules, self.last_alert_ms,
                         mark_price=sample.mark_price, oi_usd=sample.oi_usd)
        if alert is None:
            return
        self.last_alert_ms[alert.cooldown_key] = alert.ts_ms
        record_alert(ctx.store, ctx.bus, alert, self.alerts_maxlen)
        self.alerts += 1
        latency_ms = max(0, ctx.clock.time_ms() - sample.ts_ms)
        if len(self.latency_ms) < 10_000:
            self.latency_ms.append(latency_ms)
        log.info("oi_alert", symbol=alert.symbol, direction=alert.direction, pct_change=round(alert.pct_change, 2),
                 abs_change=alert.abs_change, open_interest=alert.open_interest, baseline_oi=alert.baseline_oi,
                 latency_ms=latency_ms)

    async def _take_backfills(self, sub: Any) -> None:
        async for backfill in sub:
            ring = self.ring(backfill.symbol)
            if ring is not None:
                ring.extend_history(backfill.rows)

    async def _follow_universe(self, sub: Any) -> None:
        """Drop the rings of symbols that left: memory follows the universe, not history."""
        async for change in sub:
            for symbol in change.left:
                self.rings.pop(symbol, None)

    async def _restore_cooldowns(self, ctx: Any, log: Any) -> None:
        try:
            entries = await ctx.store.xrevrange(keys.OI_ALERTS, 500)
        except Exception as error:  # Redis down: cooldowns start empty (logged)
            log.warning("cooldowns_not_restored", error=f"{type(error).__name__}: {error}")
            return
        for _id, fields in reversed(entries):
            try:
                alert = alert_from_json(json.loads(fields["payload"]))
            except (KeyError, ValueError):
                continue
            key = alert.cooldown_key
            self.last_alert_ms[key] = max(self.last_alert_ms.get(key, 0), alert.ts_ms)
