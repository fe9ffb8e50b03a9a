"""Binance USDⓈ-M order requests and answers as pure functions: parameter checks in the
venue's order (and with its error codes), batch lists, and the order objects it returns.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs

from adapters.sim import binance_errors as errors
from adapters.sim.binance_encode import fixed
from adapters.sim.binance_universe import SymbolSpec
from adapters.sim.matching import OrderReport, Side, TimeInForce

CLIENT_ORDER_ID = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
CLIENT_ORDER_ID_RULE = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
ALGO_TYPES = {"STOP", "STOP_MARKET", "TAKE_PROFIT", "TAKE_PROFIT_MARKET", "TRAILING_STOP_MARKET"}
MAX_BATCH_PLACE = 5
MAX_BATCH_CANCEL = 10
PERCENT_PRICE_UP = Decimal("1.05")
PERCENT_PRICE_DOWN = Decimal("0.95")


@attrs.frozen
class OrderRequest:
    """A new order that passed every parameter and filter check."""

    symbol: str
    side: Side
    order_type: str  # LIMIT | MARKET
    time_in_force: TimeInForce
    quantity: Decimal
    price: Decimal | None
    client_order_id: str | None
    response_type: str  # ACK | RESULT
    reduce_only: bool
    self_trade_prevention: str
    good_till_date_ms: int


@attrs.frozen
class SymbolView:
    """What order checks need to know of a symbol right now."""

    spec: SymbolSpec
    status: str
    mark_price: Decimal


def _text(params: Mapping[str, Any], name: str) -> str | None:
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _decimal(params: Mapping[str, Any], name: str) -> Decimal:
    raw = _text(params, name)
    if not raw:
        raise errors.mandatory(name)
    try:
        value = Decimal(raw)
    except InvalidOperation:
        raise errors.mandatory(name) from None
    if not value.is_finite():
        raise errors.mandatory(name)
    return value


def _decimals(value: Decimal) -> int:
    """Significant decimals: ``65000.10`` has one."""
    return max(0, -value.normalize().as_tuple().exponent)


def _on_grid(value: Decimal, start: Decimal, step: Decimal) -> bool:
    return (value - start) % step == 0


def _check_quantity(quantity: Decimal, spec: SymbolSpec, market: bool) -> None:
    if quantity <= 0:
        raise errors.qty_not_positive()
    if _decimals(quantity) > spec.quantity_precision:
        raise errors.precision()
    if quantity < spec.min_qty:
        raise errors.qty_below_min()
    if quantity > (spec.market_max_qty if market else spec.max_qty):
        raise errors.qty_above_max()
    if not _on_grid(quantity, spec.min_qty, spec.step_size):
        raise errors.qty_off_step()


def _check_price(price: Decimal, side: Side, view: SymbolView) -> None:
    spec = view.spec
    if price <= 0:
        raise errors.price_not_positive()
    if _decimals(price) > spec.price_precision:
        raise errors.precision()
    if price < spec.min_price:
        raise errors.price_below_min()
    if price > spec.max_price:
        raise errors.price_above_max()
    if not _on_grid(price, spec.min_price, spec.tick_size):
        raise errors.price_off_tick()
    if side is Side.BUY and price > view.mark_price * PERCENT_PRICE_UP:
        raise errors.price_above_cap()
    if side is Side.SELL and price < view.mark_price * PERCENT_PRICE_DOWN:
        raise errors.price_below_floor()


def _client_order_id(params: Mapping[str, Any]) -> str | None:
    if "newClientOrderId" not in params:
        return None
    cid = _text(params, "newClientOrderId") or ""
    if not cid:
        raise errors.client_id_empty()
    if len(cid) > 36:
        raise errors.client_id_too_long()
    if not CLIENT_ORDER_ID.match(cid):
        raise errors.illegal_chars("newClientOrderId", CLIENT_ORDER_ID_RULE)
    return cid


def parse_order(params: Mapping[str, Any], lookup: Any, *, batch: bool = False) -> OrderRequest:
    """Check one new order's parameters as Binance does; ``lookup(symbol)`` gives a
    SymbolView or None. Raises ApiError with the venue's code and message."""
    symbol = _text(params, "symbol")
    if not symbol:
        raise errors.mandatory("symbol")
    view: SymbolView | None = lookup(symbol)
    if view is None:
        raise errors.invalid_symbol()
    side_text, order_type = _text(params, "side"), _text(params, "type")
    if not side_text:
        raise errors.mandatory("side")
    if side_text not in ("BUY", "SELL"):
        raise errors.invalid_side()
    if not order_type:
        raise errors.mandatory("type")
    if order_type in ALGO_TYPES:
        raise errors.algo_order_type()
    if order_type not in ("LIMIT", "MARKET"):
        raise errors.invalid_order_type()
    side = Side(side_text)
    position_side = _text(params, "positionSide") or "BOTH"
    if position_side != "BOTH":
        raise errors.ApiError(400, -4061, "Order's position side does not match user's setting.")
    response_type = _text(params, "newOrderRespType") or "ACK"
    if response_type not in ("ACK", "RESULT"):
        raise errors.ApiError(400, -1136, "Invalid newOrderRespType.")
    reduce_only_text = (_text(params, "reduceOnly") or "false").lower()
    if reduce_only_text not in ("true", "false"):
        raise errors.invalid_value("reduceOnly")
    if view.status != "TRADING":
        raise errors.invalid_symbol_status()
    tif, good_till_ms = TimeInForce.GTC, 0
    price: Decimal | None = None
    if order_type == "LIMIT":
        tif_text = _text(params, "timeInForce")
        if not tif_text:
            raise errors.mandatory("timeInForce")
        if tif_text not in ("GTC", "IOC", "FOK", "GTX", "GTD"):
            raise errors.invalid_tif()
        if tif_text == "GTD":
            good_till = _text(params, "goodTillDate")
            if not good_till or not good_till.isdigit():
                raise errors.mandatory("goodTillDate")
            good_till_ms = int(good_till)
        tif = TimeInForce.GTC if tif_text == "GTD" else TimeInForce(tif_text)
    elif "price" in params:
        raise errors.ApiError(400, -1106, "Parameter 'price' sent when not required.")
    quantity = _decimal(params, "quantity")
    _check_quantity(quantity, view.spec, order_type == "MARKET")
    if order_type == "LIMIT":
        price = _decimal(params, "price")
        _check_price(price, side, view)
    reduce_only = reduce_only_text == "true"
    notional = quantity * (price if price is not None else view.mark_price)
    if notional < view.spec.min_notional and not reduce_only:
        raise errors.min_notional(format(view.spec.min_notional.normalize(), "f"))
    cid = _client_order_id(params)
    stp = _text(params, "selfTradePreventionMode") or ("NONE" if batch else "EXPIRE_MAKER")
    return OrderRequest(symbol, side, order_type, tif, quantity, price, cid, response_type, reduce_only, stp,
                        good_till_ms)


def parse_json_list(params: Mapping[str, str], name: str, limit: int, item_type: type) -> list[Any] | None:
    """A JSON list parameter (``batchOrders``, ``orderIdList``): None when absent."""
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        items = json.loads(raw)
    except ValueError:
        raise errors.invalid_value(name) from None
    if not isinstance(items, list) or not all(isinstance(item, item_type) and not isinstance(item, bool)
                                              for item in items):
        raise errors.invalid_value(name)
    if name == "batchOrders" and not 0 < len(items) <= limit:
        raise errors.batch_size(len(items))
    if name != "batchOrders" and len(items) > limit:
        raise errors.cancel_size()
    return items


def order_json(report: OrderReport, spec: SymbolSpec, *, listing: bool = False, reduce_only: bool = False,
               self_trade_prevention: str = "NONE", good_till_date_ms: int = 0) -> dict[str, Any]:
    """An order object as POST/DELETE order answer it (``listing=False``) or as openOrders
    and GET order list it (``listing=True``: ``time`` instead of ``cumQty``)."""
    price_places, qty_places = spec.price_precision, spec.quantity_precision
    body: dict[str, Any] = {
        "orderId": report.order_id, "symbol": report.symbol, "status": report.status.value,
        "clientOrderId": report.client_order_id, "price": fixed(report.price, price_places),
        "avgPrice": fixed(report.avg_price, price_places), "origQty": fixed(report.orig_qty, qty_places),
        "executedQty": fixed(report.executed_qty, qty_places),
        "cumQuote": fixed(report.cum_quote, price_places + qty_places),
        "timeInForce": "GTD" if good_till_date_ms else report.time_in_force.value, "type": report.order_type,
        "reduceOnly": reduce_only, "closePosition": False, "side": report.side.value, "positionSide": "BOTH",
        "stopPrice": "0", "workingType": "CONTRACT_PRICE", "priceProtect": False, "origType": report.order_type,
        "priceMatch": "NONE", "selfTradePreventionMode": self_trade_prevention, "goodTillDate": good_till_date_ms,
        "updateTime": report.update_time_ms,
    }
    if listing:
        body["time"] = report.time_ms
    else:
        body["cumQty"] = body["executedQty"]
    return body
