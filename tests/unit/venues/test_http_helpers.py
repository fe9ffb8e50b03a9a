"""Shared HTTP helpers: JSON parsing, numbers, backoff, metering."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.http import (
    RetryPolicy, VenueHttpError, VenueMeter, VenueProtocolError, backoff_delay_s, describe_error, finite_number,
    parse_json,
)
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket


def test_parse_json_reads_bytes_and_text() -> None:
    assert parse_json(b'{"a": 1}', "deribit", "x") == {"a": 1}
    assert parse_json("[1, 2]", "deribit", "x") == [1, 2]


@pytest.mark.parametrize("body", [b'{"jsonrpc":"2.0","result":{"index_price":86', b"", b"<html>502</html>",
                                  b"\xff\xfe{"])
def test_parse_json_turns_garbage_into_a_retryable_protocol_error(body: bytes) -> None:
    with pytest.raises(VenueProtocolError) as caught:
        parse_json(body, "deribit", "public/get_index_price")
    assert caught.value.retryable
    assert "deribit: public/get_index_price: malformed JSON" in str(caught.value)


def test_finite_number_accepts_numbers_and_numeric_strings_only() -> None:
    assert finite_number("1.00022079", "binance", "x", "indexPrice") == pytest.approx(1.00022079)
    assert finite_number(86012.5, "deribit", "x", "index_price") == 86012.5
    for bad in (None, True, "abc", "nan", float("inf"), [1], {}):
        with pytest.raises(VenueProtocolError) as caught:
            finite_number(bad, "binance", "x", "indexPrice")
        assert not caught.value.retryable
        assert "indexPrice" in str(caught.value)


def test_http_errors_retry_only_server_side_statuses() -> None:
    assert VenueHttpError("binance", "x", 502, "").retryable
    assert VenueHttpError("binance", "x", 408, "").retryable
    assert not VenueHttpError("binance", "x", 404, "").retryable


def test_describe_error_names_silent_exceptions() -> None:
    assert describe_error(TimeoutError()) == "TimeoutError"
    assert describe_error(ValueError("bad")) == "ValueError: bad"
    assert describe_error(None) == "none"


@given(retry=st.integers(0, 100), unit=st.floats(0, 1, exclude_max=True),
       initial_s=st.floats(0.001, 10), max_s=st.floats(0.001, 60))
def test_backoff_is_capped_and_keeps_half_of_the_cap(retry: int, unit: float, initial_s: float, max_s: float) -> None:
    delay_s = backoff_delay_s(retry, initial_s, max_s, unit)
    cap_s = min(max_s, initial_s * 2.0 ** retry)
    assert cap_s / 2 - 1e-9 <= delay_s <= cap_s + 1e-9
    assert delay_s <= max_s + 1e-9 and math.isfinite(delay_s)


def test_backoff_grows_exponentially_until_the_cap() -> None:
    policy = RetryPolicy(max_retries=4, backoff_initial_s=0.2, backoff_max_s=1.0)
    assert [policy.delay_s(r, 0.999999) for r in range(5)] == pytest.approx([0.2, 0.4, 0.8, 1.0, 1.0], rel=1e-5)
    assert [policy.delay_s(r, 0.0) for r in range(3)] == pytest.approx([0.1, 0.2, 0.4])


def test_retry_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError):
        RetryPolicy(backoff_initial_s=0)


def _sample(metrics: EngineMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name, {"venue": "deribit"}) or 0.0


async def test_meter_counts_weight_once_whether_or_not_the_limiter_has_the_metrics() -> None:
    for limiter_has_metrics in (False, True):
        metrics = EngineMetrics()
        limiter = TokenBucket(clock=Clock(), venue="deribit", capacity=50_000, refill_per_s=10_000,
                              metrics=metrics if limiter_has_metrics else None)
        meter = VenueMeter.for_limiter("deribit", metrics, limiter)
        await limiter.acquire(500)
        meter.request(500)
        limiter.pause_for(0.0)
        meter.throttled()
        assert _sample(metrics, "engine_venue_requests_total") == 1
        assert _sample(metrics, "engine_venue_weight_used_total") == 500
        assert _sample(metrics, "engine_venue_throttled_total") == 1
