"""Seeded, deterministic market processes: the same seed and steps give the same market."""

from __future__ import annotations

import hashlib
import math
import random
from typing import Callable

import attrs
import trio

from engine.quant import SECONDS_PER_YEAR


def sub_rng(seed: int, *names: str) -> random.Random:
    """An independent generator per (seed, name): adding a symbol never shifts the others."""
    digest = hashlib.sha256(":".join((str(seed), *names)).encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "little"))


@attrs.define
class JumpGBM:
    """Geometric Brownian motion with Poisson jumps, stepped in seconds of market time."""

    price: float
    rng: random.Random
    vol_annual: float = 0.6
    drift_annual: float = 0.0
    jumps_per_day: float = 2.0
    jump_vol: float = 0.01  # stdev of log jump size

    def step(self, dt_s: float) -> float:
        dt_y = dt_s / SECONDS_PER_YEAR
        shock = self.rng.gauss(0.0, 1.0) * self.vol_annual * math.sqrt(dt_y)
        log_ret = (self.drift_annual - 0.5 * self.vol_annual**2) * dt_y + shock
        if self.rng.random() < self.jumps_per_day * dt_s / 86_400:
            log_ret += self.rng.gauss(0.0, self.jump_vol)
        self.price *= math.exp(log_ret)
        return self.price

    def jump(self, pct: float) -> float:
        """Control API: move the price by ``pct`` percent at once."""
        self.price *= 1 + pct / 100.0
        return self.price


@attrs.define
class OIWalk:
    """Open interest as a multiplicative random walk that never goes negative."""

    value: float
    rng: random.Random
    vol_per_hour: float = 0.01

    def step(self, dt_s: float) -> float:
        self.value *= math.exp(self.rng.gauss(0.0, self.vol_per_hour * math.sqrt(dt_s / 3600.0)))
        return self.value

    def spike(self, pct: float) -> float:
        """Control API: a spike (pct > 0) or dump (pct < 0) of open interest."""
        self.value = max(0.0, self.value * (1 + pct / 100.0))
        return self.value


async def step_on_grid(step: Callable[[float], None], interval_s: float) -> None:
    """Call ``step(interval_s)`` on a fixed grid of trio time, forever.

    Fixed steps keep a running market on the same path a test gets by calling ``step``
    itself with the same seed; the grid keeps it from drifting behind the clock.
    """
    deadline = trio.current_time()
    while True:
        deadline += interval_s
        await trio.sleep_until(deadline)
        step(interval_s)
