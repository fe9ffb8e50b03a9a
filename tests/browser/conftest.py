"""Browser tests: the operator pages in headless Chromium (Debian's ``chromium`` and
``chromium-driver``), driven with Selenium.

A session fixture makes sure the browser is there, installing it with apt-get when it is
not. Each test module gets one browser and one engine (``browser_support.engine_thread``).
Chromium is started with the flags that keep it off the (closed) network: no background
networking, component updates, sync or QUIC. Selenium Manager is kept offline: the driver
and the browser are named explicitly, so it has nothing to find or download.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import redis
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.remote.webdriver import WebDriver

from engine.redis_embedded import EmbeddedRedis

CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
APT_TIMEOUT_S = 900
CHROMIUM_FLAGS = ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update", "--disable-sync",
                  "--disable-dev-shm-usage", "--window-size=1400,1000")
PAGE_LOAD_TIMEOUT_S = 60


def _apt_get(*args: str) -> subprocess.CompletedProcess[str] | str:
    """apt-get as root, or through ``sudo -n``; the reason as text when neither is possible."""
    command = ["apt-get", *args]
    if os.geteuid() != 0:
        sudo = shutil.which("sudo")
        if sudo is None:
            return "not root and no sudo"
        command = [sudo, "-n", *command]
    try:
        return subprocess.run(command, capture_output=True, text=True, timeout=APT_TIMEOUT_S,
                              env={**os.environ, "DEBIAN_FRONTEND": "noninteractive"})
    except (OSError, subprocess.TimeoutExpired) as error:
        return f"{' '.join(command)}: {error}"


def _install_chromium() -> str | None:
    """Install chromium and chromium-driver; None when done, else why not."""
    result = _apt_get("install", "-y", "chromium", "chromium-driver")
    if not isinstance(result, str) and result.returncode != 0:  # stale or missing package lists: update, then again
        _apt_get("update")
        result = _apt_get("install", "-y", "chromium", "chromium-driver")
    if isinstance(result, str):
        return result
    if result.returncode != 0:
        return f"apt-get exited {result.returncode}: {result.stderr.strip()[-400:]}"
    return None


@pytest.fixture(scope="session")
def chromium_binaries() -> tuple[Path, Path]:
    """/usr/bin/chromium and /usr/bin/chromedriver, installed first if missing."""
    if not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
        problem = _install_chromium()
        if problem is not None or not (CHROMIUM.exists() and CHROMEDRIVER.exists()):
            pytest.fail(f"the browser tests need Debian's chromium and chromium-driver ({CHROMIUM}, {CHROMEDRIVER}) "
                        f"and could not install them: {problem or 'installed, yet the binaries are missing'}. "
                        f"Install them with: apt-get install -y chromium chromium-driver", pytrace=False)
    return CHROMIUM, CHROMEDRIVER


@pytest.fixture(scope="module")
def browser(chromium_binaries: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[WebDriver]:
    """One headless Chromium per test module, with a fresh profile and the console log kept."""
    chromium, chromedriver = chromium_binaries
    os.environ["SE_OFFLINE"] = "true"  # Selenium Manager never goes to the network
    options = webdriver.ChromeOptions()
    options.binary_location = str(chromium)
    for flag in CHROMIUM_FLAGS:
        options.add_argument(flag)
    options.add_argument(f"--user-data-dir={tmp_path_factory.mktemp('chromium-profile')}")
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=Service(executable_path=str(chromedriver)), options=options)
    driver.set_page_load_timeout(PAGE_LOAD_TIMEOUT_S)
    try:
        yield driver
    finally:
        driver.quit()


@pytest.fixture(scope="module")
def engine_redis_url(redis_server: EmbeddedRedis) -> str:
    """The session's redis-server, emptied for this module's engine."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url
