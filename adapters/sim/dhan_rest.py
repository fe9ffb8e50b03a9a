"""REST side of the simulated Dhan venue (the imperative shell over bodies and budgets).

Every data call goes through one gate, in the venue's order: count the request, check
the ``access-token`` / ``client-id`` headers (401 + 807/808/809/810), admit it against
the client's budgets (429 + 805, counted ``throttled``), then the armed faults (delay,
error bursts, malformed bodies), then validate the body (400 + 804/811/812/813/814,
counted ``rejected``) and answer. Errors use the data APIs' shape
``{"data": {"<code>": "<message>"}, "status": "failed"}`` on every data endpoint: that
is what the real v2 data APIs return (the ``errorType/errorCode/errorMessage`` shape
with ``DH-9xx`` codes belongs to the trading APIs, which this simulator does not serve).
"""

from __future__ import annotations

import json
from datetime import date
from typing import Any, Awaitable, Callable

import attrs
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from adapters.sim.control import VenueControl
from adapters.sim.dhan_access import HTTP_STATUS, ClientBudgets, Credentials, admit, rest_auth_error
from adapters.sim.dhan_bodies import (
    data_error, expiry_list_body, instrument_master_csv, market_quote_body, option_chain_body,
)
from adapters.sim.dhan_market import DhanMarket, UnderlyingState
from adapters.sim.dhan_packets import SEGMENT_CODES
from adapters.sim.dhan_quotes import ist_date
from engine.clock import Clock

MAX_QUOTE_INSTRUMENTS = 1000
INSTRUMENT_MASTER_PATH = "/v2/instruments/api-scrip-master-detailed.csv"
# The shape venues.md reports for option-chain calls that fail without detail
# (armed with the ``fail_option_chain`` control action).
CHAIN_FAILURE_BODY = {"status": "failure", "remarks": {"error_code": None, "error_type": None,
                                                       "error_message": None}, "data": ""}


class RequestError(Exception):
    """A request the venue refuses with a data-API code."""

    def __init__(self, code: int) -> None:
        super().__init__(code)
        self.code = code


def error_response(code: int) -> JSONResponse:
    return JSONResponse(data_error(code), status_code=HTTP_STATUS[code])


def _security_id(value: Any) -> int:
    if isinstance(value, bool):
        raise RequestError(814)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise RequestError(814)


def _json_object(raw: bytes) -> dict[str, Any]:
    try:
        body = json.loads(raw or b"null")
    except (ValueError, UnicodeDecodeError):
        raise RequestError(814) from None
    if not isinstance(body, dict):
        raise RequestError(814)
    return body


def _parse_expiry(value: Any) -> date:
    try:
        return date.fromisoformat(value)
    except (TypeError, ValueError):
        raise RequestError(812) from None


@attrs.define
class DhanRest:
    """Handlers of ``/v2/optionchain``, ``/v2/optionchain/expirylist``, ``/v2/marketfeed/*``
    and the instrument master; one budget set per client id."""

    market: DhanMarket
    control: VenueControl
    creds: Credentials
    clock: Clock
    budgets: dict[str, ClientBudgets] = attrs.field(factory=dict)
    chain_failures: int = 0  # option-chain answers left to fail with CHAIN_FAILURE_BODY

    # ------------------------------------------------------------------ endpoints
    async def expiry_list(self, request: Request) -> Response:
        async def answer(body: dict[str, Any]) -> Response:
            state = self._underlying(body)
            return JSONResponse(expiry_list_body(self.market.expiries(state.spec.symbol)))
        return await self._gate(request, "optionchain/expirylist", "optionchain", answer)

    async def option_chain(self, request: Request) -> Response:
        async def answer(body: dict[str, Any]) -> Response:
            state = self._underlying(body)
            expiry = _parse_expiry(body.get("Expiry"))
            if expiry not in self.market.expiries(state.spec.symbol):
                raise RequestError(811)
            if self.chain_failures > 0:
                self.chain_failures -= 1
                return JSONResponse(CHAIN_FAILURE_BODY)
            return JSONResponse(option_chain_body(self.market, state.spec.symbol, expiry))
        return await self._gate(request, "optionchain", "optionchain", answer)

    def market_quote(self, kind: str) -> Callable[[Request], Awaitable[Response]]:
        """Handler of ``/marketfeed/<kind>`` for kind ltp, ohlc or quote."""
        async def handler(request: Request) -> Response:
            async def answer(body: dict[str, Any]) -> Response:
                return JSONResponse({"data": self._quotes(kind, body), "status": "success"})
            return await self._gate(request, f"marketfeed/{kind}", "marketfeed", answer)
        return handler

    async def instrument_master(self, request: Request) -> Response:
        """Public file (no auth, no limit), like the venue's CDN copy."""
        self.control.accounting.request(request.headers.get("client-id") or "anonymous", "instruments")
        await self.control.faults.before_answer()
        return Response(instrument_master_csv(self.market), media_type="text/csv")

    # ------------------------------------------------------------------ the gate
    async def _gate(self, request: Request, endpoint: str, family: str,
                    answer: Callable[[dict[str, Any]], Awaitable[Response]]) -> Response:
        client = request.headers.get("client-id") or "anonymous"
        stats = self.control.accounting.request(client, endpoint, 1)
        raw = await request.body()
        faults = self.control.faults
        code = rest_auth_error(self.creds, request.headers.get("access-token"), request.headers.get("client-id"))
        if code is None:
            budgets, admitted = admit(self.budgets.get(client, ClientBudgets()), family,
                                      self.clock.monotonic(), ist_date(self.clock.time_s()))
            if admitted:
                self.budgets[client] = budgets
            else:
                code = 805
                stats.throttled += 1
        else:
            stats.rejected += 1
        await faults.before_answer()
        if code is not None:
            return error_response(code)
        fault = faults.take_error("805", "429", "5xx", "malformed")
        if fault in ("805", "429"):
            return error_response(805)
        if fault == "5xx":
            return error_response(800)
        if fault == "malformed":
            return Response(b'{"status":"success","data":{"last_pr', media_type="application/json")
        try:
            return await answer(_json_object(raw))
        except RequestError as refused:
            stats.rejected += 1
            return error_response(refused.code)

    # ------------------------------------------------------------------ parsing
    def _underlying(self, body: dict[str, Any]) -> UnderlyingState:
        segment = body.get("UnderlyingSeg")
        if segment not in SEGMENT_CODES:
            raise RequestError(814)
        state = self.market.find_underlying(segment, _security_id(body.get("UnderlyingScrip")))
        if state is None:
            raise RequestError(813)
        return state

    def _quotes(self, kind: str, body: dict[str, Any]) -> dict[str, dict[str, Any]]:
        if not body:
            raise RequestError(814)
        requested: list[tuple[str, int]] = []
        for segment, ids in body.items():
            if segment not in SEGMENT_CODES or not isinstance(ids, list):
                raise RequestError(814)
            requested += [(segment, _security_id(sid)) for sid in ids]
        if len(requested) > MAX_QUOTE_INSTRUMENTS:
            raise RequestError(804)
        data: dict[str, dict[str, Any]] = {}
        for segment, sid in requested:
            quote = self.market.quote(segment, sid)
            if quote is not None:
                tick = self._tick(segment, sid)
                data.setdefault(segment, {})[str(sid)] = market_quote_body(kind, quote, tick)
        if not data:
            raise RequestError(813)
        return data

    def _tick(self, segment: str, security_id: int) -> float:
        contract = self.market.contracts.get(security_id)
        if contract is not None and contract.spec.option_segment == segment:
            return contract.spec.option_tick
        state = self.market.find_underlying(segment, security_id)
        return state.spec.price_tick if state is not None else 0.05
