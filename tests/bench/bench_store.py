"""RedisStore throughput against a raw redis-py pipeline, on a private embedded redis-server.

Run: ``python -m tests.bench.bench_store [N]``. Two figures:

* distinct keys: N HSETs (2 fields) to N keys, enqueued then flushed, vs the same
  commands through a raw sync pipeline of 1000 per execute (the store's floor: it cannot
  coalesce, so this shows its overhead: thread hops, MULTI/EXEC, bookkeeping);
* hot keys: N updates over 1,000 keys, enqueued in steps of 1,000 with a scheduling
  point between steps (as actors would), vs the raw pipeline sending all N.

Each figure is the best of two interleaved rounds (about 30 s in all).
"""

from __future__ import annotations

import sys
import time

import redis
import structlog
import trio

from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore
from tests.bench._report import BenchResult, emit

HOT_KEYS = 1_000
RAW_BATCH = 1_000
ROUNDS = 2


def _raw_hsets(url: str, keys: list[str]) -> float:
    """Seconds to send one HSET per entry of ``keys`` through a raw pipeline."""
    client = redis.Redis.from_url(url)
    client.flushall()
    started = time.perf_counter()
    for offset in range(0, len(keys), RAW_BATCH):
        pipe = client.pipeline(transaction=False)
        for i, key in enumerate(keys[offset : offset + RAW_BATCH], start=offset):
            pipe.hset(key, mapping={"price": i, "ts": 1_700_000_000_000 + i})
        pipe.execute()
    elapsed = time.perf_counter() - started
    client.close()
    return elapsed


async def _store_hsets(url: str, keys: list[str], step: int) -> tuple[float, float]:
    """Seconds from the first enqueue until all is on the server, and commands sent."""
    redis.Redis.from_url(url).flushall()
    metrics = EngineMetrics()
    log = structlog.get_logger()
    store = RedisStore(url, clock=Clock(), log=log, metrics=metrics)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        started = time.perf_counter()
        for offset in range(0, len(keys), step):
            for i in range(offset, min(offset + step, len(keys))):
                store.hset(keys[i], {"price": i, "ts": 1_700_000_000_000 + i})
            await trio.lowlevel.checkpoint()
        assert await store.flush()
        elapsed = time.perf_counter() - started
        await store.aclose()
        nursery.cancel_scope.cancel()
    return elapsed, metrics.registry.get_sample_value("engine_redis_commands_total") or 0.0


def main(n: int = 200_000) -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings only
    distinct = [f"bench:{{k{i}}}" for i in range(n)]
    hot = [f"bench:{{hot{i % HOT_KEYS}}}" for i in range(n)]
    raw_distinct_s = store_distinct_s = raw_hot_s = store_hot_s = float("inf")
    hot_commands = 0.0
    with EmbeddedRedis() as server:
        for _round in range(ROUNDS):  # interleaved, best of each: the machine may be shared
            raw_distinct_s = min(raw_distinct_s, _raw_hsets(server.url, distinct))
            store_distinct_s = min(store_distinct_s, trio.run(_store_hsets, server.url, distinct, n)[0])
            raw_hot_s = min(raw_hot_s, _raw_hsets(server.url, hot))
            elapsed_s, commands = trio.run(_store_hsets, server.url, hot, 1_000)
            if elapsed_s < store_hot_s:
                store_hot_s, hot_commands = elapsed_s, commands
    emit([
        BenchResult(
            name=f"store hset 2 fields, {n:,} distinct keys (enqueue + flush)", value=n / store_distinct_s,
            unit="ops/s", baseline_name=f"raw redis-py pipeline of {RAW_BATCH}", baseline_value=n / raw_distinct_s,
        ),
        BenchResult(
            name=f"store hset, {n:,} updates over {HOT_KEYS:,} keys ({hot_commands:,.0f} commands sent)",
            value=n / store_hot_s, unit="updates/s",
            baseline_name=f"raw redis-py pipeline of {RAW_BATCH} (all {n:,} sent)", baseline_value=n / raw_hot_s,
        ),
    ])


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 200_000)
