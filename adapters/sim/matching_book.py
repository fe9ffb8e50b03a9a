"""Price-time priority order book: pure integer matching under ``matching.MatchingEngine``
(the simulated venues' and the paper venue's engine).

Inside the book prices are integer ticks and quantities integer lots, so matching is
exact and a quantity can never be created or lost by rounding; ``matching``
converts Decimal at the edges. Every resting order at a price level sits in a dict in
arrival order, so iterating a level is time priority and cancelling is O(1).
"""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from enum import Enum

import attrs
from sortedcontainers import SortedDict


class Side(str, Enum):
    BUY = "BUY"
    SELL = "SELL"

    @property
    def opposite(self) -> "Side":
        return Side.SELL if self is Side.BUY else Side.BUY


class TimeInForce(str, Enum):
    GTC = "GTC"  # rest until cancelled
    IOC = "IOC"  # fill what crosses now, expire the rest
    FOK = "FOK"  # fill all now or nothing
    GTX = "GTX"  # post-only: rest only if nothing crosses


class OrderStatus(str, Enum):
    NEW = "NEW"
    PARTIALLY_FILLED = "PARTIALLY_FILLED"
    FILLED = "FILLED"
    CANCELED = "CANCELED"
    EXPIRED = "EXPIRED"

    @property
    def is_open(self) -> bool:
        return self in (OrderStatus.NEW, OrderStatus.PARTIALLY_FILLED)


@attrs.define(eq=False)
class BookOrder:
    """One order as the book sees it. ``owner`` None is the market's own liquidity."""

    order_id: int
    owner: str | None
    side: Side
    price_ticks: int | None  # None: market order (crosses at any price)
    qty_lots: int
    filled_lots: int = 0
    quote_ticks_lots: int = 0  # sum of price_ticks * lots over fills: exact average price
    status: OrderStatus = OrderStatus.NEW

    @property
    def remaining_lots(self) -> int:
        return self.qty_lots - self.filled_lots

    def _fill(self, price_ticks: int, lots: int) -> None:
        self.filled_lots += lots
        self.quote_ticks_lots += price_ticks * lots
        self.status = OrderStatus.FILLED if self.remaining_lots == 0 else OrderStatus.PARTIALLY_FILLED


@attrs.frozen
class Fill:
    """One trade: always at the maker's (resting) price."""

    maker_id: int
    taker_id: int
    maker_owner: str | None
    taker_owner: str | None
    taker_side: Side
    price_ticks: int
    qty_lots: int


def _crosses(taker_side: Side, limit_ticks: int | None, level_ticks: int) -> bool:
    if limit_ticks is None:
        return True
    return level_ticks <= limit_ticks if taker_side is Side.BUY else level_ticks >= limit_ticks


@attrs.define(eq=False)
class OrderBook:
    """Bids and asks of one instrument with price-time priority.

    ``update_id`` grows with every change (add, fill, cancel): the depth streams' ``u``.
    """

    bids: SortedDict = attrs.field(factory=SortedDict)  # price_ticks -> {order_id: BookOrder}
    asks: SortedDict = attrs.field(factory=SortedDict)
    resting: dict[int, BookOrder] = attrs.field(factory=dict)
    update_id: int = 0

    def _side(self, side: Side) -> SortedDict:
        return self.bids if side is Side.BUY else self.asks

    def best(self, side: Side) -> int | None:
        """Best price of ``side`` (highest bid, lowest ask), None when empty."""
        levels = self._side(side)
        if not levels:
            return None
        return levels.peekitem(-1 if side is Side.BUY else 0)[0]

    def _levels_from_best(self, side: Side) -> Iterator[int]:
        levels = self._side(side)
        return reversed(levels.keys()) if side is Side.BUY else iter(levels.keys())

    def crosses(self, taker_side: Side, limit_ticks: int | None) -> bool:
        """Would a taker at ``limit_ticks`` trade with anything resting now?"""
        best = self.best(taker_side.opposite)
        return best is not None and _crosses(taker_side, limit_ticks, best)

    def fillable_lots(self, taker_side: Side, limit_ticks: int | None) -> int:
        """Lots a taker could trade at once up to ``limit_ticks`` (for FOK and sweeps)."""
        total = 0
        opposite = self._side(taker_side.opposite)
        for price in self._levels_from_best(taker_side.opposite):
            if not _crosses(taker_side, limit_ticks, price):
                break
            total += sum(order.remaining_lots for order in opposite[price].values())
        return total

    def lots_at(self, side: Side, price_ticks: int) -> int:
        level = self._side(side).get(price_ticks)
        return sum(order.remaining_lots for order in level.values()) if level else 0

    def match(self, taker: BookOrder, max_lots: int | None = None) -> list[Fill]:
        """Trade ``taker`` against the opposite side: best price first, then arrival order.

        Stops at the taker's limit price, when it is filled, or after ``max_lots``.
        The taker is never rested here.
        """
        fills: list[Fill] = []
        budget = taker.remaining_lots if max_lots is None else min(max_lots, taker.remaining_lots)
        opposite = self._side(taker.side.opposite)
        while budget > 0 and opposite:
            price = self.best(taker.side.opposite)
            assert price is not None
            if not _crosses(taker.side, taker.price_ticks, price):
                break
            level = opposite[price]
            for maker in list(level.values()):
                lots = min(budget, maker.remaining_lots)
                maker._fill(price, lots)
                taker._fill(price, lots)
                budget -= lots
                self.update_id += 1
                fills.append(Fill(maker.order_id, taker.order_id, maker.owner, taker.owner,
                                  taker.side, price, lots))
                if maker.remaining_lots == 0:
                    del level[maker.order_id]
                    del self.resting[maker.order_id]
                if budget == 0:
                    break
            if not level:
                del opposite[price]
        return fills

    def rest(self, order: BookOrder) -> None:
        """Put a (limit) order on the book behind every order already at its price."""
        if order.price_ticks is None or order.remaining_lots <= 0:
            raise ValueError("only limit orders with a remaining quantity can rest")
        if self.crosses(order.side, order.price_ticks):
            raise ValueError("resting this order would cross the book")
        levels = self._side(order.side)
        levels.setdefault(order.price_ticks, {})[order.order_id] = order
        self.resting[order.order_id] = order
        self.update_id += 1

    def remove(self, order_id: int) -> BookOrder | None:
        """Take a resting order off the book (cancel); None when it is not resting."""
        order = self.resting.pop(order_id, None)
        if order is None:
            return None
        levels = self._side(order.side)
        level = levels[order.price_ticks]
        del level[order_id]
        if not level:
            del levels[order.price_ticks]
        self.update_id += 1
        return order

    def submit(self, order: BookOrder, tif: TimeInForce) -> list[Fill]:
        """Match, then rest (GTC/GTX limit) or expire the remainder (IOC/FOK/market).

        GTX and FOK preconditions are the caller's to check (they reject instead).
        """
        fills = self.match(order)
        if order.remaining_lots > 0:
            if order.price_ticks is not None and tif in (TimeInForce.GTC, TimeInForce.GTX):
                self.rest(order)
            else:
                order.status = OrderStatus.EXPIRED
        return fills

    def depth(self, side: Side, levels: int) -> list[tuple[int, int]]:
        """Top ``levels`` of ``side`` as (price_ticks, lots), best first."""
        book_side = self._side(side)
        return [
            (price, sum(order.remaining_lots for order in book_side[price].values()))
            for price in itertools.islice(self._levels_from_best(side), levels)
        ]

    def is_crossed(self) -> bool:
        bid, ask = self.best(Side.BUY), self.best(Side.SELL)
        return bid is not None and ask is not None and bid >= ask
