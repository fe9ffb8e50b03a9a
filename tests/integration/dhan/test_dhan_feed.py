"""DhanFeedConnection against the simulated Dhan feed over real websockets: batching and
caps, decoding for every instrument, and every way a connection ends."""

from __future__ import annotations

import logging
from contextlib import AsyncExitStack

import pytest
import structlog
import trio

from adapters.dhan.codec import FULL_SUB, TICKER_SUB, Full, PrevClose, Tick
from adapters.dhan.errors import (
    DhanAuthError,
    DhanFeedClosed,
    DhanTokenExpired,
    DhanTooManyConnections,
)
from adapters.dhan.feed import DhanFeedConnection
from tests.integration.dhan.dhan_support import dhan_bed


async def collect_until(feed: DhanFeedConnection, done, timeout_s: float = 5.0) -> list:
    seen: list = []
    with trio.fail_after(timeout_s):
        async for packets in feed:
            seen += packets
            if done(seen):
                return seen
    return seen


async def test_250_instruments_in_3_messages_and_every_one_streams() -> None:
    async with dhan_bed() as bed:
        instruments = bed.option_ids(250)
        wanted = {sid for _, sid in instruments}
        feed = bed.feed()
        async with feed.connect():
            assert await feed.subscribe(instruments, FULL_SUB) == 3
            seen = await collect_until(feed, lambda ps: wanted <= {p.security_id for p in ps if isinstance(p, Full)})
        stats = bed.stats()
    assert {p.security_id for p in seen if isinstance(p, PrevClose)} == wanted
    full = [p for p in seen if isinstance(p, Full)]
    assert all(p.segment == "NSE_FNO" and p.ltp >= 0 and len(p.depth) == 5 for p in full)
    assert sum(p.ltp > 0 for p in full) > len(full) // 2
    assert stats.endpoints["feed/request"] == 3 and stats.rejected == 0  # the sim refuses > 100 per message
    assert stats.max_subscriptions == 250 and feed.instrument_count == 250
    assert feed.stats.skipped == 0


async def receive_until(feed: DhanFeedConnection, done, timeout_s: float = 5.0) -> list:
    seen: list = []
    with trio.fail_after(timeout_s):
        while not done(seen):
            seen += await feed.receive_prices()
    return seen


async def test_receive_prices_streams_rows_of_every_instrument() -> None:
    async with dhan_bed() as bed:
        instruments = bed.option_ids(250)
        wanted = {sid for _, sid in instruments}
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe(instruments, FULL_SUB)
            rows = await receive_until(feed, lambda rs: wanted <= {r[1] for r in rs})
            await feed.close()
            with pytest.raises(trio.EndOfChannel), trio.fail_after(5):
                while True:
                    await feed.receive_prices()
    assert all(segment == "NSE_FNO" and ltp >= 0 and bid is not None and ask is not None and volume is not None
               for segment, _, ltp, bid, ask, volume in rows)
    assert feed.stats.packets[6] == 250 and feed.stats.skipped == 0  # prev close counted, no row


async def test_receive_prices_hands_out_the_data_then_the_disconnect_error() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        with pytest.raises(DhanTokenExpired):
            async with feed.connect():
                await feed.subscribe(bed.option_ids(5), TICKER_SUB)
                rows = await receive_until(feed, lambda rs: len(rs) >= 5)
                bed.venues.action("dhan", "expire_token")
                with trio.fail_after(5):
                    while True:
                        await feed.receive_prices()
    assert all(bid is None and ask is None and volume is None for _, _, _, bid, ask, volume in rows)


async def test_receive_prices_after_a_drop_raises_feed_closed() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe(bed.option_ids(5), TICKER_SUB)
            await receive_until(feed, lambda rs: len(rs) >= 5)
            bed.faults().drop_connections()
            with pytest.raises(DhanFeedClosed) as raised, trio.fail_after(5):
                while True:
                    await feed.receive_prices()
    assert raised.value.code == 1001  # the simulator closes with "going away"


async def test_more_than_5000_instruments_raise_before_sending() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe([("NSE_FNO", sid) for sid in range(4000)], TICKER_SUB)
            with pytest.raises(ValueError, match="5000"):
                await feed.subscribe([("NSE_FNO", sid) for sid in range(3990, 5100)], TICKER_SUB)
            assert feed.instrument_count == 4000
        assert bed.stats().endpoints["feed/request"] == 40


async def test_a_sixth_connection_raises_too_many_connections() -> None:
    async with dhan_bed() as bed:
        async with AsyncExitStack() as stack:
            for _ in range(5):
                await stack.enter_async_context(bed.feed().connect())
            with pytest.raises(DhanTooManyConnections):
                async with bed.feed().connect():
                    pass
        assert bed.stats().max_connections == 5


async def test_drop_connections_ends_the_iteration_with_feed_closed() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe(bed.option_ids(5), TICKER_SUB)
            await collect_until(feed, lambda ps: any(isinstance(p, Tick) for p in ps))
            bed.faults().drop_connections()
            with pytest.raises(DhanFeedClosed), trio.fail_after(5):
                async for _ in feed:
                    pass


async def test_expired_token_disconnect_raises_token_expired() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        with pytest.raises(DhanTokenExpired):
            async with feed.connect():
                await feed.subscribe(bed.option_ids(5), TICKER_SUB)
                await collect_until(feed, lambda ps: any(isinstance(p, Tick) for p in ps))
                bed.venues.action("dhan", "expire_token")
                with trio.fail_after(5):
                    async for _ in feed:
                        pass


async def test_bad_token_raises_auth_error_and_never_logs_the_token(caplog, capsys) -> None:
    caplog.set_level(logging.DEBUG)  # every library logger, at debug level
    async with dhan_bed() as bed:
        feed = bed.feed(token="SECRET-JWT-42")
        with pytest.raises(DhanAuthError) as raised, trio.fail_after(5):
            async with feed.connect():
                async for _ in feed:
                    pass
        fast = bed.feed(token="SECRET-JWT-42")
        with pytest.raises(DhanAuthError), trio.fail_after(5):
            async with fast.connect():
                while True:
                    await fast.receive_prices()
    assert raised.value.code == 809
    out = capsys.readouterr().out
    assert "dhan_feed_connected" in out and "dhan_feed_disconnect" in out
    assert "SECRET-JWT-42" not in caplog.text + out + str(raised.value) + repr(feed)


async def test_malformed_frames_are_counted_and_skipped() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe(bed.option_ids(20), TICKER_SUB)
            await collect_until(feed, lambda ps: any(isinstance(p, Tick) for p in ps))
            bed.faults().malformed_frames = 4
            ticks_after = await collect_until(feed, lambda ps: sum(isinstance(p, Tick) for p in ps) >= 40)
            await feed.close()
            async for _ in feed:  # a close we asked for ends the iteration quietly
                pass
        assert bed.faults().malformed_frames == 0
    assert len(ticks_after) >= 40
    assert feed.stats.truncated >= 2 and feed.stats.unknown >= 2


async def test_close_sends_disconnect_and_ends_iteration() -> None:
    async with dhan_bed() as bed:
        feed = bed.feed()
        async with feed.connect():
            await feed.subscribe(bed.option_ids(3), TICKER_SUB)
            await feed.close()
            with trio.fail_after(5):
                async for _ in feed:
                    pass
        assert bed.stats().endpoints["feed/request"] == 2  # subscribe + disconnect (12)


async def test_an_unreachable_feed_raises_feed_closed() -> None:
    listener = trio.socket.socket()
    await listener.bind(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    listener.close()  # nothing listens there any more
    feed = DhanFeedConnection(f"ws://127.0.0.1:{port}", "SECRET-JWT-42", "1", structlog.get_logger())
    with pytest.raises(DhanFeedClosed) as raised, trio.fail_after(5):
        async with feed.connect():
            pass
    assert "cannot connect" in str(raised.value) and "SECRET" not in str(raised.value)
