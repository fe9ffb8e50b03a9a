"""JSON and CSV bodies of the simulated Dhan REST API (pure).

Why separate from the handlers: these are the shapes adapters parse, so they are
written once, from the venue's documentation (venues.md and the v2 docs), and tested
against hand-written fixtures without a server.
"""

from __future__ import annotations

import csv
import io
from datetime import date, datetime
from typing import Any, Iterable

from adapters.sim.dhan_access import DATA_ERRORS
from adapters.sim.dhan_calendar import MCX_FUTURES_DAY, is_monthly, previous_trading_day
from adapters.sim.dhan_market import DhanMarket, OptionContract
from adapters.sim.dhan_quotes import IST, IST_OFFSET_S, Quote, round_to_tick
from adapters.sim.dhan_universe import UnderlyingSpec

INSTRUMENT_COLUMNS = (
    "EXCH_ID", "SEGMENT", "SECURITY_ID", "INSTRUMENT", "UNDERLYING_SECURITY_ID", "UNDERLYING_SYMBOL",
    "SYMBOL_NAME", "DISPLAY_NAME", "LOT_SIZE", "SM_EXPIRY_DATE", "STRIKE_PRICE", "OPTION_TYPE",
    "TICK_SIZE", "EXPIRY_FLAG",
)
CIRCUIT_FRACTION = 0.2  # simulated daily price band around the previous close


def data_error(code: int) -> dict[str, Any]:
    """The data APIs' error shape, e.g. ``{"data": {"805": "Too many requests..."}, "status": "failed"}``."""
    return {"data": {str(code): DATA_ERRORS[code]}, "status": "failed"}


def expiry_list_body(expiries: Iterable[date]) -> dict[str, Any]:
    return {"status": "success", "data": [expiry.isoformat() for expiry in expiries]}


def leg_body(security_id: int, quote: Quote) -> dict[str, Any]:
    """One ``ce``/``pe`` leg with every field the venue sends (IV already in percent)."""
    top = quote.depth[0]
    return {
        "security_id": security_id,
        "last_price": quote.ltp,
        "average_price": quote.atp,
        "oi": quote.oi,
        "previous_oi": quote.prev_oi,
        "volume": quote.volume,
        "previous_volume": quote.prev_volume,
        "previous_close_price": quote.prev_close,
        "implied_volatility": quote.iv_pct,
        "top_bid_price": top.bid_price,
        "top_bid_quantity": top.bid_qty,
        "top_ask_price": top.ask_price,
        "top_ask_quantity": top.ask_qty,
        "greeks": {"delta": quote.delta, "theta": quote.theta, "gamma": quote.gamma, "vega": quote.vega},
    }


def option_chain_body(market: DhanMarket, symbol: str, expiry: date) -> dict[str, Any]:
    """``data.last_price`` (0 on holidays) and ``data.oc`` keyed by strikes with 6 decimals."""
    state = market.underlying(symbol)
    oc: dict[str, Any] = {}
    for strike, legs in market.chain(symbol, expiry):
        entry = {}
        for side, is_call in (("ce", True), ("pe", False)):
            if is_call in legs:
                entry[side] = leg_body(legs[is_call], market.option_quote(legs[is_call]))
        oc[f"{strike:.6f}"] = entry
    last_price = 0 if market.holiday_mode else round_to_tick(state.price, state.spec.price_tick)
    return {"status": "success", "data": {"last_price": last_price, "oc": oc}}


def _trade_time(ltt_s: int) -> str:
    """The quote API's ``dd/mm/yyyy HH:MM:SS`` (IST) from the feed's IST-epoch seconds."""
    return datetime.fromtimestamp(ltt_s - IST_OFFSET_S, IST).strftime("%d/%m/%Y %H:%M:%S")


def ohlc_of(quote: Quote) -> dict[str, float]:
    return {"open": quote.open, "close": quote.prev_close, "high": quote.high, "low": quote.low}


def market_quote_body(kind: str, quote: Quote, tick: float) -> dict[str, Any]:
    """The per-instrument object of ``/marketfeed/ltp``, ``/ohlc`` or ``/quote``."""
    if kind == "ltp":
        return {"last_price": quote.ltp}
    if kind == "ohlc":
        return {"last_price": quote.ltp, "ohlc": ohlc_of(quote)}
    band = quote.prev_close * CIRCUIT_FRACTION
    return {
        "average_price": quote.atp,
        "buy_quantity": quote.total_buy_qty,
        "depth": {
            "buy": [{"quantity": lv.bid_qty, "orders": lv.bid_orders, "price": lv.bid_price} for lv in quote.depth],
            "sell": [{"quantity": lv.ask_qty, "orders": lv.ask_orders, "price": lv.ask_price} for lv in quote.depth],
        },
        "last_price": quote.ltp,
        "last_quantity": quote.ltq,
        "last_trade_time": _trade_time(quote.ltt_s),
        "lower_circuit_limit": round_to_tick(max(quote.prev_close - band, 0.0), tick),
        "net_change": round(quote.ltp - quote.prev_close, 2),
        "ohlc": ohlc_of(quote),
        "oi": quote.oi,
        "oi_day_high": quote.oi_high,
        "oi_day_low": quote.oi_low,
        "sell_quantity": quote.total_sell_qty,
        "upper_circuit_limit": round_to_tick(quote.prev_close + band, tick),
        "volume": quote.volume,
    }


# --------------------------------------------------------------------------- instrument master


def _strike_text(strike: float) -> str:
    return str(int(strike)) if strike == int(strike) else f"{strike:g}"


def _expiry_time(spec: UnderlyingSpec) -> str:
    return "23:30:00" if spec.exchange_id == "MCX" else "14:30:00"


def _segment_letter(spec: UnderlyingSpec, derivative: bool) -> str:
    if spec.exchange_id == "MCX":
        return "M"
    if derivative:
        return "D"
    return "I" if spec.segment == "IDX_I" else "E"


def _underlying_row(spec: UnderlyingSpec, today: date) -> list[str]:
    if spec.underlying_instrument == "FUTCOM":
        futures_expiry = previous_trading_day(date(today.year, today.month, MCX_FUTURES_DAY))
        return [spec.exchange_id, "M", str(spec.security_id), "FUTCOM", "0", spec.symbol,
                f"{spec.symbol}-{futures_expiry:%b%Y}-FUT", f"{spec.symbol} {futures_expiry:%d %b}".upper() + " FUT",
                str(spec.lot_size), f"{futures_expiry.isoformat()} {_expiry_time(spec)}", "-0.01000", "XX",
                f"{spec.price_tick:.2f}", "M"]
    underlying_id = str(spec.security_id) if spec.segment == "IDX_I" else ""
    return [spec.exchange_id, _segment_letter(spec, False), str(spec.security_id), spec.underlying_instrument,
            underlying_id, spec.symbol, spec.symbol, spec.display_name, "1", "0001-01-01", "", "XX",
            f"{spec.price_tick:.2f}", "N"]


def _option_row(contract: OptionContract) -> list[str]:
    spec, leg, expiry = contract.spec, contract.leg, contract.expiry
    side = "CE" if leg.is_call else "PE"
    strike = _strike_text(leg.strike)
    flag = "M" if is_monthly(expiry, spec.rule.exchange) else "W"
    return [spec.exchange_id, _segment_letter(spec, True), str(leg.security_id), spec.option_instrument,
            str(spec.security_id), spec.symbol, f"{spec.symbol}-{expiry:%b%Y}-{strike}-{side}",
            f"{spec.symbol} {expiry:%d %b}".upper() + f" {strike} {'CALL' if leg.is_call else 'PUT'}",
            str(spec.lot_size), f"{expiry.isoformat()} {_expiry_time(spec)}", f"{leg.strike:.5f}", side,
            f"{spec.option_tick:.2f}", flag]


def instrument_master_csv(market: DhanMarket) -> str:
    """The detailed scrip master: underlyings, then every listed option contract."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(INSTRUMENT_COLUMNS)
    for state in market.underlyings.values():
        writer.writerow(_underlying_row(state.spec, market.today()))
    for contract in market.listed_contracts():
        writer.writerow(_option_row(contract))
    return out.getvalue()
