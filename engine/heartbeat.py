"""Liveness for other services: the engine's heartbeat in Redis."""

from __future__ import annotations

import json
import os

import attrs

from engine import keys
from engine.actor import ActorContext


@attrs.define
class HeartbeatActor:
    """Writes ``engine:heartbeat`` every ``interval_s`` so readers can tell a stale engine.

    A reader treats a ``ts`` older than a few intervals as an engine that is down.
    """

    engine_name: str
    interval_s: float

    async def run(self, ctx: ActorContext) -> None:
        started_ms = ctx.clock.time_ms()
        while True:
            payload = {
                "engine": self.engine_name,
                "pid": os.getpid(),
                "started_ts": started_ms,
                "ts": ctx.clock.time_ms(),
                "interval_s": self.interval_s,
            }
            ctx.store.set(keys.ENGINE_HEARTBEAT, json.dumps(payload, separators=(",", ":")))
            await ctx.clock.sleep(self.interval_s)
