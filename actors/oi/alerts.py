"""Open-interest spike/dump alerts against a median baseline.

The baseline is the median OI of the samples aged between ``low_min`` and ``high_min``
minutes (default 30 to 60): old enough that a spike in progress is not in it, the median so
that one bad sample cannot move it. No samples in that band, no baseline, no alert: a symbol
needs about ``low_min`` of history (a backfill provides it) before it can alert.

An alert fires UP when the change is >= ``pct_threshold`` per cent *and* >= the minimum
absolute delta, DOWN symmetrically; each (symbol, direction) then rests for ``cooldown_s``,
so a dump right after a spike still alerts while a spike that persists alerts once.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from types import MappingProxyType
from typing import Literal

import attrs
import numpy as np

from actors.oi.ring import OIRing

Direction = Literal["UP", "DOWN"]
DIRECTIONS: tuple[str, ...] = ("UP", "DOWN")
MS_PER_MIN = 60_000


def _finite(name: str, value: float, minimum: float | None = None) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum:g}, got {value!r}")
    return float(value)


def _check_window_min(low_min: float, high_min: float) -> None:
    _finite("low_min", low_min, 0)
    _finite("high_min", high_min, 0)
    if not low_min < high_min:
        raise ValueError(f"need low_min < high_min, got low_min={low_min!r}, high_min={high_min!r}")


def baseline(source: OIRing | tuple[np.ndarray, np.ndarray], now_ms: int, low_min: float = 30,
             high_min: float = 60) -> float | None:
    """Median OI of the samples with now - high_min <= ts_ms <= now - low_min (both edges in).

    ``source`` is a ring or a (ts_ms, open_interest) pair of equal-length arrays. An even
    count takes the mean of the two middle values. None when no sample falls in the band.
    """
    _check_window_min(low_min, high_min)
    from_ms, to_ms = now_ms - round(high_min * MS_PER_MIN), now_ms - round(low_min * MS_PER_MIN)
    if isinstance(source, OIRing):
        values = source.window(from_ms, to_ms)
    else:
        ts_ms, oi = (np.asarray(a) for a in source)
        if ts_ms.shape != oi.shape or ts_ms.ndim != 1:
            raise ValueError(f"ts_ms and open_interest must be 1-d arrays of one length, got {ts_ms.shape}, {oi.shape}")
        values = oi[(ts_ms >= from_ms) & (ts_ms <= to_ms)]
    return float(np.median(values)) if values.size else None


def _overrides(value: Mapping[str, float]) -> Mapping[str, float]:
    checked = {str(symbol): _finite(f"min_abs_delta_by_symbol[{symbol!r}]", delta, 0)
               for symbol, delta in dict(value).items()}
    return MappingProxyType(checked)


@attrs.frozen
class AlertRules:
    """Thresholds of the alert rule (all configurable; checked at construction).

    The minimum absolute delta (in contracts) of a symbol is, in order of precedence: its
    entry in ``min_abs_delta_by_symbol``; else the larger of ``min_abs_delta`` and
    ``min_abs_fraction_of_typical`` x its typical OI (when both the fraction and a typical OI
    are known).
    """

    pct_threshold: float = 5.0  # per cent, applied both ways
    min_abs_delta: float = 0.0
    min_abs_fraction_of_typical: float | None = None  # e.g. 0.02: 2 % of the typical OI
    cooldown_s: float = 900.0  # per (symbol, direction)
    low_min: float = 30
    high_min: float = 60
    min_abs_delta_by_symbol: Mapping[str, float] = attrs.field(factory=dict, converter=_overrides, hash=False)

    def __attrs_post_init__(self) -> None:
        if _finite("pct_threshold", self.pct_threshold) <= 0:
            raise ValueError(f"pct_threshold must be > 0, got {self.pct_threshold!r}")
        _finite("min_abs_delta", self.min_abs_delta, 0)
        if self.min_abs_fraction_of_typical is not None:
            _finite("min_abs_fraction_of_typical", self.min_abs_fraction_of_typical, 0)
        _finite("cooldown_s", self.cooldown_s, 0)
        _check_window_min(self.low_min, self.high_min)

    def min_abs_for(self, symbol: str, typical_oi: float | None = None) -> float:
        """The minimum absolute OI change for ``symbol`` (see the class doc for the precedence)."""
        if symbol in self.min_abs_delta_by_symbol:
            return self.min_abs_delta_by_symbol[symbol]
        fraction = self.min_abs_fraction_of_typical
        if fraction is None or typical_oi is None or not math.isfinite(typical_oi):
            return float(self.min_abs_delta)
        return max(float(self.min_abs_delta), fraction * abs(typical_oi))


@attrs.frozen
class Alert:
    """One spike (UP) or dump (DOWN) of a symbol's open interest against its baseline."""

    symbol: str
    direction: Direction = attrs.field(validator=attrs.validators.in_(DIRECTIONS))
    open_interest: float
    baseline_oi: float
    pct_change: float  # per cent: +7.5 means 7.5 % above the baseline
    abs_change: float  # contracts, signed
    ts_ms: int  # the sample's time
    window_low_min: float
    window_high_min: float
    mark_price: float | None = None
    oi_usd: float | None = None

    @property
    def cooldown_key(self) -> tuple[str, str]:
        """The key of ``last_alert_ms``: record ``last_alert_ms[alert.cooldown_key] = alert.ts_ms``."""
        return self.symbol, self.direction


def in_cooldown(last_alert_ms: Mapping[tuple[str, str], int], symbol: str, direction: str, ts_ms: int,
                cooldown_s: float) -> bool:
    """Whether (symbol, direction) alerted within ``cooldown_s`` of ``ts_ms``.

    Measured both ways: a last alert stamped in the future (a clock step) also holds the
    cooldown, but only within ``cooldown_s``, so a wrong stamp can never silence a symbol forever.
    """
    last_ms = last_alert_ms.get((symbol, direction))
    return last_ms is not None and abs(ts_ms - last_ms) < cooldown_s * 1000


def evaluate(symbol: str, current_oi: float, current_ts_ms: int, baseline_oi: float | None, rules: AlertRules,
             last_alert_ms: Mapping[tuple[str, str], int], typical_oi: float | None = None,
             mark_price: float | None = None, oi_usd: float | None = None) -> Alert | None:
    """The alert ``current_oi`` raises against ``baseline_oi``, or None.

    None without a usable baseline (None, zero, negative or not finite: no division by zero).
    ``typical_oi`` defaults to the baseline for the fraction rule. ``oi_usd`` defaults to
    ``current_oi x mark_price`` when a mark price is given. The caller records the alert in
    ``last_alert_ms`` (see :attr:`Alert.cooldown_key`); this function changes nothing.
    """
    current_oi = _finite("current_oi", current_oi, 0)
    if isinstance(current_ts_ms, bool) or not isinstance(current_ts_ms, (int, np.integer)):
        raise ValueError(f"current_ts_ms must be an integer, got {current_ts_ms!r}")
    if baseline_oi is None or not math.isfinite(baseline_oi) or baseline_oi <= 0:
        return None
    abs_change = current_oi - baseline_oi
    pct_change = abs_change / baseline_oi * 100.0
    min_abs = rules.min_abs_for(symbol, baseline_oi if typical_oi is None else typical_oi)
    if pct_change >= rules.pct_threshold and abs_change >= min_abs:
        direction = "UP"
    elif pct_change <= -rules.pct_threshold and -abs_change >= min_abs:
        direction = "DOWN"
    else:
        return None
    if in_cooldown(last_alert_ms, symbol, direction, current_ts_ms, rules.cooldown_s):
        return None
    if oi_usd is None and mark_price is not None:
        oi_usd = current_oi * mark_price
    return Alert(symbol=symbol, direction=direction, open_interest=current_oi, baseline_oi=float(baseline_oi),
                 pct_change=pct_change, abs_change=abs_change, ts_ms=int(current_ts_ms), window_low_min=rules.low_min,
                 window_high_min=rules.high_min, mark_price=mark_price, oi_usd=oi_usd)
