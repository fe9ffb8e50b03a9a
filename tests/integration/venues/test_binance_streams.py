"""The partial-depth stream against the simulated Binance over a real websocket."""

from __future__ import annotations

import trio

from adapters.binance.streams import DepthStream
from tests.integration.venues.venue_support import running_sim


async def test_books_of_every_symbol_arrive_every_100ms() -> None:
    async with running_sim("binance") as sim:
        stream = DepthStream(sim.binance_url.replace("http://", "ws://"), ["BTCUSDT", "ETHUSDT"])
        seen: dict[str, int] = {}
        async with stream.connect():
            with trio.fail_after(5):
                async for book in stream:
                    seen[book.symbol] = seen.get(book.symbol, 0) + 1
                    assert book.bids and book.asks and book.bids[0][0] < book.asks[0][0]
                    assert len(book.bids) <= 20 and book.event_ms > 0
                    if min(seen.get("BTCUSDT", 0), seen.get("ETHUSDT", 0)) >= 5:
                        break
    assert stream.skipped == 0
