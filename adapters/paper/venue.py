"""The paper venue: ``BinanceSigned``'s order interface over an in-process matching engine.

``PaperVenue`` answers ``place``, ``place_batch``, ``cancel_batch``, ``cancel_all`` and
``open_orders`` with the real adapter's types (``PlaceResult``/``CancelResult`` per item,
``OpenOrder``), refusing what Binance refuses with Binance's codes and messages (worded as
the simulated Binance words them): -5022 post-only would cross, -2011 unknown order sent,
-4004/-4023/-4014/-4164 quantity/step/tick/notional filters, -4116 duplicate client id
among open orders, -2025 too many open orders, -5021 FOK, -1121 unknown symbol. Request-level
mistakes raise as they do on the real adapter before anything is sent (``InvalidOrder``:
more than 5 orders or repeated ids in a batch, more than 10 ids to cancel); an unknown
symbol in ``cancel_batch``/``cancel_all``/``open_orders``/``position`` raises
``BinanceError(-1121)`` as the real venue's answer would. Nothing here does I/O: the
methods are async only to match the real venue's interface, and each awaits
``trio.lowlevel.checkpoint()`` (after argument checks, before any effect) so it is a real
scheduling point; the work after the checkpoint is synchronous, hence atomic.

The engine (``adapters.sim.matching.MatchingEngine``, the simulated Binance's) holds only
our orders: every symbol's ``Instrument`` has a ``LiquidityProfile`` with ``levels=0`` and
``on_market_price`` is never called, so no background liquidity ever exists (that method
would quote one tick either side of its price even with ``levels=0``, follow one price
instead of a bid and an ask, and fill orders at the level by a random fraction). The real
market arrives through ``on_book(symbol, best_bid, best_ask, ts_ms)`` instead:

* a resting SELL priced at or below the real best bid, and a resting BUY priced at or above
  the real best ask, fill: the market traded through the quote;
* the fill is for the order's whole remaining quantity, at the order's own limit price
  (a maker fill, ``fee = price * qty * fee_rate_maker``), stamped ``ts_ms``. There are no
  partial fills: without the real queue and depth the paper venue cannot know how much of a
  quote at the touch would have traded, and it assumes all of it (an optimistic paper
  trader). An order that filled is closed, so it fills exactly once;
* mechanically, the engine does it: one IOC taker of a separate owner (``{owner}~market``)
  for exactly the crossed orders' remaining quantity, limited at the furthest crossed price,
  matches them in price-time priority at their prices; the engine's ``Trade`` records of
  our orders become ``Fill`` records, and the orders' engine states go to FILLED.

Placing: the last real book decides crossing. A post-only (GTX) order at or through the real
opposite touch, or through one of our own resting orders (the engine's own check: on
Binance our orders are part of the book), is refused per item with -5022. The paper venue
simulates only maker orders: a GTC/IOC/FOK order that would cross the real market or one
of our own orders is refused with -2010 (no depth to take from, and no self-trade);
one that does not cross rests (GTC), expires (IOC, status EXPIRED) or is refused (FOK,
-5021) as on Binance. Before the first ``on_book`` of a symbol only our own orders count.
Accepted results carry the order's real state after placement (the real adapter's ACK
answers say NEW; a resting order here is NEW too). ``reduce_only`` is checked when the
order is placed (its side must reduce the current position, else -2022) but not again when
it fills, and it waives the minimum notional as on Binance.

Accounting, per symbol, in quote currency, all ``Decimal``: ``position`` is the base
quantity (+ long) and always equals the signed sum of ``fills``; ``realised_pnl`` is the
average-cost gain of every closing quantity minus every fee paid (a fee is charged when it
is paid, opening fills included), ``unrealised_pnl(mark) = position * (mark - average
entry price)`` (fees not in the entry price), so realised + unrealised is the total PnL net
of fees. The average entry price is a Decimal quotient (the default 28 significant digits).
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal, InvalidOperation

import attrs
import trio

from adapters.binance.orders import (
    CancelResult, NewOrder, OpenOrder, PlaceResult, batch_orders_param, check_symbol, client_id_list_param,
)
from adapters.binance.public import BinanceError
from adapters.sim import binance_errors as errors
from adapters.sim import matching
from adapters.sim.binance_errors import ApiError
from adapters.sim.matching import Instrument, LiquidityProfile, MatchingEngine, OrderReport, Side, TimeInForce
from engine.clock import Clock

__all__ = ["Fill", "NO_BACKGROUND_LIQUIDITY", "PaperVenue"]

# The engine quotes background liquidity only from on_market_price, which the paper venue
# never calls; the profile says "none" all the same (levels=0, the thinnest lot).
NO_BACKGROUND_LIQUIDITY = LiquidityProfile(levels=0, spacing_ticks=1, level_lots=1)
TAKER_OWNER_SUFFIX = "~market"  # the owner of the engine orders that stand for the real market



def _reduce_only_rejected() -> ApiError:
    return ApiError(400, -2022, "ReduceOnly Order is rejected.")


def _would_take() -> ApiError:
    return ApiError(400, -2010, "Order would immediately take liquidity: the paper venue simulates maker orders only.")


def _invalid_symbol() -> BinanceError:
    error = errors.invalid_symbol()
    return BinanceError(error.code, error.msg, error.http_status)


@attrs.frozen
class Fill:
    """One fill of one of our orders (always a maker fill at the order's price)."""

    client_order_id: str
    side: str  # BUY | SELL: our order's side
    price: Decimal
    qty: Decimal
    fee: Decimal  # quote currency, positive = paid
    ts_ms: int
    symbol: str
    order_id: int

    @property
    def signed_qty(self) -> Decimal:
        return self.qty if self.side == "BUY" else -self.qty


@attrs.define(eq=False)
class _Symbol:
    instrument: Instrument
    min_qty: Decimal
    min_notional: Decimal
    best_bid: Decimal | None = None  # the real market's, from on_book
    best_ask: Decimal | None = None
    book_ts_ms: int | None = None
    position: Decimal = Decimal(0)
    avg_price: Decimal = Decimal(0)  # average entry price of the open position (0 when flat)
    realised: Decimal = Decimal(0)

    def rules(self) -> tuple[Decimal, Decimal, Decimal, Decimal]:
        return self.instrument.tick_size, self.instrument.step_size, self.min_qty, self.min_notional

    def book_fill(self, side: str, price: Decimal, qty: Decimal, fee: Decimal) -> None:
        """Average cost: adding to the position re-averages the entry price; reducing it
        realises ``closed * (price - entry)`` (signed); flipping opens the rest at ``price``."""
        self.realised -= fee
        held = self.position
        delta = qty if side == "BUY" else -qty
        if held == 0 or (held > 0) == (delta > 0):
            self.avg_price = (abs(held) * self.avg_price + qty * price) / (abs(held) + qty)
        else:
            closed = min(qty, abs(held))
            direction = 1 if held > 0 else -1
            self.realised += closed * (price - self.avg_price) * direction
            if qty > abs(held):
                self.avg_price = price
            elif qty == abs(held):
                self.avg_price = Decimal(0)
        self.position = held + delta


def _positive(value: Decimal, name: str, *, zero_ok: bool = False) -> Decimal:
    if isinstance(value, bool) or not isinstance(value, Decimal) or not value.is_finite() \
            or value < 0 or (value == 0 and not zero_ok):
        raise ValueError(f"{name} must be a finite Decimal {'>= 0' if zero_ok else '> 0'}, got {value!r}")
    return value


def _on_grid(value: Decimal, unit: Decimal) -> bool:
    try:
        return value % unit == 0
    except InvalidOperation:  # a quotient beyond the context's precision: not a sane order either
        return False


def _refused(client_order_id: str, error: ApiError) -> PlaceResult:
    return PlaceResult(ok=False, client_order_id=client_order_id, code=error.code, msg=error.msg)


def _accepted(report: OrderReport) -> PlaceResult:
    return PlaceResult(ok=True, client_order_id=report.client_order_id, order_id=report.order_id,
                       status=report.status.value, price=report.price, orig_qty=report.orig_qty,
                       executed_qty=report.executed_qty)


def _open_order(report: OrderReport) -> OpenOrder:
    return OpenOrder(symbol=report.symbol, order_id=report.order_id, client_order_id=report.client_order_id,
                     side=report.side.value, status=report.status.value, order_type=report.order_type,
                     time_in_force=report.time_in_force.value, price=report.price, orig_qty=report.orig_qty,
                     executed_qty=report.executed_qty, time_ms=report.time_ms, update_time_ms=report.update_time_ms)


class PaperVenue:
    """See the module docstring. ``fills`` lists every fill in order."""

    def __init__(self, clock: Clock, *, seed: int = 0, owner: str = "paper",
                 fee_rate_maker: Decimal = Decimal("0.0002")) -> None:
        if not isinstance(owner, str) or not owner:
            raise ValueError(f"owner must be a non-empty string, got {owner!r}")
        if isinstance(fee_rate_maker, bool) or not isinstance(fee_rate_maker, Decimal) \
                or not fee_rate_maker.is_finite():
            raise ValueError(f"fee_rate_maker must be a finite Decimal, got {fee_rate_maker!r}")
        self.clock = clock
        self.owner = owner
        self.fee_rate_maker = fee_rate_maker
        self.fills: list[Fill] = []
        self._engine = MatchingEngine(seed=seed)
        self._market_owner = f"{owner}{TAKER_OWNER_SUFFIX}"
        self._symbols: dict[str, _Symbol] = {}

    def __repr__(self) -> str:
        return f"PaperVenue(owner={self.owner!r}, symbols={sorted(self._symbols)})"

    # ------------------------------------------------------------------ set-up and the real market
    def add_symbol(self, symbol: str, tick_size: Decimal, step_size: Decimal, min_qty: Decimal,
                   min_notional: Decimal) -> None:
        """Register a symbol with its exchange rules (again with the same rules: no-op)."""
        symbol = check_symbol(symbol)
        state = _Symbol(Instrument(symbol, _positive(tick_size, "tick_size"), _positive(step_size, "step_size"),
                                   NO_BACKGROUND_LIQUIDITY),
                        _positive(min_qty, "min_qty", zero_ok=True),
                        _positive(min_notional, "min_notional", zero_ok=True))
        known = self._symbols.get(symbol)
        if known is not None:
            if known.rules() != state.rules():
                raise ValueError(f"{symbol} is registered with other rules: {known.rules()} != {state.rules()}")
            return
        self._engine.add_instrument(state.instrument)
        self._symbols[symbol] = state

    @property
    def symbols(self) -> list[str]:
        return sorted(self._symbols)

    def on_book(self, symbol: str, best_bid: Decimal, best_ask: Decimal, ts_ms: int) -> list[Fill]:
        """The real market's touch moved: fill our SELLs at or below ``best_bid`` and our BUYs
        at or above ``best_ask`` (whole remaining quantity, at their own prices); returns
        the new fills (also appended to ``fills``)."""
        state = self._local(symbol)
        _positive(best_bid, "best_bid")
        _positive(best_ask, "best_ask")
        state.best_bid, state.best_ask, state.book_ts_ms = best_bid, best_ask, ts_ms
        resting = self._engine.open_orders(self.owner, symbol)
        new: list[Fill] = []
        asks = [r for r in resting if r.side is Side.SELL and r.price <= best_bid]
        bids = [r for r in resting if r.side is Side.BUY and r.price >= best_ask]
        if asks:
            new += self._trade_through(state, asks, Side.BUY, max(r.price for r in asks), ts_ms)
        if bids:
            new += self._trade_through(state, bids, Side.SELL, min(r.price for r in bids), ts_ms)
        return new

    def _trade_through(self, state: _Symbol, crossed: list[OrderReport], taker_side: Side, limit: Decimal,
                       ts_ms: int) -> list[Fill]:
        """One IOC order of the market's owner for exactly the crossed orders' remaining
        quantity, limited at the furthest of their prices: nothing else rests on that side
        within the limit (an order priced within it is crossed), so exactly they fill."""
        symbol = state.instrument.symbol
        by_id = {r.order_id: r for r in crossed}
        quantity = sum((r.orig_qty - r.executed_qty for r in crossed), Decimal(0))
        self._engine.trades.clear()  # drained after every sweep: nothing else trades
        self._engine.place(owner=self._market_owner, symbol=symbol, side=taker_side, quantity=quantity,
                           price=limit, time_in_force=TimeInForce.IOC, now_ms=ts_ms)
        trades = [t for t in self._engine.trades if t.owner == self.owner]
        self._engine.trades.clear()
        assert sum((t.qty for t in trades), Decimal(0)) == quantity, "a crossed order did not fill completely"
        new = []
        for trade in trades:
            assert trade.is_maker and trade.order_id in by_id
            fill = Fill(client_order_id=by_id[trade.order_id].client_order_id, side=trade.side.value,
                        price=trade.price, qty=trade.qty, fee=trade.price * trade.qty * self.fee_rate_maker,
                        ts_ms=ts_ms, symbol=symbol, order_id=trade.order_id)
            state.book_fill(fill.side, fill.price, fill.qty, fill.fee)
            new.append(fill)
        self.fills.extend(new)
        return new

    # ------------------------------------------------------------------ the venue interface
    async def place(self, order: NewOrder) -> PlaceResult:
        """One order; a refusal is ``PlaceResult(ok=False, code, msg)``."""
        await trio.lowlevel.checkpoint()
        return self._place(order, self.clock.time_ms())

    async def place_batch(self, orders: Sequence[NewOrder]) -> list[PlaceResult]:
        """1 to 5 orders with distinct client ids (else ``InvalidOrder``): one result per
        order in input order, each accepted or refused on its own."""
        batch_orders_param(orders)  # the real adapter's checks, before anything is "sent"
        await trio.lowlevel.checkpoint()
        now_ms = self.clock.time_ms()
        return [self._place(order, now_ms) for order in orders]

    async def cancel_batch(self, symbol: str, client_ids: Sequence[str]) -> list[CancelResult]:
        """1 to 10 client ids (else ``InvalidOrder``): one result per id in input order
        (-2011 Unknown order sent: not open)."""
        symbol = check_symbol(symbol)
        client_id_list_param(client_ids)
        ids = list(client_ids)
        await trio.lowlevel.checkpoint()
        self._venue_symbol(symbol)
        now_ms = self.clock.time_ms()
        results = []
        for cid in ids:
            try:
                report = self._engine.cancel(owner=self.owner, symbol=symbol, client_order_id=cid, now_ms=now_ms)
            except matching.OrderNotFound:
                results.append(_refused(cid, errors.unknown_order_sent()))
            else:
                results.append(_accepted(report))
        return results

    async def cancel_all(self, symbol: str) -> None:
        """Every open order of ``symbol``."""
        symbol = check_symbol(symbol)
        await trio.lowlevel.checkpoint()
        self._venue_symbol(symbol)
        self._engine.cancel_all(owner=self.owner, symbol=symbol, now_ms=self.clock.time_ms())

    async def open_orders(self, symbol: str | None) -> list[OpenOrder]:
        """Our open orders of ``symbol`` (every symbol for None), oldest first."""
        if symbol is not None:
            symbol = check_symbol(symbol)
        await trio.lowlevel.checkpoint()
        if symbol is not None:
            self._venue_symbol(symbol)
        return [_open_order(report) for report in self._engine.open_orders(self.owner, symbol)]

    async def position(self, symbol: str) -> Decimal:
        """The base quantity held (+ long); async like a real venue's position query (the
        market maker awaits it). ``position_now`` is the same, synchronously."""
        await trio.lowlevel.checkpoint()
        return self._venue_symbol(symbol).position

    # ------------------------------------------------------------------ accounting (synchronous)
    def position_now(self, symbol: str) -> Decimal:
        return self._local(symbol).position

    def average_price(self, symbol: str) -> Decimal:
        """Average entry price of the open position (0 when flat)."""
        return self._local(symbol).avg_price

    def realised_pnl(self, symbol: str) -> Decimal:
        """Closed gains on average cost minus every fee paid, in quote currency."""
        return self._local(symbol).realised

    def unrealised_pnl(self, symbol: str, mark: Decimal) -> Decimal:
        """``position * (mark - average entry price)``, in quote currency."""
        state = self._local(symbol)
        return state.position * (mark - state.avg_price)

    # ------------------------------------------------------------------ internals
    def _local(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            raise KeyError(f"unknown symbol {symbol!r}: add_symbol it first")
        return state

    def _venue_symbol(self, symbol: str) -> _Symbol:
        state = self._symbols.get(symbol)
        if state is None:
            raise _invalid_symbol()
        return state

    def _place(self, order: NewOrder, now_ms: int) -> PlaceResult:
        cid = order.client_order_id
        state = self._symbols.get(order.symbol)
        if state is None:
            return _refused(cid, errors.invalid_symbol())
        tick, step = state.instrument.tick_size, state.instrument.step_size
        quantity, price = order.quantity, order.price
        if quantity < state.min_qty:
            return _refused(cid, errors.qty_below_min())
        if not _on_grid(quantity, step):
            return _refused(cid, errors.qty_off_step())
        if not _on_grid(price, tick):
            return _refused(cid, errors.price_off_tick())
        if not order.reduce_only and quantity * price < state.min_notional:
            return _refused(cid, errors.min_notional(format(state.min_notional.normalize(), "f")))
        side = Side(order.side)
        if order.reduce_only and not (state.position < 0 if side is Side.BUY else state.position > 0):
            return _refused(cid, _reduce_only_rejected())
        tif = TimeInForce(order.time_in_force)
        if self._crosses_market(state, side, price):
            return _refused(cid, errors.post_only_rejected() if tif is TimeInForce.GTX else _would_take())
        if tif is not TimeInForce.GTX and self._crosses_own(order.symbol, side, price):
            return _refused(cid, _would_take())  # GTX through our own orders: the engine answers -5022
        try:
            report = self._engine.place(owner=self.owner, symbol=order.symbol, side=side, quantity=quantity,
                                        price=price, order_type=order.order_type, time_in_force=tif,
                                        client_order_id=cid, now_ms=now_ms)
        except matching.OrderRejected as rejected:
            return _refused(cid, errors.MATCHING_REJECTIONS[rejected.reason]())
        return _accepted(report)

    @staticmethod
    def _crosses_market(state: _Symbol, side: Side, price: Decimal) -> bool:
        if side is Side.BUY:
            return state.best_ask is not None and price >= state.best_ask
        return state.best_bid is not None and price <= state.best_bid

    def _crosses_own(self, symbol: str, side: Side, price: Decimal) -> bool:
        depth = self._engine.depth(symbol, 1)  # only our orders rest in the engine
        opposite = depth.asks if side is Side.BUY else depth.bids
        if not opposite:
            return False
        best = opposite[0][0]
        return price >= best if side is Side.BUY else price <= best
