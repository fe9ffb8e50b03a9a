"""Bus: each overflow policy under a fast producer and a slow consumer; memory stays bounded."""

from __future__ import annotations

from typing import Any

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.bus import CHECKPOINT_EVERY, Bus, Overflow, topic_matches
from engine.metrics import EngineMetrics


def drain(sub: Any) -> list[Any]:
    out = []
    while True:
        try:
            out.append(sub.receive_nowait())
        except (trio.WouldBlock, trio.EndOfChannel):
            return out


def dropped_metric(metrics: EngineMetrics, topic: str, policy: str) -> float:
    return metrics.registry.get_sample_value("engine_bus_dropped_total", {"topic": topic, "policy": policy}) or 0.0


# ---- BLOCK -------------------------------------------------------------------------------------


async def test_block_applies_backpressure_without_loss(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("orders", maxlen=4, overflow=Overflow.BLOCK)
    received: list[int] = []
    max_pending = 0
    producer_done_at: list[float] = []

    async def producer() -> None:
        for i in range(50):
            await bus.publish("orders", i)
            assert i + 1 - len(received) <= 4 + 1  # at most maxlen queued, plus one in the consumer's hands
        producer_done_at.append(trio.current_time())

    async def slow_consumer() -> None:
        nonlocal max_pending
        async for msg in sub:
            max_pending = max(max_pending, sub.pending())
            received.append(msg)
            await trio.sleep(1)
            if len(received) == 50:
                return

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_consumer)
        nursery.start_soon(producer)
    assert received == list(range(50))
    assert sub.dropped == 0
    assert max_pending <= 4
    assert producer_done_at[0] >= 44  # it had to wait for the consumer


async def test_block_publish_nowait_skips_a_full_subscriber_and_counts_it() -> None:
    metrics = EngineMetrics()
    bus = Bus(metrics)
    blocking = bus.subscribe("orders", maxlen=2, overflow=Overflow.BLOCK)
    lossy = bus.subscribe("orders", maxlen=2, overflow=Overflow.DROP_OLDEST)
    assert bus.publish_nowait("orders", 1) is True
    assert bus.publish_nowait("orders", 2) is True
    assert bus.publish_nowait("orders", 3) is False  # blocking is full: it misses 3
    assert drain(blocking) == [1, 2]
    assert drain(lossy) == [2, 3]  # the others still get it
    assert blocking.dropped == 1
    assert dropped_metric(metrics, "orders", "block") == 1
    assert bus.publish_nowait("orders", 4) is True
    assert drain(blocking) == [4]


# ---- DROP_OLDEST ----------------------------------------------------------------------------------


async def test_drop_oldest_keeps_the_newest_and_counts_drops() -> None:
    metrics = EngineMetrics()
    bus = Bus(metrics)
    sub = bus.subscribe("book", maxlen=10, overflow=Overflow.DROP_OLDEST)
    for i in range(100_000):
        await bus.publish("book", i)
    stats = sub.statistics()
    assert stats.current_buffer_used == 10 and stats.max_buffer_size == 10
    assert sub.dropped == 99_990
    assert dropped_metric(metrics, "book", "drop_oldest") == 99_990
    assert metrics.registry.get_sample_value("engine_bus_published_total", {"topic": "book"}) == 100_000
    assert drain(sub) == list(range(99_990, 100_000))


async def test_drop_oldest_under_a_slow_consumer_stays_bounded_and_ordered(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("book", maxlen=5, overflow=Overflow.DROP_OLDEST)
    received: list[int] = []
    max_pending = 0

    async def slow_consumer() -> None:
        async for msg in sub:
            received.append(msg)
            await trio.sleep(0.5)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_consumer)
        for burst in range(20):
            for i in range(100):
                await bus.publish("book", burst * 100 + i)
                max_pending = max(max_pending, sub.pending())
            await trio.sleep(1)
        sub.close()  # the consumer drains what is queued, then its loop ends
    assert max_pending <= 5
    assert received == sorted(received) and len(set(received)) == len(received)
    assert received[-1] == 1999  # the newest message is never lost
    assert sub.dropped == 2000 - len(received)


async def test_a_tight_producer_loop_still_lets_the_consumer_run() -> None:
    bus = Bus()
    sub = bus.subscribe("book", maxlen=10, overflow=Overflow.DROP_OLDEST)
    received: list[int] = []

    async def consumer() -> None:
        async for msg in sub:
            received.append(msg)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(10_000):  # never awaits anything but publish
            await bus.publish("book", i)
        sub.close()
    assert len(received) > 10_000 // CHECKPOINT_EVERY  # it ran at every forced checkpoint
    assert received == sorted(received) and received[-1] == 9_999


async def test_a_cancelled_receive_loses_nothing(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("t", maxlen=1000, overflow=Overflow.BLOCK)
    for i in range(500):
        bus.publish_nowait("t", i)
    got: list[int] = []
    for _ in range(50):
        with trio.move_on_after(0) as scope:  # already expired: cancels at the first checkpoint
            scope.cancel()
            while True:
                got.append(await sub.receive())
    got.extend(drain(sub))
    assert got == list(range(500))


# ---- CONFLATE ---------------------------------------------------------------------------------------


def symbol_of(msg: tuple[str, int]) -> str:
    return msg[0]


async def test_conflate_delivers_the_latest_value_per_key() -> None:
    metrics = EngineMetrics()
    bus = Bus(metrics)
    sub = bus.subscribe("ticks.*", maxlen=10, overflow=Overflow.CONFLATE, key=symbol_of)
    symbols = ["NIFTY", "BANKNIFTY", "FINNIFTY"]
    for i in range(100_000):
        await bus.publish(f"ticks.{symbols[i % 3]}", (symbols[i % 3], i))
    assert sub.pending() == 3  # one pending entry per key, whatever the volume
    assert sub.conflated == 100_000 - 3 and sub.dropped == 0
    assert metrics.registry.get_sample_value("engine_bus_conflated_total", {"topic": "ticks.*"}) == 100_000 - 3
    assert drain(sub) == [("NIFTY", 99_999), ("BANKNIFTY", 99_997), ("FINNIFTY", 99_998)]


async def test_conflate_never_holds_more_than_maxlen_keys() -> None:
    metrics = EngineMetrics()
    bus = Bus(metrics)
    sub = bus.subscribe("ticks", maxlen=3, overflow=Overflow.CONFLATE, key=symbol_of)
    for i in range(10):
        bus.publish_nowait("ticks", (f"S{i}", i))
        assert sub.pending() <= 3
    assert sub.dropped == 7
    assert dropped_metric(metrics, "ticks", "conflate") == 7
    assert drain(sub) == [("S7", 7), ("S8", 8), ("S9", 9)]  # the oldest pending keys went first


async def test_conflate_under_a_slow_consumer_is_never_stale(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("ticks", maxlen=4, overflow=Overflow.CONFLATE, key=symbol_of)
    latest: dict[str, int] = {}
    received: list[tuple[str, int]] = []

    async def slow_consumer() -> None:
        async for msg in sub:
            # whatever it gets is the newest value published for that key at this instant
            assert msg[1] == latest[msg[0]]
            received.append(msg)
            await trio.sleep(0.3)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(slow_consumer)
        for i in range(3000):
            symbol = f"S{i % 4}"
            latest[symbol] = i
            await bus.publish("ticks", (symbol, i))
            assert sub.pending() <= 4
            if i % 50 == 0:
                await trio.sleep(1)
        await trio.sleep(10)
        sub.close()
    assert {s: v for s, v in received} == latest  # each key's last delivery is its last value
    assert sub.dropped == 0


@settings(max_examples=200, deadline=None)
@given(st.lists(st.one_of(st.tuples(st.sampled_from("abcdef"), st.integers()), st.none()), max_size=200))
async def test_conflate_last_received_value_is_last_published(ops: list[tuple[str, int] | None]) -> None:
    """Any interleaving of publishes (key, value) and receives (None), then a drain."""
    bus = Bus()
    sub = bus.subscribe("t", maxlen=6, overflow=Overflow.CONFLATE, key=symbol_of)
    last_published: dict[str, int] = {}
    last_received: dict[str, int] = {}
    for op in ops:
        if op is None:
            try:
                key, value = sub.receive_nowait()
            except trio.WouldBlock:
                continue
            last_received[key] = value
        else:
            bus.publish_nowait("t", op)
            last_published[op[0]] = op[1]
        assert sub.pending() <= 6
    for key, value in drain(sub):
        last_received[key] = value
    assert last_received == last_published
    assert sub.dropped == 0


# ---- bounded memory, whatever the policy ---------------------------------------------------------------


@pytest.mark.parametrize("overflow", list(Overflow))
async def test_memory_stays_bounded(overflow: Overflow) -> None:
    bus = Bus()
    key = (lambda msg: msg % 1000) if overflow is Overflow.CONFLATE else None
    sub = bus.subscribe("x", maxlen=10, overflow=overflow, key=key)
    for i in range(100_000):
        bus.publish_nowait("x", i)
    stats = sub.statistics()
    assert stats.current_buffer_used <= 10 and stats.max_buffer_size == 10
    assert len(sub._latest) <= 10  # the conflate value table is bounded too
    assert len(drain(sub)) == 10


# ---- topics, subscribe and close ----------------------------------------------------------------------


async def test_wildcard_and_exact_topics() -> None:
    bus = Bus()
    every_tick = bus.subscribe("ticks.*", maxlen=10, overflow=Overflow.DROP_OLDEST)
    nifty = bus.subscribe("ticks.NIFTY", maxlen=10, overflow=Overflow.DROP_OLDEST)
    for topic in ("ticks.NIFTY", "ticks.dhan.BANKNIFTY", "ticks", "tickers.x", "orders.new"):
        await bus.publish(topic, topic)
    assert drain(every_tick) == ["ticks.NIFTY", "ticks.dhan.BANKNIFTY"]
    assert drain(nifty) == ["ticks.NIFTY"]
    assert bus.subscription_count("ticks.NIFTY") == 2
    assert topic_matches("ticks.*", "ticks.") and not topic_matches("ticks.*", "ticks")


@pytest.mark.parametrize("topic", ["", "ti*cks", "ticks*", "*.x", "a.*.b"])
def test_bad_topics_are_rejected(topic: str) -> None:
    with pytest.raises(ValueError):
        Bus().subscribe(topic, maxlen=1, overflow=Overflow.BLOCK)


@pytest.mark.parametrize(
    ("kwargs", "error"),
    [
        (dict(maxlen=0, overflow=Overflow.BLOCK), ValueError),
        (dict(maxlen=1.5, overflow=Overflow.BLOCK), ValueError),
        (dict(maxlen=1, overflow=Overflow.CONFLATE), ValueError),  # key required
        (dict(maxlen=1, overflow=Overflow.BLOCK, key=str), ValueError),  # key only for conflate
        (dict(maxlen=1, overflow="block"), TypeError),
    ],
)
def test_subscribe_validates_its_arguments(kwargs: dict[str, Any], error: type[Exception]) -> None:
    with pytest.raises(error):
        Bus().subscribe("t", **kwargs)


async def test_close_unsubscribes_and_ends_iteration_after_draining() -> None:
    bus = Bus()
    with bus.subscribe("t", maxlen=10, overflow=Overflow.BLOCK) as sub:
        await bus.publish("t", 1)
        await bus.publish("t", 2)
    assert bus.subscription_count() == 0
    await bus.publish("t", 3)  # nobody listens: a no-op
    assert bus.publish_nowait("t", 4) is True
    assert [msg async for msg in sub] == [1, 2]
    with pytest.raises(trio.EndOfChannel):
        await sub.receive()
    sub.close()  # idempotent


async def test_close_wakes_a_publisher_blocked_on_it(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("t", maxlen=1, overflow=Overflow.BLOCK)
    other = bus.subscribe("t", maxlen=10, overflow=Overflow.DROP_OLDEST)
    await bus.publish("t", 1)
    done: list[float] = []

    async def blocked_publisher() -> None:
        await bus.publish("t", 2)
        done.append(trio.current_time())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(blocked_publisher)
        await trio.sleep(5)
        assert done == []
        sub.close()
    assert done == [5.0]
    assert drain(other) == [1, 2]


async def test_publish_without_subscribers_is_a_no_op() -> None:
    metrics = EngineMetrics()
    bus = Bus(metrics)
    await bus.publish("nobody", 1)
    assert bus.publish_nowait("nobody", 1) is True
    assert metrics.registry.get_sample_value("engine_bus_published_total", {"topic": "nobody"}) is None


async def test_receive_waits_for_a_message(autojump_clock: Any) -> None:
    bus = Bus()
    sub = bus.subscribe("t", maxlen=2, overflow=Overflow.CONFLATE, key=symbol_of)
    got: list[Any] = []

    async def consumer() -> None:
        got.append(await sub.receive())

    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        await trio.sleep(1)
        bus.publish_nowait("t", ("a", 1))  # handed straight to the waiting consumer
        bus.publish_nowait("t", ("a", 2))  # before it runs: it still gets the newest value
    assert got == [("a", 2)]
    assert sub.pending() == 0 and sub._latest == {}
