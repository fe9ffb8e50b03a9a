"""``DhanClient``: everything the engine's actors need from Dhan, as ``ctx.venues["dhan"]``.

Why one object: the REST lanes (one 3 s budget for chains and expiry lists), the feed
credentials and the instrument master's URL belong to one account and one config
section; actors take what they need from it and never see the token, which is held
privately (``repr`` shows only URLs).
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from typing import Any

import httpx

from adapters.dhan.feed import DhanFeedConnection
from adapters.dhan.master import WHAT, MasterResult, fetch_master
from adapters.dhan.rest import DhanRest
from adapters.http import (
    RETRY_CANDIDATES,
    RetryPolicy,
    VenueUnavailable,
    describe_error,
    make_jitter,
    pause_before_retry,
    retry_or_raise,
)
from engine.clock import Clock

VENUE = "dhan"
MASTER_TIMEOUT_S = 120.0  # a 40 MB file on a slow link
# The master is read once a day: a few patient retries ride out a CDN hiccup.
MASTER_RETRY = RetryPolicy(max_retries=3, backoff_initial_s=2.0, backoff_max_s=30.0)


class DhanClient:
    """Dhan for the actors: ``rest`` (``DhanRest``), ``feed_url``, ``new_feed`` and
    ``instrument_master``. ``master_http`` is the client's own HTTP client for the public
    master file (no auth headers, a long timeout), apart from the REST pool."""

    def __init__(self, rest: DhanRest, feed_url: str, instrument_master_url: str, master_http: httpx.AsyncClient,
                 access_token: str, client_id: str, clock: Clock, log: Any, *,
                 master_timeout_s: float = MASTER_TIMEOUT_S, master_retry: RetryPolicy = MASTER_RETRY,
                 jitter_seed: int | None = None) -> None:
        self.rest = rest
        self.feed_url = feed_url
        self.instrument_master_url = instrument_master_url
        self.master_http, self.clock, self.log = master_http, clock, log
        self.master_timeout_s, self.master_retry = master_timeout_s, master_retry
        self._access_token, self._client_id = access_token, client_id
        self._jitter: random.Random = make_jitter(jitter_seed)

    def __repr__(self) -> str:  # never show the token
        return (f"DhanClient(rest_url={self.rest.base_url!r}, feed_url={self.feed_url!r}, "
                f"instrument_master_url={self.instrument_master_url!r})")

    def new_feed(self, log: Any, **options: Any) -> DhanFeedConnection:
        """A fresh, unconnected feed connection with this account's credentials
        (``options`` go to ``DhanFeedConnection``: stats, timeouts, queue size)."""
        return DhanFeedConnection(self.feed_url, self._access_token, self._client_id, log, **options)

    async def instrument_master(self, symbols: Iterable[str]) -> MasterResult:
        """The master's metadata of ``symbols``; retries timeouts, network errors and 5xx,
        then raises ``VenueUnavailable``. ``DhanMasterError`` (not a master) and 4xx raise
        at once. Symbols absent from the file are absent from the result."""
        wanted = tuple(symbols)
        attempts = self.master_retry.max_retries + 1
        last_error: BaseException | None = None
        for attempt in range(attempts):
            started_s = self.clock.monotonic()
            try:
                result = await fetch_master(self.master_http, self.instrument_master_url, wanted,
                                            timeout_s=self.master_timeout_s)
            except RETRY_CANDIDATES as error:
                last_error = retry_or_raise(error)
            else:
                self.log.info("instrument_master_read", venue=VENUE, rows_read=result.rows_read,
                              skipped=result.skipped, underlyings=sorted(result.metas),
                              missing=result.missing(wanted), duration_s=round(self.clock.monotonic() - started_s, 3))
                return result
            if attempt + 1 < attempts:
                await pause_before_retry(self.clock, self.log, self.master_retry, self._jitter.random(), VENUE,
                                         attempt, last_error, method=WHAT)
        raise VenueUnavailable(VENUE, WHAT, attempts, describe_error(last_error)) from last_error
