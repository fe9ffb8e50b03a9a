"""Value types of the matching engine's Decimal-facing API (the paper venue's vocabulary)."""

from __future__ import annotations

from decimal import Decimal

import attrs

from adapters.sim.matching_book import OrderStatus, Side, TimeInForce


@attrs.frozen
class LiquidityProfile:
    """Background liquidity: ``levels`` per side on a grid of ``spacing_ticks`` ticks."""

    levels: int = 20
    spacing_ticks: int = 1
    level_lots: int = 100  # mean lots of one background level


@attrs.frozen
class Instrument:
    symbol: str
    tick_size: Decimal
    step_size: Decimal
    liquidity: LiquidityProfile = LiquidityProfile()
    max_open_orders: int = 200  # per owner (Binance MAX_NUM_ORDERS)


@attrs.frozen
class OrderReport:
    """An order's state at one instant (what a venue answers about an order)."""

    order_id: int
    client_order_id: str
    owner: str
    symbol: str
    side: Side
    order_type: str  # LIMIT | MARKET
    time_in_force: TimeInForce
    price: Decimal  # 0 for market orders
    orig_qty: Decimal
    executed_qty: Decimal
    cum_quote: Decimal
    avg_price: Decimal  # 0 until something filled
    status: OrderStatus
    time_ms: int
    update_time_ms: int

    def as_acknowledged(self) -> "OrderReport":
        """The state at acceptance, before matching (Binance ``newOrderRespType=ACK``)."""
        zero = Decimal(0)
        return attrs.evolve(self, executed_qty=zero, cum_quote=zero, avg_price=zero,
                            status=OrderStatus.NEW, update_time_ms=self.time_ms)


@attrs.frozen
class Trade:
    """A fill of an owner's order."""

    symbol: str
    order_id: int
    owner: str
    side: Side
    price: Decimal
    qty: Decimal
    is_maker: bool
    ts_ms: int


@attrs.frozen
class BookSnapshot:
    symbol: str
    bids: tuple[tuple[Decimal, Decimal], ...]  # best first
    asks: tuple[tuple[Decimal, Decimal], ...]
    update_id: int
    ts_ms: int  # last change
