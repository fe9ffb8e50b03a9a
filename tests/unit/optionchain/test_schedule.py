"""The shared 3 s REST queue: refresh feasibility, start-up time, order, rollover, market hours."""

from __future__ import annotations

import datetime as dt

import pytest

from actors.optionchain.schedule import (
    check_target_interval_s, is_market_open, plan_refresh, refresh_order, rollover, start_up_time_s,
)


def test_forty_chains_cannot_refresh_every_minute() -> None:
    plan = plan_refresh(40, 60)
    assert (plan.effective_interval_s, plan.requests_per_minute, plan.feasible) == (120.0, 20.0, False)
    assert "INFEASIBLE" in plan.summary() and "120 s" in plan.summary()


def test_feasible_plans_keep_the_target() -> None:
    assert plan_refresh(10, 30) == plan_refresh(10, 30.0)
    plan = plan_refresh(10, 30)
    assert (plan.effective_interval_s, plan.requests_per_minute, plan.feasible) == (30.0, 20.0, True)
    assert plan_refresh(20, 60).feasible and not plan_refresh(21, 60).feasible
    assert plan_refresh(0, 45).feasible


def test_reserved_slots_stretch_the_interval() -> None:
    plan = plan_refresh(20, 60, reserved_per_minute=4)
    assert not plan.feasible and plan.effective_interval_s == 75.0 and plan.requests_per_minute == 16
    with pytest.raises(ValueError, match="leaves no room"):
        plan_refresh(1, 60, reserved_per_minute=20)


def test_target_range() -> None:
    assert check_target_interval_s(30) == 30.0 and check_target_interval_s(60) == 60.0
    for bad in (29.9, 61, "45"):
        with pytest.raises(ValueError, match="30-60 s"):
            check_target_interval_s(bad)


def test_start_up_time() -> None:
    assert start_up_time_s(3, 2) == (3 + 6) * 3.0
    assert start_up_time_s(8, 3) == 96.0
    assert start_up_time_s(2, [1, 4]) == 21.0
    assert start_up_time_s(0, 5) == 0.0
    with pytest.raises(ValueError):
        start_up_time_s(2, [1])


def test_refresh_order_oldest_first() -> None:
    keys = [("NIFTY", "a"), ("NIFTY", "b"), ("BANKNIFTY", "a"), ("SENSEX", "a")]
    last = {keys[0]: 1_000, keys[1]: 500, keys[2]: 1_000, keys[3]: 99_999}  # keys[3] stamped in the future
    assert refresh_order(keys + [("NEW", "x")], 10_000, last) == [("NEW", "x"), keys[1], keys[0], keys[2], keys[3]]


def test_rollover() -> None:
    registry = ["2026-04-28", "2026-04-21", "2026-05-05", "2026-05-26"]
    today = dt.date(2026, 4, 22)
    assert rollover(registry, today, tracked=["2026-04-21", "2026-04-28"], nearest=2) == (
        ("2026-04-21",), ("2026-05-05",))
    assert rollover(registry, dt.date(2026, 4, 28), tracked=["2026-04-28"], nearest=1) == (
        ("2026-04-21",), ())  # on its own day an expiry stays; a past listed one is reported for purging
    assert rollover(registry, today) == (("2026-04-21",), ("2026-04-28", "2026-05-05", "2026-05-26"))
    with pytest.raises(ValueError, match="YYYY-MM-DD"):
        rollover(["28APR26"], today)


def ist_ms(*parts: int) -> int:
    tz = dt.timezone(dt.timedelta(hours=5, minutes=30))
    return int(dt.datetime(*parts, tzinfo=tz).timestamp() * 1000)


@pytest.mark.parametrize("when, segment, is_open", [
    ((2026, 4, 22, 9, 14, 59), "NSE_FNO", False), ((2026, 4, 22, 9, 15), "NSE_FNO", True),
    ((2026, 4, 22, 15, 29, 59), "IDX_I", True), ((2026, 4, 22, 15, 30), "BSE_FNO", False),
    ((2026, 4, 25, 11, 0), "NSE", False),  # Saturday
    ((2026, 4, 22, 9, 0), "MCX_COMM", True), ((2026, 4, 22, 8, 59), "MCX", False),
    ((2026, 4, 22, 23, 29), "MCX_COMM", True), ((2026, 4, 22, 23, 30), "MCX_COMM", False),
])
def test_market_hours(when, segment: str, is_open: bool) -> None:
    assert is_market_open(ist_ms(*when), segment) is is_open


def test_holidays_close_the_market() -> None:
    assert not is_market_open(ist_ms(2026, 4, 22, 11, 0), "NSE_FNO", {dt.date(2026, 4, 22)})
    with pytest.raises(ValueError, match="unknown segment"):
        is_market_open(0, "CME")


def test_regeneration_reasons_in_their_order_and_never_otherwise() -> None:
    from actors.optionchain.schedule import regeneration_reason

    base = dict(new_day=False, rolled_over=False, stopped=False, market_open=True, was_open=True,
                failed_for_s=None, retry_after_s=60.0)
    assert regeneration_reason(**base) is None  # an open market moving its ATM: nothing
    assert regeneration_reason(**{**base, "new_day": True, "rolled_over": True}) == "expiry rollover"
    assert regeneration_reason(**{**base, "new_day": True, "stopped": True, "was_open": False}) == "expiry rollover"
    assert regeneration_reason(**{**base, "rolled_over": True}) is None  # only on a new day
    assert regeneration_reason(**{**base, "was_open": False}) == "market open"
    assert regeneration_reason(**{**base, "was_open": None}) is None  # first look at the market: no transition
    assert regeneration_reason(**{**base, "failed_for_s": 59.0}) is None
    assert regeneration_reason(**{**base, "failed_for_s": 60.0}) == "retry after a venue failure"
