"""Expiry calendar of the simulated Dhan venue: weekday rules, monthlies, holiday shifts."""

from __future__ import annotations

from datetime import date

import pytest

from adapters.sim.dhan_calendar import (
    ExpiryRule, is_monthly, is_trading_day, listed_expiries, mcx_option_expiry, monthly_expiries,
    previous_trading_day, weekly_expiries,
)

NO_HOLIDAYS: frozenset[date] = frozenset()


def test_nse_weeklies_are_tuesdays_from_september_2025() -> None:
    weeklies = weekly_expiries(date(2025, 11, 1), "NSE", 6, NO_HOLIDAYS)
    assert [d.weekday() for d in weeklies] == [1] * 6
    assert weeklies[0] == date(2025, 11, 4)


def test_nse_weeklies_switch_from_thursday_to_tuesday() -> None:
    weeklies = weekly_expiries(date(2025, 8, 18), "NSE", 4, NO_HOLIDAYS)
    assert weeklies == [date(2025, 8, 21), date(2025, 8, 28), date(2025, 9, 2), date(2025, 9, 9)]


def test_bse_weeklies_are_thursdays_from_september_2025() -> None:
    weeklies = weekly_expiries(date(2025, 8, 25), "BSE", 3, NO_HOLIDAYS)
    assert weeklies == [date(2025, 8, 26), date(2025, 9, 4), date(2025, 9, 11)]


def test_nse_monthlies_are_last_tuesdays() -> None:
    monthlies = monthly_expiries(date(2025, 9, 10), "NSE", 4, NO_HOLIDAYS)
    assert monthlies == [date(2025, 9, 30), date(2025, 10, 28), date(2025, 11, 25), date(2025, 12, 30)]
    assert monthly_expiries(date(2025, 8, 1), "NSE", 1, NO_HOLIDAYS) == [date(2025, 8, 28)]  # old rule


def test_bse_monthlies_are_last_thursdays() -> None:
    assert monthly_expiries(date(2025, 10, 1), "BSE", 2, NO_HOLIDAYS) == [date(2025, 10, 30), date(2025, 11, 27)]


def test_holiday_on_expiry_moves_it_to_the_previous_trading_day() -> None:
    # 2025-10-21 (Tuesday) is Diwali: the NIFTY weekly expires on Monday 2025-10-20.
    assert weekly_expiries(date(2025, 10, 15), "NSE", 1) == [date(2025, 10, 20)]
    # 2025-12-25 (Thursday): the SENSEX weekly moves to Wednesday 2025-12-24.
    assert date(2025, 12, 24) in weekly_expiries(date(2025, 12, 20), "BSE", 2)
    # 2026-03-31 (Tuesday, Mahavir Jayanti): the NSE monthly of March is on Monday the 30th.
    assert monthly_expiries(date(2026, 3, 1), "NSE", 1) == [date(2026, 3, 30)]


def test_previous_trading_day_skips_weekends_and_holidays() -> None:
    assert previous_trading_day(date(2025, 10, 22)) == date(2025, 10, 20)  # 21st and 22nd closed
    assert previous_trading_day(date(2025, 10, 19)) == date(2025, 10, 17)  # Sunday
    assert not is_trading_day(date(2025, 10, 21)) and is_trading_day(date(2025, 10, 20))


def test_listed_expiries_merge_weeklies_and_monthlies_once() -> None:
    listed = listed_expiries(date(2025, 10, 14), ExpiryRule("NSE", weeklies=5, monthlies=3))
    assert listed == sorted(set(listed))
    assert date(2025, 10, 28) in listed  # the last Tuesday is both weekly and monthly, listed once
    assert listed[0] == date(2025, 10, 14)  # an expiry is listed on its own day
    assert date(2025, 12, 30) in listed


def test_monthly_only_underlyings_list_three_months() -> None:
    assert listed_expiries(date(2025, 10, 29), ExpiryRule("NSE", monthlies=3)) == [
        date(2025, 11, 25), date(2025, 12, 30), date(2026, 1, 27)]


def test_mcx_options_expire_two_trading_days_before_the_futures() -> None:
    # October 2025: futures on Friday the 17th (19th is a Sunday), options two trading days earlier.
    assert mcx_option_expiry(2025, 10, NO_HOLIDAYS) == date(2025, 10, 15)
    assert listed_expiries(date(2025, 10, 16), ExpiryRule("MCX", monthlies=2), NO_HOLIDAYS) == [
        date(2025, 11, 17), date(2025, 12, 17)]


def test_monthly_flag() -> None:
    assert is_monthly(date(2025, 10, 28), "NSE")
    assert not is_monthly(date(2025, 10, 20), "NSE")
    assert is_monthly(date(2026, 3, 30), "NSE")  # the holiday-shifted monthly is still the monthly


def test_rule_validation() -> None:
    with pytest.raises(ValueError, match="exchange"):
        ExpiryRule("NYSE")
    with pytest.raises(ValueError, match="monthly"):
        ExpiryRule("MCX", weeklies=2)
