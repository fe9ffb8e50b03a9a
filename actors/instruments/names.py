"""Linear (USDC) option names as Deribit writes them: ``BTC_USDC-28MAR25-86000-C``.

BTC and ETH strikes are integers; ARB strikes are written with ``d`` as the decimal point
and always exactly three decimals (0.38 -> ``0d380``), so one strike has one name and set
differences in Redis never see two spellings of it. A strike a name cannot carry exactly
is an error, not something to round silently.
"""

from __future__ import annotations

import re
from typing import Iterable

import attrs

from actors.instruments.maturities import parse_maturity_code

STRIKE_DECIMALS: dict[str, int] = {"BTC": 0, "ETH": 0, "ARB": 3}
_NAME = re.compile(r"^([A-Z0-9]+)_USDC-([0-9]{1,2}[A-Z]{3}[0-9]{2})-([0-9]+(?:d[0-9]+)?)-([CP])$")


def strike_decimals(market: str) -> int:
    """Decimals a market's strikes carry in names; ValueError for markets we do not list."""
    try:
        return STRIKE_DECIMALS[market]
    except KeyError:
        raise ValueError(f"unknown market {market!r} (known: {', '.join(STRIKE_DECIMALS)})") from None


def strike_text(market: str, strike: float) -> str:
    """``86000`` for BTC/ETH, ``0d380`` for ARB; ValueError if not exactly representable."""
    decimals = strike_decimals(market)
    if isinstance(strike, bool) or not isinstance(strike, (int, float)) or not strike > 0 or strike == float("inf"):
        raise ValueError(f"strike must be a positive finite number, got {strike!r}")
    scaled = strike * 10**decimals
    units = round(scaled)
    if units < 1 or abs(units - scaled) > 1e-9 * scaled:
        raise ValueError(f"{market} strike {strike!r} is not a multiple of {10.0 ** -decimals:g}")
    if decimals == 0:
        return str(units)
    whole, frac = divmod(units, 10**decimals)
    return f"{whole}d{frac:0{decimals}d}"


def instrument_name(market: str, code: str, strike: float, is_call: bool) -> str:
    """``{MARKET}_USDC-{DMMMYY}-{strike}-{C|P}``."""
    parse_maturity_code(code)
    return f"{market}_USDC-{code}-{strike_text(market, strike)}-{'C' if is_call else 'P'}"


def names_for(market: str, maturity_code: str, strikes: Iterable[float]) -> list[str]:
    """A call and a put per strike, in strike order as given."""
    return [instrument_name(market, maturity_code, strike, is_call)
            for strike in strikes for is_call in (True, False)]


@attrs.frozen
class InstrumentName:
    market: str
    code: str
    strike: float
    is_call: bool


def parse_instrument_name(name: str) -> InstrumentName:
    """The parts of one of our names; ValueError for anything else."""
    found = _NAME.match(name) if isinstance(name, str) else None
    if found is None:
        raise ValueError(f"not a linear option name: {name!r}")
    market, code, strike, side = found.groups()
    parse_maturity_code(code)
    return InstrumentName(market, code, float(strike.replace("d", ".")), side == "C")


def maturity_of(name: str) -> str:
    """The maturity code of a name (``28MAR25``), to find expired names."""
    return parse_instrument_name(name).code
