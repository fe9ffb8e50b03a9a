"""The writer's pending state: coalesced latest values, ordered units, the mirror, repairs.

No I/O here: ``engine.store`` takes a :class:`FlushPlan`, sends it, then calls
:meth:`WriteBuffer.complete` or :meth:`WriteBuffer.putback`.

Ordering rules (why they hold):

* Every write gets an enqueue number (``seq``). Latest-value entries are kept in
  ``first_seq`` order and ordered units in FIFO order; a flush takes from both in seq
  order, so flushes never reorder writes across keys (a PUBLISH sent after a SET never
  reaches the server before it). Coalescing only ever makes a value *newer*.
* A latest-value write to a key that a pending ordered unit touches (e.g. a batch that
  DELs then SADDs it) is queued as an ordered unit instead of coalesced, so per-key
  order is exact even when both kinds of write mix on one key.
* Ordered units beyond ``max_pending_ops`` are dropped oldest first. A dropped write of a
  mirrored key marks the key dirty; the next flush first rewrites dirty keys from the
  mirror (which is the state after *all* enqueued writes), and pending writes replayed
  after that are idempotent on it.
* Streams are not in the mirror: ``tails`` (``store_replay``) keeps the newest entries the
  server confirmed, with their ids. After a reset they are appended again, after the
  repairs and before any pending write, so their old ids still come first in each stream.
"""

from __future__ import annotations

import collections
from typing import Any, Mapping

import attrs

from engine.store_ops import (
    MIRRORED,
    AtomicBatch,
    BatchOutcome,
    Command,
    LatestWrite,
    MirrorValue,
    Value,
    apply_to_mirror,
    check_kind,
    flat_fields,
    kind_after,
    merge_under,
    mirror_kind,
    restore_commands,
    touches_key,
)
from engine.store_replay import StreamTails


@attrs.define(slots=True, eq=False)
class Unit:
    """Ordered writes sent together and in order: one op, or one atomic batch."""

    commands: tuple[Command, ...]
    seq: int
    batch: AtomicBatch | None = None


@attrs.define(eq=False)
class FlushPlan:
    """What one flush sends: repairs first, then stream replays, then latest values and units in seq order."""

    commands: list[Command]
    repairs: dict[str, int]
    latest: dict[str, LatestWrite]
    units: list[Unit]
    unit_starts: list[int]
    min_seq: int | None
    replays: list[Command] = attrs.field(factory=list)
    replay_start: int = 0  # index in ``commands`` of the first replay

    def is_replay(self, index: int) -> bool:
        return self.replay_start <= index < self.replay_start + len(self.replays)

    def unit_at(self, index: int) -> Unit | None:
        """The unit that command ``index`` belongs to (None for a latest value or repair)."""
        for start, unit in zip(reversed(self.unit_starts), reversed(self.units)):
            if start <= index:
                return unit if index < start + len(unit.commands) else None
        return None


@attrs.define(eq=False)
class WriteBuffer:
    """Everything enqueued and not yet on the server, plus the mirror of what should be.
    Enqueue methods return how many ops the ``max_pending_ops`` bound dropped."""

    max_pending_ops: int = 100_000
    seq: int = 0
    dropped_ops: int = 0
    unit_ops: int = 0
    _latest: dict[str, LatestWrite] = attrs.field(factory=dict)
    _units: collections.deque[Unit] = attrs.field(factory=collections.deque)
    _refs: dict[str, int] = attrs.field(factory=dict)  # key -> commands in queued/in-flight units
    _mirror: dict[str, MirrorValue] = attrs.field(factory=dict)
    _dirty: dict[str, int] = attrs.field(factory=dict)  # key -> seq of the oldest lost write
    tails: StreamTails = attrs.field(factory=StreamTails)
    _replays: collections.deque[Command] = attrs.field(factory=collections.deque)  # after a reset
    _replay_seq: int = 0  # the seq they count as (the reset's): flush() waits for them
    _in_flight: FlushPlan | None = None

    # --- enqueue ------------------------------------------------------------------------

    def set(self, key: str, value: Value) -> int:
        self.seq += 1
        self._mirror[key] = value
        if key in self._refs:
            return self._append(Unit((("SET", key, value),), self.seq))
        entry = self._latest.get(key)
        if entry is not None:
            entry.kind, entry.value, entry.fields, entry.replace = "set", value, None, False
        else:
            self._latest[key] = LatestWrite(self.seq, "set", value=value)
        return 0

    def hset(self, key: str, mapping: Mapping[Any, Value]) -> int:
        current = self._mirror.get(key)
        check_kind("HSET", key, mirror_kind(current))
        self.seq += 1
        if isinstance(current, dict):
            current.update(mapping)
        else:
            self._mirror[key] = dict(mapping)
        if key in self._refs:
            return self._append(Unit((("HSET", key, *flat_fields(mapping)),), self.seq))
        entry = self._latest.get(key)
        if entry is not None:
            entry.fold_hset(mapping)
        else:
            self._latest[key] = LatestWrite(self.seq, "hash", fields=dict(mapping))
        return 0

    def delete(self, key: str) -> int:
        self.seq += 1
        self._mirror.pop(key, None)
        if key in self._refs:
            return self._append(Unit((("DEL", key),), self.seq))
        entry = self._latest.get(key)
        if entry is not None:
            entry.kind, entry.value, entry.fields, entry.replace = "del", None, None, False
        else:
            self._latest[key] = LatestWrite(self.seq, "del")
        return 0

    def ordered(self, commands: tuple[Command, ...], batch: AtomicBatch | None = None) -> int:
        """Queue commands that keep their order (stream appends, set ops, batches).
        Returns how many ops the bound made us drop."""
        kinds: dict[str, str | None] = {}
        for command in commands:  # check the whole unit before changing anything
            if touches_key(command):
                key = command[1]
                kind = kinds[key] if key in kinds else mirror_kind(self._mirror.get(key))
                check_kind(command[0], key, kind)
                kinds[key] = kind_after(command, kind)
        self.seq += 1
        for command in commands:
            if command[0] in MIRRORED:
                apply_to_mirror(self._mirror, command)
        return self._append(Unit(commands, self.seq, batch))

    def _append(self, unit: Unit) -> int:
        refs = self._refs
        for command in unit.commands:
            if touches_key(command):
                refs[command[1]] = refs.get(command[1], 0) + 1
        self._units.append(unit)
        self.unit_ops += len(unit.commands)
        return self._enforce_bound() if self.unit_ops > self.max_pending_ops else 0

    def _release(self, unit: Unit) -> None:
        refs = self._refs
        for command in unit.commands:
            if touches_key(command):
                key = command[1]
                left = refs[key] - 1
                if left:
                    refs[key] = left
                else:
                    del refs[key]

    def _enforce_bound(self) -> int:
        dropped = 0
        while self.unit_ops > self.max_pending_ops and self._units:
            unit = self._units.popleft()
            self.unit_ops -= len(unit.commands)
            dropped += len(unit.commands)
            self._release(unit)
            for command in unit.commands:
                if command[0] in MIRRORED:
                    self._mark_dirty(command[1], unit.seq)
            if unit.batch is not None:
                unit.batch.resolve(BatchOutcome.DROPPED)
        self.dropped_ops += dropped
        return dropped

    def _mark_dirty(self, key: str, seq: int) -> None:
        self._dirty[key] = min(seq, self._dirty.get(key, seq))

    def mark_all_dirty(self) -> None:
        """The server lost its data (new run_id): rewrite every mirrored key first, then
        append the kept stream entries again (all of them: a replay cut short by another
        reset starts over)."""
        for key in self._mirror:
            self._mark_dirty(key, self.seq)
        self._replays = collections.deque(self.tails.replay_commands())
        self._replay_seq = self.seq

    # --- flush --------------------------------------------------------------------------

    @property
    def pending_ops(self) -> int:
        return len(self._latest) + self.unit_ops + len(self._dirty) + len(self._replays)

    def has_pending(self) -> bool:
        return bool(self._latest or self._units or self._dirty or self._replays)

    def min_pending_seq(self) -> int | None:
        """Enqueue number of the oldest write not yet on the server (queued or in flight)."""
        candidates = []
        if self._dirty:
            candidates.append(min(self._dirty.values()))
        if self._replays:
            candidates.append(self._replay_seq)
        if self._latest:
            candidates.append(next(iter(self._latest.values())).first_seq)
        if self._units:
            candidates.append(self._units[0].seq)
        if self._in_flight is not None and self._in_flight.min_seq is not None:
            candidates.append(self._in_flight.min_seq)
        return min(candidates) if candidates else None

    def take(self, budget: int) -> FlushPlan:
        """Up to ~``budget`` commands for the next flush (a unit is never split)."""
        assert self._in_flight is None, "one flush at a time"
        commands: list[Command] = []
        repairs: dict[str, int] = {}
        while self._dirty and len(commands) < budget:
            key, seq = self._dirty.popitem()
            repairs[key] = seq
            commands.extend(restore_commands(key, self._mirror.get(key)))
        replay_start, replays = len(commands), []
        while not self._dirty and self._replays and len(commands) < budget:
            replays.append(self._replays.popleft())
            commands.append(replays[-1])
        latest: dict[str, LatestWrite] = {}
        units: list[Unit] = []
        starts: list[int] = []
        if not self._dirty and not self._replays:
            entries = iter(self._latest.items())
            entry = next(entries, None)
            queue = self._units
            while len(commands) < budget:
                unit = queue[0] if queue else None
                if entry is not None and (unit is None or entry[1].first_seq < unit.seq):
                    latest[entry[0]] = entry[1]
                    commands.extend(entry[1].commands(entry[0]))
                    entry = next(entries, None)
                elif unit is not None:
                    if commands and len(commands) + len(unit.commands) > budget:
                        break
                    queue.popleft()
                    self.unit_ops -= len(unit.commands)
                    starts.append(len(commands))
                    units.append(unit)
                    commands.extend(unit.commands)
                else:
                    break
            for key in latest:
                del self._latest[key]
        seqs = [min(repairs.values())] if repairs else []
        if replays:
            seqs.append(self._replay_seq)
        if latest:
            seqs.append(next(iter(latest.values())).first_seq)
        if units:
            seqs.append(units[0].seq)
        plan = FlushPlan(commands, repairs, latest, units, starts, min(seqs) if seqs else None, replays, replay_start)
        self._in_flight = plan
        return plan

    def complete(self, plan: FlushPlan, failed_units: set[int] | None = None,
                 results: list[Any] | None = None) -> None:
        """The flush is on the server; ``failed_units`` are ids of units with a command error.
        With the EXEC ``results``, the stream entries it appended join ``tails``."""
        self._in_flight = None
        if results is not None:
            self._keep_stream_entries(plan, results)
        for unit in plan.units:
            self._release(unit)
            if unit.batch is not None:
                failed = failed_units is not None and id(unit) in failed_units
                unit.batch.resolve(BatchOutcome.FAILED if failed else BatchOutcome.WRITTEN)

    def _keep_stream_entries(self, plan: FlushPlan, results: list[Any]) -> None:
        """Appends (not replays: those are kept already) with their new ids; a deleted stream is forgotten."""
        tails = self.tails
        for index, (command, result) in enumerate(zip(plan.commands, results)):
            if command[0] == "XADD" and not plan.is_replay(index) and not isinstance(result, Exception):
                tails.record(command, result)
            elif command[0] == "DEL" and not isinstance(result, Exception):
                tails.forget(command[1])

    def putback(self, plan: FlushPlan) -> int:
        """The flush did not happen: restore it in front of newer writes. Returns drops."""
        self._in_flight = None
        for key, seq in plan.repairs.items():
            self._mark_dirty(key, seq)
        if plan.replays:
            self._replays.extendleft(reversed(plan.replays))
        if plan.latest:
            current = self._latest
            restored: dict[str, LatestWrite] = {}
            for key, older in plan.latest.items():
                newer = current.pop(key, None)
                restored[key] = older if newer is None else merge_under(older, newer)
            restored.update(current)
            self._latest = restored
        if plan.units:
            self._units.extendleft(reversed(plan.units))
            self.unit_ops += sum(len(unit.commands) for unit in plan.units)
        return self._enforce_bound() if self.unit_ops > self.max_pending_ops else 0

    def drop_plan(self, plan: FlushPlan) -> int:
        """Give up on a plan (an error retrying cannot fix): count all of it as dropped.
        Not marked dirty on purpose: a repair would hit the same error again."""
        self._in_flight = None
        dropped = len(plan.commands)
        for unit in plan.units:
            self._release(unit)
            if unit.batch is not None:
                unit.batch.resolve(BatchOutcome.DROPPED)
        self.dropped_ops += dropped
        return dropped

    def mirror_value(self, key: str) -> MirrorValue | None:
        """What this engine last wrote to ``key`` (tests and diagnostics)."""
        return self._mirror.get(key)

    @property
    def mirror_size(self) -> int:
        return len(self._mirror)

    @property
    def replays_pending(self) -> int:
        return len(self._replays)
