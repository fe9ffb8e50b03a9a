"""Binance USDⓈ-M market streams over websocket, built from the matching engine's books.

``/ws/<stream>[/<stream>...]`` sends raw payloads, ``/stream?streams=a/b`` wraps each as
``{"stream": name, "data": payload}``; both also under ``/public`` and ``/market`` (the
routed URLs Binance introduced in 2026). Streams: ``<symbol>@depth<5|10|20>[@100ms|@250ms|@500ms]``
(partial book, default every 250 ms) and ``<symbol>@bookTicker`` (on every change of the
best bid/ask). ``SUBSCRIBE`` / ``UNSUBSCRIBE`` / ``LIST_SUBSCRIPTIONS`` work as on the venue.
Faults: ``silent`` keeps the socket and sends nothing, a bumped ``drop_generation``
closes every socket, ``malformed_frames`` send truncated JSON instead of the next frame.
"""

from __future__ import annotations

import json
import math
import re
from typing import TYPE_CHECKING, Any

import attrs
import trio
from starlette.routing import WebSocketRoute
from starlette.websockets import WebSocket

from adapters.sim import binance_encode as encode

if TYPE_CHECKING:
    from adapters.sim.binance import BinanceSim

MAX_STREAMS_PER_CONNECTION = 1024
_STREAM = re.compile(r"^(?P<symbol>[a-z0-9_]+)@(?:(?P<depth>depth(?P<levels>5|10|20)(?:@(?P<speed>100|250|500)ms)?)"
                     r"|(?P<ticker>bookTicker))$")


@attrs.frozen
class StreamSpec:
    name: str  # as subscribed: the "stream" of combined payloads
    symbol: str  # upper case, as the venue lists it
    kind: str  # "depth" | "bookTicker"
    levels: int = 1
    interval_s: float = 0.0  # depth push period


def parse_stream(name: str) -> StreamSpec | None:
    """A supported stream name, or None (the venue accepts it and sends nothing)."""
    match = _STREAM.match(name)
    if match is None:
        return None
    symbol = match["symbol"].upper()
    if match["ticker"]:
        return StreamSpec(name, symbol, "bookTicker")
    return StreamSpec(name, symbol, "depth", int(match["levels"]), int(match["speed"] or 250) / 1000.0)


@attrs.define
class _Subscription:
    spec: StreamSpec
    last_u: int = 0
    last_sent_s: float = -math.inf
    last_top: Any = None


@attrs.define
class _Connection:
    ip: str
    combined: bool
    subscriptions: dict[str, _Subscription] = attrs.field(factory=dict)


class StreamServer:
    """Websocket routes of the simulated venue."""

    def __init__(self, sim: "BinanceSim", tick_s: float = 0.05) -> None:
        self.sim = sim
        self.tick_s = tick_s

    def routes(self) -> list[WebSocketRoute]:
        routes = []
        for prefix in ("", "/public", "/market"):
            routes += [WebSocketRoute(f"{prefix}/ws", self._raw), WebSocketRoute(f"{prefix}/ws/{{streams:path}}", self._raw),
                       WebSocketRoute(f"{prefix}/stream", self._combined)]
        return routes

    async def _raw(self, websocket: WebSocket) -> None:
        names = [n for n in websocket.path_params.get("streams", "").split("/") if n]
        await self._serve(websocket, names, combined=False)

    async def _combined(self, websocket: WebSocket) -> None:
        names = [n for n in websocket.query_params.get("streams", "").split("/") if n]
        await self._serve(websocket, names, combined=True)

    async def _serve(self, websocket: WebSocket, names: list[str], *, combined: bool) -> None:
        if len(names) > MAX_STREAMS_PER_CONNECTION:
            await websocket.close(code=1008)
            return
        await websocket.accept()
        accounting, faults = self.sim.control.accounting, self.sim.control.faults
        conn = _Connection(websocket.client.host if websocket.client else "unknown", combined)
        accounting.connected(conn.ip)
        self._subscribe(conn, names)
        generation, dropped = faults.drop_generation, False
        try:
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._receive, websocket, conn, nursery.cancel_scope)
                nursery.start_soon(self._push, websocket, conn, nursery.cancel_scope)
                while faults.drop_generation == generation:
                    await faults.changed.wait()
                dropped = True
                nursery.cancel_scope.cancel()
        finally:
            accounting.subscribed(conn.ip, -len(conn.subscriptions))
            accounting.disconnected(conn.ip)
        if dropped:
            with trio.move_on_after(1.0):
                try:
                    await websocket.close(code=1001)
                except Exception:  # the peer may already be gone
                    pass

    def _subscribe(self, conn: _Connection, names: list[str]) -> None:
        added = 0
        for name in names:
            spec = parse_stream(name)
            if name in conn.subscriptions or spec is None or spec.symbol not in self.sim.market.states:
                continue
            conn.subscriptions[name] = _Subscription(spec)
            added += 1
        self.sim.control.accounting.subscribed(conn.ip, added)

    def _unsubscribe(self, conn: _Connection, names: list[str]) -> None:
        removed = [name for name in names if conn.subscriptions.pop(name, None) is not None]
        self.sim.control.accounting.subscribed(conn.ip, -len(removed))

    async def _receive(self, websocket: WebSocket, conn: _Connection, scope: trio.CancelScope) -> None:
        """Answer SUBSCRIBE / UNSUBSCRIBE / LIST_SUBSCRIPTIONS; end the connection on close."""
        try:
            while True:
                message = await websocket.receive()
                if message["type"] == "websocket.disconnect":
                    break
                text = message.get("text")
                if text is None:
                    continue
                answer = self._control(conn, text)
                if answer is not None:
                    await websocket.send_text(json.dumps(answer, separators=(",", ":")))
        except Exception:  # the peer went away mid-receive or mid-send
            pass
        scope.cancel()

    def _control(self, conn: _Connection, text: str) -> dict[str, Any] | None:
        try:
            request = json.loads(text)
        except ValueError:
            return {"error": {"code": 3, "msg": "Invalid JSON: expected value"}, "id": None}
        if not isinstance(request, dict):
            return {"error": {"code": 2, "msg": "Invalid request"}, "id": None}
        method, request_id, params = request.get("method"), request.get("id"), request.get("params") or []
        if method == "SUBSCRIBE" and isinstance(params, list):
            self._subscribe(conn, [str(p) for p in params])
            return {"result": None, "id": request_id}
        if method == "UNSUBSCRIBE" and isinstance(params, list):
            self._unsubscribe(conn, [str(p) for p in params])
            return {"result": None, "id": request_id}
        if method == "LIST_SUBSCRIPTIONS":
            return {"result": list(conn.subscriptions), "id": request_id}
        return {"error": {"code": 2, "msg": f"Invalid request: unknown method {method!r}"}, "id": request_id}

    async def _push(self, websocket: WebSocket, conn: _Connection, scope: trio.CancelScope) -> None:
        faults = self.sim.control.faults
        try:
            while True:
                await trio.sleep(self.tick_s)
                await faults.before_answer()  # an armed delay makes the stream lag
                if faults.silent:
                    continue
                for sub in list(conn.subscriptions.values()):
                    payload = self._payload(sub)
                    if payload is None:
                        continue
                    frame = {"stream": sub.spec.name, "data": payload} if conn.combined else payload
                    text = json.dumps(frame, separators=(",", ":"))
                    if faults.take_malformed_frame():
                        text = text[: max(1, len(text) // 2)]
                    await websocket.send_text(text)
        except Exception:  # the peer went away
            scope.cancel()

    def _payload(self, sub: _Subscription) -> dict[str, Any] | None:
        stream, now_s = sub.spec, trio.current_time()
        symbol_spec = self.sim.market.states[stream.symbol].spec
        now_ms = self.sim.clock.time_ms()
        if stream.kind == "depth":
            if now_s - sub.last_sent_s < stream.interval_s - 1e-9:
                return None
            book = self.sim.book(stream.symbol, stream.levels)
            payload = encode.depth_update(book, symbol_spec, now_ms, sub.last_u)
        else:
            book = self.sim.book(stream.symbol, 1)
            top = (book.bids[:1], book.asks[:1])
            if top == sub.last_top:
                return None
            sub.last_top = top
            payload = encode.book_ticker(book, symbol_spec, now_ms)
        sub.last_sent_s, sub.last_u = now_s, book.update_id
        return payload
