"""Binance USDⓈ-M limits as the server enforces them: pure functions over frozen states.

* Request weight per IP in fixed wall-clock minutes (2400). A request that breaks the
  limit is answered 429 (its weight still counts, so ``X-MBX-USED-WEIGHT-1M`` can read
  above the limit); an IP that keeps calling after ``ban_after_429s`` 429s in the same
  minute is banned (418) for 2 minutes, doubling per repeat ban up to 3 days.
* Orders per account in fixed 10-second and 1-minute windows (300 / 1200): over either
  one the order request is answered 429 -1015 and not counted.
* ``/futures/data/openInterestHist`` has its own cap: 1000 requests per 5 minutes per IP.

Time is an argument (Unix seconds), so every rule is tested without a clock.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import attrs

WEIGHT_WINDOW_S = 60.0
BAN_FIRST_S = 120.0
BAN_MAX_S = 3 * 86_400.0


def window_start_s(now_s: float, window_s: float) -> float:
    return math.floor(now_s / window_s) * window_s


# --------------------------------------------------------------------------- weights

_FIXED_WEIGHTS: dict[tuple[str, str], int] = {
    ("GET", "/fapi/v1/ping"): 1,
    ("GET", "/fapi/v1/time"): 1,
    ("GET", "/fapi/v1/exchangeInfo"): 1,
    ("GET", "/fapi/v1/openInterest"): 1,
    ("GET", "/futures/data/openInterestHist"): 0,
    ("POST", "/fapi/v1/order"): 0,
    ("POST", "/fapi/v1/batchOrders"): 5,
    ("DELETE", "/fapi/v1/order"): 1,
    ("DELETE", "/fapi/v1/batchOrders"): 1,
    ("DELETE", "/fapi/v1/allOpenOrders"): 1,
    ("GET", "/fapi/v1/order"): 1,
}
_DEPTH_WEIGHTS = {5: 2, 10: 2, 20: 2, 50: 2, 100: 5, 500: 10, 1000: 20}


def request_weight(method: str, path: str, params: Mapping[str, str]) -> int:
    """The IP weight of one request, as Binance's endpoint pages state it."""
    has_symbol = bool(params.get("symbol"))
    if path == "/fapi/v1/ticker/24hr":
        return 1 if has_symbol else 40
    if path == "/fapi/v1/premiumIndex":
        return 1 if has_symbol else 10
    if path == "/fapi/v1/openOrders":
        return 1 if has_symbol else 40
    if path == "/fapi/v1/depth":
        try:
            return _DEPTH_WEIGHTS.get(int(params.get("limit", "500")), 10)
        except ValueError:
            return 10
    return _FIXED_WEIGHTS.get((method, path), 1)


def order_counts(method: str, path: str) -> tuple[int, int]:
    """What a request adds to the account's (10 s, 1 min) order counts: new orders only."""
    if method == "POST" and path == "/fapi/v1/order":
        return 1, 1
    if method == "POST" and path == "/fapi/v1/batchOrders":
        return 5, 1  # Binance: "5 on 10s order rate limit; 1 on 1min order rate limit"
    return 0, 0


# --------------------------------------------------------------------------- IP weight


@attrs.frozen
class IpState:
    """One IP's weight in the current minute, its 429s there, and its ban record."""

    window_start_s: float = -math.inf
    used_weight: int = 0
    throttled_in_window: int = 0
    banned_until_s: float = -math.inf
    bans: int = 0


@attrs.frozen
class Verdict:
    """``kind`` is "ok", "throttled" (429) or "banned" (418)."""

    kind: str
    used_weight: int
    retry_after_s: int = 0
    banned_until_s: float = 0.0


def ban_duration_s(bans: int) -> float:
    """2 minutes for the first ban, doubling for repeat offenders, at most 3 days."""
    return min(BAN_MAX_S, BAN_FIRST_S * 2 ** max(0, bans - 1))


def admit_weight(state: IpState, now_s: float, weight: int, limit: int, ban_after_429s: int) -> tuple[IpState, Verdict]:
    """Charge ``weight`` to the IP at ``now_s``: ok, 429 (limit broken) or 418 (banned)."""
    start = window_start_s(now_s, WEIGHT_WINDOW_S)
    if start > state.window_start_s:
        state = attrs.evolve(state, window_start_s=start, used_weight=0, throttled_in_window=0)
    if now_s < state.banned_until_s:
        return state, Verdict("banned", state.used_weight, math.ceil(state.banned_until_s - now_s),
                              state.banned_until_s)
    used = state.used_weight + weight
    if used <= limit:
        return attrs.evolve(state, used_weight=used), Verdict("ok", used)
    throttled = state.throttled_in_window + 1
    if throttled > ban_after_429s:
        bans = state.bans + 1
        until = now_s + ban_duration_s(bans)
        state = attrs.evolve(state, used_weight=used, throttled_in_window=throttled, banned_until_s=until, bans=bans)
        return state, Verdict("banned", used, math.ceil(until - now_s), until)
    state = attrs.evolve(state, used_weight=used, throttled_in_window=throttled)
    return state, Verdict("throttled", used, max(1, math.ceil(start + WEIGHT_WINDOW_S - now_s)))


def used_weight(state: IpState, now_s: float) -> int:
    """The weight the header reports at ``now_s`` (0 in a fresh minute)."""
    return state.used_weight if window_start_s(now_s, WEIGHT_WINDOW_S) <= state.window_start_s else 0


# --------------------------------------------------------------------------- counted windows


@attrs.frozen
class WindowCount:
    """A count in a fixed window aligned to the Unix epoch."""

    window_s: float
    start_s: float = -math.inf
    count: int = 0

    def at(self, now_s: float) -> "WindowCount":
        start = window_start_s(now_s, self.window_s)
        return attrs.evolve(self, start_s=start, count=0) if start > self.start_s else self


@attrs.frozen
class OrderCountState:
    ten_s: WindowCount = WindowCount(10.0)
    one_min: WindowCount = WindowCount(60.0)


@attrs.frozen
class OrderVerdict:
    ok: bool
    count_10s: int
    count_1m: int
    broken: str = ""  # "10s" or "1m" when refused


def admit_orders(state: OrderCountState, now_s: float, add: tuple[int, int], limit_10s: int,
                 limit_1m: int) -> tuple[OrderCountState, OrderVerdict]:
    """Count new orders of an account; refuse (and count nothing) when a window would overflow."""
    ten, one = state.ten_s.at(now_s), state.one_min.at(now_s)
    add_10s, add_1m = add
    if ten.count + add_10s > limit_10s:
        return OrderCountState(ten, one), OrderVerdict(False, ten.count, one.count, "10s")
    if one.count + add_1m > limit_1m:
        return OrderCountState(ten, one), OrderVerdict(False, ten.count, one.count, "1m")
    ten = attrs.evolve(ten, count=ten.count + add_10s)
    one = attrs.evolve(one, count=one.count + add_1m)
    return OrderCountState(ten, one), OrderVerdict(True, ten.count, one.count)


def admit_capped(state: WindowCount, now_s: float, limit: int) -> tuple[WindowCount, bool]:
    """One request against a per-endpoint cap (openInterestHist: 1000 per 300 s)."""
    state = state.at(now_s)
    if state.count + 1 > limit:
        return state, False
    return attrs.evolve(state, count=state.count + 1), True
