"""DhanFeedConnection's iteration over scripted frames (no socket): data before a disconnect
packet is handed out first, then the mapped error; text and bad frames are skipped."""

from __future__ import annotations

import struct
from typing import Any

import pytest
import structlog
from trio_websocket import ConnectionClosed

from adapters.dhan.codec import Tick
from adapters.dhan.errors import (
    DhanFeedClosed,
    DhanTokenExpired,
    DhanTooManyConnections,
)
from adapters.dhan.feed import DhanFeedConnection


class ScriptedSocket:
    closed = False

    def __init__(self, *messages: bytes | str) -> None:
        self.messages = list(messages)

    async def get_message(self) -> bytes | str:
        if not self.messages:
            raise ConnectionClosed(None)
        return self.messages.pop(0)


def feed_over(*messages: bytes | str) -> DhanFeedConnection:
    feed = DhanFeedConnection("ws://feed.test", "SECRET", "1", structlog.get_logger())
    feed._ws = ScriptedSocket(*messages)  # type: ignore[assignment]
    return feed


def ticker(sid: int) -> bytes:
    return struct.pack("<BHBIfI", 2, 16, 2, sid, 1.5, 0)


def disconnect(reason: int) -> bytes:
    return struct.pack("<BHBIH", 50, 10, 0, 0, reason)


async def next_of(feed: DhanFeedConnection) -> Any:
    return await feed.__anext__()


async def test_packets_before_a_disconnect_come_first_then_the_error() -> None:
    feed = feed_over("a text frame", b"\x08\xa2", ticker(1) + ticker(2) + disconnect(807) + ticker(3))
    packets = await next_of(feed)
    assert [p.security_id for p in packets] == [1, 2] and all(isinstance(p, Tick) for p in packets)
    with pytest.raises(DhanTokenExpired):
        await next_of(feed)
    with pytest.raises(DhanTokenExpired):  # stays failed
        await next_of(feed)
    assert feed.stats.non_binary_frames == 1 and feed.stats.truncated == 1


async def test_a_lone_disconnect_raises_at_once() -> None:
    with pytest.raises(DhanTooManyConnections):
        await next_of(feed_over(disconnect(805)))


async def test_a_close_without_reason_is_feed_closed_unless_we_asked() -> None:
    with pytest.raises(DhanFeedClosed):
        await next_of(feed_over())
    feed = feed_over()
    feed._closing = True
    with pytest.raises(StopAsyncIteration):
        await next_of(feed)


async def test_use_before_connect_is_a_clear_error() -> None:
    feed = DhanFeedConnection("ws://feed.test", "SECRET", "1", structlog.get_logger())
    with pytest.raises(RuntimeError, match="connect"):
        await feed.subscribe([("NSE_FNO", 1)])
    assert "SECRET" not in repr(feed)
