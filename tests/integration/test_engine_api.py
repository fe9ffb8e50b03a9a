"""The engine in-process on a real private Redis: /health, /metrics, admin auth, restarts, escalation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import attrs
import httpx
import redis as redis_py
import trio

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

from engine.actor import ChildSpec, Restart
from engine.config import load_config
from engine.pages import PAGE_CSP, PAGES_TAG
from engine.supervisor import EXIT_ESCALATED
from engine.runtime import run_engine
from tests.integration.api_support import with_engine


def _config(tmp_path: Path, redis_url: str, extra: str = "", env: dict[str, str] | None = None) -> Any:
    path = tmp_path / "engine.toml"
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n[api]\nport = 0\n[engine]\nheartbeat_interval_s = 0.05\n'
        f"[supervisor]\nbackoff_initial_s = 0.01\nbackoff_max_s = 0.05\ncleanup_window_s = 1.0\n{extra}"
    )
    return load_config(path, environ=env or {})


@attrs.define
class Crasher:
    async def run(self, ctx: Any) -> None:
        await trio.sleep(0.01)
        raise RuntimeError("boom")


def _actor(health: dict[str, Any], name: str) -> dict[str, Any]:
    return next(a for a in health["actors"] if a["name"] == name)


async def _wait_health(client: httpx.AsyncClient, predicate: Any) -> dict[str, Any]:
    while True:
        body = (await client.get("/health")).json()
        if predicate(body):
            return body
        await trio.sleep(0.02)


async def test_health_metrics_and_docs(tmp_path: Path, redis_url: str) -> None:
    async def body(client: httpx.AsyncClient) -> None:
        health = await _wait_health(client, lambda b: b["status"] == "ok")
        assert {a["name"]: a["state"] for a in health["actors"]} == {"heartbeat": "running", "api": "running"}
        assert health["redis"]["connected"] is True
        metrics = await client.get("/metrics")
        assert metrics.status_code == 200
        assert 'engine_actor_up{actor="api"} 1.0' in metrics.text
        assert (await client.get("/openapi.json")).json()["paths"].keys() >= {"/health", "/metrics"}
        assert (await client.get("/docs")).status_code == 200

    assert await with_engine(_config(tmp_path, redis_url), body) == 0


async def test_home_page_shows_health_and_links_tagged_pages(tmp_path: Path, redis_url: str) -> None:
    """``/`` renders /health's actors and links every page a router tags (here a capability's stand-in)."""
    def pages(ctx: Any, require_admin: Any) -> APIRouter:
        router = APIRouter()

        @router.get("/pages/things", response_class=HTMLResponse, tags=[PAGES_TAG], summary="Things <live>")
        async def things() -> HTMLResponse:
            return HTMLResponse("<p>things</p>")

        return router

    async def body(client: httpx.AsyncClient) -> None:
        await _wait_health(client, lambda b: b["status"] == "ok")
        home = await client.get("/")
        assert home.status_code == 200 and home.headers["content-security-policy"] == PAGE_CSP
        assert '<a href="/pages/things">Things &lt;live&gt;</a>' in home.text
        assert '<tr data-actor="heartbeat">' in home.text and '<tr data-actor="api">' in home.text
        live = await client.get("/pages/home/live")
        assert live.status_code == 200 and '<table id="actors">' in live.text and "<html" not in live.text
        script = await client.get("/static/live.js")
        assert script.status_code == 200 and script.headers["content-type"].startswith("text/javascript")
        assert (await client.get("/static/missing.js")).status_code == 404

    assert await with_engine(_config(tmp_path, redis_url), body, routers=(pages,)) == 0


async def test_admin_requires_bearer_token_when_set(tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url, env={"ENGINE_ADMIN_TOKEN": "tok-123"})

    async def body(client: httpx.AsyncClient) -> None:
        assert (await client.get("/admin/config")).status_code == 401
        assert (await client.get("/admin/config", headers={"Authorization": "Bearer nope"})).status_code == 401
        ok = await client.get("/admin/config", headers={"Authorization": "Bearer tok-123"})
        assert ok.status_code == 200
        assert ok.json()["api"]["admin_token_env"] == "ENGINE_ADMIN_TOKEN"
        assert "tok-123" not in ok.text

    assert await with_engine(loaded, body) == 0


async def test_crashing_actor_is_restarted_and_shown(tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url, extra="max_restarts = 1000\nwindow_s = 1.0\n")
    spec = ChildSpec("crasher", Crasher, restart=Restart.PERMANENT)

    async def body(client: httpx.AsyncClient) -> None:
        health = await _wait_health(client, lambda b: _actor(b, "crasher")["restarts"] >= 3)
        assert "boom" in _actor(health, "crasher")["last_error"]
        assert [a["name"] for a in health["actors"]] == ["heartbeat", "crasher", "api"]
        assert _actor(health, "heartbeat")["state"] == _actor(health, "api")["state"] == "running"
        metrics = (await client.get("/metrics")).text
        assert 'engine_actor_restarts_total{actor="crasher"}' in metrics

    assert await with_engine(loaded, body, (spec,)) == 0


async def test_escalation_stops_the_engine_with_non_zero_code(tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url, extra="max_restarts = 3\nwindow_s = 60.0\n")
    with trio.fail_after(20):
        code = await run_engine(loaded, extra_specs=(ChildSpec("crasher", Crasher),), handle_signals=False)
    assert code == EXIT_ESCALATED


async def test_redis_outage_degrades_health_and_heartbeat_comes_back(tmp_path: Path, private_redis: Any) -> None:
    """Redis killed under a running engine: the API keeps answering; after the restart the
    writer reconnects and the heartbeat is in the (empty) new server again."""
    async def body(client: httpx.AsyncClient) -> None:
        await _wait_health(client, lambda b: b["status"] == "ok")
        await trio.to_thread.run_sync(private_redis.kill)
        degraded = await _wait_health(client, lambda b: not b["redis"]["connected"])
        assert degraded["status"] == "degraded"
        assert {a["state"] for a in degraded["actors"]} == {"running"}
        await trio.to_thread.run_sync(private_redis.restart)
        healed = await _wait_health(client, lambda b: b["status"] == "ok" and b["redis"]["generation"] >= 1)
        assert healed["redis"]["dropped_ops"] == 0
        reader = redis_py.Redis.from_url(private_redis.url, decode_responses=True)
        try:
            while (raw := await trio.to_thread.run_sync(reader.get, "engine:heartbeat")) is None:
                await trio.sleep(0.02)
        finally:
            reader.close()
        assert json.loads(raw)["engine"] == "engine"

    assert await with_engine(_config(tmp_path, private_redis.url), body) == 0
