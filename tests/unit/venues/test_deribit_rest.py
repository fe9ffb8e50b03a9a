"""Deribit JSON-RPC decoding (pure) and the retry shell over a scripted transport."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
import trio

from adapters.deribit.rest import (
    DeribitError, DeribitRest, IndexQuote, decode_answer, index_quote, server_time_ms,
)
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket

WHAT = "public/get_index_price"
OK = {"jsonrpc": "2.0", "result": {"index_price": 86012.5, "estimated_delivery_price": 86012.5},
      "usIn": 1717000000123000, "usOut": 1717000000123456, "usDiff": 456, "testnet": False}
THROTTLED = {"jsonrpc": "2.0", "error": {"code": 10028, "message": "too_many_requests"},
             "usIn": 1, "usOut": 2, "usDiff": 1, "testnet": False}
INVALID = {"jsonrpc": "2.0", "error": {"code": -32602, "message": "Invalid params",
                                       "data": {"param": "index_name", "reason": "invalid index_name"}}}


def body(message: Any) -> bytes:
    return json.dumps(message).encode()


# --------------------------------------------------------------------------- pure


def test_a_result_is_stamped_with_the_server_time() -> None:
    envelope = decode_answer(200, body(OK), WHAT)
    assert index_quote("btc_usd", envelope, now_ms=5) == IndexQuote("btc_usd", 86012.5, 1717000000123)


def test_without_usout_the_local_clock_stamps_the_quote() -> None:
    envelope = {"jsonrpc": "2.0", "result": {"index_price": 3.5}}
    assert index_quote("eth_usdc", envelope, now_ms=42) == IndexQuote("eth_usdc", 3.5, 42)
    assert server_time_ms({"usOut": "soon"}) is None
    assert server_time_ms({"usOut": True}) is None


@pytest.mark.parametrize("status", [200, 400, 429])
def test_the_error_object_wins_over_the_http_status(status: int) -> None:
    with pytest.raises(DeribitError) as caught:
        decode_answer(status, body(THROTTLED), WHAT)
    assert caught.value.code == 10028 and caught.value.retryable


def test_invalid_params_are_not_retryable() -> None:
    with pytest.raises(DeribitError) as caught:
        decode_answer(400, body(INVALID), WHAT)
    assert caught.value.code == -32602 and not caught.value.retryable
    assert "invalid index_name" in str(caught.value)


def test_a_429_without_a_json_body_is_still_a_throttle() -> None:
    with pytest.raises(DeribitError) as caught:
        decode_answer(429, b"<html>Too Many Requests</html>", WHAT)
    assert caught.value.code == 10028


def test_gateway_pages_are_retryable_http_errors() -> None:
    with pytest.raises(VenueHttpError) as caught:
        decode_answer(502, b"<html><title>502 Bad Gateway</title></html>", WHAT)
    assert caught.value.retryable and caught.value.status == 502


@pytest.mark.parametrize("envelope, retryable", [
    (b'{"jsonrpc":"2.0","result":{"index_pr', True),        # truncated: retry
    (body({"jsonrpc": "2.0"}), False),                      # neither result nor error
    (body({"jsonrpc": "2.0", "result": [1]}), False),       # result of the wrong shape
    (body({"jsonrpc": "2.0", "result": {"index_price": "x"}}), False),
    (body({"jsonrpc": "2.0", "result": {"index_price": -1}}), False),
    (body({"jsonrpc": "2.0", "error": "boom"}), False),     # malformed error object
    (body([1, 2]), False),
])
def test_unreadable_answers_are_protocol_errors(envelope: bytes, retryable: bool) -> None:
    with pytest.raises(VenueProtocolError) as caught:
        index_quote("btc_usd", decode_answer(200, envelope, WHAT), now_ms=1)
    assert caught.value.retryable is retryable


# --------------------------------------------------------------------------- shell


def client_for(answers: list[Callable[[httpx.Request], httpx.Response]], *, max_retries: int = 4,
               metrics: EngineMetrics | None = None) -> tuple[DeribitRest, list[httpx.Request], TokenBucket]:
    """A DeribitRest whose transport plays ``answers`` in order (the last one repeats)."""
    sent: list[httpx.Request] = []

    def handler(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return answers[min(len(sent), len(answers)) - 1](request)

    clock = Clock()
    metrics = metrics or EngineMetrics()
    limiter = TokenBucket(clock=clock, venue="deribit", capacity=50_000, refill_per_s=10_000)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    rest = DeribitRest("https://deribit.test/api/v2/", http, limiter, clock, structlog.get_logger(), metrics,
                       max_retries=max_retries, backoff_initial_s=0.2, backoff_max_s=5.0, jitter_seed=1)
    return rest, sent, limiter


def answer(status: int, message: Any) -> Callable[[httpx.Request], httpx.Response]:
    content = message if isinstance(message, bytes) else body(message)
    return lambda request: httpx.Response(status, content=content)


def sample(metrics: EngineMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"venue": "deribit"}) or 0.0


async def test_sends_a_json_rpc_get_and_counts_credits(autojump_clock: trio.abc.Clock) -> None:
    metrics = EngineMetrics()
    rest, sent, _ = client_for([answer(200, OK)], metrics=metrics)
    quote = await rest.get_index_price("btc_usdc")
    assert quote == IndexQuote("btc_usdc", 86012.5, 1717000000123)
    assert str(sent[0].url) == "https://deribit.test/api/v2/public/get_index_price?index_name=btc_usdc"
    assert sent[0].method == "GET"
    assert sample(metrics, "engine_venue_requests_total") == 1
    assert sample(metrics, "engine_venue_weight_used_total") == 500


async def test_invalid_params_fail_at_once(autojump_clock: trio.abc.Clock) -> None:
    rest, sent, _ = client_for([answer(400, INVALID)])
    with pytest.raises(DeribitError) as caught:
        await rest.get_index_price("arb_usdc")
    assert caught.value.code == -32602 and len(sent) == 1


async def test_a_throttle_pauses_the_shared_pool_then_retries(autojump_clock: trio.abc.Clock) -> None:
    metrics = EngineMetrics()
    rest, sent, limiter = client_for([answer(429, THROTTLED), answer(200, OK)], metrics=metrics)
    other_sent_at: list[float] = []

    async def another_caller() -> None:
        await trio.sleep(0.001)  # after the throttle answer
        await limiter.acquire(500)
        other_sent_at.append(trio.current_time())

    started = trio.current_time()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(another_caller)
        await rest.get_index_price("btc_usd")
    assert len(sent) == 2
    assert sample(metrics, "engine_venue_throttled_total") == 1
    assert limiter.stats().pauses == 1
    # every caller waited out the pause (>= half the first backoff) and the refill
    assert other_sent_at[0] - started >= 0.1


async def test_transient_failures_are_retried_with_growing_backoff(autojump_clock: trio.abc.Clock) -> None:
    def timeout(request: httpx.Request) -> httpx.Response:
        raise httpx.ReadTimeout("slow", request=request)

    rest, sent, _ = client_for([timeout, answer(503, b"<html>503</html>"), answer(200, b'{"jsonrpc":'),
                                answer(200, OK)])
    started = trio.current_time()
    assert (await rest.get_index_price("btc_usd")).price == 86012.5
    assert len(sent) == 4
    # three backoffs of at least 0.1, 0.2 and 0.4 s (half of each cap)
    assert trio.current_time() - started >= 0.7


async def test_retries_run_out_into_venue_unavailable(autojump_clock: trio.abc.Clock) -> None:
    rest, sent, _ = client_for([answer(502, b"<html>bad gateway</html>")], max_retries=2)
    with pytest.raises(VenueUnavailable) as caught:
        await rest.get_index_price("btc_usd")
    assert len(sent) == 3 and caught.value.attempts == 3
    assert isinstance(caught.value.__cause__, VenueHttpError)
    assert "HTTP 502" in str(caught.value)


async def test_a_wrong_shape_is_not_retried(autojump_clock: trio.abc.Clock) -> None:
    rest, sent, _ = client_for([answer(200, {"jsonrpc": "2.0", "result": "86000"})])
    with pytest.raises(VenueProtocolError):
        await rest.get_index_price("btc_usd")
    assert len(sent) == 1
