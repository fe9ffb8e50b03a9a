"""The interval table: lookups by tenor and regime, and TOML overrides that name bad cells."""

from __future__ import annotations

import pytest

from actors.instruments.strikes import (
    IntervalError, Intervals, IntervalTable, default_interval_table, time_bucket, vol_regime,
)


@pytest.mark.parametrize("days, bucket", [(0.01, "le_2d"), (2, "le_2d"), (2.01, "le_2w"), (14, "le_2w"),
                                          (15, "le_2m"), (61, "le_2m"), (61.5, "longer"), (400, "longer")])
def test_time_buckets(days: float, bucket: str) -> None:
    assert time_bucket(days) == bucket


def test_regime_threshold_is_inclusive() -> None:
    assert vol_regime(0.5, 0.5) == "high" and vol_regime(0.4999, 0.5) == "low"


def test_btc_default_has_the_spec_example_and_every_cell_is_ordered() -> None:
    btc = default_interval_table("BTC")
    assert btc.lookup(30, 0.7) == Intervals(2000, 5000, 10000)
    assert btc.lookup(30, 0.3) == Intervals(1000, 2500, 5000)
    assert btc.lookup(30, 0.7, vol_threshold=0.8) == Intervals(1000, 2500, 5000)
    for market in ("BTC", "ETH", "ARB"):
        table = default_interval_table(market)
        for bucket, regime, iv in table.cells:
            assert iv.atm <= iv.outer <= iv.wings
        for bucket in ("le_2d", "le_2w", "le_2m", "longer"):
            high, low = table.cell(bucket, "high"), table.cell(bucket, "low")
            assert (low.atm, low.outer, low.wings) <= (high.atm, high.outer, high.wings)
    assert default_interval_table("ARB").lookup(30, 1.0) == Intervals(0.01, 0.025, 0.05)
    assert default_interval_table("ETH").lookup(30, 1.0) == Intervals(100, 250, 500)
    with pytest.raises(ValueError):
        default_interval_table("SOL")


def test_partial_override_on_a_base_and_round_trip() -> None:
    base = default_interval_table("BTC")
    table = IntervalTable.from_mapping({"le_2m": {"high": [1000, 2000, 4000]}, "vol_threshold": 0.7}, base=base)
    assert table.cell("le_2m", "high") == Intervals(1000, 2000, 4000)
    assert table.cell("le_2m", "low") == base.cell("le_2m", "low")
    assert table.vol_threshold == 0.7
    assert IntervalTable.from_mapping(table.as_mapping()) == table
    assert IntervalTable.from_mapping({"le_2d": {"low": {"atm": 100, "outer": 200, "wings": 400}}}, base=base) \
        .cell("le_2d", "low") == Intervals(100, 200, 400)


@pytest.mark.parametrize("mapping, message", [
    ({"le_2m": {"high": [5000, 2000, 10000]}}, "intervals.le_2m.high: need atm <= outer <= wings"),
    ({"le_2m": {"high": [2000, 5000]}}, "intervals.le_2m.high: expected [atm, outer, wings]"),
    ({"le_2m": {"high": [0, 5000, 10000]}}, "intervals.le_2m.high: atm must be a positive number"),
    ({"le_2m": {"high": ["2000", 5000, 10000]}}, "intervals.le_2m.high: atm must be a positive number"),
    ({"le_2m": {"high": [2000, 5000, True]}}, "intervals.le_2m.high: wings must be a positive number"),
    ({"le_2m": {"hi": [2000, 5000, 10000]}}, "intervals.le_2m.hi: unknown regime"),
    ({"le_3m": {"high": [2000, 5000, 10000]}}, "intervals.le_3m: unknown bucket"),
    ({"le_2m": [2000, 5000, 10000]}, "intervals.le_2m: expected a table of high/low"),
    ({"le_2m": {"high": {"atm": 1, "outer": 2, "wing": 3}}}, "intervals.le_2m.high: unknown keys"),
    ({"vol_threshold": -1}, "intervals.vol_threshold"),
])
def test_bad_overrides_name_the_cell(mapping: dict, message: str) -> None:
    with pytest.raises(IntervalError) as caught:
        IntervalTable.from_mapping(mapping, base=default_interval_table("BTC"))
    assert message in str(caught.value)


def test_without_a_base_every_cell_is_needed() -> None:
    with pytest.raises(IntervalError, match="intervals.le_2d.high"):
        IntervalTable.from_mapping({"le_2m": {"high": [2000, 5000, 10000]}})


def test_steps_finer_than_the_strike_tick_are_refused() -> None:
    arb = default_interval_table("ARB")
    with pytest.raises(IntervalError, match="intervals.le_2d.low: atm 0.0005 is finer than the strike tick 0.001"):
        IntervalTable.from_mapping({"le_2d": {"low": [0.0005, 0.001, 0.002]}}, base=arb, decimals=3)
    with pytest.raises(IntervalError, match="finer than the strike tick 1"):
        IntervalTable.from_mapping({"le_2d": {"low": [0.5, 1, 2]}}, base=default_interval_table("BTC"), decimals=0)
