"""Bus throughput per overflow policy, beside a raw trio memory channel with ``await send()``.

Run: ``python -m tests.bench.bench_bus``. One producer publishes N messages to one
subscription while one consumer task reads them; the figure is N / elapsed wall time,
from the first publish until the consumer has read everything it will get. The baseline
is measured in the same run, on the same buffer size.
"""

from __future__ import annotations

import time
from typing import Any

import trio

from engine.bus import Bus, Overflow
from engine.metrics import EngineMetrics
from tests.bench._report import BenchResult, emit

MESSAGES = 200_000
MAXLEN = 1_000
KEYS = 100  # distinct conflation keys (instruments)


async def raw_channel_rate(n: int) -> float:
    """Messages/s of the idiom the bus replaces: plain ``await send()`` per message."""
    send, receive = trio.open_memory_channel[Any](MAXLEN)
    received = 0

    async def consumer() -> None:
        nonlocal received
        async with receive:
            async for _msg in receive:
                received += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        async with send:
            for i in range(n):
                await send.send(i)
    elapsed = time.perf_counter() - start
    assert received == n
    return n / elapsed


async def bus_rate(n: int, overflow: Overflow, metrics: EngineMetrics | None) -> tuple[float, int]:
    """Messages/s published through one subscription, and how many the consumer received."""
    bus = Bus(metrics)
    key = (lambda msg: msg % KEYS) if overflow is Overflow.CONFLATE else None
    sub = bus.subscribe("ticks.*", maxlen=MAXLEN, overflow=overflow, key=key)
    received = 0

    async def consumer() -> None:
        nonlocal received
        async for _msg in sub:
            received += 1

    start = time.perf_counter()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(consumer)
        for i in range(n):
            await bus.publish("ticks.NIFTY", i)
        sub.close()  # the consumer drains what is queued, then stops
    elapsed = time.perf_counter() - start
    if overflow is Overflow.BLOCK:
        assert received == n
    return n / elapsed, received


async def main() -> None:
    results: list[BenchResult] = []
    for overflow in Overflow:
        for with_metrics in (False, True):
            baseline = await raw_channel_rate(MESSAGES)
            rate, received = await bus_rate(MESSAGES, overflow, EngineMetrics() if with_metrics else None)
            label = "with metrics" if with_metrics else "no metrics"
            results.append(BenchResult(
                name=f"bus publish {overflow.value} maxlen={MAXLEN} ({label}; consumer got {received:,})",
                value=rate, unit="msg/s",
                baseline_name="raw memory channel await send()", baseline_value=baseline,
            ))
    emit(results)


if __name__ == "__main__":
    trio.run(main)
