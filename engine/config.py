"""The engine's configuration: TOML sections as typed values, per-pair JSON files, env secrets."""

from __future__ import annotations

import ipaddress
import json
import os
import tomllib
from pathlib import Path
from typing import Any, Literal, Mapping

import attrs

from engine.config_schema import (
    SECRET_WORDS,
    ConfigError,
    FieldProblem,
    in_range,
    load_section,
    non_empty,
    non_negative,
    positive,
    setting,
)

ENV_NAME_CHARS = set("ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_")


def env_name(value: str) -> str | None:
    """A secret is referenced by the name of an environment variable, never by value."""
    if value and set(value) <= ENV_NAME_CHARS and not value[0].isdigit():
        return None
    return f"must name an environment variable (upper-case letters, digits, '_'), got {value!r}"


def url_with_scheme(*schemes: str):
    def check(value: str) -> str | None:
        if any(value.startswith(s + "://") for s in schemes):
            return None
        return f"must be a URL starting with {' or '.join(s + '://' for s in schemes)}, got {value!r}"

    return check


def redis_url(value: str) -> str | None:
    if value == "embedded":
        return None
    return url_with_scheme("redis", "rediss", "unix")(value)


@attrs.frozen
class EngineSection:
    name: str = setting("engine", check=non_empty)
    heartbeat_interval_s: float = setting(1.0, check=positive)


@attrs.frozen
class LogSection:
    format: Literal["json", "console"] = "json"
    level: Literal["debug", "info", "warning", "error"] = "info"


@attrs.frozen
class RedisSection:
    url: str = setting("embedded", check=redis_url)
    max_pending_ops: int = setting(100_000, check=positive)
    flush_max_ops: int = setting(1000, check=positive)
    socket_timeout_s: float = setting(2.0, check=positive)


@attrs.frozen
class ApiSection:
    host: str = setting("127.0.0.1", check=non_empty)
    port: int = setting(8080, check=in_range(0, 65535))
    admin_token_env: str = setting("ENGINE_ADMIN_TOKEN", check=env_name)

    @property
    def loopback(self) -> bool:
        if self.host == "localhost":
            return True
        try:
            return ipaddress.ip_address(self.host).is_loopback
        except ValueError:
            return False


@attrs.frozen
class SupervisorSection:
    max_restarts: int = setting(5, check=non_negative)
    window_s: float = setting(30.0, check=positive)
    backoff_initial_s: float = setting(0.5, check=positive)
    backoff_max_s: float = setting(30.0, check=positive)
    backoff_multiplier: float = setting(2.0, check=in_range(1.0, 10.0))
    jitter_fraction: float = setting(0.2, check=in_range(0.0, 1.0))
    stable_after_s: float = setting(60.0, check=positive)
    cleanup_window_s: float = setting(5.0, check=positive)

    def validate(self) -> list[tuple[str, str]]:
        if self.backoff_max_s < self.backoff_initial_s:
            return [("backoff_max_s", f"must be >= backoff_initial_s ({self.backoff_initial_s}), got {self.backoff_max_s}")]
        return []


@attrs.frozen
class DeribitVenue:
    rest_url: str = setting("https://www.deribit.com/api/v2", check=url_with_scheme("http", "https"))
    ws_url: str = setting("wss://www.deribit.com/ws/api/v2", check=url_with_scheme("ws", "wss"))


@attrs.frozen
class DhanVenue:
    rest_url: str = setting("https://api.dhan.co/v2", check=url_with_scheme("http", "https"))
    feed_url: str = setting("wss://api-feed.dhan.co", check=url_with_scheme("ws", "wss"))
    access_token_env: str = setting("DHAN_ACCESS_TOKEN", check=env_name)
    client_id_env: str = setting("DHAN_CLIENT_ID", check=env_name)
    instrument_master_url: str = setting("https://images.dhan.co/api-data/api-scrip-master-detailed.csv",
                                         check=url_with_scheme("http", "https"))


@attrs.frozen
class BinanceVenue:
    rest_url: str = setting("https://fapi.binance.com", check=url_with_scheme("http", "https"))
    ws_url: str = setting("wss://fstream.binance.com", check=url_with_scheme("ws", "wss"))
    api_key_env: str = setting("BINANCE_API_KEY", check=env_name)
    api_secret_env: str = setting("BINANCE_API_SECRET", check=env_name)
    weight_per_min: int = setting(2400, check=positive)  # the IP's request-weight limit, shared by every caller
    weight_safety_fraction: float = setting(0.9, check=in_range(0.1, 1.0))  # kept for other processes on the IP


@attrs.frozen
class VenuesSection:
    deribit: DeribitVenue | None = None
    dhan: DhanVenue | None = None
    binance: BinanceVenue | None = None


@attrs.frozen
class PairConfig:
    """One market-making pair's file: its identity checked here, the strategy parameters kept in
    ``document`` for the market maker to validate (the engine knows no strategy)."""

    symbol: str = setting(check=non_empty)
    venue: Literal["paper", "binance"] = setting()
    enabled: bool = True
    path: str = ""
    document: dict[str, Any] = attrs.field(factory=dict, eq=False)


PAIR_IDENTITY_KEYS = ("symbol", "venue", "enabled")


@attrs.frozen
class MarketMakerSection:
    pairs: list[str] = setting(factory=tuple)


@attrs.frozen
class SimSection:
    """The simulated venues on loopback: the offline default of ``configs/dev.toml``."""

    enabled: bool = False
    seed: int = 7
    host: str = setting("127.0.0.1", check=non_empty)
    control_port: int = setting(8090, check=in_range(0, 65535))
    deribit_port: int = setting(8091, check=in_range(0, 65535))
    dhan_port: int = setting(8092, check=in_range(0, 65535))
    binance_port: int = setting(8093, check=in_range(0, 65535))
    ws_ping_interval_s: float = setting(10.0, check=positive)

    def validate(self) -> list[tuple[str, str]]:
        ports = [p for p in (self.control_port, self.deribit_port, self.dhan_port, self.binance_port) if p]
        if len(set(ports)) != len(ports):
            return [("control_port", "the simulator's ports must differ from each other")]
        return []


def hhmm(value: str) -> str | None:
    hours, _, minutes = value.partition(":")
    if hours.isdigit() and minutes.isdigit() and len(minutes) == 2 and int(hours) < 24 and int(minutes) < 60:
        return None
    return f"must be a UTC time of day as HH:MM, got {value!r}"


def market_name(value: str) -> str | None:
    if value.isalnum() and value.isupper():
        return None
    return f"must be an upper-case market name like 'BTC', got {value!r}"


@attrs.frozen
class IndexSourceConfig:
    """Where one market's index price comes from (ARB has no Deribit index: Binance)."""

    market: str = setting(check=market_name)
    venue: Literal["deribit", "binance"] = setting()
    index: str = setting(check=non_empty)


@attrs.frozen
class IndexPricesSection:
    enabled: bool = False
    interval_s: float = setting(5.0, check=positive)
    sources: list[IndexSourceConfig] = setting(factory=tuple)

    def validate(self) -> list[tuple[str, str]]:
        markets = [s.market for s in self.sources]
        duplicated = sorted({m for m in markets if markets.count(m) > 1})
        return [("sources", f"market {duplicated[0]!r} has more than one source")] if duplicated else []


@attrs.frozen
class InstrumentMarketConfig:
    """Per-market overrides of the listing policy and the strike interval table."""

    dailies: int | None = setting(None, check=non_negative)
    weeklies: int | None = setting(None, check=non_negative)
    monthlies: int | None = setting(None, check=non_negative)
    quarterlies: int | None = setting(None, check=non_negative)
    vol_threshold: float | None = setting(None, check=positive)
    intervals: dict[str, dict[str, list[float]]] | None = None


@attrs.frozen
class InstrumentsSection:
    enabled: bool = False
    run_at_utc: str = setting("08:00", check=hhmm)
    run_at_start: bool = True
    startup_wait_s: float = setting(15.0, check=non_negative)
    max_index_age_s: float = setting(60.0, check=positive)
    vol_threshold: float | None = setting(None, check=positive)  # None: each market's own default
    sadd_chunk: int = setting(1000, check=positive)
    markets: dict[str, InstrumentMarketConfig] = setting(factory=dict)


def chain_symbol(value: str) -> str | None:
    """Dhan symbols (NIFTY, M&M, BAJAJ-AUTO) end up inside Redis key hash tags: no braces or colons."""
    if value and value == value.upper() and not set(value) & set("{}: ") and value[0].isalnum():
        return None
    return f"must be an upper-case symbol like 'NIFTY' (no braces, colons or spaces), got {value!r}"


@attrs.frozen
class ChainUnderlyingConfig:
    """One underlying whose option chains the engine keeps live; the kind sets the strike window."""

    name: str = setting(check=chain_symbol)
    security_id: int = setting(check=non_negative)
    segment: Literal["IDX_I", "NSE_EQ", "BSE_EQ", "MCX_COMM", "NSE_FNO", "BSE_FNO"] = setting()
    kind: Literal["index_major", "index_minor", "stock", "mcx"] = setting()
    expiries: int = setting(2, check=in_range(1, 12))  # how many nearest expiries to build
    # The segment the option-chain and expiry-list APIs name the underlying by, when it is not
    # the one it is quoted on (the feed and LTP use ``segment``); unset: ``segment``.
    chain_segment: Literal["IDX_I", "NSE_EQ", "BSE_EQ", "MCX_COMM", "NSE_FNO", "BSE_FNO"] | None = None


@attrs.frozen
class OptionChainSection:
    """Live Dhan option chains: what to build and how often the REST queue refreshes greeks and OI."""

    enabled: bool = False
    refresh_interval_s: float = setting(30.0, check=in_range(30.0, 60.0))
    cache_write_interval_s: float = setting(0.25, check=in_range(0.01, 0.25))
    feed_mode: Literal["ticker", "quote", "full"] = "full"
    watchdog_silence_s: float = setting(15.0, check=positive)
    # Tokens per feed connection: Dhan allows 5000; fewer spreads a small feed over more connections (at most 5).
    max_tokens_per_connection: int = setting(5000, check=in_range(1, 5000))
    feed_backoff_initial_s: float = setting(1.0, check=positive)
    feed_backoff_max_s: float = setting(30.0, check=positive)
    reserved_per_minute: int = setting(2, check=in_range(0, 19))  # queue slots kept for expiry lists, manual refreshes
    market_check_interval_s: float = setting(30.0, check=positive)
    underlyings: list[ChainUnderlyingConfig] = setting(factory=tuple)

    def validate(self) -> list[tuple[str, str]]:
        names = [u.name for u in self.underlyings]
        for i, name in enumerate(names):
            if names.index(name) != i:
                return [(f"underlyings[{i}].name", f"{name!r} is listed twice")]
        tokens = [(u.segment, u.security_id) for u in self.underlyings]
        for i, token in enumerate(tokens):
            if tokens.index(token) != i:
                return [(f"underlyings[{i}].security_id", f"{token[0]} {token[1]} is already {names[tokens.index(token)]}")]
        if self.feed_backoff_max_s < self.feed_backoff_initial_s:
            return [("feed_backoff_max_s", f"must be >= feed_backoff_initial_s ({self.feed_backoff_initial_s})")]
        if self.enabled and not self.underlyings:
            return [("underlyings", "enabled needs at least one [[optionchain.underlyings]] entry")]
        return []


def usdt_symbol(value: str) -> str | None:
    if 2 <= len(value) <= 30 and value.isalnum() and value == value.upper():
        return None
    return f"must be an upper-case symbol like 'BTCUSDT', got {value!r}"


@attrs.frozen
class OiSection:
    """Open-interest surveillance on Binance USDT perpetuals (liquid universe, poller, alerts)."""

    enabled: bool = False
    universe_interval_s: float = setting(300.0, check=positive)
    enter_quote_volume_usdt: float = setting(4_000_000.0, check=positive)
    exit_quote_volume_usdt: float = setting(2_000_000.0, check=positive)
    max_requests_per_min: int = setting(2000, check=positive)  # the poller's share of the weight budget
    min_interval_s: float = setting(5.0, check=positive)
    max_interval_s: float = setting(20.0, check=positive)
    mark_prices: bool = True  # one all-symbols premiumIndex per round: OI in USD
    buffer_window_s: float = setting(3 * 3600.0, check=positive)  # what each symbol's ring buffer covers
    samples_maxlen: int = setting(5000, check=positive)  # cap of each oi:samples:{symbol} stream
    alerts_maxlen: int = setting(10_000, check=positive)
    backfill: bool = True  # openInterestHist (5 m) at start and when a symbol enters
    alert_pct: float = setting(5.0, check=positive)
    alert_min_abs_delta: float = setting(0.0, check=non_negative)  # contracts
    alert_min_abs_fraction: float | None = setting(None, check=in_range(0.0, 1.0))  # of the symbol's typical OI
    alert_cooldown_s: float = setting(900.0, check=non_negative)
    baseline_low_min: float = setting(30.0, check=non_negative)
    baseline_high_min: float = setting(60.0, check=positive)
    min_abs_delta: dict[str, float] = setting(factory=dict)  # per symbol, overrides alert_min_abs_delta

    def validate(self) -> list[tuple[str, str]]:
        if self.enter_quote_volume_usdt <= self.exit_quote_volume_usdt:
            return [("enter_quote_volume_usdt", f"must be > exit_quote_volume_usdt ({self.exit_quote_volume_usdt:g}) "
                                                f"for the hysteresis, got {self.enter_quote_volume_usdt:g}")]
        if self.max_interval_s < self.min_interval_s:
            return [("max_interval_s", f"must be >= min_interval_s ({self.min_interval_s:g})")]
        if self.baseline_high_min <= self.baseline_low_min:
            return [("baseline_high_min", f"must be > baseline_low_min ({self.baseline_low_min:g})")]
        if self.buffer_window_s < self.baseline_high_min * 60:
            return [("buffer_window_s", f"must cover the baseline window ({self.baseline_high_min * 60:g} s)")]
        for symbol, delta in self.min_abs_delta.items():
            if usdt_symbol(symbol) or delta < 0:
                return [(f"min_abs_delta.{symbol}", usdt_symbol(symbol) or f"must be >= 0, got {delta}")]
        return []


@attrs.frozen
class EngineConfig:
    engine: EngineSection = setting(factory=EngineSection)
    log: LogSection = setting(factory=LogSection)
    redis: RedisSection = setting(factory=RedisSection)
    api: ApiSection = setting(factory=ApiSection)
    supervisor: SupervisorSection = setting(factory=SupervisorSection)
    venues: VenuesSection = setting(factory=VenuesSection)
    marketmaker: MarketMakerSection = setting(factory=MarketMakerSection)
    sim: SimSection = setting(factory=SimSection)
    index_prices: IndexPricesSection = setting(factory=IndexPricesSection)
    instruments: InstrumentsSection = setting(factory=InstrumentsSection)
    optionchain: OptionChainSection = setting(factory=OptionChainSection)
    oi: OiSection = setting(factory=OiSection)

    def validate(self) -> list[tuple[str, str]]:
        """Cross-section rules: every listed market needs an index source and its venue."""
        problems = []
        sources = {s.market: s for s in self.index_prices.sources}
        if self.instruments.enabled:
            for market in self.instruments.markets:
                if market_name(market):
                    problems.append((f"instruments.markets.{market}", market_name(market) or ""))
                elif market not in sources:
                    problems.append((f"instruments.markets.{market}", f"no [[index_prices.sources]] entry for {market}"))
            if not self.index_prices.enabled:
                problems.append(("instruments.enabled", "needs index_prices.enabled = true"))
        if self.optionchain.enabled and self.venues.dhan is None:
            problems.append(("optionchain.enabled", "[venues.dhan] is not configured"))
        if self.oi.enabled and self.venues.binance is None:
            problems.append(("oi.enabled", "[venues.binance] is not configured"))
        if self.index_prices.enabled:
            for i, source in enumerate(self.index_prices.sources):
                if getattr(self.venues, source.venue) is None:
                    problems.append((f"index_prices.sources[{i}].venue", f"[venues.{source.venue}] is not configured"))
        return problems[:1]


@attrs.frozen
class LoadedConfig:
    """The validated TOML plus everything resolved from it at start-up."""

    path: str
    engine: EngineConfig
    pairs: tuple[PairConfig, ...] = ()
    admin_token: str | None = None


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ConfigError(str(path), "-", f"cannot read file: {exc.strerror or exc}") from None
    try:
        return tomllib.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(str(path), "-", "not UTF-8 text") from None
    except RecursionError:
        raise ConfigError(str(path), "-", "invalid TOML: nested too deeply") from None
    except ValueError as exc:  # TOMLDecodeError, and an integer of more digits than int() reads
        raise ConfigError(str(path), "-", f"invalid TOML: {exc}") from None


def _load_pair(path: Path, seen: dict[str, str]) -> PairConfig:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(str(path), "-", f"cannot read file: {exc.strerror or exc}") from None
    except RecursionError:
        raise ConfigError(str(path), "-", "invalid JSON: nested too deeply") from None
    except ValueError as exc:  # JSONDecodeError, bad UTF-8, an integer of more digits than int() reads
        raise ConfigError(str(path), "-", f"invalid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ConfigError(str(path), "-", "must be a JSON object")
    for name in data:  # secrets are refused in the whole file, not only in the identity keys
        if any(word in name.lower() for word in SECRET_WORDS) and not name.endswith("_env"):
            raise ConfigError(str(path), name, "secrets never go in config files: put it in an environment "
                                               f"variable and name that variable with '{name}_env'")
    try:
        pair = load_section(PairConfig, {k: v for k, v in data.items() if k in PAIR_IDENTITY_KEYS})
    except FieldProblem as problem:
        raise ConfigError(str(path), problem.key, problem.reason) from None
    pair = attrs.evolve(pair, path=str(path), document=data)
    if pair.symbol in seen:
        raise ConfigError(str(path), "symbol", f"{pair.symbol!r} is already configured by {seen[pair.symbol]}")
    seen[pair.symbol] = str(path)
    return pair


def load_config(path: str | os.PathLike[str], environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate everything start-up needs; raise ConfigError naming file and key."""
    environ = os.environ if environ is None else environ
    toml_path = Path(path)
    data = _read_toml(toml_path)
    try:
        config = load_section(EngineConfig, data)
    except FieldProblem as problem:
        raise ConfigError(str(toml_path), problem.key, problem.reason) from None
    seen: dict[str, str] = {}
    pairs = []
    for index, rel in enumerate(config.marketmaker.pairs):
        try:
            pair_path = (toml_path.parent / rel).resolve()
        except (OSError, ValueError) as exc:  # a NUL byte, a symlink loop
            raise ConfigError(str(toml_path), f"marketmaker.pairs[{index}]",
                              f"not a usable path {rel!r}: {exc}") from None
        if not pair_path.is_file():
            raise ConfigError(str(toml_path), f"marketmaker.pairs[{index}]", f"pair file {rel!r} not found")
        pairs.append(_load_pair(pair_path, seen))
    admin_token = environ.get(config.api.admin_token_env) or None
    if not config.api.loopback and not admin_token:
        raise ConfigError(
            str(toml_path),
            "api.admin_token_env",
            f"api.host {config.api.host!r} is not loopback, so admin endpoints need a bearer token: "
            f"set the environment variable {config.api.admin_token_env}",
        )
    return LoadedConfig(path=str(toml_path), engine=config, pairs=tuple(pairs), admin_token=admin_token)
