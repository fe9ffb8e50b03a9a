"""What a market maker keeps of itself in memory for its pages and its API: recent fills and a snapshot.

Fills are recorded as the venue reports them. The paper venue returns the fills each book
update causes (``PaperVenue.on_book``); the signed Binance REST adapter reports none (a fill
there shows only as an order leaving the open orders, which a cancel by someone else looks
like too), so for such a venue the list stays empty and the snapshot says fills are not
reported. The list is bounded (``MAX_RECENT_FILLS``); the totals count every fill since the
actor started (a restart starts them again: they are not state the market maker needs).

The pages and ``GET /api/mm`` ask the actor for a ``MarketMakerView`` on ``view_topic(symbol)``
(``engine.requests``): taken synchronously inside the actor, so quotes, position, fills and the
state texts (what the actor writes to Redis, as of this moment) are of one moment.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable
from decimal import Decimal
from typing import Any

import attrs

from actors.marketmaker.ladders import Book
from actors.marketmaker.refresh import LiveOrder

MAX_RECENT_FILLS = 200
VIEW_QUEUE = 8  # pending page requests per pair; older ones are dropped (their askers time out)


def view_topic(symbol: str) -> str:
    """The bus topic a pair's market maker answers view requests on."""
    return f"mm.view.{symbol}"


@attrs.frozen
class FillRecord:
    """One fill of one of our quotes, as the venue reported it."""

    ts_ms: int
    side: str  # BUY | SELL: our order's side
    price: Decimal
    qty: Decimal
    fee: Decimal | None  # quote currency, positive = paid; None when the venue did not say
    client_id: str
    ladder: str | None  # near | far while the quote was live; None for one the actor no longer knew

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side == "BUY" else -self.qty


def fill_record(fill: Any, ladder: str | None) -> FillRecord:
    """A venue fill (``adapters.paper.Fill``: client_order_id, side, price, qty, fee, ts_ms) as a record."""
    return FillRecord(ts_ms=fill.ts_ms, side=fill.side, price=fill.price, qty=fill.qty, fee=fill.fee,
                      client_id=fill.client_order_id, ladder=ladder)


@attrs.define
class RecentFills:
    """The newest ``maxlen`` fills, and totals over every fill recorded."""

    maxlen: int = MAX_RECENT_FILLS
    count: int = 0
    bought_qty: Decimal = Decimal(0)
    sold_qty: Decimal = Decimal(0)
    _items: deque[FillRecord] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        if self.maxlen < 1:
            raise ValueError(f"maxlen must be >= 1, got {self.maxlen}")
        self._items = deque(maxlen=self.maxlen)

    def add(self, records: Iterable[FillRecord]) -> None:
        for record in records:
            self._items.append(record)
            self.count += 1
            if record.side == "BUY":
                self.bought_qty += record.qty
            else:
                self.sold_qty += record.qty

    def newest_first(self) -> tuple[FillRecord, ...]:
        return tuple(reversed(self._items))


@attrs.frozen
class MarketMakerView:
    """One pair's market maker at one moment, for the operator pages."""

    pair: str
    venue: str
    ts_ms: int
    book: Book | None
    book_stale: bool  # older than the pair's stale_book_ms (or none): near quotes are pulled
    quotes: tuple[LiveOrder, ...]
    position: Decimal | None  # as the venue last reported it
    max_position: Decimal
    realised_pnl: str | None  # where the venue keeps PnL (the paper venue)
    unrealised_pnl: str | None
    fills: tuple[FillRecord, ...]  # newest first
    fills_total: int
    bought_qty: Decimal
    sold_qty: Decimal
    fills_reported: bool  # False: the venue does not report fills to the market maker
    counters: tuple[tuple[str, int], ...]
    status_text: str  # the mm:{pair}:status document of this moment (MarketMakerActor.state_texts)
    order_fields: tuple[tuple[str, str], ...]  # the mm:{pair}:orders fields of this moment
