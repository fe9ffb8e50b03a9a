"""One Dhan market-feed connection (a shard of the plan): stream, watch, reconnect, resubscribe.

``WsShardActor`` owns one connection for its instruments (one shard of ``plan_shards``).
Per connection it subscribes exactly its instruments (the feed class batches <= 100 per
message), turns the price rows of every socket read (all the frames that read completed,
``DhanFeedConnection.receive_prices``) into ONE bus message, a tuple of ``TickUpdate`` on
``topic``, and ends the connection when nothing arrived for ``watchdog_silence_s`` (a Dhan
feed can go silent without closing). Paying per read instead of per frame is what makes
the path fast: one publish, one wake-up of the consumer, one watchdog deadline move per
read, however many frames it held (DESIGN.md, Stack notes). Every end of a connection
leads to a new one, after a delay:

- a drop, a stall or an unreachable feed: capped exponential backoff with jitter, reset
  once a connection streamed a frame;
- ``DhanTooManyConnections`` (HTTP 429 / reason 805: the 5-connection cap is used up):
  a long delay, never shorter than ``backoff_max_s``, so a sixth shard never spins;
- ``DhanTokenExpired`` / ``DhanAuthError``: no retry can help. The actor reports
  ``dhan_feed:<shard>`` not ok, logs an error and *parks* until ``ctx.stopping``: it
  neither returns (a PERMANENT child would be restarted at once and hit the venue with
  the dead token again) nor raises (the supervisor would crash-loop). Renewing the token
  means restarting this child with a factory that builds connections from the new token.

The runtime or a test hands the actor a ``connect`` factory returning a fresh
``DhanFeedConnection`` (give that connection a logger bound with ``shard=``), so the venue
URL and token stay with whoever builds it; price rows are plain tuples (no adapter type is
needed to read them), and errors are the Dhan adapter's exception classes. Nothing logged
here carries the access token: the feed URL never reaches this module and error texts hold
no token.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

import attrs
import trio

from actors.optionchain.inputs import TickUpdate
from adapters.dhan.errors import (
    DhanAuthError, DhanError, DhanRateLimited, DhanTokenExpired, DhanTooManyConnections,
)
from adapters.http import VenueHttpError, VenueProtocolError, VenueUnavailable

Token = tuple[str, int]  # (Dhan exchange segment name, security id)

FATAL = "fatal"  # token expired / auth: stop reconnecting
TOO_MANY = "too_many"  # connection cap used up: long backoff
RETRY = "retry"  # anything else a new connection may cure
# Errors a new connection may cure (or that decide the backoff); anything else is a bug.
FEED_ERRORS = (DhanError, VenueProtocolError, VenueHttpError, VenueUnavailable, trio.BrokenResourceError)


# One row of ``DhanFeedConnection.receive_prices``: (segment, security id, ltp, bid, ask, volume).
PriceRow = tuple[str, int, float, float | None, float | None, int | None]


class FeedConnection(Protocol):
    """What the actor uses of ``adapters.dhan.feed.DhanFeedConnection``.

    ``receive_prices`` returns the price rows of one read (possibly empty when its packets
    carried no price), raises the adapter's errors when the connection ends and
    ``trio.EndOfChannel`` after a close asked for on our side. ``stats.frames`` counts the
    binary frames decoded.
    """

    stats: Any

    def connect(self) -> AbstractAsyncContextManager[Any]: ...

    async def subscribe(self, instruments: Sequence[Token], request_code: int = ...) -> int: ...

    async def receive_prices(self) -> list[PriceRow]: ...


# --------------------------------------------------------------------------- pure rules


# The feed sends prices as float32 (about 7 significant digits): 118.4 arrives as
# 118.40000152587890625. Rounding to the segment's price precision (paise; currency pairs
# quote 4 places) gives back the price the exchange printed, up to ~131,000 where float32
# steps grow past half a paisa. NaN and infinities pass through (the merge drops them).
PRICE_PLACES = 2
CURRENCY_PLACES = 4
CURRENCY_SEGMENTS = frozenset({"NSE_CURRENCY", "BSE_CURRENCY"})


def packets_to_updates(packets: Iterable[Any], now_ms: int = 0) -> list[TickUpdate]:
    """The price updates of one frame, in packet order (pure).

    Ticker (and index value) → ``ltp``; quote → ``ltp`` + ``volume``; full → ``ltp``,
    ``volume`` and the best bid/ask (depth level 0; a 0 price is an empty side and is kept).
    Prev-close, OI, market-status and disconnect packets carry no tick and are skipped.
    Packets are recognised by their fields (``depth`` / ``volume`` / ``ltp``), so this module
    needs no adapter import. ``ts_ms`` is the receive time ``now_ms``: the packet's
    last-trade time can be minutes old for an illiquid leg whose quote is fresh.
    """
    updates: list[TickUpdate] = []
    for packet in packets:
        ltp = getattr(packet, "ltp", None)
        if ltp is None:
            continue
        sid, segment = packet.security_id, packet.segment
        places = CURRENCY_PLACES if segment in CURRENCY_SEGMENTS else PRICE_PLACES
        ltp = round(ltp, places)
        depth = getattr(packet, "depth", None)
        volume = getattr(packet, "volume", None)
        if depth is not None:
            top = depth[0] if depth else None
            updates.append(TickUpdate(sid, ltp, bid=round(top.bid_price, places) if top is not None else None,
                                      ask=round(top.ask_price, places) if top is not None else None,
                                      volume=volume, ts_ms=now_ms, segment=segment))
        elif volume is not None:
            updates.append(TickUpdate(sid, ltp, volume=volume, ts_ms=now_ms, segment=segment))
        else:
            updates.append(TickUpdate(sid, ltp, ts_ms=now_ms, segment=segment))
    return updates


def rows_to_updates(rows: Iterable[PriceRow], now_ms: int) -> tuple[TickUpdate, ...]:
    """The ``TickUpdate`` of each price row of one read, in order; ``ts_ms`` is the receive time (pure).

    Equal to ``packets_to_updates`` of the same frames decoded as packets (the unit tests hold
    them equal). Rows then ``TickUpdate``s, rather than a ``TickUpdate`` factory handed to the
    decoder: measured within 3 % of each other, and the adapter keeps no actor type.
    """
    out = []
    for segment, sid, ltp, bid, ask, volume in rows:
        places = CURRENCY_PLACES if segment in CURRENCY_SEGMENTS else PRICE_PLACES
        out.append(TickUpdate(sid, round(ltp, places), None if bid is None else round(bid, places),
                              None if ask is None else round(ask, places), volume, now_ms, segment))
    return tuple(out)


def backoff_delay(failures: int, initial_s: float, max_s: float, rand: float, jitter: float = 0.5) -> float:
    """Delay before reconnect number ``failures`` (0 = first after a good connection) (pure).

    ``min(max_s, initial_s * 2**failures)`` shrunk by up to ``jitter`` of itself
    (``rand`` in [0, 1)), so shards dropped together do not reconnect in lockstep.
    """
    exponent = min(max(failures, 0), 62)
    base = min(max_s, initial_s * math.pow(2.0, exponent))
    return base * (1.0 - jitter * min(max(rand, 0.0), 1.0))


def too_many_delay(max_s: float, rand: float, jitter: float = 0.5) -> float:
    """Delay after the venue refused a connection over the cap: ``max_s`` up to ``max_s * 1.5`` (pure).

    Another process (or a connection the venue has not released yet) holds the slot; it
    frees up on the scale of the server's 40 s keepalive, not of a fast retry.
    """
    return max_s * (1.0 + jitter * min(max(rand, 0.0), 1.0))


def error_kind(error: BaseException) -> str:
    """FATAL / TOO_MANY / RETRY for a feed error (pure)."""
    if isinstance(error, (DhanTokenExpired, DhanAuthError)):
        return FATAL
    if isinstance(error, (DhanTooManyConnections, DhanRateLimited)):
        return TOO_MANY
    return RETRY


# --------------------------------------------------------------------------- the actor


@attrs.define(eq=False)
class WsShardActor:
    """One feed connection carrying ``instruments``; see the module docstring.

    Counters (read by tests and metrics): ``connect_attempts``, ``connections`` (subscribed
    successfully), ``frames`` (binary websocket frames in the reads that brought feed data),
    ``reads`` (socket reads that brought feed data: at most one bus message each; a read
    that ends in a disconnect packet with nothing before it is neither),
    ``updates`` (``TickUpdate``s published), ``reconnects``, ``stalls``, ``refused``
    (too-many-connections answers), ``subscribed`` (instruments on the live connection, 0
    when down). ``halted`` is set once a token/auth error stopped the reconnecting.
    Health ``dhan_feed:<shard>`` turns ok ("streaming N instruments") at the first data of a
    connection (the venue accepts a bad token and disconnects it afterwards), not ok on any end.
    """

    shard: int
    instruments: tuple[Token, ...] = attrs.field(converter=tuple)
    connect: Callable[[], FeedConnection]
    request_code: int = 21
    watchdog_silence_s: float = 15.0
    backoff_initial_s: float = 1.0
    backoff_max_s: float = 30.0
    topic: str = "dhan.ticks"
    jitter_seed: int | None = None

    connect_attempts: int = attrs.field(init=False, default=0)
    connections: int = attrs.field(init=False, default=0)
    frames: int = attrs.field(init=False, default=0)
    reads: int = attrs.field(init=False, default=0)
    updates: int = attrs.field(init=False, default=0)
    reconnects: int = attrs.field(init=False, default=0)
    stalls: int = attrs.field(init=False, default=0)
    refused: int = attrs.field(init=False, default=0)
    subscribed: int = attrs.field(init=False, default=0)
    halted: trio.Event = attrs.field(init=False, factory=trio.Event)
    last_error: str | None = attrs.field(init=False, default=None)
    _rng: random.Random = attrs.field(init=False)

    @_rng.default
    def _make_rng(self) -> random.Random:
        return random.Random(self.jitter_seed)

    @property
    def component(self) -> str:
        return f"dhan_feed:{self.shard}"

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name, shard=self.shard)
        failures = 0
        while not ctx.stopping.is_set():
            self.connect_attempts += 1
            reads_before = self.reads
            kind, detail = await self._session(ctx, log)
            self.subscribed = 0
            if self.reads > reads_before:
                failures = 0  # this connection streamed: the next drop starts the backoff afresh
            if kind == FATAL:
                self.last_error = detail
                ctx.report(self.component, False, f"token expired: {detail}")
                log.error("feed_halted", reason=detail, instruments=len(self.instruments),
                          hint="renew the Dhan access token and restart this actor")
                self.halted.set()
                await ctx.stopping.wait()  # park: a return would be restarted into the same error
                return
            if kind == TOO_MANY:
                self.refused += 1
                delay = too_many_delay(self.backoff_max_s, self._rng.random())
            else:
                delay = backoff_delay(failures, self.backoff_initial_s, self.backoff_max_s, self._rng.random())
            failures += 1
            self.last_error = detail
            ctx.report(self.component, False, f"reconnecting in {delay:.1f}s: {detail}")
            log.warning("feed_reconnect_scheduled", reason=detail, kind=kind, delay_s=round(delay, 3),
                        failures=failures)
            with trio.move_on_after(delay):  # leave early when asked to stop
                await ctx.stopping.wait()
            if not ctx.stopping.is_set():
                self.reconnects += 1

    async def _session(self, ctx: Any, log: Any) -> tuple[str, str]:
        """One connection from connect to its end: (kind, detail) of how it ended."""
        feed = self.connect()
        try:
            async with feed.connect():
                await feed.subscribe(self.instruments, self.request_code)
                self.connections += 1
                self.subscribed = len(self.instruments)
                log.info("feed_subscribed", instruments=self.subscribed, request_code=self.request_code,
                         connection=self.connections)
                return await self._stream(ctx, feed, log)
        except OSError as error:
            return RETRY, f"{type(error).__name__}: {error}"
        except FEED_ERRORS as error:
            return error_kind(error), str(error)
        except Exception as error:  # a bug here or in a library: logged loudly, then the capped backoff
            log.exception("feed_session_failed", error=f"{type(error).__name__}: {error}")
            return RETRY, f"unexpected {type(error).__name__}: {error}"

    async def _stream(self, ctx: Any, feed: FeedConnection, log: Any) -> tuple[str, str]:
        """Read, convert, publish until the connection ends; (kind, detail) of the end.

        The watchdog is one cancel scope for the whole connection: its deadline is moved to
        ``now + watchdog_silence_s`` before each read and lifted while the read's updates are
        published (a publish blocked by a slow consumer is not silence of the feed).
        """
        receive, stats = feed.receive_prices, feed.stats
        time_ms, publish, topic = ctx.clock.time_ms, ctx.bus.publish, self.topic
        silence_s = self.watchdog_silence_s
        streamed = False
        with trio.CancelScope() as watchdog:
            while True:
                watchdog.deadline = trio.current_time() + silence_s
                frames_before = stats.frames
                try:
                    rows = await receive()
                except trio.EndOfChannel:
                    return RETRY, "feed closed"
                watchdog.deadline = math.inf
                self.frames += stats.frames - frames_before
                if not streamed:  # healthy once data flows: a bad token is accepted, then disconnected
                    streamed = True
                    ctx.report(self.component, True, f"streaming {self.subscribed} instruments")
                    log.info("feed_streaming", instruments=self.subscribed, connection=self.connections)
                self.reads += 1
                if rows:
                    updates = rows_to_updates(rows, time_ms())
                    self.updates += len(updates)
                    await publish(topic, updates)
        self.stalls += 1
        log.warning("feed_stalled", silence_s=silence_s, instruments=self.subscribed)
        return RETRY, f"no data for {silence_s:g}s"
