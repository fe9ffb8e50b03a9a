"""Injected clock: one source of monotonic and wall time so tests can run on MockClock."""

from __future__ import annotations

import time

import attrs
import trio


@attrs.define
class Clock:
    """Monotonic time from trio's clock, wall time anchored to it at creation.

    Under trio's MockClock the wall time advances with the mock clock, so a day of
    schedule runs in milliseconds and timestamps stay consistent with sleeps.
    Create it inside ``trio.run``.
    """

    epoch_s: float = attrs.field(factory=time.time)
    origin_s: float = attrs.field(factory=trio.current_time)

    def monotonic(self) -> float:
        """Seconds on trio's clock (what deadlines and sleeps use)."""
        return trio.current_time()

    def time_s(self) -> float:
        """Unix seconds, UTC."""
        return self.epoch_s + (trio.current_time() - self.origin_s)

    def time_ms(self) -> int:
        """Unix milliseconds, UTC: the unit of every timestamp written to Redis."""
        return int(self.time_s() * 1000)

    async def sleep(self, seconds: float) -> None:
        await trio.sleep(seconds)

    async def sleep_until_time_s(self, unix_s: float) -> None:
        """Sleep until a wall-clock instant (schedules such as 08:00 UTC)."""
        await trio.sleep(max(0.0, unix_s - self.time_s()))
