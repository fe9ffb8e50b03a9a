"""Expiry calendar of the simulated Dhan venue (pure).

Why it exists: the engine must take expiries only from the expiry-list API, and that
API follows exchange rules that change (NSE moved weeklies and monthlies from Thursday
to Tuesday, BSE from Tuesday to Thursday, for contracts expiring from 2025-09-01) and
shift around holidays. The simulator reproduces those rules so adapters meet the same
irregular dates they meet in production.

Rules (nominal date, then moved to the previous trading day while it is a holiday or
a weekend):

* NSE weekly: the Tuesday of each week (Thursday for expiries before 2025-09-01).
* NSE monthly: the last Tuesday of the month (last Thursday before 2025-09-01).
* BSE weekly / monthly: Thursday / last Thursday (Tuesday before 2025-09-01).
* MCX monthly (CRUDEOIL options): two trading days before the futures expiry, which is
  the 19th of the month or the trading day before it.
"""

from __future__ import annotations

import calendar
from datetime import date, timedelta
from typing import Iterable

import attrs

WEEKDAY_SWITCH_DATE = date(2025, 9, 1)  # contracts expiring from here on use the new weekday
TUESDAY, THURSDAY = 1, 3
MCX_FUTURES_DAY = 19
MCX_OPTION_LEAD_DAYS = 2

# NSE/BSE/MCX equity-derivative trading holidays (weekdays only) as published for
# 2025 and 2026. Several fall on expiry days: 2025-10-21 (Diwali, Tuesday), 2025-10-02
# and 2025-12-25 (Thursdays), 2026-03-03, 2026-03-31, 2026-04-14 (Tuesdays).
EXCHANGE_HOLIDAYS: frozenset[date] = frozenset(date.fromisoformat(d) for d in (
    "2025-02-26", "2025-03-14", "2025-03-31", "2025-04-10", "2025-04-14", "2025-04-18",
    "2025-05-01", "2025-08-15", "2025-08-27", "2025-10-02", "2025-10-21", "2025-10-22",
    "2025-11-05", "2025-12-25",
    "2026-01-26", "2026-03-03", "2026-03-26", "2026-03-31", "2026-04-03", "2026-04-14",
    "2026-05-01", "2026-05-28", "2026-06-26", "2026-09-14", "2026-10-02", "2026-10-20",
    "2026-11-10", "2026-11-24", "2026-12-25",
))


@attrs.frozen
class ExpiryRule:
    """Which expiries an underlying lists: ``exchange`` picks the weekday rules."""

    exchange: str  # "NSE" | "BSE" | "MCX"
    weeklies: int = 0  # how many weekly expiries to list
    monthlies: int = 3  # how many monthly expiries to list

    def __attrs_post_init__(self) -> None:
        if self.exchange not in ("NSE", "BSE", "MCX"):
            raise ValueError(f"unknown exchange {self.exchange!r}; known: NSE, BSE, MCX")
        if self.exchange == "MCX" and self.weeklies:
            raise ValueError("MCX lists monthly expiries only")


def is_trading_day(day: date, holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> bool:
    return day.weekday() < 5 and day not in holidays


def previous_trading_day(day: date, holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> date:
    """``day`` itself when it trades, else the closest trading day before it."""
    while not is_trading_day(day, holidays):
        day -= timedelta(days=1)
    return day


def weekly_nominal(exchange: str, monday: date) -> date:
    """Nominal weekly expiry of the week starting ``monday``."""
    tuesday = monday + timedelta(days=TUESDAY)
    if exchange == "NSE":
        return tuesday if tuesday >= WEEKDAY_SWITCH_DATE else monday + timedelta(days=THURSDAY)
    thursday = monday + timedelta(days=THURSDAY)
    return thursday if thursday >= WEEKDAY_SWITCH_DATE else tuesday


def last_weekday_of_month(year: int, month: int, weekday: int) -> date:
    last = date(year, month, calendar.monthrange(year, month)[1])
    return last - timedelta(days=(last.weekday() - weekday) % 7)


def monthly_nominal(exchange: str, year: int, month: int) -> date:
    """Nominal NSE/BSE monthly expiry: the last expiry weekday of the month under the
    rules in force for that date."""
    new_weekday = TUESDAY if exchange == "NSE" else THURSDAY
    old_weekday = THURSDAY if exchange == "NSE" else TUESDAY
    candidate = last_weekday_of_month(year, month, new_weekday)
    if candidate >= WEEKDAY_SWITCH_DATE:
        return candidate
    return last_weekday_of_month(year, month, old_weekday)


def mcx_option_expiry(year: int, month: int, holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> date:
    """Two trading days before the futures expiry (the 19th or the trading day before)."""
    day = previous_trading_day(date(year, month, MCX_FUTURES_DAY), holidays)
    for _ in range(MCX_OPTION_LEAD_DAYS):
        day = previous_trading_day(day - timedelta(days=1), holidays)
    return day


def _months_from(today: date) -> Iterable[tuple[int, int]]:
    year, month = today.year, today.month
    while True:
        yield year, month
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def weekly_expiries(today: date, exchange: str, count: int,
                    holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> list[date]:
    """The next ``count`` weekly expiries on or after ``today`` (holiday-shifted)."""
    found: list[date] = []
    monday = today - timedelta(days=today.weekday())
    while len(found) < count:
        expiry = previous_trading_day(weekly_nominal(exchange, monday), holidays)
        if expiry >= today:
            found.append(expiry)
        monday += timedelta(days=7)
    return found


def monthly_expiries(today: date, exchange: str, count: int,
                     holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> list[date]:
    """The next ``count`` monthly expiries on or after ``today`` (holiday-shifted)."""
    found: list[date] = []
    for year, month in _months_from(today):
        if len(found) >= count:
            break
        if exchange == "MCX":
            expiry = mcx_option_expiry(year, month, holidays)
        else:
            expiry = previous_trading_day(monthly_nominal(exchange, year, month), holidays)
        if expiry >= today:
            found.append(expiry)
    return found


def listed_expiries(today: date, rule: ExpiryRule,
                    holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> list[date]:
    """Every expiry the venue lists for ``rule`` on ``today``: weeklies and monthlies,
    merged and sorted, a coinciding date listed once."""
    weeklies = weekly_expiries(today, rule.exchange, rule.weeklies, holidays) if rule.weeklies else []
    monthlies = monthly_expiries(today, rule.exchange, rule.monthlies, holidays)
    return sorted(set(weeklies) | set(monthlies))


def is_monthly(expiry: date, exchange: str, holidays: frozenset[date] = EXCHANGE_HOLIDAYS) -> bool:
    """Whether ``expiry`` is its month's monthly expiry (the instrument master's EXPIRY_FLAG)."""
    if exchange == "MCX":
        return True
    return previous_trading_day(monthly_nominal(exchange, expiry.year, expiry.month), holidays) == expiry
