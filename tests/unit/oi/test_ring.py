"""The OI ring: bounded, strictly time-ordered, windows by time, history merged before live samples."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.ring import OIRing

T0 = 1_717_000_000_000


def filled(capacity: int, n: int, step_ms: int = 5_000) -> OIRing:
    ring = OIRing(capacity)
    for i in range(n):
        assert ring.append(T0 + i * step_ms, 100.0 + i)
    return ring


def test_empty_ring() -> None:
    ring = OIRing(4)
    assert len(ring) == 0 and ring.latest() is None and ring.latest_ts_ms() is None
    assert ring.window(0, 2**62).size == 0 and ring.window(0, 2**62).dtype == np.float64


def test_append_and_latest() -> None:
    ring = OIRing(4)
    assert ring.append(T0, 10.0, 650_000.0) and ring.append(T0 + 1, 11.0)
    ts_ms, oi, oi_usd = ring.latest()  # type: ignore[misc]
    assert (ts_ms, oi) == (T0 + 1, 11.0) and math.isnan(oi_usd)
    assert len(ring) == 2


def test_overwrites_oldest_when_full() -> None:
    ring = filled(3, 5)
    assert len(ring) == 3 and ring.oldest_ts_ms() == T0 + 2 * 5_000
    assert ring.window(0, 2**62).tolist() == [102.0, 103.0, 104.0]
    assert ring.arrays()[0].dtype == np.int64


def test_stale_and_duplicate_timestamps_are_ignored() -> None:
    ring = filled(4, 2)
    assert not ring.append(T0 + 5_000, 999.0)  # duplicate of the latest: first value wins
    assert not ring.append(T0, 999.0)  # out of order
    assert ring.rejected == 2 and ring.window(0, 2**62).tolist() == [100.0, 101.0]


@pytest.mark.parametrize("ts_ms, oi, oi_usd", [
    (T0, -1.0, None), (T0, math.nan, None), (T0, math.inf, None), (float(T0), 1.0, None), (T0, 1.0, -5.0),
    (T0, True, None), (T0, 1.0, math.inf),
])
def test_bad_samples_raise(ts_ms: int, oi: float, oi_usd: float | None) -> None:
    with pytest.raises(ValueError):
        OIRing(4).append(ts_ms, oi, oi_usd)


def test_window_edges_are_inclusive_across_the_wrap() -> None:
    ring = filled(5, 8)  # holds samples 3..7, stored wrapped
    assert ring.window(T0 + 4 * 5_000, T0 + 6 * 5_000).tolist() == [104.0, 105.0, 106.0]
    assert ring.window_ts_ms(T0 + 4 * 5_000 + 1, T0 + 6 * 5_000 - 1).tolist() == [T0 + 5 * 5_000]
    assert ring.window(T0 + 9 * 5_000, T0 + 10 * 5_000).size == 0
    assert ring.window(T0 + 6 * 5_000, T0 + 4 * 5_000).size == 0  # from after to


def test_window_is_a_copy() -> None:
    ring = filled(3, 3)
    values = ring.window(0, 2**62)
    ring.append(T0 + 10 * 5_000, 1.0)
    assert values.tolist() == [100.0, 101.0, 102.0]


def test_capacity_for_the_alert_window() -> None:
    ring = OIRing.for_window(5.0)
    assert ring.capacity == 2377  # 3 h at 5 s + 10 % + 1
    assert OIRing.for_window(20.0, window_s=3600, slack_fraction=0).capacity == 181
    for bad in (0, -1, math.nan):
        with pytest.raises(ValueError):
            OIRing.for_window(bad)
    for bad_capacity in (1, 0, 10**7, 5.0):
        with pytest.raises(ValueError):
            OIRing(bad_capacity)  # type: ignore[arg-type]


def test_history_goes_before_live_samples_and_overlap_is_dropped() -> None:
    ring = OIRing(10)
    ring.append(T0 + 600_000, 50.0)
    ring.append(T0 + 605_000, 51.0)
    rows = [(T0 + 600_000, 1.0, 2.0), (T0 + 300_000, 40.0, 4e6), (T0, 30.0), (T0 + 900_000, 99.0), (T0, 31.0)]
    assert ring.extend_history(rows) == 2  # T0 (first row wins), T0 + 5 min; the rest overlap
    ts_ms, oi, oi_usd = ring.arrays()
    assert ts_ms.tolist() == [T0, T0 + 300_000, T0 + 600_000, T0 + 605_000]
    assert oi.tolist() == [30.0, 40.0, 50.0, 51.0] and oi_usd[1] == 4e6 and math.isnan(oi_usd[0])
    assert ring.append(T0 + 610_000, 52.0) and ring.latest()[0] == T0 + 610_000  # type: ignore[index]


def test_history_into_an_empty_ring_and_when_full() -> None:
    ring = OIRing(3)
    assert ring.extend_history([(T0 + i * 300_000, float(i)) for i in range(5)]) == 3
    assert ring.window(0, 2**62).tolist() == [2.0, 3.0, 4.0]  # the newest history kept
    assert ring.extend_history([(T0 - 1, 9.0)]) == 0  # full: older history has no room
    assert ring.extend_history([]) == 0
    with pytest.raises(ValueError):
        ring.extend_history([(T0,)])


def test_a_wrapped_ring_is_full_so_history_has_no_room() -> None:
    ring = filled(6, 9)  # wrapped: samples 3..8 (a ring only wraps once full)
    assert ring.extend_history([(T0 - 300_000, 1.0)]) == 0
    assert ring.window(0, 2**62).tolist() == [103.0, 104.0, 105.0, 106.0, 107.0, 108.0]


samples = st.lists(st.tuples(st.integers(0, 10_000), st.floats(0, 1e9)), max_size=200)


@given(capacity=st.integers(2, 40), rows=samples, history=samples, more=samples)
def test_ring_stays_ordered_and_bounded(capacity: int, rows: list, history: list, more: list) -> None:
    ring = OIRing(capacity)
    accepted: list[tuple[int, float]] = []
    for ts_ms, oi in rows:
        if ring.append(ts_ms, oi):
            accepted.append((ts_ms, oi))
    ring.extend_history(history)
    for ts_ms, oi in more:
        ring.append(ts_ms, oi)
    ts_all, oi_all, _ = ring.arrays()
    assert len(ring) == len(ts_all) <= capacity
    assert np.all(np.diff(ts_all) > 0)
    expected_last = accepted[-capacity:]
    if not more and expected_last:  # live samples are never displaced by history
        assert list(zip(ts_all.tolist(), oi_all.tolist()))[-len(expected_last):] == expected_last
    lo, hi = 2_000, 7_000
    assert ring.window(lo, hi).tolist() == oi_all[(ts_all >= lo) & (ts_all <= hi)].tolist()
