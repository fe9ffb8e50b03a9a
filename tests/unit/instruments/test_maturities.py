"""The listing calendar: kinds, counts, the 08:00 UTC boundary, the 24 h extra expiry."""

from __future__ import annotations

import datetime as dt

import pytest
from hypothesis import given, settings, strategies as st

from actors.instruments.maturities import (
    DAY_MS, Maturity, MaturityPolicy, default_policy, expiry_ms_of, is_expired, is_kind, listed_of_kind,
    live_maturities, maturity_code, parse_maturity_code,
)

BTC = default_policy("BTC")


def ms(*parts: int) -> int:
    return int(dt.datetime(*parts, tzinfo=dt.timezone.utc).timestamp()) * 1000


def codes(now_ms: int, policy: MaturityPolicy = BTC) -> list[str]:
    return [m.code for m in live_maturities(now_ms, policy)]


def kinds(now_ms: int, policy: MaturityPolicy = BTC) -> dict[str, str]:
    return {m.code: m.kind for m in live_maturities(now_ms, policy)}


def test_a_tuesday_in_august_lists_each_date_once_under_its_longest_kind() -> None:
    assert kinds(ms(2025, 8, 5, 9)) == {
        "6AUG25": "daily", "7AUG25": "daily", "8AUG25": "weekly", "15AUG25": "weekly", "22AUG25": "weekly",
        "29AUG25": "monthly", "26SEP25": "quarterly", "31OCT25": "monthly", "26DEC25": "quarterly",
        "27MAR26": "quarterly", "26JUN26": "quarterly",
    }


def test_listing_is_sorted_by_expiry_and_every_expiry_is_at_0800_utc() -> None:
    live = live_maturities(ms(2025, 8, 5, 9), BTC)
    assert [m.expiry_ms for m in live] == sorted(m.expiry_ms for m in live)
    for m in live:
        assert m.expiry_ms == expiry_ms_of(parse_maturity_code(m.code))
        assert dt.datetime.fromtimestamp(m.expiry_ms / 1000, dt.timezone.utc).time() == dt.time(8, 0)


def test_the_listing_changes_exactly_at_0800() -> None:
    before, at = ms(2025, 8, 14, 8) - 1, ms(2025, 8, 14, 8)
    assert "14AUG25" in codes(before) and "14AUG25" not in codes(at)
    assert "17AUG25" not in codes(before) and "17AUG25" in codes(at)  # a new daily
    assert "5SEP25" not in codes(before) and "5SEP25" in codes(at)  # the replacement weekly


def test_the_replacement_weekly_gives_four_weeklies_for_exactly_24_hours() -> None:
    thursday_8, friday_8 = ms(2025, 8, 14, 8), ms(2025, 8, 15, 8)
    assert listed_of_kind("weekly", 3, thursday_8 - 1) == [ms(2025, 8, 15, 8), ms(2025, 8, 22, 8), ms(2025, 8, 29, 8)]
    assert len(listed_of_kind("weekly", 3, thursday_8)) == 4
    assert len(listed_of_kind("weekly", 3, friday_8 - 1)) == 4
    assert listed_of_kind("weekly", 3, friday_8) == [ms(2025, 8, 22, 8), ms(2025, 8, 29, 8), ms(2025, 9, 5, 8)]
    assert "15AUG25" in codes(friday_8 - 1) and "15AUG25" not in codes(friday_8)


def test_dailies_are_always_the_next_n_days() -> None:
    for now in (ms(2025, 8, 14, 8) - 1, ms(2025, 8, 14, 8), ms(2025, 8, 14, 20)):
        assert len(listed_of_kind("daily", 3, now)) == 3


def test_quarter_end_the_next_quarterly_appears_the_day_before() -> None:
    thursday_8, friday_8 = ms(2025, 9, 25, 8), ms(2025, 9, 26, 8)
    assert "25SEP26" not in codes(thursday_8 - 1)
    at = kinds(thursday_8)
    assert at["25SEP26"] == "quarterly" and at["26SEP25"] == "quarterly"
    assert "28NOV25" in at  # the monthly replacement too (26DEC25 is already a quarterly)
    after = codes(friday_8)
    assert "26SEP25" not in after and "25SEP26" in after and "28NOV25" in after


def test_month_end_adds_the_monthly_three_months_out() -> None:
    assert "28NOV25" not in codes(ms(2025, 8, 28, 8) - 1)
    assert kinds(ms(2025, 8, 28, 8))["28NOV25"] == "monthly"


def test_year_end_dailies_and_codes_roll_into_the_new_year() -> None:
    found = kinds(ms(2025, 12, 30, 9))
    assert list(found)[:3] == ["31DEC25", "1JAN26", "2JAN26"]
    assert found["2JAN26"] == "weekly" and found["30JAN26"] == "monthly" and found["25DEC26"] == "quarterly"


def test_leap_day_is_a_daily_and_can_be_a_monthly() -> None:
    assert codes(ms(2028, 2, 28, 9))[:3] == ["29FEB28", "1MAR28", "2MAR28"]
    assert kinds(ms(2036, 2, 20, 9))["29FEB36"] == "monthly"  # 29 Feb 2036 is the month's last Friday
    assert parse_maturity_code("29FEB28") == dt.date(2028, 2, 29)
    with pytest.raises(ValueError):
        parse_maturity_code("29FEB27")


def test_arb_default_policy_is_smaller() -> None:
    arb = default_policy("ARB")
    assert (arb.dailies, arb.weeklies, arb.monthlies, arb.quarterlies) == (2, 2, 2, 1)
    assert codes(ms(2025, 8, 5, 9), arb) == ["6AUG25", "7AUG25", "8AUG25", "15AUG25", "29AUG25", "26SEP25"]


def test_zero_counts_and_overrides() -> None:
    only_quarters = MaturityPolicy(0, 0, 0, 2)
    assert kinds(ms(2025, 8, 5, 9), only_quarters) == {"26SEP25": "quarterly", "26DEC25": "quarterly"}
    assert BTC.with_counts(dailies=1).dailies == 1
    with pytest.raises(ValueError):
        MaturityPolicy(dailies=-1)
    with pytest.raises(ValueError):
        MaturityPolicy(expiry_hour_utc=24)


@pytest.mark.parametrize("day, code", [
    (dt.date(2025, 8, 5), "5AUG25"), (dt.date(2025, 3, 28), "28MAR25"), (dt.date(2030, 12, 31), "31DEC30"),
    (dt.date(2028, 2, 29), "29FEB28"), (dt.date(2026, 1, 1), "1JAN26"),
])
def test_maturity_codes(day: dt.date, code: str) -> None:
    assert maturity_code(day) == code
    assert parse_maturity_code(code) == day


@pytest.mark.parametrize("bad", ["05AUG25", "5aug25", "5AUG2025", "31APR25", "0JAN25", "32JAN25", "5AUG", "", "5 AUG25",
                                 "5XYZ25"])
def test_bad_codes_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        parse_maturity_code(bad)


def test_is_expired_flips_at_0800() -> None:
    assert not is_expired("15AUG25", ms(2025, 8, 15, 8) - 1)
    assert is_expired("15AUG25", ms(2025, 8, 15, 8))
    with pytest.raises(ValueError):
        is_expired("15AUG2025", 0)


NOW = st.integers(min_value=ms(2020, 1, 1), max_value=ms(2040, 1, 1))


@settings(max_examples=200, deadline=None)
@given(now=NOW, policy=st.sampled_from([BTC, default_policy("ARB"), MaturityPolicy(1, 4, 2, 3)]))
def test_listing_invariants(now: int, policy: MaturityPolicy) -> None:
    live = live_maturities(now, policy)
    stamps = [m.expiry_ms for m in live]
    assert stamps == sorted(set(stamps)) and all(ts > now for ts in stamps)
    for m in live:
        day = parse_maturity_code(m.code)
        assert is_kind(m.kind, day) and not is_expired(m.code, now)
        longer = ["daily", "weekly", "monthly", "quarterly"]
        assert not any(is_kind(k, day) and policy.count(k) > 0 for k in longer[longer.index(m.kind) + 1:])
    for kind in ("weekly", "monthly", "quarterly"):
        n = policy.count(kind)
        listed = listed_of_kind(kind, n, now)
        assert len(listed) in (n, n + 1)
        assert (len(listed) == n + 1) == (n > 0 and now >= listed[0] - DAY_MS)


@settings(max_examples=200, deadline=None)
@given(now=NOW, later_ms=st.integers(min_value=1, max_value=40 * DAY_MS))
def test_once_listed_a_maturity_stays_until_it_expires(now: int, later_ms: int) -> None:
    later = now + later_ms
    still_alive = {m for m in live_maturities(now, BTC) if m.expiry_ms > later}
    assert still_alive <= set(live_maturities(later, BTC))


def test_maturity_is_a_value() -> None:
    assert Maturity("5AUG25", 1, "daily") == Maturity("5AUG25", 1, "daily")
