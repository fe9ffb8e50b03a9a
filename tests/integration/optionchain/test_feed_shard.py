"""WsShardActor against the simulated Dhan feed over real websockets, with a real Bus:
streaming, resubscription after drops, the data watchdog, token expiry, the connection cap."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

import attrs
import structlog
import trio
import trio.lowlevel

from actors.optionchain.feed_shard import WsShardActor
from engine.actor import ActorContext
from engine.bus import Bus, Overflow
from engine.metrics import EngineMetrics
from tests.integration.dhan.dhan_support import DhanBed, dhan_bed

TOPIC = "dhan.ticks"


@attrs.define
class Seen:
    """Security ids seen on the bus since the last ``clear``."""

    ids: set[int] = attrs.field(factory=set)
    messages: int = 0

    def clear(self) -> None:
        self.ids = set()

    async def until(self, wanted: set[int], timeout_s: float) -> None:
        with trio.fail_after(timeout_s):
            while not wanted <= self.ids:
                await trio.sleep(0.02)


async def until(condition: Any, timeout_s: float) -> None:
    with trio.fail_after(timeout_s):
        while not condition():
            await trio.sleep(0.02)


@attrs.define
class Rig:
    bed: DhanBed
    ctx: ActorContext
    seen: Seen
    nursery: trio.Nursery

    def actor(self, shard: int, instruments: list[tuple[str, int]], **options: Any) -> WsShardActor:
        options = {"watchdog_silence_s": 1.0, "backoff_initial_s": 0.1, "backoff_max_s": 1.0, "jitter_seed": shard,
                   **options}
        return WsShardActor(shard, tuple(instruments), lambda: self.bed.feed(), **options)

    def start(self, actor: WsShardActor) -> WsShardActor:
        self.nursery.start_soon(actor.run, self.ctx)
        return actor

    def health(self, shard: int) -> Any:
        return next(s for s in self.ctx.health.snapshot() if s.name == f"dhan_feed:{shard}")


@asynccontextmanager
async def rig() -> AsyncIterator[Rig]:
    async with dhan_bed(step_interval_s=0.1) as bed:
        metrics = EngineMetrics()
        bus = Bus(metrics)
        ctx = ActorContext(name="optionchain.feed", bus=bus, store=None, clock=bed.clock,
                           log=structlog.get_logger(), metrics=metrics)
        seen = Seen()

        async def consume() -> None:
            with bus.subscribe(TOPIC, maxlen=64, overflow=Overflow.BLOCK) as sub:
                async for updates in sub:
                    assert isinstance(updates, tuple) and updates
                    seen.messages += 1
                    seen.ids.update(u.security_id for u in updates)

        async with trio.open_nursery() as nursery:
            nursery.start_soon(consume)
            await trio.lowlevel.checkpoint()
            yield Rig(bed, ctx, seen, nursery)
            nursery.cancel_scope.cancel()


async def test_streams_every_subscribed_instrument() -> None:
    async with rig() as r:
        instruments = r.bed.option_ids(250)
        actor = r.start(r.actor(0, instruments))
        await r.seen.until({sid for _, sid in instruments}, 5)
        stats = r.bed.stats()
        assert stats.subscriptions == 250 and stats.max_subscriptions == 250 and stats.rejected == 0
        assert stats.endpoints["feed/request"] == 3  # 100 + 100 + 50
        assert r.health(0).ok and "250" in (r.health(0).detail or "")
        assert actor.frames > 0 and actor.updates >= 250 and actor.reconnects == 0 and actor.stalls == 0
        assert 0 < r.seen.messages <= actor.reads <= actor.frames  # one bus message per read at most


async def test_a_publish_held_up_by_a_slow_consumer_is_not_silence() -> None:
    async with rig() as r:
        instruments = r.bed.option_ids(40)
        with r.ctx.bus.subscribe(TOPIC, maxlen=1, overflow=Overflow.BLOCK) as slow:
            actor = r.start(r.actor(0, instruments, watchdog_silence_s=1.0))
            await until(lambda: actor.reads >= 2, 5)  # the slow queue is full: the actor waits in publish
            await trio.sleep(0.1)
            reads = actor.reads
            await trio.sleep(2.5)  # 2.5 watchdog periods without a read
            assert actor.reads == reads and actor.stalls == 0
            with trio.fail_after(5):
                async for _ in slow:
                    if actor.reads >= reads + 5:
                        break
        assert actor.stalls == 0 and actor.reconnects == 0 and actor.connections == 1


async def test_drop_reconnects_and_resubscribes_exactly_its_instruments() -> None:
    async with rig() as r:
        instruments = r.bed.option_ids(250)
        wanted = {sid for _, sid in instruments}
        actor = r.start(r.actor(0, instruments))
        await r.seen.until(wanted, 5)
        for round_no in (1, 2):
            r.bed.faults().drop_connections()
            with trio.fail_after(5):
                await until(lambda n=round_no + 1: actor.connections == n, 5)
                r.seen.clear()
                await r.seen.until(wanted, 5)
            stats = r.bed.stats()
            assert actor.reconnects == round_no
            assert stats.subscriptions == 250 and stats.connections == 1
            assert stats.endpoints["feed/request"] == 3 * (round_no + 1)
            assert stats.max_subscriptions == 250 and stats.rejected == 0
        assert r.health(0).ok


async def test_silent_feed_trips_the_watchdog_and_recovers() -> None:
    async with rig() as r:
        instruments = r.bed.option_ids(40)
        wanted = {sid for _, sid in instruments}
        actor = r.start(r.actor(0, instruments, watchdog_silence_s=1.0))
        await r.seen.until(wanted, 5)
        r.bed.faults().set_silent(True)
        await until(lambda: actor.stalls >= 1, 3)
        r.bed.faults().set_silent(False)
        with trio.fail_after(5):
            await until(lambda: actor.connections >= 2 and r.bed.stats().connections == 1, 5)
            r.seen.clear()
            await r.seen.until(wanted, 5)
        stats = r.bed.stats()
        assert stats.subscriptions == 40 and stats.rejected == 0
        assert r.health(0).ok


async def test_expired_token_reports_and_stops_reconnecting() -> None:
    async with rig() as r:
        instruments = r.bed.option_ids(20)
        actor = r.start(r.actor(0, instruments))
        await r.seen.until({sid for _, sid in instruments}, 5)
        r.bed.venues.action("dhan", "expire_token", {})
        with trio.fail_after(5):
            await actor.halted.wait()
        status = r.health(0)
        assert not status.ok and "token expired" in (status.detail or "")
        attempts, connects = actor.connect_attempts, r.bed.stats().endpoints["feed/connect"]
        await trio.sleep(1.5)  # ten base backoffs: a reconnecting actor would have tried again
        assert actor.connect_attempts == attempts == 1
        assert r.bed.stats().endpoints["feed/connect"] == connects and r.bed.stats().connections == 0


async def test_a_sixth_shard_backs_off_without_a_tight_loop() -> None:
    async with rig() as r:
        ids = r.bed.option_ids(60)
        actors = [r.start(r.actor(i, ids[10 * i: 10 * i + 10], backoff_max_s=1.0)) for i in range(6)]
        await until(lambda: sum(a.refused > 0 for a in actors) == 1 and sum(a.subscribed > 0 for a in actors) == 5, 5)
        (sixth,) = [a for a in actors if a.refused > 0]
        start_attempts = sixth.connect_attempts
        await trio.sleep(3.0)
        # too_many_delay(1.0) is 1..1.5 s: at most 3 more tries in 3 s (a tight loop would make hundreds)
        assert 1 <= sixth.connect_attempts - start_attempts <= 3
        assert sixth.subscribed == 0 and sixth.frames == 0 and not r.health(sixth.shard).ok
        stats = r.bed.stats()
        assert stats.max_connections == 5 and stats.rejected == 0
        assert all(a.reconnects == 0 and a.frames > 0 for a in actors if a is not sixth)


async def test_bad_token_halts_at_once_and_never_logs_the_token(capsys) -> None:
    async with rig() as r:
        actor = WsShardActor(3, tuple(r.bed.option_ids(5)), lambda: r.bed.feed(token="SECRET-JWT-42"),
                             backoff_initial_s=0.05)
        r.start(actor)
        with trio.fail_after(5):
            await actor.halted.wait()
        await trio.sleep(0.3)
        assert actor.connect_attempts == 1 and actor.frames == 0
        assert not r.health(3).ok and "809" in (r.health(3).detail or "")
    out = capsys.readouterr()
    assert "feed_halted" in out.out + out.err and "SECRET-JWT-42" not in out.out + out.err
