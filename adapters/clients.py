"""The engine's venue clients: one HTTP client and one limiter per configured venue.

The runtime opens them once and hands the same dict to every actor (``ctx.venues``), so
each venue's connection pool and rate budget are shared by every caller: the budget is
spent once, however many actors poll the venue.
"""

from __future__ import annotations

from contextlib import AsyncExitStack, asynccontextmanager
from collections.abc import AsyncIterator
from typing import Any

from adapters.binance.public import BinancePublic
from adapters.deribit.rest import DeribitRest
from adapters.http import DEFAULT_TIMEOUT_S, open_http_client
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import TokenBucket, WindowBudget

# Deribit: a 50,000-credit pool refilled at 10,000/s (public requests cost 500). The venue
# counts credits when requests arrive, and network jitter bunches arrivals that we spaced
# out: a full-size local burst followed by paced requests then overdraws the venue's pool
# (measured against the simulator). A 10 % smaller burst absorbs 0.5 s of jitter.
DERIBIT_CREDITS = 50_000
DERIBIT_REFILL_PER_S = 10_000
DERIBIT_SAFETY_FRACTION = 0.9
# Binance USDⓈ-M: 2400 request weight per wall-clock minute per IP; keep 10 % in reserve
# for clock skew and for other processes on the IP that we only see through the header.
BINANCE_WEIGHT_PER_MIN = 2400
BINANCE_WINDOW_S = 60.0
BINANCE_SAFETY_FRACTION = 0.9


def deribit_limiter(clock: Clock, metrics: EngineMetrics | None) -> TokenBucket:
    return TokenBucket(clock=clock, venue="deribit", capacity=DERIBIT_CREDITS * DERIBIT_SAFETY_FRACTION,
                       refill_per_s=DERIBIT_REFILL_PER_S, metrics=metrics)


def binance_budget(clock: Clock, metrics: EngineMetrics | None) -> WindowBudget:
    return WindowBudget(clock=clock, venue="binance", limit=BINANCE_WEIGHT_PER_MIN, window_s=BINANCE_WINDOW_S,
                        safety_fraction=BINANCE_SAFETY_FRACTION, metrics=metrics)


@asynccontextmanager
async def open_venue_clients(venues_section: Any, clock: Clock, log: Any, metrics: EngineMetrics, *,
                             timeout_s: float = DEFAULT_TIMEOUT_S) -> AsyncIterator[dict[str, Any]]:
    """Yield ``{"deribit": DeribitRest, "binance": BinancePublic}`` for the venues present
    in the ``[venues]`` config section (absent ones are left out); close them on exit.

    The limiters carry the metrics, so granted weight and throttles are counted by the
    limiter (once per budget) and requests by the adapters.
    """
    clients: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        deribit = getattr(venues_section, "deribit", None)
        if deribit is not None:
            http = await stack.enter_async_context(open_http_client(timeout_s))
            clients["deribit"] = DeribitRest(deribit.rest_url, http, deribit_limiter(clock, metrics), clock,
                                             log, metrics)
        binance = getattr(venues_section, "binance", None)
        if binance is not None:
            http = await stack.enter_async_context(open_http_client(timeout_s))
            clients["binance"] = BinancePublic(binance.rest_url, http, binance_budget(clock, metrics), clock,
                                               log, metrics)
        log.info("venue_clients_open", venues=sorted(clients))
        yield clients
