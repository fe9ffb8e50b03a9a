"""Server-side Binance limits: weights, 429 then 418, bans, order counts, per-endpoint caps."""

from __future__ import annotations

from adapters.sim.binance_limits import (
    IpState, OrderCountState, WindowCount, admit_capped, admit_orders, admit_weight, ban_duration_s, order_counts,
    request_weight, used_weight,
)


def test_weights_follow_the_endpoint_pages() -> None:
    assert request_weight("GET", "/fapi/v1/ticker/24hr", {}) == 40
    assert request_weight("GET", "/fapi/v1/ticker/24hr", {"symbol": "BTCUSDT"}) == 1
    assert request_weight("GET", "/fapi/v1/premiumIndex", {}) == 10
    assert request_weight("GET", "/fapi/v1/premiumIndex", {"symbol": "BTCUSDT"}) == 1
    assert request_weight("GET", "/fapi/v1/openInterest", {"symbol": "BTCUSDT"}) == 1
    assert request_weight("GET", "/fapi/v1/exchangeInfo", {}) == 1
    assert request_weight("GET", "/fapi/v1/openOrders", {}) == 40
    assert request_weight("POST", "/fapi/v1/batchOrders", {}) == 5
    assert request_weight("POST", "/fapi/v1/order", {}) == 0
    assert request_weight("GET", "/fapi/v1/depth", {"limit": "1000"}) == 20
    assert order_counts("POST", "/fapi/v1/batchOrders") == (5, 1)
    assert order_counts("DELETE", "/fapi/v1/order") == (0, 0)


def test_429_in_the_minute_then_418_for_an_ip_that_keeps_calling() -> None:
    state, t0 = IpState(), 1_000_040.0  # 20 s into a minute
    for _ in range(3):
        state, verdict = admit_weight(state, t0, 4, limit=12, ban_after_429s=2)
        assert verdict.kind == "ok"
    assert verdict.used_weight == 12
    state, verdict = admit_weight(state, t0 + 1, 1, limit=12, ban_after_429s=2)
    assert (verdict.kind, verdict.used_weight, verdict.retry_after_s) == ("throttled", 13, 39)
    state, verdict = admit_weight(state, t0 + 2, 1, limit=12, ban_after_429s=2)
    assert verdict.kind == "throttled"
    state, verdict = admit_weight(state, t0 + 3, 1, limit=12, ban_after_429s=2)
    assert (verdict.kind, verdict.retry_after_s) == ("banned", 120)
    # the ban outlives the minute; then a fresh minute starts clean
    state, verdict = admit_weight(state, t0 + 100, 1, limit=12, ban_after_429s=2)
    assert verdict.kind == "banned" and verdict.retry_after_s == 23
    state, verdict = admit_weight(state, t0 + 124, 1, limit=12, ban_after_429s=2)
    assert (verdict.kind, verdict.used_weight) == ("ok", 1)


def test_new_minute_resets_weight_and_header_reads_zero() -> None:
    state, _ = admit_weight(IpState(), 60.5, 30, limit=40, ban_after_429s=5)
    assert used_weight(state, 119.9) == 30 and used_weight(state, 120.0) == 0
    state, verdict = admit_weight(state, 120.0, 30, limit=40, ban_after_429s=5)
    assert (verdict.kind, verdict.used_weight) == ("ok", 30)


def test_repeat_bans_escalate_up_to_three_days() -> None:
    assert [ban_duration_s(n) for n in (1, 2, 3)] == [120.0, 240.0, 480.0]
    assert ban_duration_s(40) == 3 * 86_400.0


def test_order_counts_per_10s_and_minute() -> None:
    state, now = OrderCountState(), 1_000_000.0
    for _ in range(3):
        state, verdict = admit_orders(state, now, (1, 1), limit_10s=3, limit_1m=5)
        assert verdict.ok
    state, verdict = admit_orders(state, now + 1, (1, 1), limit_10s=3, limit_1m=5)
    assert (verdict.ok, verdict.broken, verdict.count_10s) == (False, "10s", 3)
    state, verdict = admit_orders(state, now + 10, (1, 1), limit_10s=3, limit_1m=5)
    assert (verdict.ok, verdict.count_10s, verdict.count_1m) == (True, 1, 4)
    state, verdict = admit_orders(state, now + 11, (1, 1), limit_10s=3, limit_1m=5)
    state, verdict = admit_orders(state, now + 12, (1, 1), limit_10s=3, limit_1m=5)
    assert (verdict.ok, verdict.broken) == (False, "1m")
    state, verdict = admit_orders(state, now + 60, (5, 1), limit_10s=300, limit_1m=5)
    assert (verdict.ok, verdict.count_10s, verdict.count_1m) == (True, 5, 1)


def test_per_endpoint_cap() -> None:
    state = WindowCount(300.0)
    for _ in range(3):
        state, ok = admit_capped(state, 600.0, 3)
        assert ok
    state, ok = admit_capped(state, 899.0, 3)
    assert not ok
    state, ok = admit_capped(state, 900.0, 3)
    assert ok
