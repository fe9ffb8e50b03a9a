"""The engine's venue clients: one HTTP client and the limiters of each configured venue.

The runtime opens them once and hands the same dict to every actor (``ctx.venues``), so
each venue's connection pool and rate budget are shared by every caller: the budget is
spent once, however many actors poll the venue. Dhan also gets a second HTTP client of
its own for the public instrument master, and is left out (with an error logged) when
the environment lacks its credentials.
"""

from __future__ import annotations

import os
from contextlib import AsyncExitStack, asynccontextmanager
from collections.abc import AsyncIterator, Mapping
from typing import Any

from adapters.binance.public import BinancePublic
from adapters.binance.signed import BinanceSigned
from adapters.deribit.rest import DeribitRest
from adapters.dhan.client import DhanClient
from adapters.dhan.rest import DhanRest
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
# Dhan: option chain and expiry list share one request every 3 s; quotes one per second.
DHAN_CHAIN_PER_S = 1 / 3
DHAN_QUOTES_PER_S = 1.0


def deribit_limiter(clock: Clock, metrics: EngineMetrics | None) -> TokenBucket:
    return TokenBucket(clock=clock, venue="deribit", capacity=DERIBIT_CREDITS * DERIBIT_SAFETY_FRACTION,
                       refill_per_s=DERIBIT_REFILL_PER_S, metrics=metrics)


def binance_budget(clock: Clock, metrics: EngineMetrics | None, limit: int = BINANCE_WEIGHT_PER_MIN,
                   safety_fraction: float = BINANCE_SAFETY_FRACTION) -> WindowBudget:
    return WindowBudget(clock=clock, venue="binance", limit=limit, window_s=BINANCE_WINDOW_S,
                        safety_fraction=safety_fraction, metrics=metrics)


def dhan_chain_queue(clock: Clock, metrics: EngineMetrics | None) -> TokenBucket:
    return TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=DHAN_CHAIN_PER_S, metrics=metrics)


def dhan_quote_bucket(clock: Clock, metrics: EngineMetrics | None) -> TokenBucket:
    return TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=DHAN_QUOTES_PER_S, metrics=metrics)


def dhan_credentials(dhan: Any, environ: Mapping[str, str], log: Any) -> tuple[str, str] | None:
    """(access token, client id) from the variables the config names; None, with one error
    logged per unset or empty variable (its name, never a value), when either is missing."""
    names = (dhan.access_token_env, dhan.client_id_env)
    missing = [name for name in names if not environ.get(name)]
    for name in missing:
        log.error("venue_credentials_missing", venue="dhan", variable=name)
    if missing:
        return None
    return environ[names[0]], environ[names[1]]


@asynccontextmanager
async def open_venue_clients(venues_section: Any, clock: Clock, log: Any, metrics: EngineMetrics, *,
                             timeout_s: float = DEFAULT_TIMEOUT_S,
                             environ: Mapping[str, str] | None = None) -> AsyncIterator[dict[str, Any]]:
    """Yield ``{"deribit": DeribitRest, "dhan": DhanClient, "binance": BinancePublic,
    "binance_orders": BinanceSigned}`` for the venues present in the ``[venues]`` config
    section (absent ones are left out, Dhan also when ``environ``, default ``os.environ``,
    lacks its credentials, and Binance orders when the API key or secret is unset); close
    them on exit. Binance public and signed calls share one weight budget: the IP's.

    The limiters carry the metrics, so granted weight and throttles are counted by the
    limiter (once per budget) and requests by the adapters.
    """
    environ = os.environ if environ is None else environ
    clients: dict[str, Any] = {}
    async with AsyncExitStack() as stack:
        deribit = getattr(venues_section, "deribit", None)
        if deribit is not None:
            http = await stack.enter_async_context(open_http_client(timeout_s))
            clients["deribit"] = DeribitRest(deribit.rest_url, http, deribit_limiter(clock, metrics), clock,
                                             log, metrics)
        dhan = getattr(venues_section, "dhan", None)
        credentials = dhan_credentials(dhan, environ, log) if dhan is not None else None
        if dhan is not None and credentials is not None:
            token, client_id = credentials
            http = await stack.enter_async_context(open_http_client(timeout_s))
            master_http = await stack.enter_async_context(open_http_client(timeout_s))
            rest = DhanRest(dhan.rest_url, http, dhan_chain_queue(clock, metrics), dhan_quote_bucket(clock, metrics),
                            token, client_id, clock, log, metrics)
            clients["dhan"] = DhanClient(rest, dhan.feed_url, dhan.instrument_master_url, master_http, token,
                                         client_id, clock, log)
        binance = getattr(venues_section, "binance", None)
        if binance is not None:
            http = await stack.enter_async_context(open_http_client(timeout_s))
            budget = binance_budget(clock, metrics, getattr(binance, "weight_per_min", BINANCE_WEIGHT_PER_MIN),
                                    getattr(binance, "weight_safety_fraction", BINANCE_SAFETY_FRACTION))
            clients["binance"] = BinancePublic(binance.rest_url, http, budget, clock, log, metrics)
            key_env, secret_env = getattr(binance, "api_key_env", None), getattr(binance, "api_secret_env", None)
            api_key, api_secret = environ.get(key_env or ""), environ.get(secret_env or "")
            if api_key and api_secret:  # orders share the public calls' weight budget: one per IP
                clients["binance_orders"] = BinanceSigned(binance.rest_url, http, budget, api_key, api_secret, clock,
                                                          log, metrics)
        log.info("venue_clients_open", venues=sorted(clients))
        yield clients
