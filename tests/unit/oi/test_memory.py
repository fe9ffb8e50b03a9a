"""The read API's memory: sample logs and recent alerts kept as the streams keep them, bounded,
answered newest first, and the streams' past merged in behind what is held without repeats."""

from __future__ import annotations

import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.memory import (
    INITIAL_ROWS,
    RecentAlerts,
    SampleLog,
    SampleLogs,
    alert_entry,
    older_than_held,
)
from actors.oi.payloads import Sample
from actors.oi.topics import Recalled

T0 = 1_717_000_000_000


def sample(i: int, symbol: str = "BTCUSDT", **changes: object) -> Sample:
    fields: dict[str, object] = {"open_interest": 1000.0 + i, "ts_ms": T0 + i * 5_000, **changes}
    return Sample(symbol, **fields)  # type: ignore[arg-type]


def logged(capacity: int, samples: list[Sample]) -> SampleLog:
    log = SampleLog("BTCUSDT", capacity)
    for s in samples:
        log.append(s)
    return log


# ---- older_than_held ----------------------------------------------------------------------------


def test_older_than_held_takes_what_the_stream_had_before_the_oldest_held_entry() -> None:
    stream = ["e", "d", "c", "b", "a"]  # newest first, "c" the oldest held
    assert older_than_held(stream, "c") == ["a", "b"]
    assert older_than_held(stream, None) == ["a", "b", "c", "d", "e"]  # nothing held: all of it
    assert older_than_held(stream, "x") == ["a", "b", "c", "d", "e"]  # held entries not on the server yet
    assert older_than_held(["c", "b", "c", "a"], "c") == ["a", "c", "b"]  # the newest copy is the held one
    assert older_than_held([], "c") == []


# ---- SampleLog -----------------------------------------------------------------------------------


def test_a_log_answers_newest_first_with_every_field() -> None:
    kept = [sample(0, mark_price=65_000.5, oi_usd=6.5e7), sample(1, source="snapshot"), sample(1)]  # a repeat too
    log = logged(10, kept)
    assert log.newest(2) == [sample(1), sample(1, source="snapshot")]
    assert log.newest(100) == list(reversed(kept)) and log.newest(0) == []
    assert log.oldest() == kept[0] and len(log) == 3 and log.symbol == "BTCUSDT"


def test_a_log_grows_to_its_capacity_then_drops_the_oldest() -> None:
    capacity = 3 * INITIAL_ROWS + 5
    log = logged(capacity, [sample(i) for i in range(capacity + 7)])
    assert len(log) == capacity and log.complete  # as many as the stream keeps
    assert log.newest(capacity + 7) == [sample(i) for i in range(capacity + 6, 6, -1)]
    assert log.oldest() == sample(7)


def test_a_small_log_never_allocates_past_its_capacity() -> None:
    log = logged(2, [sample(i) for i in range(5)])
    assert log.newest(5) == [sample(4), sample(3)] and len(log._ts_ms) == 2


@given(capacity=st.integers(1, 200), counts=st.lists(st.integers(0, 90), max_size=5), limit=st.integers(0, 300))
def test_a_log_holds_the_newest_capacity_samples_in_order(capacity: int, counts: list[int], limit: int) -> None:
    model: list[Sample] = []
    log = SampleLog("BTCUSDT", capacity)
    i = 0
    for count in counts:
        for _ in range(count):
            s = sample(i % 7, mark_price=None if i % 3 else 1.5, source="snapshot" if i % 2 else "realtime")
            log.append(s)
            model.append(s)
            i += 1
        assert log.newest(limit) == list(reversed(model[-capacity:]))[:limit]
        assert len(log) == min(capacity, len(model))


def test_history_goes_behind_what_is_held_without_repeating_it() -> None:
    stream = [sample(i) for i in range(6)]  # sample(4) and (5) were recorded in this run, and flushed
    log = logged(10, stream[4:])
    assert not log.complete
    assert log.merge_history(list(reversed(stream)), whole=True) == 4
    assert log.newest(10) == list(reversed(stream)) and log.loaded and log.complete


def test_history_fills_only_the_room_left() -> None:
    log = logged(5, [sample(10), sample(11)])
    assert log.merge_history([sample(i) for i in range(9, -1, -1)], whole=False) == 3
    assert log.newest(5) == [sample(11), sample(10), sample(9), sample(8), sample(7)]
    assert log.complete and not log.loaded  # full: as much as the stream keeps


def test_a_partial_history_read_leaves_the_log_incomplete() -> None:
    log = logged(100, [sample(5)])
    assert log.merge_history([sample(4), sample(3)], whole=False) == 2
    assert not log.complete and log.newest(3) == [sample(5), sample(4), sample(3)]


def test_capacity_must_be_a_positive_integer() -> None:
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="capacity"):
            SampleLog("BTCUSDT", bad)  # type: ignore[arg-type]


# ---- SampleLogs ----------------------------------------------------------------------------------


def test_logs_recall_whole_answers_only() -> None:
    logs = SampleLogs(capacity=50)
    assert logs.recall("BTCUSDT", 10) == Recalled((), False)  # never sampled: the stream may know it
    logs.add([sample(0), sample(1), sample(0, "ETHUSDT")])
    assert logs.recall("BTCUSDT", 2) == Recalled((sample(1), sample(0)), True)  # memory holds the newest 2
    assert logs.recall("BTCUSDT", 3) == Recalled((sample(1), sample(0)), False)  # the stream may hold older
    assert logs.unloaded(5) == ["BTCUSDT", "ETHUSDT"]
    assert logs.merge_history("BTCUSDT", [sample(1), sample(0)], whole=True) == 0
    assert logs.recall("BTCUSDT", 3) == Recalled((sample(1), sample(0)), True)
    assert logs.unloaded(5) == ["ETHUSDT"]


def test_logs_give_way_least_recently_sampled_first() -> None:
    logs = SampleLogs(capacity=5, max_symbols=2)
    logs.add([sample(0, "AAUSDT"), sample(0, "BBUSDT"), sample(1, "AAUSDT"), sample(0, "CCUSDT")])
    assert logs.get("BBUSDT") is None and logs.evicted == 1 and len(logs) == 2
    assert [s.symbol for s in logs.recall("AAUSDT", 5).items] == ["AAUSDT", "AAUSDT"]
    assert logs.merge_history("BBUSDT", [sample(0, "BBUSDT")], whole=True) is None  # gone meanwhile
    assert logs.unloaded(5) == ["AAUSDT", "CCUSDT"]
    logs.merge_history("AAUSDT", [], whole=True)
    assert logs.unloaded(1) == ["CCUSDT"]


# ---- recent alerts -------------------------------------------------------------------------------


def text(i: int, symbol: str = "BTCUSDT") -> str:
    return json.dumps({"type": "open_interest_alert", "symbol": symbol, "ts": T0 + i})


def test_recent_alerts_read_like_the_stream_newest_first_with_scan_and_limit() -> None:
    alerts = RecentAlerts(capacity=100, loaded=True)
    for i in range(10):
        alerts.add("ETHUSDT" if i % 3 == 0 else "BTCUSDT", text(i, "ETHUSDT" if i % 3 == 0 else "BTCUSDT"))
    assert alerts.recall(None, 2, 2) == Recalled((text(9, "ETHUSDT"), text(8)), True)
    assert alerts.recall("ETHUSDT", 10, 100).items == tuple(text(i, "ETHUSDT") for i in (9, 6, 3, 0))
    assert alerts.recall("ETHUSDT", 10, 4).items == (text(9, "ETHUSDT"), text(6, "ETHUSDT"))  # only 4 scanned
    assert alerts.recall("ETHUSDT", 1, 100).items == (text(9, "ETHUSDT"),)
    assert alerts.recall("XRPUSDT", 5, 100) == Recalled((), True)


def test_recent_alerts_are_whole_once_merged_or_holding_the_window() -> None:
    alerts = RecentAlerts(capacity=3)
    alerts.add("BTCUSDT", text(5))
    assert not alerts.recall(None, 10, 10).complete and alerts.recall(None, 1, 1).complete
    assert alerts.merge_history([("BTCUSDT", text(5)), ("BTCUSDT", text(4)), ("BTCUSDT", text(3)),
                                 ("BTCUSDT", text(2))]) == 2  # room for 2 behind the held one
    assert alerts.recall(None, 10, 10) == Recalled((text(5), text(4), text(3)), True)
    alerts.add("BTCUSDT", text(6))
    assert len(alerts) == 3 and alerts.recall(None, 10, 10).items == (text(6), text(5), text(4))


def test_alert_entry_keeps_what_a_stream_read_would_answer() -> None:
    assert alert_entry({"symbol": "BTCUSDT", "payload": text(1)}) == ("BTCUSDT", text(1))
    assert alert_entry({"symbol": "X", "payload": text(1)}) == (None, text(1))  # never matches a symbol filter
    assert alert_entry({"payload": text(1)}) == (None, text(1))
    for fields in ({"symbol": "BTCUSDT"}, {"payload": "not json"}, {"payload": "[1]"}, {"payload": b"{}"}):
        assert alert_entry(fields) is None
