"""The instruments page in Chromium, on the simulated Deribit and Binance: per market the
maturities, the strike ladder as a picture the engine draws from memory, the last update;
and the page following ``POST /instruments`` after the index moved."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
import redis
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from actors.instruments.api import instruments_router
from actors.instruments.names import names_for
from actors.instruments.page import PNG_HEIGHT, PNG_WIDTH
from actors.instruments.service import instruments_specs
from engine import keys
from engine.pages import fmt_time
from tests.browser.browser_support import (
    engine_thread, click, console_problems, control_action, engine_config, mark_page, rows_of, same_page, text_of,
    texts, wait_for,
)

MARKETS = ("BTC", "ETH", "ARB")
SECTIONS = """
[index_prices]
enabled = true
interval_s = 1.0
sources = [{market = "BTC", venue = "deribit", index = "btc_usdc"},
           {market = "ETH", venue = "deribit", index = "eth_usdc"},
           {market = "ARB", venue = "binance", index = "ARBUSDT"}]
[instruments]
enabled = true
run_at_start = true
startup_wait_s = 20.0
[instruments.markets.BTC]
[instruments.markets.ETH]
[instruments.markets.ARB]
"""


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, engine_redis_url: str) -> Iterator[tuple[str, str, str]]:
    directory: Path = tmp_path_factory.mktemp("instruments")
    loaded, control_url = engine_config(directory, engine_redis_url, SECTIONS)
    thread = engine_thread(loaded, lambda loaded, _: instruments_specs(loaded), [instruments_router])
    base_url = thread.start()
    try:
        yield base_url, control_url, engine_redis_url
    finally:
        assert thread.stop() == 0


@pytest.fixture(scope="module")
def reader(engine: tuple[str, str, str]) -> Iterator[redis.Redis]:
    client = redis.Redis.from_url(engine[2], decode_responses=True)
    wait_for("every market listed", lambda: all(client.get(keys.instruments_updated_at(m)) for m in MARKETS))
    try:
        yield client
    finally:
        client.close()


def section(market: str) -> str:
    return f'section[data-market="{market}"]'


def picture_loaded(driver: WebDriver, market: str) -> str | None:
    """The src of the market's ladder picture once the browser has decoded it at its full size."""
    return driver.execute_script(
        "const img = document.querySelector(arguments[0]);"
        "return img && img.complete && img.naturalWidth === arguments[1] && img.naturalHeight === arguments[2]"
        " ? img.getAttribute('src') : null;", f"{section(market)} img.ladder", PNG_WIDTH, PNG_HEIGHT)


def selected_maturity(driver: WebDriver, market: str) -> str:
    heading = text_of(driver, f"{section(market)} h3") or ""
    return heading.removeprefix(f"Strike ladder of {market} ").partition(":")[0]


def picture_version(src: str) -> int:
    """The listing time (ms) a ladder picture's URL names in ``v``."""
    return int(parse_qs(urlsplit(src).query)["v"][0])


def strikes_shown(driver: WebDriver, market: str) -> list[str]:
    return (text_of(driver, f"{section(market)} .strike-list") or "").split(" · ")


def test_each_market_shows_its_maturities_ladder_and_last_update(browser: WebDriver, engine: tuple[str, str, str],
                                                                  reader: redis.Redis) -> None:
    base_url = engine[0]
    browser.get(base_url + "/pages/instruments")
    for market in MARKETS:
        wait_for(f"{market}'s ladder picture", lambda: picture_loaded(browser, market))
        updated_ms = int(reader.get(keys.instruments_updated_at(market)))
        assert text_of(browser, f"{section(market)} .updated") == fmt_time(updated_ms)
        maturities = rows_of(browser, f"{section(market)} table.maturities tbody tr")
        assert len(maturities) >= 4 and all(row[-1] == "listed" for row in maturities)
        code = selected_maturity(browser, market)
        listed = reader.smembers(keys.instruments(market))
        strikes = [float(s.replace(",", "")) for s in strikes_shown(browser, market)]
        assert len(strikes) >= 2 and strikes == sorted(strikes)
        assert set(names_for(market, code, strikes)) <= listed  # the picture's strikes are the listed ones
        assert texts(browser, f'{section(market)} tr[data-maturity="{code}"] td.strikes') == [str(len(strikes))]
    assert console_problems(browser) == []


def test_the_page_follows_a_regeneration_after_the_index_moved(browser: WebDriver, engine: tuple[str, str, str],
                                                               reader: redis.Redis) -> None:
    base_url, control_url, _ = engine
    browser.get(base_url + "/pages/instruments")
    before_src = wait_for("BTC's ladder picture", lambda: picture_loaded(browser, "BTC"))
    before_strikes = strikes_shown(browser, "BTC")
    token = mark_page(browser)

    control_action(control_url, "deribit", "jump_price", {"currency": "BTC", "pct": 12.0})
    wait_for("the index price to follow",
             lambda: json.loads(reader.get(keys.index_price("BTC")) or "{}").get("price", 0) > 90_000)
    answer = httpx.post(base_url + "/instruments", timeout=120)
    assert answer.status_code == 200 and answer.json()["markets"]["BTC"]["ok"]
    updated_ms = int(reader.get(keys.instruments_updated_at("BTC")))

    wait_for("the new last update", lambda: text_of(browser, f"{section('BTC')} .updated") == fmt_time(updated_ms))
    assert updated_ms > picture_version(before_src)  # a later listing (the shown time has whole seconds only)
    after_src = wait_for("the new picture loaded", lambda: (src := picture_loaded(browser, "BTC")) and
                         src != before_src and src)
    assert f"v={updated_ms}" in after_src
    assert strikes_shown(browser, "BTC") != before_strikes  # a ladder around the new index
    assert same_page(browser, token)

    picture = httpx.get(base_url + after_src)
    assert picture.status_code == 200 and picture.headers["content-type"] == "image/png"
    assert picture.content.startswith(b"\x89PNG\r\n\x1a\n")
    assert console_problems(browser) == []


def test_a_maturity_link_draws_that_ladder(browser: WebDriver, engine: tuple[str, str, str],
                                           reader: redis.Redis) -> None:
    base_url = engine[0]
    browser.get(base_url + "/pages/instruments")
    wait_for("ETH's ladder picture", lambda: picture_loaded(browser, "ETH"))
    last = texts(browser, f"{section('ETH')} table.maturities td:first-child a")[-1]
    assert last != selected_maturity(browser, "ETH")
    click(browser, By.CSS_SELECTOR, f'{section("ETH")} tr[data-maturity="{last}"] a')
    wait_for("the chosen maturity drawn", lambda: selected_maturity(browser, "ETH") == last)
    src = wait_for("its picture", lambda: picture_loaded(browser, "ETH"))
    assert f"maturity={last}" in src
    assert texts(browser, f'{section("ETH")} tr.selected td:first-child') == [last]
    assert console_problems(browser) == []


def test_bad_selections_are_refused(engine: tuple[str, str, str]) -> None:
    base_url = engine[0]
    assert httpx.get(base_url + "/pages/instruments", params={"market": "<b>"}).status_code == 400
    assert httpx.get(base_url + "/pages/instruments/ladder.png", params={"market": "BTC"}).status_code == 400
    assert httpx.get(base_url + "/pages/instruments/ladder.png",
                     params={"market": "BTC", "maturity": "1JAN20"}).status_code == 404
