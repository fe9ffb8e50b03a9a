"""The market-making pages in Chromium, on the paper venue over the simulated Binance: both quote
ladders around the book, position and fills, all from the market maker's memory and live
(quotes replaced, then a price jump filling the asks)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import pytest
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from actors.marketmaker.api import make_mm_router
from actors.marketmaker.service import mm_specs
from tests.browser.browser_support import (
    engine_thread, click, console_problems, control_action, engine_config, mark_page, rows_of, same_page, text_of,
    wait_for,
)

ROOT = Path(__file__).resolve().parents[2]
SECTIONS = '[marketmaker]\npairs = ["btcusdt.json"]\n'


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, engine_redis_url: str) -> Iterator[tuple[str, str]]:
    directory: Path = tmp_path_factory.mktemp("mm")
    pair = json.loads((ROOT / "configs/pairs/btcusdt.json").read_text())
    (directory / "btcusdt.json").write_text(json.dumps({**pair, "far_interval_s": 10.0}))
    loaded, control_url = engine_config(directory, engine_redis_url, SECTIONS)
    thread = engine_thread(loaded, lambda loaded, environ: mm_specs(loaded, True, environ),
                          [make_mm_router(("BTCUSDT",))])
    base_url = thread.start()
    try:
        yield base_url, control_url
    finally:
        assert thread.stop() == 0


def ladder(driver: WebDriver, name: str) -> list[dict[str, str]]:
    return [dict(zip(("side", "price", "qty", "bps", "client_id", "order_id"), cells))
            for cells in rows_of(driver, f"#{name}-ladder tbody tr[data-client-id]")]


def book(driver: WebDriver) -> tuple[Decimal, Decimal] | None:
    text = text_of(driver, "#book") or ""
    if not text.startswith("bid "):
        return None
    bid, _, rest = text.removeprefix("bid ").partition(" / ask ")
    return Decimal(bid), Decimal(rest.partition(",")[0])


def test_the_pairs_page_links_each_pair(browser: WebDriver, engine: tuple[str, str]) -> None:
    base_url, _ = engine
    browser.get(base_url + "/pages/mm")
    row = wait_for("the pair quoting", lambda: (t := text_of(browser, '#pairs tr[data-pair="BTCUSDT"]'))
                   and "paper" in t and "10 near, 10 far" in t and t)
    assert "fresh" in row
    click(browser, By.LINK_TEXT, "BTCUSDT")
    wait_for("the pair's page", lambda: text_of(browser, "h1") == "Market making: BTCUSDT")
    assert console_problems(browser) == []


def test_both_ladders_straddle_the_book_and_match_the_venue(browser: WebDriver, engine: tuple[str, str]) -> None:
    base_url, _ = engine
    browser.get(base_url + "/pages/mm/BTCUSDT")
    near = wait_for("the near ladder", lambda: len(q := ladder(browser, "near")) == 10 and q)
    far = wait_for("the far ladder", lambda: len(q := ladder(browser, "far")) == 10 and q)
    bid, ask = wait_for("the book", lambda: book(browser))
    for quotes in (near, far):
        asks = [Decimal(q["price"]) for q in quotes if q["side"] == "SELL"]
        bids = [Decimal(q["price"]) for q in quotes if q["side"] == "BUY"]
        assert len(asks) == len(bids) == 5
        assert asks == sorted(asks, reverse=True) and bids == sorted(bids, reverse=True)  # a ladder, top down
        assert min(asks) > bid and max(bids) < ask
        assert all(p % Decimal("0.10") == 0 for p in asks + bids)  # BTCUSDT's tick
    assert all(float(q["bps"]) >= 99 for q in far if q["side"] == "SELL")  # the far ladder starts 1 % out

    def matches_status() -> bool:
        """The quotes the page shows are the orders the market maker records for the pair."""
        recorded = {o["client_id"] for o in httpx.get(base_url + "/api/mm/BTCUSDT").json()["orders"]}
        shown = {q["client_id"] for q in ladder(browser, "near") + ladder(browser, "far")}
        return recorded == shown and len(shown) == 20

    wait_for("the page's quotes to be the recorded orders", matches_status)
    assert text_of(browser, "#position") is not None
    assert console_problems(browser) == []


def test_quotes_fills_and_position_change_live(browser: WebDriver, engine: tuple[str, str]) -> None:
    base_url, control_url = engine
    browser.get(base_url + "/pages/mm/BTCUSDT")
    first = wait_for("the near ladder", lambda: len(q := ladder(browser, "near")) == 10 and q)
    token = mark_page(browser)
    ids = {q["client_id"] for q in first}
    wait_for("the near quotes to be replaced", lambda: (now := {q["client_id"] for q in ladder(browser, "near")})
             and len(now) == 10 and now != ids, timeout_s=90)

    fills_before = int(text_of(browser, "#fills-total") or "0")
    asks = [q for q in ladder(browser, "near") if q["side"] == "SELL"]
    control_action(control_url, "binance", "jump_price", {"symbol": "BTCUSDT", "pct": 2.0})
    wait_for("fills on the page", lambda: int(text_of(browser, "#fills-total") or "0") > fills_before)
    sold = wait_for("SELL fills listed", lambda: [r for r in rows_of(browser, "#fills tbody tr") if r[1] == "SELL"])
    cells = sold[0]
    assert cells[1] == "SELL" and Decimal(cells[2]) > 0 and Decimal(cells[3]) > 0 and cells[5] in ("near", "far")
    assert asks  # there were asks for the jump to fill

    def position_short() -> Any:
        text = text_of(browser, "#position") or ""
        return text not in ("", "unknown") and Decimal(text) < 0 and Decimal(text)

    position = wait_for("the short position on the page", position_short)
    status = wait_for("the recorded position", lambda: httpx.get(base_url + "/api/mm/BTCUSDT").json()["status"])
    assert Decimal(status["position"]) < 0 and position >= Decimal("-0.1")  # within max_position
    assert same_page(browser, token)
    assert console_problems(browser) == []


def test_an_unknown_pair_is_a_404_page(engine: tuple[str, str]) -> None:
    base_url, _ = engine
    response = httpx.get(base_url + "/pages/mm/%3Cb%3EX")
    assert response.status_code == 404 and "&lt;b&gt;X" in response.text and "<b>X" not in response.text
