"""What the writer knows about its link to Redis: connected or not, errors, drops, backoff.

Kept apart from the loop so every state change logs exactly once and updates the
``redis_*`` metrics in one place.
"""

from __future__ import annotations

import math
import random
from typing import Any

import attrs

from engine.clock import Clock
from engine.metrics import EngineMetrics

DROP_LOG_INTERVAL_S = 10.0


@attrs.define(eq=False)
class WriterLink:
    clock: Clock
    log: Any
    metrics: EngineMetrics
    reconnect_initial_s: float = 0.05
    reconnect_max_s: float = 2.0
    connected: bool | None = None  # None until the first attempt
    generation: int = 0
    last_error: str | None = None
    failures: int = 0
    outage_started_s: float = 0.0
    unreported_drops: int = 0
    drop_logged_s: float = -math.inf
    rng: random.Random = attrs.field(factory=random.Random)

    def backoff_s(self) -> float:
        """Capped exponential backoff with jitter (half to all of the step)."""
        step_s = min(self.reconnect_max_s, self.reconnect_initial_s * 2 ** min(max(self.failures - 1, 0), 30))
        return step_s * (0.5 + 0.5 * self.rng.random())

    def dropped(self, ops: int, total_ops: int, max_pending_ops: int) -> None:
        if not ops:
            return
        self.unreported_drops += ops
        self.metrics.redis_dropped_ops.inc(ops)
        now_s = self.clock.monotonic()
        if now_s - self.drop_logged_s >= DROP_LOG_INTERVAL_S:  # one line per 10 s while dropping
            self.drop_logged_s = now_s
            self.log.warning(
                "redis_buffer_full", dropped_ops_total=total_ops, max_pending_ops=max_pending_ops,
                connected=bool(self.connected),
            )

    def disconnected(self, exc: BaseException, pending_ops: int) -> None:
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        if self.connected is not False:
            self.connected = False
            self.outage_started_s = self.clock.monotonic()
            self.metrics.redis_connected.set(0)
            self.log.warning("redis_disconnected", error=self.last_error, pending_ops=pending_ops)
        self.metrics.redis_pending_ops.set(pending_ops)

    def refused(self, exc: BaseException, pending_ops: int) -> None:
        """The server answered but refused the whole MULTI (OOM, READONLY, MISCONF...)."""
        self.failures += 1
        error = f"{type(exc).__name__}: {exc}"
        if error != self.last_error:
            self.log.error("redis_flush_refused", error=error, pending_ops=pending_ops)
        self.last_error = error

    def failed(self, exc: BaseException, dropped_ops: int) -> None:
        """Not a Redis answer: a bug. Logged with its traceback; the flush was dropped."""
        self.failures += 1
        self.last_error = f"{type(exc).__name__}: {exc}"
        self.log.exception("redis_flush_failed", dropped_ops=dropped_ops)

    def command_failed(self, command: str, key: str, error: BaseException) -> None:
        self.last_error = f"{command} {key}: {error}"
        self.log.error("redis_command_failed", command=command, key=key, error=str(error))

    def reset(self, mirrored_keys: int, stream_entries: int = 0) -> None:
        self.generation += 1
        self.log.warning(
            "redis_reset_detected", generation=self.generation, mirrored_keys=mirrored_keys,
            stream_entries=stream_entries, dropped_ops=self.unreported_drops,
        )
        if self.connected:  # no redis_reconnected line follows to report them
            self.unreported_drops = 0

    def flushed(self, pending_ops: int) -> None:
        self.failures = 0
        if self.connected is not True:
            if self.connected is False:
                self.log.info(
                    "redis_reconnected", dropped_ops=self.unreported_drops,
                    outage_s=round(self.clock.monotonic() - self.outage_started_s, 3), generation=self.generation,
                )
                self.unreported_drops = 0
            else:
                self.log.info("redis_connected", generation=self.generation)
            self.connected = True
            self.metrics.redis_connected.set(1)
        self.metrics.redis_pending_ops.set(pending_ops)
