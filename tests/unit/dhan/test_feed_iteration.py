"""DhanFeedConnection's receiving over scripted reads (no socket): data before a disconnect
packet is handed out first, then the mapped error; text and bad frames are skipped; both
the per-frame iteration and the per-read ``receive_prices``."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import structlog
import trio

from adapters.dhan.codec import Tick
from adapters.dhan.errors import (
    DhanFeedClosed,
    DhanTokenExpired,
    DhanTooManyConnections,
)
from adapters.dhan.feed import DhanFeedConnection
from adapters.dhan.wsclient import WsClosed


class ScriptedSocket:
    """Stands in for ``WsClient``: each script entry is one read (its binary and text messages)."""

    closed = False

    def __init__(self, *reads: list[bytes | str], end: WsClosed | None = None) -> None:
        self.reads = list(reads)
        self.end = end or WsClosed(1006, "the transport ended without a close frame")
        self.text_messages = 0

    async def receive_batch(self) -> list[bytes]:
        while self.reads:
            read = self.reads.pop(0)
            self.text_messages += sum(isinstance(m, str) for m in read)
            frames = [m for m in read if isinstance(m, bytes)]
            if frames:
                return frames
        raise self.end


def feed_over(*reads: list[bytes | str], end: WsClosed | None = None) -> DhanFeedConnection:
    feed = DhanFeedConnection("ws://feed.test", "SECRET", "1", structlog.get_logger())
    feed._ws = ScriptedSocket(*reads, end=end)  # type: ignore[assignment]
    return feed


def ticker(sid: int) -> bytes:
    return struct.pack("<BHBIfI", 2, 16, 2, sid, 1.5, 0)


def prev_close(sid: int) -> bytes:
    return struct.pack("<BHBIfI", 6, 16, 2, sid, 96.15, 2980125)


def disconnect(reason: int) -> bytes:
    return struct.pack("<BHBIH", 50, 10, 0, 0, reason)


async def next_of(feed: DhanFeedConnection) -> Any:
    return await feed.__anext__()


def row(sid: int) -> tuple:
    return ("NSE_FNO", sid, 1.5, None, None, None)


async def test_packets_before_a_disconnect_come_first_then_the_error() -> None:
    feed = feed_over(["a text frame"], [b"\x08\xa2", ticker(1) + ticker(2) + disconnect(807) + ticker(3)])
    packets = await next_of(feed)
    assert [p.security_id for p in packets] == [1, 2] and all(isinstance(p, Tick) for p in packets)
    with pytest.raises(DhanTokenExpired):
        await next_of(feed)
    with pytest.raises(DhanTokenExpired):  # stays failed
        await next_of(feed)
    assert feed.stats.non_binary_frames == 1 and feed.stats.truncated == 1


async def test_iteration_hands_out_a_read_frame_by_frame() -> None:
    feed = feed_over([ticker(1), ticker(2) + ticker(3), b"\x00", ticker(4)], [ticker(5)])
    assert [[p.security_id for p in await next_of(feed)] for _ in range(4)] == [[1], [2, 3], [4], [5]]
    assert feed.stats.frames == 5 and feed.stats.truncated == 1


async def test_a_lone_disconnect_raises_at_once() -> None:
    with pytest.raises(DhanTooManyConnections):
        await next_of(feed_over([disconnect(805)]))
    with pytest.raises(DhanTooManyConnections):
        await feed_over([disconnect(805)]).receive_prices()


async def test_a_close_without_reason_is_feed_closed_unless_we_asked() -> None:
    with pytest.raises(DhanFeedClosed):
        await next_of(feed_over())
    with pytest.raises(DhanFeedClosed) as raised:
        await feed_over(end=WsClosed(1011, "server error")).receive_prices()
    assert raised.value.code == 1011 and "server error" in str(raised.value)
    feed = feed_over()
    feed._closing = True
    with pytest.raises(StopAsyncIteration):
        await next_of(feed)
    with pytest.raises(trio.EndOfChannel):
        await feed.receive_prices()


async def test_a_failure_found_here_says_so() -> None:
    with pytest.raises(DhanFeedClosed) as raised:
        await feed_over(end=WsClosed(1009, "message of 5000000 bytes exceeds", local=True)).receive_prices()
    assert raised.value.code == 1009 and "connection failed" in str(raised.value)


async def test_receive_prices_returns_every_frame_of_one_read() -> None:
    feed = feed_over(["text"], [ticker(1), ticker(2) + ticker(3), b"\x01\x02\x03"], [ticker(4)])
    assert await feed.receive_prices() == [row(1), row(2), row(3)]
    assert await feed.receive_prices() == [row(4)]
    assert feed.stats.frames == 4 and feed.stats.non_binary_frames == 1 and feed.stats.truncated == 1


async def test_receive_prices_skips_reads_without_a_valid_packet_but_not_ones_without_prices() -> None:
    feed = feed_over([b"\x00" * 5, b"\xff" * 16], [prev_close(1)], [ticker(2)])
    assert await feed.receive_prices() == []  # a prev close is data (the watchdog counts it), not a price
    assert await feed.receive_prices() == [row(2)]
    assert feed.stats.frames == 4 and feed.stats.skipped == 2


async def test_receive_prices_hands_out_the_rows_before_a_disconnect_then_its_error() -> None:
    feed = feed_over([ticker(1), ticker(2) + disconnect(807) + ticker(3), ticker(4)], [ticker(5)])
    assert await feed.receive_prices() == [row(1), row(2)]
    for _ in range(2):  # stays failed
        with pytest.raises(DhanTokenExpired):
            await feed.receive_prices()
    with pytest.raises(DhanTokenExpired):
        await next_of(feed)


async def test_the_two_ways_of_receiving_share_one_read() -> None:
    feed = feed_over([ticker(1), ticker(2), ticker(3)])
    assert [p.security_id for p in await next_of(feed)] == [1]
    assert await feed.receive_prices() == [row(2), row(3)]  # the rest of the read, not a new one


async def test_use_before_connect_is_a_clear_error() -> None:
    feed = DhanFeedConnection("ws://feed.test", "SECRET", "1", structlog.get_logger())
    with pytest.raises(RuntimeError, match="connect"):
        await feed.subscribe([("NSE_FNO", 1)])
    with pytest.raises(RuntimeError, match="connect"):
        await feed.receive_prices()
    assert "SECRET" not in repr(feed)
