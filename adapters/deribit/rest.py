"""Deribit public REST: JSON-RPC 2.0 over HTTP GET, inside the shared credit pool.

``GET {base_url}/public/<method>?<params>`` answers an envelope with ``result`` or
``error`` plus ``usIn``/``usOut`` (server microseconds). Errors come back as JSON-RPC
error objects (HTTP 400, and 429 for some throttles); ``10028 too_many_requests``
means the server's credit pool is empty, so ours is drained and paused too. Decoding
is pure (``decode_answer``, ``rpc_result``, ``index_quote``); ``DeribitRest`` is the
shell that spends credits, sends, retries and counts.
"""

from __future__ import annotations

from typing import Any

import attrs
import httpx

from adapters.http import (
    RETRY_CANDIDATES, RetryPolicy, VenueHttpError, VenueMeter, VenueProtocolError, retry_or_raise,
    VenueUnavailable, describe_error, excerpt, finite_number, make_jitter, parse_json, pause_before_retry,
)
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket

VENUE = "deribit"
PUBLIC_REQUEST_CREDITS = 500  # a public, non-matching request
TOO_MANY_REQUESTS = 10028
# Codes Deribit documents as temporary: worth a retry after a backoff.
RETRYABLE_CODES = frozenset({
    10028,  # too_many_requests
    10040,  # retry
    10041,  # settlement_in_progress
    10047,  # matching_engine_queue_full
    10066,  # too_many_concurrent_requests
    11051,  # system_maintenance
    11094,  # internal_server_error
    13028,  # temporarily_unavailable
    13888,  # timed_out
})


class DeribitError(Exception):
    """A JSON-RPC error object from Deribit (``-32602 Invalid params``, ``10028`` ...)."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        detail = f" {data}" if data is not None else ""
        super().__init__(f"deribit error {code} {message}{detail}")
        self.code, self.message, self.data = code, message, data

    @property
    def retryable(self) -> bool:
        return self.code in RETRYABLE_CODES


@attrs.frozen
class IndexQuote:
    """One index price; ``ts_ms`` is the venue's answer time (Unix ms)."""

    index_name: str
    price: float
    ts_ms: int


# --------------------------------------------------------------------------- pure decoding


def decode_answer(status: int, body: bytes | str, what: str) -> dict[str, Any]:
    """The envelope of a successful answer, or the exception that describes the failure.

    A JSON-RPC error object wins over the HTTP status (Deribit sends 10028 with 400 or
    429); a 429 without one is still a throttle; gateway pages become ``VenueHttpError``.
    """
    try:
        envelope = parse_json(body, VENUE, what)
    except VenueProtocolError:
        if status == 429:
            raise DeribitError(TOO_MANY_REQUESTS, "too_many_requests (HTTP 429)") from None
        if status >= 400:
            text = body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body
            raise VenueHttpError(VENUE, what, status, excerpt(text)) from None
        raise
    if isinstance(envelope, dict) and "error" in envelope:
        raise rpc_error(envelope["error"], what)
    if status == 429:
        raise DeribitError(TOO_MANY_REQUESTS, "too_many_requests (HTTP 429)")
    if status >= 400:
        raise VenueHttpError(VENUE, what, status, excerpt(str(envelope)))
    if not isinstance(envelope, dict):
        raise VenueProtocolError(VENUE, what, f"answer is not a JSON-RPC object: {excerpt(str(envelope))!r}")
    return envelope


def rpc_error(error: Any, what: str) -> DeribitError | VenueProtocolError:
    """The exception for an ``error`` member (a malformed one is a protocol error)."""
    if isinstance(error, dict) and isinstance(error.get("code"), int) and not isinstance(error.get("code"), bool):
        return DeribitError(error["code"], str(error.get("message", "")), error.get("data"))
    return VenueProtocolError(VENUE, what, f"malformed error object: {excerpt(str(error))!r}")


def rpc_result(envelope: dict[str, Any], what: str) -> Any:
    if "result" not in envelope:
        raise VenueProtocolError(VENUE, what, "answer has neither result nor error")
    return envelope["result"]


def server_time_ms(envelope: dict[str, Any]) -> int | None:
    """``usOut`` (server send time, µs) in ms; None when absent or not a number."""
    us_out = envelope.get("usOut")
    if isinstance(us_out, bool) or not isinstance(us_out, (int, float)) or us_out <= 0:
        return None
    return int(us_out) // 1000


def index_quote(index_name: str, envelope: dict[str, Any], now_ms: int) -> IndexQuote:
    """``result.index_price`` stamped with the server's time (our clock when absent)."""
    what = "public/get_index_price"
    result = rpc_result(envelope, what)
    if not isinstance(result, dict):
        raise VenueProtocolError(VENUE, what, f"result is not an object: {excerpt(str(result))!r}")
    price = finite_number(result.get("index_price"), VENUE, what, "index_price")
    if price <= 0:
        raise VenueProtocolError(VENUE, what, f"index_price must be > 0, got {price}")
    ts_ms = server_time_ms(envelope)
    return IndexQuote(index_name=index_name, price=price, ts_ms=now_ms if ts_ms is None else ts_ms)


# --------------------------------------------------------------------------- shell


class DeribitRest:
    """Public Deribit calls over one shared ``httpx.AsyncClient`` and credit pool.

    Every attempt first takes ``PUBLIC_REQUEST_CREDITS`` from ``limiter`` (shared by every
    caller), so the pool is spent once however many actors use the venue.
    """

    def __init__(self, base_url: str, http: httpx.AsyncClient, limiter: TokenBucket, clock: Clock, log: Any,
                 metrics: EngineMetrics, max_retries: int = 4, backoff_initial_s: float = 0.2,
                 backoff_max_s: float = 5.0, jitter_seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http, self.limiter, self.clock, self.log = http, limiter, clock, log
        self.retry = RetryPolicy(max_retries, backoff_initial_s, backoff_max_s)
        self._meter = VenueMeter.for_limiter(VENUE, metrics, limiter)
        self._jitter = make_jitter(jitter_seed)

    async def get_index_price(self, index_name: str) -> IndexQuote:
        """The index price of ``index_name`` (``btc_usd``, ``eth_usdc`` ...).

        Raises ``DeribitError`` at once for an unknown index (-32602) and
        ``VenueUnavailable`` when retries ran out.
        """
        envelope = await self.public("get_index_price", {"index_name": index_name})
        return index_quote(index_name, envelope, self.clock.time_ms())

    async def public(self, method: str, params: dict[str, str]) -> dict[str, Any]:
        """One public method; returns the whole envelope (``result``, ``usOut`` ...)."""
        what = f"public/{method}"
        url = f"{self.base_url}/public/{method}"
        last_error: BaseException | None = None
        attempts = self.retry.max_retries + 1
        for attempt in range(attempts):
            await self.limiter.acquire(PUBLIC_REQUEST_CREDITS)
            self._meter.request(PUBLIC_REQUEST_CREDITS)
            try:
                response = await self.http.get(url, params=params)
                return decode_answer(response.status_code, response.content, what)
            except (DeribitError, *RETRY_CANDIDATES) as error:
                last_error = retry_or_raise(error)
                if isinstance(error, DeribitError) and error.code == TOO_MANY_REQUESTS:
                    self._throttled(what, attempt)
                    continue  # the paused limiter is the wait
            if attempt + 1 < attempts:
                await pause_before_retry(self.clock, self.log, self.retry, self._jitter.random(), VENUE, attempt,
                                         last_error, method=what)
        raise VenueUnavailable(VENUE, what, attempts, describe_error(last_error)) from last_error

    def _throttled(self, what: str, attempt: int) -> None:
        """The server's pool is empty: drain ours and pause every caller for a backoff."""
        pause_s = self.retry.delay_s(attempt, self._jitter.random())
        self.limiter.pause_for(pause_s)
        self._meter.throttled()
        self.log.warning("venue_throttled", venue=VENUE, method=what, attempt=attempt + 1,
                         pause_s=round(pause_s, 3))

