"""Dhan feed codec: packets hand-packed from the venues.md table (not the simulator's encoder),
the real capture, multi-packet frames, bad input, and a fuzz test that decoding never raises."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

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

REAL_FULL_START = bytes.fromhex("08 a2 00 02 f4 d9 00 00 cd 4c 18 43 4b 00")
F32 = pytest.approx  # float32 on the wire: compare with a relative tolerance


def f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def ticker(seg: int, sid: int, ltp: float, ltt: int) -> bytes:
    return struct.pack("<BHBIfI", 2, 16, seg, sid, ltp, ltt)


def index(seg: int, sid: int, value: float, t: int) -> bytes:
    return struct.pack("<BHBIfI", 1, 16, seg, sid, value, t)


def quote(sid: int) -> bytes:
    return struct.pack("<BHBIfHIfIIIffff", 4, 50, 2, sid, 118.4, 75, 1_760_000_000, 121.3, 96541275,
                       1000, 2000, 110.0, 96.15, 125.5, 101.25)


def oi(sid: int, value: int) -> bytes:
    return struct.pack("<BHBII", 5, 12, 2, sid, value)


def prev_close(sid: int) -> bytes:
    return struct.pack("<BHBIfI", 6, 16, 2, sid, 96.15, 2980125)


def market_status() -> bytes:
    return struct.pack("<BHBI", 7, 8, 0, 0)


def disconnect(reason: int) -> bytes:
    return struct.pack("<BHBIH", 50, 10, 0, 0, reason)


def full(seg: int, sid: int, ltp: float = 152.3, ltq: int = 75) -> bytes:
    head = struct.pack("<BHBIfHIfIIIIIIffff", 8, 162, seg, sid, ltp, ltq, 1_760_000_001, 150.5, 1_000_000,
                       5000, 6000, 4_123_500, 4_200_000, 2_900_000, 140.0, 130.0, 160.0, 120.0)
    levels = b"".join(struct.pack("<IIHHff", 100 * (i + 1), 200 * (i + 1), i + 1, i + 2, ltp - 0.05 * (i + 1),
                                  ltp + 0.05 * (i + 1)) for i in range(5))
    return head + levels


def test_the_real_capture_decodes_as_documented() -> None:
    frame = REAL_FULL_START + bytes(162 - len(REAL_FULL_START))
    stats = DecodeStats()
    [packet] = decode_frame(frame, stats)
    assert isinstance(packet, Full)
    assert (packet.segment, packet.security_id, packet.ltq) == ("NSE_FNO", 55796, 75)
    assert packet.ltp == F32(152.3, rel=1e-7)
    assert len(packet.depth) == 5
    assert stats.packets == {8: 1} and stats.skipped == 0


def test_every_packet_kind_decodes_field_by_field() -> None:
    frame = (index(0, 13, 24964.25, 1_760_000_000) + ticker(2, 42510, 118.4, 1_760_000_002) + quote(42510)
             + oi(42510, 4_123_500) + prev_close(42510) + market_status() + full(8, 1_234_567))
    stats = DecodeStats()
    packets = decode_frame(frame, stats)
    assert [type(p) for p in packets] == [Tick, Tick, Quote, OpenInterest, PrevClose, MarketStatus, Full]
    idx, tick, q, open_interest, prev, status, book = packets
    assert (idx.code, idx.segment, idx.security_id, idx.ltp, idx.ltt_s) == (1, "IDX_I", 13, 24964.25, 1_760_000_000)
    assert (tick.code, tick.segment, tick.ltp, tick.ltt_s) == (2, "NSE_FNO", f32(118.4), 1_760_000_002)
    assert q == Quote("NSE_FNO", 42510, f32(118.4), 75, 1_760_000_000, f32(121.3), 96541275, 1000, 2000,
                      110.0, f32(96.15), 125.5, 101.25)
    assert open_interest == OpenInterest("NSE_FNO", 42510, 4_123_500)
    assert prev == PrevClose("NSE_FNO", 42510, f32(96.15), 2980125)
    assert status == MarketStatus("IDX_I", 0)
    assert (book.segment, book.security_id, book.ltq, book.oi, book.oi_high, book.oi_low) == (
        "BSE_FNO", 1_234_567, 75, 4_123_500, 4_200_000, 2_900_000)
    assert (book.open, book.close, book.high, book.low) == (140.0, 130.0, 160.0, 120.0)
    assert (book.volume, book.total_sell_qty, book.total_buy_qty) == (1_000_000, 5000, 6000)
    assert book.depth[0] == Depth(100, 200, 1, 2, f32(152.3 - 0.05), f32(152.3 + 0.05))
    assert book.depth[4].bid_qty == 500 and book.depth[4].ask_orders == 6
    assert stats.packets == {1: 1, 2: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1}


@pytest.mark.parametrize("code,name", [(0, "IDX_I"), (1, "NSE_EQ"), (2, "NSE_FNO"), (3, "NSE_CURRENCY"),
                                       (4, "BSE_EQ"), (5, "MCX_COMM"), (7, "BSE_CURRENCY"), (8, "BSE_FNO")])
def test_segment_codes_map_to_names(code: int, name: str) -> None:
    [packet] = decode_frame(ticker(code, 1, 1.0, 0), DecodeStats())
    assert packet.segment == name


def test_an_unknown_segment_keeps_the_packet_and_is_counted() -> None:
    stats = DecodeStats()
    [packet] = decode_frame(ticker(6, 1, 1.0, 0), stats)
    assert packet.segment == "SEG_6" and stats.unknown_segment == 1


def test_disconnect_reason() -> None:
    assert decode_frame(disconnect(807), DecodeStats()) == [Disconnect("IDX_I", 0, 807)]


def test_many_packets_per_frame_are_walked_by_their_length() -> None:
    frame = b"".join(ticker(2, sid, 100.0 + sid, sid) for sid in range(300)) + full(2, 9)
    packets = decode_frame(frame, DecodeStats())
    assert [p.security_id for p in packets] == [*range(300), 9]


def test_unknown_code_is_skipped_by_its_length_and_the_walk_goes_on() -> None:
    stats = DecodeStats()
    unknown = struct.pack("<BHBI", 99, 20, 2, 1) + bytes(12)
    packets = decode_frame(ticker(2, 1, 1.0, 0) + unknown + ticker(2, 2, 2.0, 0), stats)
    assert [p.security_id for p in packets] == [1, 2]
    assert stats.unknown == 1 and stats.packets == {2: 2}


def test_known_code_with_a_wrong_length_is_skipped() -> None:
    stats = DecodeStats()
    bad = struct.pack("<BHBIfI", 2, 20, 2, 1, 1.0, 0) + bytes(4)  # a ticker claiming 20 bytes
    packets = decode_frame(bad + ticker(2, 2, 2.0, 0), stats)
    assert [p.security_id for p in packets] == [2] and stats.bad_length == 1


@pytest.mark.parametrize("cut", [1, 7, 8, 15, 100, 161])
def test_truncated_packet_drops_the_rest_but_keeps_what_came_before(cut: int) -> None:
    stats = DecodeStats()
    packets = decode_frame(ticker(2, 1, 1.0, 0) + full(2, 2)[:cut], stats)
    assert [p.security_id for p in packets] == [1]
    assert stats.truncated == 1


def test_length_shorter_than_a_header_stops_the_walk() -> None:
    stats = DecodeStats()
    assert decode_frame(struct.pack("<BHBI", 2, 0, 2, 1) + ticker(2, 1, 1.0, 0), stats) == []
    assert stats.bad_length == 1


def test_empty_and_odd_inputs_never_raise() -> None:
    stats = DecodeStats()
    assert decode_frame(b"", stats) == []
    assert decode_frame(bytearray(ticker(2, 5, 1.0, 0)), stats)[0].security_id == 5
    assert decode_frame(memoryview(ticker(2, 6, 1.0, 0)), stats)[0].security_id == 6
    assert decode_frame("not bytes", stats) == []  # type: ignore[arg-type]


PACKET = st.one_of(
    st.builds(ticker, st.integers(0, 255), st.integers(0, 2**32 - 1), st.floats(width=32), st.integers(0, 2**32 - 1)),
    st.builds(index, st.integers(0, 255), st.integers(0, 2**32 - 1), st.floats(width=32), st.integers(0, 2**32 - 1)),
    st.builds(quote, st.integers(0, 2**32 - 1)),
    st.builds(oi, st.integers(0, 2**32 - 1), st.integers(0, 2**32 - 1)),
    st.builds(full, st.integers(0, 255), st.integers(0, 2**32 - 1)),
    st.builds(disconnect, st.integers(0, 2**16 - 1)),
    st.just(market_status()),
    st.binary(max_size=40),  # garbage between packets
)


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=600))
def test_fuzz_random_bytes_never_raise(frame: bytes) -> None:
    stats = DecodeStats()
    packets = decode_frame(frame, stats)
    assert sum(stats.packets.values()) == len(packets)


@settings(max_examples=300, deadline=None)
@given(st.lists(PACKET, max_size=12), st.integers(0, 2000))
def test_fuzz_valid_packets_mixed_with_garbage_and_cuts_never_raise(parts: list[bytes], cut: int) -> None:
    frame = b"".join(parts)
    stats = DecodeStats()
    decode_frame(frame[:cut], stats)
    decode_frame(frame, stats)
    assert stats.frames == 2


@settings(max_examples=200, deadline=None)
@given(st.lists(st.builds(ticker, st.integers(0, 8), st.integers(0, 2**32 - 1), st.floats(width=32, allow_nan=False),
                          st.integers(0, 2**32 - 1)), max_size=20))
def test_fuzz_well_formed_frames_decode_completely(parts: list[bytes]) -> None:
    stats = DecodeStats()
    assert len(decode_frame(b"".join(parts), stats)) == len(parts)
    assert stats.skipped == 0


# --------------------------------------------------------------------------- decode_prices (the hot path)


def rows_of(packets: list) -> list[tuple]:
    """The price rows ``decode_prices`` must give for ``decode_frame``'s packets (the rule of the
    shard's ``packets_to_updates``): index/ticker -> ltp; quote -> ltp + volume; full -> ltp,
    volume, depth level 0's bid/ask; nothing for the rest; nothing after a disconnect."""
    rows = []
    for packet in packets:
        if isinstance(packet, Disconnect):
            break
        if isinstance(packet, Full):
            top = packet.depth[0]
            rows.append((packet.segment, packet.security_id, packet.ltp, top.bid_price, top.ask_price, packet.volume))
        elif isinstance(packet, Quote):
            rows.append((packet.segment, packet.security_id, packet.ltp, None, None, packet.volume))
        elif isinstance(packet, Tick):
            rows.append((packet.segment, packet.security_id, packet.ltp, None, None, None))
    return rows


def comparable(rows: list[tuple]) -> list[tuple]:
    """NaN != NaN: compare floats by their value or, for NaN, by a marker."""
    return [tuple("nan" if isinstance(v, float) and v != v else v for v in row) for row in rows]


def both_ways(frame: bytes) -> tuple[list, DecodeStats, list, DecodeStats, int | None]:
    slow_stats, fast_stats, rows = DecodeStats(), DecodeStats(), []
    packets = decode_frame(frame, slow_stats)
    reason = decode_prices(frame, fast_stats, rows)
    return packets, slow_stats, rows, fast_stats, reason


def test_decode_prices_rows_for_every_packet_kind() -> None:
    frame = (index(0, 13, 24964.25, 1) + ticker(2, 42510, 118.4, 2) + quote(42511) + oi(42510, 4_123_500)
             + prev_close(42510) + market_status() + full(8, 1_234_567))
    stats, rows = DecodeStats(), []
    assert decode_prices(frame, stats, rows) is None
    assert rows == [("IDX_I", 13, 24964.25, None, None, None), ("NSE_FNO", 42510, f32(118.4), None, None, None),
                    ("NSE_FNO", 42511, f32(118.4), None, None, 96541275),
                    ("BSE_FNO", 1_234_567, f32(152.3), f32(152.3 - 0.05), f32(152.3 + 0.05), 1_000_000)]
    assert stats.packets == {1: 1, 2: 1, 4: 1, 5: 1, 6: 1, 7: 1, 8: 1} and stats.frames == 1


def test_decode_prices_of_a_frame_of_full_packets_and_its_odd_twins() -> None:
    frames = [b"".join(full(2, sid) for sid in range(50)),  # the fast path
              b"".join(full(2, sid) for sid in range(3)) + full(6, 9),  # an unknown segment: counted, "SEG_6"
              b"".join(ticker(2, sid, 1.0, 0) for sid in range(10)) + b"\x00\x00",  # 162 B, ten tickers + 2
              full(2, 1) + struct.pack("<BHBI", 8, 170, 2, 2) + full(2, 2)[8:]]  # 324 B, a full packet too long
    for frame in frames:
        packets, slow_stats, rows, fast_stats, reason = both_ways(frame)
        assert rows == rows_of(packets) and fast_stats == slow_stats and reason is None
    assert both_ways(frames[1])[2][-1][0] == "SEG_6"


def test_decode_prices_stops_taking_rows_at_a_disconnect_but_counts_on() -> None:
    frame = ticker(2, 1, 1.0, 0) + disconnect(807) + ticker(2, 2, 2.0, 0) + disconnect(805)
    packets, slow_stats, rows, fast_stats, reason = both_ways(frame)
    assert reason == 807 and [r[1] for r in rows] == [1] and fast_stats == slow_stats
    assert fast_stats.packets == {2: 2, 50: 2}


def test_decode_prices_appends_to_what_the_list_holds() -> None:
    rows = [("x",)]
    decode_prices(ticker(2, 7, 1.0, 0), DecodeStats(), rows)  # type: ignore[arg-type]
    assert [r[0] for r in rows] == ["x", "NSE_FNO"]


def test_decode_prices_of_odd_inputs_never_raises() -> None:
    stats, rows = DecodeStats(), []
    assert decode_prices(b"", stats, rows) is None and rows == []
    decode_prices(bytearray(ticker(2, 5, 1.0, 0)), stats, rows)
    decode_prices(memoryview(full(2, 6)), stats, rows)
    decode_prices("not bytes", stats, rows)  # type: ignore[arg-type]
    decode_prices(None, stats, rows)  # type: ignore[arg-type]
    assert [r[1] for r in rows] == [5, 6] and stats.bad_length == 2 and stats.frames == 5


FULL_PACKET = st.builds(
    lambda seg, sid, ltp, ltq, levels: full(seg, sid, ltp, ltq)[:62] + levels,
    st.sampled_from([0, 1, 2, 5, 8, 6, 200]), st.integers(0, 2**32 - 1), st.floats(width=32), st.integers(0, 65535),
    st.binary(min_size=100, max_size=100))  # the depth levels: any bytes
VALID = st.one_of(PACKET.filter(lambda b: len(b) >= 8 and b[0] in (1, 2, 4, 5, 6, 7, 8, 50)), FULL_PACKET)


@settings(max_examples=400, deadline=None)
@given(st.lists(VALID, max_size=30))
def test_decode_prices_equals_decode_frame_over_valid_frames(parts: list[bytes]) -> None:
    packets, slow_stats, rows, fast_stats, reason = both_ways(b"".join(parts))
    assert comparable(rows) == comparable(rows_of(packets))
    assert fast_stats == slow_stats
    first = next((p for p in packets if isinstance(p, Disconnect)), None)
    assert reason == (first.reason if first is not None else None)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(FULL_PACKET, PACKET), max_size=12), st.integers(0, 3000))
def test_decode_prices_equals_decode_frame_over_garbage_and_cuts(parts: list[bytes], cut: int) -> None:
    for frame in (b"".join(parts), b"".join(parts)[:cut]):
        packets, slow_stats, rows, fast_stats, _ = both_ways(frame)
        assert comparable(rows) == comparable(rows_of(packets)) and fast_stats == slow_stats


@settings(max_examples=400, deadline=None)
@given(st.binary(max_size=800))
def test_decode_prices_fuzz_random_bytes_never_raise(frame: bytes) -> None:
    packets, slow_stats, rows, fast_stats, _ = both_ways(frame)
    assert comparable(rows) == comparable(rows_of(packets)) and fast_stats == slow_stats
