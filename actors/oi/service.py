"""The OI surveillance from the engine config: its three actors, the weight arithmetic, its plan."""

from __future__ import annotations

from actors.oi.alert_actor import AlertActor
from actors.oi.alerts import AlertRules
from actors.oi.interval import max_requests_for_budget, poll_interval_s, requests_per_min
from actors.oi.liquidity import LiquidityActor
from actors.oi.poller import OIPollerActor
from engine.actor import ChildSpec, Restart
from engine.config import LoadedConfig
from engine.config_schema import ConfigError

UNIVERSE_WEIGHT = 40 + 10  # all-symbols 24 h ticker + exchangeInfo (budgeted at 10)
MARKS_WEIGHT = 10  # all-symbols premiumIndex, once per round
INDEX_PRICE_WEIGHT = 1  # premiumIndex?symbol= per index poll (ARB's index price)


def reserved_weight_per_min(loaded: LoadedConfig) -> float:
    """Weight per minute the engine's other Binance callers spend, kept out of the poller's share."""
    cfg = loaded.engine
    reserved = UNIVERSE_WEIGHT * 60.0 / cfg.oi.universe_interval_s
    if cfg.oi.mark_prices:
        reserved += MARKS_WEIGHT * 60.0 / cfg.oi.min_interval_s  # the shortest round is the costliest
    if cfg.index_prices.enabled:
        sources = sum(1 for s in cfg.index_prices.sources if s.venue == "binance")
        reserved += sources * INDEX_PRICE_WEIGHT * 60.0 / cfg.index_prices.interval_s
    return reserved


def poller_requests_per_min(loaded: LoadedConfig) -> int:
    """The configured requests/min, lowered to what the weight budget leaves after the reservation."""
    binance, section = loaded.engine.venues.binance, loaded.engine.oi
    try:
        budget = max_requests_for_budget(binance.weight_per_min, binance.weight_safety_fraction,
                                         reserved_weight_per_min(loaded))
    except ValueError as error:
        raise ConfigError(loaded.path, "oi.max_requests_per_min", str(error)) from None
    return min(section.max_requests_per_min, budget)


def alert_rules(loaded: LoadedConfig) -> AlertRules:
    section = loaded.engine.oi
    try:
        return AlertRules(pct_threshold=section.alert_pct, min_abs_delta=section.alert_min_abs_delta,
                          min_abs_fraction_of_typical=section.alert_min_abs_fraction,
                          cooldown_s=section.alert_cooldown_s, low_min=section.baseline_low_min,
                          high_min=section.baseline_high_min, min_abs_delta_by_symbol=section.min_abs_delta)
    except ValueError as error:
        raise ConfigError(loaded.path, "oi", str(error)) from None


def oi_specs(loaded: LoadedConfig) -> list[ChildSpec]:
    section = loaded.engine.oi
    if not section.enabled:
        return []
    rules, max_requests = alert_rules(loaded), poller_requests_per_min(loaded)
    return [
        ChildSpec("oi_alerts", lambda: AlertActor(rules, ring_interval_s=section.min_interval_s,
                                                  window_s=section.buffer_window_s,
                                                  alerts_maxlen=section.alerts_maxlen,
                                                  samples_maxlen=section.samples_maxlen), restart=Restart.PERMANENT),
        ChildSpec("oi_poller", lambda: OIPollerActor(
            max_requests, section.min_interval_s, section.max_interval_s, section.mark_prices, section.backfill,
            section.buffer_window_s, samples_maxlen=section.samples_maxlen), restart=Restart.PERMANENT),
        ChildSpec("oi_universe", lambda: LiquidityActor(section.universe_interval_s, section.enter_quote_volume_usdt,
                                                        section.exit_quote_volume_usdt), restart=Restart.PERMANENT),
    ]


def oi_plan_lines(loaded: LoadedConfig) -> list[str]:
    """What ``run.py --check`` prints: the weight arithmetic and what it gives for typical universes."""
    section = loaded.engine.oi
    if not section.enabled:
        return []
    binance = loaded.engine.venues.binance
    max_requests = poller_requests_per_min(loaded)
    examples = ", ".join(
        f"{n} symbols every {poll_interval_s(n, max_requests, section.min_interval_s, section.max_interval_s):g} s "
        f"({requests_per_min(n, poll_interval_s(n, max_requests, section.min_interval_s, section.max_interval_s)):.0f}"
        f"/min)" for n in (100, 300, 600))
    return [
        f"oi: weight {binance.weight_per_min}/min x {binance.weight_safety_fraction:g}, "
        f"{reserved_weight_per_min(loaded):.0f}/min kept for the universe, mark prices and index prices -> "
        f"poller at most {max_requests} requests/min",
        f"oi: {examples}",
        f"oi: universe every {section.universe_interval_s:g} s, enter >= {section.enter_quote_volume_usdt:,.0f} "
        f"exit <= {section.exit_quote_volume_usdt:,.0f} USDT 24 h volume; alerts at {section.alert_pct:g} % against "
        f"the median of {section.baseline_low_min:g}-{section.baseline_high_min:g} min, cooldown "
        f"{section.alert_cooldown_s:g} s",
    ]
