"""OI surveillance: requests achieved against the weight budget, and the alert latency.

Run: ``python -m tests.bench.bench_oi``. Real parts throughout: the simulated Binance over
loopback HTTP (its ~300 perpetuals, its own weight accounting), the engine's
``BinancePublic`` with the shared ``WindowBudget``, the three OI actors on a ``Bus``, and a
``RedisStore`` on a private redis-server.

* requests/min: the LiquidityActor picks the universe (ENTER 4M / EXIT 2M USDT), the poller
  runs at the default 2000 requests/min for ``RUN_S`` seconds; achieved openInterest
  requests per minute beside the plan's own rate for that universe (``requests_per_min``
  of the interval rule), and the venue-counted weight per minute beside the budget the
  engine allows itself (2400 x 0.9). A ratio near 1 means the budget is spent as planned,
  neither wasted nor overdrawn (the venue's count also shows no 429).
* alert latency: OI spikes injected into 8 symbols spread over the round's order; time from
  the injection until each alert is recorded (queued for Redis, on the channel and /ws),
  median and worst, beside the poll interval: a spike is seen when its symbol's turn comes
  (0 to 1 interval later) and samples reach the alert actor in batches every 250 ms.
"""

from __future__ import annotations

import statistics
import time

import attrs
import structlog
import trio

from actors.oi.alert_actor import AlertActor
from actors.oi.alerts import AlertRules
from actors.oi.interval import requests_per_min
from actors.oi.liquidity import LiquidityActor
from actors.oi.poller import OIPollerActor
from adapters.binance.public import BinancePublic
from adapters.clients import binance_budget
from adapters.http import open_http_client
from adapters.sim.venues import SimPorts, SimVenues
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore
from tests.bench._report import BenchResult, emit

RUN_S = 40.0
SPIKES = 8  # symbols spiked at once, spread over the round's order
IP = "127.0.0.1"


async def _bench(redis_url: str) -> list[BenchResult]:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings and up
    clock, metrics, log = Clock(), EngineMetrics(), structlog.get_logger()
    sim = SimVenues(seed=5, clock=clock, ports=SimPorts(venues={"binance": 0}), options={})
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(sim.run)
        store = RedisStore(redis_url, clock=clock, log=log, metrics=metrics)
        await nursery.start(store.run)
        async with open_http_client(10.0) as http:
            budget = binance_budget(clock, metrics)
            public = BinancePublic(urls["binance"], http, budget, clock, log, metrics)
            ctx = ActorContext(name="oi", bus=Bus(metrics), store=store, clock=clock, log=log, metrics=metrics,
                               venues={"binance": public})
            alerts = AlertActor(AlertRules(pct_threshold=5.0, cooldown_s=3600), ring_interval_s=5.0)
            poller = OIPollerActor(max_requests_per_min=2000)
            universe = LiquidityActor(interval_s=3600)
            for name, actor in (("oi_alerts", alerts), ("oi_poller", poller), ("oi_universe", universe)):
                nursery.start_soon(actor.run, attrs.evolve(ctx, name=name))
            with trio.fail_after(30):
                while poller.rounds < 1:
                    await trio.sleep(0.1)
            stats = sim.accounting("binance").clients[IP]
            requests_0, weight_0, started = poller.requests, stats.weight, time.perf_counter()
            await trio.sleep(RUN_S)
            minutes = (time.perf_counter() - started) / 60
            achieved = (poller.requests - requests_0) / minutes
            weight_rate = (stats.weight - weight_0) / minutes
            symbols = len(universe.meta)
            planned = requests_per_min(symbols, poller.interval_s)
            members = sorted(universe.meta)
            targets = [members[i * len(members) // SPIKES] for i in range(SPIKES)]
            for target in targets:
                sim.action("binance", "spike_oi", {"symbol": target, "pct": 25.0})
            spiked, seen = time.perf_counter(), {}
            with trio.fail_after(3 * poller.interval_s + 5):
                while len(seen) < len(targets):
                    for target in targets:
                        if target not in seen and (target, "UP") in alerts.last_alert_ms:
                            seen[target] = (time.perf_counter() - spiked) * 1000
                    await trio.sleep(0.005)
            await store.flush()
            latencies = sorted(seen.values())
            throttled = stats.throttled
            nursery.cancel_scope.cancel()
    return [
        BenchResult(f"OI poller openInterest requests/min ({symbols} symbols every {poller.interval_s:g} s, "
                    f"{throttled} throttled)", achieved, "req/min", "the interval rule's plan", planned),
        BenchResult("OI surveillance weight spent per minute (venue's count, all OI calls)", weight_rate,
                    "weight/min", f"budget the engine allows itself ({budget.allowed})", float(budget.allowed)),
        BenchResult(f"OI alert latency, spike injected -> alert recorded, median of {SPIKES} symbols",
                    statistics.median(latencies), "ms", f"one poll interval ({poller.interval_s:g} s)",
                    poller.interval_s * 1000, higher_is_better=False),
        BenchResult(f"OI alert latency, worst of {SPIKES} symbols", latencies[-1], "ms",
                    f"one poll interval ({poller.interval_s:g} s)", poller.interval_s * 1000, higher_is_better=False),
    ]


def main() -> None:
    with EmbeddedRedis() as server:
        emit(trio.run(_bench, server.url))


if __name__ == "__main__":
    main()
