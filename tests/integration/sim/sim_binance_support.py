"""Helpers of the simulated-Binance integration tests: a running venue, an independent
request signer, and shape checks against the hand-written fixtures."""

from __future__ import annotations

import hashlib
import hmac
import json
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import attrs
import httpx
import trio

from adapters.sim.binance import BinanceSim
from adapters.sim.control import VenueControl
from adapters.sim.serving import serve_app
from engine.clock import Clock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "binance"
KEY, SECRET = "sim-key", "sim-secret"


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def assert_shape(actual: Any, template: Any, path: str = "$", exact: bool = False) -> None:
    """Every key of ``template`` is in ``actual`` with the same JSON type, recursively
    (``exact``: and no other keys). List items are checked against the template's item
    with the same ``filterType`` / ``rateLimitType`` when there is one, else its first."""
    if isinstance(template, bool) or template is None:
        assert isinstance(actual, type(template)) or template is None, f"{path}: {actual!r} is not {template!r}"
    elif isinstance(template, (int, float)):
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{path}: {actual!r} not a number"
        assert isinstance(actual, int) == isinstance(template, int), f"{path}: {actual!r} vs {template!r}"
    elif isinstance(template, str):
        assert isinstance(actual, str), f"{path}: {actual!r} is not a string"
    elif isinstance(template, dict):
        assert isinstance(actual, dict), f"{path}: {actual!r} is not an object"
        missing = template.keys() - actual.keys()
        assert not missing, f"{path}: missing keys {sorted(missing)}"
        if exact:
            assert actual.keys() == template.keys(), f"{path}: extra keys {sorted(actual.keys() - template.keys())}"
        for key, value in template.items():
            assert_shape(actual[key], value, f"{path}.{key}", exact)
    elif isinstance(template, list):
        assert isinstance(actual, list), f"{path}: {actual!r} is not a list"
        if template:
            by_kind = {item.get("filterType") or item.get("rateLimitType"): item for item in template
                       if isinstance(item, dict)}
            for kind in (k for k in by_kind if k):
                assert any(isinstance(a, dict) and kind in (a.get("filterType"), a.get("rateLimitType"))
                           for a in actual), f"{path}: no {kind}"
            for index, item in enumerate(actual):
                kind = (item.get("filterType") or item.get("rateLimitType")) if isinstance(item, dict) else None
                assert_shape(item, by_kind.get(kind, template[0]), f"{path}[{index}]", exact)


def minute_aligned_clock() -> Clock:
    """A clock whose wall time starts 1 s into a minute: weight windows never roll mid-test."""
    return Clock(epoch_s=math.floor(time.time() / 60) * 60 + 1.0)


@attrs.define
class Venue:
    sim: BinanceSim
    url: str
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return self.url.replace("http://", "ws://")

    def signed(self, params: list[tuple[str, str]], *, secret: str = SECRET, ts_ms: int | None = None,
               tamper: bool = False) -> str:
        """An independent HMAC signer: urlencode, append timestamp, sign, signature last."""
        query = urlencode([*params, ("timestamp", str(ts_ms if ts_ms is not None else self.sim.clock.time_ms()))])
        signature = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
        if tamper:
            query = query.replace("quantity=", "quantity=1")
        return f"{query}&signature={signature}"

    async def send(self, method: str, path: str, params: list[tuple[str, str]], *, key: str = KEY,
                   in_body: bool = True, **sign: Any) -> httpx.Response:
        payload = self.signed(params, **sign)
        headers = {"X-MBX-APIKEY": key}
        if method == "GET" or not in_body:
            return await self.http.request(method, f"{path}?{payload}", headers=headers)
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return await self.http.request(method, path, content=payload.encode(), headers=headers)


@asynccontextmanager
async def running_venue(*, run_market: bool = True, **options: Any) -> AsyncIterator[Venue]:
    """The real app on a loopback port (hypercorn, trio worker), with its market running."""
    options.setdefault("symbols", 40)
    sim = BinanceSim(seed=options.pop("seed", 11), clock=options.pop("clock", None) or minute_aligned_clock(),
                     control=VenueControl.new("binance"), **options)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_app, sim.app(), "127.0.0.1", 0, shutdown=shutdown,
                                          ws_ping_interval_s=None))
        if run_market:
            nursery.start_soon(sim.run_market)
        async with httpx.AsyncClient(base_url=url, timeout=10.0) as http:
            yield Venue(sim, url, http)
        shutdown.set()
        nursery.cancel_scope.cancel()
