"""Binance USDⓈ-M partial-depth streams: ``<symbol>@depth<N>@100ms`` over one combined connection.

The partial book stream pushes the whole top N every 100 ms, so a consumer never has to
rebuild a book from diffs: each message replaces the last (and a dropped message costs
nothing but 100 ms). Prices and quantities stay ``Decimal`` (they arrive as strings), so
nothing is lost before the strategy rounds to the exchange grid. Decoding is pure
(``depth_from``); ``DepthStream`` is the shell.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from decimal import Decimal, InvalidOperation
from typing import Any

import attrs
from trio_websocket import ConnectionClosed, HandshakeError, open_websocket_url

from adapters.http import VenueProtocolError, VenueUnavailable, excerpt

VENUE = "binance"
DEPTH_LEVELS = (5, 10, 20)
Level = tuple[Decimal, Decimal]


@attrs.frozen
class DepthBook:
    """Top of one symbol's book, best first; ``event_ms`` is the venue's event time."""

    symbol: str
    bids: tuple[Level, ...]
    asks: tuple[Level, ...]
    event_ms: int
    update_id: int

    def to_json(self, received_ms: int) -> dict[str, Any]:
        """The ``orderbook:{venue}:{symbol}`` document: prices and sizes as strings, as Binance sends them."""
        return {"symbol": self.symbol, "bids": [[str(p), str(q)] for p, q in self.bids],
                "asks": [[str(p), str(q)] for p, q in self.asks], "ts": self.event_ms, "received_ts": received_ms,
                "u": self.update_id}


def _levels(raw: Any, what: str, side: str) -> tuple[Level, ...]:
    if not isinstance(raw, list):
        raise VenueProtocolError(VENUE, what, f"{side} is not a list")
    out = []
    for entry in raw:
        try:
            price, qty = Decimal(entry[0]), Decimal(entry[1])
        except (TypeError, IndexError, KeyError, InvalidOperation, ValueError):  # Decimal([1]) is a ValueError
            raise VenueProtocolError(VENUE, what, f"bad {side} level {excerpt(str(entry))!r}") from None
        if not (price.is_finite() and qty.is_finite()) or price <= 0 or qty < 0:
            raise VenueProtocolError(VENUE, what, f"bad {side} level {excerpt(str(entry))!r}")
        out.append((price, qty))
    return tuple(out)


def depth_from(message: Any) -> DepthBook:
    """A ``depthUpdate`` message (raw or wrapped in a combined stream's ``{"stream", "data"}``)."""
    what = "depth stream"
    data = message.get("data", message) if isinstance(message, dict) else message
    if not isinstance(data, dict) or data.get("e") != "depthUpdate":
        raise VenueProtocolError(VENUE, what, f"not a depthUpdate: {excerpt(str(message))!r}")
    symbol, event_ms, update_id = data.get("s"), data.get("E"), data.get("u")
    if not isinstance(symbol, str) or not symbol:
        raise VenueProtocolError(VENUE, what, "symbol missing")
    for name, value in (("E", event_ms), ("u", update_id)):
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise VenueProtocolError(VENUE, what, f"{name} is not an integer: {value!r}")
    bids, asks = _levels(data.get("b"), what, "bids"), _levels(data.get("a"), what, "asks")
    if any(b[0] <= a[0] for b, a in zip(bids, bids[1:])) or any(a[0] >= b[0] for a, b in zip(asks, asks[1:])):
        raise VenueProtocolError(VENUE, what, "levels out of order")
    return DepthBook(symbol, bids, asks, event_ms, update_id)


def depth_from_text(text: str | bytes) -> DepthBook:
    """One stream frame as received; anything unreadable (not JSON, nested too deeply, not a
    depthUpdate) is a ``VenueProtocolError``, so a bad frame is skipped, never fatal."""
    try:
        message = json.loads(text)
    except (ValueError, RecursionError) as error:  # JSONDecodeError and bad unicode are ValueErrors
        reason = getattr(error, "msg", None) or type(error).__name__
        raise VenueProtocolError(VENUE, "depth stream", f"malformed JSON ({reason})") from None
    return depth_from(message)


def combined_url(ws_url: str, symbols: Sequence[str], levels: int = 20, speed_ms: int = 100) -> str:
    """``{ws_url}/stream?streams=btcusdt@depth20@100ms/...`` (stream names are lower case)."""
    if levels not in DEPTH_LEVELS:
        raise ValueError(f"levels must be one of {DEPTH_LEVELS}, got {levels}")
    if speed_ms not in (100, 250, 500):
        raise ValueError(f"speed_ms must be 100, 250 or 500, got {speed_ms}")
    if not symbols:
        raise ValueError("at least one symbol")
    names = "/".join(f"{s.lower()}@depth{levels}@{speed_ms}ms" for s in sorted(set(symbols)))
    return f"{ws_url.rstrip('/')}/stream?streams={names}"


class DepthStream:
    """One combined connection for ``symbols``; iterate for ``DepthBook``s. Malformed messages
    are counted in ``skipped`` and skipped; a closed connection raises ``VenueUnavailable``."""

    def __init__(self, ws_url: str, symbols: Sequence[str], *, levels: int = 20, speed_ms: int = 100,
                 connect_timeout_s: float = 10.0) -> None:
        self.url = combined_url(ws_url, symbols, levels, speed_ms)
        self.connect_timeout_s = connect_timeout_s
        self.skipped = 0
        self._ws: Any = None

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[DepthStream]:
        try:
            async with open_websocket_url(self.url, connect_timeout=self.connect_timeout_s) as ws:
                self._ws = ws
                try:
                    yield self
                finally:
                    self._ws = None
        except HandshakeError as error:
            raise VenueUnavailable(VENUE, "depth stream", 1, f"cannot connect: {error}") from None

    def __aiter__(self) -> DepthStream:
        return self

    async def __anext__(self) -> DepthBook:
        while True:
            try:
                text = await self._ws.get_message()
            except ConnectionClosed as closed:
                raise VenueUnavailable(VENUE, "depth stream", 1, f"closed: {closed.reason}") from None
            try:
                return depth_from_text(text)
            except VenueProtocolError:
                self.skipped += 1
