"""BookFeedActor: the order books of the market-making pairs onto the bus and into Redis.

Two modes, chosen per actor (one actor per mode and venue, carrying every symbol of it):

- ``stream``: ONE combined Binance partial-depth connection (``<symbol>@depth20@100ms``
  for every symbol, ``adapters.binance.streams.DepthStream``). Each ``DepthBook`` becomes
  the strategy's ``ladders.Book`` (Decimal levels, ``ts_ms`` = the venue's event time),
  published on ``book_topic(venue, symbol)``, and its JSON document is set on
  ``orderbook:{venue}:{symbol}`` for other services (the store coalesces: only the latest
  book of a flush reaches Redis). A connection that sends nothing for
  ``watchdog_silence_s`` is ended (a stream can go silent without closing); every end of
  a connection leads to a new one after a capped exponential backoff with jitter, reset
  once a connection delivered a book.
- ``redis``: the seed's way, another service writes the book. Every ``redis_poll_s`` the
  actor reads ``orderbook:{venue}:{symbol}`` of each symbol (one GET per symbol: the keys
  carry different hash tags, so one MGET would not work on Redis Cluster), parses the same
  document shape and publishes when its ``ts`` changed. A malformed document is counted
  and skipped, never fatal; a missing key publishes nothing, so the strategy's stale-book
  rule pulls the quotes by itself.

Subscribers take the latest book only: ``subscribe_book`` (CONFLATE, one key per topic).
Health: component ``book:{venue}``. Counters for tests and operators: ``books`` (published),
``reconnects``, ``stalls``, ``skipped`` (stream messages or books that could not be used),
``malformed`` (redis documents), ``store_errors``; ``last_ts_ms`` per symbol.
"""

from __future__ import annotations

import json
import random
from collections.abc import Mapping
from typing import Any, Literal

import attrs
import trio
from trio_websocket import HandshakeError

from actors.marketmaker.ladders import Book
from adapters.binance.streams import DEPTH_LEVELS, DepthBook, DepthStream
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable, backoff_delay_s
from engine import keys
from engine.bus import Overflow
from engine.store import StoreUnavailable

Mode = Literal["stream", "redis"]
MODES = ("stream", "redis")
SPEEDS_MS = (100, 250, 500)
# Errors a new connection may cure; anything else is logged loudly and retried the same way.
STREAM_ERRORS = (OSError, HandshakeError, VenueUnavailable, VenueProtocolError, VenueHttpError,
                 trio.BrokenResourceError)


def book_topic(venue: str, symbol: str) -> str:
    """The bus topic of one symbol's book at one venue: ``book.binance.BTCUSDT``."""
    return f"book.{venue}.{symbol}"


def subscribe_book(bus: Any, venue: str, symbol: str, maxlen: int = 1) -> Any:
    """A subscription holding only the latest book of ``symbol`` (CONFLATE, one key)."""
    return bus.subscribe(book_topic(venue, symbol), maxlen=maxlen, overflow=Overflow.CONFLATE,
                         key=lambda _book: symbol)


# --------------------------------------------------------------------------- pure conversions


def book_from_depth(depth: DepthBook) -> Book:
    """The strategy's book from a stream message; ValueError for a crossed or locked book."""
    return Book(depth.bids, depth.asks, depth.event_ms)


def _document_levels(raw: Any, side: str) -> list[tuple[Any, Any]]:
    if not isinstance(raw, list):
        raise ValueError(f"{side} must be a list, got {type(raw).__name__}")
    rows = []
    for row in raw:
        if not isinstance(row, list) or len(row) != 2 or not all(isinstance(v, (str, int, float)) for v in row):
            raise ValueError(f"a {side} level must be [price, qty], got {row!r:.60}")
        rows.append((row[0], row[1]))
    return rows


def book_from_document(text: str | bytes) -> Book:
    """The strategy's book from an ``orderbook:{venue}:{symbol}`` document (pure).

    Shape: ``{"bids": [[price, qty], ...], "asks": [...], "ts": event ms}`` with prices and
    quantities as strings (numbers are accepted too); other fields are ignored. ValueError
    for anything else: not JSON, missing fields, bad levels, levels out of order, a crossed book.
    """
    try:
        document = json.loads(text)
    except (ValueError, TypeError) as error:
        raise ValueError(f"not JSON: {error}") from None
    if not isinstance(document, Mapping):
        raise ValueError("not a JSON object")
    ts_ms = document.get("ts")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or ts_ms < 0:
        raise ValueError(f"ts must be a non-negative integer (ms), got {ts_ms!r:.40}")
    return Book(_document_levels(document.get("bids"), "bids"), _document_levels(document.get("asks"), "asks"), ts_ms)


# --------------------------------------------------------------------------- the actor


def _symbols(value: Any) -> tuple[str, ...]:
    if isinstance(value, str):
        value = (value,)
    out = tuple(dict.fromkeys(str(s).upper() for s in value))
    if not out or not all(out):
        raise ValueError("BookFeedActor needs at least one non-empty symbol")
    return out


@attrs.define(eq=False)
class BookFeedActor:
    """The books of ``symbols`` at ``venue``; see the module docstring."""

    symbols: tuple[str, ...] = attrs.field(converter=_symbols)
    mode: Mode = attrs.field(validator=attrs.validators.in_(MODES))
    venue: str = "binance"
    levels: int = attrs.field(default=20, validator=attrs.validators.in_(DEPTH_LEVELS))
    speed_ms: int = attrs.field(default=100, validator=attrs.validators.in_(SPEEDS_MS))
    watchdog_silence_s: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    backoff_initial_s: float = attrs.field(default=0.5, validator=attrs.validators.gt(0))
    backoff_max_s: float = attrs.field(default=15.0, validator=attrs.validators.gt(0))
    redis_poll_s: float = attrs.field(default=0.1, validator=attrs.validators.gt(0))
    ws_url: str = ""  # stream mode: the venue's websocket base, e.g. wss://fstream.binance.com
    jitter_seed: int | None = None

    books: int = attrs.field(init=False, default=0)
    reconnects: int = attrs.field(init=False, default=0)
    stalls: int = attrs.field(init=False, default=0)
    skipped: int = attrs.field(init=False, default=0)
    malformed: int = attrs.field(init=False, default=0)
    store_errors: int = attrs.field(init=False, default=0)
    connections: int = attrs.field(init=False, default=0)
    last_ts_ms: dict[str, int] = attrs.field(init=False, factory=dict)
    last_error: str | None = attrs.field(init=False, default=None)
    _rng: random.Random = attrs.field(init=False)

    @_rng.default
    def _make_rng(self) -> random.Random:
        return random.Random(self.jitter_seed)

    def __attrs_post_init__(self) -> None:
        if self.mode == "stream":
            if not self.ws_url:
                raise ValueError("BookFeedActor(mode='stream') needs ws_url")
            if self.venue != "binance":
                raise ValueError(f"stream mode speaks the Binance depth stream, not venue {self.venue!r}")

    @property
    def component(self) -> str:
        return f"book:{self.venue}"

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name, venue=self.venue, mode=self.mode, symbols=len(self.symbols))
        if self.mode == "stream":
            await self._run_stream(ctx, log)
        else:
            await self._run_redis(ctx, log)

    async def _pause(self, ctx: Any, delay_s: float) -> None:
        with trio.move_on_after(delay_s):  # leave early when asked to stop
            await ctx.stopping.wait()

    # ---- stream mode ---------------------------------------------------------------------

    async def _run_stream(self, ctx: Any, log: Any) -> None:
        failures = 0
        ctx.report(self.component, False, f"connecting for {len(self.symbols)} symbols")
        while not ctx.stopping.is_set():
            books_before = self.books
            detail = await self._session(ctx, log)
            if self.books > books_before:
                failures = 0  # this connection streamed: the next drop starts the backoff afresh
            delay_s = backoff_delay_s(failures, self.backoff_initial_s, self.backoff_max_s, self._rng.random())
            failures += 1
            self.last_error = detail
            ctx.report(self.component, False, f"reconnecting in {delay_s:.1f}s: {detail}")
            log.warning("book_feed_reconnect_scheduled", reason=detail, delay_s=round(delay_s, 3), failures=failures)
            await self._pause(ctx, delay_s)
            if not ctx.stopping.is_set():
                self.reconnects += 1

    async def _session(self, ctx: Any, log: Any) -> str:
        """One connection from connect to its end; the detail of how it ended."""
        stream = DepthStream(self.ws_url, self.symbols, levels=self.levels, speed_ms=self.speed_ms)
        skipped_before = self.skipped
        try:
            async with stream.connect():
                self.connections += 1
                log.info("book_feed_connected", connection=self.connections)
                return await self._stream(ctx, stream, log, skipped_before)
        except STREAM_ERRORS as error:
            return f"{type(error).__name__}: {error}"
        except Exception as error:  # a bug here or in a library: logged loudly, then the capped backoff
            log.exception("book_feed_session_failed", error=f"{type(error).__name__}: {error}")
            return f"unexpected {type(error).__name__}: {error}"
        finally:
            self.skipped = max(self.skipped, skipped_before + stream.skipped)

    async def _stream(self, ctx: Any, stream: DepthStream, log: Any, skipped_before: int) -> str:
        """Convert, publish and store each book until the connection ends or goes silent.

        The watchdog is one cancel scope for the connection, its deadline moved before each
        read; publishing and storing are synchronous, so they never count as silence.
        """
        wanted = frozenset(self.symbols)
        publish, store_set, time_ms = ctx.bus.publish_nowait, ctx.store.set, ctx.clock.time_ms
        topics = {s: book_topic(self.venue, s) for s in self.symbols}
        store_keys = {s: keys.orderbook(self.venue, s) for s in self.symbols}
        own_skips = 0
        streamed = False
        silence_s = self.watchdog_silence_s
        with trio.CancelScope() as watchdog:
            iterator = stream.__aiter__()
            while True:
                watchdog.deadline = trio.current_time() + silence_s
                depth = await iterator.__anext__()  # VenueUnavailable when the connection closes
                try:
                    if depth.symbol not in wanted:
                        raise ValueError(f"unexpected symbol {depth.symbol!r}")
                    book = book_from_depth(depth)
                except ValueError as error:
                    own_skips += 1
                    log.warning("book_skipped", symbol=depth.symbol, reason=str(error))
                else:
                    publish(topics[depth.symbol], book)
                    store_set(store_keys[depth.symbol], json.dumps(depth.to_json(time_ms()), separators=(",", ":")))
                    self.books += 1
                    self.last_ts_ms[depth.symbol] = depth.event_ms
                    if not streamed:
                        streamed = True
                        ctx.report(self.component, True, f"streaming {len(self.symbols)} symbols")
                        log.info("book_feed_streaming", connection=self.connections)
                self.skipped = skipped_before + stream.skipped + own_skips
        self.stalls += 1
        log.warning("book_feed_stalled", silence_s=silence_s)
        return f"no data for {silence_s:g}s"

    # ---- redis mode ----------------------------------------------------------------------

    async def _run_redis(self, ctx: Any, log: Any) -> None:
        store_keys = {s: keys.orderbook(self.venue, s) for s in self.symbols}
        last_text: dict[str, str | None] = {}  # the document last looked at, to parse each once
        bad: set[str] = set()
        reported: tuple[bool, str] | None = None
        while not ctx.stopping.is_set():
            store_error = None
            for symbol, key in store_keys.items():
                try:
                    text = await ctx.store.get(key)
                except StoreUnavailable as error:
                    self.store_errors += 1
                    store_error = str(error)
                    break
                if text is None or text == last_text.get(symbol):
                    continue
                last_text[symbol] = text
                try:
                    book = book_from_document(text)
                except ValueError as error:
                    self.malformed += 1
                    bad.add(symbol)
                    log.warning("book_document_malformed", symbol=symbol, key=key, reason=str(error))
                    continue
                bad.discard(symbol)
                if self.last_ts_ms.get(symbol) == book.ts_ms:
                    continue
                self.last_ts_ms[symbol] = book.ts_ms
                ctx.bus.publish_nowait(book_topic(self.venue, symbol), book)
                self.books += 1
            state = self._redis_health(store_error, bad)
            if state != reported:
                reported = state
                ctx.report(self.component, *state)
                if store_error is not None:
                    log.warning("book_feed_store_unavailable", error=store_error)
            await self._pause(ctx, self.redis_poll_s)

    def _redis_health(self, store_error: str | None, bad: set[str]) -> tuple[bool, str]:
        if store_error is not None:
            return False, f"redis unavailable: {store_error}"
        missing = [s for s in self.symbols if s not in self.last_ts_ms]
        problems = []
        if missing:
            problems.append(f"no book yet for {', '.join(missing)}")
        if bad:
            problems.append(f"malformed book for {', '.join(sorted(bad))}")
        if problems:
            return False, "; ".join(problems)
        return True, f"reading {len(self.symbols)} symbols from redis"


__all__ = ["BookFeedActor", "book_from_depth", "book_from_document", "book_topic", "subscribe_book"]
