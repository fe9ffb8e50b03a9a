"""The engine's API on a free loopback port, for router tests: alone (an ApiActor) or in a whole engine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import httpx
import trio

from engine.actor import ActorContext, ChildSpec
from engine.api import ApiActor
from engine.runtime import run_engine


@asynccontextmanager
async def api_served(ctx: ActorContext, routers: Sequence[Any], admin_token: str | None = None) -> AsyncIterator[str]:
    """``build_app`` served by the ApiActor (hypercorn) with ``routers``; yields its base URL and on exit
    stops it the way the supervisor does (``ctx.stopping``: hypercorn's graceful shutdown)."""
    urls: list[str] = []
    listening, done = trio.Event(), trio.Event()

    def on_listening(binds: list[str]) -> None:
        urls.extend(binds)
        listening.set()

    api = ApiActor("127.0.0.1", 0, list, admin_token=admin_token, on_listening=on_listening, routers=tuple(routers))

    async def run_api() -> None:
        await api.run(ctx)
        done.set()

    async with trio.open_nursery() as nursery:
        nursery.start_soon(run_api)
        await listening.wait()
        yield urls[0]
        ctx.stopping.set()
        await done.wait()


async def with_engine(loaded: Any, body: Callable[[httpx.AsyncClient], Awaitable[Any]],
                      extra_specs: tuple[ChildSpec, ...] = (), routers: tuple[Any, ...] = ()) -> int:
    """``run_engine`` with ``extra_specs`` and ``routers``, ``body`` run against its API; the exit code."""
    urls: list[str] = []
    listening, stop = trio.Event(), trio.Event()

    def on_listening(binds: list[str]) -> None:
        urls.extend(binds)
        listening.set()

    exit_code: list[int] = []

    async def engine() -> None:
        exit_code.append(await run_engine(loaded, extra_specs=extra_specs, routers=routers,
                                          on_listening=on_listening, handle_signals=False, stop_event=stop))

    with trio.fail_after(20):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine)
            await listening.wait()
            async with httpx.AsyncClient(base_url=urls[0]) as client:
                await body(client)
            stop.set()
    return exit_code[0]
