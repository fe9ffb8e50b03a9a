"""New-order parameter checks, batch lists and order objects, worded as Binance answers them."""

from __future__ import annotations

from decimal import Decimal as D
from typing import Any

import pytest

from adapters.sim.binance_errors import ApiError
from adapters.sim.binance_orders import SymbolView, order_json, parse_json_list, parse_order
from adapters.sim.binance_universe import build_universe
from adapters.sim.matching import OrderReport, OrderStatus, Side, TimeInForce

SPECS = {spec.symbol: spec for spec in build_universe(seed=1, now_ms=1_767_225_600_000, perpetuals=10)}
STATUS = {"BTCUSDT": "TRADING", "ETHUSDT": "SETTLING"}


def lookup(symbol: str) -> SymbolView | None:
    spec = SPECS.get(symbol)
    return None if spec is None else SymbolView(spec, STATUS.get(symbol, "TRADING"), D("65000"))


def _limit(**overrides: Any) -> dict[str, Any]:
    params = {"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTC", "quantity": "0.010",
              "price": "64000.10"}
    params.update(overrides)
    return {k: v for k, v in params.items() if v is not None}


def test_a_valid_limit_order() -> None:
    request = parse_order(_limit(newClientOrderId="mm-1.a:b/c_d", newOrderRespType="RESULT"), lookup)
    assert (request.side, request.time_in_force, request.quantity, request.price) == (
        Side.BUY, TimeInForce.GTC, D("0.010"), D("64000.10"))
    assert request.client_order_id == "mm-1.a:b/c_d" and request.response_type == "RESULT"
    assert request.self_trade_prevention == "EXPIRE_MAKER"
    assert parse_order(_limit(), lookup, batch=True).self_trade_prevention == "NONE"
    assert parse_order(_limit(quantity=0.01, price=64000.1), lookup).quantity == D("0.01")  # JSON numbers


@pytest.mark.parametrize(("overrides", "code", "msg"), [
    ({"symbol": None}, -1102, "Mandatory parameter 'symbol' was not sent, was empty/null, or malformed."),
    ({"symbol": "NOPEUSDT"}, -1121, "Invalid symbol."),
    ({"side": "HOLD"}, -1117, "Invalid side."),
    ({"type": "LIMIT_MAKER"}, -1116, "Invalid orderType."),
    ({"type": "STOP_MARKET"}, -4120, "Order type not supported for this endpoint. Please use the Algo Order API "
                                     "endpoints instead."),
    ({"timeInForce": None}, -1102, "Mandatory parameter 'timeInForce' was not sent, was empty/null, or malformed."),
    ({"timeInForce": "DAY"}, -1115, "Invalid timeInForce."),
    ({"symbol": "ETHUSDT", "price": "3000.00", "quantity": "1"}, -1122, "Invalid symbol status."),
    ({"quantity": "0"}, -4003, "Quantity less than or equal to zero."),
    ({"quantity": "0.0105"}, -1111, "Precision is over the maximum defined for this asset."),
    ({"quantity": "abc"}, -1102, "Mandatory parameter 'quantity' was not sent, was empty/null, or malformed."),
    ({"price": "64000.15"}, -4014, "Price not increased by tick size."),
    ({"price": "64000.123"}, -1111, "Precision is over the maximum defined for this asset."),
    ({"price": "0.5"}, -4013, "Price less than min price."),
    ({"price": "70000.00"}, -4016, "Price is higher than mark price multiplier cap."),
    ({"side": "SELL", "price": "60000.00"}, -4024, "Price is lower than mark price multiplier floor."),
    ({"quantity": "0.001", "price": "40000.00"}, -4164, "Order's notional must be no smaller than 50 (unless you choose reduce only)"),
    ({"newClientOrderId": "has space"}, -1100, "Illegal characters found in parameter 'newClientOrderId'; "
                                               r"legal range is '^[\.A-Z\:/a-z0-9_-]{1,36}$'."),
    ({"newClientOrderId": "x" * 37}, -4015, "Client order id length should not be more than 36 chars"),
    ({"newClientOrderId": ""}, -1118, "New client order ID was empty."),
    ({"positionSide": "LONG"}, -4061, "Order's position side does not match user's setting."),
    ({"timeInForce": "GTD"}, -1102, "Mandatory parameter 'goodTillDate' was not sent, was empty/null, or malformed."),
])
def test_rejections(overrides: dict[str, Any], code: int, msg: str) -> None:
    with pytest.raises(ApiError) as caught:
        parse_order(_limit(**overrides), lookup)
    assert (caught.value.code, caught.value.msg, caught.value.http_status) == (code, msg, 400)


def test_reduce_only_is_exempt_from_min_notional_and_market_orders_use_the_mark() -> None:
    assert parse_order(_limit(quantity="0.001", price="40000.00", reduceOnly="true"), lookup).reduce_only
    market = parse_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001"}, lookup)
    assert market.order_type == "MARKET" and market.price is None  # 0.001 * 65000 >= 50
    with pytest.raises(ApiError) as caught:
        parse_order({"symbol": "BTCUSDT", "side": "SELL", "type": "MARKET", "quantity": "0.001", "price": "1"}, lookup)
    assert caught.value.code == -1106


def test_batch_lists() -> None:
    assert parse_json_list({}, "batchOrders", 5, dict) is None
    assert parse_json_list({"orderIdList": "[1,2]"}, "orderIdList", 10, int) == [1, 2]
    cases = [({"batchOrders": "[" + ",".join(["{}"] * 6) + "]"}, "batchOrders", 5, dict, -4082,
              "Invalid number of batch place orders: 6"),
             ({"batchOrders": "[]"}, "batchOrders", 5, dict, -4082, "Invalid number of batch place orders: 0"),
             ({"batchOrders": "[{"}, "batchOrders", 5, dict, -1130, "Data sent for parameter 'batchOrders' is not valid."),
             ({"orderIdList": '["a"]'}, "orderIdList", 10, int, -1130, "Data sent for parameter 'orderIdList' is not valid."),
             ({"orderIdList": str(list(range(11)))}, "orderIdList", 10, int, -4032, "Exceed maximum cancel order size.")]
    for params, name, limit, item_type, code, msg in cases:
        with pytest.raises(ApiError) as caught:
            parse_json_list(params, name, limit, item_type)
        assert (caught.value.code, caught.value.msg) == (code, msg)


def test_order_object_numbers_are_strings_with_the_symbol_precision() -> None:
    report = OrderReport(
        order_id=7, client_order_id="c", owner="k", symbol="BTCUSDT", side=Side.SELL, order_type="LIMIT",
        time_in_force=TimeInForce.GTX, price=D("65000.1"), orig_qty=D("0.010"), executed_qty=D("0.004"),
        cum_quote=D("260.0004"), avg_price=D("65000.1"), status=OrderStatus.PARTIALLY_FILLED, time_ms=1, update_time_ms=2)
    body = order_json(report, SPECS["BTCUSDT"])
    assert (body["price"], body["origQty"], body["executedQty"], body["cumQty"], body["avgPrice"]) == (
        "65000.10", "0.010", "0.004", "0.004", "65000.10")
    assert body["cumQuote"] == "260.00040" and body["timeInForce"] == "GTX" and "time" not in body
    listed = order_json(report, SPECS["BTCUSDT"], listing=True)
    assert listed["time"] == 1 and "cumQty" not in listed and listed["updateTime"] == 2
