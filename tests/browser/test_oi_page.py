"""The open-interest page in Chromium, on the simulated Binance: the liquid universe with its
OI sparklines, and alerts appearing as they are raised (an ingested one, then a real spike)
without a reload, in the same formats as the rows the engine renders itself."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.remote.webdriver import WebDriver

from actors.oi.api import oi_router
from actors.oi.service import oi_specs
from tests.browser.browser_support import (
    engine_thread, console_problems, control_action, engine_config, mark_page, rows_of, same_page, texts, wait_for,
)

SECTIONS = """
[oi]
enabled = true
universe_interval_s = 300.0
enter_quote_volume_usdt = 1000000000.0
exit_quote_volume_usdt = 500000000.0
max_requests_per_min = 600
min_interval_s = 2.0
max_interval_s = 20.0
alert_pct = 5.0
alert_cooldown_s = 900.0
"""
PAGE = "/debug/open-interest"
ALERT_ROWS = "#oi-alerts tr:not([data-live-placeholder])"


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, engine_redis_url: str) -> Iterator[tuple[str, str]]:
    directory: Path = tmp_path_factory.mktemp("oi")
    loaded, control_url = engine_config(directory, engine_redis_url, SECTIONS)
    thread = engine_thread(loaded, lambda loaded, _: oi_specs(loaded), [oi_router])
    base_url = thread.start()
    try:
        yield base_url, control_url
    finally:
        assert thread.stop() == 0


@pytest.fixture(scope="module")
def universe(engine: tuple[str, str]) -> list[str]:
    """The liquid symbols, once each has samples to chart."""
    base_url, _ = engine

    def ready() -> list[str] | None:
        response = httpx.get(base_url + "/api/market/open-interest/liquid-universe")
        symbols = response.json()["symbols"] if response.status_code == 200 else []
        charted = [s for s in symbols if len(httpx.get(base_url + "/api/market/open-interest/samples",
                                                       params={"symbol": s, "limit": 5}).json()["samples"]) >= 2]
        return symbols if symbols and charted == symbols else None

    return wait_for("the universe with samples", ready)


def alert_rows(driver: WebDriver) -> list[list[str]]:
    return rows_of(driver, ALERT_ROWS)


def universe_rows(driver: WebDriver) -> list[tuple[str, int]]:
    """(symbol, points in its sparkline) per universe row, read in one go."""
    return [(symbol, int(points)) for symbol, points in driver.execute_script(
        "return Array.from(document.querySelectorAll('#oi-universe-table tbody tr'), r => [r.cells[0].innerText,"
        " (r.querySelector('svg polyline') ? r.querySelector('svg polyline').getAttribute('points') : '')"
        ".split(' ').filter(Boolean).length]);")]


def test_the_universe_is_listed_with_a_sparkline_each(browser: WebDriver, engine: tuple[str, str],
                                                      universe: list[str]) -> None:
    base_url, _ = engine
    browser.get(base_url + PAGE)
    rows = wait_for("the universe table", lambda: universe_rows(browser))
    symbols = [symbol for symbol, _ in rows]
    assert sorted(symbols) == sorted(universe) and 3 <= len(symbols) <= 10  # BTC, ETH, SOL, ... over 1 B a day
    assert all(points >= 2 for _, points in rows)  # an OI sparkline each
    heading = wait_for("the alerts heading", lambda: texts(browser, "h2[data-live-count-of]"))
    assert heading == ["Recent alerts: 0"] and texts(browser, "#oi-alerts tr[data-live-placeholder]") == ["none yet"]
    wait_for("the page going live", lambda: (texts(browser, "[data-live-status]") or [""])[0].startswith("live"))
    assert console_problems(browser) == []


def test_alerts_arrive_without_a_reload_formatted_as_the_engine_renders_them(
        browser: WebDriver, engine: tuple[str, str], universe: list[str]) -> None:
    base_url, control_url = engine
    browser.get(base_url + PAGE)
    wait_for("the page going live", lambda: (texts(browser, "[data-live-status]") or [""])[0].startswith("live"))
    token = mark_page(browser)
    before = len(alert_rows(browser))
    ts_ms = int(time.time() * 1000)
    alert: dict[str, Any] = {"type": "open_interest_alert", "symbol": "ETHUSDT", "direction": "DOWN",
                             "open_interest": 1234567.5, "baseline_oi": 1400000.0, "pct_change": -11.82,
                             "abs_change": -165432.5, "oi_usd": 3.95e9, "mark_price": 3201.25,
                             "window_min": [30, 60], "ts": ts_ms}
    ingested = httpx.post(base_url + "/api/open-interest-alerts/ingest", json={"items": [alert]})
    assert ingested.status_code == 200 and ingested.json() == {"accepted": 1}
    expected = ["ETHUSDT", "DOWN", "1,234,567.500", "1,400,000.000", "-11.82%", "-165,432.500", "3.95B",
                "3,201.2500", "30-60 min"]
    rows = wait_for("the ingested alert on the page", lambda: (r := alert_rows(browser)) and len(r) > before
                    and [row for row in r if row[1:] == expected])
    pushed = rows[0]
    assert pushed[0].startswith(time.strftime("%Y-%m-%d", time.gmtime(ts_ms / 1000)))
    classes = browser.execute_script(
        "return Array.from(document.querySelectorAll('#oi-alerts tr'), r => r.cells[2].className)"
        ".filter((c, i, all) => document.querySelectorAll('#oi-alerts tr')[i].cells[1].innerText === 'ETHUSDT');")
    assert classes and all("down" in c.split() for c in classes)
    assert texts(browser, "h2[data-live-count-of]") == [f"Recent alerts: {len(alert_rows(browser))}"]

    # a real one: the simulator's OI jumps, the poller samples it, the AlertActor raises it
    control_action(control_url, "binance", "spike_oi", {"symbol": universe[0], "pct": 40.0})
    rows = wait_for("the raised alert on the page", lambda: (r := alert_rows(browser)) and r[0][1] == universe[0]
                    and r[0][2] == "UP" and r)
    raised = rows[0]
    assert float(raised[5].rstrip("%").lstrip("+")) >= 20 and same_page(browser, token)
    assert console_problems(browser) == []

    # the engine renders the same rows the same way when the page is loaded afresh
    browser.refresh()
    rendered = wait_for("the rendered alerts", lambda: len(r := alert_rows(browser)) >= before + 2 and r)
    assert raised in rendered and pushed in rendered
    assert rendered.index(raised) < rendered.index(pushed)  # newest first, as pushed
