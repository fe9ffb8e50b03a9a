"""The market makers from the engine config: one actor per enabled pair, the book feeds, the plan.

Each pair file (``[marketmaker] pairs``) is validated by ``actors.marketmaker.params``; a
bad value is a ``ConfigError`` naming the pair file and the dotted key
(``config error: .../btcusdt.json: near.levels: must be an integer between 1 and 50, got 0``),
so start-up stops with exit code 2 and one line.

Every pair needs ``[venues.binance]``: the tick/step/notional rules come from its
exchangeInfo (paper pairs too: the paper venue trades on the real venue's grid), and
stream-book pairs read its partial-depth stream. A ``binance`` pair also needs the API key
and secret in the environment variables that section names, checked at start (``--check``
reports them instead of refusing).

Children, in start order (they stop in reverse, so the market makers cancel their orders
while the books still flow): ``mm_books`` (one combined depth stream for the stream-book
pairs), ``mm_books_redis`` (the pairs whose book another service writes to Redis), then
``mm_<SYMBOL>`` per pair.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.batches import BATCH_COST_10S, MAX_PLACE_PER_BATCH
from actors.marketmaker.book_feed import BookFeedActor
from actors.marketmaker.params import PairParams, PairParamsError, parse_pair_params
from engine.actor import ChildSpec, Restart
from engine.config import LoadedConfig, PairConfig
from engine.config_schema import ConfigError

STREAM_BOOKS = "mm_books"
REDIS_BOOKS = "mm_books_redis"
ACCOUNT_PER_MIN = 1200  # Binance USDⓈ-M orders per minute per account


def actor_name(symbol: str) -> str:
    return f"mm_{symbol}"


def enabled_pairs(loaded: LoadedConfig) -> tuple[PairConfig, ...]:
    return tuple(pair for pair in loaded.pairs if pair.enabled)


def pair_params(pair: PairConfig) -> PairParams:
    """The validated parameters of one pair file; ConfigError naming the file and the key."""
    try:
        return parse_pair_params(pair.document)
    except PairParamsError as error:
        key, _, reason = str(error).partition(": ")
        raise ConfigError(pair.path, key, reason or str(error)) from None


def missing_credentials(loaded: LoadedConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the Binance API key/secret variables that are unset (their values are never read here)."""
    environ = os.environ if environ is None else environ
    binance = loaded.engine.venues.binance
    names = (binance.api_key_env, binance.api_secret_env) if binance is not None else ()
    return [name for name in names if not environ.get(name)]


def check_pairs(loaded: LoadedConfig, environ: Mapping[str, str] | None = None,
                require_credentials: bool = True) -> tuple[PairParams, ...]:
    """Every enabled pair's parameters, or the ConfigError start-up stops on."""
    pairs = enabled_pairs(loaded)
    params = tuple(pair_params(pair) for pair in pairs)
    if not params:
        return params
    if loaded.engine.venues.binance is None:
        first = pairs[0]
        raise ConfigError(loaded.path, "venues.binance",
                          f"not configured, but pair {first.symbol} ({first.path}) needs it: exchangeInfo for "
                          f"the tick and step sizes, and the book stream or the orders")
    binance_pairs = [p for p in params if p.venue == "binance"]
    missing = missing_credentials(loaded, environ) if require_credentials and binance_pairs else []
    if missing:
        raise ConfigError(loaded.path, "venues.binance",
                          f"pair {binance_pairs[0].symbol} trades on Binance: set the environment variable "
                          f"{missing[0]} (the API key and secret)")
    return params


def mm_specs(loaded: LoadedConfig, require_credentials: bool = True,
             environ: Mapping[str, str] | None = None) -> list[ChildSpec]:
    """The book feeds and one market maker per enabled pair; ``require_credentials=False`` for ``--check``."""
    params = check_pairs(loaded, environ, require_credentials)
    if not params:
        return []
    binance = loaded.engine.venues.binance
    assert binance is not None  # check_pairs refused it otherwise
    specs = []
    stream = tuple(p.symbol for p in params if p.book_source == "stream")
    redis = tuple(p.symbol for p in params if p.book_source == "redis")
    if stream:
        specs.append(ChildSpec(STREAM_BOOKS, lambda: BookFeedActor(stream, "stream", ws_url=binance.ws_url),
                               restart=Restart.PERMANENT))
    if redis:
        specs.append(ChildSpec(REDIS_BOOKS, lambda: BookFeedActor(redis, "redis"), restart=Restart.PERMANENT))
    for pair in params:
        specs.append(ChildSpec(actor_name(pair.symbol), _factory(pair), restart=Restart.PERMANENT))
    return specs


def _factory(params: PairParams):  # type: ignore[no-untyped-def]
    """A fresh actor per (re)start: a paper pair builds a fresh PaperVenue, a Binance pair uses
    the shared signed client (``ctx.venues["binance_orders"]``)."""
    return lambda: MarketMakerActor(params)


# --------------------------------------------------------------------------- the plan


def rounds_per_window(window_s: float, interval_s: float) -> int:
    """At most this many rounds start inside one fixed window (rounds are >= interval_s apart)."""
    return math.ceil(window_s / interval_s)


def worst_case_orders(params: PairParams, window_s: float) -> tuple[int, int]:
    """(new orders, 10 s order-count charge) in one window when every round replaces both full
    ladders: each batchOrders call counts BATCH_COST_10S in the 10 s window, its size per minute."""
    orders = charge = 0
    for levels, interval_s in ((params.near.levels, params.near_interval_s),
                               (params.far.levels, params.far_interval_s)):
        if levels == 0:
            continue
        per_round = 2 * levels
        rounds = rounds_per_window(window_s, interval_s)
        orders += rounds * per_round
        charge += rounds * math.ceil(per_round / MAX_PLACE_PER_BATCH) * BATCH_COST_10S
    return orders, charge


def pair_plan_lines(params: PairParams) -> list[str]:
    rate = params.order_rate
    per_min, _ = worst_case_orders(params, 60.0)
    _, charge_10s = worst_case_orders(params, 10.0)
    limit_min = math.floor(rate.per_min * rate.safety_fraction + 1e-9)
    limit_10s = math.floor(rate.per_10s * rate.safety_fraction + 1e-9)
    within = per_min <= limit_min and charge_10s <= limit_10s
    far = (f"far {params.far.levels} levels x2 every {params.far_interval_s:g} s "
           f"({float(params.far.range_pct[0]):g}-{float(params.far.range_pct[1]):g} % from the mid)"
           if params.far.levels else "no far ladder")
    return [
        f"mm {params.symbol}: venue {params.venue}, book {params.book_source}; near {params.near.levels} levels x2 "
        f"every {params.near_interval_s:g} s (from {float(params.near.first_spread_rate) * 1e4:g} bps, step "
        f"{float(params.near.step_rate) * 1e4:g} bps, size {params.near.size}); {far}; max position "
        f"{params.max_position}, stale book after {params.stale_book_ms} ms",
        f"mm {params.symbol}: worst case {per_min} orders/min (budget {limit_min} = {rate.per_min} x "
        f"{rate.safety_fraction:g}), 10 s order count {charge_10s} (5 per batch call; budget {limit_10s}) -> "
        + ("within the budget" if within else "over the budget: the rest of each round is deferred"),
    ]


def mm_plan_lines(loaded: LoadedConfig) -> list[str]:
    """What ``run.py --check`` prints for the market makers (a bad pair file raises ConfigError)."""
    params = check_pairs(loaded, require_credentials=False)
    if not params:
        return []
    lines: list[str] = []
    for pair in params:
        lines.extend(pair_plan_lines(pair))
    stream = [p.symbol for p in params if p.book_source == "stream"]
    redis = [p.symbol for p in params if p.book_source == "redis"]
    binance = loaded.engine.venues.binance
    if stream and binance is not None:
        lines.append(f"mm books: one depth stream ({', '.join(stream)}) from {binance.ws_url}")
    if redis:
        lines.append(f"mm books: read from Redis orderbook:binance:{{SYMBOL}} for {', '.join(redis)}")
    live = [p for p in params if p.venue == "binance"]
    if live:
        total = sum(worst_case_orders(p, 60.0)[0] for p in live)
        budgets = sum(p.order_rate.per_min for p in live)
        lines.append(f"mm binance account: {len(live)} pair(s), worst case {total} orders/min together; their "
                     f"order_rate.per_min add up to {budgets} (one account: Binance allows {ACCOUNT_PER_MIN}/min)"
                     + (" -> over: split it between the pair files" if budgets > ACCOUNT_PER_MIN else ""))
        missing = missing_credentials(loaded)
        lines.append(f"mm credentials: {', '.join(missing)} unset, the engine will refuse to start" if missing
                     else "mm credentials: set")
    return lines
