"""A websocket client for the feed's hot path: wsproto over a trio stream, paid per read, not per frame.

Why not trio-websocket: it runs a reader task that hands every message over a memory
channel (a task wake-up per frame) and wsproto builds an event object per frame; a Dhan
feed sends thousands of small binary frames a second (DESIGN.md, Stack notes). Here the
caller's own task reads the socket (64 KiB at a time) and ``receive_batch()`` returns every
complete binary message of that read as a list of ``bytes``.

How a read is walked: this module delimits frames itself (RFC 6455 section 5.2). A frame
that is a whole, unmasked binary message (``0x82``, canonical length, no message being
assembled) is sliced out directly: what the feed sends. Every other complete frame (ping,
pong, close, text, fragments, anything odd) goes to wsproto, one whole frame at a time, so
wsproto stays the judge of the protocol: it validates, assembles fragments, and its close
handshake and states are the ones used. Frames are never handed over in pieces, so
wsproto's parser is always at a frame boundary when the fast path takes a frame.

Protocol behaviour:

- handshake: wsproto ``Request`` with the URL's path and query (the caller's token lives
  there: this module never logs the URL or the target); a response other than 101 raises
  ``WsRejected(status_code)``; anything else that prevents the connection (refused,
  unreachable, TLS, timeout, a bad answer, EOF) raises ``WsHandshakeError``. ``wss://``
  uses ``ssl.create_default_context()`` (or the given context) with SNI = host;
- pings are answered with a pong while the connection is open, never once our close frame
  went out (wsproto refuses that pong: the race trio-websocket has, python-trio/
  trio-websocket#184, cannot happen here);
- a close frame from the server is answered and recorded (``close_code``, ``close_reason``);
  the data that arrived before it is still handed out, then ``receive_batch`` raises
  ``WsClosed``; a transport that ends without a close frame is code 1006;
- a message larger than ``max_message_bytes`` fails the connection with 1009, a protocol
  error with wsproto's code (1002, 1007 ...); text messages are counted and dropped.

One task receives at a time (``receive_batch``); sends (``send_text``, pongs, the close)
are serialised by a lock and may come from another task. ``aclose()`` runs the close
handshake within a timeout and always closes the transport.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterable
from typing import Any
from urllib.parse import urlsplit

import trio
from wsproto import ConnectionType, WSConnection
from wsproto.connection import ConnectionState
from wsproto.events import (
    AcceptConnection,
    BytesMessage,
    CloseConnection,
    Ping,
    Pong,
    RejectConnection,
    Request,
    TextMessage,
)
from wsproto.frame_protocol import CloseReason
from wsproto.utilities import LocalProtocolError, RemoteProtocolError

READ_BYTES = 65_536
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
MAX_HANDSHAKE_BYTES = 64 * 1024
_BINARY_FIN = 0x82  # FIN, no RSV bits, opcode 2
_TRANSPORT_ERRORS = (trio.BrokenResourceError, trio.ClosedResourceError, OSError)


class WsError(Exception):
    """Base of this module's errors."""


class WsHandshakeError(WsError):
    """The websocket could not be opened (refused, unreachable, timed out, TLS, a bad answer)."""


class WsRejected(WsHandshakeError):
    """The server answered the upgrade request with an HTTP status other than 101."""

    def __init__(self, status_code: int) -> None:
        super().__init__(f"handshake rejected with HTTP {status_code}")
        self.status_code = status_code


class WsClosed(WsError):
    """The connection is over: ``code``/``reason`` of the close (1006 when the transport just ended).

    ``local`` is True when this side started the close (``aclose``, or a protocol error or
    oversized message this side detected).
    """

    def __init__(self, code: int | None, reason: str | None, *, local: bool = False) -> None:
        detail = f": {reason}" if reason else ""
        super().__init__(f"websocket closed ({code}{detail})")
        self.code, self.reason, self.local = code, reason, local


def _endpoint(url: str) -> tuple[bool, str, int, str, str]:
    """(tls, host, port, Host header, request target) of a ws:// or wss:// URL."""
    parts = urlsplit(url)
    if parts.scheme not in ("ws", "wss"):
        raise ValueError(f"websocket URL must start with ws:// or wss://, got scheme {parts.scheme!r}")
    host = parts.hostname
    if not host:
        raise ValueError("websocket URL has no host")
    tls = parts.scheme == "wss"
    default_port = 443 if tls else 80
    port = parts.port or default_port
    shown = f"[{host}]" if ":" in host else host
    host_header = shown if port == default_port else f"{shown}:{port}"
    target = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    return tls, host, port, host_header, target


async def connect_ws(url: str, *, connect_timeout_s: float = 10.0, max_message_bytes: int = MAX_MESSAGE_BYTES,
                     read_bytes: int = READ_BYTES, ssl_context: ssl.SSLContext | None = None,
                     extra_headers: Iterable[tuple[bytes, bytes]] = ()) -> WsClient:
    """Open a websocket to ``url`` (TCP or TLS, then the upgrade) within ``connect_timeout_s``.

    Raises ``WsRejected`` for an HTTP answer other than 101, ``WsHandshakeError`` for
    anything else that prevents the connection. ``ValueError`` for a URL that is not ws(s)://.
    """
    tls, host, port, host_header, target = _endpoint(url)
    try:
        with trio.fail_after(connect_timeout_s):
            if tls:
                stream: trio.abc.Stream = await trio.open_ssl_over_tcp_stream(
                    host, port, ssl_context=ssl_context or ssl.create_default_context(), https_compatible=True)
            else:
                stream = await trio.open_tcp_stream(host, port)
            try:
                return await _handshake(stream, host_header, target, list(extra_headers), max_message_bytes,
                                        read_bytes)
            except BaseException:
                await trio.aclose_forcefully(stream)
                raise
    except WsHandshakeError:
        raise
    except trio.TooSlowError:
        raise WsHandshakeError(f"no websocket within {connect_timeout_s:g}s") from None
    except (*_TRANSPORT_ERRORS, RemoteProtocolError, LocalProtocolError, ssl.SSLError) as error:
        cause = error.__cause__ if isinstance(error, trio.BrokenResourceError) and error.__cause__ else error
        raise WsHandshakeError(_describe(cause)) from None


async def _handshake(stream: trio.abc.Stream, host_header: str, target: str, extra_headers: list[tuple[bytes, bytes]],
                     max_message_bytes: int, read_bytes: int) -> WsClient:
    ws = WSConnection(ConnectionType.CLIENT)
    await stream.send_all(ws.send(Request(host=host_header, target=target, extra_headers=extra_headers)))
    received = b""
    while True:
        data = await stream.receive_some(read_bytes)
        if not data:
            raise WsHandshakeError("the server closed the connection during the handshake")
        received += data
        end = received.find(b"\r\n\r\n")
        if end >= 0:
            break
        if len(received) > MAX_HANDSHAKE_BYTES:
            raise WsHandshakeError("the handshake response has no end of headers")
    # Only the response head goes to wsproto: what follows it is websocket frames, which
    # this client walks itself (wsproto would otherwise keep them in its own buffer).
    head, rest = received[:end + 4], received[end + 4:]
    ws.receive_data(head)
    for event in ws.events():
        if isinstance(event, AcceptConnection):
            return WsClient(stream, ws, rest, max_message_bytes=max_message_bytes, read_bytes=read_bytes)
        if isinstance(event, RejectConnection):
            raise WsRejected(event.status_code)
    raise WsHandshakeError("the handshake response was incomplete")


def _describe(error: BaseException) -> str:
    text = str(error)
    return f"{type(error).__name__}: {text}" if text else type(error).__name__


class WsClient:
    """An open websocket; see the module docstring. Build it with ``connect_ws``."""

    def __init__(self, stream: trio.abc.Stream, ws: WSConnection, buffered: bytes = b"", *,
                 max_message_bytes: int = MAX_MESSAGE_BYTES, read_bytes: int = READ_BYTES) -> None:
        self._stream = stream
        self._ws = ws
        self.max_message_bytes, self.read_bytes = max_message_bytes, read_bytes
        self._chunks: list[bytes] = [buffered] if buffered else []  # an unfinished frame's bytes so far
        self._chunked = len(buffered)
        self._need = 1  # bytes the head of ``_chunks`` needs before a parse can make progress
        self._message: list[bytes] | None = None  # a fragmented binary message being assembled
        self._message_size = 0
        self._text_open = False  # a fragmented text message is going on (it is dropped)
        self._pings: list[bytes] = []  # payloads to answer after this read
        self._reply: CloseConnection | None = None  # the server's close, to be answered
        self._fail: CloseConnection | None = None  # our close after a protocol error / oversized message
        self._ended: WsClosed | None = None  # set once nothing more can be received
        self._receiving = False
        self._send_lock = trio.Lock()
        self._finished = trio.Event()  # the close handshake is over or the transport ended
        self._transport_closed = False
        self.close_code: int | None = None
        self.close_reason: str | None = None
        self.reads = 0  # socket reads that returned data
        self.messages = 0  # complete binary messages handed out
        self.text_messages = 0  # text messages received and dropped

    # ------------------------------------------------------------------ state
    @property
    def closed(self) -> bool:
        """True once nothing more can be received (close handshake, failure or transport end)."""
        return self._ended is not None

    @property
    def state(self) -> ConnectionState:
        return self._ws.state

    async def __aenter__(self) -> WsClient:
        return self

    async def __aexit__(self, *exc_info: Any) -> None:
        await self.aclose()

    # ------------------------------------------------------------------ receiving
    async def receive_batch(self) -> list[bytes]:
        """Every complete binary message of the next read(s): at least one, in order.

        Reads until a read completes a message; control frames and text are handled on the
        way. Raises ``WsClosed`` once the connection is over (after the messages that came
        before the close were handed out).
        """
        if self._receiving:
            raise trio.BusyResourceError("another task is already receiving on this websocket")
        self._receiving = True
        try:
            while True:
                if self._ended is not None:
                    raise self._closed_error()
                messages = await self._read_once()
                if self._pings or self._reply is not None or self._fail is not None:
                    await self._answer()
                if messages:
                    self.messages += len(messages)
                    return messages
        finally:
            self._receiving = False

    async def _read_once(self) -> list[bytes]:
        """One read of the transport, walked; [] when it completed no binary message."""
        if self._chunks and self._chunked >= self._need:  # frames that came with the handshake answer
            data = b"".join(self._chunks)
            self._chunks, self._chunked = [], 0
            return self._walk(data)
        try:
            data = await self._stream.receive_some(self.read_bytes)
        except _TRANSPORT_ERRORS as error:
            self._end(CloseReason.ABNORMAL_CLOSURE, f"transport lost ({_describe(error)})")
            return []
        if not data:
            self._end(CloseReason.ABNORMAL_CLOSURE, "the transport ended without a close frame")
            return []
        self.reads += 1
        if self._chunks:
            self._chunks.append(data)
            self._chunked += len(data)
            if self._chunked < self._need:
                return []  # a large frame still arriving: join once, when it is whole
            data = b"".join(self._chunks)
            self._chunks, self._chunked = [], 0
        return self._walk(data)

    def _walk(self, data: bytes) -> list[bytes]:
        """Split ``data`` into frames; keep an unfinished tail for the next read."""
        out: list[bytes] = []
        append = out.append
        size = len(data)
        limit = self.max_message_bytes
        i = 0
        while size - i >= 2:
            b0 = data[i]
            b1 = data[i + 1]
            length = b1 & 0x7F
            if length < 126:
                start = i + 2
                canonical = True
            elif length == 126:
                if size - i < 4:
                    break
                length = (data[i + 2] << 8) | data[i + 3]
                start = i + 4
                canonical = length >= 126
            else:
                if size - i < 10:
                    break
                length = int.from_bytes(data[i + 2:i + 10], "big")
                start = i + 10
                canonical = 65_536 <= length < 1 << 63
            if b1 & 0x80:
                start += 4  # a masking key (a server must not mask: wsproto refuses it below)
            if length > limit:
                self._oversized(length)
                return out
            end = start + length
            if end > size:
                self._chunks, self._chunked, self._need = [data[i:]], size - i, end - i
                return out
            if b0 == _BINARY_FIN and b1 < 0x80 and canonical and self._message is None and not self._text_open:
                append(data[start:end])
            elif not self._by_wsproto(data[i:end], append):
                return out  # closed or failed: nothing after that frame counts
            i = end
        if i < size:
            self._chunks, self._chunked, self._need = [data[i:]], size - i, size - i + 1
        return out

    def _by_wsproto(self, frame: bytes, append: Any) -> bool:
        """Hand one whole frame to wsproto and act on its events; False once the connection is over."""
        ws = self._ws
        ws.receive_data(frame)
        for event in ws.events():
            if isinstance(event, BytesMessage):
                if self._message is None:
                    if event.message_finished:
                        append(bytes(event.data))
                        continue
                    self._message, self._message_size = [], 0
                self._message.append(bytes(event.data))
                self._message_size += len(event.data)
                if self._message_size > self.max_message_bytes:
                    self._oversized(self._message_size)
                    return False
                if event.message_finished:
                    append(b"".join(self._message))
                    self._message = None
            elif isinstance(event, TextMessage):
                self._text_open = not event.message_finished
                if event.message_finished:
                    self.text_messages += 1
            elif isinstance(event, Ping):
                self._pings.append(bytes(event.payload))
            elif isinstance(event, Pong):
                pass
            elif isinstance(event, CloseConnection):
                self._on_close(event)
                return False
        return True

    def _on_close(self, event: CloseConnection) -> None:
        state = self._ws.state
        if state is ConnectionState.REMOTE_CLOSING:  # the server closes: answer, then it is over
            self._reply = event
            self._end(event.code, event.reason)
        elif state is ConnectionState.CLOSED:  # the answer to our own close
            self._end(event.code, event.reason, local=True)
        else:  # wsproto found a protocol error (the state is still OPEN): fail the connection
            self._fail = CloseConnection(code=event.code, reason=event.reason)
            self._end(event.code, event.reason, local=True)

    def _oversized(self, size: int) -> None:
        reason = f"message of {size} bytes exceeds the {self.max_message_bytes} byte limit"
        self._fail = CloseConnection(code=CloseReason.MESSAGE_TOO_BIG, reason=reason)
        self._end(CloseReason.MESSAGE_TOO_BIG, reason, local=True)

    def _end(self, code: int | None, reason: str | None, *, local: bool = False) -> None:
        if self._ended is None:
            self.close_code, self.close_reason = (int(code) if code is not None else None), reason
            self._ended = WsClosed(self.close_code, reason, local=local)
            self._chunks, self._chunked = [], 0
            self._finished.set()

    async def _answer(self) -> None:
        """Send what this read asked for: pongs (while open), the close reply, our failing close."""
        pings, self._pings = self._pings, []
        reply, self._reply = self._reply, None
        fail, self._fail = self._fail, None
        try:
            async with self._send_lock:
                ws = self._ws
                data = b""
                if ws.state is ConnectionState.OPEN:
                    for payload in pings:
                        data += ws.send(Pong(payload=payload))
                    if fail is not None:
                        data += ws.send(fail)
                elif reply is not None and ws.state is ConnectionState.REMOTE_CLOSING:
                    data += ws.send(reply.response())
                if data:
                    await self._stream.send_all(data)
        except _TRANSPORT_ERRORS:
            self._end(CloseReason.ABNORMAL_CLOSURE, "transport lost while answering")
        if reply is not None or fail is not None:
            await self._close_transport()

    # ------------------------------------------------------------------ sending and closing
    async def send_text(self, text: str) -> None:
        """Send one text message; ``WsClosed`` when the connection is not open any more."""
        async with self._send_lock:
            if self._ws.state is not ConnectionState.OPEN:
                raise self._closed_error()
            try:
                await self._stream.send_all(self._ws.send(TextMessage(data=text)))
            except _TRANSPORT_ERRORS as error:
                self._end(CloseReason.ABNORMAL_CLOSURE, f"transport lost ({_describe(error)})")
                raise self._closed_error() from None

    def _closed_error(self) -> WsClosed:
        """A fresh ``WsClosed`` describing how the connection ended (or that it is closing)."""
        ended = self._ended
        if ended is None:
            return WsClosed(self.close_code, "closing", local=True)
        return WsClosed(ended.code, ended.reason, local=ended.local)

    async def aclose(self, code: int = CloseReason.NORMAL_CLOSURE, reason: str | None = None,
                     timeout_s: float = 5.0) -> None:
        """Close handshake within ``timeout_s`` (messages still arriving are dropped); then the transport.

        Safe to call more than once, from another task than the receiver, and under cancellation
        (the transport is closed in every case).
        """
        try:
            if self._transport_closed:
                return
            with trio.move_on_after(timeout_s):
                try:
                    async with self._send_lock:
                        if self._ws.state is ConnectionState.OPEN:
                            await self._stream.send_all(self._ws.send(CloseConnection(code=code, reason=reason)))
                except _TRANSPORT_ERRORS:
                    self._end(CloseReason.ABNORMAL_CLOSURE, "transport lost while closing")
                if self._receiving:  # the receiving task reads the answer
                    await self._finished.wait()
                else:
                    while self._ended is None:
                        await self._read_once()
                        if self._pings or self._reply is not None or self._fail is not None:
                            await self._answer()
        finally:
            self._end(code, reason or "closed by us", local=True)
            await self._close_transport()

    async def _close_transport(self) -> None:
        if self._transport_closed:
            return
        self._transport_closed = True
        self._finished.set()
        await trio.aclose_forcefully(self._stream)
