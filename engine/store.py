"""RedisStore: the only writer of Redis, on trio, through redis-py's sync client.

Every round trip is a thread hop (``redis.asyncio`` does not run under trio) and a hop
costs about as much as a small command, so the writer sends one MULTI/EXEC of up to
``flush_max_ops`` commands per hop, awaits it, and meanwhile lets new writes coalesce
into the next one. Writes are plain ``def`` enqueues callable from any actor task (not
from other threads). The pieces:

* ``store_ops``: command builders, coalescing rules, atomic batches (pure);
* ``store_buffer``: pending writes, ordering, the bound, the mirror (pure);
* ``store_replay``: the bounded tail of each stream, appended again after a reset (pure);
* ``store_wire``: the sync clients and the MULTI/EXEC round trip (worker thread);
* ``store_link``: connected/disconnected, drops, backoff, their logs and metrics.

Delivery is at-least-once for ordered writes: if the link dies after EXEC was sent but
before its answer arrived, the flush is sent again (a stream entry may appear twice).
A server found restarted gets every mirrored key rewritten and the kept stream tails
appended again under their old ids, before anything newer.
"""

from __future__ import annotations

import enum
import math
import time
from typing import Any, Callable, Mapping, TypeVar

import attrs
import redis
import trio

from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.store_buffer import FlushPlan, WriteBuffer
from engine.store_link import WriterLink
from engine.store_replay import StreamTails
from engine.store_ops import (
    AtomicBatch, BatchOutcome, Value, check_key, check_mapping, check_value, cmd_publish, cmd_sadd, cmd_srem, cmd_xadd,
)
from engine.store_wire import CONNECTION_ERRORS, RedisWire, ServerReset, StoreUnavailable

__all__ = ["AtomicBatch", "RedisStore", "StoreStatus", "StoreUnavailable"]

T = TypeVar("T")


@attrs.frozen
class StoreStatus:
    """What /health shows about Redis."""

    connected: bool
    pending_ops: int
    dropped_ops: int
    generation: int
    last_error: str | None


class _Attempt(enum.Enum):
    DONE = "done"
    RETRY_NOW = "retry_now"
    BACKOFF = "backoff"


class RedisStore:
    """Coalesced latest values, ordered appends, atomic batches, and outage handling."""

    def __init__(
        self,
        url: str,
        *,
        clock: Clock,
        log: Any,
        metrics: EngineMetrics,
        max_pending_ops: int = 100_000,
        flush_max_ops: int = 1000,
        reconnect_initial_s: float = 0.05,
        reconnect_max_s: float = 2.0,
        socket_timeout_s: float = 2.0,
        replay_max_entries: int = 50_000,
    ) -> None:
        self._log = log
        self._metrics = metrics
        self._flush_max_ops = flush_max_ops
        self._buffer = WriteBuffer(max_pending_ops=max_pending_ops, tails=StreamTails(max_entries=replay_max_entries))
        self._wire = RedisWire(url, socket_timeout_s=socket_timeout_s)
        self._link = WriterLink(clock, log, metrics, reconnect_initial_s, reconnect_max_s)
        self._writer_limiter = trio.CapacityLimiter(1)  # the writer never waits behind readers
        self._read_limiter = trio.CapacityLimiter(8)
        self._wake = trio.Event()
        self._progress = trio.Event()
        self._loop_done = trio.Event()
        self._run_scope: trio.CancelScope | None = None
        self._running = False
        self._closing = False
        self._closed = False
        self._after_close_logged = False

    # --- writes: non-blocking enqueues ---------------------------------------------------

    def set(self, key: str, value: Value) -> None:
        """Latest value of a string key; replaces any unsent value of the key."""
        check_key(key)
        check_value(value)
        if self._closed:
            return self._write_after_close(1)
        self._enqueued(self._buffer.set(key, value))

    def hset(self, key: str, mapping: Mapping[Any, Value]) -> None:
        """Hash fields; merged into the unsent fields of the same key."""
        check_key(key)
        check_mapping(mapping)
        if not mapping:
            return
        if self._closed:
            return self._write_after_close(1)
        self._enqueued(self._buffer.hset(key, mapping))

    def delete(self, key: str) -> None:
        check_key(key)
        if self._closed:
            return self._write_after_close(1)
        self._enqueued(self._buffer.delete(key))

    def xadd(self, stream: str, fields: Mapping[Any, Value], maxlen: int | None = None) -> None:
        """Stream append (``MAXLEN ~ maxlen`` trimming), in enqueue order."""
        self._ordered((cmd_xadd(stream, fields, maxlen),))

    def publish(self, channel: str, message: Value) -> None:
        self._ordered((cmd_publish(channel, message),))

    def sadd(self, key: str, *members: Value) -> None:
        if members:
            self._ordered((cmd_sadd(key, members),))

    def srem(self, key: str, *members: Value) -> None:
        if members:
            self._ordered((cmd_srem(key, members),))

    def atomic(self) -> AtomicBatch:
        """A builder for writes that must land together (one MULTI, never split)."""
        return AtomicBatch()

    def submit(self, batch: AtomicBatch) -> None:
        if batch.submitted:
            raise ValueError("this batch was already submitted")
        batch.submitted = True
        if not batch.commands:
            batch.resolve(BatchOutcome.WRITTEN)
        elif self._closed:
            self._write_after_close(len(batch.commands))
            batch.resolve(BatchOutcome.DROPPED)
        else:
            self._enqueued(self._buffer.ordered(tuple(batch.commands), batch))

    async def commit(self, batch: AtomicBatch, timeout_s: float | None = None) -> bool:
        """Submit and wait until the batch is on the server. False if it timed out, was
        dropped from a full buffer during an outage, or a command answered an error."""
        self.submit(batch)
        with trio.move_on_after(math.inf if timeout_s is None else timeout_s):
            return await batch.wait() is BatchOutcome.WRITTEN
        return False

    async def flush(self, timeout_s: float | None = None) -> bool:
        """Wait until every write enqueued before this call is on the server (or was
        dropped by the buffer bound, which ``dropped_ops`` reports). False on timeout."""
        target = self._buffer.seq
        self._wake.set()
        with trio.move_on_after(math.inf if timeout_s is None else timeout_s):
            while True:
                oldest = self._buffer.min_pending_seq()
                if oldest is None or oldest > target:
                    return True
                if self._closed:
                    return False
                await self._progress.wait()
        return False

    def _ordered(self, commands: tuple[Any, ...]) -> None:
        if self._closed:
            return self._write_after_close(len(commands))
        self._enqueued(self._buffer.ordered(commands))

    def _enqueued(self, dropped: int) -> None:
        if dropped:
            self._link.dropped(dropped, self._buffer.dropped_ops, self._buffer.max_pending_ops)
        self._wake.set()

    def _write_after_close(self, ops: int) -> None:
        self._buffer.dropped_ops += ops
        self._metrics.redis_dropped_ops.inc(ops)
        if not self._after_close_logged:
            self._after_close_logged = True
            self._log.warning("redis_write_after_close", ops=ops)

    # --- status and reads ----------------------------------------------------------------

    @property
    def generation(self) -> int:
        """Bumped each time the server is found restarted (and rewritten from the mirror)."""
        return self._link.generation

    def status(self) -> StoreStatus:
        return StoreStatus(
            connected=bool(self._link.connected),
            pending_ops=self._buffer.pending_ops,
            dropped_ops=self._buffer.dropped_ops,
            generation=self._link.generation,
            last_error=self._link.last_error,
        )

    def mirror_value(self, key: str) -> Any:
        """What this engine last wrote to a latest-value key (diagnostics and tests)."""
        return self._buffer.mirror_value(key)

    async def call(self, fn: Callable[[redis.Redis], T]) -> T:
        """Run a *read* on the sync client in a worker thread. Writes go through the
        enqueue methods only: they keep the mirror and the ordering."""
        try:
            return await trio.to_thread.run_sync(fn, self._wire.reader, abandon_on_cancel=False, limiter=self._read_limiter)
        except CONNECTION_ERRORS as exc:
            raise StoreUnavailable(f"{type(exc).__name__}: {exc}") from exc

    async def get(self, key: str) -> str | None:
        return await self.call(lambda client: client.get(key))

    async def smembers(self, key: str) -> set[str]:
        return await self.call(lambda client: client.smembers(key))

    async def hgetall(self, key: str) -> dict[str, str]:
        return await self.call(lambda client: client.hgetall(key))

    async def xrevrange(self, stream: str, count: int) -> list[tuple[str, dict[str, str]]]:
        """The newest ``count`` entries, newest first."""
        return await self.call(lambda client: client.xrevrange(stream, count=count))

    # --- the writer loop ---------------------------------------------------------------------

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Flush whenever there is work. Reports started after the first contact attempt,
        even if Redis is down: the engine runs from memory and this keeps retrying."""
        if self._running or self._closing:
            raise RuntimeError("RedisStore.run may run once, before aclose")
        self._running = True
        try:
            with trio.CancelScope() as scope:
                self._run_scope = scope
                await self._attempt()
                task_status.started()
                while True:
                    if self._link.connected and not self._buffer.has_pending():
                        self._wake = trio.Event()
                        await self._wake.wait()
                    elif await self._attempt() is _Attempt.BACKOFF:
                        await trio.sleep(self._link.backoff_s())
        finally:
            self._loop_done.set()

    async def aclose(self, timeout_s: float = 5.0) -> None:
        """Stop the loop and flush what is pending, within ``timeout_s``. Shielded, so it
        works from a cancelled scope and after the actors' nursery is gone."""
        if self._closed:
            return
        self._closing = True
        with trio.CancelScope(shield=True):
            with trio.move_on_after(timeout_s):
                if self._running and self._run_scope is not None:
                    self._run_scope.cancel()
                    await self._loop_done.wait()
                while self._buffer.has_pending():
                    if await self._attempt() is _Attempt.BACKOFF:
                        await trio.sleep(self._link.backoff_s())
            self._closed = True
            self._progress.set()  # flush() waiters learn that nothing more will be written
            if self._buffer.has_pending():
                self._log.error(
                    "redis_unflushed_at_close", pending_ops=self._buffer.pending_ops,
                    connected=bool(self._link.connected), last_error=self._link.last_error,
                )
            self._log.info("redis_store_closed", dropped_ops=self._buffer.dropped_ops, generation=self.generation)
            self._wire.close()

    async def _attempt(self) -> _Attempt:
        """One flush (a PING when there is nothing to send); shielded, so a cancellation
        never leaves a flush half-accounted."""
        buffer, link = self._buffer, self._link
        plan = buffer.take(self._flush_max_ops)
        with trio.CancelScope(shield=True):
            started = time.perf_counter()
            try:
                results = await trio.to_thread.run_sync(
                    self._wire.execute, plan.commands, abandon_on_cancel=False, limiter=self._writer_limiter,
                )
            except ServerReset as exc:
                link.dropped(buffer.putback(plan), buffer.dropped_ops, buffer.max_pending_ops)
                self._wire.run_id = exc.run_id
                buffer.mark_all_dirty()  # rewrite every mirrored key and replay the streams before anything else
                link.reset(buffer.mirror_size, buffer.replays_pending)
                return _Attempt.RETRY_NOW
            except CONNECTION_ERRORS as exc:
                link.dropped(buffer.putback(plan), buffer.dropped_ops, buffer.max_pending_ops)
                link.disconnected(exc, buffer.pending_ops)
                return _Attempt.BACKOFF
            except redis.ResponseError as exc:
                link.dropped(buffer.putback(plan), buffer.dropped_ops, buffer.max_pending_ops)
                link.refused(exc, buffer.pending_ops)
                return _Attempt.BACKOFF
            except Exception as exc:  # a bug, not Redis: never wedge the writer on it
                dropped = buffer.drop_plan(plan)
                link.dropped(dropped, buffer.dropped_ops, buffer.max_pending_ops)
                link.failed(exc, dropped)
                return _Attempt.BACKOFF
            finally:
                progress, self._progress = self._progress, trio.Event()
                progress.set()
            self._completed(plan, results, time.perf_counter() - started)
            return _Attempt.DONE

    def _completed(self, plan: FlushPlan, results: list[Any], elapsed_s: float) -> None:
        failed_units: set[int] = set()
        replays_refused: list[Exception] = []
        for index, result in enumerate(results):
            if isinstance(result, Exception):  # not retried: it would fail the same way
                command = plan.commands[index]
                if plan.is_replay(index):  # e.g. the server kept the entry after all: one line for all
                    replays_refused.append(result)
                    continue
                unit = plan.unit_at(index)
                if unit is not None:
                    failed_units.add(id(unit))
                self._link.command_failed(command[0], command[1], result)
        if replays_refused:
            self._log.warning("redis_stream_replay_refused", entries=len(replays_refused),
                              error=str(replays_refused[0]))
        self._buffer.complete(plan, failed_units, results)
        if plan.commands:
            self._metrics.redis_flushes.inc()
            self._metrics.redis_flush_seconds.observe(elapsed_s)
            self._metrics.redis_commands.inc(len(plan.commands))
        self._link.flushed(self._buffer.pending_ops)
