"""The REST budget of the option chains, refresh order, expiry rollover and market hours.

Dhan serves option chains and expiry lists through one limit: one request every 3 s, so
both share one serial queue (20 requests a minute). Every number here is derived from that
queue; ``run.py --check`` prints ``start_up_time_s`` and ``plan_refresh(...).summary()``.
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Hashable, Iterable, Mapping, Sequence, TypeVar

import attrs

QUEUE_SPACING_S = 3.0
TARGET_INTERVAL_RANGE_S = (30.0, 60.0)  # the configurable refresh target (the config layer enforces it)
IST = dt.timezone(dt.timedelta(hours=5, minutes=30))  # India has no DST: a fixed offset is exact
SESSIONS = {  # segment family -> (open, close) IST, open <= t < close, Mon-Fri
    "NSE": (dt.time(9, 15), dt.time(15, 30)),
    "BSE": (dt.time(9, 15), dt.time(15, 30)),
    "MCX": (dt.time(9, 0), dt.time(23, 30)),
}
K = TypeVar("K", bound=Hashable)


def check_target_interval_s(target_interval_s: float) -> float:
    """The configured refresh target, or ValueError naming the allowed range."""
    low, high = TARGET_INTERVAL_RANGE_S
    if not (isinstance(target_interval_s, (int, float)) and low <= target_interval_s <= high):
        raise ValueError(f"optionchain refresh interval must be {low:g}-{high:g} s, got {target_interval_s!r}")
    return float(target_interval_s)


@attrs.frozen
class RefreshPlan:
    """What the shared 3 s queue can do for ``chains`` chains at the target interval."""

    chains: int
    target_interval_s: float
    effective_interval_s: float  # how often each chain really gets refreshed
    requests_per_minute: float  # chain refreshes per minute the plan sends
    feasible: bool  # every chain refreshed within the target

    def summary(self) -> str:
        verdict = "ok" if self.feasible else "INFEASIBLE: the queue cannot keep the target"
        return (f"{self.chains} chains, target {self.target_interval_s:g} s -> each refreshed every "
                f"{self.effective_interval_s:g} s, {self.requests_per_minute:g} requests/min ({verdict})")


def plan_refresh(chains: int, target_interval_s: float, queue_spacing_s: float = QUEUE_SPACING_S,
                 reserved_per_minute: int = 0) -> RefreshPlan:
    """Refresh every chain each ``target_interval_s`` if the queue allows; otherwise as fast as it can.

    ``reserved_per_minute`` keeps queue slots for expiry lists and manual refreshes. When the
    chains do not fit, the effective interval is chains x spacing (stretched by the
    reservation) and the plan says it is infeasible: the caller logs it, never breaches 3 s.
    """
    if chains < 0 or not (target_interval_s > 0) or not (queue_spacing_s > 0) or reserved_per_minute < 0:
        raise ValueError("need chains >= 0, target_interval_s > 0, queue_spacing_s > 0, reserved_per_minute >= 0")
    capacity_per_minute = 60.0 / queue_spacing_s
    available = capacity_per_minute - reserved_per_minute
    if available <= 0:
        raise ValueError(f"reserved_per_minute={reserved_per_minute} leaves no room in a queue of "
                         f"{capacity_per_minute:g} requests/min")
    if chains == 0:
        return RefreshPlan(0, float(target_interval_s), float(target_interval_s), 0.0, True)
    wanted = chains * 60.0 / target_interval_s
    if wanted <= available + 1e-9:
        return RefreshPlan(chains, float(target_interval_s), float(target_interval_s), wanted, True)
    return RefreshPlan(chains, float(target_interval_s), chains * 60.0 / available, available, False)


def start_up_time_s(n_underlyings: int, expiries_each: int | Sequence[int],
                    queue_spacing_s: float = QUEUE_SPACING_S) -> float:
    """Seconds of queue to start: one expiry list per underlying + one skeleton chain per expiry, 3 s each.

    ``expiries_each`` is one count for all underlyings or one per underlying.
    """
    counts = [expiries_each] * n_underlyings if isinstance(expiries_each, int) else list(expiries_each)
    if n_underlyings < 0 or len(counts) != n_underlyings or any(c < 0 for c in counts):
        raise ValueError("need n_underlyings >= 0 and one non-negative expiry count per underlying")
    return (n_underlyings + sum(counts)) * queue_spacing_s


def refresh_order(chains: Iterable[K], now_ms: int, last_refresh_ms: Mapping[K, int]) -> list[K]:
    """Round-robin, oldest first: never-refreshed chains lead; ties keep the given order.

    A refresh stamped in the future (a clock step) counts as just done, so it cannot starve others.
    """
    listed = list(chains)
    age = {key: (math.inf if key not in last_refresh_ms else max(0, now_ms - last_refresh_ms[key])) for key in listed}
    return sorted(listed, key=lambda key: -age[key])  # sorted is stable: ties stay in input order


def rollover(expiries_registry: Iterable[str], today: dt.date, tracked: Iterable[str] = (),
             nearest: int | None = None) -> tuple[tuple[str, ...], tuple[str, ...]]:
    """(expired, new): the chains to drop and to build, from the venue's expiry list.

    Active = the ``nearest`` expiries on or after ``today`` (all if None); an expiry stays
    active through its own day. ``expired`` = tracked or listed expiries that are past or no
    longer active; ``new`` = active expiries not yet tracked. Expiries are YYYY-MM-DD.
    """
    def day(text: str) -> dt.date:
        try:
            value = dt.date.fromisoformat(text)
        except (TypeError, ValueError):
            value = None
        if value is None or value.isoformat() != text:
            raise ValueError(f"expiry must be YYYY-MM-DD, got {text!r}")
        return value

    if nearest is not None and nearest < 0:
        raise ValueError(f"nearest must be >= 0, got {nearest}")
    listed = sorted(set(expiries_registry), key=day)
    held = set(tracked)
    for text in held:
        day(text)
    live = [e for e in listed if day(e) >= today]
    active = live if nearest is None else live[:nearest]
    expired = {e for e in listed if day(e) < today} | {e for e in held if e not in active}
    return tuple(sorted(expired, key=day)), tuple(e for e in active if e not in held)


def segment_family(segment: str) -> str:
    """NSE / BSE / MCX from an exchange name or a Dhan segment (IDX_I counts as NSE hours)."""
    upper = segment.upper()
    if upper.startswith("MCX"):
        return "MCX"
    if upper.startswith("BSE"):
        return "BSE"
    if upper.startswith("NSE") or upper == "IDX_I":
        return "NSE"
    raise ValueError(f"unknown segment {segment!r}: expected NSE*, BSE*, MCX* or IDX_I")


def is_market_open(now_ms: int, segment: str, holidays: Iterable[dt.date] = frozenset()) -> bool:
    """Whether the segment's regular session is on at ``now_ms`` (Mon-Fri, IST, holidays closed)."""
    opens, closes = SESSIONS[segment_family(segment)]
    local = dt.datetime.fromtimestamp(now_ms / 1000, tz=IST)
    if local.weekday() >= 5 or local.date() in set(holidays):
        return False
    return opens <= local.time() < closes


def regeneration_reason(*, new_day: bool, rolled_over: bool, stopped: bool, market_open: bool,
                        was_open: bool | None, failed_for_s: float | None, retry_after_s: float) -> str | None:
    """Why an underlying's strikes must be rebuilt now, or None (the first reason that holds).

    On a new IST day: its expiries rolled over (one expired or a new one became active),
    or it was stopped (a holiday's LTP of 0 may be over). At its market's open (a known
    closed state turning open). And a build the venue failed, once ``retry_after_s`` passed.
    Never because the ATM moved: that is the point of the rule.
    """
    if new_day and (rolled_over or stopped):
        return "expiry rollover"
    if market_open and was_open is False:
        return "market open"
    if failed_for_s is not None and failed_for_s >= retry_after_s:
        return "retry after a venue failure"
    return None
