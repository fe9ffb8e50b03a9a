"""The option-chain API over real HTTP and WebSockets (hypercorn, trio worker) with a real Bus.

The chain actor is replaced by a small fake that serves the bus contract of
``actors.optionchain.topics`` with canned answers: that is the protocol the API speaks,
so the API under test is exactly the one the engine mounts.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any

import attrs
import httpx
import pytest
import structlog
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from actors.optionchain.api import optionchain_router
from actors.optionchain.topics import (
    GET_TOPIC,
    LIST_TOPIC,
    REFRESH_TOPIC,
    UPDATES_TOPIC,
    ChainListing,
    ChainPublished,
    RefreshAnswer,
)
from engine.actor import ActorContext, ChildSpec
from engine.bus import CHECKPOINT_EVERY, Bus, Overflow
from engine.clock import Clock
from engine.metrics import EngineMetrics
from tests.integration.test_engine_api import _config
from tests.integration.api_support import api_served, with_engine

TOKEN = "tok-123"
ADMIN = {"Authorization": f"Bearer {TOKEN}"}
# Odd spacing and key order on purpose: a re-serialised answer would not match byte for byte.
NIFTY_DOC = '{"version": 1,  "underlying": "NIFTY", "expiry": "2026-04-30", "atm_strike": 24950.0, "rows": []}'
BANK_DOC = '{"version": 1, "underlying": "BANKNIFTY", "expiry": "2026-04-28", "rows": [ ]}'
LISTING = (
    ChainListing("NIFTY", "2026-04-30", False, 24950.0, 41, 1_770_000_000_000),
    ChainListing("NIFTY", "2026-05-07", True, 24950.0, 41, 1_770_000_000_000),
    ChainListing("BANKNIFTY", "2026-04-28", False, 55100.0, 61, 1_770_000_000_000),
)


@attrs.define
class FakeChains:
    """Serves GET/LIST/REFRESH on the bus like the chain actor, from canned values."""

    documents: dict[tuple[str, str], str] = attrs.field(factory=lambda: {("NIFTY", "2026-04-30"): NIFTY_DOC,
                                                                         ("BANKNIFTY", "2026-04-28"): BANK_DOC})
    underlyings: tuple[str, ...] = ("NIFTY", "BANKNIFTY")
    refuse: str | None = None  # set: every refresh is refused with this reason
    silent: bool = False  # subscribed but never answers (a stuck actor)
    asked: list[tuple[str, Any]] = attrs.field(factory=list)

    def get(self, key: tuple[str, str]) -> str | None:
        return self.documents.get(key)

    def listing(self, _: None) -> list[dict[str, Any]]:
        return [c.to_json() for c in LISTING]

    def refresh(self, name: str | None) -> RefreshAnswer:
        if self.refuse is not None:
            return RefreshAnswer(False, error=self.refuse)
        if name is not None and name not in self.underlyings:
            return RefreshAnswer(False, error=f"unknown underlying {name!r}")
        chosen = self.underlyings if name is None else (name,)
        return RefreshAnswer(True, chosen, 3 * len(chosen), 9.0 * len(chosen))

    async def serve(self, bus: Bus, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Subscribe to the three request topics, report started, answer until cancelled."""
        handlers = {GET_TOPIC: self.get, LIST_TOPIC: self.listing, REFRESH_TOPIC: self.refresh}
        subs = [bus.subscribe(topic, maxlen=16, overflow=Overflow.BLOCK) for topic in handlers]
        try:
            async with trio.open_nursery() as nursery:
                for sub in subs:
                    nursery.start_soon(self._answer, sub, handlers[sub.topic])
                task_status.started()
        finally:
            for sub in subs:
                sub.close()

    async def _answer(self, sub: Any, handler: Any) -> None:
        async for request in sub:
            self.asked.append((sub.topic, request.payload))
            if not self.silent:
                request.answer(handler(request.payload))

    async def run(self, ctx: ActorContext) -> None:
        await self.serve(ctx.bus)


@attrs.define
class Served:
    """The API on a loopback port, its bus and the fake chain actor behind it."""

    url: str
    bus: Bus
    ctx: ActorContext
    chains: FakeChains | None
    client: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/ws/optionchain"

    async def subscribers(self, count: int, timeout_s: float = 5.0) -> None:
        """Wait until ``count`` WebSocket clients hold an updates subscription."""
        with trio.fail_after(timeout_s):
            while self.bus.subscription_count(UPDATES_TOPIC) != count:
                await trio.sleep(0.01)

    def conflated(self) -> float:
        """engine_bus_conflated for the updates subscriptions: versions a client never got."""
        value = self.ctx.metrics.registry.get_sample_value("engine_bus_conflated_total", {"topic": UPDATES_TOPIC})
        return value or 0.0


@asynccontextmanager
async def served(chains: FakeChains | None = None, admin_token: str | None = TOKEN,
                 timeout_s: float = 2.0) -> AsyncIterator[Served]:
    """``build_app`` served by the ApiActor (hypercorn) with the option-chain router mounted."""
    metrics = EngineMetrics()
    bus = Bus(metrics)
    ctx = ActorContext(name="api", bus=bus, store=None, clock=Clock(), log=structlog.get_logger(), metrics=metrics)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            if chains is not None:
                await nursery.start(chains.serve, bus)
            routers = (partial(optionchain_router, timeout_s=timeout_s),)
            async with api_served(ctx, routers, admin_token) as url, httpx.AsyncClient(base_url=url) as client:
                yield Served(url, bus, ctx, chains, client)
            nursery.cancel_scope.cancel()  # the fake chain actor


async def _next_json(ws: Any, timeout_s: float = 3.0) -> tuple[str, dict[str, Any]]:
    with trio.fail_after(timeout_s):
        text = await ws.get_message()
    return text, json.loads(text)


# ---- GET /optionchain/live ---------------------------------------------------------------


async def test_live_answers_the_document_text_exactly() -> None:
    async with served(FakeChains()) as api:
        response = await api.client.get("/optionchain/live", params={"underlying": "NIFTY", "expiry": "2026-04-30"})
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/json"
        assert response.text == NIFTY_DOC  # as the actor answered, not re-serialised
        assert api.chains.asked == [(GET_TOPIC, ("NIFTY", "2026-04-30"))]


@pytest.mark.parametrize("params, field", [
    ({"expiry": "2026-04-30"}, "underlying"),
    ({"underlying": "", "expiry": "2026-04-30"}, "underlying"),
    ({"underlying": "  ", "expiry": "2026-04-30"}, "underlying"),
    ({"underlying": "NIFTY"}, "expiry"),
    ({"underlying": "NIFTY", "expiry": "2026-02-30"}, "expiry"),
    ({"underlying": "NIFTY", "expiry": "30-04-2026"}, "expiry"),
    ({"underlying": "NIFTY", "expiry": "2026-4-30"}, "expiry"),
    ({"underlying": "NIFTY", "expiry": ""}, "expiry"),
])
async def test_live_rejects_bad_input_naming_the_field(params: dict[str, str], field: str) -> None:
    async with served(FakeChains()) as api:
        response = await api.client.get("/optionchain/live", params=params)
        assert response.status_code == 400
        assert field in response.json()["error"]
        assert api.chains.asked == []  # bad input never reaches the actor


async def test_live_unknown_chain_is_404() -> None:
    async with served(FakeChains()) as api:
        response = await api.client.get("/optionchain/live", params={"underlying": "NIFTY", "expiry": "2026-05-07"})
        assert response.status_code == 404
        assert response.json() == {"error": "no chain NIFTY 2026-05-07", "underlying": "NIFTY", "expiry": "2026-05-07"}


async def test_no_chain_service_is_503_on_every_route() -> None:
    async with served(chains=None) as api:
        live = await api.client.get("/optionchain/live", params={"underlying": "NIFTY", "expiry": "2026-04-30"})
        listing = await api.client.get("/optionchain/chains")
        refresh = await api.client.post("/admin/optionchain/refresh", headers=ADMIN)
        for response in (live, listing, refresh):
            assert response.status_code == 503
            assert "optionchain" in response.json()["error"]


async def test_a_stuck_chain_service_is_503_after_the_timeout() -> None:
    async with served(FakeChains(silent=True), timeout_s=0.2) as api:
        started = trio.current_time()
        response = await api.client.get("/optionchain/live", params={"underlying": "NIFTY", "expiry": "2026-04-30"})
        assert response.status_code == 503
        assert "within 0.2 s" in response.json()["error"]
        assert trio.current_time() - started < 2.0


# ---- GET /optionchain/chains -------------------------------------------------------------


async def test_chains_lists_everything_and_filters_by_underlying() -> None:
    async with served(FakeChains()) as api:
        everything = await api.client.get("/optionchain/chains")
        assert everything.status_code == 200
        assert everything.json() == {"chains": [c.to_json() for c in LISTING]}
        nifty = (await api.client.get("/optionchain/chains", params={"underlying": "NIFTY"})).json()["chains"]
        assert [(c["underlying"], c["expiry"]) for c in nifty] == [("NIFTY", "2026-04-30"), ("NIFTY", "2026-05-07")]
        none = await api.client.get("/optionchain/chains", params={"underlying": "SENSEX"})
        assert none.json() == {"chains": []}
        empty = await api.client.get("/optionchain/chains", params={"underlying": ""})
        assert empty.status_code == 400 and "underlying" in empty.json()["error"]


# ---- POST /admin/optionchain/refresh -----------------------------------------------------


async def test_refresh_accepts_all_or_one_underlying() -> None:
    async with served(FakeChains()) as api:
        everything = await api.client.post("/admin/optionchain/refresh", headers=ADMIN)
        assert everything.status_code == 202
        assert everything.json() == RefreshAnswer(True, ("NIFTY", "BANKNIFTY"), 6, 18.0).to_json()
        one = await api.client.post("/admin/optionchain/refresh", headers=ADMIN, json={"underlying": "NIFTY"})
        assert one.status_code == 202
        assert one.json()["underlyings"] == ["NIFTY"] and one.json()["queued_requests"] == 3
        assert api.chains.asked == [(REFRESH_TOPIC, None), (REFRESH_TOPIC, "NIFTY")]


async def test_refresh_unknown_underlying_is_404_other_refusals_409() -> None:
    chains = FakeChains()
    async with served(chains) as api:
        unknown = await api.client.post("/admin/optionchain/refresh", headers=ADMIN, json={"underlying": "SENSEX"})
        assert unknown.status_code == 404
        assert unknown.json()["error"].startswith("unknown underlying") and unknown.json()["accepted"] is False
        chains.refuse = "a refresh is already queued"
        busy = await api.client.post("/admin/optionchain/refresh", headers=ADMIN)
        assert busy.status_code == 409
        assert busy.json()["error"] == "a refresh is already queued"


@pytest.mark.parametrize("body, words", [
    (b"not json", "body"),
    (b"[\"NIFTY\"]", "object"),
    (b"{}", "underlying"),
    (b"{\"underlying\": \"\"}", "underlying"),
    (b"{\"underlying\": 5}", "underlying"),
    (b"{\"underlying\": \"NIFTY\", \"force\": true}", "force"),
    (b"\xff\xfe", "body"),
])
async def test_refresh_rejects_any_other_body(body: bytes, words: str) -> None:
    async with served(FakeChains()) as api:
        response = await api.client.post("/admin/optionchain/refresh", headers=ADMIN, content=body)
        assert response.status_code == 400
        assert words in response.json()["error"]
        assert api.chains.asked == []


async def test_refresh_needs_the_admin_token() -> None:
    async with served(FakeChains()) as api:
        assert (await api.client.post("/admin/optionchain/refresh")).status_code == 401
        wrong = await api.client.post("/admin/optionchain/refresh", headers={"Authorization": "Bearer nope"})
        assert wrong.status_code == 401
        assert api.chains.asked == []
        reading = await api.client.get("/optionchain/chains")  # reads stay open
        assert reading.status_code == 200


# ---- WebSocket /ws/optionchain -----------------------------------------------------------


async def test_websocket_pushes_published_chains_with_the_document_spliced_in() -> None:
    async with served(FakeChains()) as api:
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            await api.bus.publish(UPDATES_TOPIC, ChainPublished("NIFTY", "2026-04-30", NIFTY_DOC))
            await api.bus.publish(UPDATES_TOPIC, ChainPublished("BANKNIFTY", "2026-04-28", BANK_DOC))
            first_text, first = await _next_json(ws)
            _, second = await _next_json(ws)
        assert first == {"type": "optionchain", "underlying": "NIFTY", "expiry": "2026-04-30",
                         "chain": json.loads(NIFTY_DOC)}
        assert NIFTY_DOC in first_text  # spliced as written, not re-serialised
        assert (second["underlying"], second["expiry"], second["chain"]) == ("BANKNIFTY", "2026-04-28",
                                                                             json.loads(BANK_DOC))


async def test_websocket_filters_by_underlying_and_expiry() -> None:
    async with served(FakeChains()) as api:
        async with open_websocket_url(f"{api.ws_url}?underlying=NIFTY&expiry=2026-04-30") as only, \
                open_websocket_url(f"{api.ws_url}?underlying=BANKNIFTY") as bank:
            await api.subscribers(2)
            for underlying, expiry, version in (("BANKNIFTY", "2026-04-28", 1), ("NIFTY", "2026-05-07", 2),
                                                ("NIFTY", "2026-04-30", 3), ("BANKNIFTY", "2026-05-26", 4),
                                                ("NIFTY", "2026-04-30", 5)):
                await api.bus.publish(UPDATES_TOPIC, ChainPublished(underlying, expiry, f'{{"version": {version}}}'))
                await trio.sleep(0.02)  # one at a time: no conflation in this test
            seen_only = [(await _next_json(only))[1] for _ in range(2)]
            seen_bank = [(await _next_json(bank))[1] for _ in range(2)]
        assert [(m["underlying"], m["expiry"], m["chain"]["version"]) for m in seen_only] == [
            ("NIFTY", "2026-04-30", 3), ("NIFTY", "2026-04-30", 5)]
        assert [(m["expiry"], m["chain"]["version"]) for m in seen_bank] == [("2026-04-28", 1), ("2026-05-26", 4)]


@pytest.mark.parametrize("query, field", [("expiry=2026-13-01", "expiry"), ("expiry=tomorrow", "expiry"),
                                          ("underlying=", "underlying")])
async def test_websocket_rejects_a_malformed_filter_with_1008(query: str, field: str) -> None:
    async with served(FakeChains()) as api:
        async with open_websocket_url(f"{api.ws_url}?{query}") as ws:
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(3):
                await ws.get_message()
        assert closed.value.reason.code == 1008
        assert field in closed.value.reason.reason
        assert api.bus.subscription_count(UPDATES_TOPIC) == 0


async def test_websocket_unsubscribes_when_the_client_leaves() -> None:
    async with served(FakeChains()) as api:
        async with open_websocket_url(api.ws_url):
            await api.subscribers(1)
        await api.subscribers(0)
        await api.bus.publish(UPDATES_TOPIC, ChainPublished("NIFTY", "2026-04-30", NIFTY_DOC))  # nobody to send to


async def test_a_slow_client_gets_the_latest_of_each_chain_not_every_version() -> None:
    versions = 2000
    async with served(FakeChains()) as api:
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            for version in range(versions):  # the client reads nothing meanwhile
                for underlying, expiry in (("NIFTY", "2026-04-30"), ("BANKNIFTY", "2026-04-28")):
                    doc = f'{{"version": {version}}}'
                    await api.bus.publish(UPDATES_TOPIC, ChainPublished(underlying, expiry, doc))
            received: dict[str, list[int]] = {"NIFTY": [], "BANKNIFTY": []}
            while any(not seen or seen[-1] != versions - 1 for seen in received.values()):
                _, message = await _next_json(ws)
                received[message["underlying"]].append(message["chain"]["version"])
            with trio.move_on_after(0.2):  # nothing older trails the newest
                _, extra = await _next_json(ws)
                pytest.fail(f"unexpected message after the newest: {extra}")
        # The forwarder runs only at the publisher's checkpoints (one per CHECKPOINT_EVERY publishes).
        bound = 2 * versions // CHECKPOINT_EVERY + 2
        for seen in received.values():
            assert seen == sorted(seen) and seen[-1] == versions - 1
            assert len(seen) <= bound, seen
        assert api.conflated() >= 2 * versions - 2 * bound


async def test_a_client_that_stops_reading_catches_up_to_the_newest() -> None:
    """Big documents, paced publishes, a client that reads nothing: once the socket buffers
    are full the server's send waits, newer versions conflate, and reading resumes at the newest."""
    versions, pad = 200, "x" * 256_000
    async with served(FakeChains()) as api:
        async with open_websocket_url(api.ws_url, message_queue_size=1) as ws:
            await api.subscribers(1)
            for version in range(versions):
                doc = f'{{"version": {version}, "pad": "{pad}"}}'
                await api.bus.publish(UPDATES_TOPIC, ChainPublished("NIFTY", "2026-04-30", doc))
                await trio.sleep(0.002)  # room for the forwarder to send every version it can
            seen: list[int] = []
            while not seen or seen[-1] != versions - 1:
                seen.append((await _next_json(ws))[1]["chain"]["version"])
        assert seen == sorted(seen)
        assert len(seen) < versions // 2, f"{len(seen)} of {versions} versions sent to a client that was not reading"
        assert api.conflated() >= versions - len(seen)


async def test_shutdown_closes_open_websockets_with_1001() -> None:
    async with served(FakeChains()) as api:
        async with open_websocket_url(api.ws_url) as ws:
            await api.subscribers(1)
            api.ctx.stopping.set()
            with pytest.raises(ConnectionClosed) as closed, trio.fail_after(1.5):  # < hypercorn's 2 s grace
                await ws.get_message()
        assert closed.value.reason.code == 1001
        await api.subscribers(0)


# ---- mounted in the real engine ----------------------------------------------------------


async def test_router_mounts_in_the_engine_with_its_admin_token(tmp_path: Path, redis_url: str) -> None:
    """run_engine with the fake chain actor as a child and the router as a capability."""
    loaded = _config(tmp_path, redis_url, env={"ENGINE_ADMIN_TOKEN": TOKEN})

    async def body(client: httpx.AsyncClient) -> None:
        while (live := await client.get("/optionchain/live",
                                        params={"underlying": "BANKNIFTY", "expiry": "2026-04-28"})
               ).status_code == 503:
            await trio.sleep(0.02)
        assert live.status_code == 200 and live.text == BANK_DOC
        assert (await client.post("/admin/optionchain/refresh")).status_code == 401
        assert (await client.post("/admin/optionchain/refresh", headers=ADMIN)).status_code == 202
        paths = (await client.get("/openapi.json")).json()["paths"]
        assert {"/optionchain/live", "/optionchain/chains", "/admin/optionchain/refresh"} <= paths.keys()

    assert await with_engine(loaded, body, (ChildSpec("optionchain", FakeChains),), (optionchain_router,)) == 0


# ---- GET /pages/optionchain --------------------------------------------------------------


async def test_the_page_of_an_underlying_alone_goes_to_its_nearest_expiry() -> None:
    async with served(FakeChains()) as api:
        nifty = await api.client.get("/pages/optionchain", params={"underlying": "NIFTY", "around": "5"})
        assert nifty.status_code == 303
        assert nifty.headers["location"] == "/pages/optionchain?underlying=NIFTY&expiry=2026-04-30&around=5"
        unknown = await api.client.get("/pages/optionchain", params={"underlying": "SENSEX"})
        assert unknown.status_code == 404 and "no chain of SENSEX" in unknown.text
    async with served(None, timeout_s=0.2) as api:
        down = await api.client.get("/pages/optionchain", params={"underlying": "NIFTY"})
        assert down.status_code == 503 and "unavailable" in down.text
