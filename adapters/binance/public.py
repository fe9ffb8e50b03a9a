"""Binance USDⓈ-M public REST inside the per-IP request-weight budget.

The weight limit (2400 per wall-clock minute) belongs to the IP, not to us: other
processes on the host spend it too. So every request takes its weight from the shared
``WindowBudget`` before it is sent, every answer's ``X-MBX-USED-WEIGHT-1M`` is fed back
(``observe_used``), and a 429/418 pauses the whole budget for ``Retry-After`` before
anything else is sent: calling on after a 429 is how an IP earns a 418 ban.
Decoding is pure (``decode_answer``, ``premium_index_from`` ...); ``BinancePublic`` is
the shell.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import attrs
import httpx
import trio

from adapters.http import (
    PERMANENT_HTTP_ERRORS, TRANSIENT_HTTP_ERRORS, RetryPolicy, VenueHttpError, VenueMeter, VenueProtocolError,
    VenueUnavailable, describe_error, excerpt, finite_number, make_jitter, parse_json, pause_before_retry,
)
from adapters.binance.bodies import (
    ExchangeInfo, OpenInterest, OpenInterestHistRow, Ticker24h, exchange_info_from, open_interest_from,
    open_interest_hist_from, tickers_24h_from,
)
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import WindowBudget, window_start_s

VENUE = "binance"
USED_WEIGHT_HEADER = "X-MBX-USED-WEIGHT-1M"
THROTTLE_STATUSES = (429, 418)
BAN_DEFAULT_S = 120.0  # a 418 without Retry-After: Binance's shortest ban
RETRY_AFTER_MAX_S = 3 * 86_400.0  # Binance's longest ban


@attrs.frozen
class EndpointWeight:
    """Request weight of one GET endpoint, with and without ``symbol``."""

    with_symbol: int
    without_symbol: int


# path -> weight, as Binance's endpoint pages state it (add endpoints here).
ENDPOINT_WEIGHTS: dict[str, EndpointWeight] = {
    "/fapi/v1/premiumIndex": EndpointWeight(1, 10),
    "/fapi/v1/ticker/24hr": EndpointWeight(1, 40),
    "/fapi/v1/openInterest": EndpointWeight(1, 1),
    "/fapi/v1/exchangeInfo": EndpointWeight(10, 10),  # venue says 1; budgeted higher (venues.md)
    "/futures/data/openInterestHist": EndpointWeight(0, 0),  # its own cap instead: 1000 requests / 5 min
}
OI_HIST_CAP = 1000  # requests per OI_HIST_WINDOW_S per IP
OI_HIST_WINDOW_S = 300.0
OI_HIST_PERIODS = ("5m", "15m", "30m", "1h", "2h", "4h", "6h", "12h", "1d")


class BinanceError(Exception):
    """A ``{"code": -1xxx, "msg": ...}`` answer (e.g. -1121 Invalid symbol)."""

    def __init__(self, code: int, msg: str, http_status: int) -> None:
        super().__init__(f"binance error {code} (HTTP {http_status}): {msg}")
        self.code, self.msg, self.http_status = code, msg, http_status


@attrs.frozen
class PremiumIndex:
    """Mark and index price of one perpetual; ``ts_ms`` is the venue's ``time``."""

    symbol: str
    mark_price: float
    index_price: float
    ts_ms: int


# --------------------------------------------------------------------------- pure parts


def request_weight(path: str, params: Mapping[str, Any]) -> int:
    """The weight to budget for ``GET path?params``; unknown paths are a programming error."""
    try:
        weights = ENDPOINT_WEIGHTS[path]
    except KeyError:
        raise KeyError(f"binance: no weight known for {path}; add it to ENDPOINT_WEIGHTS") from None
    return weights.with_symbol if params.get("symbol") else weights.without_symbol


def used_weight(headers: Mapping[str, str]) -> int | None:
    """``X-MBX-USED-WEIGHT-1M`` as an int; None when absent or unreadable."""
    return header_count(headers, USED_WEIGHT_HEADER)


def header_count(headers: Mapping[str, str], name: str) -> int | None:
    """A counter header (used weight, order counts) as an int >= 0; None when absent or unreadable."""
    raw = headers.get(name)
    if raw is None:
        return None
    try:
        value = int(raw.strip())
    except ValueError:
        return None
    return value if value >= 0 else None


def retry_after_s(headers: Mapping[str, str]) -> float | None:
    """``Retry-After`` in seconds (Binance sends delta-seconds), clamped to the longest ban."""
    raw = headers.get("Retry-After")
    if raw is None:
        return None
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    if math.isnan(value) or value < 0:
        return None
    return min(value, RETRY_AFTER_MAX_S)


def throttle_pause_s(status: int, headers: Mapping[str, str]) -> float | None:
    """How long a 429/418 pauses the budget; None: until the next minute (a 429 without
    ``Retry-After``). A 418 without one waits out the shortest ban, not just the minute."""
    after = retry_after_s(headers)
    if after is None and status == 418:
        return BAN_DEFAULT_S
    return after


def decode_answer(status: int, body: bytes | str, what: str) -> Any:
    """The JSON of a 2xx answer, or the exception describing a failed one."""
    try:
        parsed = parse_json(body, VENUE, what)
    except VenueProtocolError:
        if status >= 400:
            text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
            raise VenueHttpError(VENUE, what, status, excerpt(text)) from None
        raise
    if status >= 400:
        code = parsed.get("code") if isinstance(parsed, dict) else None
        if isinstance(code, int) and not isinstance(code, bool):
            raise BinanceError(code, str(parsed.get("msg", "")), status)
        raise VenueHttpError(VENUE, what, status, excerpt(str(parsed)))
    return parsed


def error_of(status: int, body: bytes | str, what: str) -> Exception:
    """The exception a failed (>= 400) answer stands for, without raising it."""
    try:
        decode_answer(status, body, what)
    except (BinanceError, VenueHttpError, VenueProtocolError) as error:
        return error
    return VenueHttpError(VENUE, what, status, "")


def premium_index_from(body: Any) -> PremiumIndex:
    """``GET /fapi/v1/premiumIndex?symbol=`` (prices arrive as strings)."""
    what = "GET /fapi/v1/premiumIndex"
    if not isinstance(body, dict):
        raise VenueProtocolError(VENUE, what, f"expected an object, got {excerpt(str(body))!r}")
    symbol = body.get("symbol")
    if not isinstance(symbol, str) or not symbol:
        raise VenueProtocolError(VENUE, what, f"symbol missing: {excerpt(str(body))!r}")
    mark = finite_number(body.get("markPrice"), VENUE, what, "markPrice")
    index = finite_number(body.get("indexPrice"), VENUE, what, "indexPrice")
    ts_ms = body.get("time")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or ts_ms <= 0:
        raise VenueProtocolError(VENUE, what, f"time is not a timestamp: {ts_ms!r}")
    if index <= 0 or mark <= 0:
        raise VenueProtocolError(VENUE, what, f"prices must be > 0: mark {mark}, index {index}")
    return PremiumIndex(symbol=symbol, mark_price=mark, index_price=index, ts_ms=ts_ms)


# --------------------------------------------------------------------------- shell


@attrs.define
class WindowGate:
    """Which weight window the server has reported on (``X-MBX-USED-WEIGHT-1M``), and the
    lock that lets a single request probe a window nobody has reported on yet."""

    window_s: float
    known_window_start_s: float = -math.inf
    lock: trio.Lock = attrs.field(factory=trio.Lock)

    def known(self, at_s: float) -> bool:
        return window_start_s(at_s, self.window_s) <= self.known_window_start_s

    def learned(self, at_s: float) -> None:
        self.known_window_start_s = max(self.known_window_start_s, window_start_s(at_s, self.window_s))


class BinancePublic:
    """Weighted public GETs over one shared ``httpx.AsyncClient`` and weight budget."""

    def __init__(self, base_url: str, http: httpx.AsyncClient, budget: WindowBudget, clock: Clock, log: Any,
                 metrics: EngineMetrics, max_retries: int = 4, backoff_initial_s: float = 0.2,
                 backoff_max_s: float = 5.0, jitter_seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http, self.budget, self.clock, self.log = http, budget, clock, log
        self.retry = RetryPolicy(max_retries, backoff_initial_s, backoff_max_s)
        self._meter = VenueMeter.for_limiter(VENUE, metrics, budget)
        self._jitter = make_jitter(jitter_seed)
        self._gate = WindowGate(window_s=budget.window_s)
        self.hist_budget = WindowBudget(clock=clock, venue="binance_oi_hist", limit=OI_HIST_CAP,
                                        window_s=OI_HIST_WINDOW_S, safety_fraction=0.9)

    async def premium_index(self, symbol: str) -> PremiumIndex:
        """Mark and index price of one symbol (weight 1)."""
        path, params = "/fapi/v1/premiumIndex", {"symbol": symbol}
        return premium_index_from(await self._get(path, params, request_weight(path, params)))

    async def premium_indexes(self) -> dict[str, PremiumIndex]:
        """Mark and index price of every symbol in one request (weight 10); unreadable entries are left out."""
        path = "/fapi/v1/premiumIndex"
        body = await self._get(path, {}, request_weight(path, {}))
        if not isinstance(body, list):
            raise VenueProtocolError(VENUE, f"GET {path}", f"expected a list, got {excerpt(str(body))!r}")
        out: dict[str, PremiumIndex] = {}
        for entry in body:
            try:
                premium = premium_index_from(entry)
            except VenueProtocolError:
                continue
            out[premium.symbol] = premium
        return out

    async def exchange_info(self) -> ExchangeInfo:
        """Every symbol with its status, assets and filters (budgeted at weight 10)."""
        path = "/fapi/v1/exchangeInfo"
        return exchange_info_from(await self._get(path, {}, request_weight(path, {})))

    async def tickers_24h(self) -> tuple[dict[str, Ticker24h], int]:
        """24 h ticker of every symbol (weight 40), and how many entries were unreadable."""
        path = "/fapi/v1/ticker/24hr"
        return tickers_24h_from(await self._get(path, {}, request_weight(path, {})))

    async def open_interest(self, symbol: str) -> OpenInterest:
        """Open interest of one symbol now (weight 1; there is no all-symbols form)."""
        path, params = "/fapi/v1/openInterest", {"symbol": symbol}
        return open_interest_from(await self._get(path, params, request_weight(path, params)))

    async def open_interest_hist(self, symbol: str, period: str = "5m", limit: int = 30) -> list[OpenInterestHistRow]:
        """Past OI (last 30 days) in time order, inside the endpoint's own cap of 1000 requests / 5 min."""
        if period not in OI_HIST_PERIODS:
            raise ValueError(f"period must be one of {', '.join(OI_HIST_PERIODS)}, got {period!r}")
        if not 1 <= limit <= 500:
            raise ValueError(f"limit must be 1..500, got {limit}")
        await self.hist_budget.acquire(1)
        path, params = "/futures/data/openInterestHist", {"symbol": symbol, "period": period, "limit": str(limit)}
        return open_interest_hist_from(await self._get(path, params, request_weight(path, params)))

    async def _get(self, path: str, params: Mapping[str, str], weight: int) -> Any:
        """GET with the weight budgeted before sending; retries timeouts, 5xx, unreadable
        bodies and throttles; raises ``BinanceError`` for a 4xx error body at once."""
        what = f"GET {path}"
        url = f"{self.base_url}{path}"
        last_error: BaseException | None = None
        attempts = self.retry.max_retries + 1
        for attempt in range(attempts):
            try:
                response = await self._send(what, url, params, weight)
            except PERMANENT_HTTP_ERRORS:
                raise
            except TRANSIENT_HTTP_ERRORS as error:
                last_error = error
            else:
                if response.status_code in THROTTLE_STATUSES:
                    last_error = error_of(response.status_code, response.content, what)
                    continue  # _send paused the budget: that is the wait
                try:
                    return decode_answer(response.status_code, response.content, what)
                except BinanceError as error:
                    if error.http_status < 500:
                        raise
                    last_error = error
                except (VenueProtocolError, VenueHttpError) as error:
                    if not error.retryable:
                        raise
                    last_error = error
            if attempt + 1 < attempts:
                await pause_before_retry(self.clock, self.log, self.retry, self._jitter.random(), VENUE, attempt,
                                         last_error, path=path)
        raise VenueUnavailable(VENUE, what, attempts, describe_error(last_error)) from last_error

    async def _send(self, what: str, url: str, params: Mapping[str, str], weight: int) -> httpx.Response:
        """Spend the weight, send, and follow the answer's used-weight header.

        Until the server has told us a window's used weight, that window's requests go one
        at a time: N requests already in flight when another process has spent the minute
        would earn N 429s, and a burst of 429s is what earns an IP a 418 ban.
        """
        while True:
            granted_at_s = await self.budget.acquire(weight)
            if self._gate.known(granted_at_s):
                return await self._send_granted(what, url, params, weight, granted_at_s)
            async with self._gate.lock:
                if not self._gate.known(granted_at_s):
                    return await self._send_granted(what, url, params, weight, granted_at_s)  # the probe
                if self.budget.remaining() > 0:
                    break  # another request probed this window and it has room
            # the probe found the window full (or paused): our grant predates that news,
            # so ask again; at worst the local count is a little high while we are blocked
        return await self._send_granted(what, url, params, weight, granted_at_s)

    async def _send_granted(self, what: str, url: str, params: Mapping[str, str], weight: int,
                            granted_at_s: float) -> httpx.Response:
        """Send one granted request; the answer's news reaches the budget before any other
        request (a probe's waiters included) can be admitted."""
        self._meter.request(weight)
        response = await self.http.get(url, params=dict(params))
        used = used_weight(response.headers)
        if used is not None:  # the IP's weight as the server counts it, other processes included
            self.budget.observe_used(used, at_s=granted_at_s)
            self._gate.learned(granted_at_s)
        if response.status_code in THROTTLE_STATUSES:
            self._throttled(what, response)
        return response

    def _throttled(self, what: str, response: httpx.Response) -> None:
        """Pause the shared budget (every caller) before anything else is sent."""
        pause_s = throttle_pause_s(response.status_code, response.headers)
        self.budget.pause_for(pause_s)
        self._meter.throttled()
        error = error_of(response.status_code, response.content, what)
        self.log.warning("venue_throttled", venue=VENUE, request=what, status=response.status_code,
                         pause_s=pause_s, used_weight=used_weight(response.headers), error=describe_error(error))

