"""Deribit's listing conventions as pure functions: which expiries are live, how names read.

Expiries are at 08:00 UTC: dailies every day, weeklies every Friday, monthlies the last
Friday of the month, quarterlies the last Friday of Mar/Jun/Sep/Dec. Each kind lists its
next N expiries; a weekly/monthly/quarterly replacement appears at 08:00 the day before
the expiry it replaces (so for 24 h one extra is live), and a daily lives N days
(N = 2 gives "added the day before it becomes the nearest"). A date claimed by several
kinds is listed once under its longest kind (Deribit's Contract Introduction Policy).
"""

from __future__ import annotations

import datetime as dt
import math
from typing import Iterator

import attrs

from engine.quant import norm_ppf

DAY_MS = 86_400_000
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
KINDS = ("day", "week", "month", "quarter")  # shortest to longest
QUARTER_MONTHS = (3, 6, 9, 12)
FRIDAY = 4


@attrs.frozen
class ExpiryPolicy:
    """How many expiries of each kind a coin lists (BTC/ETH: 3, 3, 3, 4)."""

    dailies: int = 3
    weeklies: int = 3
    monthlies: int = 3
    quarterlies: int = 4

    def count(self, kind: str) -> int:
        return {"day": self.dailies, "week": self.weeklies, "month": self.monthlies,
                "quarter": self.quarterlies}[kind]


@attrs.frozen
class ListedExpiry:
    expiry_ms: int
    kind: str  # longest kind claiming the date
    introduced_ms: int  # when the policy first listed it

    @property
    def settlement_period(self) -> str:
        """Deribit's field: quarterlies settle as "month"."""
        return "month" if self.kind == "quarter" else self.kind


def _at_8(day: dt.date) -> int:
    return int(dt.datetime(day.year, day.month, day.day, 8, tzinfo=dt.timezone.utc).timestamp() * 1000)


def _date_of(ts_ms: int) -> dt.date:
    return dt.datetime.fromtimestamp(ts_ms / 1000, tz=dt.timezone.utc).date()


def _last_friday(year: int, month: int) -> dt.date:
    nxt = dt.date(year + month // 12, month % 12 + 1, 1)
    last = nxt - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - FRIDAY) % 7)


def _month_step(year: int, month: int, by: int) -> tuple[int, int]:
    index = year * 12 + (month - 1) + by
    return index // 12, index % 12 + 1


def is_candidate(kind: str, expiry_ms: int) -> bool:
    """Whether an 08:00 UTC instant is an expiry date of ``kind``."""
    day = _date_of(expiry_ms)
    if kind == "day":
        return True
    if day.weekday() != FRIDAY:
        return False
    if kind == "week":
        return True
    is_last = day == _last_friday(day.year, day.month)
    return is_last and (kind == "month" or day.month in QUARTER_MONTHS)


def candidates_after(kind: str, after_ms: int) -> Iterator[int]:
    """Expiry instants of ``kind`` strictly after ``after_ms``, ascending, forever."""
    day = _date_of(after_ms)
    if kind in ("day", "week"):
        while True:
            ts = _at_8(day)
            if ts > after_ms and is_candidate(kind, ts):
                yield ts
            day += dt.timedelta(days=1)
    year, month = day.year, day.month
    while True:
        if kind == "month" or month in QUARTER_MONTHS:
            ts = _at_8(_last_friday(year, month))
            if ts > after_ms:
                yield ts
        year, month = _month_step(year, month, 1)


def candidates_before(kind: str, before_ms: int) -> Iterator[int]:
    """Expiry instants of ``kind`` strictly before ``before_ms``, descending."""
    day = _date_of(before_ms)
    if kind in ("day", "week"):
        while True:
            ts = _at_8(day)
            if ts < before_ms and is_candidate(kind, ts):
                yield ts
            day -= dt.timedelta(days=1)
    year, month = day.year, day.month
    while True:
        if kind == "month" or month in QUARTER_MONTHS:
            ts = _at_8(_last_friday(year, month))
            if ts < before_ms:
                yield ts
        year, month = _month_step(year, month, -1)


def _take(it: Iterator[int], n: int) -> list[int]:
    return [next(it) for _ in range(n)]


def listed_of_kind(kind: str, count: int, now_ms: int) -> list[int]:
    """The ``count`` next expiries of a kind, plus the replacement live from 08:00 the day
    before the nearest one expires (dailies: the next ``count`` days, no extra)."""
    if count <= 0:
        return []
    upcoming = _take(candidates_after(kind, now_ms), count + 1)
    if kind != "day" and now_ms >= upcoming[0] - DAY_MS:
        return upcoming
    return upcoming[:count]


def introduced_ms(kind: str, count: int, expiry_ms: int) -> int:
    """When ``listed_of_kind`` first lists ``expiry_ms`` (it must be a candidate of ``kind``)."""
    if kind == "day":
        return expiry_ms - count * DAY_MS
    earlier = _take(candidates_before(kind, expiry_ms), count)
    return earlier[-1] - DAY_MS


def listed_expiries(policy: ExpiryPolicy, now_ms: int) -> list[ListedExpiry]:
    """Every live expiry at ``now_ms``, ascending, each once under its longest kind."""
    claimed = {ts for kind in KINDS for ts in listed_of_kind(kind, policy.count(kind), now_ms)}
    listed = []
    for ts in sorted(claimed):
        kinds = [k for k in KINDS if policy.count(k) > 0 and is_candidate(k, ts)]
        intro = min(introduced_ms(k, policy.count(k), ts) for k in kinds)
        listed.append(ListedExpiry(expiry_ms=ts, kind=kinds[-1], introduced_ms=min(intro, now_ms)))
    return listed


# --------------------------------------------------------------------------- names


def expiry_code(expiry_ms: int) -> str:
    """``DMMMYY`` without a leading zero on the day: 5AUG23, 28MAR25."""
    day = _date_of(expiry_ms)
    return f"{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def strike_text(strike: float, *, linear: bool) -> str:
    """Integer strikes print bare; a linear name writes the decimal point as ``d`` (0d625)."""
    if float(strike).is_integer():
        return str(int(strike))
    if not linear:
        raise ValueError(f"inverse option strikes are integers, got {strike}")
    return f"{strike:.8f}".rstrip("0").replace(".", "d")


def instrument_name(coin: str, expiry_ms: int, strike: float, is_call: bool, *, linear: bool) -> str:
    """``BTC-28MAR25-80000-C`` (inverse) or ``BTC_USDC-28MAR25-80000-C`` (linear)."""
    prefix = f"{coin}_USDC" if linear else coin
    return f"{prefix}-{expiry_code(expiry_ms)}-{strike_text(strike, linear=linear)}-{'C' if is_call else 'P'}"


# --------------------------------------------------------------------------- strikes


def nice_step(raw: float) -> float:
    """The smallest of 1, 2, 2.5, 5 x 10^k at or above ``raw``: strike intervals people use."""
    exponent = math.floor(math.log10(raw))
    for mantissa in (1.0, 2.0, 2.5, 5.0, 10.0):
        step = mantissa * 10.0**exponent
        if step >= raw * (1 - 1e-12):
            return float(f"{step:.12g}")
    raise AssertionError("unreachable")


def strike_step(index_price: float, expiry_years: float) -> float:
    """Wider intervals for longer expiries (BTC at 86,000: 500 / 1,000 / 2,000 / 5,000)."""
    days = expiry_years * 365.0
    fraction = 0.005 if days <= 2 else 0.01 if days <= 14 else 0.02 if days <= 70 else 0.05
    return nice_step(index_price * fraction)


def strike_for_call_delta(forward: float, delta: float, vol: float, expiry_years: float) -> float:
    """Black-76 (r = 0): K = F exp(-N^-1(delta) vol sqrt(T) + vol^2 T / 2)."""
    sd = vol * math.sqrt(expiry_years)
    return forward * math.exp(-norm_ppf(delta) * sd + 0.5 * sd * sd)


def strike_grid(lo: float, hi: float, step: float, max_strikes: int, centre: float) -> list[float]:
    """Multiples of ``step`` covering [lo, hi] (positive), at most ``max_strikes`` nearest ``centre``."""
    first = max(1, math.floor(lo / step))
    last = max(first, math.ceil(hi / step))
    grid = [float(f"{i * step:.10g}") for i in range(first, last + 1)]
    if len(grid) > max_strikes:
        grid = sorted(sorted(grid, key=lambda k: (abs(k - centre), k))[:max_strikes])
    return grid
