"""One WebSocket session of the simulated Deribit (``/ws/api/v2``).

Requests are JSON-RPC text frames answered with the same ``id``; besides the public
methods the session serves what only exists on a socket: ``public/subscribe`` to
``deribit_price_index.<index_name>`` (one notification per market step),
``public/unsubscribe[_all]`` and ``public/set_heartbeat`` (a ``test_request`` every
interval; an unanswered one closes the session at the next). A 10028 answer ends the
session, as the venue "terminates the session" when credits run out. Faults: ``silent``
swallows every outgoing frame, ``malformed_frames`` corrupts the next frames, and a
bumped ``drop_generation`` closes the socket.
"""

from __future__ import annotations

from typing import Any, Callable, Protocol

import attrs
import trio
from starlette.websockets import WebSocket, WebSocketDisconnect

from adapters.sim.control import VenueControl
from adapters.sim.deribit_protocol import (
    API_VERSION, RpcError, encode, envelope, heartbeat_request, invalid_params, notification,
    parse_request, truncated,
)

INDEX_CHANNEL = "deribit_price_index."
CLOSE_DRAIN_S = 5.0


class SessionVenue(Protocol):
    """What a session needs from the simulated venue."""

    control: VenueControl
    min_heartbeat_interval_s: float

    @property
    def tick(self) -> trio.Event: ...

    def index_price(self, index_name: str) -> float | None: ...

    def market_now_ms(self) -> int: ...

    def now_us(self) -> int: ...

    async def answer(self, client: str, method: str, params: Any,
                     local: dict[str, Callable[[dict[str, Any]], Any]]) -> Any: ...


@attrs.define(eq=False)
class WsSession:
    venue: SessionVenue
    websocket: WebSocket
    client: str
    generation: int
    channels: set[str] = attrs.field(factory=set)
    heartbeat_interval_s: float | None = None
    heartbeat_pending: bool = False
    heartbeat_changed: trio.Event = attrs.field(factory=trio.Event)
    _send_lock: trio.Lock = attrs.field(factory=trio.Lock)
    _cancel: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    _close_code: int | None = None

    async def run(self) -> None:
        """Serve until the client leaves or the session is closed (drop, 10028, heartbeat)."""
        accounting = self.venue.control.accounting
        accounting.connected(self.client)
        try:
            with self._cancel:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._watch_drops)
                    nursery.start_soon(self._push_index)
                    nursery.start_soon(self._heartbeat)
                    await self._read()
                    nursery.cancel_scope.cancel()
            if self._close_code is not None:
                await self._close_and_drain(self._close_code)
        except (WebSocketDisconnect, trio.BrokenResourceError, trio.ClosedResourceError):
            pass
        finally:
            accounting.disconnected(self.client)
            accounting.subscribed(self.client, -len(self.channels))

    def close(self, code: int) -> None:
        """End the session from any of its tasks; ``run`` then closes the socket."""
        if self._close_code is None:
            self._close_code = code
        self._cancel.cancel()

    async def _close_and_drain(self, code: int) -> None:
        """Send the close frame, then read until the client's close arrives: hypercorn hands
        received frames to the app through a bounded queue, and a client still sending to a
        session that stopped reading would otherwise stall the connection for good."""
        with trio.move_on_after(CLOSE_DRAIN_S):
            await self.websocket.close(code)
            while (await self.websocket.receive())["type"] != "websocket.disconnect":
                pass

    async def send(self, text: str, *, corrupt: bool = False) -> bool:
        """Send one frame unless silenced; ``False`` when swallowed."""
        faults = self.venue.control.faults
        if faults.silent:
            return False
        if corrupt or faults.take_malformed_frame():
            text = truncated(text)
        async with self._send_lock:
            await self.websocket.send_text(text)
        return True

    # ------------------------------------------------------------------ tasks
    async def _read(self) -> None:
        while True:
            message = await self.websocket.receive()
            if message["type"] == "websocket.disconnect":
                return
            text = message.get("text")
            if text is None:
                text = (message.get("bytes") or b"").decode("utf-8", "replace")
            await self._handle(text)

    async def _handle(self, text: str) -> None:
        try:
            request_id, method, params = parse_request(text)
        except RpcError as error:
            self.venue.control.accounting.request(self.client, "invalid").rejected += 1
            now = self.venue.now_us()
            await self.send(encode(envelope(us_in=now, us_out=now, error=error)))
            return
        outcome = await self.venue.answer(self.client, method, params, self._local_methods())
        body = envelope(us_in=outcome.us_in, us_out=self.venue.now_us(), result=outcome.result,
                        error=outcome.error, request_id=request_id)
        await self.send(encode(body), corrupt=outcome.fault == "malformed")
        if outcome.throttled:
            self.close(1008)

    async def _watch_drops(self) -> None:
        faults = self.venue.control.faults
        while True:
            changed = faults.changed
            if faults.drop_generation != self.generation:
                self.close(1012)
                return
            await changed.wait()

    async def _push_index(self) -> None:
        while True:
            await self.venue.tick.wait()
            for channel in sorted(self.channels):
                index_name = channel[len(INDEX_CHANNEL):]
                data = {"index_name": index_name, "price": self.venue.index_price(index_name),
                        "timestamp": self.venue.market_now_ms()}
                await self.send(encode(notification(channel, data)))

    async def _heartbeat(self) -> None:
        while True:
            changed = self.heartbeat_changed
            if self.heartbeat_interval_s is None:
                await changed.wait()
                continue
            with trio.move_on_after(self.heartbeat_interval_s) as waiting:
                await changed.wait()
            if not waiting.cancelled_caught:
                continue  # interval changed or disabled: restart the timer
            if self.heartbeat_pending:
                self.close(1000)
                return
            self.heartbeat_pending = await self.send(encode(heartbeat_request()))

    # ------------------------------------------------------------------ socket-only methods
    def _local_methods(self) -> dict[str, Callable[[dict[str, Any]], Any]]:
        return {
            "public/subscribe": self._subscribe,
            "public/unsubscribe": self._unsubscribe,
            "public/unsubscribe_all": self._unsubscribe_all,
            "public/set_heartbeat": self._set_heartbeat,
            "public/disable_heartbeat": lambda _: self._set_interval(None),
            "public/test": self._test,
        }

    @staticmethod
    def _channels_param(params: dict[str, Any]) -> list[str]:
        channels = params.get("channels")
        if not channels:
            raise invalid_params("channels", "value is required")
        if not isinstance(channels, list) or not all(isinstance(c, str) for c in channels):
            raise invalid_params("channels", "must be a list of strings")
        return channels

    def _subscribe(self, params: dict[str, Any]) -> list[str]:
        """Known channels are acknowledged; unknown ones are left out without an error."""
        accepted = [c for c in dict.fromkeys(self._channels_param(params))
                    if c.startswith(INDEX_CHANNEL) and self.venue.index_price(c[len(INDEX_CHANNEL):]) is not None]
        new = [c for c in accepted if c not in self.channels]
        self.channels.update(new)
        self.venue.control.accounting.subscribed(self.client, len(new))
        return accepted

    def _unsubscribe(self, params: dict[str, Any]) -> list[str]:
        removed = [c for c in dict.fromkeys(self._channels_param(params)) if c in self.channels]
        self.channels.difference_update(removed)
        self.venue.control.accounting.subscribed(self.client, -len(removed))
        return removed

    def _unsubscribe_all(self, _: dict[str, Any]) -> str:
        self.venue.control.accounting.subscribed(self.client, -len(self.channels))
        self.channels.clear()
        return "ok"

    def _set_heartbeat(self, params: dict[str, Any]) -> str:
        interval = params.get("interval")
        minimum = self.venue.min_heartbeat_interval_s
        if isinstance(interval, bool) or not isinstance(interval, (int, float)):
            raise invalid_params("interval", "value is required")
        if interval < minimum:
            raise invalid_params("interval", f"must be >= {minimum:g}")
        return self._set_interval(float(interval))

    def _set_interval(self, interval_s: float | None) -> str:
        self.heartbeat_interval_s = interval_s
        self.heartbeat_pending = False
        changed, self.heartbeat_changed = self.heartbeat_changed, trio.Event()
        changed.set()
        return "ok"

    def _test(self, _: dict[str, Any]) -> dict[str, str]:
        self.heartbeat_pending = False
        return {"version": API_VERSION}

