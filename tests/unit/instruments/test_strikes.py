"""The strike generator's promises, for any forward, vol, smile, tenor and interval table."""

from __future__ import annotations

import math
from typing import Callable

import pytest
from hypothesis import given, settings, strategies as st

from actors.instruments.strikes import (
    MAX_PER_BUCKET, Intervals, StrikeLadder, build_ladder, call_delta, default_interval_table, generate_strikes,
    strike_for_call_delta,
)
from actors.instruments.svi import flat_vol, smile_of
from engine.quant import SviParams

REFERENCE = {"BTC": 86000.0, "ETH": 3200.0, "ARB": 0.40}
EPS = 1e-9


def smile(atm_vol: float, expiry_years: float, skew: float, wing_per_year: float) -> Callable[[float], float] | None:
    """An SVI smile with this ATM vol whose shape in vol terms does not depend on T."""
    b, sigma = wing_per_year * expiry_years, 0.1
    params = SviParams(a=atm_vol**2 * expiry_years - b * sigma, b=b, rho=skew, m=0.0, sigma=sigma)
    return None if params.problems() else params


def on_grid(strike: float, step: float) -> bool:
    ratio = strike / step
    return abs(ratio - round(ratio)) <= 1e-9 * max(1.0, ratio) and round(ratio) >= 1


def check_ladder(ladder: StrikeLadder, vol_of: Callable[[float], float], *, reach_forward: bool = True) -> None:
    strikes, forward, t = ladder.strikes, ladder.forward, ladder.expiry_years
    # sorted, unique, positive
    assert all(k > 0 and math.isfinite(k) for k in strikes)
    assert all(a < b for a, b in zip(strikes, strikes[1:]))
    # every strike on its own bucket's grid
    for strike, bucket in zip(strikes, ladder.buckets):
        assert on_grid(strike, ladder.intervals.of(bucket)), (strike, bucket, ladder.intervals)
    # spacing never narrows moving outward: the gaps fall, then rise
    gaps = [b - a for a, b in zip(strikes, strikes[1:])]
    tol = 1e-9 * strikes[-1]
    bottom = gaps.index(min(gaps)) if gaps else 0
    assert all(gaps[i] >= gaps[i + 1] - tol for i in range(bottom)), gaps
    assert all(gaps[i] <= gaps[i + 1] + tol for i in range(bottom, len(gaps) - 1)), gaps
    # both sides of the forward
    assert strikes[-1] >= forward
    if reach_forward:
        assert strikes[0] <= forward
    # delta 0.10 reached above, and only by the last strike
    deltas = [call_delta(forward, k, t, vol_of) for k in strikes]
    assert deltas[-1] <= 0.1 + EPS
    assert len(deltas) < 2 or deltas[-2] > 0.1 - EPS
    # delta 0.90 (and the forward) reached below, only by the first strike, unless no grid point is left
    low_side = [d >= 0.9 - EPS and k <= forward for k, d in zip(strikes, deltas)]
    if low_side[0]:
        assert not any(low_side[1:])
    else:
        assert strikes[0] - ladder.steps_down[["atm", "outer", "wings"].index(ladder.buckets[0])] <= 0


@st.composite
def markets(draw):
    market = draw(st.sampled_from(sorted(REFERENCE)))
    forward = REFERENCE[market] * math.exp(draw(st.floats(-1.5, 1.5)))
    days = draw(st.floats(1 / 24, 365))
    vol = draw(st.floats(0.05, 2.0))
    t = days / 365
    params = smile(vol, t, draw(st.floats(-0.6, 0.3)), draw(st.floats(0.0, 0.4))) if draw(st.booleans()) else None
    vol_of = smile_of(params, forward, t) if params else flat_vol(vol)
    intervals = default_interval_table(market).lookup(days, vol_of(forward))
    return forward, t, vol_of, intervals


@settings(max_examples=300, deadline=None)
@given(case=markets())
def test_default_tables_give_valid_ladders(case) -> None:
    forward, t, vol_of, intervals = case
    ladder = build_ladder(forward, t, vol_of, intervals)
    check_ladder(ladder, vol_of)
    assert generate_strikes(forward, t, vol_of, intervals) == list(ladder.strikes)


@st.composite
def any_intervals(draw):
    """Steps that need not divide each other (2000/5000), on integer or 0.001 ticks."""
    atm = draw(st.integers(1, 50))
    outer = draw(st.integers(atm, 5 * atm))
    wings = draw(st.integers(outer, 4 * outer))
    tick = draw(st.sampled_from([1.0, 0.001]))
    forward = atm * tick * draw(st.floats(5.0, 2000.0))
    return Intervals(atm * tick, outer * tick, wings * tick), forward


@settings(max_examples=300, deadline=None)
@given(case=any_intervals(), vol=st.floats(0.05, 2.0), days=st.floats(1 / 24, 365))
def test_any_interval_table_gives_valid_ladders(case, vol: float, days: float) -> None:
    intervals, forward = case
    ladder = build_ladder(forward, days / 365, flat_vol(vol), intervals)
    check_ladder(ladder, flat_vol(vol))


@settings(max_examples=100, deadline=None)
@given(case=any_intervals(), vol=st.floats(0.05, 6.0), days=st.floats(1e-6, 3 * 365))
def test_extreme_inputs_still_give_positive_grid_strikes(case, vol: float, days: float) -> None:
    intervals, forward = case
    ladder = build_ladder(forward, days / 365, flat_vol(vol), intervals)
    check_ladder(ladder, flat_vol(vol), reach_forward=False)
    assert len(ladder.strikes) <= 6 * MAX_PER_BUCKET + 20


def test_worked_example_btc_86000_vol_50_15_days() -> None:
    intervals = default_interval_table("BTC").lookup(15, 0.5)
    assert intervals == Intervals(2000, 5000, 10000)
    ladder = build_ladder(86000, 15 / 365, flat_vol(0.5), intervals)
    assert ladder.strikes == (75000, 80000, 84000, 86000, 88000, 90000, 100000)
    assert ladder.buckets == ("outer", "outer", "atm", "atm", "atm", "outer", "wings")


def test_arb_near_0_4_on_a_0_01_grid() -> None:
    ladder = build_ladder(0.4, 30 / 365, flat_vol(0.8), Intervals(0.01, 0.025, 0.05))
    check_ladder(ladder, flat_vol(0.8))
    assert 0.4 in ladder.strikes and len(ladder.strikes) >= 8


def test_forward_below_the_atm_step_still_gives_positive_strikes() -> None:
    ladder = build_ladder(0.004, 30 / 365, flat_vol(0.8), Intervals(0.01, 0.025, 0.05))
    assert ladder.strikes[0] == 0.01  # the lowest positive grid point; nothing on the grid is <= F
    check_ladder(ladder, flat_vol(0.8), reach_forward=False)


def test_one_second_to_expiry_lists_a_strike_each_side() -> None:
    ladder = build_ladder(86123.0, 1 / (365 * 86400), flat_vol(0.5), Intervals(500, 1000, 2000))
    assert ladder.strikes == (86000, 86500)
    check_ladder(ladder, flat_vol(0.5))


def test_huge_vol_widens_steps_instead_of_listing_thousands() -> None:
    ladder = build_ladder(86000, 3.0, flat_vol(5.0), Intervals(2000, 5000, 10000))
    assert len(ladder.strikes) <= 6 * MAX_PER_BUCKET + 20
    assert ladder.steps_up[0] > 2000


def test_smile_fixed_point_matches_the_target_delta() -> None:
    params = SviParams(a=0.02, b=0.15, rho=-0.4, m=0.0, sigma=0.1)
    vol_of = smile_of(params, 86000, 0.25)
    for delta in (0.1, 0.2, 0.4, 0.5, 0.6, 0.8, 0.9):
        strike = strike_for_call_delta(86000, 0.25, vol_of, delta)
        assert call_delta(86000, strike, 0.25, vol_of) == pytest.approx(delta, abs=1e-9)


def test_a_wing_too_steep_for_the_fixed_point_falls_back_to_bisection(monkeypatch: pytest.MonkeyPatch) -> None:
    from actors.instruments import strikes
    used = []
    bisect = strikes._bisect
    monkeypatch.setattr(strikes, "_bisect", lambda *args: used.append(args[-1]) or bisect(*args))
    vol_of = smile_of(SviParams(a=0.0, b=0.8, rho=0.5, m=0.0, sigma=0.01), 100.0, 1.0)  # right wing slope 1.2
    for delta in (0.2, 0.4):
        strike = strike_for_call_delta(100.0, 1.0, vol_of, delta)
        assert call_delta(100.0, strike, 1.0, vol_of) == pytest.approx(delta, abs=1e-9)
    assert used == [0.2, 0.4]


def test_a_smile_where_no_strike_has_the_delta_raises() -> None:
    def steep(strike: float) -> float:  # total variance grows like k^2: against Lee, delta never falls to 0.2
        return 0.5 + 40.0 * abs(math.log(strike / 100.0))
    with pytest.raises(ValueError, match="no strike has call delta"):
        strike_for_call_delta(100.0, 0.5, steep, 0.2)


@pytest.mark.parametrize("forward, t, vol", [(0, 0.1, 0.5), (-5, 0.1, 0.5), (100, 0, 0.5), (100, float("nan"), 0.5),
                                             (100, 0.1, 0.0), (100, 0.1, float("nan"))])
def test_nonsense_inputs_raise(forward: float, t: float, vol: float) -> None:
    with pytest.raises(ValueError):
        generate_strikes(forward, t, lambda k: vol, Intervals(1, 2, 4))
