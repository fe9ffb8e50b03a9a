"""Pure pieces of the Redis writer: command builders, latest-value coalescing, the mirror.

A command is a Redis argv tuple (``("HSET", key, field, value, ...)``): that is what the
pipeline sends, so building it once at enqueue time costs nothing later. Everything here
is in-memory and synchronous; ``engine.store`` does the I/O.
"""

from __future__ import annotations

import enum
from itertools import chain
from typing import Any, Iterable, Mapping

import attrs
import trio

Value = str | bytes | int | float
Command = tuple[Any, ...]
MirrorValue = Value | dict[Any, Value] | set[Value]

# Commands whose effect the mirror keeps (everything but streams and pub/sub).
MIRRORED = frozenset({"SET", "HSET", "DEL", "SADD", "SREM"})


_PLAIN_TYPES = frozenset({str, bytes, int, float})


def check_value(value: Any, what: str = "value") -> None:
    """Refuse, at the caller, what would break a whole flush later. Exact types only:
    bool, None, enums and numpy scalars would be encoded as their repr (``np.float64(1.5)``)."""
    if type(value) not in _PLAIN_TYPES:
        raise TypeError(f"redis {what} must be str, bytes, int or float, not {type(value).__name__}")


def check_mapping(mapping: Mapping[Any, Value]) -> None:
    for field, value in mapping.items():
        if type(field) not in _PLAIN_TYPES:
            check_value(field, "hash field")
        if type(value) not in _PLAIN_TYPES:
            check_value(value, "hash value")


def pack_commands(commands: Iterable[Command]) -> bytes:
    """RESP-encode commands, byte for byte what redis-py's packer sends, about 3x faster
    (the packer was the writer's largest cost). Arguments are already checked plain types."""
    out: list[bytes] = []
    append = out.append
    for command in commands:
        append(b"*%d\r\n" % len(command))
        for arg in command:
            kind = type(arg)
            if kind is str:
                data = arg.encode()
            elif kind is bytes:
                data = arg
            else:  # int or float: redis-py sends repr()
                data = repr(arg).encode()
            append(b"$%d\r\n%b\r\n" % (len(data), data))
    return b"".join(out)


def check_key(key: Any) -> None:
    if type(key) is not str or not key:
        raise TypeError(f"redis key must be a non-empty str, got {key!r}")


def flat_fields(mapping: Mapping[Any, Value]) -> tuple[Any, ...]:
    """``{f1: v1, f2: v2}`` -> ``(f1, v1, f2, v2)``, the argv tail of HSET and XADD."""
    return tuple(chain.from_iterable(mapping.items()))


def cmd_set(key: str, value: Value) -> Command:
    check_key(key)
    check_value(value)
    return ("SET", key, value)


def cmd_hset(key: str, mapping: Mapping[Any, Value]) -> Command:
    check_key(key)
    check_mapping(mapping)
    return ("HSET", key, *flat_fields(mapping))


def cmd_delete(key: str) -> Command:
    check_key(key)
    return ("DEL", key)


def cmd_sadd(key: str, members: Iterable[Value]) -> Command:
    check_key(key)
    members = tuple(members)
    for member in members:
        check_value(member, "set member")
    return ("SADD", key, *members)


def cmd_srem(key: str, members: Iterable[Value]) -> Command:
    return ("SREM",) + cmd_sadd(key, members)[1:]


def cmd_xadd(stream: str, fields: Mapping[Any, Value], maxlen: int | None = None) -> Command:
    check_key(stream)
    if not fields:
        raise ValueError("a stream entry needs at least one field")
    trim: tuple[Any, ...] = ()
    if maxlen is not None:
        if maxlen < 0:
            raise ValueError("maxlen must be >= 0")
        trim = ("MAXLEN", "~", int(maxlen))
    check_mapping(fields)
    return ("XADD", stream, *trim, "*", *flat_fields(fields))


def cmd_publish(channel: str, message: Value) -> Command:
    check_key(channel)
    check_value(message, "message")
    return ("PUBLISH", channel, message)


def touches_key(command: Command) -> bool:
    """PUBLISH names a channel, not a key (``oi:alerts`` is both a stream and a channel)."""
    return command[0] != "PUBLISH"


# --- the mirror: what this engine last wrote to each string, hash and set key ---------------


def mirror_kind(value: MirrorValue | None) -> str | None:
    if value is None:
        return None
    if isinstance(value, dict):
        return "hash"
    if isinstance(value, set):
        return "set"
    return "string"


_NEEDS_KIND = {"HSET": "hash", "SADD": "set", "SREM": "set", "XADD": "stream"}


def check_kind(name: str, key: str, kind: str | None) -> None:
    """Fail fast, at the caller, on a write Redis would answer with WRONGTYPE."""
    needed = _NEEDS_KIND.get(name)
    if needed is not None and kind is not None and kind != needed:
        raise TypeError(f"{name} on {key!r}, which this engine wrote as a {kind}")


def kind_after(command: Command, kind: str | None) -> str | None:
    """The kind a key has after ``command`` (for checking a batch before applying it)."""
    name = command[0]
    if name == "SET":
        return "string"
    if name == "DEL":
        return None
    if name in ("HSET", "SADD", "XADD"):
        return _NEEDS_KIND[name]
    return kind


def apply_to_mirror(mirror: dict[str, MirrorValue], command: Command) -> None:
    name, key = command[0], command[1]
    if name == "SET":
        mirror[key] = command[2]
    elif name == "HSET":
        current = mirror.get(key)
        pairs = zip(command[2::2], command[3::2])
        if isinstance(current, dict):
            current.update(pairs)
        else:
            mirror[key] = dict(pairs)
    elif name == "DEL":
        mirror.pop(key, None)
    elif name == "SADD":
        current = mirror.get(key)
        if isinstance(current, set):
            current.update(command[2:])
        else:
            mirror[key] = set(command[2:])
    elif name == "SREM":
        current = mirror.get(key)
        if isinstance(current, set):
            current.difference_update(command[2:])
            if not current:  # Redis deletes an empty set
                del mirror[key]


def restore_commands(key: str, value: MirrorValue | None) -> list[Command]:
    """Commands that make ``key`` on the server equal to the mirror (after a reset or drops).
    Hashes and sets are replaced whole: the mirror is the full state this engine wrote."""
    if value is None:
        return [("DEL", key)]
    if isinstance(value, dict):
        return [("DEL", key), ("HSET", key, *flat_fields(value))]
    if isinstance(value, set):
        return [("DEL", key), ("SADD", key, *value)]
    return [("SET", key, value)]


# --- coalesced latest-value writes -------------------------------------------------------


@attrs.define(slots=True, eq=False)
class LatestWrite:
    """The pending write of one latest-value key: a value, a hash merge, or a delete.

    ``first_seq`` is the enqueue number of the oldest write folded in: a flush sends
    entries and ordered units by it, so coalescing never reorders across keys.
    """

    first_seq: int
    kind: str  # "set" | "hash" | "del"
    value: Value | None = None
    fields: dict[Any, Value] | None = None
    replace: bool = False  # for "hash": DEL the key first (the hash follows a delete)

    def commands(self, key: str) -> list[Command]:
        if self.kind == "set":
            return [("SET", key, self.value)]
        if self.kind == "del":
            return [("DEL", key)]
        assert self.fields is not None
        hset: Command = ("HSET", key, *flat_fields(self.fields))
        return [("DEL", key), hset] if self.replace else [hset]

    def fold_hset(self, mapping: Mapping[Any, Value]) -> None:
        """A newer HSET on top of this write."""
        if self.kind == "hash":
            assert self.fields is not None
            self.fields.update(mapping)
        else:  # after a delete (a string is refused earlier by the mirror's kind check)
            self.kind, self.value, self.fields, self.replace = "hash", None, dict(mapping), True


def merge_under(older: LatestWrite, newer: LatestWrite) -> LatestWrite:
    """Re-merge a failed flush's write under the write queued since (newer wins)."""
    if newer.kind == "hash" and not newer.replace:
        assert newer.fields is not None
        if older.kind == "hash":
            assert older.fields is not None
            fields = {**older.fields, **newer.fields}
            return LatestWrite(older.first_seq, "hash", fields=fields, replace=older.replace)
        return LatestWrite(older.first_seq, "hash", fields=newer.fields, replace=True)
    newer.first_seq = older.first_seq
    return newer


# --- atomic batches -------------------------------------------------------------------------


class BatchOutcome(enum.Enum):
    WRITTEN = "written"
    FAILED = "failed"  # on the server, but a command answered an error (MULTI does not roll back)
    DROPPED = "dropped"  # dropped from a full buffer while Redis was unreachable


@attrs.define(eq=False)
class AtomicBatch:
    """Writes that land in one MULTI/EXEC, in this order, never split across flushes.

    Build with the chained methods, then ``store.submit(batch)`` or
    ``await store.commit(batch)``. Keys of one batch should share a hash tag (Cluster).
    """

    commands: list[Command] = attrs.field(factory=list)
    outcome: BatchOutcome | None = None
    submitted: bool = False
    _done: trio.Event | None = None

    def set(self, key: str, value: Value) -> "AtomicBatch":
        self.commands.append(cmd_set(key, value))
        return self

    def hset(self, key: str, mapping: Mapping[Any, Value]) -> "AtomicBatch":
        if mapping:
            self.commands.append(cmd_hset(key, mapping))
        return self

    def delete(self, key: str) -> "AtomicBatch":
        self.commands.append(cmd_delete(key))
        return self

    def sadd(self, key: str, *members: Value) -> "AtomicBatch":
        if members:
            self.commands.append(cmd_sadd(key, members))
        return self

    def srem(self, key: str, *members: Value) -> "AtomicBatch":
        if members:
            self.commands.append(cmd_srem(key, members))
        return self

    def xadd(self, stream: str, fields: Mapping[Any, Value], maxlen: int | None = None) -> "AtomicBatch":
        self.commands.append(cmd_xadd(stream, fields, maxlen))
        return self

    def publish(self, channel: str, message: Value) -> "AtomicBatch":
        self.commands.append(cmd_publish(channel, message))
        return self

    def resolve(self, outcome: BatchOutcome) -> None:
        self.outcome = outcome
        if self._done is not None:
            self._done.set()

    async def wait(self) -> BatchOutcome:
        if self.outcome is None:
            if self._done is None:
                self._done = trio.Event()
            await self._done.wait()
        assert self.outcome is not None
        return self.outcome
