"""Median baseline at the window edges, the UP/DOWN rule, minimum deltas and the cooldown."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.alerts import Alert, AlertRules, baseline, evaluate, in_cooldown
from actors.oi.ring import OIRing

NOW = 1_717_000_000_000
MIN = 60_000


def ring_of(ages_min_and_oi: list[tuple[float, float]]) -> OIRing:
    ring = OIRing(100)
    for age_min, oi in sorted(ages_min_and_oi, key=lambda p: -p[0]):
        ring.append(NOW - round(age_min * MIN), oi)
    return ring


def test_baseline_window_edges_are_inclusive() -> None:
    ring = ring_of([(61, 1.0), (60, 10.0), (45, 20.0), (30, 30.0), (29.99, 1_000.0), (0, 5_000.0)])
    assert baseline(ring, NOW) == 20.0  # 10, 20, 30: the samples aged exactly 60 and 30 count
    ring2 = ring_of([(60.001, 1.0), (29.999, 2.0)])
    assert baseline(ring2, NOW) is None  # just outside on both sides: no baseline


def test_median_with_even_count_is_the_mean_of_the_middle_two() -> None:
    ring = ring_of([(55, 100.0), (50, 300.0), (40, 200.0), (35, 10_000.0)])
    assert baseline(ring, NOW) == 250.0


def test_baseline_from_arrays_and_custom_window() -> None:
    ts_ms = np.array([NOW - 10 * MIN, NOW - 5 * MIN, NOW - 1 * MIN])
    oi = np.array([1.0, 2.0, 3.0])
    assert baseline((ts_ms, oi), NOW, low_min=5, high_min=10) == 1.5
    assert baseline((ts_ms, oi), NOW) is None
    with pytest.raises(ValueError, match="one length"):
        baseline((ts_ms, oi[:2]), NOW)
    with pytest.raises(ValueError, match="low_min < high_min"):
        baseline((ts_ms, oi), NOW, low_min=60, high_min=30)


def test_one_outlier_does_not_move_the_median() -> None:
    ring = ring_of([(50, 100.0), (45, 100.0), (40, 1e9)])
    assert baseline(ring, NOW) == 100.0


RULES = AlertRules()


@pytest.mark.parametrize("current, direction", [
    (105.0, "UP"), (120.0, "UP"), (104.99, None), (100.0, None), (95.01, None), (95.0, "DOWN"), (0.0, "DOWN"),
])
def test_threshold_both_ways(current: float, direction: str | None) -> None:
    alert = evaluate("BTCUSDT", current, NOW, 100.0, RULES, {})
    assert (alert.direction if alert else None) == direction


def test_alert_fields() -> None:
    alert = evaluate("BTCUSDT", 110.0, NOW, 100.0, RULES, {}, mark_price=65_000.0)
    assert alert == Alert("BTCUSDT", "UP", 110.0, 100.0, pytest.approx(10.0), pytest.approx(10.0), NOW, 30, 60,
                          mark_price=65_000.0, oi_usd=110.0 * 65_000.0)
    assert alert is not None and alert.cooldown_key == ("BTCUSDT", "UP")
    down = evaluate("BTCUSDT", 90.0, NOW, 100.0, RULES, {}, oi_usd=1.0)
    assert down is not None and down.abs_change == -10.0 and down.oi_usd == 1.0 and down.mark_price is None


@pytest.mark.parametrize("baseline_oi", [None, 0.0, -5.0, math.nan, math.inf])
def test_no_usable_baseline_no_alert(baseline_oi: float | None) -> None:
    assert evaluate("BTCUSDT", 1e9, NOW, baseline_oi, RULES, {}) is None


def test_bad_current_raises() -> None:
    with pytest.raises(ValueError):
        evaluate("BTCUSDT", math.nan, NOW, 100.0, RULES, {})
    with pytest.raises(ValueError):
        evaluate("BTCUSDT", 110.0, float(NOW), 100.0, RULES, {})  # type: ignore[arg-type]


def test_minimum_absolute_delta() -> None:
    rules = AlertRules(min_abs_delta=20.0)
    assert evaluate("X", 110.0, NOW, 100.0, rules, {}) is None  # 10 % but only 10 contracts
    assert evaluate("X", 120.0, NOW, 100.0, rules, {}) is not None
    assert evaluate("X", 85.0, NOW, 100.0, rules, {}) is None
    assert evaluate("X", 80.0, NOW, 100.0, rules, {}) is not None


def test_minimum_delta_precedence() -> None:
    rules = AlertRules(min_abs_delta=5.0, min_abs_fraction_of_typical=0.1, min_abs_delta_by_symbol={"BTCUSDT": 1.0})
    assert rules.min_abs_for("BTCUSDT", 1_000.0) == 1.0  # the per-symbol override wins
    assert rules.min_abs_for("ETHUSDT", 1_000.0) == 100.0  # 10 % of typical beats 5
    assert rules.min_abs_for("ETHUSDT", 20.0) == 5.0  # 2 is below the global floor
    assert rules.min_abs_for("ETHUSDT") == 5.0  # typical unknown
    assert AlertRules().min_abs_for("ETHUSDT", 1e9) == 0.0  # no fraction configured
    # evaluate uses the baseline as the typical OI unless told otherwise
    frac = AlertRules(pct_threshold=5.0, min_abs_fraction_of_typical=0.08)
    assert evaluate("ETHUSDT", 107.0, NOW, 100.0, frac, {}) is None
    assert evaluate("ETHUSDT", 107.0, NOW, 100.0, frac, {}, typical_oi=50.0) is not None


def test_cooldown_is_per_direction() -> None:
    last: dict[tuple[str, str], int] = {}
    up = evaluate("BTCUSDT", 110.0, NOW, 100.0, RULES, last)
    assert up is not None
    last[up.cooldown_key] = up.ts_ms
    assert evaluate("BTCUSDT", 120.0, NOW + 60_000, 100.0, RULES, last) is None  # UP rests 15 min
    down = evaluate("BTCUSDT", 90.0, NOW + 60_000, 100.0, RULES, last)  # DOWN is independent
    assert down is not None and down.direction == "DOWN"
    assert evaluate("ETHUSDT", 110.0, NOW + 60_000, 100.0, RULES, last) is not None  # other symbols too
    assert evaluate("BTCUSDT", 110.0, NOW + 900_000 - 1, 100.0, RULES, last) is None
    assert evaluate("BTCUSDT", 110.0, NOW + 900_000, 100.0, RULES, last) is not None  # exactly the cooldown


def test_cooldown_with_a_future_stamp_is_bounded() -> None:
    last = {("BTCUSDT", "UP"): NOW + 60_000}  # clock stepped back a minute
    assert in_cooldown(last, "BTCUSDT", "UP", NOW, 900.0)
    assert not in_cooldown(last, "BTCUSDT", "UP", NOW - 3_600_000, 900.0)  # a wrong stamp cannot silence forever
    assert not in_cooldown(last, "BTCUSDT", "UP", NOW, 0.0)


@pytest.mark.parametrize("kwargs", [
    {"pct_threshold": 0}, {"pct_threshold": -5}, {"pct_threshold": math.nan}, {"min_abs_delta": -1},
    {"min_abs_fraction_of_typical": -0.1}, {"cooldown_s": -1}, {"low_min": 60, "high_min": 30},
    {"low_min": 30, "high_min": 30}, {"min_abs_delta_by_symbol": {"BTCUSDT": -1.0}},
])
def test_rules_validate(kwargs: dict) -> None:
    with pytest.raises(ValueError):
        AlertRules(**kwargs)


def test_rules_are_frozen_and_hashable() -> None:
    rules = AlertRules(min_abs_delta_by_symbol={"BTCUSDT": 1.0})
    assert hash(rules) == hash(AlertRules(min_abs_delta_by_symbol={"BTCUSDT": 1.0}))
    with pytest.raises(TypeError):
        rules.min_abs_delta_by_symbol["ETHUSDT"] = 2.0  # type: ignore[index]


@given(baseline_oi=st.floats(1e-3, 1e9), factor=st.floats(0, 3))
def test_direction_matches_the_sign_and_size_of_the_change(baseline_oi: float, factor: float) -> None:
    alert = evaluate("X", baseline_oi * factor, NOW, baseline_oi, RULES, {})
    if alert is None:
        assert abs(factor - 1) * 100 < 5 + 1e-6
    else:
        assert (alert.direction == "UP") is (factor > 1) and abs(alert.pct_change) >= 5
