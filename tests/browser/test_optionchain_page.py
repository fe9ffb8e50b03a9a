"""The option-chain pages in Chromium, on the simulated Dhan: the chain list, one chain around
its ATM with calls and puts, and live updates (ticks, an underlying jump moving the ATM)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from actors.optionchain.api import optionchain_router
from actors.optionchain.page import DEFAULT_AROUND, LEG_COLUMNS, fmt_strike
from actors.optionchain.service import check_optionchain, optionchain_specs
from engine.pages import fmt_number
from tests.browser.browser_support import (
    engine_thread, click, console_problems, control_action, engine_config, mark_page, same_page, text_of, texts,
    wait_for,
)

SECTIONS = """
[optionchain]
enabled = true
refresh_interval_s = 30.0
cache_write_interval_s = 0.25
feed_mode = "full"
[[optionchain.underlyings]]
name = "NIFTY"
security_id = 13
segment = "IDX_I"
kind = "index_major"
expiries = 1
"""


def chain_specs(loaded: Any, environ: dict[str, str]) -> list[Any]:
    check_optionchain(loaded, environ)  # the credentials the simulator set in the engine's environment
    return optionchain_specs(loaded, require_credentials=False)


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, engine_redis_url: str) -> Iterator[tuple[str, str]]:
    directory: Path = tmp_path_factory.mktemp("optionchain")
    loaded, control_url = engine_config(directory, engine_redis_url, SECTIONS)
    thread = engine_thread(loaded, chain_specs, [optionchain_router])
    base_url = thread.start()
    try:
        yield base_url, control_url
    finally:
        assert thread.stop() == 0


@pytest.fixture(scope="module")
def chain(engine: tuple[str, str]) -> tuple[str, str]:
    """(underlying, expiry) of the chain, once the engine has built it."""
    base_url, _ = engine
    listing = wait_for("the NIFTY chain built", lambda: [c for c in httpx.get(base_url + "/optionchain/chains").json()
                                                         ["chains"] if c["underlying"] == "NIFTY" and not c["stale"]])
    return "NIFTY", listing[0]["expiry"]


def document(base_url: str, chain: tuple[str, str]) -> dict[str, Any]:
    response = httpx.get(base_url + "/optionchain/live", params={"underlying": chain[0], "expiry": chain[1]})
    assert response.status_code == 200, response.text
    return response.json()


def strikes_on_page(driver: WebDriver) -> list[str]:
    return [s.replace(" ATM", "") for s in texts(driver, "#chain tbody td.strike")]


def test_the_list_links_to_the_chain(browser: WebDriver, engine: tuple[str, str], chain: tuple[str, str]) -> None:
    base_url, _ = engine
    browser.get(base_url + "/pages/optionchain")
    row = wait_for("the chain in the list", lambda: text_of(browser, f'#chains tr[data-chain="NIFTY {chain[1]}"]'))
    assert chain[1] in row and "live" in row
    click(browser, By.LINK_TEXT, "NIFTY")
    wait_for("the chain page", lambda: text_of(browser, "h1") == f"NIFTY {chain[1]} option chain")
    assert console_problems(browser) == []


def test_the_chain_shows_calls_and_puts_around_the_marked_atm(browser: WebDriver, engine: tuple[str, str],
                                                              chain: tuple[str, str]) -> None:
    base_url, _ = engine
    browser.get(f"{base_url}/pages/optionchain?underlying={chain[0]}&expiry={chain[1]}")
    wait_for("the chain table", lambda: texts(browser, "#chain tbody tr"))
    headers = texts(browser, "#chain thead tr:nth-child(2) th")
    labels = [label for _, label, _ in LEG_COLUMNS]
    assert headers == labels[::-1] + labels  # calls mirrored left of the strike, puts to the right

    def consistent() -> tuple[dict[str, Any], list[str]] | None:
        """The page and the cache agree on the ATM and the window around it (both move with the market)."""
        doc, strikes = document(base_url, chain), strikes_on_page(browser)
        atm = texts(browser, "#chain tr.atm td.strike")
        rows = doc["rows"]
        centre = [r["strike"] for r in rows].index(doc["atm_strike"])
        window = [fmt_strike(r["strike"]) for r in rows[max(0, centre - DEFAULT_AROUND):centre + DEFAULT_AROUND + 1]]
        if atm == [f"{fmt_strike(doc['atm_strike'])} ATM"] and strikes == window:
            return doc, strikes
        return None

    doc, strikes = wait_for("the page's window around the ATM to match the cache", consistent)
    assert len(strikes) == 2 * DEFAULT_AROUND + 1  # 100 listed strikes: the full window fits
    assert text_of(browser, "#atm-strike") == fmt_strike(doc["atm_strike"])
    assert doc["rows"][0]["ce"]["iv_pct"] is not None and doc["rows"][0]["ce"]["delta"] is not None

    def atm_legs_match() -> bool:
        """OI and IV (refreshed every 30 s, not by ticks) of the ATM row as the cache has them."""
        doc = document(base_url, chain)
        row = next(r for r in doc["rows"] if r["strike"] == doc["atm_strike"])
        page = {f"{side}-{field}": text_of(browser, f"#chain tr.atm td.{side}-{field}")
                for side in ("ce", "pe") for field in ("oi", "iv_pct", "delta")}
        wanted = {f"{side}-{field}": fmt_number(row[side][field], digits)
                  for side in ("ce", "pe") for field, digits in (("oi", 0), ("iv_pct", 2), ("delta", 4))}
        return page == wanted

    wait_for("the ATM row's OI, IV and delta to match the cache", atm_legs_match)
    ltp = [t for t in texts(browser, "#chain td.ce-ltp") if t != "-"]
    assert len(ltp) == len(strikes) and all(float(t.replace(",", "")) > 0 for t in ltp)
    assert console_problems(browser) == []


def test_ticks_and_a_jump_reach_the_page_without_a_reload(browser: WebDriver, engine: tuple[str, str],
                                                          chain: tuple[str, str]) -> None:
    base_url, control_url = engine
    browser.get(f"{base_url}/pages/optionchain?underlying={chain[0]}&expiry={chain[1]}")
    wait_for("the chain table", lambda: texts(browser, "#chain tr.atm"))
    token = mark_page(browser)
    prices = texts(browser, "#chain td.ce-ltp") + texts(browser, "#chain td.pe-ltp")
    wait_for("a tick to change an LTP cell",
             lambda: (now := texts(browser, "#chain td.ce-ltp") + texts(browser, "#chain td.pe-ltp"))
             and len(now) == len(prices) and now != prices)

    atm_before = float((text_of(browser, "#atm-strike") or "").replace(",", ""))
    ltp_before = float((text_of(browser, "#underlying-ltp") or "").replace(",", ""))
    control_action(control_url, "dhan", "jump_price", {"underlying": "NIFTY", "pct": 1.5})
    def atm_now() -> float:
        return float((text_of(browser, "#atm-strike") or "0").replace(",", ""))

    moved = wait_for("the ATM to move up with the underlying", lambda: (atm := atm_now()) >= atm_before + 200 and atm)
    assert float((text_of(browser, "#underlying-ltp") or "").replace(",", "")) > ltp_before * 1.01
    assert texts(browser, "#chain tr.atm td.strike") == [f"{fmt_strike(moved)} ATM"]
    assert same_page(browser, token)
    assert console_problems(browser) == []


def test_bad_parameters_are_a_400_page(engine: tuple[str, str]) -> None:
    base_url, _ = engine
    bad = httpx.get(base_url + "/pages/optionchain", params={"underlying": "NIFTY", "expiry": "<b>2026</b>"})
    assert bad.status_code == 400 and "<b>2026" not in bad.text and "&lt;b&gt;2026" in bad.text
    assert httpx.get(base_url + "/pages/optionchain", params={"underlying": "NIFTY", "expiry": "2026-01-01",
                                                              "around": "0"}).status_code == 400
    missing = httpx.get(base_url + "/pages/optionchain", params={"underlying": "NOSUCH", "expiry": "2026-01-01"})
    assert missing.status_code == 200 and "no chain NOSUCH 2026-01-01 in the cache" in missing.text
