"""A whole engine for browser tests, and the waits the tests share.

The engine runs as ``run.py`` runs it (``run_engine`` with the simulated venues in-process,
the venue clients, the capability specs and routers) but in a thread of the test process,
on its own trio loop, for the whole test module: Selenium is synchronous, and one engine per
module keeps the suite fast. Its environment is a copy of the test process's, so the
simulator's credentials never leak into other tests.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
from selenium.common.exceptions import NoSuchElementException, StaleElementReferenceException, WebDriverException
from selenium.webdriver.remote.webdriver import WebDriver

from adapters.clients import open_venue_clients
from adapters.sim.actor import sim_specs
from engine.actor import ChildSpec
from engine.config import LoadedConfig, load_config
from tests.engine_thread import EngineThread
from tests.support import free_ports

T = TypeVar("T")
WAIT_S = 60.0  # the guard on every wait for the engine or the page: generous, the machine is shared


def engine_config(directory: Path, redis_url: str, sections: str, simulated: bool = True,
                  supervisor: str = "") -> tuple[LoadedConfig, str]:
    """A config with the API on a free port, the simulated venues on free ports (unless not
    ``simulated``) and ``sections`` (TOML; ``{deribit}``, ``{dhan}``, ``{binance}`` stand for the
    simulators' ports); and the simulator's control URL."""
    control, deribit, dhan, binance = free_ports(4)
    head = f"""
[engine]
name = "browser"
[log]
format = "json"
level = "warning"
[redis]
url = "{redis_url}"
[api]
host = "127.0.0.1"
port = 0
[supervisor]
{supervisor}
"""
    text = head + sections if not simulated else head + f"""
[sim]
enabled = true
seed = 7
control_port = {control}
deribit_port = {deribit}
dhan_port = {dhan}
binance_port = {binance}
[venues.deribit]
rest_url = "http://127.0.0.1:{deribit}/api/v2"
ws_url = "ws://127.0.0.1:{deribit}/ws/api/v2"
[venues.dhan]
rest_url = "http://127.0.0.1:{dhan}/v2"
feed_url = "ws://127.0.0.1:{dhan}"
access_token_env = "DHAN_ACCESS_TOKEN"
client_id_env = "DHAN_CLIENT_ID"
instrument_master_url = "http://127.0.0.1:{dhan}/v2/instruments/api-scrip-master-detailed.csv"
[venues.binance]
rest_url = "http://127.0.0.1:{binance}"
ws_url = "ws://127.0.0.1:{binance}"
api_key_env = "BINANCE_API_KEY"
api_secret_env = "BINANCE_API_SECRET"
""" + sections.replace("{deribit}", str(deribit)).replace("{dhan}", str(dhan)).replace("{binance}", str(binance))
    path = directory / "engine.toml"
    path.write_text(text)
    return load_config(path, environ={}), f"http://127.0.0.1:{control}"


def engine_thread(loaded: LoadedConfig, specs: Callable[[LoadedConfig, dict[str, str]], list[ChildSpec]],
                  routers: Iterable[Any] = ()) -> EngineThread:
    """The engine with the simulated venues and ``specs(loaded, environ)``; the simulator's credentials
    go into a copy of the environment only, which the venue clients read."""
    environ = dict(os.environ)
    venue_specs = sim_specs(loaded, environ)

    def venue_clients(loaded: Any, clock: Any, log: Any, metrics: Any) -> Any:
        return open_venue_clients(loaded.engine.venues, clock, log, metrics, environ=environ)

    return EngineThread(loaded, venue_specs=venue_specs, extra_specs=specs(loaded, environ), routers=list(routers),
                        venue_clients=venue_clients)


# --------------------------------------------------------------------------- waiting


def wait_for(what: str, probe: Callable[[], T | None], timeout_s: float = WAIT_S, step_s: float = 0.2) -> T:
    """Poll ``probe`` until it returns something truthy (returned); fail naming ``what`` and the
    last value seen. A page element replaced under the probe counts as not yet."""
    deadline = time.monotonic() + timeout_s
    last: Any = None
    while True:
        try:
            last = probe()
        except (StaleElementReferenceException, httpx.TransportError):
            last = None
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last seen: {last!r:.600}")
        time.sleep(step_s)


def texts(driver: WebDriver, css: str) -> list[str]:
    """The rendered texts of every element matching ``css``, read in one go: live regions are
    replaced under the test, so element by element reads could mix two versions."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]), e => e.innerText.trim());", css)


def rows_of(driver: WebDriver, css: str) -> list[list[str]]:
    """The cell texts of every table row matching ``css``, read in one go."""
    return driver.execute_script(
        "return Array.from(document.querySelectorAll(arguments[0]),"
        " r => Array.from(r.cells, c => c.innerText.trim()));", css)


def click(driver: WebDriver, by: str, value: str, attempts: int = 20) -> None:
    """Click an element of a live region, again if the region was replaced under the click."""
    for attempt in range(attempts):
        try:
            driver.find_element(by, value).click()
            return
        except (StaleElementReferenceException, NoSuchElementException):
            if attempt == attempts - 1:
                raise
            time.sleep(0.1)


def text_of(driver: WebDriver, css: str) -> str | None:
    found = texts(driver, css)
    return found[0] if found else None


def mark_page(driver: WebDriver) -> str:
    """Tag the loaded document: ``same_page`` tells later whether it was reloaded since."""
    token = f"page-{time.monotonic_ns()}"
    driver.execute_script("window.__pageToken = arguments[0];", token)
    return token


def same_page(driver: WebDriver, token: str) -> bool:
    return driver.execute_script("return window.__pageToken;") == token


def console_problems(driver: WebDriver) -> list[str]:
    """Browser console errors since the last call (a Content-Security-Policy refusal among them),
    except the favicon the pages do not have."""
    try:
        entries = driver.get_log("browser")
    except WebDriverException:
        return []
    return [e["message"] for e in entries if e.get("level") == "SEVERE" and "favicon.ico" not in e["message"]]


def control_action(control_url: str, venue: str, action: str, params: Mapping[str, Any]) -> dict[str, Any]:
    """Ask the simulator to move its market (``adapters/sim/control_api.py``)."""
    response = httpx.post(f"{control_url}/control/{venue}/actions/{action}", json=dict(params), timeout=10)
    assert response.status_code == 200, response.text
    return response.json()
