"""The strike generator: a ladder of grid strikes covering call delta ~0.90 .. 0.10.

How (see /README "Strike generation"):
1. Solve the strikes of call delta 0.9, 0.8, 0.6, 0.5, 0.4, 0.2, 0.1 (Black-76, r = 0) at
   the smile's own vol: K = F exp(-N^-1(delta) s + s^2/2), s = vol(K) sqrt(T), iterated
   to a fixed point (bisection on ln K if the iteration does not settle).
2. ATM: every multiple of the ATM step in [K(0.6), K(0.4)], plus the grid strikes on
   either side of K(0.5), so even a one-hour expiry lists a strike each side.
3. Outward from the ATM block, each side: outer-grid strikes while they stay within
   K(0.8)..K(0.2), then wing-grid strikes until one reaches or passes K(0.1) (above) and
   K(0.9) (below; also the forward, so the ladder always has a strike <= F); if one
   more step of the inner grid already gets there, that strike ends the side instead.
4. Joining two grids (2000 then 5000): the next strike is the first multiple of the new
   step at least one old step away; if that gap would exceed the new step, one more
   old-step strike comes first. So the spacing never narrows moving away from the ATM
   even when the steps do not divide each other.
5. A bucket whose span on one side would need more than MAX_PER_BUCKET strikes doubles
   its step there (still on its grid) until it fits, so absurd vols give a coarse ladder,
   not 10^6 strikes. Up to a total vol sigma*sqrt(T) of about 2 (200% over a year) the
   ladder still reaches below the forward; beyond that the whole 0.1..0.9 delta range
   lies far above F and the widened ATM step may exceed F itself.
Strikes are computed in integer units of the finest step's decimals: no float drift,
every strike an exact multiple of its bucket's step, always > 0.
"""

from __future__ import annotations

import math
from typing import Callable

import attrs

from actors.instruments.intervals import (  # re-exported: the actor imports them from here
    BUCKETS, REGIMES, IntervalError, Intervals, IntervalTable, decimals_of, default_interval_table,
    time_bucket, vol_regime,
)
from engine.quant import black76, norm_ppf

__all__ = [
    "BUCKETS", "REGIMES", "IntervalError", "Intervals", "IntervalTable", "default_interval_table",
    "time_bucket", "vol_regime", "DeltaStrikes", "StrikeLadder", "build_ladder", "generate_strikes",
    "strike_for_call_delta", "call_delta",
]

VolOf = Callable[[float], float]
LABELS = ("atm", "outer", "wings")
MAX_PER_BUCKET = 40  # strikes one bucket may add on one side before its step doubles
MAX_LOG_MONEYNESS = 600.0  # exp() stays finite; beyond this the vol input is nonsense
_FIXED_POINT_ITERATIONS = 100
_TOLERANCE = 1e-12


def _vol(vol_of: VolOf, strike: float) -> float:
    vol = vol_of(strike)
    if isinstance(vol, bool) or not isinstance(vol, (int, float)) or not (math.isfinite(vol) and vol > 0):
        raise ValueError(f"vol_of({strike!r}) returned {vol!r}: need a positive finite vol")
    return float(vol)


def call_delta(forward: float, strike: float, expiry_years: float, vol_of: VolOf) -> float:
    """Black-76 (r = 0) call delta at the smile's vol for this strike."""
    return black76(forward, strike, expiry_years, _vol(vol_of, strike), True).delta


def strike_for_call_delta(forward: float, expiry_years: float, vol_of: VolOf, delta: float) -> float:
    """The strike whose call delta is ``delta`` on this smile (fixed point, then bisection)."""
    if not 0 < delta < 1:
        raise ValueError(f"call delta must be in (0, 1), got {delta!r}")
    z, sqrt_t = norm_ppf(delta), math.sqrt(expiry_years)
    x = 0.0  # ln(K / F)
    for _ in range(_FIXED_POINT_ITERATIONS):
        sd = _vol(vol_of, forward * math.exp(x)) * sqrt_t
        nxt = -z * sd + 0.5 * sd * sd
        if abs(nxt) > MAX_LOG_MONEYNESS:
            break  # diverging (or a vol beyond any price): let bisection decide
        if abs(nxt - x) <= _TOLERANCE * (1.0 + abs(x)):
            return forward * math.exp(nxt)
        x = nxt
    return _bisect(forward, expiry_years, vol_of, delta)


def _bisect(forward: float, expiry_years: float, vol_of: VolOf, delta: float) -> float:
    """Fallback for smiles steep enough to make the fixed point oscillate."""
    def excess(x: float) -> float:
        return call_delta(forward, forward * math.exp(x), expiry_years, vol_of) - delta
    lo, hi = -1.0, 1.0
    while excess(lo) < 0 or excess(hi) > 0:
        lo, hi = lo * 2, hi * 2
        if hi > MAX_LOG_MONEYNESS:
            raise ValueError(f"no strike has call delta {delta} on this smile")
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        lo, hi = (mid, hi) if excess(mid) > 0 else (lo, mid)
    return forward * math.exp(0.5 * (lo + hi))


@attrs.frozen
class DeltaStrikes:
    """Strikes at the bucket edges (call delta), high strike = low delta."""

    k90: float
    k80: float
    k60: float
    k50: float
    k40: float
    k20: float
    k10: float

    @classmethod
    def solve(cls, forward: float, expiry_years: float, vol_of: VolOf) -> "DeltaStrikes":
        return cls(*(strike_for_call_delta(forward, expiry_years, vol_of, d)
                     for d in (0.9, 0.8, 0.6, 0.5, 0.4, 0.2, 0.1)))


@attrs.frozen
class StrikeLadder:
    """A generated ladder: strikes ascending, each with its bucket and call delta."""

    forward: float
    expiry_years: float
    intervals: Intervals
    steps_up: tuple[float, ...]  # steps used above / below the ATM block (atm, outer, wings):
    steps_down: tuple[float, ...]  # the intervals, unless a bucket had to widen (MAX_PER_BUCKET)
    edges: DeltaStrikes
    strikes: tuple[float, ...]
    buckets: tuple[str, ...]  # "atm" | "outer" | "wings"
    call_deltas: tuple[float, ...]

    def rows(self) -> list[tuple[float, str, float]]:
        return list(zip(self.strikes, self.buckets, self.call_deltas))


def _check_inputs(forward: float, expiry_years: float) -> None:
    for name, value in (("forward", forward), ("expiry_years", expiry_years)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive finite number, got {value!r}")


def _widen(step: int, at_least: int, spans: tuple[float, ...]) -> int:
    """Double ``step`` until it is >= ``at_least`` and no span needs > MAX_PER_BUCKET strikes."""
    while step < at_least or any(span / step > MAX_PER_BUCKET for span in spans):
        step *= 2
    return step


def _next_up(p: int, s_in: int, s_new: int) -> tuple[int, bool]:
    """The next strike above ``p``; True when it is on the new grid (else one more old step)."""
    q = -(-(p + s_in) // s_new) * s_new
    return (q, True) if q - p <= s_new else (p + s_in, False)


def _next_down(p: int, s_in: int, s_new: int) -> tuple[int, bool]:
    q = ((p - s_in) // s_new) * s_new
    return (q, True) if p - q <= s_new else (p - s_in, False)


def _walk_up(ladder: dict[int, str], p: int, steps: dict[str, int], e: dict[str, float]) -> None:
    """Above the ATM block: outer strikes within K(0.2), then wings until one reaches K(0.1)."""
    label = "atm"
    for bucket in ("outer", "wings"):
        while p < e["k10"]:
            q, on_new = _next_up(p, steps[label], steps[bucket])
            if bucket == "wings" and p + steps[label] >= e["k10"]:
                q, on_new = p + steps[label], False  # one more inner step already passes
            if bucket == "outer" and q > e["k20"]:
                break
            p, label = q, (bucket if on_new else label)
            ladder[p] = label


def _walk_down(ladder: dict[int, str], p: int, steps: dict[str, int], e: dict[str, float], target: float) -> None:
    """Below the ATM block: outer strikes within K(0.8), then wings until one reaches
    ``target`` (K(0.9) or the forward, the lower). A grid with no positive point at or
    below the target (a forward under one step) is skipped: the inner grid carries on."""
    grid = {"outer": "outer" if steps["outer"] <= target else "atm"}
    grid["wings"] = "wings" if steps["wings"] <= target else grid["outer"]
    label = "atm"
    for bucket in ("outer", "wings"):
        while p > target:
            s_in = steps[label]
            q, on_new = _next_down(p, s_in, steps[grid[bucket]])
            if bucket == "wings" and target >= p - s_in > 0:
                q, on_new = p - s_in, False  # one more inner step already passes
            if q <= 0 or (bucket == "outer" and q < e["k80"]):
                break
            p, label = q, (grid[bucket] if on_new else label)
            ladder[p] = label


def build_ladder(forward: float, expiry_years: float, vol_of: VolOf, intervals: Intervals) -> StrikeLadder:
    """The full ladder with bucket labels and deltas (``generate_strikes`` is its strikes)."""
    _check_inputs(forward, expiry_years)
    edges = DeltaStrikes.solve(forward, expiry_years, vol_of)
    scale = 10 ** max(decimals_of(intervals.of(b)) or 0 for b in LABELS)  # integer units: no float drift
    e = {name: getattr(edges, name) * scale for name in ("k90", "k80", "k60", "k50", "k40", "k20", "k10")}
    low_target = min(e["k90"], forward * scale)  # below: pass delta 0.9 and the forward
    base = {b: round(intervals.of(b) * scale) for b in LABELS}
    s_atm = _widen(base["atm"], 1, (e["k40"] - e["k60"],))
    # each side widens on its own spans: a huge upside must not coarsen the downside
    out_up = _widen(base["outer"], s_atm, (e["k20"] - e["k40"],))
    out_down = _widen(base["outer"], s_atm, (e["k60"] - e["k80"],))
    steps_up = {"atm": s_atm, "outer": out_up, "wings": _widen(base["wings"], out_up, (e["k10"] - e["k20"],))}
    steps_down = {"atm": s_atm, "outer": out_down,
                  "wings": _widen(base["wings"], out_down, (e["k80"] - max(low_target, 0.0),))}

    first = max(1, min(math.ceil(e["k60"] / s_atm), math.floor(e["k50"] / s_atm)))
    last = max(first, math.floor(e["k40"] / s_atm), math.ceil(e["k50"] / s_atm))
    ladder: dict[int, str] = {i * s_atm: "atm" for i in range(first, last + 1)}
    _walk_up(ladder, last * s_atm, steps_up, e)
    _walk_down(ladder, first * s_atm, steps_down, e, low_target)

    units = sorted(ladder)
    strikes = tuple(u / scale for u in units)
    return StrikeLadder(
        forward=float(forward), expiry_years=float(expiry_years), intervals=intervals,
        steps_up=tuple(steps_up[b] / scale for b in LABELS), steps_down=tuple(steps_down[b] / scale for b in LABELS),
        edges=edges, strikes=strikes, buckets=tuple(ladder[u] for u in units),
        call_deltas=tuple(call_delta(forward, k, expiry_years, vol_of) for k in strikes),
    )


def generate_strikes(forward: float, expiry_years: float, vol_of: VolOf, intervals: Intervals) -> list[float]:
    """Sorted, unique, positive grid strikes covering call delta ~0.9 .. 0.1 around ``forward``."""
    return list(build_ladder(forward, expiry_years, vol_of, intervals).strikes)
