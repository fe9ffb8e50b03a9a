"""A Dhan-protocol feed server for benchmarks: streams binary frames as fast as the socket takes them.

The simulated Dhan venue sends one frame per market step, so it cannot show what the
client side can take. This server speaks just enough of the live feed (venues.md) to
drive a real ``DhanFeedConnection``: it accepts the websocket handshake on any path,
reads the subscribe JSON text frames (request codes 15/17/21, 12 = disconnect), answers
pings and close frames, and streams pre-encoded full packets (code 8, 162 B) of the
subscribed instruments. wsproto over a plain trio TCP stream, with every frame encoded
once up front, so that sending costs the server next to nothing and the client is what
gets measured.

Each connection chooses its stream in the URL's query (besides Dhan's own parameters):

* ``mode=blast``: ``frames`` frames back to back (``send_all`` of whole cycles of the
  pre-encoded frames), then idle until the client closes;
* ``mode=steady``: ``rate`` packets per second, as frames of ``ppf`` packets sent every
  ``step_ms`` milliseconds on absolute deadlines (a late step catches up);
* ``ppf``: packets per frame (default 1);
* ``expect``: start streaming once this many instruments are subscribed; 0 streams
  synthetic NSE_FNO ids 1..5000 at once (a plain websocket client that subscribes nothing);
* ``stamp=1`` (steady mode): the volume field (u32) of every packet carries the wall-clock
  time it was sent, in Unix ms modulo 2**32, so a client can measure from the send
  (socket buffers and client queues included), not only from its own receive.

Frames walk the instruments cyclically in subscription order, so in steady mode at
``rate`` = number of instruments every instrument ticks once a second.

Run as a process (what the benchmark does, so the server never shares the client's core
and GIL): ``python -m tests.bench._dhan_blaster`` prints ``PORT <n>`` on stdout and serves
on 127.0.0.1 until its stdin closes.
"""

from __future__ import annotations

import itertools
import json
import math
import struct
import sys
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import attrs
import trio
from wsproto import ConnectionType, WSConnection
from wsproto.events import AcceptConnection, CloseConnection, Ping, Request, TextMessage
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

from adapters.sim.dhan_packets import FULL_SIZE, SEGMENT_CODES, encode_full
from adapters.sim.dhan_quotes import DepthLevel, Quote

READ_BYTES = 65_536
SEND_CHUNK_BYTES = 256 * 1024  # one send_all per chunk: pongs and closes interleave between chunks
SYNTHETIC_IDS = 5_000
VOLUME_OFFSET = struct.calcsize("<BHBIfHIf")  # 22: the volume field (u32) of a full packet
SUBSCRIBE_CODES = frozenset({15, 17, 21})
DISCONNECT_REQUEST = 12
IST_EPOCH_S = 1_767_000_000 + 19_800
_U32 = struct.Struct("<I")


def ws_binary_frame(payload: bytes) -> bytes:
    """One unmasked server-to-client binary frame (FIN set), as RFC 6455 lays it out."""
    size = len(payload)
    if size < 126:
        header = bytes((0x82, size))
    elif size < 65_536:
        header = bytes((0x82, 126)) + struct.pack("!H", size)
    else:
        header = bytes((0x82, 127)) + struct.pack("!Q", size)
    return header + payload


def full_packet(segment: str, security_id: int) -> bytes:
    """A plausible full packet (code 8) of one instrument; prices vary with the id."""
    ltp = 50.0 + (security_id % 997) * 0.05
    depth = tuple(DepthLevel(75 * (level + 1), 150 * (level + 1), level + 1, level + 2,
                             ltp - 0.05 * (level + 1), ltp + 0.05 * (level + 1)) for level in range(5))
    quote = Quote(ltp=ltp, ltq=75, ltt_s=IST_EPOCH_S, atp=ltp, volume=1_000_000 + security_id, total_sell_qty=90_000,
                  total_buy_qty=120_000, oi=4_000_000, oi_high=4_100_000, oi_low=3_900_000, prev_oi=3_000_000,
                  open=ltp - 1, prev_close=ltp - 2, high=ltp + 3, low=ltp - 3, depth=depth)
    return encode_full(SEGMENT_CODES.get(segment, 2), security_id, quote)


def frame_cycle(instruments: list[tuple[str, int]], ppf: int) -> list[bytes]:
    """Encoded frames of ``ppf`` packets walking ``instruments`` cyclically; the list repeats seamlessly."""
    packets = [full_packet(segment, sid) for segment, sid in instruments]
    count = len(packets) // math.gcd(len(packets), ppf)  # frames until the walk is back at the start
    walk = itertools.cycle(packets)
    return [ws_binary_frame(b"".join(next(walk) for _ in range(ppf))) for _ in range(count)]


@attrs.define
class StreamSpec:
    mode: str = "blast"
    ppf: int = 1
    frames: int = 10_000
    rate: float = 5_000.0
    step_ms: float = 10.0
    expect: int = 0
    stamp: bool = False

    @classmethod
    def from_target(cls, target: str) -> StreamSpec:
        query = {name: values[-1] for name, values in parse_qs(urlsplit(target).query).items()}
        return cls(mode=query.get("mode", "blast"), ppf=max(1, int(query.get("ppf", 1))),
                   frames=int(query.get("frames", 10_000)), rate=float(query.get("rate", 5_000)),
                   step_ms=float(query.get("step_ms", 10)), expect=int(query.get("expect", 0)),
                   stamp=query.get("stamp") == "1")


class _Session:
    """One client connection: the reader task handles requests, the sender streams."""

    def __init__(self, stream: trio.SocketStream, conn: WSConnection, spec: StreamSpec) -> None:
        self.stream, self.conn, self.spec = stream, conn, spec
        self.send_lock = trio.Lock()
        self.instruments: dict[tuple[str, int], None] = {}  # insertion-ordered set
        self.ready = trio.Event()
        self._text: list[str] = []
        if spec.expect <= 0:
            self.instruments = {("NSE_FNO", sid): None for sid in range(1, SYNTHETIC_IDS + 1)}
            self.ready.set()

    async def send(self, data: bytes) -> None:
        async with self.send_lock:
            await self.stream.send_all(data)

    async def reader(self, done: trio.CancelScope) -> None:
        try:
            while True:
                data = await self.stream.receive_some(READ_BYTES)
                if not data:
                    break
                self.conn.receive_data(data)
                for event in self.conn.events():
                    if isinstance(event, TextMessage):
                        self._text.append(event.data)
                        if event.message_finished:
                            text, self._text = "".join(self._text), []
                            if self._request(text):
                                return
                    elif isinstance(event, Ping):
                        await self.send(self.conn.send(event.response()))
                    elif isinstance(event, CloseConnection):
                        await self.send(self.conn.send(event.response()))
                        return
        finally:
            done.cancel()

    def _request(self, text: str) -> bool:
        """Apply one JSON request; True when the client asked to disconnect."""
        request = json.loads(text)
        code = request.get("RequestCode")
        if code == DISCONNECT_REQUEST:
            return True
        if code in SUBSCRIBE_CODES:
            for entry in request.get("InstrumentList", ()):
                self.instruments[(entry["ExchangeSegment"], int(entry["SecurityId"]))] = None
            if len(self.instruments) >= self.spec.expect:
                self.ready.set()
        return False

    async def sender(self) -> None:
        await self.ready.wait()
        frames = frame_cycle(list(self.instruments), self.spec.ppf)
        if self.spec.mode == "steady":
            await self._steady(frames)
        else:
            await self._blast(frames)
        await trio.sleep_forever()

    async def _blast(self, frames: list[bytes]) -> None:
        chunks, chunk, size, counts, count = [], [], 0, [], 0
        for frame in frames:  # whole cycles as chunks of about SEND_CHUNK_BYTES
            chunk.append(frame)
            size, count = size + len(frame), count + 1
            if size >= SEND_CHUNK_BYTES:
                chunks.append(b"".join(chunk))
                counts.append(count)
                chunk, size, count = [], 0, 0
        if chunk:
            chunks.append(b"".join(chunk))
            counts.append(count)
        left = self.spec.frames
        while left > 0:
            for i, data in enumerate(chunks):
                if counts[i] > left:
                    start = sum(counts[:i])
                    await self.send(b"".join(frames[start:start + left]))
                    return
                await self.send(data)
                left -= counts[i]
                if left == 0:
                    return

    async def _steady(self, frames: list[bytes]) -> None:
        step_s = self.spec.step_ms / 1000.0
        per_step = self.spec.rate * step_s / self.spec.ppf  # frames per step (fractions carried over)
        frame_size = len(frames[0])  # every frame holds ppf packets of one size
        header = frame_size - self.spec.ppf * FULL_SIZE
        stamp_at = [header + i * FULL_SIZE + VOLUME_OFFSET for i in range(self.spec.ppf)]
        owed, index, deadline = 0.0, 0, trio.current_time()
        while True:
            owed += per_step
            due, owed = int(owed), owed - int(owed)
            if due:
                batch = bytearray(b"".join(frames[(index + i) % len(frames)] for i in range(due)))
                index = (index + due) % len(frames)
                if self.spec.stamp:
                    sent_ms = int(time.time() * 1000) & 0xFFFFFFFF
                    for base in range(0, len(batch), frame_size):
                        for offset in stamp_at:
                            _U32.pack_into(batch, base + offset, sent_ms)
                await self.send(batch)
            deadline += step_s
            await trio.sleep_until(deadline)


async def handle(stream: trio.SocketStream) -> None:
    """One connection from handshake to close; never raises (a client may vanish at any point)."""
    conn = WSConnection(ConnectionType.SERVER)
    try:
        target = None
        while target is None:
            data = await stream.receive_some(READ_BYTES)
            if not data:
                return
            conn.receive_data(data)
            for event in conn.events():
                if isinstance(event, Request):
                    target = event.target
        await stream.send_all(conn.send(AcceptConnection()))
        session = _Session(stream, conn, StreamSpec.from_target(target))
        async with trio.open_nursery() as nursery:
            nursery.start_soon(session.reader, nursery.cancel_scope)
            nursery.start_soon(session.sender)
    except* (trio.BrokenResourceError, trio.ClosedResourceError, RemoteProtocolError, LocalProtocolError):
        pass  # the client went away (the benchmark cancels its side without a close handshake)
    finally:
        with trio.move_on_after(1) as scope:
            scope.shield = True
            await stream.aclose()


async def serve(host: str = "127.0.0.1", port: int = 0, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
    """Serve until cancelled; ``task_status.started(port)``."""
    listeners = await trio.open_tcp_listeners(port, host=host)
    task_status.started(listeners[0].socket.getsockname()[1])
    await trio.serve_listeners(handle, listeners)


async def _main() -> None:
    async with trio.open_nursery() as nursery:
        port = await nursery.start(serve)
        print(f"PORT {port}", flush=True)
        await trio.to_thread.run_sync(sys.stdin.read, abandon_on_cancel=True)  # the parent closed our stdin
        nursery.cancel_scope.cancel()


if __name__ == "__main__":
    trio.run(_main)
