"""Windows per kind, ATM rounding, interval inference with gaps, and windows the venue cannot fill."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, strategies as st

from actors.optionchain.windows import WINDOWS, atm_strike, select_window, strike_interval, window_spec


def grid(low: float, high: float, step: float) -> list[float]:
    return [low + i * step for i in range(int(round((high - low) / step)) + 1)]


@pytest.mark.parametrize("kind, below, above, total", [
    ("index_major", 50, 49, 100), ("index_minor", 25, 24, 50), ("stock", 12, 12, 25), ("mcx", 5, 4, 10),
])
def test_window_table(kind: str, below: int, above: int, total: int) -> None:
    spec = window_spec(kind)
    assert (spec.below, spec.above, spec.total) == (below, above, total)
    strikes = grid(10_000, 40_000, 50)
    window = select_window(strikes, 25_000, kind)
    assert len(window.strikes) == total and window.complete
    assert sum(s < 25_000 for s in window.strikes) == below
    assert sum(s > 25_000 for s in window.strikes) == above
    assert 25_000 in window.strikes


def test_unknown_kind_is_named() -> None:
    with pytest.raises(ValueError, match="unknown underlying kind 'bond'"):
        window_spec("bond")
    assert set(WINDOWS) == {"index_major", "index_minor", "stock", "mcx"}


@pytest.mark.parametrize("ltp, interval, atm", [
    (24964.25, 50, 24950), (24975.0, 50, 25000), (24974.99, 50, 24950), (24925.0, 50, 24950),
    (51234.0, 100, 51200), (51250.0, 100, 51300), (1234.4, 10, 1230), (101.25, 2.5, 102.5),
    (6012.0, 50, 6000), (0.3, 0.1, 0.3), (12.0, 50, 0.0),
])
def test_atm_rounding(ltp: float, interval: float, atm: float) -> None:
    assert atm_strike(ltp, interval) == pytest.approx(atm, abs=1e-9)


@pytest.mark.parametrize("ltp, interval", [(0, 50), (-1, 50), (math.nan, 50), (math.inf, 50), (100, 0), (100, -5)])
def test_atm_refuses_to_guess(ltp: float, interval: float) -> None:
    with pytest.raises(ValueError):
        atm_strike(ltp, interval)


def test_interval_from_strikes_near_the_money() -> None:
    nifty = grid(20_000, 24_000, 100) + grid(24_050, 26_000, 50) + grid(26_100, 30_000, 100)
    assert strike_interval(nifty, 25_000) == 50
    assert strike_interval(nifty, 21_000) == 100  # far from the money the venue lists wider


def test_interval_robust_to_missing_strikes() -> None:
    strikes = [s for s in grid(24_000, 26_000, 50) if s not in (24_900, 25_050, 25_150)]
    assert strike_interval(strikes, 25_000) == 50
    assert strike_interval(list(reversed(strikes)) + strikes, 25_000) == 50  # order and duplicates ignored
    assert strike_interval([100.0, 102.5], 101) == 2.5


@pytest.mark.parametrize("strikes", [[], [25_000.0], [25_000.0, 25_000.0]])
def test_interval_needs_two_strikes(strikes: list[float]) -> None:
    with pytest.raises(ValueError, match="at least 2"):
        strike_interval(strikes, 25_000)


@given(step=st.sampled_from([0.5, 1, 2.5, 5, 10, 20, 50, 100, 500]), n=st.integers(8, 60),
       missing=st.sets(st.integers(1, 59), max_size=2), pos=st.floats(0.2, 0.8))
def test_interval_property(step: float, n: int, missing: set[int], pos: float) -> None:
    strikes = [step * (100 + i) for i in range(n) if i not in missing]
    near = step * (100 + n * pos)
    assert strike_interval(strikes, near) == pytest.approx(step)


def test_venue_gap_reports_missing_counts() -> None:
    strikes = grid(24_000, 25_500, 50)  # 20 below 25,000, ATM and 10 above
    window = select_window(strikes, 25_000, "index_major")
    assert (window.missing_below, window.missing_above) == (30, 39)
    assert window.strikes == tuple(strikes) and not window.complete


def test_missing_atm_strike_is_reported_not_hidden() -> None:
    strikes = grid(180, 260, 10)
    strikes.remove(220)
    window = select_window(strikes, 220, "mcx")
    assert not window.atm_listed
    assert window.strikes == (180, 190, 200, 210, 230, 240, 250, 260)
    assert [s for s in window.strikes if s < 220] == [180, 190, 200, 210]
    assert [s for s in window.strikes if s > 220] == [230, 240, 250, 260]
    assert (window.missing_below, window.missing_above) == (1, 1)


def test_mcx_window_has_atm_among_the_five_above() -> None:
    window = select_window(grid(5_000, 7_000, 50), 6_000, "mcx")
    assert window.strikes == (5750, 5800, 5850, 5900, 5950, 6000, 6050, 6100, 6150, 6200)


def test_interior_gap_is_filled_by_the_next_listed_strike() -> None:
    strikes = [s for s in grid(20_000, 30_000, 50) if s != 24_900]
    window = select_window(strikes, 25_000, "index_major")
    assert window.complete and len(window.strikes) == 100
    assert window.strikes[0] == 25_000 - 51 * 50 and 24_900 not in window.strikes  # counted in listed strikes
