"""Generating every market's instrument names, beside the Redis transaction that stores them.

Both measured in the same run: the pure planning (maturities, SVI, strikes, names for BTC,
ETH and ARB) and the one MULTI/EXEC per market that writes the sets (through RedisStore
to a private redis-server).
"""

from __future__ import annotations

import statistics
import time

import structlog
import trio

from actors.instruments.maturities import live_maturities
from actors.instruments.plan import chunks, plan_market, plan_set_update
from actors.instruments.service import market_rules
from adapters.sim.svi_feed import sim_svi_params
from engine import keys
from engine.clock import Clock
from engine.config import InstrumentMarketConfig
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore
from tests.bench._report import BenchResult, emit

PRICES = {"BTC": 86_000.0, "ETH": 3_200.0, "ARB": 0.42}
ROUNDS = 20


def plan_all(now_ms: int, svi: dict[str, str]) -> dict[str, frozenset[str]]:
    out = {}
    for market, price in PRICES.items():
        rules = market_rules(market, InstrumentMarketConfig())
        maturities = live_maturities(now_ms, rules.policy)
        by_code = {m.code: svi.get(keys.svi(market, m.code)) for m in maturities}
        out[market] = plan_market(rules, maturities, price, now_ms, by_code).names
    return out


async def main() -> list[BenchResult]:
    clock = Clock()
    now_ms = clock.time_ms()
    svi = sim_svi_params(now_ms / 1000)
    plan_s = []
    for _ in range(ROUNDS):
        started = time.perf_counter()
        names = plan_all(now_ms, svi)
        plan_s.append(time.perf_counter() - started)
    total_names = sum(len(n) for n in names.values())
    with EmbeddedRedis() as server:
        store = RedisStore(server.url, clock=clock, log=structlog.get_logger(), metrics=EngineMetrics())
        commit_s = []
        async with trio.open_nursery() as nursery:
            await nursery.start(store.run)
            for round_ in range(ROUNDS):
                if round_ % 2 == 0:  # alternate: fill an empty set, then remove it all again
                    await store.commit(_delete_all(store))
                started = time.perf_counter()
                for market, market_names in names.items():
                    update = plan_set_update((), market_names, now_ms)
                    batch = store.atomic()
                    for chunk in chunks(update.add, 1000):
                        batch.sadd(keys.instruments(market), *chunk)
                    batch.set(keys.instruments_updated_at(market), str(now_ms))
                    assert await store.commit(batch)
                commit_s.append(time.perf_counter() - started)
            await store.aclose()
            nursery.cancel_scope.cancel()
    plan_ms = statistics.median(plan_s) * 1000
    commit_ms = statistics.median(commit_s) * 1000
    return [BenchResult(f"plan BTC+ETH+ARB ({total_names} names, median of {ROUNDS})", plan_ms, "ms",
                        "Redis MULTI/EXEC per market writing them", commit_ms, higher_is_better=False)]


def _delete_all(store: RedisStore):  # type: ignore[no-untyped-def]
    batch = store.atomic()
    for market in PRICES:
        batch.delete(keys.instruments(market))
    return batch


if __name__ == "__main__":
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))
    emit(trio.run(main))
