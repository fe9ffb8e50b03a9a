"""Quote ladders from the order book, on the exchange's grid, inside the position limit.

The pipeline of one round (hummingbot's named stages, our code):
``near_ladder`` / ``far_ladder`` -> ``filter_crossing`` -> ``apply_position_limit``.

Grid rules (Binance filters, venues.md): a price is valid when (price - minPrice) is a
multiple of ``tickSize`` and within [minPrice, maxPrice]; a quantity when (qty - minQty) is
a multiple of ``stepSize`` and within [minQty, maxQty]; price x qty must reach the minimum
notional. Prices round *away* from the mid (asks up, bids down) so rounding never narrows
the spread the parameters ask for; sizes round *down* so rounding never adds exposure. A
level the grid cannot carry is dropped, never bumped up: dropping is the cautious side.
All arithmetic is Decimal, exact at the grid.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any, Literal

import attrs

from actors.marketmaker.params import FarLadder, NearLadder, to_decimal

Side = Literal["BUY", "SELL"]
LadderName = Literal["near", "far"]
Level = tuple[Decimal, Decimal]  # (price, qty)
SIDES = ("BUY", "SELL")
LADDERS = ("near", "far")
ZERO = Decimal(0)
ONE = Decimal(1)
HUNDRED = Decimal(100)


def _levels(raw: Iterable[Any]) -> tuple[Level, ...]:
    out = []
    for row in raw:
        try:
            price, qty = row
        except (TypeError, ValueError):
            raise ValueError(f"a book level is (price, qty), got {row!r}") from None
        price, qty = to_decimal(price, "book price"), to_decimal(qty, "book qty")
        if price <= 0 or qty < 0:
            raise ValueError(f"a book level needs price > 0 and qty >= 0, got {row!r}")
        out.append((price, qty))
    return tuple(out)


@attrs.frozen
class Book:
    """Top of the order book, best level first on each side; prices and quantities become Decimal.

    ValueError for levels out of order or a crossed (or locked) book: quoting from one
    would place orders on the wrong side of the market.
    """

    bids: tuple[Level, ...] = attrs.field(converter=_levels)
    asks: tuple[Level, ...] = attrs.field(converter=_levels)
    ts_ms: int = 0

    def __attrs_post_init__(self) -> None:
        if any(b[0] >= a[0] for a, b in zip(self.bids, self.bids[1:])):
            raise ValueError("book bids must have strictly falling prices, best first")
        if any(b[0] <= a[0] for a, b in zip(self.asks, self.asks[1:])):
            raise ValueError("book asks must have strictly rising prices, best first")
        if self.bids and self.asks and self.bids[0][0] >= self.asks[0][0]:
            raise ValueError(f"crossed book: best bid {self.bids[0][0]} >= best ask {self.asks[0][0]}")

    @property
    def best_bid(self) -> Decimal | None:
        return self.bids[0][0] if self.bids else None

    @property
    def best_ask(self) -> Decimal | None:
        return self.asks[0][0] if self.asks else None

    @property
    def mid(self) -> Decimal | None:
        """(best bid + best ask) / 2, or None when a side is empty (no mid: quote nothing)."""
        if not self.bids or not self.asks:
            return None
        return (self.bids[0][0] + self.asks[0][0]) / 2

    def age_ms(self, now_ms: int) -> int:
        return now_ms - self.ts_ms


def _positive(name: str) -> Any:
    def check(_instance: Any, _attribute: Any, value: Decimal) -> None:
        if not isinstance(value, Decimal) or not value.is_finite() or value <= 0:
            raise ValueError(f"{name} must be a Decimal > 0, got {value!r}")
    return check


def _optional_decimal(value: Any) -> Decimal | None:
    return None if value is None else to_decimal(value)


@attrs.frozen
class SymbolRules:
    """The symbol's exchangeInfo filters that quoting must satisfy (never ``pricePrecision``)."""

    tick_size: Decimal = attrs.field(converter=to_decimal, validator=_positive("tick_size"))
    step_size: Decimal = attrs.field(converter=to_decimal, validator=_positive("step_size"))
    min_qty: Decimal = attrs.field(converter=to_decimal, validator=_positive("min_qty"))
    min_notional: Decimal = attrs.field(converter=to_decimal, default=ZERO)
    min_price: Decimal = attrs.field(converter=to_decimal, default=ZERO)
    max_price: Decimal | None = attrs.field(converter=_optional_decimal, default=None)
    max_qty: Decimal | None = attrs.field(converter=_optional_decimal, default=None)

    @classmethod
    def from_exchange_info(cls, symbol_info: Mapping[str, Any]) -> SymbolRules:
        """From one ``symbols[]`` entry of ``GET /fapi/v1/exchangeInfo`` (PRICE_FILTER, LOT_SIZE, MIN_NOTIONAL)."""
        filters = {f.get("filterType"): f for f in symbol_info.get("filters", ()) if isinstance(f, Mapping)}
        name = symbol_info.get("symbol", "?")
        try:
            price, lot = filters["PRICE_FILTER"], filters["LOT_SIZE"]
        except KeyError as missing:
            raise ValueError(f"exchangeInfo for {name}: no {missing.args[0]} filter") from None
        notional = filters.get("MIN_NOTIONAL", {}).get("notional", "0")

        def limit(value: Any) -> Decimal | None:  # Binance writes "0" for "no limit"
            return None if value is None or to_decimal(value) == 0 else to_decimal(value)

        return cls(tick_size=price["tickSize"], step_size=lot["stepSize"], min_qty=lot["minQty"],
                   min_notional=notional, min_price=price.get("minPrice", "0"),
                   max_price=limit(price.get("maxPrice")), max_qty=limit(lot.get("maxQty")))

    def price_on_grid(self, price: Decimal) -> bool:
        return (price - self.min_price) % self.tick_size == 0

    def qty_on_grid(self, qty: Decimal) -> bool:
        return (qty - self.min_qty) % self.step_size == 0


@attrs.frozen
class Quote:
    """One order the strategy wants resting: a side, a price on the tick grid, a size on the step grid."""

    side: Side = attrs.field(validator=attrs.validators.in_(SIDES))
    price: Decimal = attrs.field(validator=_positive("price"))
    qty: Decimal = attrs.field(validator=_positive("qty"))
    ladder: LadderName = attrs.field(default="near", validator=attrs.validators.in_(LADDERS))

    @property
    def notional(self) -> Decimal:
        return self.price * self.qty


# --------------------------------------------------------------------------- grid rounding


def _floor_to(value: Decimal, anchor: Decimal, unit: Decimal) -> Decimal:
    q, r = divmod(value - anchor, unit)  # Decimal divmod truncates towards zero: fix negatives up
    return anchor + (q - 1 if r < 0 else q) * unit


def _ceil_to(value: Decimal, anchor: Decimal, unit: Decimal) -> Decimal:
    q, r = divmod(value - anchor, unit)
    return anchor + (q + 1 if r > 0 else q) * unit


def price_away_from_mid(price: Decimal, side: Side, rules: SymbolRules) -> Decimal | None:
    """The grid price at or beyond ``price`` seen from the mid (asks up, bids down), or None off the grid's range."""
    out = _ceil_to(price, rules.min_price, rules.tick_size) if side == "SELL" \
        else _floor_to(price, rules.min_price, rules.tick_size)
    if out <= 0 or out < rules.min_price or (rules.max_price is not None and out > rules.max_price):
        return None
    return out


def qty_down(qty: Decimal, rules: SymbolRules) -> Decimal | None:
    """``qty`` capped at maxQty and rounded down to the step grid, or None below minQty."""
    if rules.max_qty is not None and qty > rules.max_qty:
        qty = rules.max_qty
    if qty < rules.min_qty:
        return None
    return _floor_to(qty, rules.min_qty, rules.step_size)


def _quote(side: Side, raw_price: Decimal, raw_qty: Decimal, ladder: LadderName, rules: SymbolRules) -> Quote | None:
    price, qty = price_away_from_mid(raw_price, side, rules), qty_down(raw_qty, rules)
    if price is None or qty is None or price * qty < rules.min_notional:
        return None
    return Quote(side, price, qty, ladder)


def _ladder(mid: Decimal, offsets: Sequence[tuple[Decimal, Decimal]], ladder: LadderName,
            rules: SymbolRules) -> tuple[Quote, ...]:
    """Asks at mid x (1 + rate), bids at mid x (1 - rate), interleaved level by level (ask first).

    A level that rounds onto its side's previous price is dropped (the ladder is finer than
    the tick), so one side never holds two quotes at one price.
    """
    out: list[Quote] = []
    last: dict[str, Decimal] = {}
    for rate, size in offsets:
        for side, raw in (("SELL", mid * (ONE + rate)), ("BUY", mid * (ONE - rate))):
            quote = _quote(side, raw, size, ladder, rules)  # type: ignore[arg-type]
            if quote is not None and last.get(side) != quote.price:
                out.append(quote)
                last[side] = quote.price
    return tuple(out)


def near_ladder(book: Book, near: NearLadder, rules: SymbolRules) -> tuple[Quote, ...]:
    """The near quotes around the mid (level i: spread first + i x step, size x growth^i); () without a mid."""
    mid = book.mid
    if mid is None:
        return ()
    offsets = [(near.first_spread_rate + near.step_rate * i, near.size * near.size_growth ** i)
               for i in range(near.levels)]
    return _ladder(mid, offsets, "near", rules)


def far_ladder(book: Book, far: FarLadder, rules: SymbolRules) -> tuple[Quote, ...]:
    """The far quotes, evenly from range_pct[0] % to range_pct[1] % off the mid (one level: at the low end)."""
    mid = book.mid
    if mid is None or far.levels == 0:
        return ()
    low, high = far.range_pct
    gaps = max(far.levels - 1, 1)
    offsets = [((low + (high - low) * i / gaps) / HUNDRED, far.size) for i in range(far.levels)]
    return _ladder(mid, offsets, "far", rules)


def filter_crossing(quotes: Iterable[Quote], book: Book) -> tuple[Quote, ...]:
    """Asks strictly above the best bid, bids strictly below the best ask: nothing that would take.

    An empty book side imposes nothing (there is nothing to cross).
    """
    best_bid, best_ask = book.best_bid, book.best_ask
    return tuple(
        q for q in quotes
        if (q.side == "SELL" and (best_bid is None or q.price > best_bid))
        or (q.side == "BUY" and (best_ask is None or q.price < best_ask))
    )


def apply_position_limit(quotes: Iterable[Quote], position: Decimal, max_position: Decimal, rules: SymbolRules,
                         *, resting_buy_qty: Decimal = ZERO, resting_sell_qty: Decimal = ZERO) -> tuple[Quote, ...]:
    """The quotes whose worst case (every one of a side filled) keeps |position| within ``max_position``.

    Bids may add at most max_position - position - resting_buy_qty, asks at most
    max_position + position - resting_sell_qty (``resting_*``: open orders outside
    ``quotes``, e.g. the other ladder's). The room goes to the quotes nearest the mid; the
    quote that overflows it is trimmed down the step grid (dropped if that leaves it below
    minQty or the minimum notional), and a side with no room is dropped whole. Input order kept.
    """
    position, max_position = to_decimal(position, "position"), to_decimal(max_position, "max_position")
    room = {"BUY": max_position - position - to_decimal(resting_buy_qty, "resting_buy_qty"),
            "SELL": max_position + position - to_decimal(resting_sell_qty, "resting_sell_qty")}
    quotes = tuple(quotes)

    def distance(i: int) -> tuple[str, Decimal]:  # per side, nearest the mid first
        return quotes[i].side, (-quotes[i].price if quotes[i].side == "BUY" else quotes[i].price)

    nearest_first = sorted(range(len(quotes)), key=distance)
    kept: dict[int, Quote] = {}
    for i in nearest_first:
        quote = quotes[i]
        left = room[quote.side]
        if quote.qty <= left:
            kept[i] = quote
        elif left > 0:
            trimmed = _quote(quote.side, quote.price, left, quote.ladder, rules)
            if trimmed is not None:
                kept[i] = attrs.evolve(quote, qty=trimmed.qty)
        if i in kept:
            room[quote.side] = left - kept[i].qty
    return tuple(kept[i] for i in range(len(quotes)) if i in kept)
