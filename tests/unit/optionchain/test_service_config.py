"""The [optionchain] section: each broken file gets one exact line; start-up checks; the --check plan."""

from __future__ import annotations

from pathlib import Path

import pytest

from actors.optionchain.service import check_optionchain, max_feed_tokens, optionchain_plan_lines, optionchain_specs
from engine.config import load_config
from engine.config_schema import ConfigError

DHAN = '[venues.dhan]\nrest_url = "http://127.0.0.1:1/v2"\n'
NIFTY = '[[optionchain.underlyings]]\nname = "NIFTY"\nsecurity_id = 13\nsegment = "IDX_I"\nkind = "index_major"\n'
CREDENTIALS = {"DHAN_ACCESS_TOKEN": "t", "DHAN_CLIENT_ID": "1"}


def underlying(name: str, sid: int, kind: str = "index_major", expiries: int = 2, segment: str = "IDX_I") -> str:
    return (f'[[optionchain.underlyings]]\nname = "{name}"\nsecurity_id = {sid}\nsegment = "{segment}"\n'
            f'kind = "{kind}"\nexpiries = {expiries}\n')


def load(tmp_path: Path, text: str):
    path = tmp_path / "engine.toml"
    path.write_text(text)
    return load_config(path, environ={})


@pytest.mark.parametrize(("text", "expected"), [
    ("[optionchain]\nrefresh_interval_s = 20\n", "optionchain.refresh_interval_s: must be between 30.0 and 60.0, got 20.0"),
    ("[optionchain]\ncache_write_interval_s = 1.0\n",
     "optionchain.cache_write_interval_s: must be between 0.01 and 0.25, got 1.0"),
    ("[optionchain]\nfeed_mode = \"depth\"\n", "optionchain.feed_mode: must be one of 'ticker', 'quote', 'full', got 'depth'"),
    ("[optionchain]\nenabled = true\n" + DHAN, "optionchain.underlyings: enabled needs at least one "
                                               "[[optionchain.underlyings]] entry"),
    ("[optionchain]\nenabled = true\n" + NIFTY, "optionchain.enabled: [venues.dhan] is not configured"),
    (NIFTY.replace("index_major", "index"), "optionchain.underlyings[0].kind: must be one of 'index_major', "
                                            "'index_minor', 'stock', 'mcx', got 'index'"),
    (NIFTY.replace('"IDX_I"', '"NSE"'), "optionchain.underlyings[0].segment: must be one of 'IDX_I', 'NSE_EQ', "
                                        "'BSE_EQ', 'MCX_COMM', 'NSE_FNO', 'BSE_FNO', got 'NSE'"),
    (NIFTY.replace('"NIFTY"', '"nifty"'), "optionchain.underlyings[0].name: must be an upper-case symbol like "
                                          "'NIFTY' (no braces, colons or spaces), got 'nifty'"),
    (NIFTY + NIFTY, "optionchain.underlyings[1].name: 'NIFTY' is listed twice"),
    (NIFTY + NIFTY.replace('"NIFTY"', '"NIFTY50"'), "optionchain.underlyings[1].security_id: IDX_I 13 is already NIFTY"),
    (NIFTY + "expiries = 0\n", "optionchain.underlyings[0].expiries: must be between 1 and 12, got 0"),
    (NIFTY + 'chain_segment = "FNO"\n', "optionchain.underlyings[0].chain_segment: must be one of 'IDX_I', "
                                        "'NSE_EQ', 'BSE_EQ', 'MCX_COMM', 'NSE_FNO', 'BSE_FNO', got 'FNO'"),
])
def test_broken_section_gets_one_exact_line(tmp_path: Path, text: str, expected: str) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text)
    assert info.value.one_line() == f"config error: {tmp_path / 'engine.toml'}: {expected}"


def test_more_than_25000_feed_tokens_is_refused_at_start(tmp_path: Path) -> None:
    # 12 expiries x 100 strikes x 2 legs = 2400 + 1 per index: 11 of them are 26,411 tokens
    text = "[optionchain]\nenabled = true\n" + DHAN + "".join(underlying(f"IX{i}", 100 + i, expiries=11)
                                                              for i in range(12))
    loaded = load(tmp_path, text)
    assert max_feed_tokens(loaded.engine.optionchain) == 12 * (100 * 2 * 11 + 1)
    with pytest.raises(ConfigError) as info:
        check_optionchain(loaded, CREDENTIALS)
    assert "up to 26412 feed tokens exceed Dhan's 25000 (5 connections x 5000)" in info.value.one_line()
    fits = load(tmp_path, "[optionchain]\nenabled = true\n" + DHAN + "".join(
        underlying(f"IX{i}", 100 + i, expiries=10) for i in range(12)))
    check_optionchain(fits, CREDENTIALS)  # 24,012 tokens fit


def test_missing_credentials_stop_the_start_but_not_the_check(tmp_path: Path) -> None:
    loaded = load(tmp_path, "[optionchain]\nenabled = true\n" + DHAN + NIFTY)
    with pytest.raises(ConfigError) as info:
        check_optionchain(loaded, {"DHAN_CLIENT_ID": "1"})
    assert info.value.one_line().endswith("venues.dhan: optionchain needs the Dhan credentials: "
                                          "set the environment variable DHAN_ACCESS_TOKEN")
    check_optionchain(loaded, {}, require_credentials=False)
    assert [spec.name for spec in optionchain_specs(loaded, require_credentials=False)] == ["optionchain"]


def test_plan_lines_show_the_rest_schedule_and_the_effective_interval(tmp_path: Path) -> None:
    text = ("[optionchain]\nenabled = true\nrefresh_interval_s = 30\n" + DHAN
            + "".join(underlying(f"IX{i}", 100 + i, expiries=3) for i in range(4)))
    lines = optionchain_plan_lines(load(tmp_path, text))
    assert "optionchain: start-up 4 expiry lists + 12 chains = 48 s of queue" in lines
    refresh = next(line for line in lines if "refresh of greeks" in line)
    # 12 chains every 30 s = 24/min > the 18 the queue has after 2 kept: every 40 s
    assert "each refreshed every 40 s" in refresh and "INFEASIBLE" in refresh
    assert any("feed up to 2404 tokens -> 1 of 5 connections" in line for line in lines)
    assert optionchain_plan_lines(load(tmp_path, NIFTY)) == []  # disabled: nothing to plan


def test_shipped_configs_enable_the_chains() -> None:
    root = Path(__file__).resolve().parents[3]
    for name in ("dev.toml", "prod.toml"):
        section = load_config(root / "configs" / name, environ={}).engine.optionchain
        assert section.enabled and section.underlyings and max_feed_tokens(section) <= 25_000


def test_chain_segment_defaults_to_the_quoted_segment(tmp_path: Path) -> None:
    from actors.optionchain.service import underlying_plans

    stock = underlying("RELIANCE", 2885, kind="stock", segment="NSE_EQ")
    plans = underlying_plans(load(tmp_path, stock + underlying("INFY", 1594, kind="stock", segment="NSE_EQ")
                                  + 'chain_segment = "NSE_FNO"\n').engine.optionchain)
    assert [(p.token, p.rest_segment) for p in plans] == [(("NSE_EQ", 2885), "NSE_EQ"), (("NSE_EQ", 1594), "NSE_FNO")]
