"""Dhan live market feed (v2) wire format: binary packets in, JSON requests out (pure).

Why pure and table-driven: the feed is the engine's hottest path (thousands of packets a
second), and a bad frame must never take a shard down. ``decode_frame`` walks a frame with
``offset += message_length`` (a frame may hold many packets), decodes each known code
with one precompiled ``struct.Struct.unpack_from`` and counts, instead of raising, every
unknown code, truncated packet or length that disagrees with the venues.md table.

Prices arrive as float32: values are the exact float32 numbers the venue sent (152.3
decodes as 152.30000305...); round to the instrument's tick where the tick is known.
Times (``ltt_s``) are the venue's u32 seconds, passed through unchanged.
"""

from __future__ import annotations

import json
import struct
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence

import attrs

SEGMENT_NAMES: dict[int, str] = {
    0: "IDX_I", 1: "NSE_EQ", 2: "NSE_FNO", 3: "NSE_CURRENCY", 4: "BSE_EQ", 5: "MCX_COMM",
    7: "BSE_CURRENCY", 8: "BSE_FNO",
}
SEGMENT_CODES: dict[str, int] = {name: code for code, name in SEGMENT_NAMES.items()}

# Response codes of server packets.
INDEX, TICKER, QUOTE, OI, PREV_CLOSE, MARKET_STATUS, FULL, DISCONNECT = 1, 2, 4, 5, 6, 7, 8, 50
# Request codes of client JSON messages.
TICKER_SUB, QUOTE_SUB, FULL_SUB = 15, 17, 21
UNSUBSCRIBE_OF: dict[int, int] = {TICKER_SUB: 16, QUOTE_SUB: 18, FULL_SUB: 22}
DISCONNECT_REQUEST = 12
MAX_INSTRUMENTS_PER_MESSAGE = 100
MAX_INSTRUMENTS_PER_CONNECTION = 5000
DEPTH_LEVELS = 5

HEADER = struct.Struct("<BHBI")
_VALUE_TIME = struct.Struct("<BHBIfI")  # index, ticker, prev close
_QUOTE = struct.Struct("<BHBIfHIfIIIffff")
_OI = struct.Struct("<BHBII")
_FULL_HEAD = struct.Struct("<BHBIfHIfIIIIIIffff")
_DEPTH = struct.Struct("<IIHHff")
_FULL = struct.Struct(_FULL_HEAD.format + _DEPTH.format[1:] * DEPTH_LEVELS)  # one unpack per packet
_DISCONNECT = struct.Struct("<BHBIH")
FULL_SIZE = _FULL_HEAD.size + DEPTH_LEVELS * _DEPTH.size  # 162

PACKET_SIZES: dict[int, int] = {
    INDEX: _VALUE_TIME.size, TICKER: _VALUE_TIME.size, QUOTE: _QUOTE.size, OI: _OI.size,
    PREV_CLOSE: _VALUE_TIME.size, MARKET_STATUS: HEADER.size, FULL: FULL_SIZE, DISCONNECT: _DISCONNECT.size,
}


# --------------------------------------------------------------------------- packets


@attrs.frozen
class Tick:
    """Last price of an instrument (code 2) or the value of an index (code 1)."""

    code: int
    segment: str
    security_id: int
    ltp: float
    ltt_s: int


@attrs.frozen
class Quote:
    """Code 4: trade, session totals and OHLC (``close`` is the previous close)."""

    segment: str
    security_id: int
    ltp: float
    ltq: int
    ltt_s: int
    atp: float
    volume: int
    total_sell_qty: int
    total_buy_qty: int
    open: float
    close: float
    high: float
    low: float


@attrs.frozen
class OpenInterest:
    segment: str
    security_id: int
    oi: int


@attrs.frozen
class PrevClose:
    """Sent once per subscription: the previous session's close and open interest."""

    segment: str
    security_id: int
    prev_close: float
    prev_oi: int


@attrs.frozen
class MarketStatus:
    """Header-only packet: the market's state changed (open, closed, holiday)."""

    segment: str
    security_id: int


@attrs.frozen
class Depth:
    """One of the five book levels of a full packet."""

    bid_qty: int
    ask_qty: int
    bid_orders: int
    ask_orders: int
    bid_price: float
    ask_price: float


@attrs.frozen
class Full:
    """Code 8: quote fields plus open interest and five depth levels."""

    segment: str
    security_id: int
    ltp: float
    ltq: int
    ltt_s: int
    atp: float
    volume: int
    total_sell_qty: int
    total_buy_qty: int
    oi: int
    oi_high: int
    oi_low: int
    open: float
    close: float
    high: float
    low: float
    depth: tuple[Depth, ...]


@attrs.frozen
class Disconnect:
    """Code 50: the server is closing the connection for ``reason`` (805, 807 ...)."""

    segment: str
    security_id: int
    reason: int


Packet = Tick | Quote | OpenInterest | PrevClose | MarketStatus | Full | Disconnect


@attrs.define
class DecodeStats:
    """What the decoder saw: good packets by code and every kind of bad input skipped."""

    packets: Counter = attrs.field(factory=Counter)  # response code -> packets decoded
    frames: int = 0
    unknown: int = 0  # packets with a response code not in the table (skipped whole)
    truncated: int = 0  # frame ended inside a header or inside a packet (rest of frame dropped)
    bad_length: int = 0  # length disagrees with the table, or too short to walk past
    unknown_segment: int = 0  # decoded, but the segment code has no name (kept as "SEG_<n>")
    non_binary_frames: int = 0  # text frames (the feed only sends binary)

    @property
    def skipped(self) -> int:
        return self.unknown + self.truncated + self.bad_length


def segment_name(code: int, stats: DecodeStats) -> str:
    name = SEGMENT_NAMES.get(code)
    if name is None:
        stats.unknown_segment += 1
        return f"SEG_{code}"
    return name


def _decode_one(code: int, frame: bytes, offset: int, segment: str, sid: int) -> Packet:
    """One packet whose code is known and whose length matches the table."""
    if code == FULL:
        f = _FULL.unpack_from(frame, offset)
        depth = (Depth(*f[18:24]), Depth(*f[24:30]), Depth(*f[30:36]), Depth(*f[36:42]), Depth(*f[42:48]))
        return Full(segment, sid, f[4], f[5], f[6], f[7], f[8], f[9], f[10], f[11], f[12], f[13],
                    f[14], f[15], f[16], f[17], depth)
    if code == TICKER or code == INDEX:
        _, _, _, _, value, time_s = _VALUE_TIME.unpack_from(frame, offset)
        return Tick(code, segment, sid, value, time_s)
    if code == QUOTE:
        q = _QUOTE.unpack_from(frame, offset)
        return Quote(segment, sid, q[4], q[5], q[6], q[7], q[8], q[9], q[10], q[11], q[12], q[13], q[14])
    if code == OI:
        return OpenInterest(segment, sid, _OI.unpack_from(frame, offset)[4])
    if code == PREV_CLOSE:
        _, _, _, _, prev_close, prev_oi = _VALUE_TIME.unpack_from(frame, offset)
        return PrevClose(segment, sid, prev_close, prev_oi)
    if code == MARKET_STATUS:
        return MarketStatus(segment, sid)
    return Disconnect(segment, sid, _DISCONNECT.unpack_from(frame, offset)[4])


def _packets(frame: bytes, size: int, stats: DecodeStats) -> Iterator[tuple[int, int, int, int]]:
    """(code, offset, segment code, security id) of each well-formed packet, walking by length.

    The one walk both decoders share: a packet with an unknown code or a length that
    disagrees with the table is counted and skipped by its own length; a length shorter
    than a header, or one that runs past the end of the frame, leaves nothing trustworthy
    to walk by, so the rest of the frame is dropped (counted).
    """
    header, header_size = HEADER.unpack_from, HEADER.size
    offset = 0
    while offset < size:
        if size - offset < header_size:
            stats.truncated += 1
            return
        code, length, segment_code, sid = header(frame, offset)
        if length < header_size:
            stats.bad_length += 1
            return
        if offset + length > size:
            stats.truncated += 1
            return
        expected = PACKET_SIZES.get(code)
        if expected is None:
            stats.unknown += 1
        elif length != expected:
            stats.bad_length += 1
        else:
            yield code, offset, segment_code, sid
        offset += length


def decode_frame(frame: bytes, stats: DecodeStats) -> list[Packet]:
    """Every decodable packet of one binary frame, in order; never raises (what is skipped
    or dropped, and counted, is ``_packets``'s walk)."""
    stats.frames += 1
    packets: list[Packet] = []
    try:
        for code, offset, segment_code, sid in _packets(frame, len(frame), stats):
            packets.append(_decode_one(code, frame, offset, segment_name(segment_code, stats), sid))
            stats.packets[code] += 1
    except (TypeError, BufferError, struct.error):  # not a bytes-like frame at all
        stats.bad_length += 1
    return packets


# --------------------------------------------------------------------------- prices only (the hot path)

# (segment name, security id, ltp, bid, ask, volume); bid/ask/volume None when the packet lacks them.
PriceRow = tuple[str, int, float, float | None, float | None, int | None]

_LTP = struct.Struct("<f")  # index value / ticker ltp, at offset 8
_LTP_VOLUME = struct.Struct("<f10xI")  # quote and full: ltp @8, volume @22
_FULL_PRICES = struct.Struct("<f10xI48xff")  # full: ltp @8, volume @22, depth[0] bid @74, ask @78
# A whole full packet (162 B) for ``iter_unpack``: code, length, segment, id, ltp, volume, bid, ask.
_FULL_ROW = struct.Struct("<BHBIf10xI48xff80x")
assert _FULL_ROW.size == FULL_SIZE
_SEGMENT_OF: tuple[str | None, ...] = tuple(SEGMENT_NAMES.get(code) for code in range(256))


def decode_prices(frame: bytes, stats: DecodeStats, out: list[PriceRow]) -> int | None:
    """Append the price rows of one binary frame to ``out``; return a disconnect packet's reason, else None.

    The hot path's twin of ``decode_frame`` + the shard's packet rule, without building packet
    objects: index (1) and ticker (2) give ``ltp``; quote (4) ``ltp`` + ``volume``; full (8)
    ``ltp``, ``volume`` and depth level 0's bid/ask (a 0 price is an empty side and is kept).
    OI, prev-close and market-status packets carry no price and only count. Rows, ``stats``
    and the walk (what is counted, skipped or dropped) are exactly ``decode_frame``'s: the
    unit tests hold them equal on random frames. Rows that follow a disconnect packet in the
    frame are not appended (the connection is over), and only the first disconnect's reason
    is returned. Never raises.
    """
    stats.frames += 1
    try:
        size = len(frame)
        if size == FULL_SIZE:  # one full packet: the most common frame of all
            code, length, seg, sid, ltp, volume, bid, ask = _FULL_ROW.unpack_from(frame)
            segment = _SEGMENT_OF[seg]
            if code == FULL and length == FULL_SIZE and segment is not None:
                out.append((segment, sid, ltp, bid, ask, volume))
                stats.packets[FULL] += 1
                return None
        elif size and size % FULL_SIZE == 0:  # full mode: usually nothing but full packets
            names = _SEGMENT_OF
            rows = [(names[seg], sid, ltp, bid, ask, volume)
                    for code, length, seg, sid, ltp, volume, bid, ask in _FULL_ROW.iter_unpack(frame)
                    if code == FULL and length == FULL_SIZE and names[seg] is not None]
            if len(rows) * FULL_SIZE == size:
                out += rows
                stats.packets[FULL] += len(rows)
                return None
        return _walk_prices(frame, size, stats, out)
    except (TypeError, BufferError, struct.error):  # not a bytes-like frame at all
        stats.bad_length += 1
        return None


def _walk_prices(frame: bytes, size: int, stats: DecodeStats, out: list[PriceRow]) -> int | None:
    """``decode_prices`` for any frame: the walk of ``decode_frame``, packet by packet."""
    counts = stats.packets
    names = _SEGMENT_OF
    append = out.append
    reason: int | None = None
    for code, offset, segment_code, sid in _packets(frame, size, stats):
        segment = names[segment_code]
        if segment is None:
            segment = segment_name(segment_code, stats)
        if code == FULL:
            ltp, volume, bid, ask = _FULL_PRICES.unpack_from(frame, offset + 8)
            append((segment, sid, ltp, bid, ask, volume))
        elif code == TICKER or code == INDEX:
            append((segment, sid, _LTP.unpack_from(frame, offset + 8)[0], None, None, None))
        elif code == QUOTE:
            ltp, volume = _LTP_VOLUME.unpack_from(frame, offset + 8)
            append((segment, sid, ltp, None, None, volume))
        elif code == DISCONNECT and reason is None:
            reason = _DISCONNECT.unpack_from(frame, offset)[4]
            append = [].append  # the walk goes on for the counts only
        counts[code] += 1
    return reason


# --------------------------------------------------------------------------- requests

Instrument = tuple[str, int | str]  # (exchange segment name, security id)


def _instrument_entry(instrument: Instrument) -> dict[str, str]:
    segment, security_id = instrument
    if segment not in SEGMENT_CODES:
        raise ValueError(f"unknown exchange segment {segment!r}; known: {', '.join(SEGMENT_CODES)}")
    text = str(security_id)
    if isinstance(security_id, bool) or not text.isdigit():
        raise ValueError(f"security id must be a non-negative integer, got {security_id!r}")
    return {"ExchangeSegment": segment, "SecurityId": str(int(text))}


def _batched(code: int, instruments: Sequence[Instrument], batch_size: int) -> list[str]:
    if not 1 <= batch_size <= MAX_INSTRUMENTS_PER_MESSAGE:
        raise ValueError(f"batch_size must be in [1, {MAX_INSTRUMENTS_PER_MESSAGE}], got {batch_size}")
    entries = [_instrument_entry(instrument) for instrument in instruments]
    return [
        json.dumps({"RequestCode": code, "InstrumentCount": len(chunk), "InstrumentList": chunk},
                   separators=(",", ":"))
        for chunk in (entries[i:i + batch_size] for i in range(0, len(entries), batch_size))
    ]


def subscribe_messages(instruments: Sequence[Instrument], request_code: int = FULL_SUB,
                       batch_size: int = MAX_INSTRUMENTS_PER_MESSAGE) -> list[str]:
    """JSON subscribe messages of at most ``batch_size`` (≤ 100) instruments each.

    ``request_code``: 15 ticker, 17 quote, 21 full. SecurityId travels as a string.
    """
    if request_code not in UNSUBSCRIBE_OF:
        raise ValueError(f"subscribe request code must be one of {sorted(UNSUBSCRIBE_OF)}, got {request_code}")
    return _batched(request_code, instruments, batch_size)


def unsubscribe_messages(instruments: Sequence[Instrument], request_code: int = FULL_SUB,
                         batch_size: int = MAX_INSTRUMENTS_PER_MESSAGE) -> list[str]:
    """JSON unsubscribe messages; ``request_code`` may be the mode's subscribe code
    (15/17/21) or its unsubscribe code (16/18/22)."""
    code = UNSUBSCRIBE_OF.get(request_code, request_code)
    if code not in UNSUBSCRIBE_OF.values():
        raise ValueError(f"unsubscribe request code must be one of 15-18/21/22, got {request_code}")
    return _batched(code, instruments, batch_size)


def disconnect_message() -> str:
    """Request code 12: ask the server to close this connection."""
    return json.dumps({"RequestCode": DISCONNECT_REQUEST})


def distinct_instruments(instruments: Iterable[Instrument]) -> set[tuple[str, int]]:
    """(segment, int security id) pairs: the unit the 5000-per-connection cap counts."""
    return {(segment, int(str(sid))) for segment, sid in instruments}
