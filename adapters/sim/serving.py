"""Serving a simulated venue's ASGI app on loopback with hypercorn's trio worker."""

from __future__ import annotations

from functools import partial
from typing import Any

import hypercorn.config
import hypercorn.trio
import trio


def hypercorn_config(host: str, port: int, ws_ping_interval_s: float | None = 10.0) -> hypercorn.config.Config:
    """Quiet config; websocket pings every ``ws_ping_interval_s`` like the real feeds."""
    config = hypercorn.config.Config()
    config.bind = [f"{host}:{port}"]
    config.accesslog = None
    config.loglevel = "WARNING"
    config.graceful_timeout = 0.5
    config.keep_alive_max_requests = 1_000_000
    config.websocket_ping_interval = ws_ping_interval_s
    return config


async def serve_app(app: Any, host: str, port: int, *, shutdown: trio.Event,
                    ws_ping_interval_s: float | None = 10.0,
                    task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until ``shutdown`` is set; ``task_status.started`` gets the bound base URL."""
    config = hypercorn_config(host, port, ws_ping_interval_s)
    async with trio.open_nursery() as nursery:
        binds = await nursery.start(partial(hypercorn.trio.serve, app, config, shutdown_trigger=shutdown.wait))
        task_status.started(binds[0])
