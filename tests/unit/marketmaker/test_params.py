"""Pair parameters: the example parses, every bad key is named, unknown keys are refused."""

from __future__ import annotations

import copy
from decimal import Decimal
from typing import Any

import pytest
from hypothesis import given, settings, strategies as st

from actors.marketmaker.params import PairParams, PairParamsError, example_pair_json, parse_pair_params


def with_change(path: str, value: Any) -> dict[str, Any]:
    """The example with ``path`` (dotted) set to ``value``, or removed when value is ``DELETE``."""
    doc = example_pair_json()
    *parents, last = path.split(".")
    target = doc
    for key in parents:
        target = target[key]
    if value is DELETE:
        del target[last]
    else:
        target[last] = value
    return doc


DELETE = object()


def test_example_parses_to_exact_decimals() -> None:
    params = parse_pair_params(example_pair_json())
    assert isinstance(params, PairParams)
    assert (params.symbol, params.venue, params.enabled, params.book_source) == ("BTCUSDT", "paper", True, "stream")
    assert params.near.first_spread_rate == Decimal("0.0005") and params.near.step_rate == Decimal("0.0003")
    assert params.near.size == Decimal("0.002") and params.near.size_growth == Decimal("1.5")
    assert params.far.range_pct == (Decimal("1.0"), Decimal("5.0")) and params.far.size == Decimal("0.01")
    assert params.max_position == Decimal("0.05")
    assert (params.order_rate.per_10s, params.order_rate.per_min) == (300, 1200)
    assert params.near.deepest_spread_rate == Decimal("0.0017")


def test_example_is_a_fresh_dict() -> None:
    first = example_pair_json()
    first["near"]["levels"] = 0
    assert example_pair_json()["near"]["levels"] == 5


def test_the_documented_message() -> None:
    with pytest.raises(PairParamsError) as info:
        parse_pair_params(with_change("near.levels", 0))
    assert str(info.value) == "near.levels: must be an integer between 1 and 50, got 0"
    assert isinstance(info.value, ValueError)


def test_defaults_for_optional_keys() -> None:
    doc = {"symbol": "ETHUSDT", "venue": "binance", "max_position": 2,
           "near": {"levels": 3, "first_spread_rate": 0.001, "step_rate": 0.0005, "size": "0.01"},
           "far": {"levels": 0, "range_pct": [2, 4], "size": 0.1}}
    params = parse_pair_params(doc)
    assert params.enabled and params.book_source == "stream" and params.force_refresh_num == 10
    assert params.near.size_growth == 1 and params.near.size == Decimal("0.01")
    assert params.order_rate.per_10s == 300 and params.order_rate.per_min == 1200
    assert params.far.levels == 0


def test_bps_and_rate_are_the_same_spread() -> None:
    by_rate = with_change("near", {"levels": 2, "first_spread_rate": 0.0005, "step_rate": 0.0003, "size": 0.002})
    by_bps = with_change("near", {"levels": 2, "first_spread_bps": 5, "step_bps": 3, "size": 0.002})
    assert parse_pair_params(by_rate).near == parse_pair_params(by_bps).near


@pytest.mark.parametrize("doc, message", [
    (with_change("colour", "red"), "colour: unknown key"),
    (with_change("near.colour", 1), "near.colour: unknown key"),
    (with_change("order_rate.per_hour", 1), "order_rate.per_hour: unknown key"),
    (with_change("symbol", DELETE), "symbol: missing"),
    (with_change("near", DELETE), "near: missing"),
    (with_change("far.size", DELETE), "far.size: missing"),
    (with_change("max_position", DELETE), "max_position: missing"),
    (with_change("symbol", "btcusdt"), "symbol: must be a venue symbol"),
    (with_change("symbol", 7), "symbol: must be a venue symbol"),
    (with_change("venue", "kraken"), "venue: must be one of 'paper', 'binance', got 'kraken'"),
    (with_change("book_source", "file"), "book_source: must be one of 'stream', 'redis'"),
    (with_change("enabled", "yes"), "enabled: must be true or false"),
    (with_change("near_interval_s", 0), "near_interval_s: must be a number >= 0.1"),
    (with_change("far_interval_s", "30"), "far_interval_s: must be a number"),
    (with_change("force_refresh_num", 0), "force_refresh_num: must be an integer between 1 and"),
    (with_change("force_refresh_num", 2.5), "force_refresh_num: must be an integer"),
    (with_change("near_diff_rate_per_round", 1), "near_diff_rate_per_round: must be below 1"),
    (with_change("near_diff_rate_per_round", True), "near_diff_rate_per_round: must be a number"),
    (with_change("near.levels", 51), "near.levels: must be an integer between 1 and 50, got 51"),
    (with_change("near.levels", True), "near.levels: must be an integer"),
    (with_change("near.first_spread_bps", 0), "near.first_spread_bps: must be a number > 0"),
    (with_change("near.first_spread_rate", 0.001), "near.first_spread_bps: give exactly one of"),
    (with_change("near.first_spread_bps", DELETE), "near.first_spread_bps: give exactly one of"),
    (with_change("near.step_bps", 0), "near.step_bps: must be > 0 when near.levels > 1"),
    (with_change("near.step_bps", -1), "near.step_bps: must be a number >= 0"),
    (with_change("near.step_bps", 3000), "near: the deepest level's spread"),
    (with_change("near.size", 0), "near.size: must be a number > 0, got 0"),
    (with_change("near.size", "abc"), "near.size: must be a number > 0, got 'abc'"),
    (with_change("near.size", "NaN"), "near.size: must be a number > 0"),
    (with_change("near.size_growth", 11), "near.size_growth: must be at most 10"),
    (with_change("near", [1, 2]), "near: must be an object"),
    (with_change("far.levels", -1), "far.levels: must be an integer between 0 and 50, got -1"),
    (with_change("far.range_pct", [5.0]), "far.range_pct: must be [low, high]"),
    (with_change("far.range_pct", [0, 5.0]), "far.range_pct[0]: must be a number > 0"),
    (with_change("far.range_pct", [5.0, 1.0]), "far.range_pct: must satisfy 0 < low < high < 100"),
    (with_change("far.range_pct", [2.0, 2.0]), "far.range_pct: must satisfy 0 < low < high < 100"),
    (with_change("far.range_pct", [1.0, 100]), "far.range_pct: must satisfy"),
    (with_change("max_position", -1), "max_position: must be a number > 0"),
    (with_change("stale_book_ms", 10), "stale_book_ms: must be an integer between 100 and"),
    (with_change("order_rate.per_10s", 4), "order_rate.per_10s: must be an integer between 5 and"),
    (with_change("order_rate.per_10s", 5), "order_rate.per_10s: x safety_fraction must leave room for one batch"),
    (with_change("order_rate.per_min", 0), "order_rate.per_min: must be an integer between 1 and"),
    (with_change("order_rate.safety_fraction", 0), "order_rate.safety_fraction: must be a number > 0"),
    (with_change("order_rate", 300), "order_rate: must be an object"),
    ([1, 2], "-: must be an object"),
])
def test_bad_values_name_the_key(doc: Any, message: str) -> None:
    with pytest.raises(PairParamsError) as info:
        parse_pair_params(doc)
    assert str(info.value).startswith(message), str(info.value)


@pytest.mark.parametrize("path, value", [
    ("near_diff_rate_per_round", 0), ("near_diff_rate_per_round", -0.5),  # <= 0: always force
    ("far.levels", 0), ("far.levels", 1), ("near.levels", 1), ("symbol", "BTCUSDT_250328"),
    ("near.size", "0.001"), ("max_position", 3), ("order_rate", {}), ("book_source", "redis"),
])
def test_good_values_accepted(path: str, value: Any) -> None:
    doc = with_change(path, value)
    if path == "far.levels" and value == 1:
        doc["far"]["range_pct"] = [2.0, 2.0]  # one level may sit at a single distance
    if path == "near.levels":
        doc["near"]["step_bps"] = 0  # one level needs no step
    parse_pair_params(doc)


def _paths(doc: dict[str, Any], prefix: str = "") -> list[str]:
    out = []
    for key, value in doc.items():
        out.append(prefix + key)
        if isinstance(value, dict):
            out.extend(_paths(value, prefix + key + "."))
    return out


junk = st.one_of(st.none(), st.booleans(), st.integers(-10**6, 10**6), st.floats(allow_nan=True),
                 st.text(max_size=8), st.lists(st.integers(-5, 200), max_size=3), st.dictionaries(st.text(max_size=4),
                                                                                                    st.integers()))


@settings(max_examples=300)
@given(path=st.sampled_from(_paths(example_pair_json())), value=junk)
def test_any_value_parses_or_names_its_key(path: str, value: Any) -> None:
    doc = with_change(path, copy.deepcopy(value))
    try:
        parse_pair_params(doc)
    except PairParamsError as error:
        top = path.split(".")[0]
        assert str(error).startswith(top), (path, str(error))
