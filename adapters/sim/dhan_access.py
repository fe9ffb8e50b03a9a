"""Who may call the simulated Dhan venue, and how often (pure).

Why pure: the limits are the point of the simulator (a build that passes against it
must never be throttled by the real venue), so their arithmetic is tested without I/O.
The venue's published limits, per client id:

* option chain and expiry list together: one request every 3 s (a request earlier
  than 3 s after the previous *accepted* one is refused with 805);
* quote APIs (``/marketfeed/ltp|ohlc|quote``): one request per second;
* data APIs: 5 per second and 100,000 per day (the option-chain pair also counts here).

A request is admitted only when every budget it draws on has room, and then all of
them are charged at once; refused requests charge nothing.
"""

from __future__ import annotations

import math
from datetime import date

import attrs

# Data-API error codes of the venue and the texts of its annexure.
DATA_ERRORS: dict[int, str] = {
    800: "Internal Server Error",
    804: "Requested number of instruments exceeds limit",
    805: "Too many requests. Further requests may result in the user being blocked.",
    806: "Data APIs not subscribed",
    807: "Access token is expired",
    808: "Authentication Failed - Client ID or Access Token invalid",
    809: "Access token is invalid",
    810: "Client ID is invalid",
    811: "Invalid Expiry Date",
    812: "Invalid Date Format",
    813: "Invalid SecurityId",
    814: "Invalid Request",
}
HTTP_STATUS: dict[int, int] = {800: 500, 804: 400, 805: 429, 806: 401, 807: 401, 808: 401, 809: 401,
                               810: 401, 811: 400, 812: 400, 813: 400, 814: 400}


@attrs.define
class Credentials:
    """The one user of the simulated venue; ``token_expired`` is set by a control action."""

    access_token: str
    client_id: str
    token_expired: bool = False


def rest_auth_error(creds: Credentials, token: str | None, client_id: str | None) -> int | None:
    """The data-API code for the ``access-token`` / ``client-id`` headers, None when valid."""
    if not token:
        return 808
    if token != creds.access_token:
        return 809
    if creds.token_expired:
        return 807
    if client_id != creds.client_id:
        return 810
    return None


def feed_auth_error(creds: Credentials, token: str | None, client_id: str | None, version: str | None,
                    auth_type: str | None) -> int | None:
    """The feed's disconnect reason for the connection's query parameters, None when valid."""
    if not token or token != creds.access_token or version != "2" or auth_type != "2":
        return 809
    if creds.token_expired:
        return 807
    if client_id != creds.client_id:
        return 808
    return None


# --------------------------------------------------------------------------- budgets


@attrs.frozen
class Spacing:
    """"One request every ``interval_s``": measured from the last accepted request."""

    interval_s: float
    last_accepted_s: float = -math.inf

    def admits(self, now_s: float) -> bool:
        return now_s - self.last_accepted_s >= self.interval_s

    def charged(self, now_s: float) -> "Spacing":
        return attrs.evolve(self, last_accepted_s=now_s)


@attrs.frozen
class SlidingWindow:
    """At most ``limit`` accepted requests in any window of ``window_s`` seconds."""

    limit: int
    window_s: float
    accepted_s: tuple[float, ...] = ()

    def _recent(self, now_s: float) -> tuple[float, ...]:
        return tuple(t for t in self.accepted_s if now_s - t < self.window_s)

    def admits(self, now_s: float) -> bool:
        return len(self._recent(now_s)) < self.limit

    def charged(self, now_s: float) -> "SlidingWindow":
        return attrs.evolve(self, accepted_s=self._recent(now_s) + (now_s,))


@attrs.frozen
class DailyCap:
    """At most ``limit`` accepted requests per calendar day (IST)."""

    limit: int
    day: date | None = None
    used: int = 0

    def admits(self, today: date) -> bool:
        return self.day != today or self.used < self.limit

    def charged(self, today: date) -> "DailyCap":
        return attrs.evolve(self, day=today, used=(self.used if self.day == today else 0) + 1)


@attrs.frozen
class ClientBudgets:
    """Every budget of one client id."""

    option_chain: Spacing = Spacing(3.0)
    quote: Spacing = Spacing(1.0)
    data: SlidingWindow = SlidingWindow(5, 1.0)
    data_day: DailyCap = DailyCap(100_000)


# Which budgets each endpoint family draws on.
ENDPOINT_BUDGETS: dict[str, tuple[str, ...]] = {
    "optionchain": ("option_chain", "data", "data_day"),
    "marketfeed": ("quote",),
}


def admit(budgets: ClientBudgets, family: str, now_s: float, today: date) -> tuple[ClientBudgets, bool]:
    """Admit one request of ``family`` at ``now_s``: (charged budgets, True) when every
    budget has room, else (unchanged budgets, False)."""
    names = ENDPOINT_BUDGETS[family]
    for name in names:
        budget = getattr(budgets, name)
        if not budget.admits(today if isinstance(budget, DailyCap) else now_s):
            return budgets, False
    changes = {}
    for name in names:
        budget = getattr(budgets, name)
        changes[name] = budget.charged(today if isinstance(budget, DailyCap) else now_s)
    return attrs.evolve(budgets, **changes), True
