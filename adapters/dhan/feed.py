"""One connection to Dhan's live market feed (v2): connect, subscribe, decode, close.

No reconnect here on purpose: the shard actor owns reconnect, resubscribe and the data
watchdog. This class only makes every way a connection can end explicit: a disconnect
packet becomes the exception of its reason, an HTTP 429 at the handshake is
``DhanTooManyConnections``, a close without a reason is ``DhanFeedClosed``; a close we
asked for ends the iteration. The access token travels in the URL's query, so the URL
is redacted before anything is logged (ours, and trio-websocket's debug logging).
"""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator, Sequence
from contextlib import AsyncExitStack, asynccontextmanager
from typing import Any
from urllib.parse import urlencode

import trio
from trio_websocket import (
    ConnectionClosed,
    ConnectionRejected,
    HandshakeError,
    WebSocketConnection,
    open_websocket_url,
)

from adapters.dhan.codec import (
    FULL_SUB,
    MAX_INSTRUMENTS_PER_CONNECTION,
    UNSUBSCRIBE_OF,
    DecodeStats,
    Disconnect,
    Instrument,
    Packet,
    decode_frame,
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


class _RedactTokens(logging.Filter):
    """trio-websocket logs the request path (with our token) at debug level."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.args:
            record.args = tuple(redact(a) if isinstance(a, str) else a for a in record.args)
        if isinstance(record.msg, str):
            record.msg = redact(record.msg)
        return True


def _guard_library_logs() -> None:
    """Install the redacting filter on trio-websocket's logger once per process."""
    logger = logging.getLogger("trio-websocket")
    if not any(isinstance(f, _RedactTokens) for f in logger.filters):
        logger.addFilter(_RedactTokens())


class DhanFeedConnection:
    """One feed connection. Use::

        feed = DhanFeedConnection(feed_url, token, client_id, log)
        async with feed.connect():
            await feed.subscribe(instruments, FULL_SUB)
            async for packets in feed:   # lists of decoded packets, one list per frame
                ...

    The iteration raises the mapped exception when the server disconnects us and ends
    normally only after ``close()``. ``stats`` counts packets and skipped bad input.
    """

    def __init__(self, feed_url: str, access_token: str, client_id: str, log: Any, *,
                 stats: DecodeStats | None = None, connect_timeout_s: float = 10.0,
                 disconnect_timeout_s: float = 5.0, message_queue_size: int = 16,
                 max_message_bytes: int = MAX_MESSAGE_BYTES) -> None:
        self.feed_url = feed_url
        self._url = feed_url_with_auth(feed_url, access_token, client_id)
        self.log = log
        self.stats = stats if stats is not None else DecodeStats()
        self.connect_timeout_s, self.disconnect_timeout_s = connect_timeout_s, disconnect_timeout_s
        self.message_queue_size, self.max_message_bytes = message_queue_size, max_message_bytes
        self.subscriptions: dict[tuple[str, int], set[int]] = {}  # instrument -> subscribe codes
        self._ws: WebSocketConnection | None = None
        self._closing = False
        self._pending_error: DhanError | None = None

    def __repr__(self) -> str:
        return f"DhanFeedConnection(feed_url={redact(self.feed_url)!r})"

    @property
    def instrument_count(self) -> int:
        return len(self.subscriptions)

    # ------------------------------------------------------------------ lifecycle
    @asynccontextmanager
    async def connect(self) -> AsyncIterator[DhanFeedConnection]:
        """Open the websocket (pings are answered by trio-websocket); close it on exit."""
        _guard_library_logs()
        self._closing, self._pending_error, self.subscriptions = False, None, {}
        async with AsyncExitStack() as stack:
            try:
                ws = await stack.enter_async_context(open_websocket_url(
                    self._url, connect_timeout=self.connect_timeout_s, disconnect_timeout=self.disconnect_timeout_s,
                    message_queue_size=self.message_queue_size, max_message_size=self.max_message_bytes))
            except ConnectionRejected as rejected:
                raise _rejection_error(rejected.status_code) from None
            except HandshakeError as error:  # refused, unreachable, timed out, closed mid-handshake
                cause = error.__cause__ or error
                raise DhanFeedClosed(None, f"cannot connect: {redact(describe(cause))}", "feed") from None
            self._ws = ws
            self.log.info("dhan_feed_connected", feed_url=redact(self.feed_url))
            try:
                yield self
            finally:
                self._closing = True
                self._ws = None
                # Close within our own bound, so the library's close on exit is a no-op
                # and can never replace the exception that ended the block.
                with trio.move_on_after(self.disconnect_timeout_s):
                    await ws.aclose()
                self.log.info("dhan_feed_closed", feed_url=redact(self.feed_url),
                              packets=sum(self.stats.packets.values()), skipped=self.stats.skipped)

    async def close(self) -> None:
        """Ask the server to disconnect (request 12), then close; the iteration ends."""
        self._closing = True
        ws = self._ws
        if ws is None or ws.closed:
            return
        try:
            await ws.send_message(disconnect_message())
        except ConnectionClosed:
            pass
        with trio.move_on_after(self.disconnect_timeout_s):
            await ws.aclose()

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
                await ws.send_message(message)
            except ConnectionClosed as closed:
                raise self._closed_error(closed) from None

    def _require_open(self) -> WebSocketConnection:
        if self._ws is None:
            raise RuntimeError("DhanFeedConnection is not connected: use `async with feed.connect():`")
        return self._ws

    # ------------------------------------------------------------------ receiving
    def __aiter__(self) -> DhanFeedConnection:
        return self

    async def __anext__(self) -> list[Packet]:
        """The packets of the next frame that held any (bad frames are counted, skipped)."""
        if self._pending_error is not None:
            raise self._pending_error
        ws = self._require_open()
        while True:
            try:
                message = await ws.get_message()
            except ConnectionClosed as closed:
                if self._closing:
                    raise StopAsyncIteration from None
                raise self._closed_error(closed) from None
            if isinstance(message, str):
                self.stats.non_binary_frames += 1
                continue
            packets = decode_frame(message, self.stats)
            disconnect = next((p for p in packets if isinstance(p, Disconnect)), None)
            if disconnect is not None:
                return self._on_disconnect(disconnect, packets)
            if packets:
                return packets

    def _on_disconnect(self, disconnect: Disconnect, packets: list[Packet]) -> list[Packet]:
        """Hand out the data that came before the disconnect packet, then its error."""
        error = feed_disconnect_error(disconnect.reason)
        self.log.warning("dhan_feed_disconnect", reason=disconnect.reason, error_class=type(error).__name__,
                         feed_url=redact(self.feed_url))
        self._pending_error = error
        data = [p for p in packets[: packets.index(disconnect)]]
        if data:
            return data
        raise error

    def _closed_error(self, closed: ConnectionClosed) -> DhanError:
        reason = closed.reason
        code = getattr(reason, "code", None)
        detail = getattr(reason, "reason", None) or getattr(reason, "name", None) or "no reason"
        self.log.warning("dhan_feed_dropped", close_code=code, detail=detail, feed_url=redact(self.feed_url))
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
