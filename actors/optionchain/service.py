"""The option chain service from the engine config: its actor, the checks at start, and its plan."""

from __future__ import annotations

import math
import os
from typing import Mapping

from actors.optionchain.actor import ChainActor, UnderlyingPlan
from actors.optionchain.schedule import QUEUE_SPACING_S, plan_refresh, start_up_time_s
from actors.optionchain.shards import MAX_CONNECTIONS, MAX_PER_CONNECTION
from actors.optionchain.windows import window_spec
from engine.actor import ChildSpec, Restart
from engine.config import LoadedConfig, OptionChainSection
from engine.config_schema import ConfigError

REQUEST_CODES = {"ticker": 15, "quote": 17, "full": 21}


def max_feed_tokens(section: OptionChainSection) -> int:
    """Upper bound of feed tokens: every window full on both sides, every expiry, plus the underlyings."""
    return sum(window_spec(u.kind).total * 2 * u.expiries + 1 for u in section.underlyings)


def underlying_plans(section: OptionChainSection) -> tuple[UnderlyingPlan, ...]:
    return tuple(UnderlyingPlan(u.name, u.security_id, u.segment, u.kind, u.expiries, u.chain_segment)
                 for u in section.underlyings)


def missing_credentials(loaded: LoadedConfig, environ: Mapping[str, str] | None = None) -> list[str]:
    """Names of the Dhan credential variables that are unset (the values are never read here)."""
    environ = os.environ if environ is None else environ
    dhan = loaded.engine.venues.dhan
    names = (dhan.access_token_env, dhan.client_id_env) if dhan is not None else ()
    return [name for name in names if not environ.get(name)]


def check_optionchain(loaded: LoadedConfig, environ: Mapping[str, str] | None = None,
                      require_credentials: bool = True) -> None:
    """Refuse at start what could only fail later: too many feed tokens, missing credentials."""
    section, path = loaded.engine.optionchain, loaded.path
    if not section.enabled:
        return
    per_connection = section.max_tokens_per_connection
    tokens, limit = max_feed_tokens(section), MAX_CONNECTIONS * per_connection
    if tokens > limit:
        cap = ("Dhan's" if per_connection == MAX_PER_CONNECTION
               else "the configured max_tokens_per_connection allows")
        raise ConfigError(path, "optionchain.underlyings",
                          f"up to {tokens} feed tokens exceed {cap} {limit} ({MAX_CONNECTIONS} connections x "
                          f"{per_connection}): build fewer expiries or underlyings")
    missing = missing_credentials(loaded, environ) if require_credentials else []
    if missing:
        raise ConfigError(path, "venues.dhan", f"optionchain needs the Dhan credentials: set the "
                                               f"environment variable {missing[0]}")


def optionchain_specs(loaded: LoadedConfig, require_credentials: bool = True) -> list[ChildSpec]:
    """The chain actor; ``require_credentials=False`` for ``--check``, which reports them instead."""
    section = loaded.engine.optionchain
    if not section.enabled:
        return []
    check_optionchain(loaded, require_credentials=require_credentials)
    plans = underlying_plans(section)

    def make() -> ChainActor:
        return ChainActor(
            plans, refresh_interval_s=section.refresh_interval_s, cache_write_interval_s=section.cache_write_interval_s,
            request_code=REQUEST_CODES[section.feed_mode], watchdog_silence_s=section.watchdog_silence_s,
            max_tokens_per_connection=section.max_tokens_per_connection,
            feed_backoff_initial_s=section.feed_backoff_initial_s, feed_backoff_max_s=section.feed_backoff_max_s,
            reserved_per_minute=section.reserved_per_minute, market_check_interval_s=section.market_check_interval_s,
        )

    return [ChildSpec("optionchain", make, restart=Restart.PERMANENT)]


def optionchain_plan_lines(loaded: LoadedConfig) -> list[str]:
    """What ``run.py --check`` prints: the REST schedule and the feed size this config implies."""
    section = loaded.engine.optionchain
    if not section.enabled:
        return []
    chains = sum(u.expiries for u in section.underlyings)
    startup_s = start_up_time_s(len(section.underlyings), [u.expiries for u in section.underlyings])
    refresh = plan_refresh(chains, section.refresh_interval_s, reserved_per_minute=section.reserved_per_minute)
    tokens = max_feed_tokens(section)
    listing = ", ".join(f"{u.name} ({u.kind}, {window_spec(u.kind).total} strikes x {u.expiries} expiries)"
                        for u in section.underlyings)
    missing = missing_credentials(loaded)
    credentials = (f"optionchain: credentials: {', '.join(missing)} unset, the engine will refuse to start"
                   if missing else "optionchain: credentials: set")
    return [
        f"optionchain: {listing}",
        credentials,
        f"optionchain: REST queue one request per {QUEUE_SPACING_S:g} s shared by option chains and expiry lists",
        f"optionchain: start-up {len(section.underlyings)} expiry lists + {chains} chains = {startup_s:g} s of queue",
        f"optionchain: refresh of greeks/IV/OI: {refresh.summary()}; "
        f"{section.reserved_per_minute} requests/min kept for expiry lists and manual refreshes",
        f"optionchain: feed up to {tokens} tokens -> {max(1, math.ceil(tokens / section.max_tokens_per_connection))} of "
        f"{MAX_CONNECTIONS} connections ({section.feed_mode} mode); cache written every "
        f"{section.cache_write_interval_s * 1000:g} ms per changed chain",
    ]
