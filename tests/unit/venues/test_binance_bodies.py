"""Binance market-data answers from hand-written bodies following venues.md."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.binance.bodies import (
    exchange_info_from, open_interest_from, open_interest_hist_from, tickers_24h_from,
)
from adapters.http import VenueProtocolError

BTC = {
    "symbol": "BTCUSDT", "pair": "BTCUSDT", "contractType": "PERPETUAL", "status": "TRADING", "baseAsset": "BTC",
    "quoteAsset": "USDT", "pricePrecision": 2,
    "filters": [{"filterType": "PRICE_FILTER", "tickSize": "0.10", "minPrice": "556.80"},
                {"filterType": "LOT_SIZE", "stepSize": "0.001", "minQty": "0.001"},
                {"filterType": "MIN_NOTIONAL", "notional": "100"}],
}


def test_exchange_info_reads_filters_not_precision_and_skips_bad_entries() -> None:
    quarterly = {**BTC, "symbol": "BTCUSDT_261225", "contractType": "CURRENT_QUARTER", "filters": []}
    info = exchange_info_from({"rateLimits": [], "symbols": [BTC, quarterly, {"symbol": 5}, "junk"]})
    btc, quarter = info.symbols
    assert (btc.tick_size, btc.step_size, btc.min_qty, btc.min_notional) == (0.1, 0.001, 0.001, 100.0)
    assert quarter.contract_type == "CURRENT_QUARTER" and quarter.tick_size is None and info.skipped == 2
    with pytest.raises(VenueProtocolError):
        exchange_info_from({"symbols": "none"})


def test_tickers_keep_good_entries_and_count_the_rest() -> None:
    body = [{"symbol": "BTCUSDT", "quoteVolume": "12345678.90", "lastPrice": "86000.1"},
            {"symbol": "ETHUSDT", "quoteVolume": "NaN", "lastPrice": "3000"},
            {"symbol": "ARBUSDT", "quoteVolume": "-1", "lastPrice": "0.4"}, 7]
    tickers, skipped = tickers_24h_from(body)
    assert list(tickers) == ["BTCUSDT"] and tickers["BTCUSDT"].quote_volume == 12_345_678.9 and skipped == 3


def test_open_interest_and_history() -> None:
    oi = open_interest_from({"openInterest": "84213.527", "symbol": "BTCUSDT", "time": 1717000000123})
    assert (oi.symbol, oi.open_interest, oi.ts_ms) == ("BTCUSDT", 84213.527, 1717000000123)
    rows = open_interest_hist_from([
        {"symbol": "BTCUSDT", "sumOpenInterest": "2.5", "sumOpenInterestValue": "200000", "timestamp": 1717000600000},
        {"symbol": "BTCUSDT", "sumOpenInterest": "2.0", "sumOpenInterestValue": "160000", "timestamp": 1717000300000},
    ])
    assert [r.ts_ms for r in rows] == [1717000300000, 1717000600000] and rows[1].open_interest == 2.5
    for bad in ({"openInterest": "-1", "symbol": "X", "time": 1}, {"openInterest": "1", "symbol": "X", "time": True},
                {"openInterest": "1", "time": 1}, []):
        with pytest.raises(VenueProtocolError):
            open_interest_from(bad)


@given(st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
                    max_leaves=20))
def test_garbage_raises_only_protocol_errors(body) -> None:
    for parse in (exchange_info_from, open_interest_from, open_interest_hist_from, tickers_24h_from):
        try:
            parse(body)
        except VenueProtocolError:
            pass
