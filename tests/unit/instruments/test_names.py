"""Instrument names: one spelling per strike, exactly as Deribit writes linear options."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from actors.instruments.names import (
    InstrumentName, instrument_name, maturity_of, names_for, parse_instrument_name, strike_text,
)


@pytest.mark.parametrize("market, strike, is_call, name", [
    ("BTC", 86000, True, "BTC_USDC-28MAR25-86000-C"),
    ("BTC", 86000.0, False, "BTC_USDC-28MAR25-86000-P"),
    ("ETH", 3250, True, "ETH_USDC-28MAR25-3250-C"),
    ("ARB", 0.38, True, "ARB_USDC-28MAR25-0d380-C"),
    ("ARB", 1.15, False, "ARB_USDC-28MAR25-1d150-P"),
    ("ARB", 2, True, "ARB_USDC-28MAR25-2d000-C"),
    ("ARB", 0.005, True, "ARB_USDC-28MAR25-0d005-C"),
    ("ARB", 12.345, True, "ARB_USDC-28MAR25-12d345-C"),
    ("ARB", 0.1 + 0.2, True, "ARB_USDC-28MAR25-0d300-C"),  # float noise is not a 4th decimal
])
def test_names(market: str, strike: float, is_call: bool, name: str) -> None:
    assert instrument_name(market, "28MAR25", strike, is_call) == name
    parsed = parse_instrument_name(name)
    assert parsed == InstrumentName(market, "28MAR25", parsed.strike, is_call)
    assert parsed.strike == pytest.approx(strike)


@pytest.mark.parametrize("market, strike", [
    ("BTC", 86000.5), ("ETH", 3250.25), ("ARB", 0.3805), ("ARB", 0.0004), ("BTC", 0), ("BTC", -1000),
    ("ARB", float("nan")), ("ARB", float("inf")), ("SOL", 100), ("btc", 86000),
])
def test_unrepresentable_strikes_and_unknown_markets_raise(market: str, strike: float) -> None:
    with pytest.raises(ValueError):
        instrument_name(market, "28MAR25", strike, True)


def test_bad_maturity_code_raises() -> None:
    with pytest.raises(ValueError):
        instrument_name("BTC", "05AUG25", 86000, True)


def test_names_for_gives_a_call_and_a_put_per_strike() -> None:
    assert names_for("ARB", "5AUG25", [0.38, 0.4]) == [
        "ARB_USDC-5AUG25-0d380-C", "ARB_USDC-5AUG25-0d380-P", "ARB_USDC-5AUG25-0d400-C", "ARB_USDC-5AUG25-0d400-P",
    ]


def test_maturity_of() -> None:
    assert maturity_of("BTC_USDC-5AUG25-86000-C") == "5AUG25"
    assert maturity_of("ARB_USDC-28MAR25-0d380-P") == "28MAR25"
    for bad in ("BTC-28MAR25-80000-C", "BTC_USDC-28MAR25-80000", "BTC_USDC-31FEB25-80000-C", "garbage", ""):
        with pytest.raises(ValueError):
            maturity_of(bad)


@given(units=st.integers(min_value=1, max_value=10**7))
def test_arb_strikes_round_trip_with_three_decimals(units: int) -> None:
    strike = units / 1000
    text = strike_text("ARB", strike)
    whole, frac = text.split("d")
    assert len(frac) == 3 and int(whole) * 1000 + int(frac) == units
    assert parse_instrument_name(f"ARB_USDC-5AUG25-{text}-C").strike == strike
