"""Which option maturities are live at an instant, following Deribit's listing calendar.

Every expiry is at ``expiry_hour_utc`` (08:00 UTC): dailies every day, weeklies every
Friday, monthlies the last Friday of the month, quarterlies the last Friday of
Mar/Jun/Sep/Dec. An expiry is live until (exclusive) its expiry instant.

Counting (Deribit's Contract Introduction Policy): each kind lists its next N dates
*of that kind's calendar*, and a date that is also a longer kind still counts: "a weekly
will not be added if it already exists as a monthly expiry; instead this monthly expiry
will now be considered a weekly expiry". So with 3 weeklies the next three Fridays are
listed even when one of them is the month end, and the union is shown once per date
under its longest kind. The number of distinct expiries therefore varies (BTC/ETH: 10 to
12, ARB: 4 to 7).

Replacement: a new weekly/monthly/quarterly appears at 08:00 UTC the day before the
nearest one of its kind expires, so for those 24 h that kind has N + 1 live expiries.
Dailies are simply the next N days: a new daily appears each day at 08:00 as the
nearest one expires (for dailies "the day before the nearest expires" *is* the moment
the previous one expired, so an extra-day rule would make N + 1 permanent).

Defaults: BTC/ETH 3 dailies, 3 weeklies, 3 monthlies, 4 quarterlies (Deribit). ARB (our
own listing, no Deribit precedent) lists a smaller set: 2 dailies, 2 weeklies, 2
monthlies, 1 quarterly, close to what Deribit lists for its smaller coins (SOL/XRP).
"""

from __future__ import annotations

import datetime as dt
import re
from typing import Iterator, Literal

import attrs

DAY_MS = 86_400_000
MS_PER_YEAR = 365.0 * DAY_MS
MONTHS = ("JAN", "FEB", "MAR", "APR", "MAY", "JUN", "JUL", "AUG", "SEP", "OCT", "NOV", "DEC")
QUARTER_MONTHS = (3, 6, 9, 12)
FRIDAY = 4
Kind = Literal["daily", "weekly", "monthly", "quarterly"]
KINDS: tuple[Kind, ...] = ("daily", "weekly", "monthly", "quarterly")  # shortest to longest
_CODE = re.compile(r"^([1-9]|[12][0-9]|3[01])(" + "|".join(MONTHS) + r")([0-9]{2})$")


def _non_negative(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{attribute.name} must be an integer >= 0, got {value!r}")


def _hour(instance: object, attribute: attrs.Attribute, value: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        raise ValueError(f"{attribute.name} must be an hour 0..23, got {value!r}")


@attrs.frozen
class MaturityPolicy:
    """How many expiries of each kind a market lists (the live set's shape)."""

    dailies: int = attrs.field(default=3, validator=_non_negative)
    weeklies: int = attrs.field(default=3, validator=_non_negative)
    monthlies: int = attrs.field(default=3, validator=_non_negative)
    quarterlies: int = attrs.field(default=4, validator=_non_negative)
    expiry_hour_utc: int = attrs.field(default=8, validator=_hour)

    def count(self, kind: Kind) -> int:
        return {"daily": self.dailies, "weekly": self.weeklies,
                "monthly": self.monthlies, "quarterly": self.quarterlies}[kind]

    def with_counts(self, **counts: int) -> "MaturityPolicy":
        """A copy with some counts replaced (config overrides): ``with_counts(dailies=2)``."""
        return attrs.evolve(self, **counts)


DEFAULT_POLICIES: dict[str, MaturityPolicy] = {
    "BTC": MaturityPolicy(3, 3, 3, 4),
    "ETH": MaturityPolicy(3, 3, 3, 4),
    "ARB": MaturityPolicy(2, 2, 2, 1),
}


def default_policy(market: str) -> MaturityPolicy:
    """The built-in policy of a market; unknown markets get the BTC/ETH shape."""
    return DEFAULT_POLICIES.get(market.upper(), MaturityPolicy())


@attrs.frozen
class Maturity:
    """One live expiry: its name code (``28MAR25``), instant and longest kind."""

    code: str
    expiry_ms: int
    kind: Kind


# --------------------------------------------------------------------------- codes


def maturity_code(day: dt.date) -> str:
    """``DMMMYY`` as in Deribit names: no leading zero, upper-case month: ``5AUG25``."""
    return f"{day.day}{MONTHS[day.month - 1]}{day.year % 100:02d}"


def parse_maturity_code(code: str) -> dt.date:
    """The date of a ``DMMMYY`` code; ValueError on anything we would not write ourselves."""
    found = _CODE.match(code) if isinstance(code, str) else None
    if found is None:
        raise ValueError(f"not a maturity code (DMMMYY like 5AUG25): {code!r}")
    day, month, year = int(found[1]), MONTHS.index(found[2]) + 1, 2000 + int(found[3])
    try:
        return dt.date(year, month, day)
    except ValueError:
        raise ValueError(f"no such date: {code!r}") from None


def expiry_ms_of(day: dt.date, expiry_hour_utc: int = 8) -> int:
    """The expiry instant (Unix ms) of a maturity date."""
    return int(dt.datetime(day.year, day.month, day.day, expiry_hour_utc, tzinfo=dt.timezone.utc).timestamp()) * 1000


def is_expired(code: str, now_ms: int, expiry_hour_utc: int = 8) -> bool:
    """Whether the maturity's expiry instant has come (expired AT 08:00:00.000)."""
    return now_ms >= expiry_ms_of(parse_maturity_code(code), expiry_hour_utc)


def years_to_expiry(now_ms: int, expiry_ms: int) -> float:
    """Time to expiry in ACT/365 years, the unit of the vol maths."""
    return (expiry_ms - now_ms) / MS_PER_YEAR


# --------------------------------------------------------------------------- calendar


def _last_friday(year: int, month: int) -> dt.date:
    first_of_next = dt.date(year + month // 12, month % 12 + 1, 1)
    last = first_of_next - dt.timedelta(days=1)
    return last - dt.timedelta(days=(last.weekday() - FRIDAY) % 7)


def is_kind(kind: Kind, day: dt.date) -> bool:
    """Whether ``day`` is an expiry date of ``kind``'s calendar."""
    if kind == "daily":
        return True
    if day.weekday() != FRIDAY:
        return False
    if kind == "weekly":
        return True
    last = day == _last_friday(day.year, day.month)
    return last and (kind == "monthly" or day.month in QUARTER_MONTHS)


def _dates_of_kind(kind: Kind, start: dt.date) -> Iterator[dt.date]:
    """Dates of ``kind`` on or after ``start``, ascending, forever."""
    if kind in ("daily", "weekly"):
        day = start
        if kind == "weekly":
            day += dt.timedelta(days=(FRIDAY - day.weekday()) % 7)
        step = dt.timedelta(days=1 if kind == "daily" else 7)
        while True:
            yield day
            day += step
    year, month = start.year, start.month
    while True:
        if kind == "monthly" or month in QUARTER_MONTHS:
            day = _last_friday(year, month)
            if day >= start:
                yield day
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)


def _upcoming(kind: Kind, now_ms: int, hour: int, count: int) -> list[int]:
    """The next ``count`` expiry instants of ``kind`` strictly after ``now_ms``."""
    start = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.timezone.utc).date()
    found: list[int] = []
    for day in _dates_of_kind(kind, start):
        ts = expiry_ms_of(day, hour)
        if ts > now_ms:
            found.append(ts)
            if len(found) == count:
                return found
    raise AssertionError("unreachable: calendars are infinite")


def listed_of_kind(kind: Kind, count: int, now_ms: int, expiry_hour_utc: int = 8) -> list[int]:
    """One kind's live expiry instants: its next ``count``, plus the replacement during
    the 24 h before the nearest one expires (not for dailies, see the module doc)."""
    if count <= 0:
        return []
    upcoming = _upcoming(kind, now_ms, expiry_hour_utc, count + 1)
    if kind != "daily" and now_ms >= upcoming[0] - DAY_MS:
        return upcoming
    return upcoming[:count]


def live_maturities(now_ms: int, policy: MaturityPolicy) -> list[Maturity]:
    """Every live maturity at ``now_ms``, ascending, each date once under its longest kind."""
    hour = policy.expiry_hour_utc
    instants = {ts for kind in KINDS for ts in listed_of_kind(kind, policy.count(kind), now_ms, hour)}
    live = []
    for ts in sorted(instants):
        day = dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc).date()
        kind = [k for k in KINDS if policy.count(k) > 0 and is_kind(k, day)][-1]
        live.append(Maturity(code=maturity_code(day), expiry_ms=ts, kind=kind))
    return live
