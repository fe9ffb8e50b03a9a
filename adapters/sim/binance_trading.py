"""Binance USDⓈ-M SIGNED order endpoints over the matching engine.

``POST/DELETE/GET /fapi/v1/order``, ``POST/DELETE /fapi/v1/batchOrders`` (max 5 to
place, max 10 to cancel; a failed item is its own ``{"code","msg"}`` in a 200 array,
in input order), ``DELETE /fapi/v1/allOpenOrders``, ``GET /fapi/v1/openOrders`` and
``GET /fapi/v2/positionRisk`` (one-way mode: one ``BOTH`` entry per symbol, the account's
net position from its fills at average cost; cross margin, no leverage or liquidation
model: those fields carry fixed or zero values).
Order faults: ``reject`` answers the order with -2019 (an item error in a batch);
``timeout`` places the order and then answers 503 with execution status unknown
(after ``order_timeout_hang_s``: long enough and the client's own timeout fires first).
"""

from __future__ import annotations

from collections import OrderedDict
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import trio

from adapters.sim import binance_errors as errors
from adapters.sim import matching
from adapters.sim.binance_encode import fixed
from adapters.sim.binance_errors import ApiError
from adapters.sim.binance_orders import (
    MAX_BATCH_CANCEL, MAX_BATCH_PLACE, OrderRequest, SymbolView, order_json, parse_json_list, parse_order,
)

if TYPE_CHECKING:
    from adapters.sim.binance import BinanceSim
    from adapters.sim.binance_rest import Call

_META_LIMIT = 100_000
LEVERAGE = 20  # Binance's default for a symbol nobody changed (the simulator has no margin model)
MAX_NOTIONAL = "1000000"


class TradingApi:
    def __init__(self, sim: "BinanceSim") -> None:
        self.sim = sim
        self._meta: OrderedDict[int, tuple[bool, str, int]] = OrderedDict()  # reduceOnly, STP, goodTillDate

    # ------------------------------------------------------------------ helpers
    def _view(self, symbol: str) -> SymbolView | None:
        state = self.sim.market.states.get(symbol)
        if state is None:
            return None
        return SymbolView(state.spec, state.status, Decimal(repr(state.mark_price)))

    def _symbol(self, call: "Call", required: bool = True) -> str | None:
        symbol = call.params.get("symbol")
        if not symbol:
            if required:
                raise errors.mandatory("symbol")
            return None
        if symbol not in self.sim.market.states:
            raise errors.invalid_symbol()
        return symbol

    def _encode(self, report: matching.OrderReport, *, listing: bool = False) -> dict[str, Any]:
        reduce_only, stp, good_till = self._meta.get(report.order_id, (False, "NONE", 0))
        spec = self.sim.market.states[report.symbol].spec
        return order_json(report, spec, listing=listing, reduce_only=reduce_only, self_trade_prevention=stp,
                          good_till_date_ms=good_till)

    def _place(self, call: "Call", request: OrderRequest) -> tuple[dict[str, Any], bool]:
        """Place one checked order; (its answer, whether it hit a timeout fault)."""
        fault = self.sim.control.faults.take_order_fault()
        if fault == "reject":
            raise errors.margin_insufficient()
        self.sim.activate(request.symbol)
        try:
            report = self.sim.engine.place(
                owner=call.account, symbol=request.symbol, side=request.side, quantity=request.quantity,
                price=request.price, order_type=request.order_type, time_in_force=request.time_in_force,
                client_order_id=request.client_order_id, now_ms=call.now_ms)
        except matching.OrderRejected as rejected:
            raise errors.MATCHING_REJECTIONS[rejected.reason]() from None
        call.stats.orders_placed += 1
        self._meta[report.order_id] = (request.reduce_only, request.self_trade_prevention,
                                       request.good_till_date_ms)
        while len(self._meta) > _META_LIMIT:
            self._meta.popitem(last=False)
        answer = report if request.response_type == "RESULT" else report.as_acknowledged()
        return self._encode(answer), fault == "timeout"

    async def _unknown_execution(self) -> None:
        await trio.sleep(self.sim.order_timeout_hang_s)
        raise errors.unknown_execution()

    def _order_ref(self, call: "Call") -> tuple[int | None, str | None]:
        raw_id, client_id = call.params.get("orderId"), call.params.get("origClientOrderId")
        if not raw_id and not client_id:
            raise errors.one_of_mandatory("orderId", "origClientOrderId")
        if raw_id:
            if not raw_id.isdigit():
                raise errors.mandatory("orderId")
            return int(raw_id), None
        return None, client_id

    def _cancel(self, call: "Call", symbol: str, order_id: int | None, client_id: str | None) -> dict[str, Any]:
        try:
            report = self.sim.engine.cancel(owner=call.account, symbol=symbol, order_id=order_id,
                                            client_order_id=client_id, now_ms=call.now_ms)
        except matching.OrderNotFound:
            raise errors.unknown_order_sent() from None
        call.stats.orders_cancelled += 1
        return self._encode(report)

    # ------------------------------------------------------------------ endpoints
    async def order(self, call: "Call") -> tuple[int, Any]:
        if call.method == "POST":
            answer, timed_out = self._place(call, parse_order(call.params, self._view))
            if timed_out:
                await self._unknown_execution()
            return 200, answer
        symbol = self._symbol(call)
        order_id, client_id = self._order_ref(call)
        if call.method == "DELETE":
            return 200, self._cancel(call, str(symbol), order_id, client_id)
        try:
            report = self.sim.engine.order(owner=call.account, symbol=str(symbol), order_id=order_id,
                                           client_order_id=client_id)
        except matching.OrderNotFound:
            raise errors.order_does_not_exist() from None
        return 200, self._encode(report, listing=True)

    async def batch_orders(self, call: "Call") -> tuple[int, Any]:
        if call.method == "DELETE":
            return 200, self._cancel_batch(call)
        items = parse_json_list(call.params, "batchOrders", MAX_BATCH_PLACE, dict)
        if items is None:
            raise errors.mandatory("batchOrders")
        results: list[dict[str, Any]] = []
        timed_out = False
        for item in items:
            try:
                answer, item_timed_out = self._place(call, parse_order(item, self._view, batch=True))
                timed_out = timed_out or item_timed_out
                results.append(answer)
            except ApiError as error:
                call.stats.rejected += 1
                results.append(error.body())
        if timed_out:
            await self._unknown_execution()
        return 200, results

    def _cancel_batch(self, call: "Call") -> list[dict[str, Any]]:
        symbol = str(self._symbol(call))
        order_ids = parse_json_list(call.params, "orderIdList", MAX_BATCH_CANCEL, int)
        client_ids = parse_json_list(call.params, "origClientOrderIdList", MAX_BATCH_CANCEL, str)
        if order_ids is None and client_ids is None:
            raise errors.one_of_mandatory("orderIdList", "origClientOrderIdList")
        refs: list[tuple[int | None, str | None]] = (
            [(order_id, None) for order_id in order_ids] if order_ids is not None
            else [(None, client_id) for client_id in client_ids or []])
        results = []
        for order_id, client_id in refs:
            try:
                results.append(self._cancel(call, symbol, order_id, client_id))
            except ApiError as error:
                results.append(error.body())
        return results

    async def cancel_all(self, call: "Call") -> tuple[int, Any]:
        symbol = str(self._symbol(call))
        cancelled = self.sim.engine.cancel_all(owner=call.account, symbol=symbol, now_ms=call.now_ms)
        call.stats.orders_cancelled += len(cancelled)
        return 200, {"code": 200, "msg": "The operation of cancel all open order is done."}

    def _position_json(self, position: matching.NetPosition) -> dict[str, Any]:
        """One ``positionRisk`` entry as Binance sends it (one-way mode, cross margin)."""
        spec = self.sim.market.states[position.symbol].spec
        mark = Decimal(repr(self.sim.market.states[position.symbol].mark_price))
        entry = fixed(position.entry_price, 8) if position.qty else "0.0"
        return {
            "symbol": position.symbol, "positionAmt": fixed(position.qty, spec.quantity_precision),
            "entryPrice": entry, "breakEvenPrice": entry, "markPrice": fixed(mark, 8),
            "unRealizedProfit": fixed(position.qty * (mark - position.entry_price), 8),
            "liquidationPrice": "0", "leverage": str(LEVERAGE), "maxNotionalValue": MAX_NOTIONAL,
            "marginType": "cross", "isolatedMargin": "0.00000000", "isAutoAddMargin": "false",
            "positionSide": "BOTH", "notional": fixed(position.qty * mark, 8), "isolatedWallet": "0",
            "updateTime": position.update_ms,
        }

    async def position_risk(self, call: "Call") -> tuple[int, Any]:
        """``GET /fapi/v2/positionRisk``: the symbol's entry (flat if never traded), or
        without a symbol every symbol the account traded."""
        symbol = self._symbol(call, required=False)
        if symbol is not None:
            return 200, [self._position_json(self.sim.engine.position(call.account, symbol))]
        return 200, [self._position_json(position) for position in self.sim.engine.positions(call.account)]

    async def open_orders(self, call: "Call") -> tuple[int, Any]:
        symbol = self._symbol(call, required=False)
        return 200, [self._encode(report, listing=True)
                     for report in self.sim.engine.open_orders(call.account, symbol)]
