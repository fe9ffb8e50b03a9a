"""A realistic NIFTY-like REST snapshot for the chain tests."""

from __future__ import annotations

from actors.optionchain.inputs import ChainRow, LegQuote


def quote(security_id: int, strike: float, call: bool) -> LegQuote:
    moneyness = (strike - 25_000) / 1000
    return LegQuote(
        security_id=security_id, ltp=100.0 + security_id % 97, bid=99.5, ask=100.5, bid_qty=75, ask_qty=150,
        oi=1000 * (security_id % 13), previous_oi=900, volume=5000, iv_pct=12.5 + moneyness,
        delta=0.5 - moneyness if call else moneyness - 0.5, gamma=0.001, theta=-10.0, vega=12.0,
    )


def snapshot(low: float = 22_000, high: float = 28_000, step: float = 50, skip: frozenset[float] = frozenset(),
             id_base: int = 40_000) -> list[ChainRow]:
    rows = []
    strike, i = low, 0
    while strike <= high:
        if strike not in skip:
            rows.append(ChainRow(strike, quote(id_base + 2 * i, strike, True), quote(id_base + 2 * i + 1, strike, False)))
        strike += step
        i += 1
    return rows
