"""Binance USDⓈ-M SIGNED order endpoints inside the per-IP request-weight budget.

Signing (venues.md, Binance's "SIGNED endpoint security"): every parameter goes in the
query string, percent-encoded, followed by ``recvWindow`` (optional, at most 60000) and
``timestamp`` (ms); the HMAC-SHA256 hex of that exact string is appended last as
``signature``; the key travels in ``X-MBX-APIKEY``. The timestamp is the local wall clock
corrected by an offset measured against ``GET /fapi/v1/time`` before the first signed
request and measured again after a -1021 answer (then the request is sent once more).
The query is signed after the weight budget admitted the request, so a wait for the
next minute never makes a timestamp stale. Neither the secret nor a signature is logged.

Weight: like ``BinancePublic``, every request takes its weight from the shared
``WindowBudget`` of the IP before it is sent, follows ``X-MBX-USED-WEIGHT-1M``, and a
429/418 pauses the whole budget for ``Retry-After``. A 429 with -1015 (the account's order
rate, not the IP's weight) pauses only the order budgets. Order answers'
``X-MBX-ORDER-COUNT-10S``/``-1M`` are kept in ``last_order_count_10s``/``_1m`` and fed to
the order budgets, if any.

Unknown status: a POST or DELETE that timed out after it was sent, lost its connection,
or was answered 5xx, 408, -1006 or -1007 (or with a 2xx body that cannot be read) may or
may not have been executed. It is never resent: ``OrderStatusUnknown(client_ids)`` is
raised and the caller reconciles with ``open_orders(symbol)`` (an order placed under one
of the client ids is there, or it is not; a cancel that took effect removed it). A
connection that could not even be opened sent nothing and is retried. GETs are retried
(timeouts, 5xx, unreadable bodies, throttles) like ``BinancePublic``'s. A write answered
429/418 was refused before execution: the budget is paused and the ``BinanceError`` is
raised at once (a quote sent minutes late is worse than none). Auth errors (-2014,
-2015, -1022) raise ``BinanceAuthError`` and are never retried. A cancelled trio task
whose request was already sent leaves the same uncertainty: reconcile after it too.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

import attrs
import httpx
import trio

from adapters.binance.orders import (
    AUTH_ERROR_CODES, STATUS_UNKNOWN_CODES, TIMESTAMP_OUT_OF_WINDOW, TOO_MANY_ORDERS, CancelResult, NewOrder,
    OpenOrder, PlaceResult, batch_orders_param, batch_results_from, cancel_all_from, check_recv_window,
    check_symbol, client_id_list_param, clock_offset_ms, encode_query, open_orders_from, order_count, order_params,
    order_result_from, position_from, server_time_from, signed_query,
)
from adapters.binance.public import (
    THROTTLE_STATUSES, VENUE, BinanceError, WindowGate, decode_answer, error_of, retry_after_s, throttle_pause_s,
    used_weight,
)
from adapters.http import (
    PERMANENT_HTTP_ERRORS, TRANSIENT_HTTP_ERRORS, RetryPolicy, VenueHttpError, VenueMeter, VenueProtocolError,
    VenueUnavailable, describe_error, make_jitter,
)
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import WindowBudget

TIME_PATH = "/fapi/v1/time"
ORDER_PATH = "/fapi/v1/order"
BATCH_PATH = "/fapi/v1/batchOrders"
CANCEL_ALL_PATH = "/fapi/v1/allOpenOrders"
OPEN_ORDERS_PATH = "/fapi/v1/openOrders"
POSITION_RISK_PATH = "/fapi/v2/positionRisk"

# (method, path) -> IP weight budgeted, from Binance's endpoint pages (and the simulator's table).
SIGNED_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", TIME_PATH): 1,
    ("POST", ORDER_PATH): 1,  # the venue charges 0 on the IP limit (only order counts); budgeted 1
    ("POST", BATCH_PATH): 5,
    ("DELETE", BATCH_PATH): 1,
    ("DELETE", CANCEL_ALL_PATH): 1,
    ("GET", OPEN_ORDERS_PATH): 1,  # with symbol
    ("GET", POSITION_RISK_PATH): 5,
}
OPEN_ORDERS_ALL_SYMBOLS_WEIGHT = 40
# (10 s, 1 min) order counts a new-order request adds on the account (Binance: a batch is
# "5 on the 10s order rate limit, 1 on the 1min order rate limit").
ORDER_COUNTS: dict[tuple[str, str], tuple[int, int]] = {
    ("POST", ORDER_PATH): (1, 1),
    ("POST", BATCH_PATH): (5, 1),
}
ORDER_COUNT_10S_HEADER = "X-MBX-ORDER-COUNT-10S"
ORDER_COUNT_1M_HEADER = "X-MBX-ORDER-COUNT-1M"
ORDER_WINDOWS_S = {10.0: 0, 60.0: 1}  # an order budget's window -> index into the counts
# Failures after which the request never reached the venue: safe to send again.
NOT_SENT_ERRORS: tuple[type[BaseException], ...] = (httpx.ConnectError, httpx.ConnectTimeout, httpx.PoolTimeout)


class BinanceAuthError(BinanceError):
    """-2014 (key format), -2015 (unknown key, IP not whitelisted, no permission) or -1022
    (signature refused: wrong secret): fix the credentials; never retried."""


class OrderStatusUnknown(Exception):
    """A write was sent but its outcome is unknown (timeout, 5xx, 408, -1006/-1007, an
    unreadable answer). Nothing was resent. Reconcile: ``open_orders(symbol)`` shows which
    of ``client_ids`` rest on the book (for ``cancel_all``, ``client_ids`` is empty)."""

    def __init__(self, what: str, symbol: str | None, client_ids: Sequence[str], detail: str) -> None:
        super().__init__(f"{VENUE}: {what}: execution status unknown for {list(client_ids)} ({symbol}): {detail}")
        self.what, self.symbol, self.client_ids, self.detail = what, symbol, tuple(client_ids), detail


@attrs.frozen
class _Sent:
    """An answer and the local wall time (ms) around its round trip."""

    response: httpx.Response
    sent_ms: float
    received_ms: float


@attrs.frozen
class _Reply:
    """A decoded 2xx answer and the local wall time (ms) around its round trip."""

    body: Any
    sent_ms: float
    received_ms: float


def _order_budget_list(order_budget: WindowBudget | Sequence[WindowBudget] | None) -> list[WindowBudget]:
    if order_budget is None:
        return []
    budgets = [order_budget] if isinstance(order_budget, WindowBudget) else list(order_budget)
    for budget in budgets:
        if budget.window_s not in ORDER_WINDOWS_S:
            raise ValueError(f"an order budget counts per 10 s or per 60 s window, got {budget.window_s} s")
    return budgets


class BinanceSigned:
    """Signed order calls over one shared ``httpx.AsyncClient`` and the IP's weight budget.

    ``order_budget``: optional ``WindowBudget`` (or several) of the account's order rate,
    a 10 s window (300) and/or a 60 s window (1200); new-order requests spend their order
    count there before they are sent.
    """

    def __init__(self, base_url: str, http: httpx.AsyncClient, budget: WindowBudget, api_key: str,
                 api_secret: str, clock: Clock, log: Any, metrics: EngineMetrics, *, recv_window_ms: int | None = 5000,
                 order_budget: WindowBudget | Sequence[WindowBudget] | None = None, max_retries: int = 4,
                 backoff_initial_s: float = 0.2, backoff_max_s: float = 5.0, jitter_seed: int | None = None) -> None:
        if not api_key or not api_secret:
            raise ValueError("binance signed calls need an API key and secret")
        self.base_url = base_url.rstrip("/")
        self.http, self.budget, self.clock, self.log = http, budget, clock, log
        self.recv_window_ms = check_recv_window(recv_window_ms)
        self.order_budgets = _order_budget_list(order_budget)
        self.retry = RetryPolicy(max_retries, backoff_initial_s, backoff_max_s)
        self.last_order_count_10s: int | None = None
        self.last_order_count_1m: int | None = None
        self._api_key, self._api_secret = api_key, api_secret
        self._offset_ms: int | None = None
        self._sync_generation = 0
        self._sync_lock = trio.Lock()
        self._meter = VenueMeter.for_limiter(VENUE, metrics, budget)
        self._jitter = make_jitter(jitter_seed)
        self._gate = WindowGate(window_s=budget.window_s)

    def __repr__(self) -> str:  # never the key or the secret
        return f"BinanceSigned({self.base_url!r})"

    @property
    def clock_offset_ms(self) -> int | None:
        """Server time minus local time as last measured (None before the first measure)."""
        return self._offset_ms

    def timestamp_ms(self) -> int:
        """The ``timestamp`` a request signed now carries."""
        return self.clock.time_ms() + (self._offset_ms or 0)

    # ------------------------------------------------------------------ API

    async def sync_clock(self) -> int:
        """Measure the offset to the venue's clock (``GET /fapi/v1/time``, weight 1)."""
        await self._resync(self._sync_generation)
        assert self._offset_ms is not None
        return self._offset_ms

    async def place(self, order: NewOrder) -> PlaceResult:
        """``POST /fapi/v1/order``: one order; a refusal (-5022 post-only would cross, a
        filter, -2019 margin) is ``PlaceResult(ok=False, code, msg)``."""
        what, ids = f"POST {ORDER_PATH}", [order.client_order_id]
        try:
            reply = await self._request("POST", ORDER_PATH, list(order_params(order).items()), symbol=order.symbol,
                                        client_ids=ids)
        except BinanceError as error:
            if isinstance(error, BinanceAuthError) or error.http_status in THROTTLE_STATUSES \
                    or error.code == TIMESTAMP_OUT_OF_WINDOW:
                raise
            return PlaceResult(ok=False, client_order_id=order.client_order_id, code=error.code, msg=error.msg)
        return self._decode_write(lambda: order_result_from(reply.body, what, order.client_order_id), what,
                                  order.symbol, ids)

    async def place_batch(self, orders: Sequence[NewOrder]) -> list[PlaceResult]:
        """``POST /fapi/v1/batchOrders`` (1 to 5 orders, weight 5): one result per order in
        input order, each accepted or refused on its own."""
        what = f"POST {BATCH_PATH}"
        param = batch_orders_param(orders)
        ids = [order.client_order_id for order in orders]
        symbol = orders[0].symbol if len({order.symbol for order in orders}) == 1 else None
        reply = await self._request("POST", BATCH_PATH, [("batchOrders", param)], symbol=symbol, client_ids=ids)
        return self._decode_write(lambda: batch_results_from(reply.body, what, ids), what, symbol, ids)

    async def cancel_batch(self, symbol: str, client_ids: Sequence[str]) -> list[CancelResult]:
        """``DELETE /fapi/v1/batchOrders`` by ``origClientOrderIdList`` (1 to 10, weight 1):
        one result per id in input order (-2011 Unknown order sent: not open)."""
        what = f"DELETE {BATCH_PATH}"
        symbol = check_symbol(symbol)
        id_list = client_id_list_param(client_ids)  # refuses a bare string before list() splits it
        ids = list(client_ids)
        params = [("symbol", symbol), ("origClientOrderIdList", id_list)]
        reply = await self._request("DELETE", BATCH_PATH, params, symbol=symbol, client_ids=ids)
        return self._decode_write(lambda: batch_results_from(reply.body, what, ids), what, symbol, ids)

    async def cancel_all(self, symbol: str) -> None:
        """``DELETE /fapi/v1/allOpenOrders`` (weight 1): every open order of ``symbol``."""
        what = f"DELETE {CANCEL_ALL_PATH}"
        symbol = check_symbol(symbol)
        reply = await self._request("DELETE", CANCEL_ALL_PATH, [("symbol", symbol)], symbol=symbol, client_ids=[])
        self._decode_write(lambda: cancel_all_from(reply.body, what), what, symbol, [])

    async def open_orders(self, symbol: str | None) -> list[OpenOrder]:
        """``GET /fapi/v1/openOrders`` (weight 1 with a symbol, 40 for every symbol)."""
        what = f"GET {OPEN_ORDERS_PATH}"
        params = [("symbol", check_symbol(symbol))] if symbol is not None else []
        weight = SIGNED_WEIGHTS[("GET", OPEN_ORDERS_PATH)] if symbol is not None else OPEN_ORDERS_ALL_SYMBOLS_WEIGHT
        reply = await self._request("GET", OPEN_ORDERS_PATH, params, weight=weight)
        return open_orders_from(reply.body, what)

    async def position(self, symbol: str) -> Decimal:
        """``GET /fapi/v2/positionRisk`` (weight 5): the net base quantity of ``symbol``
        (+ long, - short; hedge mode's sides summed; 0 when flat or not listed)."""
        what = f"GET {POSITION_RISK_PATH}"
        symbol = check_symbol(symbol)
        reply = await self._request("GET", POSITION_RISK_PATH, [("symbol", symbol)])
        return position_from(reply.body, symbol, what)

    # ------------------------------------------------------------------ the common path

    def _decode_write(self, decode: Any, what: str, symbol: str | None, client_ids: Sequence[str]) -> Any:
        """A write's 2xx answer we cannot read leaves its outcome unknown."""
        try:
            return decode()
        except VenueProtocolError as error:
            raise self._unknown(what, symbol, client_ids, describe_error(error)) from error

    def _unknown(self, what: str, symbol: str | None, client_ids: Sequence[str], detail: str) -> OrderStatusUnknown:
        self.log.warning("venue_order_status_unknown", venue=VENUE, request=what, symbol=symbol,
                         client_ids=list(client_ids), error=detail)
        return OrderStatusUnknown(what, symbol, client_ids, detail)

    async def _resync(self, seen_generation: int) -> None:
        """Measure the clock offset, unless another task did since ``seen_generation``."""
        async with self._sync_lock:
            if self._sync_generation != seen_generation and self._offset_ms is not None:
                return
            reply = await self._request("GET", TIME_PATH, [], signed=False)
            offset_ms = clock_offset_ms(server_time_from(reply.body), reply.sent_ms, reply.received_ms)
            if self._offset_ms is None or abs(offset_ms - self._offset_ms) >= 100:
                self.log.info("venue_clock_offset", venue=VENUE, offset_ms=offset_ms, previous_ms=self._offset_ms)
            self._offset_ms = offset_ms
            self._sync_generation += 1

    async def _request(self, method: str, path: str, params: list[tuple[str, str]], *, signed: bool = True,
                       weight: int | None = None, symbol: str | None = None,
                       client_ids: Sequence[str] = ()) -> _Reply:
        """Send (signed unless told otherwise) and decode; see the module docstring for
        what is retried and what raises ``OrderStatusUnknown``."""
        what = f"{method} {path}"
        write = method != "GET"
        weight = SIGNED_WEIGHTS[(method, path)] if weight is None else weight
        counts = ORDER_COUNTS.get((method, path), (0, 0))
        resynced = False
        failures = 0
        last_error: BaseException | None = None
        while True:
            if signed and self._offset_ms is None:
                await self._resync(self._sync_generation)
            generation = self._sync_generation
            throttled = False
            await self._spend_order_budgets(counts)
            try:
                sent = await self._send(method, path, params, weight, signed)
            except PERMANENT_HTTP_ERRORS:
                raise
            except NOT_SENT_ERRORS as error:
                last_error = error  # the venue never saw it: sending again is safe, even for a write
            except TRANSIENT_HTTP_ERRORS as error:
                if write:
                    raise self._unknown(what, symbol, client_ids, describe_error(error)) from error
                last_error = error
            else:
                response, status = sent.response, sent.response.status_code
                if status in THROTTLE_STATUSES:
                    error = error_of(status, response.content, what)
                    if write:
                        raise error  # refused before execution; _send paused the budget
                    last_error, throttled = error, True
                elif status >= 500 or status == 408:
                    error = error_of(status, response.content, what)
                    if write:
                        raise self._unknown(what, symbol, client_ids, describe_error(error)) from error
                    last_error = error
                else:
                    try:
                        body = decode_answer(status, response.content, what)
                    except BinanceError as error:
                        if error.code in AUTH_ERROR_CODES:
                            self.log.error("venue_auth_refused", venue=VENUE, request=what, code=error.code,
                                           msg=error.msg)
                            raise BinanceAuthError(error.code, error.msg, error.http_status) from None
                        if write and error.code in STATUS_UNKNOWN_CODES:
                            raise self._unknown(what, symbol, client_ids, describe_error(error)) from error
                        if error.code == TIMESTAMP_OUT_OF_WINDOW and signed and not resynced:
                            resynced = True  # refused unexecuted: resync the clock, send once more
                            self.log.warning("venue_timestamp_refused", venue=VENUE, request=what,
                                             offset_ms=self._offset_ms, msg=error.msg)
                            await self._resync(generation)
                            continue
                        raise
                    except (VenueProtocolError, VenueHttpError) as error:
                        if write and status < 300:
                            raise self._unknown(what, symbol, client_ids, describe_error(error)) from error
                        if write or not error.retryable:
                            raise
                        last_error = error
                    else:
                        return _Reply(body, sent.sent_ms, sent.received_ms)
            failures += 1
            if failures > self.retry.max_retries:
                raise VenueUnavailable(VENUE, what, failures, describe_error(last_error)) from last_error
            if not throttled:  # after a throttle the paused budget is the wait
                delay_s = self.retry.delay_s(failures - 1, self._jitter.random())
                self.log.warning("venue_retry", venue=VENUE, path=path, attempt=failures,
                                 error=describe_error(last_error), delay_s=round(delay_s, 3))
                await self.clock.sleep(delay_s)

    async def _spend_order_budgets(self, counts: tuple[int, int]) -> None:
        for budget in self.order_budgets:
            count = counts[ORDER_WINDOWS_S[budget.window_s]]
            if count:
                await budget.acquire(count)

    async def _send(self, method: str, path: str, params: list[tuple[str, str]], weight: int,
                    signed: bool) -> _Sent:
        """Spend the weight (the first request of a window nobody reported on goes alone,
        as in ``BinancePublic``), then sign and send."""
        while True:
            granted_at_s = await self.budget.acquire(weight)
            if self._gate.known(granted_at_s):
                return await self._send_granted(method, path, params, weight, signed, granted_at_s)
            async with self._gate.lock:
                if not self._gate.known(granted_at_s):
                    return await self._send_granted(method, path, params, weight, signed, granted_at_s)
                if self.budget.remaining() > 0:
                    break
        return await self._send_granted(method, path, params, weight, signed, granted_at_s)

    async def _send_granted(self, method: str, path: str, params: list[tuple[str, str]], weight: int,
                            signed: bool, granted_at_s: float) -> _Sent:
        headers = {}
        if signed:
            query = signed_query(params, self._api_secret, self.timestamp_ms(), self.recv_window_ms).query
            headers["X-MBX-APIKEY"] = self._api_key
        else:
            query = encode_query(params)
        url = f"{self.base_url}{path}?{query}" if query else f"{self.base_url}{path}"
        self._meter.request(weight)
        sent_ms = self.clock.time_s() * 1000.0
        response = await self.http.request(method, url, headers=headers)
        received_ms = self.clock.time_s() * 1000.0
        used = used_weight(response.headers)
        if used is not None:
            self.budget.observe_used(used, at_s=granted_at_s)
            self._gate.learned(granted_at_s)
        self._observe_order_counts(response.headers, granted_at_s)
        if response.status_code in THROTTLE_STATUSES:
            self._throttled(method, path, response)
        return _Sent(response, sent_ms, received_ms)

    def _observe_order_counts(self, headers: httpx.Headers, at_s: float) -> None:
        count_10s = order_count(headers, ORDER_COUNT_10S_HEADER)
        count_1m = order_count(headers, ORDER_COUNT_1M_HEADER)
        if count_10s is not None:
            self.last_order_count_10s = count_10s
        if count_1m is not None:
            self.last_order_count_1m = count_1m
        for budget in self.order_budgets:
            count = (count_10s, count_1m)[ORDER_WINDOWS_S[budget.window_s]]
            if count is not None:
                budget.observe_used(count, at_s=at_s)

    def _throttled(self, method: str, path: str, response: httpx.Response) -> None:
        """429/418: pause the IP's shared budget (every caller) before anything else is sent;
        a 429 -1015 is the account's order rate: pause the order budgets instead."""
        what = f"{method} {path}"
        error = error_of(response.status_code, response.content, what)
        if isinstance(error, BinanceError) and error.code == TOO_MANY_ORDERS and response.status_code == 429:
            pause_s = retry_after_s(response.headers)
            for budget in self.order_budgets:
                budget.pause_for(pause_s)
            self.log.warning("venue_order_rate_throttled", venue=VENUE, request=what, pause_s=pause_s,
                             order_count_10s=self.last_order_count_10s, order_count_1m=self.last_order_count_1m)
            return
        pause_s = throttle_pause_s(response.status_code, response.headers)
        self.budget.pause_for(pause_s)
        self._meter.throttled()
        self.log.warning("venue_throttled", venue=VENUE, request=what, status=response.status_code,
                         pause_s=pause_s, used_weight=used_weight(response.headers), error=describe_error(error))


__all__ = ["BinanceAuthError", "BinanceSigned", "CancelResult", "NewOrder", "OpenOrder", "OrderStatusUnknown",
           "PlaceResult", "SIGNED_WEIGHTS"]
