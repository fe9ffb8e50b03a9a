"""The writer's pure core: packing, coalescing, ordering, the bound, the mirror."""

from __future__ import annotations

import enum

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.connection import Connection

from engine.store_buffer import WriteBuffer
from engine.store_ops import AtomicBatch, BatchOutcome, cmd_hset, cmd_xadd, pack_commands

plain_args = st.one_of(
    st.text(max_size=20), st.binary(max_size=20), st.integers(-(2**63), 2**63), st.floats(allow_nan=False),
)


names = st.sampled_from(["SET", "HSET", "DEL", "SADD", "SREM", "XADD", "PUBLISH", "MULTI", "EXEC"])
commands_strategy = st.tuples(names, st.lists(plain_args, max_size=6)).map(lambda c: (c[0], *c[1]))


@given(st.lists(commands_strategy, max_size=10))
def test_pack_commands_is_byte_for_byte_redis_py(commands: list[tuple]) -> None:
    expected = b"".join(Connection().pack_commands(commands)) if commands else b""
    assert pack_commands(commands) == expected


class Side(enum.Enum):
    BUY = "buy"


@pytest.mark.parametrize("bad", [None, True, Side.BUY, [1], {"a": 1}])
def test_values_that_would_encode_badly_are_refused_at_the_caller(bad: object) -> None:
    with pytest.raises(TypeError):
        cmd_hset("k", {"f": bad})  # type: ignore[dict-item]
    with pytest.raises(TypeError):
        AtomicBatch().set("k", bad)  # type: ignore[arg-type]


def test_empty_stream_entries_and_negative_maxlen_are_refused() -> None:
    with pytest.raises(ValueError):
        cmd_xadd("s", {})
    with pytest.raises(ValueError):
        cmd_xadd("s", {"a": 1}, maxlen=-1)
    assert cmd_xadd("s", {"a": 1}, maxlen=10) == ("XADD", "s", "MAXLEN", "~", 10, "*", "a", 1)


def test_latest_values_coalesce_into_one_command_per_key() -> None:
    buffer = WriteBuffer()
    for i in range(100):
        buffer.set("price", str(i))
    buffer.hset("meta", {"a": 1})
    buffer.hset("meta", {"b": 2})
    buffer.hset("meta", {"a": 3})
    plan = buffer.take(1000)
    assert plan.commands == [("SET", "price", "99"), ("HSET", "meta", "a", 3, "b", 2)]


def test_delete_then_hset_replaces_the_hash() -> None:
    buffer = WriteBuffer()
    buffer.hset("h", {"old": 1})
    buffer.delete("h")
    buffer.hset("h", {"new": 2})
    assert buffer.take(10).commands == [("DEL", "h"), ("HSET", "h", "new", 2)]
    assert buffer.mirror_value("h") == {"new": 2}


def test_a_flush_takes_writes_in_enqueue_order_across_kinds() -> None:
    buffer = WriteBuffer()
    buffer.set("a", "1")
    buffer.ordered((("PUBLISH", "ch", "a changed"),))
    buffer.set("b", "1")
    buffer.set("a", "2")  # coalesces into the first entry: goes out before the PUBLISH, newer
    assert buffer.take(2).commands == [("SET", "a", "2"), ("PUBLISH", "ch", "a changed")]
    buffer.complete(buffer._in_flight)  # type: ignore[arg-type]
    assert buffer.take(2).commands == [("SET", "b", "1")]


def test_a_latest_write_behind_an_ordered_write_of_its_key_queues_in_order() -> None:
    buffer = WriteBuffer()
    buffer.ordered((("DEL", "s"), ("SADD", "s", "x")))
    buffer.delete("s")  # must not jump ahead of the SADD
    buffer.ordered((("SADD", "s", "y"),))
    assert buffer.take(100).commands == [("DEL", "s"), ("SADD", "s", "x"), ("DEL", "s"), ("SADD", "s", "y")]
    assert buffer.mirror_value("s") == {"y"}


def test_an_atomic_batch_is_never_split() -> None:
    buffer = WriteBuffer()
    buffer.ordered((("XADD", "s", "*", "a", 1),))
    buffer.ordered(tuple(("SADD", "k", str(i)) for i in range(5)))
    assert len(buffer.take(3).commands) == 1
    buffer.complete(buffer._in_flight)  # type: ignore[arg-type]
    assert len(buffer.take(3).commands) == 5  # alone and whole, even over the budget


def test_putback_restores_order_and_merges_under_newer_values() -> None:
    buffer = WriteBuffer()
    buffer.set("a", "1")
    buffer.hset("h", {"x": 1})
    buffer.ordered((("XADD", "s", "*", "i", 0),))
    plan = buffer.take(100)
    buffer.set("a", "2")  # newer than the failed flush: wins
    buffer.hset("h", {"y": 2})  # merged on top of the failed fields
    buffer.ordered((("XADD", "s", "*", "i", 1),))
    assert buffer.putback(plan) == 0
    assert buffer.take(100).commands == [
        ("SET", "a", "2"), ("HSET", "h", "x", 1, "y", 2), ("XADD", "s", "*", "i", 0), ("XADD", "s", "*", "i", 1),
    ]


def test_the_bound_drops_the_oldest_ordered_ops_and_marks_keys_for_repair() -> None:
    buffer = WriteBuffer(max_pending_ops=3)
    batch = AtomicBatch().delete("u").sadd("u", "a")
    buffer.ordered(tuple(batch.commands), batch)
    dropped = sum(buffer.ordered((("XADD", "s", "*", "i", i),)) for i in range(3))
    assert dropped == 2 and buffer.dropped_ops == 2
    assert batch.outcome is BatchOutcome.DROPPED
    plan = buffer.take(100)
    assert plan.commands[:2] == [("DEL", "u"), ("SADD", "u", "a")]  # the repair comes first
    assert [c[-1] for c in plan.commands[2:]] == [0, 1, 2]


def test_a_reset_rewrites_every_mirrored_key_first() -> None:
    buffer = WriteBuffer()
    buffer.set("a", "1")
    buffer.hset("h", {"f": "v"})
    buffer.ordered((("SADD", "s", "m"), ("XADD", "x", "*", "f", 1)))
    buffer.complete(buffer.take(100))
    buffer.set("b", "2")
    buffer.mark_all_dirty()
    commands = buffer.take(100).commands
    assert set(commands[:6]) == {
        ("SET", "a", "1"), ("DEL", "h"), ("HSET", "h", "f", "v"), ("DEL", "s"), ("SADD", "s", "m"), ("SET", "b", "2"),
    }
    assert commands[6:] == [("SET", "b", "2")]  # pending writes follow; replaying them is harmless


def test_wrongtype_writes_are_refused_without_touching_the_mirror() -> None:
    buffer = WriteBuffer()
    buffer.set("k", "v")
    with pytest.raises(TypeError):
        buffer.hset("k", {"f": 1})
    with pytest.raises(TypeError):
        buffer.ordered((("SET", "other", "1"), ("SADD", "k", "m")))
    assert buffer.mirror_value("other") is None and buffer.mirror_value("k") == "v"
    buffer.ordered((("DEL", "k"), ("SADD", "k", "m")))  # fine once the key is deleted first
    assert buffer.mirror_value("k") == {"m"}


def test_min_pending_seq_follows_what_is_not_yet_on_the_server() -> None:
    buffer = WriteBuffer()
    assert buffer.min_pending_seq() is None
    buffer.set("a", "1")
    buffer.ordered((("XADD", "s", "*", "i", 1),))
    plan = buffer.take(1)
    assert buffer.min_pending_seq() == 1  # in flight
    buffer.complete(plan)
    assert buffer.min_pending_seq() == 2
    buffer.complete(buffer.take(10))
    assert buffer.min_pending_seq() is None
