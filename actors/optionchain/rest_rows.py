"""The Dhan adapter's REST chain snapshot as the pure core's rows (a few lines, kept in one place)."""

from __future__ import annotations

from typing import Any

from actors.optionchain.inputs import ChainRow, LegQuote


def leg_quote(leg: Any) -> LegQuote | None:
    """``adapters.dhan.bodies.OptionLeg`` -> ``LegQuote`` (None stays None: the venue lacks that side)."""
    if leg is None:
        return None
    greeks = leg.greeks
    return LegQuote(
        security_id=leg.security_id, ltp=leg.last_price, bid=leg.top_bid_price, ask=leg.top_ask_price,
        bid_qty=leg.top_bid_qty, ask_qty=leg.top_ask_qty, oi=leg.oi, previous_oi=leg.previous_oi,
        volume=leg.volume, iv_pct=leg.implied_volatility_pct, delta=greeks.delta, gamma=greeks.gamma,
        theta=greeks.theta, vega=greeks.vega,
    )


def chain_rows(snapshot: Any) -> list[ChainRow]:
    """Rows of an ``OptionChainSnapshot`` in ascending strike order."""
    return [ChainRow(float(strike), leg_quote(legs.ce), leg_quote(legs.pe))
            for strike, legs in sorted(snapshot.strikes.items())]
