"""Binance USDⓈ-M market-data answers decoded into values (pure).

Apart from the shell because these shapes are what break when the venue changes: they
are tested on hand-written bodies. Numbers arrive as strings; every one is checked
finite. A malformed entry in a list answer (one symbol of 300) is skipped and counted
rather than failing the whole answer, except where a missing field makes the answer
meaningless (an exchangeInfo without ``symbols``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import attrs

from adapters.http import VenueProtocolError, excerpt, finite_number

VENUE = "binance"


@attrs.frozen
class ExchangeSymbol:
    """One symbol of exchangeInfo: what the liquidity rules and the order rules need."""

    symbol: str
    pair: str
    contract_type: str
    status: str
    base_asset: str
    quote_asset: str
    tick_size: float | None  # PRICE_FILTER.tickSize (never pricePrecision)
    step_size: float | None  # LOT_SIZE.stepSize
    min_qty: float | None
    min_notional: float | None  # MIN_NOTIONAL.notional


@attrs.frozen
class ExchangeInfo:
    """The answer as received (served as is by the API) and its symbols."""

    raw: Mapping[str, Any]
    symbols: tuple[ExchangeSymbol, ...]
    skipped: int = 0


@attrs.frozen
class Ticker24h:
    symbol: str
    quote_volume: float  # 24 h, in the quote asset
    last_price: float


@attrs.frozen
class OpenInterest:
    symbol: str
    open_interest: float  # contracts (base asset)
    ts_ms: int


@attrs.frozen
class OpenInterestHistRow:
    ts_ms: int
    open_interest: float
    open_interest_value: float  # in the quote asset


def _text(entry: Mapping[str, Any], field: str, what: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value:
        raise VenueProtocolError(VENUE, what, f"{field} missing or not a string: {excerpt(str(entry))!r}")
    return value


def _timestamp(value: Any, what: str, field: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise VenueProtocolError(VENUE, what, f"{field} is not a timestamp: {value!r}")
    return value


def _filters(entry: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    raw = entry.get("filters")
    return {f["filterType"]: f for f in raw if isinstance(f, Mapping) and isinstance(f.get("filterType"), str)} \
        if isinstance(raw, list) else {}


def _optional_number(mapping: Mapping[str, Any] | None, field: str, what: str) -> float | None:
    if mapping is None or mapping.get(field) is None:
        return None
    return finite_number(mapping.get(field), VENUE, what, field)


def exchange_symbol(entry: Any) -> ExchangeSymbol:
    what = "GET /fapi/v1/exchangeInfo"
    if not isinstance(entry, Mapping):
        raise VenueProtocolError(VENUE, what, f"symbol entry is not an object: {excerpt(str(entry))!r}")
    filters = _filters(entry)
    return ExchangeSymbol(
        symbol=_text(entry, "symbol", what), pair=str(entry.get("pair") or entry["symbol"]),
        contract_type=str(entry.get("contractType") or ""), status=_text(entry, "status", what),
        base_asset=str(entry.get("baseAsset") or ""), quote_asset=_text(entry, "quoteAsset", what),
        tick_size=_optional_number(filters.get("PRICE_FILTER"), "tickSize", what),
        step_size=_optional_number(filters.get("LOT_SIZE"), "stepSize", what),
        min_qty=_optional_number(filters.get("LOT_SIZE"), "minQty", what),
        min_notional=_optional_number(filters.get("MIN_NOTIONAL"), "notional", what),
    )


def exchange_info_from(body: Any) -> ExchangeInfo:
    """``GET /fapi/v1/exchangeInfo``; unreadable symbol entries are skipped and counted."""
    what = "GET /fapi/v1/exchangeInfo"
    if not isinstance(body, Mapping) or not isinstance(body.get("symbols"), list):
        raise VenueProtocolError(VENUE, what, f"expected an object with a symbols list: {excerpt(str(body))!r}")
    symbols, skipped = [], 0
    for entry in body["symbols"]:
        try:
            symbols.append(exchange_symbol(entry))
        except VenueProtocolError:
            skipped += 1
    return ExchangeInfo(raw=body, symbols=tuple(symbols), skipped=skipped)


def tickers_24h_from(body: Any) -> tuple[dict[str, Ticker24h], int]:
    """``GET /fapi/v1/ticker/24hr`` (all symbols): by symbol, and how many entries were unreadable."""
    what = "GET /fapi/v1/ticker/24hr"
    if not isinstance(body, list):
        raise VenueProtocolError(VENUE, what, f"expected a list: {excerpt(str(body))!r}")
    out: dict[str, Ticker24h] = {}
    skipped = 0
    for entry in body:
        try:
            if not isinstance(entry, Mapping):
                raise VenueProtocolError(VENUE, what, "entry is not an object")
            symbol = _text(entry, "symbol", what)
            volume = finite_number(entry.get("quoteVolume"), VENUE, what, "quoteVolume")
            last = finite_number(entry.get("lastPrice"), VENUE, what, "lastPrice")
            if volume < 0:
                raise VenueProtocolError(VENUE, what, f"quoteVolume < 0: {volume}")
            out[symbol] = Ticker24h(symbol, volume, last)
        except VenueProtocolError:
            skipped += 1
    return out, skipped


def open_interest_from(body: Any) -> OpenInterest:
    """``GET /fapi/v1/openInterest?symbol=``."""
    what = "GET /fapi/v1/openInterest"
    if not isinstance(body, Mapping):
        raise VenueProtocolError(VENUE, what, f"expected an object: {excerpt(str(body))!r}")
    oi = finite_number(body.get("openInterest"), VENUE, what, "openInterest")
    if oi < 0:
        raise VenueProtocolError(VENUE, what, f"openInterest < 0: {oi}")
    return OpenInterest(_text(body, "symbol", what), oi, _timestamp(body.get("time"), what, "time"))


def open_interest_hist_from(body: Any) -> list[OpenInterestHistRow]:
    """``GET /futures/data/openInterestHist``: rows in time order (the venue's order is not relied on)."""
    what = "GET /futures/data/openInterestHist"
    if not isinstance(body, list):
        raise VenueProtocolError(VENUE, what, f"expected a list: {excerpt(str(body))!r}")
    rows = []
    for entry in body:
        if not isinstance(entry, Mapping):
            raise VenueProtocolError(VENUE, what, f"row is not an object: {excerpt(str(entry))!r}")
        rows.append(OpenInterestHistRow(
            _timestamp(entry.get("timestamp"), what, "timestamp"),
            finite_number(entry.get("sumOpenInterest"), VENUE, what, "sumOpenInterest"),
            finite_number(entry.get("sumOpenInterestValue"), VENUE, what, "sumOpenInterestValue"),
        ))
    return sorted(rows, key=lambda row: row.ts_ms)
