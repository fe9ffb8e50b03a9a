"""Server-side auth and limit arithmetic of the simulated Dhan venue."""

from __future__ import annotations

from datetime import date

from hypothesis import given, strategies as st

from adapters.sim.dhan_access import (
    ClientBudgets, Credentials, DailyCap, SlidingWindow, Spacing, admit, feed_auth_error, rest_auth_error,
)

DAY = date(2025, 10, 14)


def test_option_chain_pair_is_one_request_per_three_seconds() -> None:
    budgets, ok = admit(ClientBudgets(), "optionchain", 100.0, DAY)
    assert ok
    for now_s in (100.0, 101.0, 102.999):
        unchanged, ok = admit(budgets, "optionchain", now_s, DAY)
        assert not ok and unchanged == budgets  # refused requests charge nothing
    budgets, ok = admit(budgets, "optionchain", 103.0, DAY)
    assert ok
    assert not admit(budgets, "optionchain", 105.5, DAY)[1]  # measured from the last accepted


def test_quotes_are_one_per_second_and_independent_of_the_chain() -> None:
    budgets, _ = admit(ClientBudgets(), "optionchain", 10.0, DAY)
    budgets, ok = admit(budgets, "marketfeed", 10.0, DAY)
    assert ok
    assert not admit(budgets, "marketfeed", 10.5, DAY)[1]
    assert admit(budgets, "marketfeed", 11.0, DAY)[1]


def test_sliding_window() -> None:
    window = SlidingWindow(5, 1.0)
    for i in range(5):
        assert window.admits(i * 0.1)
        window = window.charged(i * 0.1)
    assert not window.admits(0.99)
    assert window.admits(1.0)  # the first request has left the window


def test_daily_cap_resets_on_a_new_day() -> None:
    cap = DailyCap(2)
    cap = cap.charged(DAY).charged(DAY)
    assert not cap.admits(DAY)
    assert cap.admits(date(2025, 10, 15))
    assert cap.charged(date(2025, 10, 15)).used == 1


@given(st.lists(st.floats(min_value=0, max_value=60, allow_nan=False), min_size=1, max_size=60))
def test_no_two_accepted_chain_requests_are_closer_than_three_seconds(times: list[float]) -> None:
    budgets, accepted = ClientBudgets(), []
    for now_s in sorted(times):
        budgets, ok = admit(budgets, "optionchain", now_s, DAY)
        if ok:
            accepted.append(now_s)
    assert all(b - a >= 3.0 for a, b in zip(accepted, accepted[1:]))


def test_spacing_first_request_is_free() -> None:
    assert Spacing(3.0).admits(0.0)


def test_rest_auth_codes() -> None:
    creds = Credentials("tok", "1000000001")
    assert rest_auth_error(creds, "tok", "1000000001") is None
    assert rest_auth_error(creds, None, "1000000001") == 808
    assert rest_auth_error(creds, "other", "1000000001") == 809
    assert rest_auth_error(creds, "tok", "42") == 810
    creds.token_expired = True
    assert rest_auth_error(creds, "tok", "1000000001") == 807


def test_feed_auth_reasons() -> None:
    creds = Credentials("tok", "1000000001")
    assert feed_auth_error(creds, "tok", "1000000001", "2", "2") is None
    assert feed_auth_error(creds, "bad", "1000000001", "2", "2") == 809
    assert feed_auth_error(creds, "tok", "1000000001", "1", "2") == 809
    assert feed_auth_error(creds, "tok", "42", "2", "2") == 808
    creds.token_expired = True
    assert feed_auth_error(creds, "tok", "1000000001", "2", "2") == 807
