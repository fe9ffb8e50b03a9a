"""Matching engine with the market's own flow: the simulated venues' books and the paper venue.

A clean in-process API over ``matching_book.OrderBook``: ``place``, ``cancel``,
``cancel_all``, ``open_orders``, ``order``, ``depth`` take and return Decimal prices and
quantities per owner (an account); ``position``/``positions`` net each owner's fills per
symbol (bought - sold, entry at average cost), kept as they happen, never from the
bounded ``trades`` history. ``on_market_price`` moves the market: it trades
through resting orders up to the new price (so resting quotes fill when the market moves
through them, the one at the touch partially) and re-quotes background liquidity around
it. Deterministic: everything random comes from ``sub_rng(seed, "book", symbol)``.
"""

from __future__ import annotations

import random
import string
from collections import OrderedDict, deque
from decimal import ROUND_HALF_EVEN, Decimal

import attrs

from adapters.sim.matching_book import BookOrder, Fill, OrderBook, OrderStatus, Side, TimeInForce
from adapters.sim.matching_types import BookSnapshot, Instrument, LiquidityProfile, OrderReport, Trade
from adapters.sim.processes import sub_rng

__all__ = [
    "BookSnapshot", "Instrument", "LiquidityProfile", "MatchingEngine", "NetPosition", "OrderNotFound", "OrderRejected",
    "OrderReport", "OrderStatus", "REJECT_DUPLICATE_ID", "REJECT_FOK", "REJECT_MAX_OPEN", "REJECT_OFF_GRID",
    "REJECT_POST_ONLY", "Side", "TimeInForce", "Trade",
]

REJECT_POST_ONLY = "post_only_would_cross"
REJECT_FOK = "fok_not_fillable"
REJECT_DUPLICATE_ID = "duplicate_client_order_id"
REJECT_MAX_OPEN = "max_open_orders"
REJECT_OFF_GRID = "price_or_quantity_off_grid"


class OrderRejected(Exception):
    """The engine refused an order; ``reason`` is one of the REJECT_* constants."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class OrderNotFound(Exception):
    """No such order (open, for cancels) for that owner and symbol."""


@attrs.frozen
class NetPosition:
    """An owner's net position in one symbol, from its fills: ``qty`` = bought - sold
    (base, + long); ``entry_price`` the average cost of what is held (0 when flat: adding
    re-averages, reducing keeps it, flipping restarts at the fill price); ``update_ms``
    the last fill's time (0 before any)."""

    symbol: str
    qty: Decimal = Decimal(0)
    entry_price: Decimal = Decimal(0)
    update_ms: int = 0

    def after(self, side: Side, qty: Decimal, price: Decimal, now_ms: int) -> "NetPosition":
        held = self.qty
        delta = qty if side is Side.BUY else -qty
        new = held + delta
        if new == 0:
            entry = Decimal(0)
        elif held == 0 or (held > 0) == (delta > 0):
            entry = (self.entry_price * abs(held) + price * qty) / abs(new)
        elif (new > 0) != (held > 0):
            entry = price
        else:
            entry = self.entry_price
        return NetPosition(self.symbol, new, entry, now_ms)


@attrs.define(eq=False)
class _ClientOrder:
    book_order: BookOrder
    symbol: str
    client_order_id: str
    order_type: str
    time_in_force: TimeInForce
    time_ms: int
    update_ms: int


@attrs.define(eq=False)
class _Market:
    instrument: Instrument
    book: OrderBook = attrs.field(factory=OrderBook)
    level_ticks: int | None = None  # where the market last traded
    background: dict[tuple[Side, int], int] = attrs.field(factory=dict)  # (side, price) -> order id
    changed_ms: int = 0


class MatchingEngine:
    """Books of many instruments, orders of many owners, one id sequence."""

    def __init__(self, *, seed: int = 0, first_order_id: int = 8_000_000_001, history_limit: int = 50_000) -> None:
        self.seed = seed
        self._next_id = first_order_id
        self._instruments: dict[str, Instrument] = {}
        self._markets: dict[str, _Market] = {}
        self._rngs: dict[str, random.Random] = {}
        self._orders: dict[int, _ClientOrder] = {}  # open client orders
        self._history: OrderedDict[int, _ClientOrder] = OrderedDict()  # closed client orders
        self._history_limit = history_limit
        self._client_ids: dict[tuple[str, str, str], int] = {}  # (owner, symbol, id) -> open order
        self._id_rng = sub_rng(seed, "client_order_ids")
        self.trades: deque[Trade] = deque(maxlen=10_000)  # recent fills of owners' orders
        self._positions: dict[tuple[str, str], NetPosition] = {}  # (owner, symbol), from every fill

    # ------------------------------------------------------------------ set-up
    def add_instrument(self, instrument: Instrument) -> None:
        self._instruments[instrument.symbol] = instrument

    def is_active(self, symbol: str) -> bool:
        """Has the book been created (by a price or an order)?"""
        return symbol in self._markets

    def _market(self, symbol: str) -> _Market:
        market = self._markets.get(symbol)
        if market is None:
            if symbol not in self._instruments:
                raise KeyError(f"unknown instrument {symbol!r}")
            market = self._markets[symbol] = _Market(self._instruments[symbol])
            self._rngs[symbol] = sub_rng(self.seed, "book", symbol)
        return market

    # ------------------------------------------------------------------ conversions
    @staticmethod
    def _units(value: Decimal, unit: Decimal) -> int:
        units = value / unit
        if units != units.to_integral_value():
            raise OrderRejected(REJECT_OFF_GRID)
        return int(units)

    def _report(self, order: _ClientOrder) -> OrderReport:
        inst = self._instruments[order.symbol]
        book_order = order.book_order
        executed = book_order.filled_lots * inst.step_size
        cum_quote = book_order.quote_ticks_lots * inst.tick_size * inst.step_size
        avg = cum_quote / executed if book_order.filled_lots else Decimal(0)
        price = (book_order.price_ticks or 0) * inst.tick_size
        return OrderReport(
            order_id=book_order.order_id, client_order_id=order.client_order_id, owner=str(book_order.owner),
            symbol=order.symbol, side=book_order.side, order_type=order.order_type,
            time_in_force=order.time_in_force, price=price, orig_qty=book_order.qty_lots * inst.step_size,
            executed_qty=executed, cum_quote=cum_quote, avg_price=avg, status=book_order.status,
            time_ms=order.time_ms, update_time_ms=order.update_ms,
        )

    def _new_client_order_id(self) -> str:
        alphabet = string.ascii_letters + string.digits
        return "".join(self._id_rng.choice(alphabet) for _ in range(22))

    # ------------------------------------------------------------------ orders
    def place(self, *, owner: str, symbol: str, side: Side, quantity: Decimal, price: Decimal | None = None,
              order_type: str = "LIMIT", time_in_force: TimeInForce = TimeInForce.GTC,
              client_order_id: str | None = None, now_ms: int = 0) -> OrderReport:
        """Match an order and rest what is left (GTC/GTX); the report is the state after matching.

        Raises OrderRejected (post-only would cross, FOK not fillable, duplicate client id
        among open orders, too many open orders, price/quantity off the tick/step grid).
        """
        market = self._market(symbol)
        inst = market.instrument
        lots = self._units(quantity, inst.step_size)
        ticks = None if order_type == "MARKET" or price is None else self._units(price, inst.tick_size)
        if lots <= 0 or (ticks is not None and ticks <= 0):
            raise OrderRejected(REJECT_OFF_GRID)
        cid = client_order_id or self._new_client_order_id()
        if (owner, symbol, cid) in self._client_ids:
            raise OrderRejected(REJECT_DUPLICATE_ID)
        if sum(1 for o in self._orders.values() if o.book_order.owner == owner and o.symbol == symbol) \
                >= inst.max_open_orders:
            raise OrderRejected(REJECT_MAX_OPEN)
        if time_in_force is TimeInForce.GTX and market.book.crosses(side, ticks):
            raise OrderRejected(REJECT_POST_ONLY)
        if time_in_force is TimeInForce.FOK and market.book.fillable_lots(side, ticks) < lots:
            raise OrderRejected(REJECT_FOK)
        book_order = BookOrder(self._next_id, owner, side, ticks, lots)
        self._next_id += 1
        order = _ClientOrder(book_order, symbol, cid, order_type, time_in_force, now_ms, now_ms)
        self._orders[book_order.order_id] = order
        self._client_ids[(owner, symbol, cid)] = book_order.order_id
        fills = market.book.submit(book_order, time_in_force)
        self._settle(market, fills, now_ms)
        self._close_if_done(order)
        return self._report(order)

    def cancel(self, *, owner: str, symbol: str, order_id: int | None = None,
               client_order_id: str | None = None, now_ms: int = 0) -> OrderReport:
        """Cancel one open order of ``owner``; OrderNotFound when it is not open."""
        order = self._find_open(owner, symbol, order_id, client_order_id)
        self._markets[symbol].book.remove(order.book_order.order_id)
        self._markets[symbol].changed_ms = now_ms
        order.book_order.status = OrderStatus.CANCELED
        order.update_ms = now_ms
        self._close_if_done(order)
        return self._report(order)

    def cancel_all(self, *, owner: str, symbol: str, now_ms: int = 0) -> list[OrderReport]:
        return [self.cancel(owner=owner, symbol=symbol, order_id=r.order_id, now_ms=now_ms)
                for r in self.open_orders(owner, symbol)]

    def open_orders(self, owner: str, symbol: str | None = None) -> list[OrderReport]:
        return [self._report(o) for o in sorted(self._orders.values(), key=lambda o: o.book_order.order_id)
                if o.book_order.owner == owner and (symbol is None or o.symbol == symbol)]

    def order(self, *, owner: str, symbol: str, order_id: int | None = None,
              client_order_id: str | None = None) -> OrderReport:
        """Any order of ``owner`` still remembered (open or recently closed)."""
        for pool in (self._orders.values(), reversed(self._history.values())):
            for o in pool:
                if o.book_order.owner == owner and o.symbol == symbol and (
                        o.book_order.order_id == order_id if order_id is not None
                        else o.client_order_id == client_order_id):
                    return self._report(o)
        raise OrderNotFound(order_id if order_id is not None else client_order_id)

    def position(self, owner: str, symbol: str) -> NetPosition:
        """``owner``'s net position in ``symbol`` from all its fills (flat if it never traded)."""
        return self._positions.get((owner, symbol), NetPosition(symbol))

    def positions(self, owner: str) -> list[NetPosition]:
        """``owner``'s net position in every symbol it ever traded, by symbol."""
        return [position for (who, _), position in sorted(self._positions.items()) if who == owner]

    def _find_open(self, owner: str, symbol: str, order_id: int | None, client_order_id: str | None) -> _ClientOrder:
        if order_id is None and client_order_id is not None:
            order_id = self._client_ids.get((owner, symbol, client_order_id))
        order = self._orders.get(order_id) if order_id is not None else None
        if order is None or order.book_order.owner != owner or order.symbol != symbol:
            raise OrderNotFound(order_id if order_id is not None else client_order_id)
        return order

    def _close_if_done(self, order: _ClientOrder) -> None:
        if order.book_order.status.is_open:
            return
        self._orders.pop(order.book_order.order_id, None)
        self._client_ids.pop((str(order.book_order.owner), order.symbol, order.client_order_id), None)
        self._history[order.book_order.order_id] = order
        while len(self._history) > self._history_limit:
            self._history.popitem(last=False)

    def _settle(self, market: _Market, fills: list[Fill], now_ms: int) -> list[Trade]:
        """Record owners' fills, stamp their orders, close the filled makers."""
        inst = market.instrument
        trades = []
        if fills:
            market.changed_ms = now_ms
        for fill in fills:
            for order_id, owner, side, is_maker in (
                (fill.maker_id, fill.maker_owner, fill.taker_side.opposite, True),
                (fill.taker_id, fill.taker_owner, fill.taker_side, False),
            ):
                if owner is None:
                    continue
                trade = Trade(inst.symbol, order_id, owner, side, fill.price_ticks * inst.tick_size,
                              fill.qty_lots * inst.step_size, is_maker, now_ms)
                trades.append(trade)
                self.trades.append(trade)
                key = (owner, inst.symbol)
                self._positions[key] = self._positions.get(key, NetPosition(inst.symbol)).after(
                    side, trade.qty, trade.price, now_ms)
                order = self._orders.get(order_id)
                if order is not None:
                    order.update_ms = now_ms
                    if is_maker:
                        self._close_if_done(order)
        return trades

    # ------------------------------------------------------------------ the market's own flow
    def on_market_price(self, symbol: str, price: Decimal | float, now_ms: int = 0) -> list[Trade]:
        """The market traded to ``price``: trade through resting orders, then re-quote.

        Orders priced better than the new level fill completely (at their own price);
        orders at the level fill by a random fraction (partial fills). Returns the fills
        of owners' orders.
        """
        market = self._market(symbol)
        inst = market.instrument
        level = max(1, int((Decimal(str(price)) / inst.tick_size).to_integral_value(ROUND_HALF_EVEN)))
        trades: list[Trade] = []
        if market.level_ticks is not None and level != market.level_ticks:
            side = Side.BUY if level > market.level_ticks else Side.SELL
            trades = self._sweep(market, side, level, now_ms)
        market.level_ticks = level
        self._requote(market, level, now_ms)
        return trades

    def _sweep(self, market: _Market, side: Side, level: int, now_ms: int) -> list[Trade]:
        book = market.book
        through = book.fillable_lots(side, level - 1 if side is Side.BUY else level + 1)
        at_level = book.lots_at(side.opposite, level)
        lots = through + int(at_level * self._rngs[market.instrument.symbol].random())
        if lots <= 0:
            return []
        taker = BookOrder(0, None, side, level, lots)
        return self._settle(market, book.match(taker), now_ms)

    def _requote(self, market: _Market, level: int, now_ms: int) -> None:
        """Quote one tick either side of ``level`` and deeper levels on a fixed grid (so
        unchanged levels keep their queue position); never cross an owner's order."""
        profile = market.instrument.liquidity
        book, rng, spacing = market.book, self._rngs[market.instrument.symbol], profile.spacing_ticks
        bid_grid = (level - 2) // spacing * spacing
        ask_grid = -(-(level + 2) // spacing) * spacing
        wanted = {(Side.BUY, level - 1), (Side.SELL, level + 1)}
        wanted |= {(Side.BUY, bid_grid - k * spacing) for k in range(profile.levels - 1)}
        wanted |= {(Side.SELL, ask_grid + k * spacing) for k in range(profile.levels - 1)}
        wanted = {(side, price) for side, price in wanted if price > 0}
        for key, order_id in list(market.background.items()):
            if order_id not in book.resting:
                del market.background[key]
            elif key not in wanted:
                book.remove(order_id)
                del market.background[key]
                market.changed_ms = now_ms
        for side, price in sorted(wanted - market.background.keys(), key=lambda k: (k[0].value, k[1])):
            if book.crosses(side, price):
                continue
            lots = max(1, round(profile.level_lots * (0.5 + rng.random())))
            order = BookOrder(self._next_id, None, side, price, lots)
            self._next_id += 1
            book.rest(order)
            market.background[(side, price)] = order.order_id
            market.changed_ms = now_ms

    def depth(self, symbol: str, levels: int = 20) -> BookSnapshot:
        market = self._market(symbol)
        inst = market.instrument

        def convert(rows: list[tuple[int, int]]) -> tuple[tuple[Decimal, Decimal], ...]:
            return tuple((p * inst.tick_size, q * inst.step_size) for p, q in rows)

        return BookSnapshot(symbol, convert(market.book.depth(Side.BUY, levels)),
                            convert(market.book.depth(Side.SELL, levels)), market.book.update_id, market.changed_ms)
