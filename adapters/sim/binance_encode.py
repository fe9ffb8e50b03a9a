"""Binance USDⓈ-M market-data payloads (REST and streams) as pure functions.

Field names, nesting and types follow Binance's endpoint pages: prices, quantities and
rates are strings, times and ids are integers.
"""

from __future__ import annotations

import hashlib
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from adapters.sim.binance_market import SymbolState
from adapters.sim.binance_universe import SymbolSpec
from adapters.sim.matching import BookSnapshot

FUNDING_INTERVAL_MS = 8 * 3_600_000
ORDER_TYPES = ["LIMIT", "MARKET", "STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"]
TIME_IN_FORCE = ["GTC", "IOC", "FOK", "GTX", "GTD"]


def fixed(value: Decimal | float, places: int) -> str:
    """``value`` with exactly ``places`` decimals, never in exponent notation."""
    number = value if isinstance(value, Decimal) else Decimal(repr(float(value)))
    return format(number.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN), "f")


def plain(value: Decimal) -> str:
    """Shortest plain form: ``Decimal("1E+2")`` -> ``"100"``."""
    return format(value.normalize(), "f")


def qty_places(spec: SymbolSpec) -> int:
    return spec.quantity_precision


def rate_limits(weight_per_min: int, orders_per_min: int, orders_per_10s: int) -> list[dict[str, Any]]:
    return [
        {"rateLimitType": "REQUEST_WEIGHT", "interval": "MINUTE", "intervalNum": 1, "limit": weight_per_min},
        {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": orders_per_min},
        {"rateLimitType": "ORDERS", "interval": "SECOND", "intervalNum": 10, "limit": orders_per_10s},
    ]


def symbol_info(spec: SymbolSpec, status: str) -> dict[str, Any]:
    price_places = spec.price_precision
    return {
        "symbol": spec.symbol, "pair": spec.pair, "contractType": spec.contract_type,
        "deliveryDate": spec.delivery_date_ms, "onboardDate": spec.onboard_date_ms, "status": status,
        "maintMarginPercent": "2.5000", "requiredMarginPercent": "5.0000",
        "baseAsset": spec.base_asset, "quoteAsset": spec.quote_asset, "marginAsset": spec.quote_asset,
        "pricePrecision": spec.price_precision, "quantityPrecision": spec.quantity_precision,
        "baseAssetPrecision": 8, "quotePrecision": 8, "underlyingType": "COIN", "underlyingSubType": [],
        "settlePlan": 0, "triggerProtect": "0.0500", "liquidationFee": "0.012500", "marketTakeBound": "0.05",
        "maxMoveOrderLimit": 10000,
        "filters": [
            {"filterType": "PRICE_FILTER", "minPrice": fixed(spec.min_price, price_places),
             "maxPrice": plain(spec.max_price), "tickSize": fixed(spec.tick_size, price_places)},
            {"filterType": "LOT_SIZE", "minQty": plain(spec.min_qty), "maxQty": plain(spec.max_qty),
             "stepSize": plain(spec.step_size)},
            {"filterType": "MARKET_LOT_SIZE", "minQty": plain(spec.min_qty), "maxQty": plain(spec.market_max_qty),
             "stepSize": plain(spec.step_size)},
            {"filterType": "MAX_NUM_ORDERS", "limit": 200},
            {"filterType": "MIN_NOTIONAL", "notional": plain(spec.min_notional)},
            {"filterType": "PERCENT_PRICE", "multiplierUp": "1.0500", "multiplierDown": "0.9500",
             "multiplierDecimal": "4"},
        ],
        "orderTypes": list(ORDER_TYPES), "timeInForce": list(TIME_IN_FORCE), "permissionSet": ["GRID", "COPY"],
    }


def exchange_info(states: list[SymbolState], server_ms: int, limits: list[dict[str, Any]]) -> dict[str, Any]:
    quotes = sorted({state.spec.quote_asset for state in states})
    return {
        "timezone": "UTC", "serverTime": server_ms, "futuresType": "U_MARGINED", "rateLimits": limits,
        "exchangeFilters": [],
        "assets": [{"asset": asset, "marginAvailable": True, "autoAssetExchange": "-10000"} for asset in quotes],
        "symbols": [symbol_info(state.spec, state.status) for state in states],
    }


def _stable_int(*parts: str) -> int:
    return int.from_bytes(hashlib.sha256(":".join(parts).encode()).digest()[:4], "little")


def ticker_24hr(state: SymbolState, now_ms: int) -> dict[str, Any]:
    spec, places = state.spec, state.spec.price_precision
    last, open_price = state.mark_price, state.open_price
    quote_volume = state.quote_volume.value
    weighted = (open_price + last + state.high_price + state.low_price) / 4.0
    count = max(1, int(quote_volume / 2500.0))
    first_id = 1_000_000_000 + _stable_int(spec.symbol) % 1_000_000_000
    return {
        "symbol": spec.symbol,
        "priceChange": fixed(last - open_price, places),
        "priceChangePercent": fixed((last / open_price - 1.0) * 100.0, 3),
        "weightedAvgPrice": fixed(weighted, places),
        "lastPrice": fixed(last, places),
        "lastQty": plain(spec.step_size * (1 + _stable_int(spec.symbol, str(now_ms // 1000)) % 50)),
        "openPrice": fixed(open_price, places),
        "highPrice": fixed(state.high_price, places),
        "lowPrice": fixed(state.low_price, places),
        "volume": fixed(quote_volume / weighted, qty_places(spec)),
        "quoteVolume": fixed(quote_volume, 2),
        "openTime": now_ms - 86_400_000,
        "closeTime": now_ms,
        "firstId": first_id,
        "lastId": first_id + count - 1,
        "count": count,
    }


def next_funding_ms(now_ms: int) -> int:
    return (now_ms // FUNDING_INTERVAL_MS + 1) * FUNDING_INTERVAL_MS


def premium_index(state: SymbolState, now_ms: int) -> dict[str, Any]:
    return {
        "symbol": state.spec.symbol,
        "markPrice": fixed(state.mark_price, 8),
        "indexPrice": fixed(state.index_price, 8),
        "estimatedSettlePrice": fixed(state.index_price, 8),
        "lastFundingRate": fixed(state.funding_rate, 8),
        "interestRate": "0.00010000",
        "nextFundingTime": next_funding_ms(now_ms),
        "time": now_ms,
    }


def open_interest(state: SymbolState, now_ms: int) -> dict[str, Any]:
    return {"openInterest": fixed(state.open_interest.value, qty_places(state.spec)),
            "symbol": state.spec.symbol, "time": now_ms}


def open_interest_hist(symbol: str, rows: list[tuple[int, float, float]], supply: float) -> list[dict[str, Any]]:
    return [{"symbol": symbol, "sumOpenInterest": fixed(oi, 8), "sumOpenInterestValue": fixed(value, 8),
             "CMCCirculatingSupply": fixed(supply, 3), "timestamp": ts_ms} for ts_ms, oi, value in rows]


def _levels(rows: tuple[tuple[Decimal, Decimal], ...], spec: SymbolSpec) -> list[list[str]]:
    return [[fixed(price, spec.price_precision), fixed(qty, spec.quantity_precision)] for price, qty in rows]


def depth_snapshot(book: BookSnapshot, spec: SymbolSpec, now_ms: int) -> dict[str, Any]:
    """``GET /fapi/v1/depth``."""
    return {"lastUpdateId": book.update_id, "E": now_ms, "T": book.ts_ms or now_ms,
            "bids": _levels(book.bids, spec), "asks": _levels(book.asks, spec)}


def depth_update(book: BookSnapshot, spec: SymbolSpec, now_ms: int, previous_u: int) -> dict[str, Any]:
    """Partial book depth stream ``<symbol>@depth<N>[@100ms]``: the top N, ids of the diff stream."""
    first = previous_u + 1 if book.update_id > previous_u else book.update_id
    return {"e": "depthUpdate", "E": now_ms, "T": book.ts_ms or now_ms, "s": spec.symbol,
            "U": first, "u": book.update_id, "pu": previous_u,
            "b": _levels(book.bids, spec), "a": _levels(book.asks, spec)}


def book_ticker(book: BookSnapshot, spec: SymbolSpec, now_ms: int) -> dict[str, Any]:
    """``<symbol>@bookTicker``: best bid and ask with their quantities."""
    (bid, bid_qty), (ask, ask_qty) = (book.bids[0] if book.bids else (Decimal(0), Decimal(0)),
                                      book.asks[0] if book.asks else (Decimal(0), Decimal(0)))
    return {"e": "bookTicker", "u": book.update_id, "E": now_ms, "T": book.ts_ms or now_ms, "s": spec.symbol,
            "b": fixed(bid, spec.price_precision), "B": fixed(bid_qty, spec.quantity_precision),
            "a": fixed(ask, spec.price_precision), "A": fixed(ask_qty, spec.quantity_precision)}
