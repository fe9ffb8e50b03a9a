"""Binance USDⓈ-M REST on Starlette: the imperative shell around the pure parts.

Every answer goes through ``RestShell.serve``: injected delay, per-IP request weight
(429, then 418 for an IP that keeps calling), injected error bursts, SIGNED endpoint
security, the account's order counts, and the ``X-MBX-USED-WEIGHT-1M`` header (order
answers also ``X-MBX-ORDER-COUNT-10S/-1M``). Handlers return (status, body).
"""

from __future__ import annotations

import json
import math
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any

import attrs
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from adapters.sim import binance_encode as encode
from adapters.sim import binance_errors as errors
from adapters.sim import binance_limits as limits
from adapters.sim.binance_errors import ApiError
from adapters.sim.binance_signing import authenticate, request_params
from adapters.sim.binance_trading import TradingApi
from adapters.sim.control import ClientStats

if TYPE_CHECKING:
    from adapters.sim.binance import BinanceSim

HIST_PERIODS_MS = {"5m": 300_000, "15m": 900_000, "30m": 1_800_000, "1h": 3_600_000, "2h": 7_200_000,
                   "4h": 14_400_000, "6h": 21_600_000, "12h": 43_200_000, "1d": 86_400_000}
DEPTH_LIMITS = (5, 10, 20, 50, 100, 500, 1000)
# Weights of routes served here that binance_limits' table does not list (Binance's endpoint pages).
ROUTE_WEIGHTS: dict[tuple[str, str], int] = {("GET", "/fapi/v2/positionRisk"): 5}


@attrs.define
class Call:
    """One request as the handlers see it."""

    ip: str
    method: str
    path: str
    params: dict[str, str]
    now_ms: int
    stats: ClientStats
    account: str = ""  # the API key of a SIGNED request


Handler = Callable[[Call], Awaitable[tuple[int, Any]]]


def _json(status: int, body: Any, headers: dict[str, str], malformed: bool = False) -> Response:
    content = json.dumps(body, separators=(",", ":")).encode()
    if malformed:
        content = content[: max(1, len(content) // 2)]
    return Response(content, status_code=status, headers=headers, media_type="application/json")


class RestShell:
    """Routes, limits and faults of the simulated venue's REST API."""

    def __init__(self, sim: "BinanceSim") -> None:
        self.sim = sim
        self.trading = TradingApi(sim)
        self._ip_states: dict[str, limits.IpState] = {}
        self._hist_caps: dict[str, limits.WindowCount] = {}
        self._order_counts: dict[str, limits.OrderCountState] = {}

    def routes(self) -> list[Route]:
        public: list[tuple[str, Handler]] = [
            ("/fapi/v1/ping", self._ping), ("/fapi/v1/time", self._time),
            ("/fapi/v1/exchangeInfo", self._exchange_info), ("/fapi/v1/ticker/24hr", self._ticker_24hr),
            ("/fapi/v1/premiumIndex", self._premium_index), ("/fapi/v1/openInterest", self._open_interest),
            ("/futures/data/openInterestHist", self._open_interest_hist), ("/fapi/v1/depth", self._depth),
        ]
        routes = [Route(path, self._endpoint(handler), methods=["GET"]) for path, handler in public]
        signed: list[tuple[str, list[str], Handler]] = [
            ("/fapi/v1/order", ["POST", "DELETE", "GET"], self.trading.order),
            ("/fapi/v1/batchOrders", ["POST", "DELETE"], self.trading.batch_orders),
            ("/fapi/v1/allOpenOrders", ["DELETE"], self.trading.cancel_all),
            ("/fapi/v1/openOrders", ["GET"], self.trading.open_orders),
            ("/fapi/v2/positionRisk", ["GET"], self.trading.position_risk),
        ]
        routes += [Route(path, self._endpoint(handler, signed=True), methods=methods)
                   for path, methods, handler in signed]
        return routes

    def _endpoint(self, handler: Handler, signed: bool = False) -> Callable[[Request], Awaitable[Response]]:
        async def endpoint(request: Request) -> Response:
            return await self.serve(request, handler, signed=signed)
        return endpoint

    # ------------------------------------------------------------------ the common path
    async def serve(self, request: Request, handler: Handler, *, signed: bool) -> Response:
        sim, faults = self.sim, self.sim.control.faults
        await faults.before_answer()
        ip = request.client.host if request.client else "unknown"
        method, path = request.method, request.url.path
        query = request.scope.get("query_string", b"").decode("latin-1")
        body = (await request.body()).decode("utf-8", "replace") if method != "GET" else ""
        params = request_params(query, body)
        weight = ROUTE_WEIGHTS.get((method, path)) or limits.request_weight(method, path, params)
        call = Call(ip, method, path, params, sim.clock.time_ms(), sim.control.accounting.request(
            ip, f"{method} {path}", weight))
        now_s = call.now_ms / 1000.0
        state, verdict = limits.admit_weight(self._ip_states.get(ip, limits.IpState()), now_s, weight,
                                             sim.weight_limit_per_min, sim.ban_after_429s)
        self._ip_states[ip] = state
        headers = {"X-MBX-USED-WEIGHT-1M": str(verdict.used_weight)}
        injected = faults.take_error("418", "429", "5xx", "malformed")
        try:
            if injected == "418":
                raise errors.ip_banned(ip, call.now_ms + 120_000)
            if injected == "429":
                raise errors.too_many_requests(ip, sim.weight_limit_per_min)
            if injected == "5xx":
                raise errors.server_error()
            if verdict.kind == "banned":
                call.stats.banned += 1
                headers["Retry-After"] = str(verdict.retry_after_s)
                raise errors.ip_banned(ip, int(verdict.banned_until_s * 1000))
            if verdict.kind == "throttled":
                call.stats.throttled += 1
                headers["Retry-After"] = str(verdict.retry_after_s)
                raise errors.too_many_requests(ip, sim.weight_limit_per_min)
            if signed:
                call.params = authenticate(query=query, body=body, api_key=request.headers.get("X-MBX-APIKEY"),
                                           api_keys=sim.api_keys, ip=ip, server_ms=call.now_ms,
                                           max_recv_window_ms=sim.max_recv_window_ms)
                call.account = request.headers["X-MBX-APIKEY"]
                self._count_orders(call, headers)
            status, answer = await handler(call)
        except ApiError as error:
            if injected == "418":
                headers.setdefault("Retry-After", "120")
            elif injected == "429":
                headers.setdefault("Retry-After", str(max(1, math.ceil(60 - now_s % 60))))
            if error.http_status in (400, 401):
                call.stats.rejected += 1
            return _json(error.http_status, error.body(), headers, malformed=injected == "malformed")
        return _json(status, answer, headers, malformed=injected == "malformed")

    def _count_orders(self, call: Call, headers: dict[str, str]) -> None:
        add = limits.order_counts(call.method, call.path)
        if add == (0, 0):
            return
        state, verdict = limits.admit_orders(self._order_counts.get(call.account, limits.OrderCountState()),
                                             call.now_ms / 1000.0, add, self.sim.orders_per_10s,
                                             self.sim.orders_per_min)
        self._order_counts[call.account] = state
        headers["X-MBX-ORDER-COUNT-10S"] = str(verdict.count_10s)
        headers["X-MBX-ORDER-COUNT-1M"] = str(verdict.count_1m)
        if not verdict.ok:
            call.stats.throttled += 1
            if verdict.broken == "10s":
                raise errors.too_many_orders(self.sim.orders_per_10s, "10 SECOND")
            raise errors.too_many_orders(self.sim.orders_per_min, "MINUTE")

    # ------------------------------------------------------------------ market data
    def _state(self, call: Call, *, required: bool) -> Any:
        symbol = call.params.get("symbol")
        if not symbol:
            if required:
                raise errors.mandatory("symbol")
            return None
        state = self.sim.market.states.get(symbol)
        if state is None:
            raise errors.invalid_symbol()
        return state

    async def _ping(self, call: Call) -> tuple[int, Any]:
        return 200, {}

    async def _time(self, call: Call) -> tuple[int, Any]:
        return 200, {"serverTime": call.now_ms}

    async def _exchange_info(self, call: Call) -> tuple[int, Any]:
        sim = self.sim
        rate_limits = encode.rate_limits(sim.weight_limit_per_min, sim.orders_per_min, sim.orders_per_10s)
        return 200, encode.exchange_info(list(sim.market.states.values()), call.now_ms, rate_limits)

    async def _ticker_24hr(self, call: Call) -> tuple[int, Any]:
        state = self._state(call, required=False)
        if state is not None:
            return 200, encode.ticker_24hr(state, call.now_ms)
        return 200, [encode.ticker_24hr(s, call.now_ms) for s in self.sim.market.states.values()]

    async def _premium_index(self, call: Call) -> tuple[int, Any]:
        state = self._state(call, required=False)
        if state is not None:
            return 200, encode.premium_index(state, call.now_ms)
        return 200, [encode.premium_index(s, call.now_ms) for s in self.sim.market.states.values()]

    async def _open_interest(self, call: Call) -> tuple[int, Any]:
        return 200, encode.open_interest(self._state(call, required=True), call.now_ms)

    async def _open_interest_hist(self, call: Call) -> tuple[int, Any]:
        cap, ok = limits.admit_capped(self._hist_caps.get(call.ip, limits.WindowCount(300.0)),
                                      call.now_ms / 1000.0, self.sim.oi_hist_requests_per_5min)
        self._hist_caps[call.ip] = cap
        if not ok:
            call.stats.throttled += 1
            raise errors.too_many_requests_window(call.ip, self.sim.oi_hist_requests_per_5min, "5 MINUTE")
        state = self._state(call, required=True)
        period = call.params.get("period")
        if not period:
            raise errors.mandatory("period")
        if period not in HIST_PERIODS_MS:
            raise errors.invalid_value("period")
        bounds = {}
        for name in ("limit", "startTime", "endTime"):
            raw = call.params.get(name)
            if raw:
                if not raw.isdigit():
                    raise errors.invalid_value(name)
                bounds[name] = int(raw)
        limit = max(1, min(500, bounds.get("limit", 30)))
        rows = self.sim.market.oi_history(state.spec.symbol, HIST_PERIODS_MS[period], call.now_ms, limit=limit,
                                          start_ms=bounds.get("startTime"), end_ms=bounds.get("endTime"))
        supply = state.initial_oi * 50.0
        return 200, encode.open_interest_hist(state.spec.symbol, rows, supply)

    async def _depth(self, call: Call) -> tuple[int, Any]:
        state = self._state(call, required=True)
        raw = call.params.get("limit", "500")
        if not raw.isdigit() or int(raw) not in DEPTH_LIMITS:
            raise ApiError(400, -4021, f"'{raw}' is not valid depth limit.")
        book = self.sim.book(state.spec.symbol, int(raw))
        return 200, encode.depth_snapshot(book, state.spec, call.now_ms)
