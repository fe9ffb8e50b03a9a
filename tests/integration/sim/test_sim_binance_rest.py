"""Simulated Binance public REST over real HTTP: shapes vs hand-written fixtures, weights,
429 then 418, the openInterestHist cap, and injected faults."""

from __future__ import annotations

import json

import trio

from tests.integration.sim.sim_binance_support import assert_shape, fixture, running_venue


async def test_public_endpoints_match_the_documented_shapes() -> None:
    async with running_venue() as venue:
        get = venue.http.get
        assert_shape((await get("/fapi/v1/time")).json(), fixture("server_time.json"), exact=True)
        info = (await get("/fapi/v1/exchangeInfo")).json()
        assert_shape(info, fixture("exchange_info.json"))
        assert info["rateLimits"] == fixture("exchange_info.json")["rateLimits"]
        assert len(info["symbols"]) == 45
        kinds = {(s["contractType"], s["quoteAsset"], s["status"]) for s in info["symbols"]}
        assert {("CURRENT_QUARTER", "USDT", "TRADING"), ("PERPETUAL", "USDC", "TRADING"),
                ("PERPETUAL", "USDT", "SETTLING")} <= kinds
        btc = next(s for s in info["symbols"] if s["symbol"] == "BTCUSDT")
        price_filter = next(f for f in btc["filters"] if f["filterType"] == "PRICE_FILTER")
        assert (btc["pricePrecision"], price_filter["tickSize"]) == (2, "0.10")
        ticker = (await get("/fapi/v1/ticker/24hr", params={"symbol": "BTCUSDT"})).json()
        assert_shape(ticker, fixture("ticker_24hr.json"), exact=True)
        tickers = (await get("/fapi/v1/ticker/24hr")).json()
        assert len(tickers) == 45 and all(isinstance(t["quoteVolume"], str) for t in tickers)
        assert_shape(tickers, [fixture("ticker_24hr.json")], exact=True)
        assert_shape((await get("/fapi/v1/openInterest", params={"symbol": "ETHUSDT"})).json(),
                     fixture("open_interest.json"), exact=True)
        assert_shape((await get("/fapi/v1/premiumIndex", params={"symbol": "BTCUSDT"})).json(),
                     fixture("premium_index.json"), exact=True)
        assert_shape((await get("/fapi/v1/premiumIndex")).json(), [fixture("premium_index.json")], exact=True)
        hist = (await get("/futures/data/openInterestHist",
                          params={"symbol": "BTCUSDT", "period": "5m", "limit": "12"})).json()
        assert len(hist) == 12 and hist == sorted(hist, key=lambda row: row["timestamp"])
        assert_shape(hist, fixture("open_interest_hist.json"))
        depth = (await get("/fapi/v1/depth", params={"symbol": "BTCUSDT", "limit": "5"})).json()
        assert_shape(depth, fixture("depth.json"), exact=True)
        assert len(depth["bids"]) == 5 and float(depth["bids"][0][0]) < float(depth["asks"][0][0])
        error = await get("/fapi/v1/openInterest", params={"symbol": "NOPEUSDT"})
        assert error.status_code == 400 and error.json() == fixture("error.json")
        missing = (await get("/fapi/v1/openInterest")).json()
        assert missing["code"] == -1102


async def test_every_answer_carries_the_ip_weight_used_this_minute() -> None:
    async with running_venue() as venue:
        expected = 0
        for path, params, weight in [("/fapi/v1/time", {}, 1), ("/fapi/v1/ticker/24hr", {}, 40),
                                     ("/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}, 1),
                                     ("/fapi/v1/premiumIndex", {}, 10), ("/fapi/v1/openInterest", {"symbol": "BTCUSDT"}, 1),
                                     ("/fapi/v1/exchangeInfo", {}, 1),
                                     ("/futures/data/openInterestHist", {"symbol": "BTCUSDT", "period": "1h"}, 0)]:
            expected += weight
            answer = await venue.http.get(path, params=params)
            assert answer.status_code == 200
            assert answer.headers["X-MBX-USED-WEIGHT-1M"] == str(expected), path
        stats = venue.sim.control.accounting.clients["127.0.0.1"]
        assert (stats.requests, stats.weight) == (7, expected)


async def test_over_the_limit_429_then_418_for_an_ip_that_keeps_calling() -> None:
    async with running_venue(weight_limit_per_min=100, ban_after_429s=2) as venue:
        for _ in range(2):
            assert (await venue.http.get("/fapi/v1/ticker/24hr")).status_code == 200  # 80
        answers = [await venue.http.get("/fapi/v1/ticker/24hr") for _ in range(2)]  # 120, 160
        for answer in answers:
            assert answer.status_code == 429
            assert answer.json() == {"code": -1003, "msg": "Too many requests; current limit of IP(127.0.0.1) is 100 "
                                     "requests per minute. Please use the websocket for live updates to avoid polling the API."}
            assert 1 <= int(answer.headers["Retry-After"]) <= 60
        assert answers[-1].headers["X-MBX-USED-WEIGHT-1M"] == "160"
        banned = await venue.http.get("/fapi/v1/time")
        assert banned.status_code == 418 and banned.json()["code"] == -1003
        assert banned.json()["msg"].startswith("Way too many requests; IP(127.0.0.1) banned until ")
        assert banned.json()["msg"].endswith(". Please use the websocket for live updates to avoid bans.")
        assert 110 <= int(banned.headers["Retry-After"]) <= 120
        assert (await venue.http.get("/fapi/v1/time")).status_code == 418  # still banned
        stats = venue.sim.control.accounting.clients["127.0.0.1"]
        assert (stats.throttled, stats.banned) == (2, 2)


async def test_open_interest_hist_has_its_own_cap() -> None:
    async with running_venue(oi_hist_requests_per_5min=3) as venue:
        params = {"symbol": "BTCUSDT", "period": "5m", "limit": "1"}
        codes = [(await venue.http.get("/futures/data/openInterestHist", params=params)).status_code for _ in range(4)]
        assert codes == [200, 200, 200, 429]
        assert (await venue.http.get("/fapi/v1/time")).status_code == 200  # the weight budget is untouched
        bad = await venue.http.get("/futures/data/openInterestHist", params={"symbol": "BTCUSDT", "period": "7m"})
        assert bad.status_code == 429  # the cap comes first


async def test_injected_faults_delay_error_bursts_and_malformed_bodies() -> None:
    async with running_venue() as venue:
        faults = venue.sim.control.faults
        faults.burst("5xx", 1)
        faults.burst("429", 1)
        faults.burst("malformed", 1)
        answers = [await venue.http.get("/fapi/v1/time") for _ in range(3)]
        assert [a.status_code for a in answers] == [429, 503, 200]  # one per answer, 429 first
        malformed = answers[2]
        try:
            json.loads(malformed.content)
            raise AssertionError("expected a truncated body")
        except ValueError:
            pass
        assert answers[1].json()["code"] == -1001
        assert (await venue.http.get("/fapi/v1/time")).status_code == 200
        faults.delay_s = 0.3
        started = trio.current_time()
        await venue.http.get("/fapi/v1/time")
        assert trio.current_time() - started >= 0.3
        stats = venue.sim.control.accounting.clients["127.0.0.1"]
        assert stats.throttled == 0  # injected answers are not earned throttles
