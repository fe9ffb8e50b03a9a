"""Simulated Binance market streams over real websockets: formats, books, control
messages, and the silent / drop / malformed faults."""

from __future__ import annotations

import json
from decimal import Decimal as D

import pytest
import trio
from trio_websocket import ConnectionClosed, open_websocket_url

from tests.integration.sim.sim_binance_support import assert_shape, fixture, running_venue


async def _next(ws, timeout_s: float = 2.0) -> dict:
    with trio.fail_after(timeout_s):
        return json.loads(await ws.get_message())


async def test_partial_depth_stream_is_the_top_of_the_engine_book() -> None:
    async with running_venue() as venue:
        async with open_websocket_url(f"{venue.ws_url}/ws/btcusdt@depth20@100ms") as ws:
            started = trio.current_time()
            frames = [await _next(ws) for _ in range(6)]
            elapsed = trio.current_time() - started
        assert elapsed >= 0.35  # never faster than one frame every 100 ms
        for frame in frames:
            assert_shape(frame, fixture("depth_update.json"), exact=True)
            assert frame["s"] == "BTCUSDT" and len(frame["b"]) == len(frame["a"]) == 20
            bids, asks = [D(p) for p, _ in frame["b"]], [D(p) for p, _ in frame["a"]]
            assert bids == sorted(bids, reverse=True) and asks == sorted(asks) and bids[0] < asks[0]
        for before, after in zip(frames, frames[1:]):
            assert after["pu"] == before["u"] and after["u"] >= before["u"]


async def test_book_ticker_and_combined_streams_follow_client_quotes() -> None:
    async with running_venue(run_market=False) as venue:
        names = "btcusdt@bookTicker/ethusdt@depth5"
        async with open_websocket_url(f"{venue.ws_url}/stream?streams={names}") as ws:
            seen: dict[str, dict] = {}
            while len(seen) < 2:
                frame = await _next(ws)
                seen[frame["stream"]] = frame
            assert_shape(seen["btcusdt@bookTicker"], fixture("combined_stream.json"), exact=True)
            assert_shape(seen["ethusdt@depth5"]["data"], fixture("depth_update.json"), exact=True)
            assert len(seen["ethusdt@depth5"]["data"]["b"]) == 5
            ticker = seen["btcusdt@bookTicker"]["data"]
            better_bid = D(ticker["b"]) + D("0.1")
            assert better_bid < D(ticker["a"])
            placed = await venue.send("POST", "/fapi/v1/order", [
                ("symbol", "BTCUSDT"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTX"),
                ("quantity", "0.123"), ("price", str(better_bid))])
            assert placed.status_code == 200, placed.text
            while True:
                frame = await _next(ws)
                if frame["stream"] == "btcusdt@bookTicker":
                    break
            assert (frame["data"]["b"], frame["data"]["B"]) == (f"{better_bid:.2f}", "0.123")
            assert frame["data"]["u"] > ticker["u"]


async def test_subscribe_unsubscribe_and_list_over_a_raw_connection() -> None:
    async with running_venue() as venue:
        accounting = venue.sim.control.accounting
        async with open_websocket_url(f"{venue.ws_url}/public/ws") as ws:
            await ws.send_message(json.dumps({"method": "SUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 1}))
            assert await _next(ws) == {"result": None, "id": 1}
            frame = await _next(ws)
            assert frame["e"] == "bookTicker" and frame["s"] == "ETHUSDT"  # raw: no wrapper
            assert accounting.clients["127.0.0.1"].subscriptions == 1
            await ws.send_message(json.dumps({"method": "LIST_SUBSCRIPTIONS", "id": 2}))
            while (answer := await _next(ws)).get("id") != 2:
                pass
            assert answer == {"result": ["ethusdt@bookTicker"], "id": 2}
            await ws.send_message(json.dumps({"method": "UNSUBSCRIBE", "params": ["ethusdt@bookTicker"], "id": 3}))
            while (answer := await _next(ws)).get("id") != 3:
                pass
            assert answer == {"result": None, "id": 3}
            assert accounting.clients["127.0.0.1"].subscriptions == 0
            assert accounting.clients["127.0.0.1"].connections == 1
        await trio.sleep(0.2)
        assert accounting.clients["127.0.0.1"].connections == 0
        assert accounting.clients["127.0.0.1"].max_subscriptions == 1


async def test_silent_malformed_and_dropped_connections() -> None:
    async with running_venue() as venue:
        faults = venue.sim.control.faults
        async with open_websocket_url(f"{venue.ws_url}/ws/btcusdt@depth5@100ms") as ws:
            await _next(ws)
            faults.set_silent(True)
            await trio.sleep(0.15)
            for _ in range(20):  # drain what was already in flight; then nothing comes
                with trio.move_on_after(0.3) as waited:
                    await ws.get_message()
                if waited.cancelled_caught:
                    break
            else:
                raise AssertionError("frames kept coming while silent")
            faults.set_silent(False)
            await _next(ws)
            faults.malformed_frames = 1
            with trio.fail_after(2):
                with pytest.raises(ValueError):
                    json.loads(await ws.get_message())
            await _next(ws)  # and the stream goes on
            faults.drop_connections()
            with pytest.raises(ConnectionClosed):
                with trio.fail_after(2):
                    while True:
                        await ws.get_message()
        await trio.sleep(0.1)
        assert venue.sim.control.accounting.clients["127.0.0.1"].connections == 0
