"""The simulated Deribit's pure core: listing policy, names, strikes, marks, credits, determinism."""

from __future__ import annotations

import datetime as dt
import math

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.sim.control import VenueControl
from adapters.sim.deribit import DeribitSim
from adapters.sim.deribit_listing import (
    ExpiryPolicy, expiry_code, instrument_name, listed_expiries, nice_step, strike_text,
)
from adapters.sim.deribit_market import DEFAULT_SPECS, DeribitMarket, smile_for
from adapters.sim.deribit_protocol import (
    DeribitLimits, RpcError, call_method, envelope, parse_request, try_spend,
)
from engine.quant import black76
from engine.clock import Clock


def utc_ms(*args: int) -> int:
    return int(dt.datetime(*args, tzinfo=dt.timezone.utc).timestamp() * 1000)


def codes(now_ms: int, policy: ExpiryPolicy = ExpiryPolicy()) -> list[tuple[str, str]]:
    return [(expiry_code(e.expiry_ms), e.kind) for e in listed_expiries(policy, now_ms)]


def market(seed: int = 7, now_ms: int = utc_ms(2025, 3, 24, 10)) -> DeribitMarket:
    return DeribitMarket(seed=seed, now_ms=now_ms, specs=dict(DEFAULT_SPECS), inverse_coins=("BTC", "ETH"),
                         linear_coins=("BTC", "ETH", "SOL", "XRP"))


# --------------------------------------------------------------------------- listing policy


def test_btc_listing_on_a_monday_is_3_dailies_3_weeklies_3_monthlies_4_quarterlies_deduplicated() -> None:
    assert codes(utc_ms(2025, 3, 24, 10)) == [
        ("25MAR25", "day"), ("26MAR25", "day"), ("27MAR25", "day"),
        ("28MAR25", "quarter"),  # also the weekly and the monthly: listed once, longest kind
        ("4APR25", "week"), ("11APR25", "week"),
        ("25APR25", "month"), ("30MAY25", "month"),
        ("27JUN25", "quarter"), ("26SEP25", "quarter"), ("26DEC25", "quarter"),
    ]


def test_replacements_appear_at_0800_the_day_before_the_expiry_they_replace() -> None:
    before = dict(codes(utc_ms(2025, 3, 27, 7, 59)))
    after = dict(codes(utc_ms(2025, 3, 27, 8, 0)))
    assert "18APR25" not in before and "27MAR26" not in before
    assert after["18APR25"] == "week"  # the fourth weekly for 24 h
    assert after["27MAR26"] == "quarter"  # the fifth quarterly for 24 h
    assert [c for c, k in after.items() if k == "day"] == ["29MAR25", "30MAR25"]  # 28MAR25 is the quarterly
    assert "27MAR25" not in after  # expired at 08:00 exactly


def test_dailies_roll_at_0800_and_day_has_no_leading_zero() -> None:
    assert codes(utc_ms(2023, 8, 2, 7, 59, 59))[:3] == [("2AUG23", "day"), ("3AUG23", "day"), ("4AUG23", "week")]
    assert codes(utc_ms(2023, 8, 2, 8))[:3] == [("3AUG23", "day"), ("4AUG23", "week"), ("5AUG23", "day")]


def test_every_expiry_is_at_0800_utc_and_weeklies_are_fridays() -> None:
    for expiry in listed_expiries(ExpiryPolicy(), utc_ms(2025, 6, 11, 13)):
        when = dt.datetime.fromtimestamp(expiry.expiry_ms / 1000, tz=dt.timezone.utc)
        assert (when.hour, when.minute) == (8, 0)
        if expiry.kind != "day":
            assert when.weekday() == 4
        assert expiry.introduced_ms <= utc_ms(2025, 6, 11, 13)


@settings(max_examples=30, deadline=None)
@given(now_ms=st.integers(min_value=utc_ms(2024, 1, 1), max_value=utc_ms(2030, 12, 31)))
def test_an_expiry_is_live_exactly_from_its_introduction_until_it_expires(now_ms: int) -> None:
    listed = listed_expiries(ExpiryPolicy(), now_ms)
    stamps = [e.expiry_ms for e in listed]
    assert stamps == sorted(set(stamps)) and all(ts > now_ms for ts in stamps)
    assert sum(e.kind == "day" for e in listed) <= 3 and sum(e.kind == "quarter" for e in listed) <= 5
    assert 9 <= len(listed) <= 14
    for expiry in listed:
        if expiry.introduced_ms < now_ms:
            before = {e.expiry_ms for e in listed_expiries(ExpiryPolicy(), expiry.introduced_ms - 1)}
            at = {e.expiry_ms for e in listed_expiries(ExpiryPolicy(), expiry.introduced_ms)}
            assert expiry.expiry_ms not in before and expiry.expiry_ms in at


def test_smaller_coins_follow_their_own_counts() -> None:
    listed = codes(utc_ms(2025, 3, 24, 10), ExpiryPolicy(2, 2, 2, 1))
    assert listed == [("25MAR25", "day"), ("26MAR25", "day"), ("28MAR25", "quarter"), ("4APR25", "week"),
                      ("25APR25", "month")]


def test_names_follow_deribit_conventions() -> None:
    expiry = utc_ms(2025, 3, 28, 8)
    assert instrument_name("BTC", expiry, 80000.0, True, linear=False) == "BTC-28MAR25-80000-C"
    assert instrument_name("BTC", expiry, 8000.0, False, linear=True) == "BTC_USDC-28MAR25-8000-P"
    assert instrument_name("XRP", utc_ms(2023, 6, 30, 8), 0.625, True, linear=True) == "XRP_USDC-30JUN23-0d625-C"
    assert strike_text(142.5, linear=True) == "142d5"
    with pytest.raises(ValueError):
        strike_text(0.5, linear=False)
    assert [nice_step(x) for x in (430, 860, 16, 0.11)] == [500, 1000, 20, 0.2]


# --------------------------------------------------------------------------- market


def test_strikes_cover_call_delta_090_to_010_around_the_index() -> None:
    m = market()
    for coin, books in m.series.items():
        for ts, series in books.items():
            forward, years, svi = m.surface(coin, ts)
            strikes = sorted(series.strikes)
            delta = [black76(forward, k, years, svi.implied_vol(k, forward, years), True).delta
                     for k in (strikes[0], strikes[-1])]
            assert delta[0] >= 0.88 and delta[1] <= 0.12, (coin, expiry_code(ts), delta)
            assert all(round(k / series.step, 6).is_integer() for k in strikes)


def test_marks_are_black76_on_the_svi_smile_inverse_in_coin_linear_in_usdc() -> None:
    m = market()
    by_name = {r["instrument_name"]: r for r in m.rows("BTC", summaries=True) + m.rows("USDC", summaries=True)}
    ts = sorted(m.series["BTC"])[5]
    forward, years, svi = m.surface("BTC", ts)
    strike = sorted(m.series["BTC"][ts].strikes)[3]
    vol = svi.implied_vol(strike, forward, years)
    usd = black76(forward, strike, years, vol, False).price
    inverse = by_name[instrument_name("BTC", ts, strike, False, linear=False)]
    linear = by_name[instrument_name("BTC", ts, strike, False, linear=True)]
    assert inverse["mark_iv"] == pytest.approx(vol * 100, abs=0.01)
    assert inverse["mark_price"] == pytest.approx(usd / forward, abs=1e-8)
    assert linear["mark_price"] == pytest.approx(usd, abs=1e-6)
    assert inverse["underlying_price"] == linear["underlying_price"] == forward
    assert inverse["interest_rate"] == 0.0
    assert inverse["bid_price"] is None or inverse["bid_price"] <= inverse["mark_price"] <= inverse["ask_price"]


def test_smile_is_valid_and_skewed_for_every_tenor() -> None:
    for years in (10 / 525_600, 1 / 365, 7 / 365, 0.25, 1.0):
        svi = smile_for(0.55, -0.3, years)
        assert svi.problems() == []
        atm = svi.implied_vol(100.0, 100.0, years)
        assert svi.implied_vol(80.0, 100.0, years) > atm  # downside skew


def test_same_seed_and_steps_give_the_same_market_and_another_seed_does_not() -> None:
    a, b, c = market(seed=3), market(seed=3), market(seed=4)
    for m in (a, b, c):
        for _ in range(50):
            m.step(0.5)
    assert a.rows("BTC", summaries=True) == b.rows("BTC", summaries=True)
    assert {k: v.price for k, v in a.indices.items()} == {k: v.price for k, v in b.indices.items()}
    assert a.indices["BTC"].price != c.indices["BTC"].price


def test_adding_a_coin_never_shifts_another() -> None:
    both = market()
    alone = DeribitMarket(seed=7, now_ms=both.now_ms, specs={"BTC": DEFAULT_SPECS["BTC"]}, inverse_coins=("BTC",),
                          linear_coins=())
    for m in (both, alone):
        for _ in range(20):
            m.step(1.0)
    assert both.indices["BTC"].price == alone.indices["BTC"].price


def test_series_expire_and_new_ones_list_as_market_time_passes() -> None:
    m = market(now_ms=utc_ms(2025, 3, 24, 7, 59))
    assert "24MAR25" in {expiry_code(ts) for ts in m.series["BTC"]}
    m.step(120.0)
    listed = {expiry_code(ts) for ts in m.series["BTC"]}
    assert "24MAR25" not in listed and "27MAR25" in listed
    fresh = [r for r in m.rows("BTC", summaries=False) if "-27MAR25-" in r["instrument_name"]]
    assert fresh and all(r["creation_timestamp"] == m.now_ms for r in fresh)
    assert not any("-24MAR25-" in name for name in m.oi)  # expired series leave no state behind


# --------------------------------------------------------------------------- protocol


def test_credit_pool_grants_100_public_requests_then_refuses_then_refills() -> None:
    pool = DeribitLimits().default
    state, grants = None, []
    for _ in range(101):
        state, granted = try_spend(state, 10.0, pool)
        grants.append(granted)
    assert grants == [True] * 100 + [False]
    state, granted = try_spend(state, 10.049, pool)
    assert not granted  # 490 credits refilled: not yet a request's worth
    assert try_spend(state, 10.05, pool)[1]


def test_get_instruments_has_its_own_stricter_pool() -> None:
    limits = DeribitLimits()
    pool = limits.pool_for("public/get_instruments")
    assert pool is limits.instruments and pool.capacity / pool.cost == 50 and pool.refill_per_s / pool.cost == 1
    assert limits.pool_for("public/get_index_price") is limits.default


def test_envelopes_and_request_parsing() -> None:
    ok = envelope(us_in=10, us_out=25, result={"x": 1}, request_id=42)
    assert list(ok) == ["jsonrpc", "id", "result", "usIn", "usOut", "usDiff", "testnet"] and ok["usDiff"] == 15
    error = envelope(us_in=1, us_out=1, error=RpcError(10028, "too_many_requests"))
    assert error["error"] == {"code": 10028, "message": "too_many_requests"} and "id" not in error
    assert parse_request('{"jsonrpc":"2.0","id":7,"method":"public/test"}') == (7, "public/test", {})
    with pytest.raises(RpcError) as bad:
        parse_request("{oops")
    assert (bad.value.code, bad.value.data) == (11050, "invalid json")


def test_method_errors_are_the_venues() -> None:
    class View:
        def index_price(self, name: str) -> float | None:
            return 1.0 if name == "btc_usd" else None

    with pytest.raises(RpcError) as unknown:
        call_method(View(), "public/nope", {})  # type: ignore[arg-type]
    assert (unknown.value.code, unknown.value.message) == (-32601, "Method not found")
    with pytest.raises(RpcError) as arb:
        call_method(View(), "public/get_index_price", {"index_name": "arb_usdc"})  # type: ignore[arg-type]
    assert arb.value.as_dict()["data"]["param"] == "index_name" and arb.value.code == -32602


# --------------------------------------------------------------------------- the venue object


async def test_sim_steps_deterministically_from_an_injected_date() -> None:
    epoch_s = utc_ms(2025, 3, 24, 10) / 1000
    sims = [DeribitSim(seed=s, clock=Clock(epoch_s=epoch_s, origin_s=trio.current_time()),
                       control=VenueControl.new("deribit")) for s in (11, 11, 12)]
    for sim in sims:
        for _ in range(30):
            sim.step(1.0)
    prices = [[sim.index_price(n) for n in ("btc_usd", "eth_usdc", "sol_usdc", "xrp_usdc")] for sim in sims]
    assert prices[0] == prices[1] != prices[2]
    assert sims[0].option_rows("USDC", summaries=True) == sims[1].option_rows("USDC", summaries=True)
    assert sims[0].index_price("btc_usd") == sims[0].index_price("btc_usdc")
    assert sims[0].index_price("arb_usdc") is None


async def test_control_actions_move_the_market_and_reject_bad_input() -> None:
    sim = DeribitSim(seed=1, clock=Clock(), control=VenueControl.new("deribit"))
    before = sim.market.index_price("BTC")
    answer = sim.control_action("jump_price", {"currency": "BTC", "pct": -5})
    assert sim.market.index_price("BTC") == pytest.approx(before * 0.95)
    assert answer["index_price"] == pytest.approx(before * 0.95, abs=0.01)
    ts = sorted(sim.market.series["ETH"])[4]
    forward, years, _ = sim.market.surface("ETH", ts)
    sim.control_action("set_atm_vol", {"currency": "ETH", "vol": 1.2})
    _, _, svi = sim.market.surface("ETH", ts)
    assert svi.implied_vol(forward, forward, years) == pytest.approx(1.2 * (0.9 + 0.2 * math.sqrt(years)))
    for action, params in [("nope", {}), ("jump_price", {"currency": "ARB", "pct": 1}),
                           ("jump_price", {"currency": "BTC"}), ("set_atm_vol", {"currency": "BTC", "vol": -1}),
                           ("jump_price", {"currency": "BTC", "pct": 1, "extra": 2})]:
        with pytest.raises(ValueError):
            sim.control_action(action, params)
    with pytest.raises(ValueError, match="ARB"):
        DeribitSim(seed=1, clock=Clock(), control=VenueControl.new("deribit"), usdc_coins=("BTC", "ARB"))
