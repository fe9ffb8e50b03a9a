"""MarketMakerActor: one trading pair's near and far quote ladders on a venue (paper or Binance).

Each round: the latest book (a stale one pulls the near quotes), the ladder around its mid
(rounded to the exchange grid, never crossing the book, inside the position limit), the
seed's refresh rule (keep what is within the diff rate, or replace everything on a forced
round), inside the order-rate budget; new orders are placed first (asks and bids mixed in
batches of at most 5), recorded, and only then the replaced ones cancelled (at most 10 a
batch). Open orders are reconciled with the venue at start (orphans of earlier runs are
cancelled), at every round, and after every error or unknown outcome; an error cancels the
pair's near orders; a far round that fails part-way rolls back what it placed. On shutdown
(and on an escalation, which stops the engine) every order of the pair is cancelled within a
bounded time and whatever remains is reported. State for operators and restarts goes to
``mm:{pair}:orders`` and ``mm:{pair}:status``; the API and the operator pages ask the actor itself
for a ``MarketMakerView`` (quotes, position, the fills the venue reported, and the state texts it
would write now: ``actors.marketmaker.fills``), so they answer while Redis is down.

The venue is anything with the order methods of ``adapters.binance.signed.BinanceSigned``
(``place_batch``, ``cancel_batch``, ``cancel_all``, ``open_orders``) and ``position(symbol)``;
``adapters.paper.PaperVenue`` is one.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import attrs
import trio

from actors.marketmaker.batches import OrderRateBudget, plan_within
from actors.marketmaker.book_feed import subscribe_book
from actors.marketmaker.client_ids import ClientIdFactory, run_id_from_ms
from actors.marketmaker.fills import VIEW_QUEUE, MarketMakerView, RecentFills, fill_record, view_topic
from actors.marketmaker.ladders import (
    Book, Quote, SymbolRules, apply_position_limit, far_ladder, filter_crossing, near_ladder,
)
from actors.marketmaker.params import PairParams
from actors.marketmaker.refresh import LiveOrder, RefreshPlan, plan_refresh, rounds_after
from adapters.binance.orders import NewOrder  # the order value both venues take
from adapters.paper import PaperVenue
from engine import keys
from engine.bus import Overflow
from engine.requests import Ask

SHUTDOWN_CANCEL_TIMEOUT_S = 5.0
POSITION_MAX_AGE_S = 30.0  # the venue's position is asked for at least this often


@attrs.define(eq=False)
class MarketMakerActor:
    """See the module docstring. Counters for tests: ``rounds``, ``placed``, ``cancelled``, ``rejected``,
    ``pulls`` (rounds that pulled quotes for a stale book), ``rollbacks``, ``errors``."""

    params: PairParams
    venue_key: str = "binance_orders"  # the order venue in ctx.venues, unless ``venue`` is given
    venue: Any = None  # e.g. a PaperVenue the service built for this pair
    rules: SymbolRules | None = None  # None: from the venue's exchangeInfo at start
    book_venue: str = "binance"
    run_id: str | None = None
    shutdown_timeout_s: float = SHUTDOWN_CANCEL_TIMEOUT_S
    stop_gracefully = True

    live: dict[str, LiveOrder] = attrs.field(init=False, factory=dict)
    book: Book | None = attrs.field(init=False, default=None)
    rounds_since_force: int = attrs.field(init=False, default=0)
    rounds: int = attrs.field(init=False, default=0)
    placed: int = attrs.field(init=False, default=0)
    cancelled: int = attrs.field(init=False, default=0)
    rejected: int = attrs.field(init=False, default=0)
    pulls: int = attrs.field(init=False, default=0)
    rollbacks: int = attrs.field(init=False, default=0)
    errors: int = attrs.field(init=False, default=0)
    remaining_after_stop: int | None = attrs.field(init=False, default=None)
    position: Decimal | None = attrs.field(init=False, default=None)  # as the venue last reported it
    fills: RecentFills = attrs.field(init=False, factory=RecentFills)  # as the venue reported them
    _ids: ClientIdFactory | None = attrs.field(init=False, default=None)
    _budget: OrderRateBudget | None = attrs.field(init=False, default=None)
    _in_flight: dict[str, Quote] = attrs.field(init=False, factory=dict)  # the batch being placed, by client id
    _position_due: bool = attrs.field(init=False, default=True)
    _position_at_s: float = attrs.field(init=False, default=float("-inf"))

    @property
    def symbol(self) -> str:
        return self.params.symbol

    @property
    def component(self) -> str:
        return f"mm:{self.symbol}"

    async def run(self, ctx: Any) -> None:
        log = ctx.log.bind(actor=ctx.name, pair=self.symbol)
        if self.venue is None and self.params.venue == "paper":
            self.venue = PaperVenue(ctx.clock, owner=f"paper-{self.symbol}")
        venue = self.venue if self.venue is not None else ctx.venues.get(self.venue_key)
        if venue is None:
            ctx.report(self.component, False, f"no order venue {self.venue_key!r}: set the Binance API credentials")
            log.error("mm_no_venue", venue=self.venue_key)
            await ctx.stopping.wait()
            return
        if self.rules is None:
            self.rules = await self._symbol_rules(ctx)
        if isinstance(venue, PaperVenue):
            rules = self.rules
            venue.add_symbol(self.symbol, rules.tick_size, rules.step_size, rules.min_qty, rules.min_notional)
        self._ids = ClientIdFactory(self.symbol, self.run_id or run_id_from_ms(ctx.clock.time_ms()))
        self._budget = OrderRateBudget.from_limits(self.params.order_rate)
        self.rounds_since_force = self.params.force_refresh_num  # the first round replaces whatever it finds
        with (subscribe_book(ctx.bus, self.book_venue, self.symbol) as books,
              ctx.bus.subscribe(view_topic(self.symbol), maxlen=VIEW_QUEUE, overflow=Overflow.DROP_OLDEST) as views):
            try:
                async with trio.open_nursery() as nursery:
                    nursery.start_soon(self._take_books, books, venue)
                    nursery.start_soon(self._serve_views, ctx, venue, views)
                    await self._cancel_orphans(ctx, venue, log)
                    await self._quote(ctx, venue, log, nursery)
            finally:
                with trio.CancelScope(shield=True):
                    await self._cancel_everything(ctx, venue, log)

    async def _symbol_rules(self, ctx: Any) -> SymbolRules:
        """tickSize, stepSize and the minimums from exchangeInfo (never pricePrecision)."""
        info = await ctx.venues["binance"].exchange_info()
        for entry in info.raw.get("symbols", ()):
            if entry.get("symbol") == self.symbol:
                return SymbolRules.from_exchange_info(entry)
        raise ValueError(f"{self.symbol} is not listed in exchangeInfo")

    async def _take_books(self, books: Any, venue: Any) -> None:
        on_book = getattr(venue, "on_book", None)  # a paper venue fills against the real market
        async for book in books:
            self.book = book
            if on_book is not None and book.bids and book.asks:
                fills = on_book(self.symbol, book.bids[0][0], book.asks[0][0], book.ts_ms)
                self.fills.add(fill_record(f, self._ladder_of(f.client_order_id)) for f in fills or ())

    def _ladder_of(self, client_id: str) -> str | None:
        order = self.live.get(client_id)
        return order.ladder if order is not None else None

    async def _serve_views(self, ctx: Any, venue: Any, asks: Any) -> None:
        async for request in asks:
            if isinstance(request, Ask):
                request.answer(self.view(ctx, venue))

    def view(self, ctx: Any, venue: Any) -> MarketMakerView:
        """This moment's quotes, position, PnL, fills and state texts (synchronous: one consistent picture)."""
        pnl = self._pnl(venue, self.book)
        status_text, order_fields = self.state_texts(ctx, venue)
        return MarketMakerView(
            pair=self.symbol, venue=self.params.venue, ts_ms=ctx.clock.time_ms(), book=self.book,
            book_stale=self._book_fresh(ctx) is None, quotes=tuple(self.live.values()), position=self.position,
            max_position=self.params.max_position, realised_pnl=pnl.get("realised_pnl"),
            unrealised_pnl=pnl.get("unrealised_pnl"), fills=self.fills.newest_first(), fills_total=self.fills.count,
            bought_qty=self.fills.bought_qty, sold_qty=self.fills.sold_qty,
            fills_reported=getattr(venue, "on_book", None) is not None,
            counters=(("rounds", self.rounds), ("placed", self.placed), ("cancelled", self.cancelled),
                      ("rejected", self.rejected), ("pulls", self.pulls), ("rollbacks", self.rollbacks),
                      ("errors", self.errors)),
            status_text=status_text, order_fields=tuple(order_fields.items()))

    # ------------------------------------------------------------------ the loop
    async def _quote(self, ctx: Any, venue: Any, log: Any, nursery: trio.Nursery) -> None:
        next_near_s = next_far_s = ctx.clock.monotonic()
        while not ctx.stopping.is_set():
            now_s = ctx.clock.monotonic()
            try:
                if now_s >= next_far_s and self.params.far.levels:
                    ran = await self._far_round(ctx, venue, log)  # no fresh book yet: try again next near round
                    next_far_s = now_s + (self.params.far_interval_s if ran else self.params.near_interval_s)
                if now_s >= next_near_s:
                    await self._near_round(ctx, venue, log)
                    next_near_s = now_s + self.params.near_interval_s
            except Exception as error:  # any failure: pull the near quotes, reconcile, carry on
                self.errors += 1
                log.error("mm_round_failed", error=f"{type(error).__name__}: {error}")
                ctx.report(self.component, False, f"round failed: {type(error).__name__}: {error}")
                await self._pull(ctx, venue, log, "near")
                # the failed round's timers were never advanced: retry after a near interval, not at once
                retry_s = now_s + self.params.near_interval_s
                next_near_s = max(next_near_s, retry_s)
                if next_far_s <= now_s:
                    next_far_s = retry_s
            self._write_state(ctx, venue)
            wake_s = min(next_near_s, next_far_s if self.params.far.levels else next_near_s)
            with trio.move_on_after(max(0.0, wake_s - ctx.clock.monotonic())):
                await ctx.stopping.wait()
        nursery.cancel_scope.cancel()

    def _book_fresh(self, ctx: Any) -> Book | None:
        book = self.book
        if book is None or ctx.clock.time_ms() - book.ts_ms > self.params.stale_book_ms:
            return None
        return book

    async def _near_round(self, ctx: Any, venue: Any, log: Any) -> None:
        await self._reconcile(venue)
        book = self._book_fresh(ctx)
        if book is None:
            self.pulls += 1
            ctx.report(self.component, False, "book stale or missing: near quotes pulled")
            await self._pull(ctx, venue, log, "near")
            return
        wanted = filter_crossing(near_ladder(book, self.params.near, self.rules), book)  # type: ignore[arg-type]
        wanted = await self._within_position(venue, wanted, "near")
        previous = [o for o in self.live.values() if o.ladder == "near"]
        plan = plan_refresh(previous, wanted, self.params.near_diff_rate_per_round, self.rounds_since_force,
                            self.params.force_refresh_num)
        await self._apply(ctx, venue, log, plan)
        self.rounds_since_force = rounds_after(plan, self.rounds_since_force)
        self.rounds += 1
        ctx.report(self.component, True, f"{len(self.live)} orders live, round {self.rounds}")

    async def _far_round(self, ctx: Any, venue: Any, log: Any) -> bool:
        book = self._book_fresh(ctx)
        if book is None:
            return False
        wanted = filter_crossing(far_ladder(book, self.params.far, self.rules), book)
        wanted = await self._within_position(venue, wanted, "far")
        previous = [o for o in self.live.values() if o.ladder == "far"]
        plan = plan_refresh(previous, wanted, 0.0, 0, 1)  # far liquidity is replaced whole each far round
        placed_before = set(self.live)
        try:
            await self._apply(ctx, venue, log, plan)
        except Exception:
            placed_now = [o for cid, o in self.live.items() if cid not in placed_before and o.ladder == "far"]
            if placed_now:  # roll back what this round placed: the far ladder is all or nothing
                log.warning("mm_far_rollback", orders=len(placed_now))
                await self._cancel(ctx, venue, log, placed_now)
                self.rollbacks += 1  # counted once the venue has answered the cancels
            raise
        return True

    async def _within_position(self, venue: Any, wanted: tuple[Quote, ...], ladder: str) -> tuple[Quote, ...]:
        """The wanted quotes cut to the position limit. The venue's position is asked for only when it may have
        changed (an order of ours filled or vanished, at start, or every POSITION_MAX_AGE_S): on Binance it costs
        weight 5, which every round of every pair would take from the IP's shared budget."""
        now_s = trio.current_time()
        if self.position is None or self._position_due or now_s - self._position_at_s >= POSITION_MAX_AGE_S:
            self.position = await venue.position(self.symbol)
            self._position_due, self._position_at_s = False, now_s
        position = self.position
        others = [o for o in self.live.values() if o.ladder != ladder]
        return apply_position_limit(
            wanted, position, self.params.max_position, self.rules,
            resting_buy_qty=sum((o.qty for o in others if o.side == "BUY"), Decimal(0)),
            resting_sell_qty=sum((o.qty for o in others if o.side == "SELL"), Decimal(0)))

    # ------------------------------------------------------------------ orders
    async def _apply(self, ctx: Any, venue: Any, log: Any, plan: RefreshPlan) -> None:
        """Place first (recorded as they are accepted), then cancel what they replace."""
        self._budget, batches = plan_within(plan, self._budget, ctx.clock.time_ms())  # type: ignore[arg-type]
        for batch in batches.place:
            self._ids, ids = self._ids.issue(len(batch))  # type: ignore[union-attr]
            orders = [self._new_order(quote, cid) for quote, cid in zip(batch, ids)]
            self._in_flight = dict(zip(ids, batch))
            try:
                results = await venue.place_batch(orders)
            except Exception:
                await self._reconcile(venue)  # an unknown outcome: the venue's open orders decide
                raise
            finally:
                self._in_flight = {}
            for quote, cid, result in zip(batch, ids, results):
                if result.ok:
                    self.live[cid] = LiveOrder(cid, quote.side, quote.price, quote.qty, quote.ladder, result.order_id)
                    self.placed += 1
                else:
                    self.rejected += 1
                    log.info("mm_order_rejected", client_id=cid, code=result.code, msg=result.msg)
        if batches.cancel:
            await self._cancel(ctx, venue, log, [o for batch in batches.cancel for o in batch])

    def _new_order(self, quote: Quote, client_id: str) -> NewOrder:
        return NewOrder(self.symbol, quote.side, quote.qty, quote.price, client_id)

    async def _cancel(self, ctx: Any, venue: Any, log: Any, orders: list[LiveOrder]) -> None:
        for start in range(0, len(orders), 10):
            chunk = orders[start:start + 10]
            try:
                results = await venue.cancel_batch(self.symbol, [o.client_id for o in chunk])
            except Exception:
                await self._reconcile(venue)
                raise
            for order, result in zip(chunk, results):
                self.live.pop(order.client_id, None)  # cancelled, or already gone (filled): not live either way
                if result.ok:
                    self.cancelled += 1
                else:
                    self._position_due = True  # gone before the cancel: most likely filled

    async def _pull(self, ctx: Any, venue: Any, log: Any, ladder: str) -> None:
        orders = [o for o in self.live.values() if o.ladder == ladder]
        if orders:
            try:
                await self._cancel(ctx, venue, log, orders)
            except Exception as error:
                log.error("mm_pull_failed", ladder=ladder, error=f"{type(error).__name__}: {error}")

    async def _reconcile(self, venue: Any) -> None:
        """The venue's open orders are the truth: forget what is gone (filled or cancelled), adopt ours."""
        open_orders = {o.client_order_id: o for o in await venue.open_orders(self.symbol)}
        for cid in [cid for cid in self.live if cid not in open_orders]:
            del self.live[cid]  # filled, or cancelled by someone else: either way the position may have moved
            self._position_due = True
        if any(o.executed_qty > 0 for o in open_orders.values()):
            self._position_due = True  # a partial fill
        for cid, order in open_orders.items():
            if cid not in self.live and self._ids is not None and self._ids.owns(cid):
                sent = self._in_flight.get(cid)  # an order whose outcome was unknown keeps its ladder
                self.live[cid] = LiveOrder(cid, order.side, order.price, order.orig_qty - order.executed_qty,
                                           sent.ladder if sent is not None else "near", order.order_id)

    async def _cancel_orphans(self, ctx: Any, venue: Any, log: Any) -> None:
        """Orders an earlier run of this pair left behind: nobody manages them, so they go."""
        orphans = await self._own_open_orders(venue)
        if orphans:
            log.warning("mm_orphans_cancelled", orders=len(orphans))
            await self._cancel_ids(venue, orphans)

    async def _own_open_orders(self, venue: Any) -> list[str]:
        """Client ids of the venue's open orders that this pair placed (in any run): never anyone else's."""
        return [o.client_order_id for o in await venue.open_orders(self.symbol)
                if self._ids is not None and self._ids.owns(o.client_order_id)]

    async def _cancel_ids(self, venue: Any, client_ids: list[str]) -> None:
        for start in range(0, len(client_ids), 10):
            await venue.cancel_batch(self.symbol, client_ids[start:start + 10])

    async def _cancel_everything(self, ctx: Any, venue: Any, log: Any) -> None:
        """Shutdown: every order of the pair cancelled within the timeout; what remains is reported.

        Only this pair's orders (by client id): a trader's own orders on the same symbol and
        account are not the market maker's to cancel, so ``cancel_all`` is never used.
        """
        remaining = None
        with trio.move_on_after(self.shutdown_timeout_s):
            try:
                await self._cancel_ids(venue, await self._own_open_orders(venue))
                remaining = len(await self._own_open_orders(venue))
            except Exception as error:
                log.error("mm_shutdown_cancel_failed", error=f"{type(error).__name__}: {error}")
        self.remaining_after_stop = remaining
        self.live.clear()
        ok = remaining == 0
        ctx.report(self.component, ok, "stopped, no open orders" if ok else f"stopped, open orders left: {remaining}")
        (log.info if ok else log.error)("mm_stopped", remaining_orders=remaining)
        self._write_state(ctx, venue)

    # ------------------------------------------------------------------ state
    def _pnl(self, venue: Any, book: Book | None) -> dict[str, str]:
        """Realised and unrealised PnL at the mid, where the venue keeps them (the paper venue)."""
        realised, unrealised = getattr(venue, "realised_pnl", None), getattr(venue, "unrealised_pnl", None)
        if realised is None or unrealised is None:
            return {}
        try:
            out = {"realised_pnl": str(realised(self.symbol))}
            if book is not None and book.mid is not None:
                out["unrealised_pnl"] = str(unrealised(self.symbol, book.mid))
            return out
        except Exception:  # a symbol the venue does not know yet: nothing to report
            return {}

    def state_texts(self, ctx: Any, venue: Any) -> tuple[str, dict[str, str]]:
        """(``mm:{pair}:status`` text, ``mm:{pair}:orders`` fields) of this moment: what is written
        for operators and restarts, and what ``GET /api/mm`` answers from the actor's view."""
        orders = {cid: json.dumps({"side": o.side, "price": str(o.price), "qty": str(o.qty), "ladder": o.ladder,
                                   "order_id": o.order_id}) for cid, o in sorted(self.live.items())}
        book = self.book
        status = json.dumps({
            "pair": self.symbol, "venue": self.params.venue, "ts": ctx.clock.time_ms(), "rounds": self.rounds,
            "live_orders": len(self.live), "placed": self.placed, "cancelled": self.cancelled,
            "rejected": self.rejected, "pulls": self.pulls, "rollbacks": self.rollbacks, "errors": self.errors,
            "book_ts": book.ts_ms if book is not None else None,
            "remaining_after_stop": self.remaining_after_stop,
            "position": None if self.position is None else str(self.position),
            **self._pnl(venue, book),
        })
        return status, orders

    def _write_state(self, ctx: Any, venue: Any) -> None:
        status, orders = self.state_texts(ctx, venue)
        batch = ctx.store.atomic()
        batch.delete(keys.mm_orders(self.symbol))
        if orders:
            batch.hset(keys.mm_orders(self.symbol), orders)
        batch.set(keys.mm_status(self.symbol), status)
        ctx.store.submit(batch)
