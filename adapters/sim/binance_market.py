"""The simulated Binance market: per-symbol seeded processes stepped in market time.

Per symbol: the traded/mark price as JumpGBM, open interest as OIWalk (spikes and dumps
injectable), the 24 h quote volume as a slow multiplicative walk (so symbols drift
across the 4M / 2M USDT liquidity thresholds over time), the funding rate as a
mean-reverting walk around 0.01 %, and 5-minute open-interest samples. Each process
has its own ``sub_rng(seed, symbol, name)``: adding a symbol never shifts another.
"""

from __future__ import annotations

import math
import random

import attrs

from adapters.sim.binance_universe import SymbolSpec, build_universe
from adapters.sim.processes import JumpGBM, OIWalk, sub_rng

HIST_PERIOD_MS = 300_000  # openInterestHist's finest period, 5 minutes
HIST_DAYS = 30
BASE_FUNDING = 0.0001
STATUSES = ("PENDING_TRADING", "TRADING", "PRE_DELIVERING", "DELIVERING", "DELIVERED", "PRE_SETTLE",
            "SETTLING", "CLOSE")


@attrs.define(eq=False)
class SymbolState:
    """The moving parts of one contract."""

    spec: SymbolSpec
    status: str
    price: JumpGBM
    open_interest: OIWalk  # base-asset units
    quote_volume: OIWalk  # USDT over the last 24 h
    funding_rate: float
    funding_rng: random.Random
    open_price: float  # 24 h ago
    high_price: float
    low_price: float
    initial_oi: float  # anchors the open-interest history before start
    oi_samples: list[tuple[int, float, float]] = attrs.field(factory=list)  # (ts_ms, oi, oi value) after start

    @property
    def mark_price(self) -> float:
        return self.price.price

    @property
    def index_price(self) -> float:
        """Index below mark when funding is above its base (longs pay: perp trades rich)."""
        return self.price.price / (1.0 + 3.0 * (self.funding_rate - BASE_FUNDING))


def _state(seed: int, spec: SymbolSpec) -> SymbolState:
    rng = sub_rng(seed, spec.symbol, "init")
    price = spec.initial_price
    oi_base = spec.initial_quote_volume * rng.uniform(0.1, 0.6) / price
    open_price = price * math.exp(rng.gauss(0.0, 0.03))
    return SymbolState(
        spec=spec, status=spec.initial_status,
        price=JumpGBM(price, sub_rng(seed, spec.symbol, "price"), vol_annual=spec.vol_annual,
                      jumps_per_day=rng.uniform(1.0, 6.0), jump_vol=0.01),
        open_interest=OIWalk(oi_base, sub_rng(seed, spec.symbol, "oi"), vol_per_hour=0.02),
        quote_volume=OIWalk(spec.initial_quote_volume, sub_rng(seed, spec.symbol, "quote_volume"),
                            vol_per_hour=0.25),
        funding_rate=BASE_FUNDING + rng.gauss(0.0, 0.00005), funding_rng=sub_rng(seed, spec.symbol, "funding"),
        open_price=open_price, high_price=max(open_price, price) * (1 + rng.uniform(0.0, 0.02)),
        low_price=min(open_price, price) * (1 - rng.uniform(0.0, 0.02)), initial_oi=oi_base,
    )


class BinanceMarket:
    """All contracts, stepped together; ``start_ms`` anchors market time to wall time."""

    def __init__(self, *, seed: int, start_ms: int, perpetuals: int = 300, settling: int = 2) -> None:
        self.seed = seed
        self.start_ms = start_ms
        self.elapsed_s = 0.0
        self.specs = build_universe(seed, start_ms, perpetuals, settling)
        self.states: dict[str, SymbolState] = {spec.symbol: _state(seed, spec) for spec in self.specs}
        self._history_cache: dict[str, list[tuple[int, float, float]]] = {}
        self._anchor_ms = start_ms // HIST_PERIOD_MS * HIST_PERIOD_MS

    @property
    def now_ms(self) -> int:
        """Market time: wall time at start plus the time stepped since."""
        return self.start_ms + int(self.elapsed_s * 1000)

    def state(self, symbol: str) -> SymbolState:
        return self.states[symbol]

    def step(self, dt_s: float) -> None:
        """Advance every process by ``dt_s`` seconds, deterministically, and record an OI
        sample at each 5-minute boundary crossed."""
        before_ms = self.now_ms
        self.elapsed_s += dt_s
        boundary_ms = self.now_ms // HIST_PERIOD_MS * HIST_PERIOD_MS
        crossed = boundary_ms > before_ms // HIST_PERIOD_MS * HIST_PERIOD_MS
        for state in self.states.values():
            price = state.price.step(dt_s)
            state.open_interest.step(dt_s)
            state.quote_volume.step(dt_s)
            pull = 0.5 * (BASE_FUNDING - state.funding_rate) * dt_s / 3600.0
            shock = state.funding_rng.gauss(0.0, 0.0001 * math.sqrt(dt_s / 3600.0))
            state.funding_rate = min(0.003, max(-0.003, state.funding_rate + pull + shock))
            state.high_price = max(state.high_price, price)
            state.low_price = min(state.low_price, price)
            if crossed:
                oi = state.open_interest.value
                state.oi_samples.append((boundary_ms, oi, oi * price))
                del state.oi_samples[: max(0, len(state.oi_samples) - HIST_DAYS * 288)]

    # ------------------------------------------------------------------ control
    def jump_price(self, symbol: str, pct: float) -> float:
        state = self.states[symbol]
        price = state.price.jump(pct)
        state.high_price, state.low_price = max(state.high_price, price), min(state.low_price, price)
        return price

    def spike_oi(self, symbol: str, pct: float) -> float:
        return self.states[symbol].open_interest.spike(pct)

    def set_quote_volume(self, symbol: str, quote_volume: float) -> float:
        if quote_volume < 0:
            raise ValueError("quote_volume must be >= 0")
        self.states[symbol].quote_volume.value = float(quote_volume)
        return float(quote_volume)

    def set_status(self, symbol: str, status: str) -> str:
        if status not in STATUSES:
            raise ValueError(f"unknown status {status!r}; known: {', '.join(STATUSES)}")
        self.states[symbol].status = status
        return status

    # ------------------------------------------------------------------ history
    def _backfill(self, symbol: str) -> list[tuple[int, float, float]]:
        """30 days of 5-minute OI before start, walked backwards from the initial state."""
        cached = self._history_cache.get(symbol)
        if cached is None:
            state, rng = self.states[symbol], sub_rng(self.seed, symbol, "oi_history")
            oi, price = state.initial_oi, state.spec.initial_price
            vol_5m = state.spec.vol_annual * math.sqrt(HIST_PERIOD_MS / 1000 / (365 * 86_400))
            rows = []
            for k in range(HIST_DAYS * 288 + 1):
                rows.append((self._anchor_ms - k * HIST_PERIOD_MS, oi, oi * price))
                oi *= math.exp(rng.gauss(0.0, 0.004))
                price *= math.exp(rng.gauss(0.0, vol_5m))
            cached = self._history_cache[symbol] = rows[::-1]
        return cached

    def oi_history(self, symbol: str, period_ms: int, now_ms: int, *, limit: int = 30,
                   start_ms: int | None = None, end_ms: int | None = None) -> list[tuple[int, float, float]]:
        """Rows (ts_ms, sumOpenInterest, sumOpenInterestValue), oldest first, of the last
        30 days on the ``period_ms`` grid; the most recent ``limit`` unless ``start_ms``."""
        live = [row for row in self.states[symbol].oi_samples if row[0] > self._anchor_ms]
        rows = [row for row in self._backfill(symbol) + live
                if row[0] % period_ms == 0 and now_ms - HIST_DAYS * 86_400_000 <= row[0] <= now_ms
                and (start_ms is None or row[0] >= start_ms) and (end_ms is None or row[0] <= end_ms)]
        return rows[:limit] if start_ms is not None else rows[-limit:]

    def snapshot(self) -> dict[str, tuple[float, ...]]:
        """The market state as numbers: what determinism tests compare."""
        return {symbol: (s.price.price, s.open_interest.value, s.quote_volume.value, s.funding_rate,
                         s.high_price, s.low_price) for symbol, s in self.states.items()}
