"""WebSocket glue shared by the API routers: push until the client leaves or the engine stops."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import trio
from starlette.websockets import WebSocket, WebSocketDisconnect, WebSocketDisconnected

WS_POLICY_VIOLATION = 1008  # RFC 6455: the request broke the endpoint's rules
WS_GOING_AWAY = 1001  # RFC 6455: the server is shutting down
CLIENT_GONE = (WebSocketDisconnect, WebSocketDisconnected)


async def until_client_leaves(websocket: WebSocket) -> None:
    """Drain (and ignore) client frames until the disconnect: the only way to notice it."""
    while (await websocket.receive())["type"] != "websocket.disconnect":
        pass


async def close_when_stopping(stopping: trio.Event, websocket: WebSocket) -> None:
    """Close with 1001 when the API stops, so hypercorn's graceful shutdown does not wait on us."""
    await stopping.wait()
    try:
        await websocket.close(code=WS_GOING_AWAY, reason="server shutting down")
    except (*CLIENT_GONE, RuntimeError):
        pass  # already gone or already closed


async def first_done(*tasks: Callable[[], Awaitable[Any]]) -> None:
    """Run the tasks together; when any one returns, cancel the others."""
    async with trio.open_nursery() as nursery:
        async def run(task: Callable[[], Awaitable[Any]]) -> None:
            await task()
            nursery.cancel_scope.cancel()
        for task in tasks:
            nursery.start_soon(run, task)


async def serve_push(websocket: WebSocket, stopping: trio.Event, forward: Callable[[], Awaitable[Any]]) -> None:
    """Run ``forward`` (the pushes) until it ends, the client leaves, or the engine stops."""
    await first_done(forward, lambda: until_client_leaves(websocket), lambda: close_when_stopping(stopping, websocket))
