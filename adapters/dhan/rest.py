"""Dhan data APIs over HTTP: expiry list, option chain and last prices, inside the venue's limits.

Option chain and expiry list share one budget of one request every 3 s. The venue
measures that gap between request *arrivals*, and network jitter can bunch arrivals we
sent 3 s apart, so the shared lane is stricter than a token bucket alone: one request at
a time (a ``trio.Lock`` held for the whole request, retries included), and each send
waits for the bucket AND for ``spacing_s`` after the previous request *finished*. Quotes
use the same kind of lane at 1/s. Decoding is pure (``adapters.dhan.bodies``).
"""

from __future__ import annotations

import random
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import trio

from adapters.dhan.bodies import (
    OptionChainSnapshot,
    decode_answer,
    expiry_dates,
    last_prices,
    option_chain,
    quote_batches,
)
from adapters.dhan.errors import DhanError, DhanRateLimited
from adapters.http import (
    RETRY_CANDIDATES,
    RetryPolicy,
    VenueMeter,
    VenueUnavailable,
    retry_or_raise,
    describe_error,
    make_jitter,
    pause_before_retry,
)
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket

VENUE = "dhan"


@attrs.define(eq=False)
class SerialLane:
    """Requests of one budget, strictly one after another and spaced ``spacing_s`` apart.

    ``spacing_s`` counts from the end of the previous request, so two requests can never
    arrive closer than that at the venue, whatever the latency of either.
    """

    bucket: TokenBucket
    clock: Clock
    spacing_s: float
    lock: trio.Lock = attrs.field(factory=trio.Lock)
    last_done_s: float = float("-inf")

    @asynccontextmanager
    async def turn(self) -> AsyncIterator[None]:
        """Hold the lane for the whole of a request and its retries."""
        async with self.lock:
            yield

    async def send_slot(self) -> None:
        """Wait (inside ``turn``) until one more request may be sent."""
        wait_s = self.last_done_s + self.spacing_s - self.clock.monotonic()
        if wait_s > 0:
            await self.clock.sleep(wait_s)
        await self.bucket.acquire(1)

    def done(self) -> None:
        self.last_done_s = self.clock.monotonic()


class DhanRest:
    """Dhan data APIs over one shared ``httpx.AsyncClient``.

    ``chain_queue``: the shared option-chain/expiry-list bucket (``capacity=1,
    refill_per_s=1/3``); ``quote_bucket``: quotes (1/s). Raises ``DhanTokenExpired`` (807)
    and ``DhanAuthError`` / ``DhanConfigError`` at once; retries 805 (after pausing the
    bucket), 800, 5xx, timeouts, unreadable bodies and bare ``failure`` answers, then
    raises ``VenueUnavailable``.
    """

    def __init__(self, base_url: str, http: httpx.AsyncClient, chain_queue: TokenBucket, quote_bucket: TokenBucket,
                 access_token: str, client_id: str, clock: Clock, log: Any, metrics: EngineMetrics, *,
                 max_retries: int = 4, backoff_initial_s: float = 1.0, backoff_max_s: float = 10.0,
                 chain_spacing_s: float | None = None, quote_spacing_s: float | None = None,
                 jitter_seed: int | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        self.http, self.clock, self.log = http, clock, log
        self.retry = RetryPolicy(max_retries, backoff_initial_s, backoff_max_s)
        self._headers = {"access-token": access_token, "client-id": client_id,
                         "Content-Type": "application/json", "Accept": "application/json"}
        self.chain_lane = SerialLane(chain_queue, clock, _spacing(chain_queue, chain_spacing_s))
        self.quote_lane = SerialLane(quote_bucket, clock, _spacing(quote_bucket, quote_spacing_s))
        self._meter = VenueMeter.for_limiter(VENUE, metrics, chain_queue)
        self._jitter: random.Random = make_jitter(jitter_seed)

    def __repr__(self) -> str:  # never show the token
        return f"DhanRest(base_url={self.base_url!r})"

    # ------------------------------------------------------------------ calls
    async def expiry_list(self, underlying_scrip: int, underlying_seg: str) -> list[str]:
        """Expiries (YYYY-MM-DD, ascending) of an underlying: the authoritative list."""
        body = {"UnderlyingScrip": int(underlying_scrip), "UnderlyingSeg": underlying_seg}
        data = await self._post(self.chain_lane, "optionchain/expirylist", body)
        return expiry_dates(data)

    async def option_chain(self, underlying_scrip: int, underlying_seg: str, expiry: str) -> OptionChainSnapshot:
        """The chain of one expiry; ``last_price`` 0 (holidays) is returned as is."""
        body = {"UnderlyingScrip": int(underlying_scrip), "UnderlyingSeg": underlying_seg, "Expiry": expiry}
        data = await self._post(self.chain_lane, "optionchain", body)
        return option_chain(data, int(underlying_scrip), underlying_seg, expiry, self.clock.time_ms())

    async def ltp(self, instruments: Mapping[str, list[int]]) -> dict[tuple[str, int], float]:
        """Last prices of ``{segment: [security ids]}``, ≤ 1000 instruments per request.

        Instruments the venue does not know are absent from the answer.
        """
        prices: dict[tuple[str, int], float] = {}
        for batch in quote_batches(instruments):
            prices.update(last_prices(await self._post(self.quote_lane, "marketfeed/ltp", batch)))
        return prices

    # ------------------------------------------------------------------ the retry loop
    async def _post(self, lane: SerialLane, path: str, body: dict[str, Any]) -> Any:
        """POST ``body`` to ``path`` through ``lane``; return the answer's ``data``."""
        url = f"{self.base_url}/{path}"
        attempts = self.retry.max_retries + 1
        last_error: BaseException | None = None
        async with lane.turn():
            for attempt in range(attempts):
                await lane.send_slot()
                self._meter.request(1)
                try:
                    response = await self.http.post(url, json=body, headers=self._headers)
                    return decode_answer(response.status_code, response.content, path)
                except (DhanError, *RETRY_CANDIDATES) as error:
                    if isinstance(error, DhanError) and not error.retryable:
                        self.log.error("venue_error", venue=VENUE, method=path, code=error.code,
                                       error=error.message, error_class=type(error).__name__)
                    last_error = retry_or_raise(error)
                finally:
                    lane.done()
                if attempt + 1 < attempts:
                    await self._back_off(lane, path, attempt, last_error)
        raise VenueUnavailable(VENUE, path, attempts, describe_error(last_error)) from last_error

    async def _back_off(self, lane: SerialLane, path: str, attempt: int, error: BaseException | None) -> None:
        """Wait before the next attempt; after an 805 the lane's bucket is paused too, so
        every caller of the budget slows down, not only this one."""
        unit_random = self._jitter.random()
        if isinstance(error, DhanRateLimited):
            pause_s = self.retry.delay_s(attempt, unit_random) + lane.spacing_s
            lane.bucket.pause_for(pause_s)
            self._meter.throttled()
            self.log.warning("venue_throttled", venue=VENUE, method=path, attempt=attempt + 1,
                             pause_s=round(pause_s, 3))
            return  # the paused bucket is the wait
        await pause_before_retry(self.clock, self.log, self.retry, unit_random, VENUE, attempt, error, method=path)


def _spacing(bucket: TokenBucket, spacing_s: float | None) -> float:
    """Default spacing: the bucket's own interval (1 / refill rate), e.g. 3 s for chains."""
    return spacing_s if spacing_s is not None else 1.0 / bucket.refill_per_s
