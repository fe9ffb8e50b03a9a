"""AlertActor: OI spikes and dumps against the median of the last hour, with a cooldown; and
the memory the OI read API answers from.

It owns one ring buffer per symbol (the alert window, about 3 h, bounded), fed by the
poller's and the ingest API's samples and by the backfill history. Every new sample is
judged against the median of the samples aged ``low_min``..``high_min`` minutes; an alert
goes to the ``oi:alerts`` stream, the ``oi:alerts`` pub/sub channel and ``/ws`` clients.
Cooldowns are read back from the recent alerts at start, so a restart never repeats an alert.

Every sample (poller and ingest) and every alert (its own and the ingest API's) is also kept,
bounded, as the streams keep them (``actors.oi.memory``), and ``SAMPLES_ASK`` / ``ALERTS_ASK``
are answered from there, so the API keeps answering while Redis is down. Before answering it
takes whatever is already queued for it, so a client reads its own ingested writes. The past
comes back from the streams: the recent alerts at start (with the cooldowns), each new
symbol's newest ``history_samples`` once it is first sampled; while Redis does not answer,
these reads are retried with a capped backoff and the answers say memory is incomplete.
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio

from actors.oi.alerts import Alert, AlertRules, baseline, evaluate
from actors.oi.memory import RecentAlerts, SampleLogs, alert_entry
from actors.oi.payloads import Sample, alert_from_json
from actors.oi.records import (
    DEFAULT_ALERTS_MAXLEN,
    DEFAULT_SAMPLES_MAXLEN,
    alert_text,
    record_alert,
    stream_samples,
)
from actors.oi.ring import OIRing
from actors.oi.topics import (
    ALERTS_ASK,
    BACKFILL_TOPIC,
    INGESTED_ALERTS_TOPIC,
    READ_LIMIT_MAX,
    SAMPLES_ASK,
    SAMPLES_TOPIC,
    UNIVERSE_TOPIC,
    AlertsQuery,
    SamplesQuery,
    universe_key,
)
from engine import keys
from engine.bus import Overflow
from engine.requests import Ask
from engine.store_wire import StoreUnavailable

COMPONENT = "oi_alerts"
MAX_SYMBOLS = 2000  # rings kept at once: every Binance perpetual, with room; memory stays bounded
COOLDOWN_SCAN = 500  # the newest alerts the cooldowns are restored from
HISTORY_SAMPLES = 200  # read back per symbol at its first sample: the default read (100) and the page (120)
HISTORY_FLUSH_TIMEOUT_S = 5.0  # what memory holds reaches Redis before the history is read (see memory.py)
HISTORY_RETRY_S = (0.5, 10.0)  # backoff of the history reads while Redis does not answer: first, cap
HISTORY_BATCH = 50  # symbols read back after one flush
ASK_QUEUE = 64


class NotFlushed(Exception):
    """The writes memory holds did not reach Redis in time: the stream cannot be read against them yet."""


@attrs.define(eq=False)
class AlertActor:
    """See the module docstring. ``alerts``, ``evaluated``, ``refused_symbols`` and ``latency_ms`` (sample
    time to alert recorded, per alert, bounded) are read by tests and the benchmark; ``recent_samples``
    and ``recent_alerts`` are the memory the read API answers from."""

    rules: AlertRules = attrs.field(factory=AlertRules)
    ring_interval_s: float = 5.0  # the poller's shortest interval: sizes the rings
    window_s: float = 3 * 3600.0
    alerts_maxlen: int = DEFAULT_ALERTS_MAXLEN
    samples_maxlen: int = DEFAULT_SAMPLES_MAXLEN  # the samples kept per symbol, as each stream keeps them
    history_samples: int = HISTORY_SAMPLES

    rings: dict[str, OIRing] = attrs.field(init=False, factory=dict)
    last_alert_ms: dict[tuple[str, str], int] = attrs.field(init=False, factory=dict)
    alerts: int = attrs.field(init=False, default=0)
    evaluated: int = attrs.field(init=False, default=0)
    refused_symbols: int = attrs.field(init=False, default=0)
    latency_ms: list[int] = attrs.field(init=False, factory=list)
    recent_samples: SampleLogs = attrs.field(init=False)
    recent_alerts: RecentAlerts = attrs.field(init=False)  # at least as many as one read may ask for
    _watching: bool = attrs.field(init=False, default=False)  # cooldowns restored (or given up on): judging
    _history_due: trio.Event = attrs.field(init=False, factory=trio.Event)
    _queued: tuple[Any, ...] = attrs.field(init=False, default=())  # (samples, ingested alerts) subscriptions

    def __attrs_post_init__(self) -> None:
        self.recent_samples = SampleLogs(self.samples_maxlen)
        self.recent_alerts = RecentAlerts(max(self.alerts_maxlen, READ_LIMIT_MAX))

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name)
        samples = ctx.bus.subscribe(SAMPLES_TOPIC, maxlen=256, overflow=Overflow.BLOCK)
        backfills = ctx.bus.subscribe(BACKFILL_TOPIC, maxlen=256, overflow=Overflow.BLOCK)
        universe = ctx.bus.subscribe(UNIVERSE_TOPIC, maxlen=1, overflow=Overflow.CONFLATE, key=universe_key)
        ingested = ctx.bus.subscribe(INGESTED_ALERTS_TOPIC, maxlen=ASK_QUEUE, overflow=Overflow.BLOCK)
        sample_asks = ctx.bus.subscribe(SAMPLES_ASK, maxlen=ASK_QUEUE, overflow=Overflow.BLOCK)
        alert_asks = ctx.bus.subscribe(ALERTS_ASK, maxlen=ASK_QUEUE, overflow=Overflow.BLOCK)
        self._queued = (samples, ingested)
        with samples, backfills, universe, ingested, sample_asks, alert_asks:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._answer, ctx, sample_asks, log)
                nursery.start_soon(self._answer, ctx, alert_asks, log)
                await self._restore_alerts(ctx, log)  # cooldowns before the first judgement
                self._watching = True
                ctx.report(COMPONENT, True, "watching")
                nursery.start_soon(self._take_backfills, backfills)
                nursery.start_soon(self._follow_universe, universe)
                nursery.start_soon(self._take_ingested, ingested)
                nursery.start_soon(self._recall_history, ctx, log)
                async for batch in samples:
                    self.take_samples(ctx, batch, log)

    def ring(self, symbol: str) -> OIRing | None:
        ring = self.rings.get(symbol)
        if ring is None:
            if len(self.rings) >= MAX_SYMBOLS:
                self.refused_symbols += 1
                return None
            ring = self.rings[symbol] = OIRing.for_window(self.ring_interval_s, self.window_s)
        return ring

    def take_samples(self, ctx: Any, batch: tuple[Sample, ...], log: Any) -> None:
        """Keep a batch as its streams keep it, then judge each sample."""
        self.recent_samples.add(batch)
        if self.recent_samples.unloaded(1):
            self._history_due.set()
        for sample in batch:
            self.judge(ctx, sample, log)

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
        self.recent_alerts.add(alert.symbol, record_alert(ctx.store, ctx.bus, alert, self.alerts_maxlen))
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

    # ------------------------------------------------------------------ the read API's memory
    def remember_ingested(self, alerts: tuple[Alert, ...]) -> None:
        for alert in alerts:
            self.recent_alerts.add(alert.symbol, alert_text(alert))

    async def _take_ingested(self, sub: Any) -> None:
        async for alerts in sub:
            self.remember_ingested(alerts)

    @staticmethod
    def _drain(sub: Any, take: Any) -> None:
        """Hand ``take`` every message already queued on ``sub``, without waiting."""
        while True:
            try:
                take(sub.receive_nowait())
            except (trio.WouldBlock, trio.EndOfChannel):
                return

    def _catch_up(self, ctx: Any, log: Any) -> None:
        """Take what is already queued (samples only once judging), so an answer includes every write
        the ingest API acknowledged before it was asked."""
        samples, ingested = self._queued
        self._drain(ingested, self.remember_ingested)
        if self._watching:
            self._drain(samples, lambda batch: self.take_samples(ctx, batch, log))

    async def _answer(self, ctx: Any, asks: Any, log: Any) -> None:
        async for request in asks:
            if not isinstance(request, Ask):
                continue
            self._catch_up(ctx, log)
            query = request.payload
            if isinstance(query, SamplesQuery):
                request.answer({symbol: self.recent_samples.recall(symbol, query.limit) for symbol in query.symbols})
            elif isinstance(query, AlertsQuery):
                request.answer(self.recent_alerts.recall(query.symbol, query.limit, query.scan))
            else:
                request.answer(None)

    async def _recall_history(self, ctx: Any, log: Any) -> None:
        """Read back what the streams held before this run: the alerts (if the start could not),
        then each new symbol's samples; retried with a capped backoff while Redis does not answer."""
        first_s, max_s = HISTORY_RETRY_S
        retry_s = first_s
        if not self.recent_alerts.loaded:  # the start's attempt just failed
            await trio.sleep(retry_s)
        while True:
            symbols = self.recent_samples.unloaded(HISTORY_BATCH)
            if not self.recent_alerts.loaded:
                done = await self._restore_alerts(ctx, log)
            elif symbols:
                done = await self._restore_samples(ctx, symbols, log)
            else:
                await self._history_due.wait()
                self._history_due = trio.Event()
                continue
            if done:
                retry_s = first_s
            else:
                await trio.sleep(retry_s)
                retry_s = min(max_s, 2 * retry_s)

    async def _flush(self, ctx: Any) -> None:
        """Whatever memory holds is on the server, so a stream read shows where memory starts."""
        if not await ctx.store.flush(HISTORY_FLUSH_TIMEOUT_S):
            raise NotFlushed(f"writes not flushed within {HISTORY_FLUSH_TIMEOUT_S:g} s")

    async def _restore_alerts(self, ctx: Any, log: Any) -> bool:
        """The recent alerts (before what memory holds) and the cooldowns, from ``oi:alerts``; False
        (logged) when Redis did not answer, to be retried: cooldowns start from what memory holds."""
        self._drain(self._queued[1], self.remember_ingested)  # ingested meanwhile: newer than the stream's
        try:
            if len(self.recent_alerts):
                await self._flush(ctx)
            entries = await ctx.store.xrevrange(keys.OI_ALERTS, self.recent_alerts.capacity)
        except (StoreUnavailable, NotFlushed) as error:
            log.warning("alerts_not_restored", error=f"{type(error).__name__}: {error}")
            return False
        except Exception as error:  # foreign data (not a stream): never readable, so not retried
            log.error("alerts_not_restorable", error=f"{type(error).__name__}: {error}")
            entries = []
        held = [entry for entry in (alert_entry(fields) for _id, fields in entries) if entry is not None]
        kept = self.recent_alerts.merge_history(held)
        for _id, fields in reversed(entries[:COOLDOWN_SCAN]):
            try:
                alert = alert_from_json(json.loads(fields["payload"]))
            except (KeyError, ValueError, TypeError):
                continue
            key = alert.cooldown_key
            self.last_alert_ms[key] = max(self.last_alert_ms.get(key, 0), alert.ts_ms)
        log.info("alerts_restored", alerts=kept, cooldowns=len(self.last_alert_ms))
        return True

    async def _restore_samples(self, ctx: Any, symbols: list[str], log: Any) -> bool:
        """The newest ``history_samples`` of each symbol's stream, before what memory holds of it. One
        flush first covers these symbols only: a log begun after it may hold entries not on the server."""
        try:
            await self._flush(ctx)
            for symbol in symbols:
                try:
                    entries = await ctx.store.xrevrange(keys.oi_samples(symbol), self.history_samples)
                except StoreUnavailable:
                    raise
                except Exception as error:  # foreign data (not a stream): never readable, so not retried
                    log.error("sample_history_not_readable", symbol=symbol, error=f"{type(error).__name__}: {error}")
                    entries = []
                self.recent_samples.merge_history(symbol, stream_samples(symbol, entries, log),
                                                  whole=len(entries) < self.history_samples)
        except (StoreUnavailable, NotFlushed) as error:
            log.warning("sample_history_not_read", symbols=len(symbols), error=f"{type(error).__name__}: {error}")
            return False
        return True
