"""Helpers of the venue-adapter integration tests: the simulators on loopback, adapters
pointed at them, and a way to place the shared wall clock within its minute."""

from __future__ import annotations

import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import httpx
import structlog
import trio

from adapters.binance.public import BinancePublic
from adapters.clients import binance_budget, deribit_limiter
from adapters.deribit.rest import DeribitRest
from adapters.sim.venues import SimPorts, SimVenues
from engine.clock import Clock
from engine.metrics import EngineMetrics

SIM_OPTIONS = {"dhan": {"access_token": "t", "client_id": "1"}}
IP = "127.0.0.1"  # the simulators account per client address


@attrs.define
class Sim:
    venues: SimVenues
    urls: dict[str, str]
    clock: Clock

    @property
    def deribit_url(self) -> str:
        return self.urls["deribit"] + "/api/v2"

    @property
    def binance_url(self) -> str:
        return self.urls["binance"]

    def stats(self, venue: str) -> Any:
        return self.venues.accounting(venue).clients[IP]


@asynccontextmanager
async def running_sim(*venues: str, seed: int = 11) -> AsyncIterator[Sim]:
    """The simulated venues named (all three by default) on free loopback ports."""
    clock = Clock()
    ports = SimPorts(venues={name: 0 for name in venues}) if venues else SimPorts()
    sim = SimVenues(seed=seed, clock=clock, ports=ports, options=SIM_OPTIONS)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(sim.run)
        try:
            yield Sim(sim, urls, clock)
        finally:
            sim.stop()
            nursery.cancel_scope.cancel()


def jump_to_second(clock: Clock, second: float) -> float:
    """Move the shared wall clock forward to ``second`` of a minute (the next minute if
    that second has passed); returns the Unix time of that minute's end. Only forward:
    fixed windows on both sides stay consistent."""
    now_s = clock.time_s()
    target_s = math.floor(now_s / 60) * 60 + second
    if target_s <= now_s:
        target_s += 60
    clock.epoch_s += target_s - now_s
    return math.floor(target_s / 60) * 60 + 60


@attrs.define
class SendLog:
    """Wall time of every request an httpx client sent (an event hook)."""

    clock: Clock
    sent_at_s: list[float] = attrs.field(factory=list)

    async def __call__(self, request: httpx.Request) -> None:
        self.sent_at_s.append(self.clock.time_s())


def http_client(timeout_s: float = 5.0, sends: SendLog | None = None) -> httpx.AsyncClient:
    hooks = {"request": [sends]} if sends is not None else {}
    return httpx.AsyncClient(timeout=timeout_s, event_hooks=hooks)


def deribit_rest(sim: Sim, http: httpx.AsyncClient, metrics: EngineMetrics, **options: Any) -> DeribitRest:
    options = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, **options}
    return DeribitRest(sim.deribit_url, http, deribit_limiter(sim.clock, metrics), sim.clock,
                       structlog.get_logger(), metrics, **options)


def binance_public(sim: Sim, http: httpx.AsyncClient, metrics: EngineMetrics, **options: Any) -> BinancePublic:
    options = {"backoff_initial_s": 0.05, "backoff_max_s": 0.5, **options}
    return BinancePublic(sim.binance_url, http, binance_budget(sim.clock, metrics), sim.clock,
                         structlog.get_logger(), metrics, **options)


def metric(metrics: EngineMetrics, name: str, venue: str) -> float:
    return metrics.registry.get_sample_value(f"engine_venue_{name}_total", {"venue": venue}) or 0.0
