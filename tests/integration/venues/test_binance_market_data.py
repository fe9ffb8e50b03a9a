"""BinancePublic market data against the simulated Binance over real HTTP: exchangeInfo,
the all-symbols ticker, open interest and its history, each inside the weight budget."""

from __future__ import annotations

import pytest

from engine.metrics import EngineMetrics
from tests.integration.venues.venue_support import binance_public, http_client, running_sim


async def test_exchange_info_tickers_and_open_interest() -> None:
    async with running_sim("binance") as sim, http_client() as http:
        public = binance_public(sim, http, EngineMetrics())
        info = await public.exchange_info()
        tickers, skipped = await public.tickers_24h()
        btc = await public.open_interest("BTCUSDT")
        weight = sim.stats("binance").weight
    perpetuals = [s for s in info.symbols if s.contract_type == "PERPETUAL" and s.quote_asset == "USDT"]
    assert info.skipped == 0 and len(perpetuals) > 100 and isinstance(info.raw["rateLimits"], list)
    btc_info = next(s for s in info.symbols if s.symbol == "BTCUSDT")
    assert btc_info.status == "TRADING" and btc_info.tick_size and btc_info.step_size and btc_info.min_notional
    assert skipped == 0 and {s.symbol for s in perpetuals} <= set(tickers) and tickers["BTCUSDT"].quote_volume > 0
    assert btc.symbol == "BTCUSDT" and btc.open_interest > 0 and abs(btc.ts_ms - sim.clock.time_ms()) < 2_000
    assert weight == 1 + 40 + 1  # the venue's own count: exchangeInfo 1, ticker 40, openInterest 1


async def test_open_interest_history_is_in_time_order_and_has_its_own_cap() -> None:
    async with running_sim("binance") as sim, http_client() as http:
        public = binance_public(sim, http, EngineMetrics())
        rows = await public.open_interest_hist("ETHUSDT", "5m", 24)
        with pytest.raises(ValueError):
            await public.open_interest_hist("ETHUSDT", "7m", 24)
        stats = sim.stats("binance")
    assert len(rows) == 24 and [r.ts_ms for r in rows] == sorted(r.ts_ms for r in rows)
    assert all(b.ts_ms - a.ts_ms == 300_000 for a, b in zip(rows, rows[1:]))
    assert all(r.open_interest > 0 and r.open_interest_value > 0 for r in rows)
    assert stats.requests == 1 and public.hist_budget.stats().granted_weight == 1


async def test_every_mark_price_in_one_request() -> None:
    async with running_sim("binance") as sim, http_client() as http:
        public = binance_public(sim, http, EngineMetrics())
        marks = await public.premium_indexes()
        weight = sim.stats("binance").weight
    assert len(marks) > 100 and marks["BTCUSDT"].mark_price > 0 and weight == 10
