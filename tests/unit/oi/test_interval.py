"""Poll interval (the seed's rule and examples), even spreading, and the weight budget arithmetic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.interval import (
    max_requests_for_budget,
    poll_interval_s,
    requests_per_min,
    spread_offsets_s,
)


@pytest.mark.parametrize("n, interval_s", [
    (0, 5.0), (1, 5.0), (100, 5.0), (166, 5.0), (200, 6.0), (300, 9.0), (400, 12.0),
    (250, 8.0), (350, 11.0),  # ties round up (Python's round would give 8 and 10)
    (310, 9.0), (666, 20.0), (667, 20.0), (5000, 20.0),
])
def test_seed_rule(n: int, interval_s: float) -> None:
    assert poll_interval_s(n) == interval_s


def test_custom_bounds_and_rate() -> None:
    assert poll_interval_s(100, max_requests_per_min=1000) == 6.0
    assert poll_interval_s(10, min_s=1.0, max_s=2.0) == 1.0
    assert poll_interval_s(0, min_s=2.5) == 2.5


@pytest.mark.parametrize("kwargs", [
    {"n_symbols": -1}, {"n_symbols": 1.5}, {"n_symbols": True}, {"n_symbols": 1, "max_requests_per_min": 0},
    {"n_symbols": 1, "min_s": 0}, {"n_symbols": 1, "min_s": 30.0}, {"n_symbols": 1, "max_s": math.inf},
])
def test_interval_refuses_bad_input(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        poll_interval_s(**kwargs)


@given(n=st.integers(0, 5000))
def test_interval_within_bounds_and_monotone(n: int) -> None:
    interval_s = poll_interval_s(n)
    assert 5.0 <= interval_s <= 20.0 and interval_s == int(interval_s)
    assert poll_interval_s(n + 1) >= interval_s
    if 0 < n <= 666:  # below the cap the rule overshoots the rate by at most half a second's worth
        assert requests_per_min(n, interval_s) <= 2000 * (1 + 0.5 / interval_s) + 1e-9


def test_requests_per_min() -> None:
    assert requests_per_min(300, 9.0) == 2000.0
    assert requests_per_min(0, 5.0) == 0.0
    with pytest.raises(ValueError):
        requests_per_min(10, 0)


def test_spread_is_even_sorted_and_deduplicated() -> None:
    plan = spread_offsets_s(["ETHUSDT", "BTCUSDT", "SOLUSDT", "ADAUSDT", "BTCUSDT"], 8.0)
    assert plan == [("ADAUSDT", 0.0), ("BTCUSDT", 2.0), ("ETHUSDT", 4.0), ("SOLUSDT", 6.0)]
    assert spread_offsets_s([], 5.0) == []
    with pytest.raises(ValueError):
        spread_offsets_s(["BTCUSDT"], 0)


@given(symbols=st.sets(st.text("ABCXYZ", min_size=2, max_size=5), max_size=200),
       interval_s=st.floats(1.0, 60.0))
def test_spread_never_bursts(symbols: set[str], interval_s: float) -> None:
    plan = spread_offsets_s(symbols, interval_s)
    assert [s for s, _ in plan] == sorted(symbols)
    offsets = [o for _, o in plan]
    assert all(0.0 <= o < interval_s for o in offsets)
    gaps = [b - a for a, b in zip(offsets, offsets[1:])]
    assert all(math.isclose(g, interval_s / len(symbols)) for g in gaps)


@pytest.mark.parametrize("kwargs, requests", [
    ({}, 2160),  # 2400 x 0.9
    ({"reserved_weight_per_min": 10}, 2150),
    ({"reserved_weight_per_min": 10, "weight_per_request": 2}, 1075),
    ({"weight_per_min": 1200, "safety_fraction": 1.0}, 1200),
    ({"reserved_weight_per_min": 2159}, 1),
])
def test_budget_arithmetic(kwargs: dict, requests: int) -> None:
    assert max_requests_for_budget(**kwargs) == requests


@pytest.mark.parametrize("kwargs", [
    {"reserved_weight_per_min": 2160}, {"safety_fraction": 0}, {"safety_fraction": 1.1}, {"weight_per_min": 0},
    {"weight_per_request": 0}, {"reserved_weight_per_min": -1},
])
def test_budget_refuses_impossible(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        max_requests_for_budget(**kwargs)


def test_budget_feeds_the_interval_rule() -> None:
    budget = max_requests_for_budget(reserved_weight_per_min=10, weight_per_request=2)  # 1075
    interval_s = poll_interval_s(300, max_requests_per_min=budget)
    assert interval_s == 17.0 and requests_per_min(300, interval_s) * 2 <= 2400 * 0.9 - 10
