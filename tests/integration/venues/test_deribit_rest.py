"""DeribitRest against the simulated Deribit over real HTTP: prices, errors, throttles, faults."""

from __future__ import annotations

import httpx
import pytest
import trio

from adapters.deribit.rest import DeribitError
from adapters.http import VenueUnavailable
from engine.metrics import EngineMetrics
from tests.integration.venues.venue_support import deribit_rest, http_client, metric, running_sim


@pytest.mark.parametrize("index_name", ["btc_usd", "btc_usdc", "eth_usdc"])
async def test_index_prices(index_name: str) -> None:
    metrics = EngineMetrics()
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, metrics)
        quote = await rest.get_index_price(index_name)
        venue_price = sim.venues.venue("deribit").index_price(index_name)
        assert quote.index_name == index_name
        assert quote.price == pytest.approx(venue_price, rel=0.01)
        assert abs(quote.ts_ms - sim.clock.time_ms()) < 2_000
    assert metric(metrics, "requests", "deribit") == 1
    assert metric(metrics, "weight_used", "deribit") == 500


async def test_an_unknown_index_fails_without_retry() -> None:
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, EngineMetrics())
        with pytest.raises(DeribitError) as caught:
            await rest.get_index_price("arb_usdc")  # Deribit has no ARB index
        assert caught.value.code == -32602
        assert sim.stats("deribit").requests == 1


async def test_a_10028_burst_is_waited_out_and_counted() -> None:
    metrics = EngineMetrics()
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, metrics)
        sim.venues.faults("deribit").burst("10028", 3)
        assert (await rest.get_index_price("btc_usdc")).price > 0
        stats = sim.stats("deribit")
        assert stats.requests == 4
        assert stats.throttled == 0  # the venue only counts real breaches: we caused none
    assert metric(metrics, "throttled", "deribit") == 3
    assert rest.limiter.stats().pauses == 3


async def test_a_crowd_of_callers_never_breaks_the_credit_pool() -> None:
    """120 concurrent calls: 90 fit our share of the pool at once, the rest follow its refill."""
    metrics = EngineMetrics()
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, metrics)
        started_s = trio.current_time()
        async with trio.open_nursery() as nursery:
            for _ in range(120):
                nursery.start_soon(rest.get_index_price, "eth_usdc")
        assert trio.current_time() - started_s >= 1.4  # 30 requests at 20/s
        stats = sim.stats("deribit")
        assert stats.requests == 120 and stats.throttled == 0
    assert metric(metrics, "throttled", "deribit") == 0


@pytest.mark.parametrize("fault", ["5xx", "malformed"])
async def test_server_errors_and_garbage_are_retried(fault: str) -> None:
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, EngineMetrics())
        sim.venues.faults("deribit").burst(fault, 2)
        assert (await rest.get_index_price("btc_usd")).price > 0
        assert sim.stats("deribit").requests == 3


async def test_endless_garbage_ends_in_venue_unavailable() -> None:
    async with running_sim("deribit") as sim, http_client() as http:
        rest = deribit_rest(sim, http, EngineMetrics(), max_retries=2)
        sim.venues.faults("deribit").burst("malformed", 100)
        with pytest.raises(VenueUnavailable, match="malformed JSON"):
            await rest.get_index_price("btc_usd")
        assert sim.stats("deribit").requests == 3


async def test_a_slow_answer_times_out_and_is_retried() -> None:
    async with running_sim("deribit") as sim, http_client(timeout_s=0.3) as http:
        rest = deribit_rest(sim, http, EngineMetrics())
        faults = sim.venues.faults("deribit")
        faults.delay_s = 1.0

        async def heal() -> None:
            await trio.sleep(0.15)  # the first request is in and stalled
            faults.delay_s = 0.0

        async with trio.open_nursery() as nursery:
            nursery.start_soon(heal)
            assert (await rest.get_index_price("btc_usd")).price > 0
        assert sim.stats("deribit").requests == 2


async def test_a_venue_that_stays_slow_is_unavailable() -> None:
    async with running_sim("deribit") as sim, http_client(timeout_s=0.2) as http:
        rest = deribit_rest(sim, http, EngineMetrics(), max_retries=1)
        sim.venues.faults("deribit").delay_s = 1.0
        with pytest.raises(VenueUnavailable) as caught:
            await rest.get_index_price("btc_usd")
        assert isinstance(caught.value.__cause__, httpx.TimeoutException)
        assert sim.stats("deribit").requests == 2
