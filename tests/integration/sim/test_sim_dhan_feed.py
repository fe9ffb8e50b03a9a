"""The simulated Dhan market feed over a real websocket: subscriptions, binary frames decoded
with structs written from venues.md, caps, auth, holiday mode and faults."""

from __future__ import annotations

import json
import struct
from contextlib import asynccontextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection, open_websocket_url

from adapters.sim.control import VenueControl
from adapters.sim.dhan import DhanSim
from adapters.sim.serving import serve_app
from engine.clock import Clock

SPEC = json.loads((Path(__file__).parents[2] / "fixtures" / "dhan" / "feed_packets.json").read_text())
STRUCTS = {int(code): struct.Struct(p["struct"]) for code, p in SPEC["packets"].items()}
DAY = date(2025, 10, 14)
EXPIRY = date(2025, 10, 20)
QUERY = "version=2&token=sim-token&clientId=1000000001&authType=2"


@asynccontextmanager
async def dhan(**options: Any) -> AsyncIterator[tuple[DhanSim, str]]:
    options.setdefault("underlyings", ("NIFTY",))
    sim = DhanSim(seed=3, clock=Clock(), control=VenueControl.new("dhan"), today=DAY, **options)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(partial(serve_app, sim.app(), "127.0.0.1", 0, shutdown=shutdown))
        yield sim, base_url.replace("http://", "ws://")
        shutdown.set()
        nursery.cancel_scope.cancel()


def decode(frame: bytes) -> list[tuple]:
    """Every packet of a frame, walked by the header's message length."""
    packets, offset = [], 0
    while offset < len(frame):
        code, length = struct.unpack_from("<BH", frame, offset)
        assert length == STRUCTS[code].size, (code, length)
        packets.append(STRUCTS[code].unpack_from(frame, offset))
        offset += length
    assert offset == len(frame)
    return packets


def request(code: int, instruments: list[tuple[str, int]]) -> str:
    return json.dumps({"RequestCode": code, "InstrumentCount": len(instruments), "InstrumentList": [
        {"ExchangeSegment": segment, "SecurityId": str(sid)} for segment, sid in instruments]})


def options_near_atm(sim: DhanSim, count: int) -> list[tuple[str, int]]:
    chain = sim.market.chain("NIFTY", EXPIRY)
    middle = len(chain) // 2
    return [("NSE_FNO", legs[True]) for _, legs in chain[middle - count // 2: middle - count // 2 + count]]


async def next_packets(ws: WebSocketConnection, timeout_s: float = 2.0) -> list[tuple]:
    with trio.fail_after(timeout_s):
        return decode(await ws.get_message())


async def nothing_within(ws: WebSocketConnection, seconds: float) -> bool:
    with trio.move_on_after(seconds):
        await ws.get_message()
        return False
    return True


async def test_full_subscription_streams_frames_of_many_packets() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            options = options_near_atm(sim, 10)
            await ws.send_message(request(21, options))
            await ws.send_message(request(15, [("IDX_I", 13)]))
            first = await next_packets(ws)
            assert [p[0] for p in first] == [6, 8] * 10
            index_first = await next_packets(ws)
            assert [p[0] for p in index_first] == [6, 2]
            sim.step(0.5)
            frame = await next_packets(ws)
            assert sorted(p[0] for p in frame) == [2] + [8] * 10
            for packet in frame:
                if packet[0] == 8:
                    quote = sim.market.option_quote(packet[3])
                    assert packet[2] == 2 and packet[4] == pytest.approx(quote.ltp, abs=0.01)
                    assert packet[11] == quote.oi and packet[5] == quote.ltq
                else:
                    assert packet[2:4] == (0, 13) and packet[4] == pytest.approx(sim.market.underlying("NIFTY").price, abs=0.05)
            stats = sim.control.accounting.clients["1000000001"]
            assert stats.connections == 1 and stats.subscriptions == 11


async def test_prev_close_arrives_once_per_subscription() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            options = options_near_atm(sim, 3)
            await ws.send_message(request(17, options))
            seen = [p[0] for p in await next_packets(ws)]
            for _ in range(3):
                sim.step(0.5)
                seen += [p[0] for p in await next_packets(ws)]
            assert seen.count(6) == 3 and seen.count(4) == 12 and seen.count(5) == 12  # quote mode: 4 + OI
            await ws.send_message(request(18, options[:1]))
            await ws.send_message(request(17, options[:1]))
            again = [p[0] for p in await next_packets(ws)]
            assert again == [6, 4, 5]


async def test_more_than_100_instruments_in_one_message_disconnects_with_805() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(request(15, options_near_atm(sim, 101)))
            assert await next_packets(ws) == [(50, 10, 0, 0, 805)]
            with pytest.raises(ConnectionClosed):
                await ws.get_message()
        assert sim.control.accounting.clients["1000000001"].rejected == 1


async def test_over_limit_messages_can_be_ignored_instead() -> None:
    async with dhan(over_limit="ignore") as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(request(15, options_near_atm(sim, 101)))
            await ws.send_message(request(15, [("IDX_I", 13)]))
            assert [p[0] for p in await next_packets(ws)] == [6, 2]


async def test_a_connection_holds_at_most_5000_instruments() -> None:
    async with dhan(underlyings=None) as (sim, url):
        sids = list(sim.market.contracts)[:5001]
        async with open_websocket_url(f"{url}/?{QUERY}", max_message_size=4 * 1024 * 1024) as ws:
            for start in range(0, 5000, 100):
                segment = [(sim.market.contracts[s].spec.option_segment, s) for s in sids[start:start + 100]]
                await ws.send_message(request(15, segment))
                assert len(await next_packets(ws)) == 200
            last = sids[5000]
            await ws.send_message(request(15, [(sim.market.contracts[last].spec.option_segment, last)]))
            assert await next_packets(ws) == [(50, 10, 0, 0, 805)]
        assert sim.control.accounting.clients["1000000001"].max_subscriptions == 5000


async def test_the_sixth_connection_is_refused_at_the_handshake() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as first:
            async with open_websocket_url(f"{url}/?{QUERY}"), open_websocket_url(f"{url}/?{QUERY}"), \
                    open_websocket_url(f"{url}/?{QUERY}"), open_websocket_url(f"{url}/?{QUERY}"):
                with pytest.raises(ConnectionRejected) as refused:
                    async with open_websocket_url(f"{url}/?{QUERY}"):
                        pass
                assert refused.value.status_code == 429
            await trio.sleep(0.1)  # the four closed connections free their slots
            async with open_websocket_url(f"{url}/?{QUERY}") as again:
                await again.send_message(request(15, [("IDX_I", 13)]))
                assert [p[0] for p in await next_packets(again)] == [6, 2]
            assert not first.closed
        stats = sim.control.accounting.clients["1000000001"]
        assert stats.max_connections == 5 and stats.throttled == 1


@pytest.mark.parametrize("query, reason", [
    ("version=2&token=forged&clientId=1000000001&authType=2", 809),
    ("version=2&token=sim-token&clientId=1000000002&authType=2", 808),
    ("version=1&token=sim-token&clientId=1000000001&authType=2", 809),
])
async def test_bad_credentials_get_a_disconnect_packet(query: str, reason: int) -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{query}") as ws:
            assert await next_packets(ws) == [(50, 10, 0, 0, reason)]
            with pytest.raises(ConnectionClosed):
                await ws.get_message()


async def test_expiring_the_token_disconnects_open_feeds_with_807() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(request(15, [("IDX_I", 13)]))
            await next_packets(ws)
            sim.control_action("expire_token", {})
            assert await next_packets(ws) == [(50, 10, 0, 0, 807)]
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            assert await next_packets(ws) == [(50, 10, 0, 0, 807)]


async def test_holiday_mode_sends_one_packet_per_instrument_then_nothing() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(request(15, [("IDX_I", 13)]))
            await next_packets(ws)
            sim.control_action("holiday_mode", {"on": True})
            assert await next_packets(ws) == [(7, 8, 0, 0)]  # market status
            await ws.send_message(request(21, options_near_atm(sim, 2)))
            assert [p[0] for p in await next_packets(ws)] == [6, 8, 6, 8]
            sim.step(0.5)
            sim.step(0.5)
            assert await nothing_within(ws, 0.3)


async def test_silent_drop_malformed_and_delay_faults() -> None:
    async with dhan() as (sim, url):
        faults = sim.control.faults
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(request(21, options_near_atm(sim, 2)))
            await next_packets(ws)
            faults.set_silent(True)
            sim.step(0.5)
            assert await nothing_within(ws, 0.3)
            faults.set_silent(False)
            sim.step(0.5)
            assert [p[0] for p in await next_packets(ws)] == [8, 8]

            faults.malformed_frames = 2
            sim.step(0.5)
            truncated = await ws.get_message()
            assert len(truncated) < struct.unpack_from("<H", truncated, 1)[0]
            sim.step(0.5)
            assert (await ws.get_message())[0] == 99  # an unknown response code
            sim.step(0.5)
            assert [p[0] for p in await next_packets(ws)] == [8, 8]

            faults.delay_s = 0.3
            started = trio.current_time()
            sim.step(0.5)
            await next_packets(ws)
            assert trio.current_time() - started >= 0.3
            faults.delay_s = 0.0

            faults.drop_connections()
            with pytest.raises(ConnectionClosed), trio.fail_after(2):
                await ws.get_message()
        await trio.sleep(0.05)
        assert sim.control.accounting.clients["1000000001"].connections == 0


async def test_disconnect_request_closes_the_feed() -> None:
    async with dhan() as (sim, url):
        async with open_websocket_url(f"{url}/?{QUERY}") as ws:
            await ws.send_message(json.dumps({"RequestCode": 12}))
            with pytest.raises(ConnectionClosed), trio.fail_after(2):
                await ws.get_message()


async def test_run_market_drives_the_feed() -> None:
    async with dhan(step_interval_s=0.05) as (sim, url):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(sim.run_market)
            async with open_websocket_url(f"{url}/?{QUERY}") as ws:
                await ws.send_message(request(15, [("IDX_I", 13)]))
                await next_packets(ws)
                prices = [(await next_packets(ws))[0][4] for _ in range(5)]
            nursery.cancel_scope.cancel()
        assert sim.market.step_no >= 5 and len(prices) == 5
