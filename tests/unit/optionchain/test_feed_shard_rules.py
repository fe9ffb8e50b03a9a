"""The feed shard's pure rules: packets → TickUpdate, backoff bounds, error kinds."""

from __future__ import annotations

import attrs
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from actors.optionchain.feed_shard import (
    FATAL,
    RETRY,
    TOO_MANY,
    backoff_delay,
    error_kind,
    packets_to_updates,
    rows_to_updates,
    too_many_delay,
)
from actors.optionchain.inputs import TickUpdate
from tests.unit.dhan.test_codec import FULL_PACKET, VALID
from adapters.dhan.codec import (
    DecodeStats,
    Depth,
    Disconnect,
    Full,
    MarketStatus,
    OpenInterest,
    PrevClose,
    Quote,
    Tick,
    decode_frame,
    decode_prices,
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
    (Tick(2, "NSE_FNO", 42510, 118.4, 1), TickUpdate(42510, 118.4, ts_ms=NOW, segment="NSE_FNO")),
    (Tick(1, "IDX_I", 13, 24964.25, 1), TickUpdate(13, 24964.25, ts_ms=NOW, segment="IDX_I")),  # index value
    (quote(7), TickUpdate(7, 99.5, volume=1234, ts_ms=NOW, segment="NSE_FNO")),
    (full(55796), TickUpdate(55796, 152.3, bid=100.0, ask=101.0, volume=9000, ts_ms=NOW, segment="NSE_FNO")),
    (full(9, levels=0), TickUpdate(9, 152.3, volume=9000, ts_ms=NOW, segment="NSE_FNO")),  # no depth: bid/ask unknown
    (full(9, ltp=0.0), TickUpdate(9, 0.0, bid=100.0, ask=101.0, volume=9000, ts_ms=NOW, segment="NSE_FNO")),
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


def test_rows_become_tick_updates_in_order() -> None:
    rows = [("NSE_FNO", 1, 1.5, 1.45, 1.55, 900), ("IDX_I", 13, 24964.25, None, None, None),
            ("NSE_FNO", 2, 0.0, 0.0, 0.05, 0)]
    assert rows_to_updates(rows, NOW) == (
        TickUpdate(1, 1.5, 1.45, 1.55, 900, NOW, "NSE_FNO"), TickUpdate(13, 24964.25, ts_ms=NOW, segment="IDX_I"),
        TickUpdate(2, 0.0, bid=0.0, ask=0.05, volume=0, ts_ms=NOW, segment="NSE_FNO"))
    assert rows_to_updates([], NOW) == ()


def comparable(updates) -> list[tuple]:
    return [tuple("nan" if isinstance(v, float) and v != v else v for v in attrs.astuple(u)) for u in updates]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(VALID, FULL_PACKET), max_size=30))
def test_the_hot_path_gives_what_packets_to_updates_gives(parts: list[bytes]) -> None:
    """decode_prices + rows_to_updates == decode_frame + packets_to_updates, up to a disconnect."""
    frame = b"".join(parts)
    packets = decode_frame(frame, DecodeStats())
    cut = next((i for i, p in enumerate(packets) if isinstance(p, Disconnect)), len(packets))
    rows: list = []
    decode_prices(frame, DecodeStats(), rows)
    assert comparable(rows_to_updates(rows, NOW)) == comparable(packets_to_updates(packets[:cut], NOW))


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


def test_float32_prices_come_back_as_the_exchange_printed_them() -> None:
    import struct

    def f32(x: float) -> float:
        return struct.unpack("<f", struct.pack("<f", x))[0]

    assert f32(118.4) != 118.4 and f32(55403.3) != 55403.3
    rows = [("NSE_FNO", 1, f32(118.4), f32(118.35), f32(118.45), 7), ("NSE_CURRENCY", 2, f32(83.1275), None, None, 0),
            ("IDX_I", 13, f32(55403.3), None, None, None), ("NSE_FNO", 3, float("nan"), None, None, 0)]
    fno, currency, index, missing = rows_to_updates(rows, NOW)
    assert (fno.ltp, fno.bid, fno.ask) == (118.4, 118.35, 118.45) and currency.ltp == 83.1275
    assert index.ltp == 55403.3 and missing.ltp != missing.ltp  # NaN passes through: the merge drops it
