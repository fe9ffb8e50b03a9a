"""The simulated Binance universe and market processes: contents, determinism, controls, history."""

from __future__ import annotations

import pytest

from adapters.sim.binance_market import HIST_PERIOD_MS, BinanceMarket
from adapters.sim.binance_universe import build_universe, quarter_delivery_ms

START_MS = 1_767_225_600_000  # 2026-01-01 00:00 UTC


def test_universe_has_the_contracts_filters_must_handle() -> None:
    specs = build_universe(seed=1, now_ms=START_MS)
    by_symbol = {spec.symbol: spec for spec in specs}
    assert len(by_symbol) == len(specs) == 305
    usdt_perps = [s for s in specs if s.contract_type == "PERPETUAL" and s.quote_asset == "USDT"]
    assert len(usdt_perps) == 300 and [s.symbol for s in usdt_perps[:3]] == ["BTCUSDT", "ETHUSDT", "SOLUSDT"]
    assert sum(s.initial_status == "SETTLING" for s in specs) == 2
    quarterlies = [s for s in specs if s.contract_type == "CURRENT_QUARTER"]
    assert [s.symbol for s in quarterlies] == ["BTCUSDT_260327", "ETHUSDT_260327"]
    assert quarterlies[0].pair == "BTCUSDT" and quarterlies[0].delivery_date_ms == quarter_delivery_ms(START_MS)
    assert {s.symbol for s in specs if s.quote_asset == "USDC"} == {"BTCUSDC", "ETHUSDC", "SOLUSDC"}
    btc = by_symbol["BTCUSDT"]
    assert (str(btc.tick_size), btc.price_precision, str(btc.step_size)) == ("0.10", 2, "0.001")
    assert sum(s.price_precision != s.tick_decimals for s in specs) > 20  # pricePrecision is not the tick
    assert all(s.min_price % s.tick_size == 0 and s.min_qty == s.step_size for s in specs)
    in_band = [s for s in usdt_perps if 2e6 <= s.initial_quote_volume <= 4e6]
    assert len(in_band) >= 5  # symbols sit in the liquidity hysteresis band


def test_quarter_delivery_is_the_last_friday_at_0800_utc() -> None:
    assert quarter_delivery_ms(START_MS) == 1_774_598_400_000  # 2026-03-27 08:00 UTC
    assert quarter_delivery_ms(1_774_598_400_000) == 1_782_460_800_000  # then 2026-06-26


def test_same_seed_same_steps_same_market_and_symbols_independent() -> None:
    def run(seed: int, perpetuals: int) -> dict:
        market = BinanceMarket(seed=seed, start_ms=START_MS, perpetuals=perpetuals)
        for _ in range(200):
            market.step(0.5)
        return market.snapshot()

    first, again, other_seed = run(5, 80), run(5, 80), run(6, 80)
    assert first == again and first != other_seed
    bigger = run(5, 120)
    assert all(bigger[symbol] == numbers for symbol, numbers in first.items())  # adding symbols shifts none


def test_quote_volumes_drift_across_the_liquidity_thresholds() -> None:
    market = BinanceMarket(seed=2, start_ms=START_MS, perpetuals=300)
    before = {s: st.quote_volume.value >= 4e6 for s, st in market.states.items()}
    for _ in range(24):
        market.step(3600.0)
    after = {s: st.quote_volume.value >= 4e6 for s, st in market.states.items()}
    assert sum(before[s] != after[s] for s in before) >= 3


def test_controls() -> None:
    market = BinanceMarket(seed=3, start_ms=START_MS, perpetuals=10)
    price = market.states["ETHUSDT"].mark_price
    assert market.jump_price("ETHUSDT", -10) == pytest.approx(price * 0.9)
    oi = market.states["ETHUSDT"].open_interest.value
    assert market.spike_oi("ETHUSDT", 50) == pytest.approx(oi * 1.5)
    assert market.spike_oi("ETHUSDT", -200) == 0.0
    assert market.set_quote_volume("ETHUSDT", 3.5e6) == 3.5e6
    assert market.set_status("ETHUSDT", "SETTLING") == "SETTLING"
    with pytest.raises(ValueError):
        market.set_status("ETHUSDT", "HALTED")
    with pytest.raises(ValueError):
        market.set_quote_volume("ETHUSDT", -1)


def test_oi_history_30_days_on_the_grid_then_live_samples() -> None:
    market = BinanceMarket(seed=4, start_ms=START_MS + 123_000, perpetuals=5)
    now_ms = START_MS + 123_000
    rows = market.oi_history("BTCUSDT", HIST_PERIOD_MS, now_ms, limit=500)
    assert len(rows) == 500 and rows[-1][0] == START_MS
    assert all(b[0] - a[0] == HIST_PERIOD_MS for a, b in zip(rows, rows[1:]))
    hourly = market.oi_history("BTCUSDT", 3_600_000, now_ms, limit=1000)
    assert len(hourly) == 30 * 24 and all(ts % 3_600_000 == 0 for ts, _, _ in hourly)
    assert market.oi_history("BTCUSDT", HIST_PERIOD_MS, now_ms) == rows[-30:]  # default limit 30
    first = market.oi_history("BTCUSDT", HIST_PERIOD_MS, now_ms, limit=2, start_ms=START_MS - 3_600_000)
    assert [ts for ts, _, _ in first] == [START_MS - 3_600_000, START_MS - 3_300_000]
    for _ in range(21):
        market.step(30.0)  # 630 s later: two 5-minute boundaries crossed
    live = market.oi_history("BTCUSDT", HIST_PERIOD_MS, market.now_ms, limit=3)
    assert [ts for ts, _, _ in live] == [START_MS, START_MS + 300_000, START_MS + 600_000]
    assert live[-1][1] == pytest.approx(market.states["BTCUSDT"].open_interest.value, rel=0.01)
