"""One connection to Dhan's live market feed (v2): connect, subscribe, decode, close.

No reconnect here on purpose: the shard actor owns reconnect, resubscribe and the data
watchdog. This class only makes every way a connection can end explicit: a disconnect
packet becomes the exception of its reason, an HTTP 429 at the handshake is
``DhanTooManyConnections``, a close without a reason is ``DhanFeedClosed``; a close we
asked for ends the iteration. The access token travels in the URL's query, so the URL
is redacted before anything is logged (the websocket client never logs it).

The socket is read by ``adapters.dhan.wsclient`` (wsproto over a trio stream, one read of
up to 64 KiB at a time), so the hot path pays per read, not per frame:
``receive_prices()`` returns the price rows of every frame of one read
(``codec.decode_prices``, no packet objects). ``async for packets in feed`` still yields
decoded packets frame by frame, for tools and tests.
"""

from __future__ import annotations

import re
import ssl
from collections import deque
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import trio

from adapters.dhan.codec import (
    FULL_SUB,
    MAX_INSTRUMENTS_PER_CONNECTION,
    UNSUBSCRIBE_OF,
    DecodeStats,
    Disconnect,
    Instrument,
    Packet,
    PriceRow,
    decode_frame,
    decode_prices,
    disconnect_message,
    distinct_instruments,
    subscribe_messages,
    unsubscribe_messages,
)
from adapters.dhan.errors import (
    DhanAuthError,
    DhanError,
    DhanFeedClosed,
    DhanTooManyConnections,
    feed_disconnect_error,
)
from adapters.dhan.wsclient import READ_BYTES, WsClient, WsClosed, WsHandshakeError, WsRejected, connect_ws

MAX_MESSAGE_BYTES = 4 * 1024 * 1024  # a frame holds a packet per subscription: 5000 full packets ≈ 0.8 MB
_SECRET_QUERY = re.compile(r"(token=)[^&\s'\"]*", re.IGNORECASE)


def redact(text: str) -> str:
    """``text`` with the value of every ``token=`` query parameter replaced by ``***``."""
    return _SECRET_QUERY.sub(r"\1***", text)


def feed_url_with_auth(feed_url: str, access_token: str, client_id: str) -> str:
    """``{feed_url}?version=2&token=..&clientId=..&authType=2`` (keep it out of logs)."""
    query = urlencode({"version": "2", "token": access_token, "clientId": client_id, "authType": "2"})
    separator = "&" if "?" in feed_url else "?"
    base = feed_url if "?" in feed_url or feed_url.endswith("/") else feed_url + "/"
    return f"{base}{separator}{query}"


class DhanFeedConnection:
    """One feed connection. Use::

        feed = DhanFeedConnection(feed_url, token, client_id, log)
        async with feed.connect():
            await feed.subscribe(instruments, FULL_SUB)
            while True:
                rows = await feed.receive_prices()   # the hot path: price rows of one read
                ...
            # or, packets frame by frame:
            async for packets in feed:   # lists of decoded packets, one list per frame
                ...

    Both raise the mapped exception when the server disconnects us (after handing out the
    data that came before the disconnect packet); the iteration ends normally, and
    ``receive_prices`` raises ``trio.EndOfChannel``, only after ``close()``. ``stats``
    counts frames, packets and skipped bad input. One task receives at a time.
    ``message_queue_size`` is accepted for compatibility and unused: there is no reader
    task and no queue, the receiving task reads the socket itself.
    """

    def __init__(self, feed_url: str, access_token: str, client_id: str, log: Any, *,
                 stats: DecodeStats | None = None, connect_timeout_s: float = 10.0,
                 disconnect_timeout_s: float = 5.0, message_queue_size: int = 16,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, read_bytes: int = READ_BYTES,
                 ssl_context: ssl.SSLContext | None = None) -> None:
        self.feed_url = feed_url
        self._url = feed_url_with_auth(feed_url, access_token, client_id)
        self.log = log
        self.stats = stats if stats is not None else DecodeStats()
        self.connect_timeout_s, self.disconnect_timeout_s = connect_timeout_s, disconnect_timeout_s
        self.message_queue_size, self.max_message_bytes = message_queue_size, max_message_bytes
        self.read_bytes, self.ssl_context = read_bytes, ssl_context
        self.subscriptions: dict[tuple[str, int], set[int]] = {}  # instrument -> subscribe codes
        self._ws: WsClient | None = None
        self._closing = False
        self._pending_error: DhanError | None = None
        self._frames: deque[bytes] = deque()  # frames of the last read that the iteration has not yet taken
        self._text_seen = 0

    def __repr__(self) -> str:
        return f"DhanFeedConnection(feed_url={redact(self.feed_url)!r})"

    @property
    def instrument_count(self) -> int:
        return len(self.subscriptions)

    # ------------------------------------------------------------------ lifecycle
    @asynccontextmanager
    async def connect(self) -> AsyncIterator[DhanFeedConnection]:
        """Open the websocket (pings are answered while we receive); close it on exit."""
        self._closing, self._pending_error, self.subscriptions = False, None, {}
        self._frames.clear()
        try:
            ws = await connect_ws(self._url, connect_timeout_s=self.connect_timeout_s,
                                  max_message_bytes=self.max_message_bytes, read_bytes=self.read_bytes,
                                  ssl_context=self.ssl_context)
        except WsRejected as rejected:
            raise _rejection_error(rejected.status_code) from None
        except WsHandshakeError as error:  # refused, unreachable, timed out, closed mid-handshake
            raise DhanFeedClosed(None, f"cannot connect: {redact(str(error))}", "feed") from None
        self._ws, self._text_seen = ws, 0
        self.log.info("dhan_feed_connected", feed_url=redact(self.feed_url))
        try:
            yield self
        finally:
            self._closing = True
            self._ws = None
            self._frames.clear()
            # Within our own bound, and under cancellation too: the transport is always closed.
            await ws.aclose(timeout_s=self.disconnect_timeout_s)
            self.log.info("dhan_feed_closed", feed_url=redact(self.feed_url),
                          packets=sum(self.stats.packets.values()), skipped=self.stats.skipped)

    async def close(self) -> None:
        """Ask the server to disconnect (request 12), then close; the iteration ends."""
        self._closing = True
        self._frames.clear()
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_text(disconnect_message())
        except WsClosed:
            pass
        await ws.aclose(timeout_s=self.disconnect_timeout_s)

    # ------------------------------------------------------------------ requests
    async def subscribe(self, instruments: Sequence[Instrument], request_code: int = FULL_SUB) -> int:
        """Subscribe in messages of ≤ 100; returns how many messages were sent.

        Raises ``ValueError`` before sending anything when the connection would hold
        more than 5000 instruments (or for a bad segment, id or request code).
        """
        messages = subscribe_messages(instruments, request_code)
        wanted = distinct_instruments(instruments)
        total = len(self.subscriptions.keys() | wanted)
        if total > MAX_INSTRUMENTS_PER_CONNECTION:
            raise ValueError(f"a feed connection holds at most {MAX_INSTRUMENTS_PER_CONNECTION} instruments; "
                             f"this subscription would make it {total}")
        await self._send_all(messages)
        for instrument in wanted:
            self.subscriptions.setdefault(instrument, set()).add(request_code)
        self.log.info("dhan_feed_subscribed", instruments=len(wanted), request_code=request_code,
                      messages=len(messages), connection_instruments=self.instrument_count)
        return len(messages)

    async def unsubscribe(self, instruments: Sequence[Instrument], request_code: int = FULL_SUB) -> int:
        """Unsubscribe one mode (``request_code`` 15/17/21 or 16/18/22) of ``instruments``."""
        messages = unsubscribe_messages(instruments, request_code)
        mode = next((sub for sub, unsub in UNSUBSCRIBE_OF.items() if request_code in (sub, unsub)), request_code)
        await self._send_all(messages)
        for instrument in distinct_instruments(instruments):
            modes = self.subscriptions.get(instrument)
            if modes is not None:
                modes.discard(mode)
                if not modes:
                    del self.subscriptions[instrument]
        return len(messages)

    async def _send_all(self, messages: list[str]) -> None:
        ws = self._require_open()
        for message in messages:
            try:
                await ws.send_text(message)
            except WsClosed as closed:
                raise self._closed_error(closed) from None

    def _require_open(self) -> WsClient:
        if self._ws is None:
            raise RuntimeError("DhanFeedConnection is not connected: use `async with feed.connect():`")
        return self._ws

    # ------------------------------------------------------------------ receiving
    async def _next_read(self) -> list[bytes] | None:
        """The binary frames of the next read; None once a close we asked for ended the connection."""
        ws = self._require_open()
        try:
            frames = await ws.receive_batch()
        except WsClosed as closed:
            if self._closing:
                return None
            raise self._closed_error(closed) from None
        finally:
            if ws.text_messages != self._text_seen:
                self.stats.non_binary_frames += ws.text_messages - self._text_seen
                self._text_seen = ws.text_messages
        if self._closing:
            return None
        return frames

    async def receive_prices(self) -> list[PriceRow]:
        """The price rows of the next read that held any valid packet (the hot path).

        Rows are ``codec.decode_prices``'s ``(segment, security_id, ltp, bid, ask, volume)``,
        of every frame of one socket read, in order; the list is empty when those packets
        carried no price (OI, prev close, market status). A disconnect packet: the rows
        before it come first, the next call raises its mapped error. After ``close()``:
        ``trio.EndOfChannel``.
        """
        if self._pending_error is not None:
            raise self._pending_error
        stats = self.stats
        packets = stats.packets
        while True:
            if self._frames:
                frames: list[bytes] | None = list(self._frames)
                self._frames.clear()
            else:
                frames = await self._next_read()
            if frames is None:
                raise trio.EndOfChannel("the feed was closed")
            before = sum(packets.values())
            rows: list[PriceRow] = []
            for frame in frames:
                reason = decode_prices(frame, stats, rows)
                if reason is not None:
                    error = self._disconnected(reason)
                    if rows:
                        return rows
                    raise error
            if rows or sum(packets.values()) != before:
                return rows

    def __aiter__(self) -> DhanFeedConnection:
        return self

    async def __anext__(self) -> list[Packet]:
        """The packets of the next frame that held any (bad frames are counted, skipped)."""
        if self._pending_error is not None:
            raise self._pending_error
        while True:
            if not self._frames:
                frames = await self._next_read()
                if frames is None:
                    raise StopAsyncIteration
                self._frames.extend(frames)
            packets = decode_frame(self._frames.popleft(), self.stats)
            disconnect = next((p for p in packets if isinstance(p, Disconnect)), None)
            if disconnect is not None:
                self._frames.clear()
                return self._on_disconnect(disconnect, packets)
            if packets:
                return packets

    def _disconnected(self, reason: int) -> DhanError:
        """Log a disconnect packet; its error is raised by the next receive (and every one after)."""
        error = feed_disconnect_error(reason)
        self.log.warning("dhan_feed_disconnect", reason=reason, error_class=type(error).__name__,
                         feed_url=redact(self.feed_url))
        self._pending_error = error
        self._frames.clear()
        return error

    def _on_disconnect(self, disconnect: Disconnect, packets: list[Packet]) -> list[Packet]:
        """Hand out the data that came before the disconnect packet, then its error."""
        error = self._disconnected(disconnect.reason)
        data = packets[: packets.index(disconnect)]
        if data:
            return data
        raise error

    def _closed_error(self, closed: WsClosed) -> DhanError:
        code, detail = closed.code, closed.reason or "no reason"
        self.log.warning("dhan_feed_dropped", close_code=code, detail=detail, local=closed.local,
                         feed_url=redact(self.feed_url))
        if closed.local:  # a protocol error or an oversized message found here
            return DhanFeedClosed(code, f"connection failed ({detail})", "feed")
        return DhanFeedClosed(code, f"connection closed by the server without a disconnect packet ({detail})",
                              "feed")


def describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


def _rejection_error(status_code: int) -> DhanError:
    if status_code == 429:
        return DhanTooManyConnections(429, "HTTP 429 at the handshake: the connection cap is used up", "feed")
    if status_code in (401, 403):
        return DhanAuthError(status_code, f"HTTP {status_code} at the handshake", "feed")
    return DhanFeedClosed(status_code, f"handshake rejected with HTTP {status_code}", "feed")
