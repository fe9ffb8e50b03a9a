"""BinancePublic against the simulated Binance over real HTTP: weights, the used-weight
header, 429s with Retry-After, and never a 418.

The simulator and the adapters share one wall clock; tests move it forward to a chosen
second of the minute so that "wait for the next minute" costs seconds, not a minute.
"""

from __future__ import annotations

import httpx
import pytest
import trio

from adapters.binance.public import BinanceError
from adapters.http import VenueUnavailable
from engine.metrics import EngineMetrics
from tests.integration.venues.venue_support import (
    SendLog, binance_public, http_client, jump_to_second, metric, running_sim,
)

TICKER_ALL_WEIGHT = 40  # GET /fapi/v1/ticker/24hr without a symbol


async def spend_weight(url: str, weight: int) -> None:
    """Another process on our IP spends ``weight`` of this minute."""
    async with httpx.AsyncClient(timeout=5.0) as other:
        for _ in range(weight // TICKER_ALL_WEIGHT):
            (await other.get(f"{url}/fapi/v1/ticker/24hr")).raise_for_status()


async def test_premium_index_of_arb() -> None:
    metrics = EngineMetrics()
    async with running_sim("binance") as sim, http_client() as http:
        public = binance_public(sim, http, metrics)
        premium = await public.premium_index("ARBUSDT")
        assert premium.symbol == "ARBUSDT"
        assert 0.5 < premium.index_price < 2.0 and 0.5 < premium.mark_price < 2.0
        assert abs(premium.ts_ms - sim.clock.time_ms()) < 2_000
        assert sim.stats("binance").weight == 1
        with pytest.raises(BinanceError) as caught:
            await public.premium_index("NOPEUSDT")
        assert caught.value.code == -1121 and sim.stats("binance").requests == 2
    assert metric(metrics, "requests", "binance") == 2
    assert metric(metrics, "weight_used", "binance") == 2


async def test_a_429_is_honoured_and_nothing_is_sent_meanwhile() -> None:
    metrics = EngineMetrics()
    async with running_sim("binance") as sim:
        sends = SendLog(sim.clock)
        async with http_client(sends=sends) as http:
            public = binance_public(sim, http, metrics)
            minute_end_s = jump_to_second(sim.clock, 57.5)
            sim.venues.faults("binance").burst("429", 1)  # answered with Retry-After: 3
            async with trio.open_nursery() as nursery:
                nursery.start_soon(public.premium_index, "ARBUSDT")
                await trio.sleep(0.5)  # the 429 is in: a second caller must wait too
                nursery.start_soon(public.premium_index, "ARBUSDT")
            first, *later = sends.sent_at_s
            assert len(later) == 2
            assert all(t >= first + 3.0 and t >= minute_end_s for t in later)
            stats = sim.stats("binance")
            assert stats.requests == 3 and stats.banned == 0 and stats.throttled == 0
    assert metric(metrics, "throttled", "binance") == 1


async def test_weight_spent_by_another_client_on_the_ip_slows_us() -> None:
    async with running_sim("binance") as sim:
        sends = SendLog(sim.clock)
        async with http_client(sends=sends) as http:
            public = binance_public(sim, http, EngineMetrics())
            jump_to_second(sim.clock, 1.0)  # a fresh minute for the whole scenario
            await spend_weight(sim.binance_url, 2160)  # our whole 90 % share of the 2400
            minute_end_s = jump_to_second(sim.clock, 58.5)
            await public.premium_index("ARBUSDT")  # its header reads 2161
            assert public.budget.remaining() == 0
            await public.premium_index("ARBUSDT")
            assert sends.sent_at_s[0] < minute_end_s <= sends.sent_at_s[1]
            stats = sim.stats("binance")
            assert stats.throttled == 0 and stats.banned == 0


async def test_a_real_429_waits_for_the_next_minute_and_never_earns_a_418() -> None:
    metrics = EngineMetrics()
    async with running_sim("binance") as sim:
        sends = SendLog(sim.clock)
        async with http_client(sends=sends) as http:
            public = binance_public(sim, http, metrics)
            jump_to_second(sim.clock, 1.0)
            await spend_weight(sim.binance_url, 2400)  # the IP's whole minute, behind our back
            minute_end_s = jump_to_second(sim.clock, 58.5)
            async with trio.open_nursery() as nursery:
                for _ in range(5):
                    nursery.start_soon(public.premium_index, "ARBUSDT")
            stats = sim.stats("binance")
            assert stats.banned == 0
            assert stats.throttled == 1  # one 429, then silence until the minute turned
            assert sum(t < minute_end_s for t in sends.sent_at_s) == 1
            assert len(sends.sent_at_s) == 6
    assert metric(metrics, "throttled", "binance") == 1


async def test_server_errors_and_garbage_are_retried() -> None:
    async with running_sim("binance") as sim, http_client() as http:
        public = binance_public(sim, http, EngineMetrics(), max_retries=3)
        sim.venues.faults("binance").burst("5xx", 2)
        sim.venues.faults("binance").burst("malformed", 1)
        assert (await public.premium_index("ARBUSDT")).index_price > 0
        assert sim.stats("binance").requests == 4
        sim.venues.faults("binance").burst("5xx", 10)
        with pytest.raises(VenueUnavailable, match="-1001"):
            await public.premium_index("ARBUSDT")


async def test_a_slow_answer_times_out_and_is_retried() -> None:
    async with running_sim("binance") as sim:
        sends = SendLog(sim.clock)
        http = http_client(timeout_s=0.3, sends=sends)
        public = binance_public(sim, http, EngineMetrics())
        faults = sim.venues.faults("binance")
        faults.delay_s = 1.0

        async def heal() -> None:
            await trio.sleep(0.15)
            faults.delay_s = 0.0

        async with http, trio.open_nursery() as nursery:
            nursery.start_soon(heal)
            assert (await public.premium_index("ARBUSDT")).index_price > 0
        assert len(sends.sent_at_s) == 2  # the venue never counted the stalled one: it answered nothing
