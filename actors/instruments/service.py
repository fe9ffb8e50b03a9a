"""The instrument name service's actors and routes, built from the engine config."""

from __future__ import annotations

from actors.instruments.actor import InstrumentsActor
from actors.instruments.index_price import IndexPriceActor, IndexSource
from actors.instruments.maturities import default_policy
from actors.instruments.names import strike_decimals
from actors.instruments.plan import MarketRules
from actors.instruments.strikes import IntervalTable, default_interval_table
from engine.actor import ChildSpec, Restart
from engine.config import InstrumentMarketConfig, LoadedConfig
from engine.config_schema import ConfigError


def market_rules(market: str, override: InstrumentMarketConfig, vol_threshold: float | None = None,
                 config_path: str = "config") -> MarketRules:
    """Defaults for the market, with the config's overrides on top (cells, counts, threshold)."""
    policy = default_policy(market)
    counts = {k: getattr(override, k) for k in ("dailies", "weeklies", "monthlies", "quarterlies")}
    policy = policy.with_counts(**{k: v for k, v in counts.items() if v is not None})
    table = default_interval_table(market)
    if override.intervals:
        try:
            table = IntervalTable.from_mapping(override.intervals, base=table, decimals=strike_decimals(market))
        except ValueError as error:
            raise ConfigError(config_path, f"instruments.markets.{market}.intervals", str(error)) from None
    return MarketRules(market, policy, table, override.vol_threshold or vol_threshold)


def instruments_specs(loaded: LoadedConfig) -> list[ChildSpec]:
    cfg = loaded.engine
    specs = []
    if cfg.index_prices.enabled:
        sources = [IndexSource(s.market, s.venue, s.index) for s in cfg.index_prices.sources]
        interval_s = cfg.index_prices.interval_s
        specs.append(ChildSpec("index_prices", lambda: IndexPriceActor(sources, interval_s), restart=Restart.PERMANENT))
    section = cfg.instruments
    if section.enabled:
        rules = tuple(market_rules(m, o, section.vol_threshold, loaded.path) for m, o in section.markets.items())
        specs.append(ChildSpec("instruments", lambda: InstrumentsActor(
            rules, run_at_utc=section.run_at_utc, max_index_age_s=section.max_index_age_s,
            run_at_start=section.run_at_start, startup_wait_s=section.startup_wait_s, sadd_chunk=section.sadd_chunk,
        ), restart=Restart.PERMANENT))
    return specs
