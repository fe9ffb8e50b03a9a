"""What one market's update writes: the names of every live maturity, and the set diff.

Pure: the actor gathers the index price, the SVI parameters and the current set, and
calls these functions; they decide, it writes.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping

import attrs

from actors.instruments.maturities import Maturity, MaturityPolicy, is_expired
from actors.instruments.names import maturity_of, names_for
from actors.instruments.strikes import IntervalTable, generate_strikes
from actors.instruments.svi import SviError, atm_iv, parse_svi, smile_vol

MS_PER_YEAR = 365.0 * 24 * 3600 * 1000


@attrs.frozen
class MarketRules:
    """Everything that shapes one market's listing, resolved from config and defaults."""

    market: str
    policy: MaturityPolicy
    table: IntervalTable
    vol_threshold: float | None  # None: the interval table's own threshold for the market


@attrs.frozen
class MaturityOutcome:
    code: str
    expiry_ms: int
    names: tuple[str, ...] = ()
    strikes: int = 0
    atm_iv: float | None = None
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.error is None


@attrs.frozen
class MarketPlan:
    market: str
    maturities: tuple[MaturityOutcome, ...]

    @property
    def names(self) -> frozenset[str]:
        return frozenset(name for m in self.maturities for name in m.names)

    @property
    def failed(self) -> tuple[MaturityOutcome, ...]:
        return tuple(m for m in self.maturities if not m.ok)


@attrs.frozen
class SetUpdate:
    """The diff applied in one MULTI: expired names leave, new names arrive."""

    remove: tuple[str, ...]
    add: tuple[str, ...]


def plan_maturity(rules: MarketRules, maturity: Maturity, forward: float, now_ms: int,
                  svi_raw: str | bytes | None) -> MaturityOutcome:
    """One maturity's names, or the reason it cannot be listed (the others go on)."""
    expiry_years = (maturity.expiry_ms - now_ms) / MS_PER_YEAR
    base = MaturityOutcome(maturity.code, maturity.expiry_ms)
    if expiry_years <= 0:
        return attrs.evolve(base, error="already expired")
    try:
        params = parse_svi(svi_raw)
    except SviError as error:
        return attrs.evolve(base, error=f"svi:{maturity.code}: {error}")
    vol_atm = atm_iv(params, expiry_years)
    if not math.isfinite(vol_atm) or vol_atm <= 0:
        return attrs.evolve(base, error=f"svi:{maturity.code}: ATM vol {vol_atm!r} is not usable")
    intervals = rules.table.lookup(expiry_years * 365.0, vol_atm, rules.vol_threshold)
    try:
        strikes = generate_strikes(forward, expiry_years, lambda k: smile_vol(params, k, forward, expiry_years),
                                   intervals)
    except ValueError as error:  # e.g. a smile on which no strike reaches delta 0.10 / 0.90
        return attrs.evolve(base, error=f"svi:{maturity.code}: no strike ladder: {error}")
    names = tuple(names_for(rules.market, maturity.code, strikes))
    return attrs.evolve(base, names=names, strikes=len(strikes), atm_iv=vol_atm)


def plan_market(rules: MarketRules, maturities: Iterable[Maturity], forward: float, now_ms: int,
                svi_by_code: Mapping[str, str | bytes | None]) -> MarketPlan:
    return MarketPlan(rules.market, tuple(
        plan_maturity(rules, m, forward, now_ms, svi_by_code.get(m.code)) for m in maturities
    ))


def plan_set_update(current: Iterable[str], new_names: Iterable[str], now_ms: int) -> SetUpdate:
    """Remove only what has expired: a live strike stays even if the ladder moved away."""
    current = set(current)
    remove = sorted(name for name in current if _expired(name, now_ms))
    add = sorted(set(new_names) - current)
    return SetUpdate(tuple(remove), tuple(add))


def _expired(name: str, now_ms: int) -> bool:
    try:
        return is_expired(maturity_of(name), now_ms)
    except ValueError:
        return True  # not one of our names: it cannot be validated against, so it goes


def chunks(items: tuple[str, ...], size: int) -> list[tuple[str, ...]]:
    return [items[i:i + size] for i in range(0, len(items), size)]
