"""Stream tails kept for a restarted server: bounded, fair to quiet streams, replayed in id order."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from engine.store_buffer import WriteBuffer
from engine.store_ops import cmd_xadd
from engine.store_replay import StreamTails, replay_command, water_level


@given(st.lists(st.integers(0, 500), max_size=30), st.integers(0, 5000))
def test_the_water_level_fits_the_budget_and_cuts_only_what_it_must(sizes: list[int], budget: int) -> None:
    level = water_level(sizes, budget)
    kept = sum(min(size, level) for size in sizes)
    if sum(sizes) <= budget:
        assert kept == sum(sizes)  # nothing is cut
    else:
        assert kept <= budget
        assert sum(min(size, level + 1) for size in sizes) > budget  # one more each would not fit


def test_a_replay_carries_the_server_id_and_the_same_trim() -> None:
    assert replay_command(cmd_xadd("s", {"a": 1}, maxlen=10), "5-1") == ("XADD", "s", "MAXLEN", "~", 10, "5-1", "a", 1)
    assert replay_command(cmd_xadd("s", {"a": 1}), "5-1") == ("XADD", "s", "5-1", "a", 1)


def test_a_stream_keeps_at_most_its_maxlen_newest_first_out() -> None:
    tails = StreamTails()
    for i in range(12):
        tails.record(cmd_xadd("s", {"i": i}, maxlen=5), f"{i}-0")
    assert [c[5] for c in tails.replay_commands()] == [f"{i}-0" for i in range(7, 12)]
    assert len(tails) == 5 and tails.evicted == 0


def test_the_bound_cuts_chatty_streams_before_a_quiet_one() -> None:
    tails = StreamTails(max_entries=100)
    for i in range(10):  # under the fair share (90 kept / 5 streams) at every cut
        tails.record(cmd_xadd("alerts", {"i": i}, maxlen=1000), f"{i}-0")
    for i in range(400):
        tails.record(cmd_xadd(f"samples:{i % 4}", {"i": i}, maxlen=1000), f"{i}-0")
    commands = tails.replay_commands()
    assert len(tails) == len(commands) <= 100 and tails.evicted == 410 - len(tails)
    assert [c[5] for c in commands if c[1] == "alerts"] == [f"{i}-0" for i in range(10)]  # whole
    for stream in ("samples:0", "samples:1", "samples:2", "samples:3"):
        ids = [int(c[5].split("-")[0]) for c in commands if c[1] == stream]
        assert ids == sorted(ids) and ids[-1] >= 396  # the newest of each are kept


def test_a_deleted_stream_is_forgotten_and_failed_appends_are_not_kept() -> None:
    buffer = WriteBuffer()
    buffer.ordered((cmd_xadd("a", {"i": 1}),))
    buffer.ordered((cmd_xadd("b", {"i": 1}),))
    plan = buffer.take(10)
    buffer.complete(plan, results=["1-0", ValueError("refused")])
    buffer.delete("a")
    plan = buffer.take(10)
    buffer.complete(plan, results=[1])
    assert len(buffer.tails) == 0


def test_after_a_reset_repairs_then_replays_then_pending_writes() -> None:
    buffer = WriteBuffer()
    buffer.set("k", "v")
    buffer.ordered((cmd_xadd("oi:alerts", {"i": 0}, maxlen=10),))
    buffer.ordered((cmd_xadd("oi:alerts", {"i": 1}, maxlen=10),))
    buffer.complete(buffer.take(10), results=[True, "7-0", "7-1"])
    buffer.ordered((cmd_xadd("oi:alerts", {"i": 2}, maxlen=10),))  # queued during the outage
    buffer.mark_all_dirty()
    assert buffer.min_pending_seq() == 4 and buffer.pending_ops == 4  # flush() waits for the replays too
    plan = buffer.take(2)  # a small budget: the replay is split, never reordered
    assert plan.commands == [("SET", "k", "v"), ("XADD", "oi:alerts", "MAXLEN", "~", 10, "7-0", "i", 0)]
    buffer.putback(plan)  # the link died again
    plan = buffer.take(10)
    assert plan.commands == [
        ("SET", "k", "v"),
        ("XADD", "oi:alerts", "MAXLEN", "~", 10, "7-0", "i", 0),
        ("XADD", "oi:alerts", "MAXLEN", "~", 10, "7-1", "i", 1),
        ("XADD", "oi:alerts", "MAXLEN", "~", 10, "*", "i", 2),
    ]
    buffer.complete(plan, results=[True, "7-0", "7-1", "9-0"])
    assert buffer.min_pending_seq() is None
    assert [c[5] for c in buffer.tails.replay_commands()] == ["7-0", "7-1", "9-0"]  # replays are not kept twice
