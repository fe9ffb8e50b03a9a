"""Strike windows per underlying kind, the chain's strike interval, and the ATM strike.

A window is counted in *listed strikes*, not in grid steps: Dhan lists 50-point strikes near
the money and 100-point ones further out, so "50 below" means the 50 nearest strikes the
venue lists below the ATM. Whatever the venue cannot fill is reported as missing on its
side (never silently pruned, never padded with invented strikes).

The ATM slot belongs to the upper side: a window is ``below`` strikes strictly under the ATM
plus ``at_or_above`` strikes at or over it, the first of which is the ATM itself. For
``mcx`` ("5 below + 5 above = 10") the ATM is therefore one of the 5 above: the tradeable
ATM strike is the one a chain must never lack, and the total stays 10.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from typing import Iterable, Literal, get_args

import attrs

UnderlyingKind = Literal["index_major", "index_minor", "stock", "mcx"]
UNDERLYING_KINDS: tuple[str, ...] = get_args(UnderlyingKind)

NEAREST_FOR_INTERVAL = 12  # strikes around the money whose gaps vote on the interval
_GAP_DECIMALS = 6  # Dhan strike keys carry 6 decimals: gaps are compared at that precision


@attrs.frozen
class WindowSpec:
    """How many listed strikes a kind's window holds under the ATM and at-or-over it."""

    below: int
    at_or_above: int  # the ATM strike is the first of these

    @property
    def above(self) -> int:
        """Strikes strictly above the ATM."""
        return self.at_or_above - 1

    @property
    def total(self) -> int:
        return self.below + self.at_or_above


WINDOWS: dict[str, WindowSpec] = {
    "index_major": WindowSpec(below=50, at_or_above=50),  # 50 + ATM + 49 = 100
    "index_minor": WindowSpec(below=25, at_or_above=25),  # 25 + ATM + 24 = 50
    "stock": WindowSpec(below=12, at_or_above=13),  # 12 + ATM + 12 = 25
    "mcx": WindowSpec(below=5, at_or_above=5),  # 5 below + (ATM + 4) above = 10
}


def window_spec(kind: str) -> WindowSpec:
    """The window of an underlying kind; ValueError naming the known kinds otherwise."""
    try:
        return WINDOWS[kind]
    except KeyError:
        raise ValueError(f"unknown underlying kind {kind!r}: expected one of {', '.join(UNDERLYING_KINDS)}") from None


@attrs.frozen
class Window:
    """The strikes chosen around the ATM and what the venue could not supply.

    ``missing_below`` / ``missing_above`` count the slots the venue's listing could not fill
    on each side (the ATM slot counts on the upper side); ``atm_listed`` is False when the
    computed ATM strike itself is not listed (its slot then goes to the next listed strike up).
    """

    strikes: tuple[float, ...]
    missing_below: int
    missing_above: int
    atm_listed: bool = True

    @property
    def complete(self) -> bool:
        return self.missing_below == 0 and self.missing_above == 0 and self.atm_listed


def _finite(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return float(value)


def _sorted_strikes(strikes: Iterable[float]) -> list[float]:
    out = sorted({_finite("strike", s) for s in strikes})
    if out and out[0] <= 0:
        raise ValueError(f"strikes must be > 0, got {out[0]!r}")
    return out


def strike_interval(strikes: Iterable[float], near: float) -> float:
    """The chain's strike spacing near the money: the most common gap among the strikes nearest ``near``.

    A few missing strikes only add a few double gaps, which the vote ignores; a tie goes to
    the smaller gap (the finer grid is the real one). Raises ValueError with fewer than 2
    distinct strikes or a non-finite ``near``.
    """
    near = _finite("near", near)
    listed = _sorted_strikes(strikes)
    if len(listed) < 2:
        raise ValueError(f"need at least 2 distinct strikes to infer the strike interval, got {len(listed)}")
    nearest = sorted(sorted(listed, key=lambda s: (abs(s - near), s))[:NEAREST_FOR_INTERVAL])
    gaps = Counter(round(b - a, _GAP_DECIMALS) for a, b in zip(nearest, nearest[1:]))
    return min(gaps, key=lambda gap: (-gaps[gap], gap))


def atm_strike(ltp: float, interval: float) -> float:
    """round(LTP / interval) x interval, halves rounding up; ValueError for LTP <= 0 or non-finite.

    Never guesses: an LTP of 0 (Dhan sends it on holidays) or NaN is an error for the caller
    to surface, not a price. Halves go up (not to even) so the ATM is stable and predictable.
    """
    ltp, interval = _finite("ltp", ltp), _finite("interval", interval)
    if ltp <= 0:
        raise ValueError(f"ltp must be > 0 to derive an ATM strike, got {ltp!r}")
    if interval <= 0:
        raise ValueError(f"strike interval must be > 0, got {interval!r}")
    steps = math.floor(ltp / interval + 0.5 + 1e-9)  # 1e-9: 0.5 computed as 0.49999999 still rounds up
    return round(steps * interval, _GAP_DECIMALS)


def select_window(strikes: Iterable[float], atm: float, kind: str) -> Window:
    """The kind's window of listed strikes around ``atm``, with what the listing lacks on each side."""
    spec = window_spec(kind)
    atm = _finite("atm", atm)
    listed = _sorted_strikes(strikes)
    split = bisect.bisect_left(listed, atm - 10 ** -_GAP_DECIMALS / 2)  # first strike >= atm (float-tolerant)
    below = listed[max(0, split - spec.below):split]
    upper = listed[split:split + spec.at_or_above]
    atm_listed = bool(upper) and abs(upper[0] - atm) < 10 ** -_GAP_DECIMALS
    return Window(
        strikes=tuple(below + upper),
        missing_below=spec.below - len(below),
        missing_above=spec.at_or_above - len(upper),
        atm_listed=atm_listed,
    )
