"""RedisStore against real redis-server processes: coalescing, order, atomicity, outages."""

from __future__ import annotations

import random
import threading
import time
from contextlib import asynccontextmanager
from functools import partial
from typing import Any, AsyncIterator

import pytest
import redis
import structlog
import trio
from structlog.testing import capture_logs

from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore, StoreUnavailable

FAST_RECONNECT = dict(reconnect_initial_s=0.01, reconnect_max_s=0.1, socket_timeout_s=1.0)


def _raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, decode_responses=True)


def _calls(raw: redis.Redis, command: str) -> int:
    return int(raw.info("commandstats").get(f"cmdstat_{command}", {}).get("calls", 0))


def _metric(metrics: EngineMetrics, name: str) -> float:
    return metrics.registry.get_sample_value(name) or 0.0


@asynccontextmanager
async def running_store(url: str, **options: Any) -> AsyncIterator[tuple[RedisStore, EngineMetrics]]:
    metrics = EngineMetrics()
    store = RedisStore(url, clock=Clock(), log=structlog.get_logger(), metrics=metrics, **options)
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        try:
            yield store, metrics
        finally:
            await store.aclose(timeout_s=2.0)
            nursery.cancel_scope.cancel()


async def _wait_until(predicate: Any, timeout_s: float = 5.0) -> None:
    with trio.fail_after(timeout_s):
        while not predicate():
            await trio.sleep(0.01)


async def test_latest_values_coalesce_while_a_flush_is_blocked(redis_url: str) -> None:
    raw = _raw(redis_url)
    raw.config_resetstat()
    async with running_store(redis_url) as (store, metrics):
        raw.client_pause(400, all=False)  # writes wait on the server: the next flush blocks
        store.set("price", "0")
        await trio.sleep(0.05)  # the writer is now inside a blocked flush
        for i in range(1, 10_001):
            store.set("price", str(i))
            if i % 1000 == 0:
                await trio.lowlevel.checkpoint()
        assert await store.flush(timeout_s=5)
        assert raw.get("price") == "10000"
        assert _calls(raw, "set") <= 3
        assert _metric(metrics, "engine_redis_commands_total") <= 3
    raw.close()


async def test_stream_order_is_kept_across_many_flushes(redis_url: str) -> None:
    raw = _raw(redis_url)
    async with running_store(redis_url, flush_max_ops=64) as (store, metrics):
        for i in range(3000):
            store.xadd("oi:samples:{BTCUSDT}", {"i": i, "source": "realtime"}, maxlen=10_000)
            if i % 50 == 0:
                await trio.sleep(0)
        assert await store.flush(timeout_s=5)
        assert _metric(metrics, "engine_redis_flushes_total") >= 3000 / 64
    entries = raw.xrange("oi:samples:{BTCUSDT}")
    assert [int(fields["i"]) for _id, fields in entries] == list(range(3000))
    raw.close()


async def test_hash_fields_merge_and_delete_replaces(redis_url: str) -> None:
    raw = _raw(redis_url)
    raw.hset("oi:liquid_meta:{ETHUSDT}", mapping={"from_before": "x"})
    raw.config_resetstat()
    async with running_store(redis_url) as (store, _metrics):
        store.hset("oi:liquid_meta:{ETHUSDT}", {"quote_volume_24h": "1"})
        store.hset("oi:liquid_meta:{ETHUSDT}", {"entered_at": "2"})
        store.hset("oi:liquid_meta:{ETHUSDT}", {"quote_volume_24h": "3"})
        assert await store.flush(timeout_s=2)
        assert raw.hgetall("oi:liquid_meta:{ETHUSDT}") == {"from_before": "x", "quote_volume_24h": "3", "entered_at": "2"}
        assert _calls(raw, "hset") == 1
        store.delete("oi:liquid_meta:{ETHUSDT}")
        store.hset("oi:liquid_meta:{ETHUSDT}", {"updated_at": "4"})
        assert await store.flush(timeout_s=2)
        assert raw.hgetall("oi:liquid_meta:{ETHUSDT}") == {"updated_at": "4"}
        assert store.mirror_value("oi:liquid_meta:{ETHUSDT}") == {"updated_at": "4"}
    raw.close()


async def test_atomic_batches_are_never_seen_half_written(redis_url: str) -> None:
    members_key, updated_key = "instruments:{BTC}", "instruments:{BTC}:updated_at"
    stop = threading.Event()
    snapshots: list[str] = []
    torn: list[tuple[int, str | None]] = []

    def reader() -> None:
        client = _raw(redis_url)
        while not stop.is_set():
            with client.pipeline(transaction=True) as pipe:
                members, updated = pipe.smembers(members_key).get(updated_key).execute()
            if updated is None and not members:
                continue
            generations = {member.split("-")[0] for member in members}
            if len(members) != 100 or generations != {updated}:
                torn.append((len(members), updated))
            snapshots.append(updated)
        client.close()

    async with running_store(redis_url, flush_max_ops=250) as (store, _metrics):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(trio.to_thread.run_sync, reader))
            for generation in range(300):
                names = [f"{generation}-BTC_USDC-28MAR25-{strike:06d}-C-{'x' * 30}" for strike in range(100)]
                store.submit(store.atomic().delete(members_key).sadd(members_key, *names).set(updated_key, str(generation)))
                if generation % 2 == 0:
                    await trio.sleep(0.003)
            assert await store.flush(timeout_s=5)
            await trio.sleep(0.05)
            stop.set()
    assert torn == []
    assert len(snapshots) > 20
    assert snapshots[-1] == "299"


async def test_publish_never_overtakes_an_earlier_set(redis_url: str) -> None:
    """Flushes take latest values and ordered ops in enqueue order, even one op at a time."""
    received: list[tuple[int, int]] = []
    subscribed = threading.Event()

    def subscriber() -> None:
        client = _raw(redis_url)
        pubsub = client.pubsub()
        pubsub.subscribe("chain:updated")
        pubsub.get_message(timeout=1.0)  # the subscribe confirmation
        subscribed.set()
        while len(received) < 200:
            message = pubsub.get_message(timeout=2.0)
            if message is None:
                break
            received.append((int(message["data"]), int(client.get("chain") or -1)))
        pubsub.close()
        client.close()

    async with running_store(redis_url, flush_max_ops=1) as (store, _metrics):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(partial(trio.to_thread.run_sync, subscriber))
            await trio.to_thread.run_sync(subscribed.wait)
            for i in range(200):
                store.set("chain", str(i))
                store.publish("chain:updated", str(i))
                if i % 10 == 0:
                    await trio.sleep(0.001)
    assert len(received) == 200
    assert all(value_seen >= published for published, value_seen in received)


@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_mixed_writes_match_a_sequential_reference(redis_url: str, seed: int) -> None:
    """Random latest-value, set, stream and batch writes through the store end in the
    same state as the same writes sent one by one, in order, by a plain client."""
    rng = random.Random(seed)
    raw = _raw(redis_url)
    strings, hashes, sets = ["s1", "s2"], ["h1", "h2"], ["S1", "S2"]
    async with running_store(redis_url, flush_max_ops=rng.choice([1, 3, 8])) as (store, _metrics):
        for step in range(500):
            value = str(step)
            choice = rng.randrange(9)
            if choice == 0:
                key = rng.choice(strings)
                store.set("st:" + key, value)
                raw.set("ref:" + key, value)
            elif choice == 1:
                key = rng.choice(hashes)
                field = rng.choice("abc")
                store.hset("st:" + key, {field: value})
                raw.hset("ref:" + key, field, value)
            elif choice == 2:
                key = rng.choice(strings + hashes + sets)
                store.delete("st:" + key)
                raw.delete("ref:" + key)
            elif choice == 3:
                key, member = rng.choice(sets), rng.choice("pqrs")
                store.sadd("st:" + key, member)
                raw.sadd("ref:" + key, member)
            elif choice == 4:
                key, member = rng.choice(sets), rng.choice("pqrs")
                store.srem("st:" + key, member)
                raw.srem("ref:" + key, member)
            elif choice == 5:
                store.xadd("st:x", {"v": value})
                raw.xadd("ref:x", {"v": value})
            elif choice == 6:  # replace a set and stamp it, atomically
                key, members = rng.choice(sets), rng.sample("pqrs", 2)
                store.submit(store.atomic().delete("st:" + key).sadd("st:" + key, *members).set("st:s1", value))
                raw.delete("ref:" + key)
                raw.sadd("ref:" + key, *members)
                raw.set("ref:s1", value)
            elif choice == 7:
                key = rng.choice(hashes)
                store.submit(store.atomic().delete("st:" + key).hset("st:" + key, {"z": value}))
                raw.delete("ref:" + key)
                raw.hset("ref:" + key, "z", value)
            else:
                await trio.sleep(0)
            if rng.random() < 0.15:
                await trio.sleep(0.0005)
        assert await store.flush(timeout_s=5)
        for key in strings:
            assert raw.get("st:" + key) == raw.get("ref:" + key), key
            assert store.mirror_value("st:" + key) == raw.get("ref:" + key)
        for key in hashes:
            assert raw.hgetall("st:" + key) == raw.hgetall("ref:" + key), key
        for key in sets:
            assert raw.smembers("st:" + key) == raw.smembers("ref:" + key), key
        assert [f for _i, f in raw.xrange("st:x")] == [f for _i, f in raw.xrange("ref:x")]
    raw.close()


async def test_flush_waits_for_the_server_and_times_out(redis_url: str) -> None:
    raw = _raw(redis_url)
    async with running_store(redis_url) as (store, _metrics):
        assert await store.flush(timeout_s=0.5)  # nothing pending
        store.set("a", "1")
        assert await store.flush(timeout_s=2)
        assert raw.get("a") == "1"
        raw.client_pause(300, all=False)
        store.set("a", "2")
        assert not await store.flush(timeout_s=0.05)
        assert await store.flush(timeout_s=3)
        assert raw.get("a") == "2"
        assert await store.commit(store.atomic().set("b", "1").set("c", "1"), timeout_s=2)
        assert raw.mget("b", "c") == ["1", "1"]
    raw.close()


async def test_command_errors_are_logged_not_retried_not_fatal(redis_url: str) -> None:
    raw = _raw(redis_url)
    raw.set("wrong", "a string the engine does not know about")
    raw.config_resetstat()
    with capture_logs() as logs:
        async with running_store(redis_url) as (store, _metrics):
            store.sadd("wrong", "m")
            store.set("ok", "1")
            batch = store.atomic().sadd("wrong", "m2").set("ok2", "1")
            assert not await store.commit(batch, timeout_s=2)  # a command failed: reported, not retried
            assert await store.flush(timeout_s=2)
            store.set("later", "1")
            assert await store.flush(timeout_s=2)
            await trio.sleep(0.1)
            assert raw.mget("ok", "ok2", "later") == ["1", "1", "1"]  # MULTI does not roll back
            assert _calls(raw, "sadd") == 2
            status = store.status()
            assert status.connected and status.last_error is not None and "WRONGTYPE" in status.last_error
            with pytest.raises(TypeError):
                store.hset("ok", {"f": "v"})  # the engine itself wrote "ok" as a string
    failures = [entry for entry in logs if entry["event"] == "redis_command_failed"]
    assert [(entry["command"], entry["key"]) for entry in failures] == [("SADD", "wrong"), ("SADD", "wrong")]
    raw.close()


async def test_outage_then_restart_restores_state_and_keeps_stream_order(private_redis: EmbeddedRedis) -> None:
    raw = _raw(private_redis.url)
    with capture_logs() as logs:
        async with running_store(private_redis.url, **FAST_RECONNECT) as (store, _metrics):
            store.set("index_price:{BTC}", '{"price": 1}')
            store.set("untouched:{A}", "written before the outage only")
            store.hset("mm:{BTCUSDT}:orders", {"o1": "bid"})
            store.submit(store.atomic().delete("instruments:{BTC}").sadd("instruments:{BTC}", "a", "b").set("instruments:{BTC}:updated_at", "1"))
            for i in range(10):
                store.xadd("oi:alerts", {"i": i})
            assert await store.flush(timeout_s=2)
            before_outage = raw.xrange("oi:alerts")

            private_redis.kill()
            store.set("index_price:{BTC}", '{"price": 2}')
            await _wait_until(lambda: not store.status().connected)
            for i in range(10, 30):  # raised during the outage
                store.xadd("oi:alerts", {"i": i}, maxlen=1000)
                store.hset("mm:{BTCUSDT}:orders", {f"o{i}": "ask"})
                await trio.sleep(0.005)
            store.srem("instruments:{BTC}", "a")
            assert not await store.flush(timeout_s=0.05)

            private_redis.restart()
            assert await store.flush(timeout_s=5)
            for i in range(30, 35):  # after the restart
                store.xadd("oi:alerts", {"i": i})
            assert await store.flush(timeout_s=2)

            status = store.status()
            assert status.connected and status.generation == 1 and status.dropped_ops == 0
            assert raw.get("index_price:{BTC}") == '{"price": 2}'
            assert raw.get("untouched:{A}") == "written before the outage only"  # back from the mirror
            assert raw.hgetall("mm:{BTCUSDT}:orders") == {"o1": "bid", **{f"o{i}": "ask" for i in range(10, 30)}}
            assert raw.smembers("instruments:{BTC}") == {"b"}
            assert raw.get("instruments:{BTC}:updated_at") == "1"
            # Entries flushed before the kill died with the non-persistent server and were appended
            # again under their old ids; the ones queued during the outage and after follow, in order.
            entries = raw.xrange("oi:alerts")
            assert entries[:10] == before_outage
            assert [int(f["i"]) for _id, f in entries] == list(range(35))
    events = [entry["event"] for entry in logs]
    assert events.count("redis_disconnected") == 1
    resets = [entry for entry in logs if entry["event"] == "redis_reset_detected"]
    assert len(resets) == 1 and resets[0]["stream_entries"] == 10
    reconnected = [entry for entry in logs if entry["event"] == "redis_reconnected"]
    assert len(reconnected) == 1 and reconnected[0]["dropped_ops"] == 0 and reconnected[0]["outage_s"] > 0
    raw.close()


async def test_a_restart_while_idle_is_detected_on_the_next_write(private_redis: EmbeddedRedis) -> None:
    """redis-py silently replaces a dead pooled connection; the run_id check still sees it."""
    raw = _raw(private_redis.url)
    async with running_store(private_redis.url, **FAST_RECONNECT) as (store, _metrics):
        store.set("a", "1")
        store.sadd("members", "x", "y")
        assert await store.flush(timeout_s=2)
        private_redis.kill()
        private_redis.restart()
        store.set("b", "2")
        assert await store.flush(timeout_s=5)
        assert store.generation == 1
        assert raw.mget("a", "b") == ["1", "2"]
        assert raw.smembers("members") == {"x", "y"}
    raw.close()


async def test_a_full_buffer_drops_the_oldest_and_reports_them(private_redis: EmbeddedRedis) -> None:
    raw = _raw(private_redis.url)
    with capture_logs() as logs:
        async with running_store(private_redis.url, max_pending_ops=10, **FAST_RECONNECT) as (store, metrics):
            store.set("keep", "before")
            assert await store.flush(timeout_s=2)
            private_redis.kill()
            await trio.sleep(0)
            for i in range(25):
                store.xadd("stream", {"i": i})
            store.set("keep", "during")
            assert store.status().dropped_ops == 15
            await _wait_until(lambda: not store.status().connected)
            private_redis.restart()
            assert await store.flush(timeout_s=5)
            assert [int(f["i"]) for _id, f in raw.xrange("stream")] == list(range(15, 25))
            assert raw.get("keep") == "during"
            assert _metric(metrics, "engine_redis_dropped_ops_total") == 15
    reconnected = [entry for entry in logs if entry["event"] == "redis_reconnected"]
    assert reconnected and reconnected[0]["dropped_ops"] == 15
    raw.close()


async def test_dropped_set_ops_are_repaired_from_the_mirror(redis_url: str) -> None:
    """Ops dropped while the same server was only slow: the key is rewritten from memory."""
    raw = _raw(redis_url)
    universe = "oi:liquid_universe"
    async with running_store(redis_url, max_pending_ops=2, **FAST_RECONNECT) as (store, _metrics):
        store.sadd(universe, "BTCUSDT", "ETHUSDT")
        assert await store.flush(timeout_s=2)
        raw.client_pause(500, all=False)
        store.set("x", "1")
        await trio.sleep(0.05)  # that flush is now blocked on the server
        store.srem(universe, "ETHUSDT")  # both set ops are dropped by the 2-op bound...
        store.sadd(universe, "SOLUSDT")
        store.xadd("s", {"a": 1})
        store.xadd("s", {"a": 2})
        assert store.status().dropped_ops == 2
        assert await store.flush(timeout_s=5)
        assert raw.smembers(universe) == {"BTCUSDT", "SOLUSDT"}  # ...and repaired from the mirror
        assert raw.xlen("s") == 2
        assert store.generation == 0
    raw.close()


async def test_starts_while_redis_is_down_and_catches_up(private_redis: EmbeddedRedis) -> None:
    private_redis.kill()
    raw = _raw(private_redis.url)
    async with running_store(private_redis.url, **FAST_RECONNECT) as (store, _metrics):
        assert not store.status().connected
        store.set("index_price:{ETH}", "3000")
        store.xadd("oi:samples:{ETHUSDT}", {"oi": "1"})
        with pytest.raises(StoreUnavailable):
            await store.get("index_price:{ETH}")
        private_redis.restart()
        assert await store.flush(timeout_s=5)
        assert await store.get("index_price:{ETH}") == "3000"
        assert [f for _id, f in await store.xrevrange("oi:samples:{ETHUSDT}", 10)] == [{"oi": "1"}]
        assert store.status().generation == 0
    raw.close()


async def test_aclose_flushes_after_the_loop_was_cancelled(redis_url: str) -> None:
    raw = _raw(redis_url)
    store = RedisStore(redis_url, clock=Clock(), log=structlog.get_logger(), metrics=EngineMetrics())
    async with trio.open_nursery() as nursery:
        await nursery.start(store.run)
        store.set("late", "1")
        store.xadd("late:stream", {"a": "1"})
        nursery.cancel_scope.cancel()
    with trio.CancelScope() as cancelled:
        cancelled.cancel()
        await store.aclose(timeout_s=2)  # shielded: works from a cancelled scope too
    assert raw.get("late") == "1" and raw.xlen("late:stream") == 1
    raw.close()


async def test_aclose_is_bounded_when_redis_is_down(private_redis: EmbeddedRedis) -> None:
    with capture_logs() as logs:
        async with running_store(private_redis.url, **FAST_RECONNECT) as (store, _metrics):
            private_redis.kill()
            store.set("lost", "1")
            started = time.monotonic()
            await store.aclose(timeout_s=0.3)
            assert time.monotonic() - started < 1.5
            store.set("after_close", "1")  # ignored, counted
            assert store.status().dropped_ops == 1
    unflushed = [entry for entry in logs if entry["event"] == "redis_unflushed_at_close"]
    assert unflushed and unflushed[0]["pending_ops"] == 1
