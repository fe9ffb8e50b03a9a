"""Actor contract: an attrs class with ``async def run(self, ctx)`` and its context."""

from __future__ import annotations

import enum
from typing import Any, Callable, Protocol, runtime_checkable

import attrs
import trio

from engine.clock import Clock
from engine.health import HealthBoard
from engine.metrics import EngineMetrics


class Restart(enum.Enum):
    """OTP restart types."""

    PERMANENT = "permanent"  # always restarted, even after a normal return
    TRANSIENT = "transient"  # restarted only after an exception
    TEMPORARY = "temporary"  # never restarted


@runtime_checkable
class Actor(Protocol):
    """An actor does its I/O in ``run``; pure logic lives beside it in plain functions.

    An actor whose class sets ``stop_gracefully = True`` is asked to stop by
    ``ctx.stopping`` being set, and is cancelled only if it has not returned within
    the cleanup window (market makers cancel their orders there; the API server runs
    its lifespan shutdown). Other actors are cancelled at once.
    """

    async def run(self, ctx: "ActorContext") -> None: ...


@attrs.define(eq=False)
class ActorContext:
    """Everything an actor may touch; there are no module-level clients."""

    name: str
    bus: Any
    store: Any
    clock: Clock
    log: Any
    metrics: EngineMetrics
    config: Any = None
    venues: dict[str, Any] = attrs.field(factory=dict)
    health: HealthBoard = attrs.field(factory=HealthBoard)
    stopping: trio.Event = attrs.field(factory=trio.Event)
    ready: trio.Event = attrs.field(factory=trio.Event)

    def mark_ready(self) -> None:
        """Say the actor can serve its siblings (e.g. its sockets are bound): the supervisor
        starts the next child only then when the spec sets ``ready_timeout_s``."""
        self.ready.set()

    def report(self, component: str, ok: bool, detail: str | None = None) -> None:
        """Show a component's state (e.g. one market's last update) in /health."""
        self.health.report(component, ok, detail, self.clock.time_ms())

    def retire(self, component: str) -> None:
        """Remove a component from /health once the thing it described is gone."""
        self.health.retire(component)


@attrs.define(frozen=True)
class ChildSpec:
    """How the supervisor runs one actor.

    ``factory`` builds a fresh actor for every (re)start so no state leaks from a
    crashed run; whatever must survive a restart is read back from Redis.
    """

    name: str
    factory: Callable[[], Actor]
    restart: Restart = Restart.PERMANENT
    config: Any = None
    # Set: the next child starts once this one's first run calls ``ctx.mark_ready()`` (or ends),
    # waiting at most this long; unset: at this child's first checkpoint.
    ready_timeout_s: float | None = None
