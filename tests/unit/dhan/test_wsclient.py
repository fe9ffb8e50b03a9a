"""The feed's websocket client over scripted transports (no socket): frames split anywhere,
batches per read, control frames, fragments, limits, protocol errors and both closes.
The server side is a real wsproto connection, so every frame is one a server would send."""

from __future__ import annotations

import os
from typing import Any

import pytest
import trio
import trio.testing
from hypothesis import given, settings
from hypothesis import strategies as st
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    Request,
    TextMessage,
)

from adapters.dhan.wsclient import WsClient, WsClosed


def handshake_pair() -> tuple[WSConnection, WSConnection]:
    """(client, server) wsproto connections past the upgrade."""
    client, server = WSConnection(ConnectionType.CLIENT), WSConnection(ConnectionType.SERVER)
    server.receive_data(client.send(Request(host="feed.test", target="/?token=x")))
    assert isinstance(next(server.events()), Request)
    client.receive_data(server.send(AcceptConnection()))
    assert isinstance(next(client.events()), AcceptConnection)
    return client, server


class ScriptStream(trio.abc.Stream):
    """Returns the scripted chunks one per read, then EOF (or blocks when ``eof`` is False)."""

    def __init__(self, chunks: list[bytes], *, eof: bool = True) -> None:
        self.chunks, self.eof = list(chunks), eof
        self.sent = bytearray()
        self.closed = False
        self.read_sizes: list[int] = []

    async def receive_some(self, max_bytes: int | None = None) -> bytes:
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError
        if self.chunks:
            chunk = self.chunks.pop(0)
            if max_bytes is not None and len(chunk) > max_bytes:
                chunk, rest = chunk[:max_bytes], chunk[max_bytes:]
                self.chunks.insert(0, rest)
            self.read_sizes.append(len(chunk))
            return chunk
        if self.eof:
            return b""
        while not self.chunks and not self.closed:  # a test may script more later
            await trio.sleep(0.005)
        return await self.receive_some(max_bytes)

    async def send_all(self, data: bytes | bytearray | memoryview) -> None:
        await trio.lowlevel.checkpoint()
        if self.closed:
            raise trio.ClosedResourceError
        self.sent += data

    async def wait_send_all_might_not_block(self) -> None:
        await trio.lowlevel.checkpoint()

    async def aclose(self) -> None:
        self.closed = True
        await trio.lowlevel.checkpoint()


def server_saw(server: WSConnection, stream: ScriptStream) -> list[Any]:
    """What the server's wsproto makes of everything the client sent."""
    server.receive_data(bytes(stream.sent))
    return list(server.events())


def binary(server: WSConnection, payload: bytes, finished: bool = True) -> bytes:
    return server.send(BytesMessage(data=payload, message_finished=finished))


async def receive_all(client: WsClient) -> tuple[list[list[bytes]], WsClosed]:
    """Every batch until the connection ends, and how it ended."""
    batches = []
    while True:
        try:
            batches.append(await client.receive_batch())
        except WsClosed as closed:
            return batches, closed


# --------------------------------------------------------------------------- batching


async def test_one_read_hands_out_every_complete_message_and_keeps_the_rest() -> None:
    client_ws, server = handshake_pair()
    frames = [binary(server, bytes([i % 256]) * (1 + i % 200)) for i in range(300)]
    tail = binary(server, b"x" * 300)  # 4-byte header: split inside the header and the payload
    stream = ScriptStream([b"".join(frames) + tail[:3], tail[3:150], tail[150:]])
    client = WsClient(stream, client_ws)
    first = await client.receive_batch()
    assert first == [bytes([i % 256]) * (1 + i % 200) for i in range(300)]
    assert await client.receive_batch() == [b"x" * 300]  # two more reads, one batch
    assert stream.read_sizes == [len(b"".join(frames)) + 3, 147, len(tail) - 150]
    assert client.reads == 3 and client.messages == 301


async def test_a_large_message_arriving_over_many_reads() -> None:
    client_ws, server = handshake_pair()
    payload = os.urandom(300_000)  # 8-byte length
    data = binary(server, payload) + binary(server, b"after")
    stream = ScriptStream([data[i:i + 1000] for i in range(0, len(data), 1000)])
    client = WsClient(stream, client_ws)
    batches, closed = await receive_all(client)
    assert [m for batch in batches for m in batch] == [payload, b"after"] and closed.code == 1006
    assert client.reads == len(range(0, len(data), 1000))


async def test_frames_that_came_with_the_handshake_answer_are_handed_out_first() -> None:
    client_ws, server = handshake_pair()
    buffered = binary(server, b"one") + binary(server, b"two") + server.send(CloseConnection(code=1000, reason="bye"))
    stream = ScriptStream([], eof=False)  # nothing more would ever arrive
    client = WsClient(stream, client_ws, buffered)
    with trio.fail_after(1):
        batches, closed = await receive_all(client)
    assert batches == [[b"one", b"two"]] and (closed.code, closed.reason, closed.local) == (1000, "bye", False)


MESSAGE = st.one_of(
    st.tuples(st.just("binary"), st.binary(max_size=300)),
    st.tuples(st.just("big"), st.integers(65_536, 70_000)),
    st.tuples(st.just("fragmented"), st.lists(st.binary(max_size=100), min_size=1, max_size=4)),
    st.tuples(st.just("text"), st.text(max_size=50)),
    st.tuples(st.just("ping"), st.binary(max_size=20)),
)


@settings(max_examples=150, deadline=None)
@given(st.lists(MESSAGE, max_size=25), st.lists(st.integers(1, 400), max_size=30), st.sampled_from([64, 65_536]))
def test_any_split_gives_the_same_messages_and_every_ping_its_pong(messages: list, cuts: list[int],
                                                                    read_bytes: int) -> None:
    client_ws, server = handshake_pair()
    wire, expected, pings = b"", [], []
    for kind, value in messages:
        if kind == "binary":
            wire += binary(server, value)
            expected.append(value)
        elif kind == "big":
            payload = bytes(range(256)) * (value // 256)
            wire += binary(server, payload)
            expected.append(payload)
        elif kind == "fragmented":
            for i, part in enumerate(value):
                wire += binary(server, part, finished=i == len(value) - 1)
                if i == 0:
                    wire += server.send(Ping(payload=b"mid"))  # control frames may interleave
                    pings.append(b"mid")
            expected.append(b"".join(value))
        elif kind == "text":
            wire += server.send(TextMessage(data=value))
        else:
            wire += server.send(Ping(payload=value))
            pings.append(value)
    chunks, at = [], 0
    for cut in cuts:
        if at < len(wire):
            chunks.append(wire[at:at + cut])
            at += cut
    if at < len(wire):
        chunks.append(wire[at:])
    stream = ScriptStream(chunks)
    client = WsClient(stream, client_ws, read_bytes=read_bytes)

    async def main() -> tuple[list[list[bytes]], WsClosed]:
        return await receive_all(client)

    batches, closed = trio.run(main)
    assert [m for batch in batches for m in batch] == expected
    assert all(batches) and closed.code == 1006
    assert client.text_messages == sum(kind == "text" for kind, _ in messages)
    assert [e.payload for e in server_saw(server, stream) if isinstance(e, Pong)] == pings


# --------------------------------------------------------------------------- control frames and text


async def test_pings_are_answered_and_pongs_and_text_are_dropped() -> None:
    client_ws, server = handshake_pair()
    wire = (server.send(Ping(payload=b"p1")) + server.send(Pong(payload=b"x")) + server.send(TextMessage(data="hi"))
            + server.send(TextMessage(data="frag", message_finished=False)) + server.send(Ping(payload=b"p2"))
            + server.send(TextMessage(data="ment")) + binary(server, b"data"))
    client = WsClient(ScriptStream([wire]), client_ws)
    stream = client._stream
    assert await client.receive_batch() == [b"data"]
    assert client.text_messages == 2
    assert [e.payload for e in server_saw(server, stream) if isinstance(e, Pong)] == [b"p1", b"p2"]


async def test_a_server_close_after_data_hands_out_the_data_then_answers_and_ends() -> None:
    client_ws, server = handshake_pair()
    wire = binary(server, b"a") + binary(server, b"b") + server.send(CloseConnection(code=4000, reason="bye"))
    stream = ScriptStream([wire + bytes([0x82, 7]) + b"ignored"], eof=False)
    client = WsClient(stream, client_ws)
    assert await client.receive_batch() == [b"a", b"b"]
    for _ in range(2):
        with pytest.raises(WsClosed) as raised:
            await client.receive_batch()
        assert (raised.value.code, raised.value.reason, raised.value.local) == (4000, "bye", False)
    assert client.close_code == 4000 and client.closed and stream.closed
    (reply,) = server_saw(server, stream)
    assert isinstance(reply, CloseConnection) and reply.code == 4000
    with pytest.raises(WsClosed):
        await client.send_text("late")


async def test_a_transport_that_just_ends_is_1006() -> None:
    client_ws, server = handshake_pair()
    client = WsClient(ScriptStream([binary(server, b"x" * 200)[:50]]), client_ws)  # ends inside a frame
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.code == 1006 and not raised.value.local


# --------------------------------------------------------------------------- limits and protocol errors


async def test_an_oversized_message_fails_with_1009_after_the_messages_before_it() -> None:
    client_ws, server = handshake_pair()
    stream = ScriptStream([binary(server, b"ok") + binary(server, b"y" * 1001)[:20]], eof=False)
    client = WsClient(stream, client_ws, max_message_bytes=1000)
    assert await client.receive_batch() == [b"ok"]  # decided from the header, before the payload arrives
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert (raised.value.code, raised.value.local) == (1009, True) and stream.closed
    (close,) = server_saw(server, stream)
    assert isinstance(close, CloseConnection) and close.code == 1009


async def test_a_fragmented_message_over_the_limit_fails_too() -> None:
    client_ws, server = handshake_pair()
    wire = b"".join(binary(server, b"z" * 400, finished=False) for _ in range(3))
    stream = ScriptStream([wire], eof=False)
    client = WsClient(stream, client_ws, max_message_bytes=1000)
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.code == 1009


@pytest.mark.parametrize("frame", [
    bytes([0x82, 0x83, 1, 2, 3, 4]) + bytes(b ^ m for b, m in zip(b"abc", (1, 2, 3))),  # masked by the server
    bytes([0x82, 126, 0, 5]) + b"hello",  # 2-byte length for 5 bytes
    bytes([0x82, 127, 0, 0, 0, 0, 0, 0, 1, 0]) + b"x" * 256,  # 8-byte length for 256 bytes
    bytes([0xC2, 1]) + b"x",  # RSV1 without a negotiated extension
    bytes([0x83, 1]) + b"x",  # reserved opcode
    bytes([0x09, 0]),  # fragmented ping
    bytes([0x80, 1]) + b"x",  # continuation of nothing
])
async def test_protocol_errors_fail_the_connection_with_wsprotos_code(frame: bytes) -> None:
    client_ws, server = handshake_pair()
    stream = ScriptStream([binary(server, b"before") + frame + binary(server, b"after")], eof=False)
    client = WsClient(stream, client_ws)
    assert await client.receive_batch() == [b"before"]
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.code == 1002 and raised.value.local
    (close,) = server_saw(server, stream)
    assert isinstance(close, CloseConnection) and close.code == 1002 and stream.closed


async def test_a_binary_frame_inside_a_fragmented_message_is_a_protocol_error() -> None:
    client_ws, server = handshake_pair()
    wire = binary(server, b"part", finished=False) + bytes([0x82, 1]) + b"x"
    client = WsClient(ScriptStream([wire], eof=False), client_ws)
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.code == 1002


async def test_invalid_utf8_text_is_1007() -> None:
    client_ws, _ = handshake_pair()
    client = WsClient(ScriptStream([bytes([0x81, 2, 0xC3, 0x28])], eof=False), client_ws)
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.code == 1007


# --------------------------------------------------------------------------- our close


async def test_no_pong_once_our_close_is_out() -> None:
    """The close race of trio-websocket#184: a ping that lands while our close is in flight."""
    client_ws, server = handshake_pair()
    answer = server.send(Ping(payload=b"late"))
    stream = ScriptStream([answer], eof=False)
    client = WsClient(stream, client_ws)

    async def server_answers_the_close() -> None:
        while not stream.sent:
            await trio.sleep(0.01)
        (close,) = server_saw(server, stream)
        assert isinstance(close, CloseConnection) and close.code == 1000
        stream.chunks.append(server.send(close.response()))

    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(server_answers_the_close)
            await client.aclose()
    assert client_ws.state is ConnectionState.CLOSED and stream.closed
    assert client.close_code == 1000 and client.closed
    assert b"late" not in stream.sent  # no pong went out after the close frame


async def test_aclose_while_another_task_receives_ends_both() -> None:
    client_side, server_side = trio.testing.memory_stream_pair()
    client_ws, server = handshake_pair()
    client = WsClient(client_side, client_ws)
    ended: list[WsClosed] = []

    async def receiver() -> None:
        try:
            while True:
                await client.receive_batch()
        except WsClosed as closed:
            ended.append(closed)

    async def echo_close() -> None:
        in_flight = binary(server, b"in flight")
        server.receive_data(await server_side.receive_some())
        (close,) = list(server.events())
        await server_side.send_all(in_flight + server.send(close.response()))

    with trio.fail_after(2):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(receiver)
            nursery.start_soon(echo_close)
            await trio.testing.wait_all_tasks_blocked()
            await client.aclose()
    assert ended and ended[0].code == 1000 and ended[0].local
    assert client_ws.state is ConnectionState.CLOSED


async def test_aclose_gives_up_waiting_and_closes_the_transport(autojump_clock: Any) -> None:
    client_ws, _ = handshake_pair()
    stream = ScriptStream([], eof=False)  # the server never answers
    client = WsClient(stream, client_ws)
    started = trio.current_time()
    await client.aclose(timeout_s=3.0)
    assert trio.current_time() - started == pytest.approx(3.0)
    assert stream.closed and client.closed
    with pytest.raises(WsClosed) as raised:
        await client.receive_batch()
    assert raised.value.local
    await client.aclose()  # again: nothing to do


async def test_aclose_under_cancellation_still_closes_the_transport() -> None:
    client_ws, _ = handshake_pair()
    stream = ScriptStream([], eof=False)
    client = WsClient(stream, client_ws)
    with trio.CancelScope() as scope:
        scope.cancel()
        await client.aclose()
    assert stream.closed


async def test_one_receiver_at_a_time_and_sends_after_the_end_raise() -> None:
    client_ws, _ = handshake_pair()
    stream = ScriptStream([], eof=False)
    client = WsClient(stream, client_ws)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(client.receive_batch)
        await trio.testing.wait_all_tasks_blocked()
        with pytest.raises(trio.BusyResourceError):
            await client.receive_batch()
        await client.send_text('{"RequestCode": 12}')  # sending while another task receives is fine
        nursery.cancel_scope.cancel()
    assert bytes(stream.sent).startswith(bytes([0x81]))  # a masked text frame (the client masks)
    await client.aclose(timeout_s=0.01)
    with pytest.raises(WsClosed):
        await client.send_text("x")
