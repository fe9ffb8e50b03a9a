"""What the simulated Dhan venue lists: underlyings, their ids, lots, strike steps and expiry rules.

Why a table of specs: the engine resolves lots, ticks and security ids from the venue
(instrument master, option chain), never from its own constants; keeping them in one
place lets a test build a smaller venue (``select_underlyings``) and keeps ids stable.
Index ids are Dhan's real IDX_I ids (13 NIFTY, 25 BANKNIFTY, 27 FINNIFTY, 442
MIDCPNIFTY, 51 SENSEX) and real NSE_EQ ids (2885 RELIANCE, 1594 INFY); the CRUDEOIL
futures id is made up (MCX ids change every month).
"""

from __future__ import annotations

from typing import Iterable

import attrs

from adapters.sim.dhan_calendar import ExpiryRule


@attrs.frozen
class UnderlyingSpec:
    """One underlying and how its options are listed."""

    symbol: str
    security_id: int
    segment: str  # where the underlying is quoted and how the option chain names it
    option_segment: str  # segment of its options
    rule: ExpiryRule
    strike_interval: float
    lot_size: int
    spot: float
    atm_vol: float  # annualised, also the price process's volatility
    option_instrument: str  # OPTIDX | OPTSTK | OPTFUT
    underlying_instrument: str  # INDEX | EQUITY | FUTCOM
    display_name: str
    exchange_id: str = "NSE"  # NSE | BSE | MCX (instrument master EXCH_ID)
    option_tick: float = 0.05
    price_tick: float = 0.05


DEFAULT_UNDERLYINGS: tuple[UnderlyingSpec, ...] = (
    UnderlyingSpec("NIFTY", 13, "IDX_I", "NSE_FNO", ExpiryRule("NSE", weeklies=5, monthlies=3), 50, 75,
                   24950.0, 0.12, "OPTIDX", "INDEX", "Nifty 50"),
    UnderlyingSpec("BANKNIFTY", 25, "IDX_I", "NSE_FNO", ExpiryRule("NSE", monthlies=3), 100, 35,
                   55400.0, 0.14, "OPTIDX", "INDEX", "Nifty Bank"),
    UnderlyingSpec("FINNIFTY", 27, "IDX_I", "NSE_FNO", ExpiryRule("NSE", monthlies=3), 50, 65,
                   26400.0, 0.13, "OPTIDX", "INDEX", "Nifty Fin Service"),
    UnderlyingSpec("MIDCPNIFTY", 442, "IDX_I", "NSE_FNO", ExpiryRule("NSE", monthlies=3), 25, 140,
                   12900.0, 0.16, "OPTIDX", "INDEX", "Nifty Midcap Select"),
    UnderlyingSpec("SENSEX", 51, "IDX_I", "BSE_FNO", ExpiryRule("BSE", weeklies=4, monthlies=3), 100, 20,
                   81500.0, 0.12, "OPTIDX", "INDEX", "Sensex", exchange_id="BSE"),
    UnderlyingSpec("RELIANCE", 2885, "NSE_EQ", "NSE_FNO", ExpiryRule("NSE", monthlies=3), 10, 500,
                   1415.0, 0.24, "OPTSTK", "EQUITY", "Reliance Industries"),
    UnderlyingSpec("INFY", 1594, "NSE_EQ", "NSE_FNO", ExpiryRule("NSE", monthlies=3), 20, 400,
                   1520.0, 0.26, "OPTSTK", "EQUITY", "Infosys"),
    UnderlyingSpec("CRUDEOIL", 464926, "MCX_COMM", "MCX_COMM", ExpiryRule("MCX", monthlies=3), 50, 100,
                   5850.0, 0.35, "OPTFUT", "FUTCOM", "Crude Oil", exchange_id="MCX", option_tick=0.1,
                   price_tick=1.0),
)


def select_underlyings(symbols: Iterable[str] | None,
                       specs: tuple[UnderlyingSpec, ...] = DEFAULT_UNDERLYINGS) -> tuple[UnderlyingSpec, ...]:
    """The specs named in ``symbols`` (all when None), in the default order."""
    if symbols is None:
        return specs
    wanted = set(symbols)
    unknown = wanted - {spec.symbol for spec in specs}
    if unknown:
        raise ValueError(f"unknown underlyings {sorted(unknown)}; known: {', '.join(s.symbol for s in specs)}")
    return tuple(spec for spec in specs if spec.symbol in wanted)


SYNTHETIC_INDEX_ID_BASE = 900_001  # made-up IDX_I ids, clear of every real id above


def synthetic_indices(count: int, weeklies: int = 12) -> tuple[UnderlyingSpec, ...]:
    """``count`` made-up NSE indices (SIMIDX01, ...), each listing ``weeklies`` weekly expiries.

    Why: a load test of the feed needs more chains than the real list offers (25,000 tokens
    are about 124 chains of 200 legs; the eight real underlyings list about 30 expiries).
    They are plain indices on IDX_I with NSE rules, so the engine configures them like NIFTY.
    """
    if count < 0 or weeklies < 1:
        raise ValueError(f"need count >= 0 and weeklies >= 1, got {count}, {weeklies}")
    return tuple(
        UnderlyingSpec(f"SIMIDX{i + 1:02d}", SYNTHETIC_INDEX_ID_BASE + i, "IDX_I", "NSE_FNO",
                       ExpiryRule("NSE", weeklies=weeklies, monthlies=0), 50, 50, 20_000.0 + 1_000.0 * i, 0.15,
                       "OPTIDX", "INDEX", f"Simulated Index {i + 1:02d}")
        for i in range(count)
    )
