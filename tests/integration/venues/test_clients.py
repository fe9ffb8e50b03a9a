"""open_venue_clients: one client and one limiter per configured venue, closed on exit."""

from __future__ import annotations

import structlog

from adapters.binance.public import BinancePublic
from adapters.clients import open_venue_clients
from adapters.deribit.rest import DeribitRest
from engine.config import BinanceVenue, DeribitVenue, VenuesSection
from engine.metrics import EngineMetrics
from tests.integration.venues.venue_support import running_sim


async def test_only_configured_venues_get_clients_and_they_close() -> None:
    metrics = EngineMetrics()
    async with running_sim("deribit") as sim:
        section = VenuesSection(deribit=DeribitVenue(rest_url=sim.deribit_url))
        async with open_venue_clients(section, sim.clock, structlog.get_logger(), metrics) as venues:
            assert set(venues) == {"deribit"}
            deribit = venues["deribit"]
            assert isinstance(deribit, DeribitRest)
            assert (await deribit.get_index_price("btc_usd")).price > 0
            assert deribit.limiter.capacity == 45_000 and deribit.limiter.refill_per_s == 10_000
        assert deribit.http.is_closed
    # the limiter counts the weight and the adapter the request: each exactly once
    assert metrics.registry.get_sample_value("engine_venue_weight_used_total", {"venue": "deribit"}) == 500
    assert metrics.registry.get_sample_value("engine_venue_requests_total", {"venue": "deribit"}) == 1


async def test_the_binance_budget_is_the_ip_minute_with_headroom() -> None:
    async with running_sim("binance") as sim:
        section = VenuesSection(binance=BinanceVenue(rest_url=sim.binance_url))
        async with open_venue_clients(section, sim.clock, structlog.get_logger(), EngineMetrics()) as venues:
            binance = venues["binance"]
            assert isinstance(binance, BinancePublic)
            assert (binance.budget.limit, binance.budget.window_s, binance.budget.allowed) == (2400, 60.0, 2160)
            assert (await binance.premium_index("ARBUSDT")).symbol == "ARBUSDT"
