"""The HTTP API shell: FastAPI on hypercorn's trio worker, inside the engine's nursery.

The API answers only from in-memory state; it never calls a venue. Capabilities add
their routers to the app built here; the operator home page (``engine.pages``) comes last
and links the pages they tag.
"""

from __future__ import annotations

import hmac
from functools import partial
from typing import Any, Callable, ClassVar

import attrs
import hypercorn.config
import hypercorn.trio
import trio
from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, Response
from prometheus_client import CONTENT_TYPE_LATEST

from engine.actor import ActorContext
from engine.pages import page_links, pages_router

HealthSource = Callable[[], list[Any]]
# A capability's routes: given the API actor's context and the admin guard, an APIRouter.
RouterFactory = Callable[[ActorContext, Callable[[Request], None]], APIRouter]


def _admin_guard(admin_token: str | None) -> Callable[[Request], None]:
    """Admin routes need ``Authorization: Bearer <token>`` whenever a token is configured.

    Config validation guarantees a token exists when the API binds a non-loopback address.
    """

    def require_admin(request: Request) -> None:
        if admin_token is None:
            return
        header = request.headers.get("authorization", "")
        scheme, _, supplied = header.partition(" ")
        if scheme.lower() != "bearer" or not hmac.compare_digest(supplied.strip().encode(), admin_token.encode()):
            raise HTTPException(status_code=401, detail="admin endpoint: missing or wrong bearer token",
                                headers={"WWW-Authenticate": "Bearer"})

    return require_admin


def build_app(ctx: ActorContext, health: HealthSource, admin_token: str | None, effective_config: dict[str, Any],
              routers: tuple[RouterFactory, ...] = ()) -> FastAPI:
    """The engine's app: health, metrics, admin; capabilities include their own routers."""
    app = FastAPI(title="Trading engine API", version="0.1.0")
    require_admin = _admin_guard(admin_token)
    app.state.require_admin = require_admin

    def health_document() -> dict[str, Any]:
        actors = [
            {"name": s.name, "state": s.state.value, "restarts": s.restarts, "last_error": s.last_error, "since_ms": s.since_ms}
            for s in health()
        ]
        components = [attrs.asdict(c) for c in ctx.health.snapshot()]
        store = ctx.store.status()
        degraded = (not store.connected or any(a["state"] not in ("running", "completed") for a in actors)
                    or any(not c["ok"] for c in components))
        return {
            "status": "degraded" if degraded else "ok",
            "ts": ctx.clock.time_ms(),
            "actors": actors,
            "components": components,
            "redis": attrs.asdict(store),
        }

    @app.get("/health", summary="Liveness and per-actor state")
    async def get_health() -> JSONResponse:
        return JSONResponse(health_document())

    @app.get("/metrics", summary="Prometheus text exposition")
    async def get_metrics() -> Response:
        return Response(ctx.metrics.render(), media_type=CONTENT_TYPE_LATEST)

    @app.get("/admin/config", summary="The validated configuration in force (secrets appear only as variable names)",
             dependencies=[Depends(require_admin)])
    async def get_config() -> dict[str, Any]:
        return effective_config

    for factory in routers:
        app.include_router(factory(ctx, require_admin))
    def linked_pages() -> list[tuple[str, str]]:
        try:
            return page_links(app.openapi())
        except Exception as error:  # a route OpenAPI cannot describe must not take the home page down
            ctx.log.warning("page_links_unavailable", error=f"{type(error).__name__}: {error}")
            return []

    # the operator home page (and the static files every page uses) links the capabilities' pages
    app.include_router(pages_router(health_document, linked_pages))
    return app


@attrs.define
class ApiActor:
    """Serves the app until ``ctx.stopping`` is set, so hypercorn runs its lifespan shutdown.

    Cancelling ``serve`` instead would skip the shutdown; hence ``stop_gracefully``.
    """

    stop_gracefully: ClassVar[bool] = True

    host: str
    port: int
    health: HealthSource
    admin_token: str | None = None
    effective_config: dict[str, Any] = attrs.field(factory=dict)
    graceful_timeout_s: float = 2.0
    on_listening: Callable[[list[str]], None] | None = None
    routers: tuple[RouterFactory, ...] = ()

    async def run(self, ctx: ActorContext) -> None:
        app = build_app(ctx, self.health, self.admin_token, self.effective_config, self.routers)
        config = hypercorn.config.Config()
        config.bind = [f"{self.host}:{self.port}"]
        config.accesslog = None
        config.loglevel = "WARNING"
        config.graceful_timeout = self.graceful_timeout_s
        config.keep_alive_max_requests = 1_000_000
        async with trio.open_nursery() as nursery:
            binds = await nursery.start(partial(hypercorn.trio.serve, app, config, shutdown_trigger=ctx.stopping.wait))
            ctx.log.info("api_listening", urls=binds)
            if self.on_listening is not None:
                self.on_listening(list(binds))
        ctx.log.info("api_stopped")
