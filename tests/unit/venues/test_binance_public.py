"""Binance public REST: weights, headers, decoding (pure) and the budget shell over a
scripted transport on trio's MockClock."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from typing import Any

import httpx
import pytest
import structlog
import trio

from adapters.binance.public import (
    BAN_DEFAULT_S, ENDPOINT_WEIGHTS, BinanceError, BinancePublic, PremiumIndex, decode_answer, premium_index_from,
    request_weight, retry_after_s, throttle_pause_s, used_weight,
)
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import WindowBudget

WHAT = "GET /fapi/v1/premiumIndex"
PREMIUM = {"symbol": "ARBUSDT", "markPrice": "1.00050781", "indexPrice": "1.00072674",
           "estimatedSettlePrice": "1.00072674", "lastFundingRate": "0.00010000", "interestRate": "0.00010000",
           "nextFundingTime": 1717027200000, "time": 1717000000123}
MINUTE_PLUS_10_S = 1_716_999_970.0  # 10 s into a wall-clock minute
TOO_MANY = {"code": -1003, "msg": "Too many requests; current limit of IP(1.2.3.4) is 2400 requests per minute."}


# --------------------------------------------------------------------------- pure


def test_weights_come_from_the_endpoint_table() -> None:
    assert request_weight("/fapi/v1/premiumIndex", {"symbol": "ARBUSDT"}) == 1
    assert request_weight("/fapi/v1/premiumIndex", {}) == 10
    assert request_weight("/fapi/v1/ticker/24hr", {}) == 40
    # every endpoint costs weight, except openInterestHist, which has its own cap (1000 per 5 min) instead
    free = {path for path, w in ENDPOINT_WEIGHTS.items() if w.with_symbol < 1 or w.without_symbol < 1}
    assert free == {"/futures/data/openInterestHist"}
    with pytest.raises(KeyError, match="ENDPOINT_WEIGHTS"):
        request_weight("/fapi/v1/unknown", {})


def test_headers_are_read_defensively() -> None:
    assert used_weight(httpx.Headers({"x-mbx-used-weight-1m": "2161"})) == 2161
    assert used_weight(httpx.Headers({"X-MBX-USED-WEIGHT-1M": "lots"})) is None
    assert used_weight(httpx.Headers({})) is None
    assert retry_after_s(httpx.Headers({"Retry-After": "7"})) == 7.0
    assert retry_after_s(httpx.Headers({"Retry-After": "Wed, 21 Oct 2015 07:28:00 GMT"})) is None
    assert retry_after_s(httpx.Headers({"Retry-After": "999999999"})) == 3 * 86_400


def test_a_pause_waits_for_the_minute_or_the_ban() -> None:
    assert throttle_pause_s(429, httpx.Headers({"Retry-After": "12"})) == 12.0
    assert throttle_pause_s(429, httpx.Headers({})) is None  # until the next minute
    assert throttle_pause_s(418, httpx.Headers({})) == BAN_DEFAULT_S
    assert throttle_pause_s(418, httpx.Headers({"Retry-After": "300"})) == 300.0


def test_error_bodies_become_binance_errors() -> None:
    with pytest.raises(BinanceError) as caught:
        decode_answer(400, json.dumps({"code": -1121, "msg": "Invalid symbol."}), WHAT)
    assert (caught.value.code, caught.value.msg, caught.value.http_status) == (-1121, "Invalid symbol.", 400)
    with pytest.raises(VenueHttpError):
        decode_answer(502, "<html>bad gateway</html>", WHAT)
    with pytest.raises(VenueProtocolError) as malformed:
        decode_answer(200, '{"symbol":"ARBU', WHAT)
    assert malformed.value.retryable


def test_premium_index_numbers_arrive_as_strings() -> None:
    assert premium_index_from(PREMIUM) == PremiumIndex("ARBUSDT", 1.00050781, 1.00072674, 1717000000123)


@pytest.mark.parametrize("change", [{"indexPrice": None}, {"indexPrice": "0"}, {"markPrice": "nan"},
                                    {"time": "1717000000123"}, {"symbol": ""}])
def test_a_premium_index_of_the_wrong_shape_is_refused(change: dict[str, Any]) -> None:
    with pytest.raises(VenueProtocolError):
        premium_index_from({**PREMIUM, **change})
    with pytest.raises(VenueProtocolError):
        premium_index_from([PREMIUM])


# --------------------------------------------------------------------------- shell

Answer = Callable[[httpx.Request], httpx.Response]


def respond(status: int, message: Any, **headers: str) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(message).encode(),
                              headers={k.replace("_", "-"): v for k, v in headers.items()})
    return answer


def client_for(answers: list[Answer], *, max_retries: int = 4
               ) -> tuple[BinancePublic, list[float], WindowBudget, Clock, EngineMetrics]:
    """A BinancePublic whose transport plays ``answers`` in order (the last repeats);
    the second list records the wall time each request was sent."""
    sent_at: list[float] = []
    clock = Clock()

    def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.time_s())
        return answers[min(len(sent_at), len(answers)) - 1](request)

    metrics = EngineMetrics()
    budget = WindowBudget(clock=clock, venue="binance", limit=2400, window_s=60.0, safety_fraction=0.9,
                          metrics=metrics)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    public = BinancePublic("https://fapi.test", http, budget, clock, structlog.get_logger(), metrics,
                           max_retries=max_retries, jitter_seed=3)
    return public, sent_at, budget, clock, metrics


async def test_premium_index_spends_weight_before_sending(autojump_clock: trio.abc.Clock) -> None:
    public, sent_at, budget, _, metrics = client_for([respond(200, PREMIUM, X_MBX_USED_WEIGHT_1M="1")])
    assert (await public.premium_index("ARBUSDT")).index_price == pytest.approx(1.00072674)
    assert len(sent_at) == 1 and budget.stats().granted_weight == 1
    assert metrics.registry.get_sample_value("engine_venue_requests_total", {"venue": "binance"}) == 1


async def test_a_429_without_retry_after_waits_for_the_next_minute(autojump_clock: trio.abc.Clock) -> None:
    public, sent_at, _, _, metrics = client_for([respond(429, TOO_MANY, X_MBX_USED_WEIGHT_1M="2401"),
                                                          respond(200, PREMIUM, X_MBX_USED_WEIGHT_1M="1")])
    await public.premium_index("ARBUSDT")
    assert len(sent_at) == 2
    assert math.floor(sent_at[1] / 60) == math.floor(sent_at[0] / 60) + 1  # nothing sent before the minute ended
    assert metrics.registry.get_sample_value("engine_venue_throttled_total", {"venue": "binance"}) == 1


async def test_retry_after_holds_every_caller(autojump_clock: trio.abc.Clock) -> None:
    public, sent_at, *_ = client_for([respond(429, TOO_MANY, Retry_After="7"), respond(200, PREMIUM)])
    async with trio.open_nursery() as nursery:
        nursery.start_soon(public.premium_index, "ARBUSDT")
        await trio.sleep(0.5)  # the first answer (429) is in: the budget is paused
        nursery.start_soon(public.premium_index, "ARBUSDT")
    assert len(sent_at) == 3
    assert all(t - sent_at[0] >= 7.0 for t in sent_at[1:])


async def test_a_418_waits_out_the_ban(autojump_clock: trio.abc.Clock) -> None:
    banned = {"code": -1003, "msg": "Way too many requests; IP(1.2.3.4) banned until 1717000120000."}
    public, sent_at, *_ = client_for([respond(418, banned), respond(200, PREMIUM)])
    await public.premium_index("ARBUSDT")
    assert sent_at[1] - sent_at[0] >= BAN_DEFAULT_S


async def test_the_used_weight_header_slows_us_down(autojump_clock: trio.abc.Clock) -> None:
    # another process on the IP has spent 2200 of the minute: over our 2160 allowance
    public, sent_at, budget, *_ = client_for([respond(200, PREMIUM, X_MBX_USED_WEIGHT_1M="2200")])
    await public.premium_index("ARBUSDT")
    assert budget.remaining() == 0
    await public.premium_index("ARBUSDT")
    assert math.floor(sent_at[1] / 60) == math.floor(sent_at[0] / 60) + 1


async def test_client_errors_raise_at_once(autojump_clock: trio.abc.Clock) -> None:
    public, sent_at, *_ = client_for([respond(400, {"code": -1121, "msg": "Invalid symbol."})])
    with pytest.raises(BinanceError) as caught:
        await public.premium_index("NOPEUSDT")
    assert caught.value.code == -1121 and len(sent_at) == 1


async def test_server_errors_are_retried_then_give_up(autojump_clock: trio.abc.Clock) -> None:
    unknown = {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}
    public, sent_at, *_ = client_for([respond(503, unknown)], max_retries=2)
    with pytest.raises(VenueUnavailable) as caught:
        await public.premium_index("ARBUSDT")
    assert len(sent_at) == 3 and isinstance(caught.value.__cause__, BinanceError)
    assert sent_at[2] - sent_at[1] >= 0.2  # half of the second backoff's cap (0.4 s)


def probe_client(used_weights: list[str]) -> tuple[BinancePublic, list[float], list[int], Clock]:
    """A venue 0.1 s away that reports ``used_weights`` in turn (the last repeats);
    the third list records how many requests were in flight as each arrived."""
    clock = Clock(epoch_s=MINUTE_PLUS_10_S, origin_s=trio.current_time())
    sent_at: list[float] = []
    in_flight_seen: list[int] = []
    in_flight = 0

    async def handler(request: httpx.Request) -> httpx.Response:
        nonlocal in_flight
        sent_at.append(clock.time_s())
        in_flight += 1
        in_flight_seen.append(in_flight)
        await trio.sleep(0.1)
        in_flight -= 1
        used = used_weights[min(len(sent_at), len(used_weights)) - 1]
        return httpx.Response(200, json=PREMIUM, headers={"X-MBX-USED-WEIGHT-1M": used})

    budget = WindowBudget(clock=clock, venue="binance", limit=2400, window_s=60.0, safety_fraction=0.9)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    public = BinancePublic("https://fapi.test", http, budget, clock, structlog.get_logger(), EngineMetrics())
    return public, sent_at, in_flight_seen, clock


async def test_the_first_request_of_a_window_goes_alone(autojump_clock: trio.abc.Clock) -> None:
    # another process has spent the minute: only our probe may learn that the hard way
    public, sent_at, in_flight_seen, _ = probe_client(["2300", "1"])
    async with trio.open_nursery() as nursery:
        for _ in range(5):
            nursery.start_soon(public.premium_index, "ARBUSDT")
    first_minute = math.floor(sent_at[0] / 60)
    assert [math.floor(t / 60) for t in sent_at] == [first_minute] + [first_minute + 1] * 4
    assert in_flight_seen[:2] == [1, 1]  # the new minute is probed alone as well
    assert max(in_flight_seen) > 1  # once the window is known the rest go together


async def test_a_known_window_with_room_is_not_serialised(autojump_clock: trio.abc.Clock) -> None:
    public, _, in_flight_seen, _ = probe_client(["5"])
    await public.premium_index("ARBUSDT")  # learns the window
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(public.premium_index, "ARBUSDT")
    assert in_flight_seen == [1, 1, 2, 3, 4]


async def test_a_probe_throttled_by_the_venue_holds_back_its_waiters(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock(epoch_s=MINUTE_PLUS_10_S, origin_s=trio.current_time())
    sent_at: list[float] = []

    async def handler(request: httpx.Request) -> httpx.Response:
        sent_at.append(clock.time_s())
        await trio.sleep(0.1)
        if len(sent_at) == 1:  # a 429 although the header shows room: the pause must still hold
            return httpx.Response(429, json=TOO_MANY, headers={"X-MBX-USED-WEIGHT-1M": "3", "Retry-After": "5"})
        return httpx.Response(200, json=PREMIUM, headers={"X-MBX-USED-WEIGHT-1M": "4"})

    budget = WindowBudget(clock=clock, venue="binance", limit=2400, window_s=60.0, safety_fraction=0.9)
    http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    public = BinancePublic("https://fapi.test", http, budget, clock, structlog.get_logger(), EngineMetrics())
    async with trio.open_nursery() as nursery:
        for _ in range(4):
            nursery.start_soon(public.premium_index, "ARBUSDT")
    assert len(sent_at) == 5
    assert all(t >= sent_at[0] + 5.0 for t in sent_at[1:])
