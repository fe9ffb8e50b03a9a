"""Binary packets of Dhan's live market feed (v2), encoded exactly as the venue sends them.

Pure: values in, bytes out. Every packet is little-endian and starts with the 8-byte
header ``<BHBI`` (response code, length of the whole packet, exchange segment code,
security id); a websocket frame may carry several packets back to back, which is why
the length is in the header. Layouts (see ../shared/venues.md):

====  ===============  =====  ===================================================
code  meaning          bytes  layout
====  ===============  =====  ===================================================
1     index            16     ``<BHBIfI``  value, time
2     ticker           16     ``<BHBIfI``  ltp, ltt
4     quote            50     ``<BHBIfHIfIIIffff``  ltp ltq ltt atp vol sell buy o c h l
5     OI               12     ``<BHBII``   oi
6     prev close       16     ``<BHBIfI``  prev close, prev oi
7     market status     8     ``<BHBI``    header only
8     full            162     ``<BHBIfHIfIIIIIIffff`` + 5 x ``<IIHHff`` depth
50    disconnect       10     ``<BHBIH``   reason
====  ===============  =====  ===================================================
"""

from __future__ import annotations

import struct
from typing import Iterable

from adapters.sim.dhan_quotes import DEPTH_LEVELS, DepthLevel, Quote

SEGMENT_CODES: dict[str, int] = {
    "IDX_I": 0, "NSE_EQ": 1, "NSE_FNO": 2, "NSE_CURRENCY": 3, "BSE_EQ": 4, "MCX_COMM": 5,
    "BSE_CURRENCY": 7, "BSE_FNO": 8,
}

INDEX, TICKER, QUOTE, OI, PREV_CLOSE, MARKET_STATUS, FULL, DISCONNECT = 1, 2, 4, 5, 6, 7, 8, 50

# Disconnect reasons of the feed (venues.md).
REASON_TOO_MANY_CONNECTIONS = 805
REASON_NOT_SUBSCRIBED = 806
REASON_TOKEN_EXPIRED = 807
REASON_INVALID_CLIENT_ID = 808
REASON_AUTH_FAILED = 809

HEADER = struct.Struct("<BHBI")
_VALUE_TIME = struct.Struct("<BHBIfI")
_QUOTE = struct.Struct("<BHBIfHIfIIIffff")
_OI = struct.Struct("<BHBII")
_FULL_HEAD = struct.Struct("<BHBIfHIfIIIIIIffff")
DEPTH_LEVEL = struct.Struct("<IIHHff")
_DISCONNECT = struct.Struct("<BHBIH")
FULL_SIZE = _FULL_HEAD.size + DEPTH_LEVELS * DEPTH_LEVEL.size

PACKET_SIZES: dict[int, int] = {
    INDEX: _VALUE_TIME.size, TICKER: _VALUE_TIME.size, QUOTE: _QUOTE.size, OI: _OI.size,
    PREV_CLOSE: _VALUE_TIME.size, MARKET_STATUS: HEADER.size, FULL: FULL_SIZE, DISCONNECT: _DISCONNECT.size,
}

_U16_MAX = 0xFFFF
_U32_MAX = 0xFFFFFFFF


def _u16(value: int) -> int:
    """Clamp to the wire's u16 (a last-traded quantity above 65535 is capped, not wrapped)."""
    return max(0, min(int(value), _U16_MAX))


def _u32(value: int) -> int:
    return max(0, min(int(value), _U32_MAX))


def encode_index(segment: int, security_id: int, value: float, time_s: int) -> bytes:
    return _VALUE_TIME.pack(INDEX, _VALUE_TIME.size, segment, security_id, value, _u32(time_s))


def encode_ticker(segment: int, security_id: int, ltp: float, ltt_s: int) -> bytes:
    return _VALUE_TIME.pack(TICKER, _VALUE_TIME.size, segment, security_id, ltp, _u32(ltt_s))


def encode_prev_close(segment: int, security_id: int, prev_close: float, prev_oi: int) -> bytes:
    return _VALUE_TIME.pack(PREV_CLOSE, _VALUE_TIME.size, segment, security_id, prev_close, _u32(prev_oi))


def encode_oi(segment: int, security_id: int, oi: int) -> bytes:
    return _OI.pack(OI, _OI.size, segment, security_id, _u32(oi))


def encode_market_status(segment: int = 0, security_id: int = 0) -> bytes:
    return HEADER.pack(MARKET_STATUS, HEADER.size, segment, security_id)


def encode_disconnect(reason: int, segment: int = 0, security_id: int = 0) -> bytes:
    return _DISCONNECT.pack(DISCONNECT, _DISCONNECT.size, segment, security_id, reason)


def encode_quote(segment: int, security_id: int, quote: Quote) -> bytes:
    return _QUOTE.pack(
        QUOTE, _QUOTE.size, segment, security_id, quote.ltp, _u16(quote.ltq), _u32(quote.ltt_s), quote.atp,
        _u32(quote.volume), _u32(quote.total_sell_qty), _u32(quote.total_buy_qty),
        quote.open, quote.prev_close, quote.high, quote.low,
    )


def encode_depth(levels: Iterable[DepthLevel]) -> bytes:
    """Exactly five ``<IIHHff`` levels (missing levels are zero)."""
    levels = list(levels)[:DEPTH_LEVELS]
    levels += [DepthLevel(0, 0, 0, 0, 0.0, 0.0)] * (DEPTH_LEVELS - len(levels))
    return b"".join(
        DEPTH_LEVEL.pack(_u32(lv.bid_qty), _u32(lv.ask_qty), _u16(lv.bid_orders), _u16(lv.ask_orders),
                         lv.bid_price, lv.ask_price)
        for lv in levels
    )


def encode_full(segment: int, security_id: int, quote: Quote) -> bytes:
    head = _FULL_HEAD.pack(
        FULL, FULL_SIZE, segment, security_id, quote.ltp, _u16(quote.ltq), _u32(quote.ltt_s), quote.atp,
        _u32(quote.volume), _u32(quote.total_sell_qty), _u32(quote.total_buy_qty),
        _u32(quote.oi), _u32(quote.oi_high), _u32(quote.oi_low),
        quote.open, quote.prev_close, quote.high, quote.low,
    )
    return head + encode_depth(quote.depth)


def corrupt_frame(frame: bytes, variant: int) -> bytes:
    """A malformed frame for fault injection: even variants cut the frame inside a
    packet (its header promises more bytes than arrive), odd ones put an unknown
    response code (99) in front of a well-formed body."""
    if variant % 2 == 0:
        return frame[: max(1, min(len(frame) - 1, HEADER.size + 3))] if len(frame) > 1 else b"\x08"
    if not frame:
        return HEADER.pack(99, HEADER.size, 0, 0)
    return bytes([99]) + frame[1:]
