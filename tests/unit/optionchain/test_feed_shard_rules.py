"""The feed shard's pure rules: packets → TickUpdate, backoff bounds, error kinds."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.optionchain.feed_shard import (
    FATAL,
    RETRY,
    TOO_MANY,
    backoff_delay,
    error_kind,
    packets_to_updates,
    too_many_delay,
)
from actors.optionchain.inputs import TickUpdate
from adapters.dhan.codec import (
    Depth,
    Disconnect,
    Full,
    MarketStatus,
    OpenInterest,
    PrevClose,
    Quote,
    Tick,
)
from adapters.dhan.errors import (
    DhanApiError,
    DhanAuthError,
    DhanFeedClosed,
    DhanTokenExpired,
    DhanTooManyConnections,
)

NOW = 1_760_000_000_000


def depth(levels: int = 5) -> tuple[Depth, ...]:
    return tuple(Depth(10 * (i + 1), 20 * (i + 1), 1, 2, 100.0 - i, 101.0 + i) for i in range(levels))


def full(sid: int, ltp: float = 152.3, levels: int = 5) -> Full:
    return Full("NSE_FNO", sid, ltp, 75, 1, 150.0, 9000, 1, 2, 3, 4, 5, 140.0, 145.0, 160.0, 139.0, depth(levels))


def quote(sid: int) -> Quote:
    return Quote("NSE_FNO", sid, 99.5, 50, 1, 98.0, 1234, 1, 2, 90.0, 91.0, 101.0, 89.0)


@pytest.mark.parametrize(("packet", "expected"), [
    (Tick(2, "NSE_FNO", 42510, 118.4, 1), TickUpdate(42510, 118.4, ts_ms=NOW)),
    (Tick(1, "IDX_I", 13, 24964.25, 1), TickUpdate(13, 24964.25, ts_ms=NOW)),  # index value
    (quote(7), TickUpdate(7, 99.5, volume=1234, ts_ms=NOW)),
    (full(55796), TickUpdate(55796, 152.3, bid=100.0, ask=101.0, volume=9000, ts_ms=NOW)),
    (full(9, levels=0), TickUpdate(9, 152.3, volume=9000, ts_ms=NOW)),  # no depth: bid/ask unknown
    (full(9, ltp=0.0), TickUpdate(9, 0.0, bid=100.0, ask=101.0, volume=9000, ts_ms=NOW)),
    (PrevClose("NSE_FNO", 1, 96.15, 2_980_125), None),
    (OpenInterest("NSE_FNO", 1, 4_123_500), None),
    (MarketStatus("NSE_FNO", 1), None),
    (Disconnect("NSE_FNO", 0, 807), None),
])
def test_one_packet(packet, expected) -> None:
    assert packets_to_updates([packet], NOW) == ([expected] if expected is not None else [])


def test_a_frame_keeps_packet_order_and_skips_non_ticks() -> None:
    frame = [PrevClose("NSE_FNO", 1, 96.15, 0), full(1), Tick(2, "NSE_FNO", 2, 3.0, 0),
             OpenInterest("NSE_FNO", 1, 5), quote(3)]
    assert [u.security_id for u in packets_to_updates(frame, NOW)] == [1, 2, 3]
    assert packets_to_updates([], NOW) == []


def test_empty_book_side_keeps_zero_price() -> None:
    empty_bid = Full("NSE_FNO", 4, 1.0, 0, 0, 0.0, 0, 0, 0, 0, 0, 0, 0.0, 0.0, 0.0, 0.0,
                     (Depth(0, 10, 0, 1, 0.0, 1.05),) + depth(4))
    (update,) = packets_to_updates([empty_bid], NOW)
    assert update.bid == 0.0 and update.ask == 1.05


def test_backoff_grows_then_caps() -> None:
    no_jitter = [backoff_delay(n, 1.0, 30.0, 0.0) for n in range(8)]
    assert no_jitter == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0, 30.0]
    assert backoff_delay(10_000, 1.0, 30.0, 0.0) == 30.0  # no overflow for huge counts


@given(failures=st.integers(-5, 10_000), rand=st.floats(0.0, 1.0),
       initial=st.floats(0.01, 5.0), cap=st.floats(5.0, 120.0))
def test_backoff_bounds(failures: int, rand: float, initial: float, cap: float) -> None:
    base = min(cap, initial * 2 ** min(max(failures, 0), 62))
    delay = backoff_delay(failures, initial, cap, rand)
    assert base * 0.5 - 1e-9 <= delay <= base + 1e-9
    assert 0 < delay <= cap


@given(rand=st.floats(0.0, 1.0), cap=st.floats(0.1, 120.0))
def test_too_many_connections_waits_at_least_the_cap(rand: float, cap: float) -> None:
    assert cap <= too_many_delay(cap, rand) <= cap * 1.5


def test_error_kinds() -> None:
    assert error_kind(DhanTokenExpired(807, "x", "feed")) == FATAL
    assert error_kind(DhanAuthError(809, "x", "feed")) == FATAL
    assert error_kind(DhanTooManyConnections(429, "x", "feed")) == TOO_MANY
    assert error_kind(DhanFeedClosed(None, "x", "feed")) == RETRY
    assert error_kind(DhanApiError(800, "x")) == RETRY
    assert error_kind(OSError("x")) == RETRY
