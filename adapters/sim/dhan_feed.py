"""Live market feed of the simulated Dhan venue: the websocket at ``/``.

Connect with ``?version=2&token=<token>&clientId=<id>&authType=2``. The 6th concurrent
connection of a client id is refused at the handshake with HTTP 429 (websocket denial
response; servers without that ASGI extension get accept + disconnect packet 805 +
close). A bad token or version/authType gets disconnect packet 50 with reason 809, an
expired token 807, a wrong client id 808, then a close.

Requests are JSON text frames: 15/16 ticker sub/unsub, 17/18 quote, 21/22 full, 12
disconnect. A message with more than 100 instruments, or one that would take the
connection past 5000 instruments, is refused as a whole: with ``over_limit="disconnect"``
(the default) the server sends disconnect packet 805 and closes, with ``"ignore"`` it
drops the message (both count ``rejected``). The venue documents the caps but not the
refusal, so the loud form is the default: a breach cannot go unnoticed in tests.

After every market step each connection gets ONE binary frame (split only past 512 KiB)
holding a packet per subscribed (instrument, mode): ticker -> 2; quote -> 4 (+ 5 OI for derivatives);
full -> 8 (an index, which has no book, gets 4). A newly subscribed instrument gets its
prev-close packet (6) once, then an immediate snapshot. In holiday mode the market is
frozen: subscriptions get prev close + one snapshot and nothing more (the venue's
after-hours behaviour); toggling holiday mode broadcasts a market-status packet (7).
"""

from __future__ import annotations

import json
from typing import Any

import attrs
import trio
from starlette.responses import PlainTextResponse
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.sim.control import VenueControl
from adapters.sim.dhan_access import Credentials, feed_auth_error
from adapters.sim.dhan_market import DhanMarket
from adapters.sim.dhan_packets import (
    REASON_TOO_MANY_CONNECTIONS, SEGMENT_CODES, corrupt_frame, encode_disconnect, encode_full,
    encode_oi, encode_prev_close, encode_quote, encode_ticker,
)

SUBSCRIBE = {15: 15, 17: 17, 21: 21}  # request code -> mode
UNSUBSCRIBE = {16: 15, 18: 17, 22: 21}
DISCONNECT_REQUEST = 12
MAX_FRAME_BYTES = 512 * 1024
Instrument = tuple[str, int]  # (exchange segment, security id)


def parse_request(text: str) -> tuple[int, list[Instrument]] | None:
    """(request code, instruments) of a JSON request frame; None when it is not one."""
    try:
        message = json.loads(text)
        code = int(message["RequestCode"])
        listed = message.get("InstrumentList") or []
        instruments = [(str(item["ExchangeSegment"]), int(str(item["SecurityId"]))) for item in listed]
    except (ValueError, TypeError, KeyError, AttributeError):
        return None
    return code, instruments


def over_limit(subs: dict[Instrument, set[int]], requested: list[Instrument], known: list[Instrument],
               per_message: int, per_connection: int) -> bool:
    """Whether a subscribe message breaks the per-message cap (counting every entry sent)
    or would take the connection's known instruments past the per-connection cap."""
    if len(requested) > per_message:
        return True
    return len(set(subs) | set(known)) > per_connection


@attrs.define(eq=False)
class FeedConnection:
    """One open feed connection and what it subscribed."""

    client: str
    generation: int  # the faults' drop generation at connect time
    subs: dict[Instrument, set[int]] = attrs.field(factory=dict)
    pending: list[bytes] = attrs.field(factory=list)  # sent with the next frame
    wake: trio.Event = attrs.field(factory=trio.Event)
    kick_reason: int | None = None  # disconnect packet to send, then close
    close_now: bool = False


@attrs.define
class DhanFeed:
    market: DhanMarket
    control: VenueControl
    creds: Credentials
    max_connections: int = 5
    max_instruments_per_connection: int = 5000
    max_instruments_per_message: int = 100
    over_limit: str = "disconnect"  # or "ignore"
    connections: dict[str, set[FeedConnection]] = attrs.field(factory=dict)
    _cache: dict[tuple[str, int, int], bytes] = attrs.field(factory=dict)
    _cache_step: int = -1
    _malformed_variant: int = 0

    def __attrs_post_init__(self) -> None:
        if self.over_limit not in ("disconnect", "ignore"):
            raise ValueError("over_limit must be 'disconnect' or 'ignore'")

    # ------------------------------------------------------------------ driven by the venue
    def publish(self) -> None:
        """A market step happened: wake every connection to send its frame."""
        for conn in self._all():
            conn.wake.set()

    def broadcast(self, packet: bytes) -> None:
        for conn in self._all():
            conn.pending.append(packet)
            conn.wake.set()

    def kick_all(self, reason: int) -> None:
        """Disconnect every connection with ``reason`` (e.g. 807 when the token expires)."""
        for conn in self._all():
            conn.kick_reason = reason
            conn.wake.set()

    def _all(self) -> list[FeedConnection]:
        return [conn for conns in self.connections.values() for conn in conns]

    # ------------------------------------------------------------------ the endpoint
    async def endpoint(self, websocket: WebSocket) -> None:
        params = websocket.query_params
        client = params.get("clientId") or "anonymous"
        stats = self.control.accounting.request(client, "feed/connect")
        conns = self.connections.setdefault(client, set())
        if len(conns) >= self.max_connections:
            stats.throttled += 1
            await self._refuse_handshake(websocket)
            return
        conn = FeedConnection(client, self.control.faults.drop_generation)
        conns.add(conn)  # the slot is taken before the first await: no race past the cap
        try:
            await websocket.accept()
            reason = feed_auth_error(self.creds, params.get("token"), params.get("clientId"),
                                     params.get("version"), params.get("authType"))
            if reason is not None:
                stats.rejected += 1
                await websocket.send_bytes(encode_disconnect(reason))
                await websocket.close()
                return
            self.control.accounting.connected(client)
            try:
                async with trio.open_nursery() as nursery:
                    for task in (self._reader, self._writer):
                        nursery.start_soon(self._until_either_ends, task, websocket, conn, nursery.cancel_scope)
                    nursery.start_soon(self._watch_faults, conn)
            finally:
                self.control.accounting.disconnected(client)
                self.control.accounting.subscribed(client, -len(conn.subs))
        except WebSocketDisconnect:
            pass
        finally:
            conns.discard(conn)

    async def _refuse_handshake(self, websocket: WebSocket) -> None:
        if "websocket.http.response" in websocket.scope.get("extensions", {}):
            await websocket.send_denial_response(PlainTextResponse("Too Many Requests", status_code=429))
            return
        await websocket.accept()
        await websocket.send_bytes(encode_disconnect(REASON_TOO_MANY_CONNECTIONS))
        await websocket.close()

    @staticmethod
    async def _until_either_ends(task: Any, websocket: WebSocket, conn: FeedConnection,
                                 scope: trio.CancelScope) -> None:
        """Run the reader or the writer; when either ends (the peer left, the server
        closed, a send hit a dead socket) the connection is over for both."""
        try:
            await task(websocket, conn)
        except WebSocketDisconnect:
            pass
        finally:
            scope.cancel()

    async def _reader(self, websocket: WebSocket, conn: FeedConnection) -> None:
        while True:
            message = await websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            request = parse_request(text) if text is not None else None
            stats = self.control.accounting.request(conn.client, "feed/request")
            if request is None:
                stats.rejected += 1
                continue
            self._apply(conn, *request)
            conn.wake.set()

    def _apply(self, conn: FeedConnection, code: int, instruments: list[Instrument]) -> None:
        stats = self.control.accounting.clients[conn.client]
        if code == DISCONNECT_REQUEST:
            conn.close_now = True
        elif code in SUBSCRIBE:
            known = [(segment, sid) for segment, sid in instruments
                     if segment in SEGMENT_CODES and self.market.quote(segment, sid) is not None]
            if over_limit(conn.subs, instruments, known, self.max_instruments_per_message,
                          self.max_instruments_per_connection):
                stats.rejected += 1
                if self.over_limit == "disconnect":
                    conn.kick_reason = REASON_TOO_MANY_CONNECTIONS
                return
            mode = SUBSCRIBE[code]
            added = 0
            for segment, sid in known:  # unknown instruments are ignored, as the venue does
                modes = conn.subs.get((segment, sid))
                if modes is None:
                    modes = conn.subs[(segment, sid)] = set()
                    added += 1
                    conn.pending.append(self._prev_close(segment, sid))
                if mode not in modes:
                    modes.add(mode)
                    conn.pending.append(self._packet(segment, sid, mode))
            self.control.accounting.subscribed(conn.client, added)
        elif code in UNSUBSCRIBE:
            mode = UNSUBSCRIBE[code]
            removed = 0
            for instrument in instruments:
                modes = conn.subs.get(instrument)
                if modes is not None:
                    modes.discard(mode)
                    if not modes:
                        del conn.subs[instrument]
                        removed += 1
            self.control.accounting.subscribed(conn.client, -removed)
        else:
            stats.rejected += 1

    async def _writer(self, websocket: WebSocket, conn: FeedConnection) -> None:
        faults = self.control.faults
        last_step = self.market.step_no
        while True:
            await conn.wake.wait()
            conn.wake = trio.Event()
            if faults.drop_generation != conn.generation:
                await websocket.close(code=1001)
                return
            if conn.kick_reason is not None or conn.close_now:
                if conn.kick_reason is not None:
                    await websocket.send_bytes(encode_disconnect(conn.kick_reason))
                await websocket.close()
                return
            if faults.silent:
                last_step = self.market.step_no  # updates during a stall are lost, not queued
                continue
            packets, conn.pending = conn.pending, []
            if self.market.step_no != last_step:
                last_step = self.market.step_no
                if not self.market.holiday_mode:
                    packets += [self._packet(seg, sid, mode) for (seg, sid), modes in conn.subs.items()
                                for mode in sorted(modes)]
            if not packets:
                continue
            await faults.before_answer()
            for frame in split_frames(packets, MAX_FRAME_BYTES):
                if faults.take_malformed_frame():
                    frame = corrupt_frame(frame, self._malformed_variant)
                    self._malformed_variant += 1
                await websocket.send_bytes(frame)

    async def _watch_faults(self, conn: FeedConnection) -> None:
        """Turn fault changes (drops, silence cleared) into a wake-up of the writer."""
        while True:
            await self.control.faults.changed.wait()
            conn.wake.set()

    # ------------------------------------------------------------------ packets
    def _prev_close(self, segment: str, security_id: int) -> bytes:
        quote = self.market.quote(segment, security_id)
        assert quote is not None
        return encode_prev_close(SEGMENT_CODES[segment], security_id, quote.prev_close, quote.prev_oi)

    def _packet(self, segment: str, security_id: int, mode: int) -> bytes:
        """The packet(s) of one subscription at the current step, encoded once per step."""
        if self._cache_step != self.market.step_no:
            self._cache.clear()
            self._cache_step = self.market.step_no
        key = (segment, security_id, mode)
        cached = self._cache.get(key)
        if cached is None:
            cached = self._cache[key] = self._encode(segment, security_id, mode)
        return cached

    def _encode(self, segment: str, security_id: int, mode: int) -> bytes:
        quote = self.market.quote(segment, security_id)
        assert quote is not None
        code = SEGMENT_CODES[segment]
        if mode == 15:
            return encode_ticker(code, security_id, quote.ltp, quote.ltt_s)
        derivative = self.market.is_derivative(segment, security_id)
        if mode == 17 or segment == "IDX_I":
            packet = encode_quote(code, security_id, quote)
            return packet + encode_oi(code, security_id, quote.oi) if derivative else packet
        return encode_full(code, security_id, quote)


def split_frames(packets: list[bytes], max_bytes: int) -> list[bytes]:
    """Packets joined into as few frames as possible, each at most ``max_bytes`` (a
    packet is never split): clients' default message caps are often 1 MiB."""
    frames: list[bytes] = []
    current: list[bytes] = []
    size = 0
    for packet in packets:
        if current and size + len(packet) > max_bytes:
            frames.append(b"".join(current))
            current, size = [], 0
        current.append(packet)
        size += len(packet)
    if current:
        frames.append(b"".join(current))
    return frames
