"""The home page ``/`` in Chromium: every actor and health component, live, and links to every page.

The engine runs every capability's router but, besides its own actors, only a probe actor
the test steers: it reports a health component with the text the test gives it, and fails
when told, so the supervisor restarts it. The page must follow both without a reload, show
hostile text as text, and link pages that render even with their services absent.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import trio
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver

from actors.instruments.api import instruments_router
from actors.marketmaker.api import make_mm_router
from actors.oi.api import oi_router
from actors.optionchain.api import optionchain_router
from engine.actor import ChildSpec, Restart
from engine.pages import PAGE_CSP
from tests.browser.browser_support import (
    engine_thread, console_problems, engine_config, mark_page, same_page, text_of, texts, wait_for,
)

HOSTILE = '<img src=x id=injected onerror="window.__pwned=1"> "quoted" & <b id=bold>bold</b>'
FAILURE = "probe told to fail <script>window.__pwned=2</script>"
BACKOFF_S = 4.0  # the restart waits this long (+-20 %): long enough for a 1 s poll to see "restarting"


@attrs.define
class ProbeControl:
    """What the test tells the probe actor (plain attributes: the engine runs in another thread)."""

    ok: bool = True
    detail: str = "all good"
    fail: bool = False


@attrs.define
class ProbeActor:
    control: ProbeControl

    async def run(self, ctx: Any) -> None:
        shown = None
        while True:
            if self.control.fail:
                self.control.fail = False
                raise RuntimeError(FAILURE)
            if shown != (self.control.ok, self.control.detail):
                shown = (self.control.ok, self.control.detail)
                ctx.report("probe:component", *shown)
            await trio.sleep(0.05)


@pytest.fixture(scope="module")
def probe() -> ProbeControl:
    return ProbeControl()


@pytest.fixture(scope="module")
def engine(tmp_path_factory: pytest.TempPathFactory, engine_redis_url: str, probe: ProbeControl) -> Iterator[str]:
    directory: Path = tmp_path_factory.mktemp("home")
    loaded, _ = engine_config(directory, engine_redis_url, "", simulated=False,
                              supervisor=f"backoff_initial_s = {BACKOFF_S}\nbackoff_max_s = 30.0")
    routers = [instruments_router, optionchain_router, oi_router, make_mm_router(("BTCUSDT",))]
    probe_spec = ChildSpec("probe", lambda: ProbeActor(probe), restart=Restart.PERMANENT)
    thread = engine_thread(loaded, lambda *_: [probe_spec], routers)
    base_url = thread.start()
    try:
        yield base_url
    finally:
        assert thread.stop() == 0


def actor_row(driver: WebDriver, name: str) -> dict[str, str] | None:
    cells = texts(driver, f'#actors tr[data-actor="{name}"] td')
    return dict(zip(("name", "state", "restarts", "since", "last_error"), cells)) if len(cells) == 5 else None


def component_row(driver: WebDriver, name: str) -> dict[str, str] | None:
    cells = texts(driver, f'#components tr[data-component="{name}"] td')
    return dict(zip(("name", "state", "since", "detail"), cells)) if len(cells) == 4 else None


def test_home_lists_every_actor_and_component_from_health(browser: WebDriver, engine: str) -> None:
    browser.get(engine + "/")
    assert browser.title == "Trading engine"
    health = httpx.get(engine + "/health").json()
    names = {a["name"] for a in health["actors"]}
    assert {"probe", "api", "heartbeat"} <= names
    shown = wait_for("every actor of /health on the page",
                     lambda: (rows := texts(browser, "#actors tr[data-actor] td:first-child")) and set(rows) == names
                     and rows)
    assert len(shown) == len(names)
    probe = wait_for("the probe running", lambda: (row := actor_row(browser, "probe")) and row["state"] == "running"
                     and row)
    assert probe["restarts"] == "0" and probe["last_error"] == ""
    component = wait_for("the probe's component", lambda: component_row(browser, "probe:component"))
    assert component["state"] == "ok" and component["detail"] == "all good"
    assert "connected" in (text_of(browser, "#health .facts") or "")
    assert console_problems(browser) == []


def test_home_follows_health_and_shows_hostile_text_as_text(browser: WebDriver, engine: str,
                                                            probe: ProbeControl) -> None:
    browser.get(engine + "/")
    wait_for("the probe's component", lambda: component_row(browser, "probe:component"))
    token = mark_page(browser)

    probe.ok, probe.detail = False, HOSTILE
    row = wait_for("the component turning not ok",
                   lambda: (r := component_row(browser, "probe:component")) and r["state"] == "not ok" and r)
    assert row["detail"] == HOSTILE  # the markup shown as text, never parsed
    assert browser.find_elements(By.ID, "injected") == [] and browser.find_elements(By.ID, "bold") == []
    assert wait_for("the engine degraded", lambda: text_of(browser, "#engine-status") == "degraded")

    probe.fail = True
    restarting = wait_for("the probe restarting", lambda: (r := actor_row(browser, "probe")) and
                          r["state"] == "restarting" and r)
    assert FAILURE in restarting["last_error"]
    running = wait_for("the probe running again", lambda: (r := actor_row(browser, "probe")) and
                       r["state"] == "running" and r["restarts"] == "1" and r)
    assert FAILURE in running["last_error"]
    probe.ok, probe.detail = True, "recovered"
    wait_for("the component ok again", lambda: (r := component_row(browser, "probe:component")) and
             r["state"] == "ok" and r["detail"] == "recovered")
    assert same_page(browser, token)  # all of it arrived without a reload
    assert browser.execute_script("return window.__pwned === undefined;")
    assert console_problems(browser) == []


def test_home_links_every_page_and_each_renders(browser: WebDriver, engine: str) -> None:
    browser.get(engine + "/")
    links = {a.text: a.get_attribute("href") for a in browser.find_elements(By.CSS_SELECTOR, "#pages a")}
    paths = {href.removeprefix(engine) for href in links.values()}
    assert {"/pages/optionchain", "/pages/instruments", "/pages/mm", "/debug/mm", "/debug/open-interest"} <= paths
    for label, href in links.items():
        browser.get(href)
        assert wait_for(f"the heading of {label}", lambda: text_of(browser, "h1")), href
        if href.endswith("/debug/mm"):
            continue  # the Redis snapshot page: static, no live regions
        wait_for(f"{href} going live", lambda: (text_of(browser, "[data-live-status]") or "").startswith("live"))
        assert console_problems(browser) == [], href
    # with their services absent, the pages say so instead of failing
    browser.get(engine + "/pages/instruments")
    assert "instrument service unavailable" in wait_for("the note", lambda: text_of(browser, "#markets .note"))
    browser.get(engine + "/pages/mm/BTCUSDT")
    assert "market maker not answering" in wait_for("the note", lambda: text_of(browser, "#pair-live .note"))


def test_pages_are_served_with_a_strict_policy(engine: str) -> None:
    home = httpx.get(engine + "/")
    assert home.status_code == 200 and home.headers["content-security-policy"] == PAGE_CSP
    assert "script-src 'self'" in PAGE_CSP and "unsafe" not in PAGE_CSP and "default-src 'none'" in PAGE_CSP
    assert home.text.count("<script") == 1 and '<script src="/static/live.js" defer></script>' in home.text
    assert "http://" not in home.text and "https://" not in home.text  # nothing from elsewhere
    script = httpx.get(engine + "/static/live.js")
    assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
    assert httpx.get(engine + "/static/pages.css").headers["content-type"].startswith("text/css")
    assert httpx.get(engine + "/static/..%2Fpages.py").status_code == 404
    assert httpx.get(engine + "/static/nothing.js").status_code == 404
