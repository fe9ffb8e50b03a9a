"""Index prices of the option markets, kept fresh in Redis and on the bus.

Each market has one configured source: a Deribit index (``btc_usdc``) or, where Deribit
has none (ARB), the index price of a Binance perpetual (``ARBUSDT`` premiumIndex
``indexPrice``). Every source polls in its own task, so a slow or failing venue never
delays another market; a failure is logged and retried on the next interval.

Contract (DESIGN.md, Redis): ``index_price:{market}`` = JSON ``{"price", "ts"}`` (ts in
Unix ms, the venue's time); bus topic ``index_price.<market>`` carries ``IndexPrice``.
"""

from __future__ import annotations

import json
import math
from typing import Any, Literal

import attrs
import trio

from adapters.http import VenueProtocolError, describe_error
from engine import keys
from engine.actor import ActorContext

Venue = Literal["deribit", "binance"]
VENUES: tuple[str, ...] = ("deribit", "binance")


@attrs.frozen
class IndexSource:
    """Where one market's index price comes from, e.g. ``("BTC", "deribit", "btc_usdc")``."""

    market: str
    venue: Venue = attrs.field(validator=attrs.validators.in_(VENUES))
    index: str

    @property
    def label(self) -> str:
        """``deribit:btc_usdc``: the ``source`` of the prices it yields."""
        return f"{self.venue}:{self.index}"


@attrs.frozen
class IndexPrice:
    """The bus message: one market's index price at the venue's time ``ts_ms``."""

    market: str
    price: float
    ts_ms: int
    source: str


class IndexPriceStale(Exception):
    """An index price too old to build anything on (raised by its consumers)."""

    def __init__(self, market: str, age_s: float, max_age_s: float) -> None:
        super().__init__(f"index price of {market} is {age_s:.1f} s old, older than the limit of {max_age_s:g} s")
        self.market, self.age_s, self.max_age_s = market, age_s, max_age_s


# --------------------------------------------------------------------------- pure parts


def age_s(price: IndexPrice, now_ms: int) -> float:
    """Seconds since the venue stamped the price (negative if its clock runs ahead)."""
    return (now_ms - price.ts_ms) / 1000.0


def is_fresh(price: IndexPrice, now_ms: int, max_age_s: float) -> bool:
    """Young enough to use; a price stamped slightly in the future (clock skew) is fresh."""
    return age_s(price, now_ms) <= max_age_s


def require_fresh(price: IndexPrice, now_ms: int, max_age_s: float) -> IndexPrice:
    """``price`` itself, or ``IndexPriceStale`` naming the market, the age and the limit."""
    if not is_fresh(price, now_ms, max_age_s):
        raise IndexPriceStale(price.market, age_s(price, now_ms), max_age_s)
    return price


def redis_value(price: IndexPrice) -> str:
    """The ``index_price:{market}`` value: ``{"price": p, "ts": ts_ms}``."""
    return json.dumps({"price": price.price, "ts": price.ts_ms}, separators=(",", ":"))


def checked_price(source: IndexSource, price: Any, ts_ms: Any) -> IndexPrice:
    """An ``IndexPrice`` from a venue's numbers, or ``VenueProtocolError`` for nonsense
    (a zero, negative or non-finite price, or no timestamp) that must never be published."""
    if isinstance(price, bool) or not isinstance(price, (int, float)) or not math.isfinite(price) or price <= 0:
        raise VenueProtocolError(source.venue, source.index, f"index price is not a positive number: {price!r}")
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, int) or ts_ms <= 0:
        raise VenueProtocolError(source.venue, source.index, f"timestamp is not Unix ms: {ts_ms!r}")
    return IndexPrice(market=source.market, price=float(price), ts_ms=ts_ms, source=source.label)


def next_tick_s(started_s: float, now_s: float, interval_s: float) -> float:
    """The next tick of the grid ``started_s + k * interval_s`` after ``now_s``: a poll
    that overran skips the ticks it missed instead of firing them in a burst."""
    ticks = math.floor((now_s - started_s) / interval_s) + 1
    return started_s + max(1, ticks) * interval_s


# --------------------------------------------------------------------------- actor


@attrs.define
class SourceStats:
    """What one source did since the actor started (tests and operators)."""

    polls: int = 0
    published: int = 0
    failures: int = 0
    malformed: int = 0


@attrs.define
class IndexPriceActor:
    """Polls every source every ``interval_s``; writes Redis and publishes on the bus."""

    sources: list[IndexSource]
    interval_s: float = attrs.field(default=5.0, validator=attrs.validators.gt(0))
    stats: dict[str, SourceStats] = attrs.field(factory=dict, init=False)

    async def run(self, ctx: ActorContext) -> None:
        started = 0
        async with trio.open_nursery() as nursery:
            for source in self.sources:
                if source.venue not in ctx.venues:
                    ctx.log.error("index_price_source_unconfigured", market=source.market, venue=source.venue,
                                  error=f"no [venues.{source.venue}] client; {source.market} gets no index price")
                    _report(ctx, source, ok=False, detail=f"venue {source.venue} is not configured")
                    continue
                self.stats[source.market] = SourceStats()
                nursery.start_soon(self._poll_forever, ctx, source)
                started += 1
            if not started:
                await trio.sleep_forever()  # nothing to poll: stay up rather than be restarted in a loop

    async def _poll_forever(self, ctx: ActorContext, source: IndexSource) -> None:
        started_s = ctx.clock.monotonic()
        while True:
            await self.poll_once(ctx, source)
            now_s = ctx.clock.monotonic()
            await ctx.clock.sleep(max(0.0, next_tick_s(started_s, now_s, self.interval_s) - now_s))

    async def poll_once(self, ctx: ActorContext, source: IndexSource) -> IndexPrice | None:
        """One poll of one source; every failure ends here, logged and counted."""
        stats = self.stats.setdefault(source.market, SourceStats())
        stats.polls += 1
        try:
            price = await fetch_index_price(ctx.venues[source.venue], source)
        except Exception as error:  # noqa: BLE001 - one source's failure must not stop the actor
            return self._failed(ctx, source, stats, error)
        ctx.store.set(keys.index_price(source.market), redis_value(price))
        await ctx.bus.publish(f"index_price.{source.market}", price)
        stats.published += 1
        _report(ctx, source, ok=True, detail=None)
        return price

    @staticmethod
    def _failed(ctx: ActorContext, source: IndexSource, stats: SourceStats, error: Exception) -> None:
        """Count and log a failed poll; the next interval simply tries again."""
        malformed = is_malformed(error)
        if malformed:
            stats.malformed += 1
        else:
            stats.failures += 1
        ctx.log.warning("index_price_failed", market=source.market, venue=source.venue, index=source.index,
                        malformed=malformed, error=describe_error(error))
        _report(ctx, source, ok=False, detail=describe_error(error))


def is_malformed(error: BaseException) -> bool:
    """The venue answered nonsense (now, or on every retry) rather than failing to answer."""
    return isinstance(error, VenueProtocolError) or isinstance(error.__cause__, VenueProtocolError)


async def fetch_index_price(client: Any, source: IndexSource) -> IndexPrice:
    """Ask the source's venue client (``DeribitRest`` or ``BinancePublic``)."""
    if source.venue == "deribit":
        quote = await client.get_index_price(source.index)
        return checked_price(source, quote.price, quote.ts_ms)
    premium = await client.premium_index(source.index)
    return checked_price(source, premium.index_price, premium.ts_ms)


def _report(ctx: ActorContext, source: IndexSource, ok: bool, detail: str | None) -> None:
    """Show the market's index price state in /health when the runtime offers it."""
    report = getattr(ctx, "report", None)
    if report is not None:
        report(f"index_price:{source.market}", ok, detail)
