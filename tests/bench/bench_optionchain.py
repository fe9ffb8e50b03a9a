"""The option-chain tick path end to end, over real loopback websockets, beside raw decode rates.

Run: ``python -m tests.bench.bench_optionchain``. Everything the engine runs is real: a
``WsShardActor`` with a real ``DhanFeedConnection`` (``adapters.dhan.wsclient``: wsproto over
a trio TCP stream, 64 KiB reads; ``receive_prices`` decodes every frame of a read with
``codec.decode_prices``) -> ONE ``Bus`` message per socket read (``BLOCK``, as for ticks that
may not be lost) -> one consumer task doing ``ChainBook.apply`` -> ``write_changed`` every
250 ms -> ``RedisStore`` on a private redis-server. The feed is
``tests/bench/_dhan_blaster.py`` in its own process (so it never takes the engine's core):
a Dhan-protocol server that takes the subscribe frames and streams pre-encoded full
packets (code 8, 162 B). Chains are 25 underlyings x 5 expiries x 100 strikes x 2 legs
(125 chains, 25,000 tokens); a connection carries 25 of them (5,000 tokens).

Figures, each beside a baseline measured in the same run:

* baseline A, raw wsproto decode: pre-recorded server-to-client bytes fed to a wsproto
  client connection in 64 KiB reads, counting finished ``BytesMessage`` events: the
  ceiling of any websocket client in Python;
* baseline B, plain trio-websocket: ``await ws.get_message()`` in a loop against the same
  server blasting 1-packet frames (what ``DhanFeedConnection`` read with before it had its
  own client, minus everything after the read);
* baseline C, the engine client's own frame walk: ``WsClient``'s split of the same recorded
  bytes into binary messages (same 64 KiB reads as A). The client slices whole unmasked
  binary frames itself and leaves every other frame to wsproto, so raw wsproto decode (A)
  is no longer the ceiling of the engine's path; C is the ceiling of its first stage;
* engine path, 1 packet per frame: frames/s from the consumer's first bus message until
  every tick is merged and the last cache pass is flushed to Redis (equal to ticks/s here),
  beside A, beside B and beside C;
* engine path, 50 packets per frame: ticks/s beside "raw wsproto decode of 50-packet
  frames" counted in packets/s (a frame count would compare apples with oranges);
* tick-to-Redis latency with 25,000 tokens: 5 shards x 5,000 tokens, every token ticking
  once a second (25k ticks/s, frames of 10 packets, each connection sending every 10 ms),
  10 s measured after a 1 s warm-up. Each cache pass awaits ``store.flush()`` in a task of
  its own, so the pass cadence never waits on Redis. Two measures: the oldest-tick age of
  each chain write (``ChainCache.record_age``, taken when the pass starts) plus the time
  from the pass's start until its flush completed, an upper bound for every tick in that
  write; and the exact latency of every tick, flush done minus the tick's receive stamp
  (``TickUpdate.ts_ms``, taken after the read and decode) and minus the server's send
  stamp (the blaster writes its wall-clock send time into each packet's volume field):
  the second includes the time a tick waited in socket buffers and the websocket queue,
  which the receive stamp cannot see once the engine falls behind. The names carry the
  merged tick rate, the engine process's CPU use (all threads), the cache pass time and
  the pass-to-flush time, to tell a slow path from a saturated one.
  Baseline: the write interval itself, 250 ms. A tick waits for the next pass by design
  (0 to 250 ms, 125 ms on average; a chain's oldest tick about a whole interval), so a
  ratio near 1 says the path adds little beyond the interval it was designed around; a
  bare ``store.set`` + flush round trip (well under a millisecond) would make every ratio
  a meaningless few hundred.

Best of ``ROUNDS`` interleaved rounds for the throughput figures (the machine is shared);
about 50 s in all.
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import attrs
import structlog
import trio
from trio_websocket import open_websocket_url
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, BytesMessage, Request

from actors.optionchain.book import ChainBook
from actors.optionchain.cache import ChainCache, write_changed
from actors.optionchain.chain import Chain, Leg, StrikeRow
from actors.optionchain.feed_shard import WsShardActor
from adapters.dhan.feed import MAX_MESSAGE_BYTES, DhanFeedConnection
from adapters.dhan.wsclient import WsClient
from engine.actor import ActorContext
from engine.bus import Bus, Overflow
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore
from tests.bench._dhan_blaster import SYNTHETIC_IDS, frame_cycle
from tests.bench._report import BenchResult, emit

ROOT = Path(__file__).resolve().parents[2]
TOPIC = "dhan.ticks"
LEG_SEGMENT = "NSE_FNO"
UNDERLYINGS, EXPIRIES, STRIKES = 25, 5, 100  # 125 chains x 200 legs = 25,000 tokens
SHARDS = 5
TOKENS_PER_SHARD = UNDERLYINGS * EXPIRIES * STRIKES * 2 // SHARDS  # 5,000
WRITE_INTERVAL_S = 0.25
BUS_MAXLEN = 1024  # as the chain actor subscribes to the feed topic (BLOCK)
READ_BYTES = 65_536  # baseline A's read size
RAW_FRAMES = 200_000  # baseline A, 1-packet frames
RAW_BATCH_FRAMES = 20_000  # baseline A, 50-packet frames
LOOP_MESSAGES = 60_000  # baseline B
ENGINE_FRAMES = 400_000  # engine path, 1 packet per frame (about 2 s: several cache passes)
BATCH_PPF = 50
ENGINE_BATCH_FRAMES = 12_000  # engine path, 50 packets per frame (600k ticks, about 2 s)
ROUNDS = 2
LATENCY_PPF = 10
LATENCY_RATE = float(TOKENS_PER_SHARD)  # packets/s per connection: every token once a second
LATENCY_WARMUP_S = 1.0
LATENCY_WINDOW_S = 10.0


# --------------------------------------------------------------------------- chains


def build_chains() -> list[tuple[Chain, tuple[str, int]]]:
    """125 chains (with their underlying's token), shard by shard: chains 25k..25k+24 are shard k's."""
    out = []
    for u in range(UNDERLYINGS):
        for e in range(EXPIRIES):
            c = u * EXPIRIES + e
            rows = []
            for r in range(STRIKES):
                strike = 20_000.0 + 50.0 * r
                ce, pe = (Leg(100_000 + c * STRIKES * 2 + r * 2 + side, 100.0, 99.95, 100.05, 1575, 450, 4_123_500,
                              2_980_125, 96_541_275, 12.5, 0.5, 0.0013, -13.05, 12.98, 1_767_000_000_000)
                          for side in (0, 1))
                rows.append(StrikeRow(strike, ce, pe))
            out.append((Chain(f"U{u:02d}", f"2026-05-{7 + 7 * e:02d}", 22_475.0, 22_500.0, 50.0, 75, tuple(rows),
                              1_767_000_000_000, 1_767_000_000_000), ("IDX_I", 10 + u)))
    return out


def shard_tokens(chains: list[tuple[Chain, tuple[str, int]]], shard: int) -> list[tuple[str, int]]:
    per = len(chains) // SHARDS
    return [(LEG_SEGMENT, leg.security_id) for chain, _ in chains[shard * per:(shard + 1) * per]
            for row in chain.rows for leg in (row.ce, row.pe) if leg is not None]


# --------------------------------------------------------------------------- baselines


def wsproto_decode_rate(ppf: int, frames: int) -> float:
    """Baseline A: finished BytesMessage events/s of a wsproto client fed recorded server bytes."""
    cycle = frame_cycle([("NSE_FNO", sid) for sid in range(1, SYNTHETIC_IDS + 1)], ppf)
    blob = b"".join(cycle[i % len(cycle)] for i in range(frames))
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="127.0.0.1", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(iter(client.events())), AcceptConnection)
    views = [blob[i:i + READ_BYTES] for i in range(0, len(blob), READ_BYTES)]  # sliced outside the clock
    received = 0
    started = time.perf_counter()
    for data in views:
        client.receive_data(data)
        for event in client.events():
            if isinstance(event, BytesMessage) and event.message_finished:
                received += 1
    elapsed = time.perf_counter() - started
    assert received == frames, (received, frames)
    return frames / elapsed


def client_walk_rate(ppf: int, frames: int) -> float:
    """Baseline C: binary messages/s the engine's ``WsClient`` splits out of recorded server bytes."""
    cycle = frame_cycle([("NSE_FNO", sid) for sid in range(1, SYNTHETIC_IDS + 1)], ppf)
    blob = b"".join(cycle[i % len(cycle)] for i in range(frames))
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="127.0.0.1", target="/")))
    list(server.events())
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(iter(client.events())), AcceptConnection)
    ws = WsClient(None, client)  # type: ignore[arg-type]  # no transport: the reads are fed to the walk
    views = [blob[i:i + READ_BYTES] for i in range(0, len(blob), READ_BYTES)]
    received = 0
    started = time.perf_counter()
    for data in views:
        if ws._chunks:  # what _read_once does with an unfinished frame
            ws._chunks.append(data)
            data = b"".join(ws._chunks)
            ws._chunks = []
        received += len(ws._walk(data))
    elapsed = time.perf_counter() - started
    assert received == frames, (received, frames)
    return frames / elapsed


async def trio_websocket_rate(base_url: str, messages: int) -> float:
    """Baseline B: messages/s of a bare ``get_message`` loop (the feed class's queue and size limits)."""
    url = f"{base_url}/?mode=blast&ppf=1&frames={messages}&expect=0"
    with trio.fail_after(120):
        return await _get_message_loop(url, messages)


async def _get_message_loop(url: str, messages: int) -> float:
    async with open_websocket_url(url, message_queue_size=16, max_message_size=MAX_MESSAGE_BYTES) as ws:
        await ws.get_message()
        started = time.perf_counter()
        for _ in range(messages - 1):
            await ws.get_message()
        elapsed = time.perf_counter() - started
    return (messages - 1) / elapsed


# --------------------------------------------------------------------------- the engine path


@attrs.define
class Rig:
    """One engine slice: feed actors, bus, book, cache, store, and what the consumer saw."""

    clock: Clock
    ctx: ActorContext
    store: RedisStore
    book: ChainBook
    cache: ChainCache
    actors: list[WsShardActor] = attrs.field(factory=list)
    feeds: list[DhanFeedConnection] = attrs.field(factory=list)
    pass_s: list[float] = attrs.field(factory=list)  # duration of each cache pass (serialise + enqueue)

    def connection(self, url: str) -> DhanFeedConnection:
        feed = DhanFeedConnection(url, "bench-token", "bench-client", self.ctx.log)
        self.feeds.append(feed)
        return feed

    def write_pass(self, now_ms: int) -> int:
        started = time.perf_counter()
        written = write_changed(self.book, self.cache, self.store, self.ctx.bus, now_ms)
        self.pass_s.append(time.perf_counter() - started)
        return written

    def skipped(self) -> int:
        return sum(feed.stats.skipped for feed in self.feeds)


def make_rig(redis_url: str, chains: list[tuple[Chain, tuple[str, int]]]) -> Rig:
    clock, metrics, log = Clock(), EngineMetrics(), structlog.get_logger()
    store = RedisStore(redis_url, clock=clock, log=log, metrics=metrics)
    ctx = ActorContext(name="optionchain.feed", bus=Bus(metrics), store=store, clock=clock, log=log, metrics=metrics)
    book = ChainBook()
    for chain, underlying_token in chains:
        book.install(chain, LEG_SEGMENT, underlying_token)
    return Rig(clock, ctx, store, book, ChainCache(max_age_samples=10_000_000))


def start_shard(rig: Rig, nursery: trio.Nursery, shard: int, tokens: list[tuple[str, int]], url: str) -> None:
    actor = WsShardActor(shard, tuple(tokens), lambda: rig.connection(url), jitter_seed=shard)
    rig.actors.append(actor)
    nursery.start_soon(actor.run, rig.ctx)


async def stop(rig: Rig, nursery: trio.Nursery) -> None:
    rig.ctx.stopping.set()
    await rig.store.aclose()
    nursery.cancel_scope.cancel()


async def engine_rate(base_url: str, redis_url: str, chains: list[tuple[Chain, tuple[str, int]]],
                      ppf: int, frames: int) -> tuple[float, float, int]:
    """(frames/s, ticks/s, frames per bus message) of one shard taking ``frames`` frames of ``ppf`` packets."""
    rig = make_rig(redis_url, chains)
    expected_ticks = frames * ppf
    with trio.fail_after(120):  # a stuck feed fails the module instead of hanging `make bench`
        return await _engine_rate(rig, base_url, chains, ppf, frames, expected_ticks)


async def _engine_rate(rig: Rig, base_url: str, chains: list[tuple[Chain, tuple[str, int]]], ppf: int, frames: int,
                       expected_ticks: int) -> tuple[float, float, int]:
    async with trio.open_nursery() as nursery:
        await nursery.start(rig.store.run)
        rig.write_pass(rig.clock.time_ms())  # the installed skeletons, outside the clock
        assert await rig.store.flush()
        rig.pass_s.clear()
        with rig.ctx.bus.subscribe(TOPIC, maxlen=BUS_MAXLEN, overflow=Overflow.BLOCK) as sub:
            url = f"{base_url}/?mode=blast&ppf={ppf}&frames={frames}&expect={TOKENS_PER_SHARD}"
            start_shard(rig, nursery, 0, shard_tokens(chains, 0), url)
            first = await sub.receive()  # one bus message per socket read (many frames)
            started = time.perf_counter()
            merged = rig.book.apply(first)
            first_ticks, seen = merged, 1
            async with trio.open_nursery() as inner:
                inner.start_soon(_cache_passes, rig)
                while merged < expected_ticks:
                    merged += rig.book.apply(await sub.receive())
                    seen += 1
                inner.cancel_scope.cancel()
            rig.write_pass(rig.clock.time_ms())
            assert await rig.store.flush()
            elapsed = time.perf_counter() - started
        actor = rig.actors[0]
        assert actor.frames == frames and merged == expected_ticks and rig.book.ticks_unrouted == 0, (actor.frames,
                                                                                                     merged)
        assert seen == actor.reads and rig.skipped() == 0 and actor.reconnects == 0
        await stop(rig, nursery)
    ticks_s = (merged - first_ticks) / elapsed
    return ticks_s / ppf, ticks_s, frames / seen


async def _cache_passes(rig: Rig, on_pass: Any = None) -> None:
    """The chain actor's 250 ms cache pass (late passes are not bunched up: the cadence restarts)."""
    deadline = trio.current_time()
    while True:
        deadline = max(deadline + WRITE_INTERVAL_S, trio.current_time())
        await trio.sleep_until(deadline)
        before = len(rig.cache.last_tick_age_ms)
        now_ms = rig.clock.time_ms()
        rig.write_pass(now_ms)
        if on_pass is not None:
            on_pass(now_ms, rig.cache.last_tick_age_ms[before:])


@attrs.define
class LatencyRun:
    write_ages_ms: list[int] = attrs.field(factory=list)  # per chain write: oldest tick age + pass-to-flush time
    from_receive_ms: list[tuple[int, int]] = attrs.field(factory=list)  # (flush done - receive stamp, ticks)
    from_send_ms: list[tuple[int, int]] = attrs.field(factory=list)  # (flush done - server's send stamp, ticks)
    flush_ms: list[int] = attrs.field(factory=list)  # pass start to flush done
    pass_s: list[float] = attrs.field(factory=list)
    ticks: int = 0
    window_s: float = 0.0
    cpu_s: float = 0.0  # the engine process's CPU time in the window (every thread)


async def latency_run(base_url: str, redis_url: str, chains: list[tuple[Chain, tuple[str, int]]]) -> LatencyRun:
    """25,000 tokens ticking once a second over 5 connections; latencies of the passes in the window."""
    with trio.fail_after(120):
        return await _latency_run(make_rig(redis_url, chains), base_url, chains)


async def _latency_run(rig: Rig, base_url: str, chains: list[tuple[Chain, tuple[str, int]]]) -> LatencyRun:
    out = LatencyRun()
    measuring = False
    frames_log: list[tuple[int, int, int]] = []  # (receive stamp, send stamp, ticks merged) since the last pass

    async with trio.open_nursery() as nursery:
        await nursery.start(rig.store.run)
        rig.write_pass(rig.clock.time_ms())
        assert await rig.store.flush()

        async def flushed(pass_ms: int, ages: list[int], frames: list[tuple[int, int, int]]) -> None:
            if not await rig.store.flush():
                return
            done_ms = rig.clock.time_ms()
            out.flush_ms.append(done_ms - pass_ms)
            out.write_ages_ms.extend(age + done_ms - pass_ms for age in ages)
            out.from_receive_ms.extend((done_ms - received, ticks) for received, _, ticks in frames)
            out.from_send_ms.extend(((done_ms - sent) & 0xFFFFFFFF, ticks) for _, sent, ticks in frames)

        def on_pass(now_ms: int, ages: list[int]) -> None:
            nonlocal frames_log
            frames, frames_log = frames_log, []
            if measuring or frames:  # the first pass after the window still carries window ticks
                nursery.start_soon(flushed, now_ms, ages, frames)

        with rig.ctx.bus.subscribe(TOPIC, maxlen=BUS_MAXLEN, overflow=Overflow.BLOCK) as sub:
            async def consume() -> None:
                async for updates in sub:
                    merged = rig.book.apply(updates)
                    if measuring:  # the blaster stamps its send time into the volume field
                        received = updates[0].ts_ms  # one receive stamp per read
                        sent = Counter(u.volume for u in updates)  # a read may span several sends
                        frames_log.extend((received, stamp, ticks) for stamp, ticks in sent.items())
                        out.ticks += merged

            async with trio.open_nursery() as inner:
                inner.start_soon(consume)
                url = (f"{base_url}/?mode=steady&ppf={LATENCY_PPF}&rate={LATENCY_RATE:g}&step_ms=10"
                       f"&expect={TOKENS_PER_SHARD}&stamp=1")
                for shard in range(SHARDS):
                    start_shard(rig, inner, shard, shard_tokens(chains, shard), url)
                with trio.fail_after(10):
                    while not all(actor.frames for actor in rig.actors):
                        await trio.sleep(0.01)
                inner.start_soon(_cache_passes, rig, on_pass)
                await trio.sleep(LATENCY_WARMUP_S)
                rig.pass_s.clear()
                measuring, started, cpu = True, time.perf_counter(), time.process_time()
                await trio.sleep(LATENCY_WINDOW_S)
                measuring, out.window_s = False, time.perf_counter() - started
                out.cpu_s = time.process_time() - cpu
                out.pass_s = list(rig.pass_s)
                await trio.sleep(2 * WRITE_INTERVAL_S)  # the last passes of the window reach Redis
                inner.cancel_scope.cancel()
        assert rig.skipped() == 0 and rig.book.ticks_unrouted == 0
        assert all(actor.reconnects == 0 for actor in rig.actors)
        await stop(rig, nursery)
    return out


def percentile(values: list[int], q: float) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, int(q * len(ordered)))])


def weighted_percentile(pairs: list[tuple[int, int]], q: float) -> float:
    ordered = sorted(pairs)
    total = sum(weight for _, weight in ordered)
    seen = 0
    for value, weight in ordered:
        seen += weight
        if seen >= q * total:
            return float(value)
    return float(ordered[-1][0])


# --------------------------------------------------------------------------- main


@contextmanager
def blaster() -> Iterator[str]:
    """The feed server in its own process; yields its ws:// base URL; it exits when its stdin closes."""
    proc = subprocess.Popen([sys.executable, "-m", "tests.bench._dhan_blaster"], cwd=ROOT,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert proc.stdout is not None
        line = proc.stdout.readline().decode().split()
        if len(line) != 2 or line[0] != "PORT":
            raise RuntimeError(f"the feed server did not start (said {line!r})")
        yield f"ws://127.0.0.1:{line[1]}"
    finally:
        if proc.stdin is not None:
            proc.stdin.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def main() -> None:
    structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(30))  # warnings only
    chains = build_chains()
    raw1 = raw50 = loop = eng1 = eng50 = walk1 = 0.0
    eng1_ticks = eng1_batch = eng50_batch = 0.0
    with EmbeddedRedis() as server, blaster() as base_url:
        for _round in range(ROUNDS):  # interleaved, best of each
            raw1 = max(raw1, wsproto_decode_rate(1, RAW_FRAMES))
            walk1 = max(walk1, client_walk_rate(1, RAW_FRAMES))
            loop = max(loop, trio.run(trio_websocket_rate, base_url, LOOP_MESSAGES))
            frames_s, ticks_s, per_message = trio.run(engine_rate, base_url, server.url, chains, 1, ENGINE_FRAMES)
            if frames_s > eng1:
                eng1, eng1_ticks, eng1_batch = frames_s, ticks_s, per_message
            raw50 = max(raw50, wsproto_decode_rate(BATCH_PPF, RAW_BATCH_FRAMES) * BATCH_PPF)
            _, ticks_s, per_message = trio.run(engine_rate, base_url, server.url, chains, BATCH_PPF,
                                               ENGINE_BATCH_FRAMES)
            if ticks_s > eng50:
                eng50, eng50_batch = ticks_s, per_message
        lat = trio.run(latency_run, base_url, server.url, chains)
    offered = SHARDS * LATENCY_RATE
    pass_ms = statistics.median(lat.pass_s) * 1000
    setting = (f"{SHARDS * TOKENS_PER_SHARD:,} tokens on {SHARDS} connections, {lat.ticks / lat.window_s:,.0f} of "
               f"{offered:,.0f} ticks/s merged, {LATENCY_PPF} packets/frame; engine CPU "
               f"{lat.cpu_s / lat.window_s:.0%} of a core, cache pass median {pass_ms:.0f} ms, pass start to "
               f"flush done median {statistics.median(lat.flush_ms):.0f} ms")
    engine1 = (f"engine tick path, 1 packet/frame (feed->decode->bus->merge->Redis; {eng1_ticks:,.0f} ticks/s, "
               f"{eng1_batch:,.0f} frames per bus message)")
    interval_ms = WRITE_INTERVAL_S * 1000
    emit([
        BenchResult(name=engine1, value=eng1, unit="frames/s",
                    baseline_name="raw wsproto decode, 1-packet frames, 64 KiB reads", baseline_value=raw1),
        BenchResult(name=engine1, value=eng1, unit="frames/s",
                    baseline_name="plain trio-websocket get_message loop", baseline_value=loop),
        BenchResult(name=engine1, value=eng1, unit="frames/s",
                    baseline_name="the engine client's own frame walk (WsClient), 1-packet frames, 64 KiB reads",
                    baseline_value=walk1),
        BenchResult(name=f"engine tick path, {BATCH_PPF} packets/frame ({eng50_batch:,.1f} frames per bus message)",
                    value=eng50, unit="ticks/s",
                    baseline_name=f"raw wsproto decode, {BATCH_PPF}-packet frames, packets/s", baseline_value=raw50),
        BenchResult(name=f"tick-to-Redis p50, oldest tick per chain write ({setting})",
                    value=percentile(lat.write_ages_ms, 0.50), unit="ms",
                    baseline_name="write interval", baseline_value=interval_ms, higher_is_better=False),
        BenchResult(name="tick-to-Redis p99, oldest tick per chain write", value=percentile(lat.write_ages_ms, 0.99),
                    unit="ms", baseline_name="write interval", baseline_value=interval_ms, higher_is_better=False),
        BenchResult(name=f"tick-to-Redis p99, every tick from its receive (p50 "
                         f"{weighted_percentile(lat.from_receive_ms, 0.50):.0f} ms)",
                    value=weighted_percentile(lat.from_receive_ms, 0.99), unit="ms",
                    baseline_name="write interval", baseline_value=interval_ms, higher_is_better=False),
        BenchResult(name=f"tick-to-Redis p99, every tick from the feed server's send (p50 "
                         f"{weighted_percentile(lat.from_send_ms, 0.50):.0f} ms)",
                    value=weighted_percentile(lat.from_send_ms, 0.99), unit="ms",
                    baseline_name="write interval", baseline_value=interval_ms, higher_is_better=False),
    ])


if __name__ == "__main__":
    main()
