"""The binary feed encoder, checked byte for byte against struct decodes written here from
venues.md (never against a decoder of the encoder), including the real captured packet."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import pytest

from adapters.sim import dhan_packets as packets
from adapters.sim.dhan_quotes import DepthLevel, Quote

SPEC = json.loads((Path(__file__).parents[2] / "fixtures" / "dhan" / "feed_packets.json").read_text())


def _quote(**overrides: object) -> Quote:
    fields = dict(
        ltp=152.3, ltq=75, ltt_s=1_753_950_000, atp=150.85, volume=1_234_500, total_sell_qty=88_000,
        total_buy_qty=99_000, oi=4_123_500, oi_high=4_200_000, oi_low=3_900_000, prev_oi=2_980_125,
        open=140.5, prev_close=138.25, high=160.0, low=133.1,
        depth=tuple(DepthLevel(75 * (i + 1), 150 * (i + 1), i + 1, i + 2, 152.25 - 0.05 * i, 152.35 + 0.05 * i)
                    for i in range(5)),
    )
    fields.update(overrides)
    return Quote(**fields)  # type: ignore[arg-type]


def _f32(value: float) -> float:
    return struct.unpack("<f", struct.pack("<f", value))[0]


def test_struct_sizes_match_the_venue_table() -> None:
    for code, spec in SPEC["packets"].items():
        assert struct.calcsize(spec["struct"]) == spec["bytes"], code
        assert packets.PACKET_SIZES[int(code)] == spec["bytes"]
    assert packets.SEGMENT_CODES == SPEC["segments"]


def test_full_packet_reproduces_the_real_capture() -> None:
    capture = SPEC["real_full_packet_start"]
    expected = bytes.fromhex(capture["hex"].replace(" ", ""))
    frame = packets.encode_full(capture["segment"], capture["security_id"], _quote(ltp=152.3, ltq=75))
    assert len(frame) == 162
    assert frame[:14] == expected
    code, length, segment, sid, ltp, ltq = struct.unpack_from("<BHBIfH", frame)
    assert (code, length, segment, sid, ltq) == (8, 162, 2, 55796, 75)
    assert ltp == pytest.approx(152.3, abs=1e-4)


def test_full_packet_fields_and_depth() -> None:
    quote = _quote()
    frame = packets.encode_full(2, 42510, quote)
    head = struct.unpack_from("<BHBIfHIfIIIIIIffff", frame)
    assert head[:4] == (8, 162, 2, 42510)
    assert head[4] == _f32(quote.ltp) and head[5] == quote.ltq and head[6] == quote.ltt_s
    assert head[7] == _f32(quote.atp)
    assert head[8:14] == (quote.volume, quote.total_sell_qty, quote.total_buy_qty, quote.oi, quote.oi_high,
                          quote.oi_low)
    assert head[14:18] == tuple(_f32(v) for v in (quote.open, quote.prev_close, quote.high, quote.low))
    for i, level in enumerate(quote.depth):
        bid_qty, ask_qty, bid_orders, ask_orders, bid, ask = struct.unpack_from("<IIHHff", frame, 62 + 20 * i)
        assert (bid_qty, ask_qty, bid_orders, ask_orders) == (level.bid_qty, level.ask_qty, level.bid_orders,
                                                              level.ask_orders)
        assert (bid, ask) == (_f32(level.bid_price), _f32(level.ask_price))


def test_quote_packet() -> None:
    quote = _quote()
    frame = packets.encode_quote(1, 2885, quote)
    fields = struct.unpack("<BHBIfHIfIIIffff", frame)
    assert fields[:4] == (4, 50, 1, 2885)
    assert fields[5:7] == (quote.ltq, quote.ltt_s)
    assert fields[8:11] == (quote.volume, quote.total_sell_qty, quote.total_buy_qty)
    assert fields[11:] == tuple(_f32(v) for v in (quote.open, quote.prev_close, quote.high, quote.low))


def test_small_packets() -> None:
    assert struct.unpack("<BHBIfI", packets.encode_ticker(0, 13, 24964.25, 1_753_950_000)) == (
        2, 16, 0, 13, 24964.25, 1_753_950_000)
    assert struct.unpack("<BHBIfI", packets.encode_index(0, 13, 24964.25, 7)) == (1, 16, 0, 13, 24964.25, 7)
    assert struct.unpack("<BHBII", packets.encode_oi(2, 42510, 4_123_500)) == (5, 12, 2, 42510, 4_123_500)
    assert struct.unpack("<BHBIfI", packets.encode_prev_close(8, 99, 96.25, 2_980_125)) == (
        6, 16, 8, 99, 96.25, 2_980_125)
    assert struct.unpack("<BHBI", packets.encode_market_status()) == (7, 8, 0, 0)
    assert struct.unpack("<BHBIH", packets.encode_disconnect(807)) == (50, 10, 0, 0, 807)


def test_quantities_are_clamped_not_wrapped() -> None:
    frame = packets.encode_quote(2, 1, _quote(ltq=70_000))
    assert struct.unpack_from("<H", frame, 12)[0] == 0xFFFF


def test_frames_walk_by_message_length() -> None:
    frame = (packets.encode_prev_close(2, 1, 10.0, 5) + packets.encode_full(2, 1, _quote())
             + packets.encode_quote(0, 13, _quote()) + packets.encode_oi(2, 1, 9))
    codes, offset = [], 0
    while offset < len(frame):
        code, length = struct.unpack_from("<BH", frame, offset)
        codes.append(code)
        offset += length
    assert codes == [6, 8, 4, 5] and offset == len(frame)


def test_corrupt_frames() -> None:
    frame = packets.encode_full(2, 1, _quote()) + packets.encode_ticker(2, 2, 1.0, 1)
    truncated = packets.corrupt_frame(frame, 0)
    assert len(truncated) < struct.unpack_from("<H", truncated, 1)[0]  # promises more than it holds
    unknown = packets.corrupt_frame(frame, 1)
    assert unknown[0] == 99 and unknown[1:] == frame[1:]
