"""Config loading: good files load into typed values; each broken file gets one exact line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from engine.config import load_config
from engine.config_schema import ConfigError

ROOT = Path(__file__).resolve().parents[2]

BROKEN = [
    ("[api]\nport = \"abc\"\n", "api.port: must be an integer, got 'abc'"),
    ("[api]\nport = 70000\n", "api.port: must be between 0 and 65535, got 70000"),
    ("[api]\nprot = 8080\n", "api.prot: unknown key (known keys: admin_token_env, host, port)"),
    ("[api]\nhost = \"0.0.0.0\"\n",
     "api.admin_token_env: api.host '0.0.0.0' is not loopback, so admin endpoints need a bearer token: "
     "set the environment variable ENGINE_ADMIN_TOKEN"),
    ("[api]\nadmin_token_env = \"my token\"\n",
     "api.admin_token_env: must name an environment variable (upper-case letters, digits, '_'), got 'my token'"),
    ("[redis]\nurl = \"localhost:6379\"\n",
     "redis.url: must be a URL starting with redis:// or rediss:// or unix://, got 'localhost:6379'"),
    ("[redis]\nmax_pending_ops = 0\n", "redis.max_pending_ops: must be > 0, got 0"),
    ("[log]\nformat = \"xml\"\n", "log.format: must be one of 'json', 'console', got 'xml'"),
    ("[supervisor]\nbackoff_initial_s = 5\nbackoff_max_s = 1\n",
     "supervisor.backoff_max_s: must be >= backoff_initial_s (5.0), got 1.0"),
    ("[supervisor]\nwindow_s = true\n", "supervisor.window_s: must be a number, got True"),
    ("[venues.dhan]\naccess_token = \"eyJ0eXAi\"\n",
     "venues.dhan.access_token: secrets never go in config files: put it in an environment variable "
     "and name that variable with 'access_token_env'"),
    ("[venues.binance]\nrest_url = \"fapi.binance.com\"\n",
     "venues.binance.rest_url: must be a URL starting with http:// or https://, got 'fapi.binance.com'"),
    ("[venues.kraken]\nrest_url = \"https://x\"\n", "venues.kraken: unknown key (known keys: binance, deribit, dhan)"),
    ("api = 5\n", "api: must be a table, got 5"),
    ("[marketmaker]\npairs = \"btc.json\"\n", "marketmaker.pairs: must be a list, got 'btc.json'"),
    ("[marketmaker]\npairs = [\"missing.json\"]\n", "marketmaker.pairs[0]: pair file 'missing.json' not found"),
    ("[engine]\nname = \"  \"\n", "engine.name: must not be empty"),
]


@pytest.mark.parametrize(("text", "expected"), BROKEN)
def test_broken_file_gets_one_exact_line(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "broken.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    line = info.value.one_line()
    assert line == f"config error: {path}: {expected}"
    assert "\n" not in line


def test_invalid_toml_names_line_and_column(tmp_path: Path) -> None:
    path = tmp_path / "broken.toml"
    path.write_text("[api\nport = 1\n")
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.one_line().startswith(f"config error: {path}: -: invalid TOML: ")
    assert "line 1" in info.value.one_line()


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.toml"
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.one_line() == f"config error: {path}: -: cannot read file: No such file or directory"


PAIR_BROKEN = [
    ("{not json", "-: invalid JSON: Expecting property name enclosed in double quotes: line 1 column 2 (char 1)"),
    ("[1, 2]", "-: must be a JSON object"),
    ('{"venue": "paper"}', "symbol: missing required key"),
    ('{"symbol": "BTCUSDT", "venue": "kraken"}', "venue: must be one of 'paper', 'binance', got 'kraken'"),
    ('{"symbol": "BTCUSDT", "venue": "binance", "api_secret": "s"}',
     "api_secret: secrets never go in config files: put it in an environment variable and name that variable with 'api_secret_env'"),
]


@pytest.mark.parametrize(("text", "expected"), PAIR_BROKEN)
def test_broken_pair_file_names_the_pair_file(tmp_path: Path, text: str, expected: str) -> None:
    (tmp_path / "pairs").mkdir()
    pair = tmp_path / "pairs" / "btcusdt.json"
    pair.write_text(text)
    path = tmp_path / "engine.toml"
    path.write_text('[marketmaker]\npairs = ["pairs/btcusdt.json"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.one_line() == f"config error: {pair}: {expected}"


def test_duplicate_pair_symbol_rejected(tmp_path: Path) -> None:
    for name in ("a.json", "b.json"):
        (tmp_path / name).write_text(json.dumps({"symbol": "ETHUSDT", "venue": "paper"}))
    path = tmp_path / "engine.toml"
    path.write_text('[marketmaker]\npairs = ["a.json", "b.json"]\n')
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.one_line() == (
        f"config error: {tmp_path / 'b.json'}: symbol: 'ETHUSDT' is already configured by {tmp_path / 'a.json'}"
    )


def test_pairs_load_relative_to_the_toml(tmp_path: Path) -> None:
    (tmp_path / "pairs").mkdir()
    (tmp_path / "pairs" / "btc.json").write_text(json.dumps({"symbol": "BTCUSDT", "venue": "paper"}))
    path = tmp_path / "engine.toml"
    path.write_text('[marketmaker]\npairs = ["pairs/btc.json"]\n')
    loaded = load_config(path, environ={})
    assert [(p.symbol, p.venue, p.enabled) for p in loaded.pairs] == [("BTCUSDT", "paper", True)]


def test_admin_token_comes_from_the_named_variable(tmp_path: Path) -> None:
    path = tmp_path / "engine.toml"
    path.write_text('[api]\nhost = "0.0.0.0"\nadmin_token_env = "DESK_TOKEN"\n')
    loaded = load_config(path, environ={"DESK_TOKEN": "s3cret"})
    assert loaded.admin_token == "s3cret"
    assert not loaded.engine.api.loopback


@pytest.mark.parametrize("name", ["dev.toml", "prod.toml"])
def test_shipped_configs_are_valid(name: str) -> None:
    loaded = load_config(ROOT / "configs" / name, environ={})
    assert loaded.engine.api.loopback
    assert loaded.engine.redis.url == ("embedded" if name == "dev.toml" else "redis://127.0.0.1:6379/0")


def test_defaults_when_sections_are_absent(tmp_path: Path) -> None:
    path = tmp_path / "empty.toml"
    path.write_text("")
    cfg = load_config(path, environ={}).engine
    assert (cfg.api.host, cfg.api.port, cfg.redis.url) == ("127.0.0.1", 8080, "embedded")
    assert cfg.venues.dhan is None
    assert cfg.supervisor.max_restarts == 5


def test_interval_override_errors_name_the_cell(tmp_path: Path) -> None:
    from actors.instruments.service import instruments_specs

    path = tmp_path / "engine.toml"
    path.write_text(
        '[venues.deribit]\n[index_prices]\nenabled = true\n'
        'sources = [{market = "BTC", venue = "deribit", index = "btc_usdc"}]\n'
        '[instruments]\nenabled = true\n[instruments.markets.BTC.intervals]\nle_2m = {high = [5000, 2000, 10000]}\n'
    )
    loaded = load_config(path, environ={})
    with pytest.raises(ConfigError) as info:
        instruments_specs(loaded)
    assert info.value.one_line().startswith(f"config error: {path}: instruments.markets.BTC.intervals: ")


@pytest.mark.parametrize(("text", "expected"), [
    ('[instruments]\nenabled = true\n[instruments.markets.BTC]\n', "instruments.markets.BTC: no [[index_prices.sources]] entry for BTC"),
    ('[index_prices]\nenabled = true\nsources = [{market = "BTC", venue = "deribit", index = "btc_usdc"}]\n',
     "index_prices.sources[0].venue: [venues.deribit] is not configured"),
    ('[instruments]\nrun_at_utc = "8am"\n', "instruments.run_at_utc: must be a UTC time of day as HH:MM, got '8am'"),
])
def test_instrument_config_cross_checks(tmp_path: Path, text: str, expected: str) -> None:
    path = tmp_path / "engine.toml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_config(path, environ={})
    assert info.value.one_line() == f"config error: {path}: {expected}"
