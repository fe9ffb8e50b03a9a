"""The simulated Binance USDⓈ-M futures venue: market, matching engine, REST and streams
on one port.

Compose with the other simulated venues through the common contract: ``app()``,
``run_market()``, ``step(dt_s)``, ``control_action(action, params)``.
"""

from __future__ import annotations

import math
from typing import Any, ClassVar

from starlette.applications import Starlette

from adapters.sim.processes import step_on_grid
from adapters.sim.binance_market import BinanceMarket
from adapters.sim.binance_rest import RestShell
from adapters.sim.binance_universe import SymbolSpec
from adapters.sim.binance_ws import StreamServer
from adapters.sim.control import VenueControl
from adapters.sim.matching import BookSnapshot, Instrument, LiquidityProfile, MatchingEngine
from engine.clock import Clock

CONTROL_ACTIONS = ("jump_price", "spike_oi", "set_quote_volume", "set_status")


def liquidity_for(spec: SymbolSpec, levels: int) -> LiquidityProfile:
    """Background book: levels on a ~1 bp grid, each worth ~2 s of the symbol's 24 h
    turnover (at least 200 USDT), so busy symbols have deep books and quiet ones thin."""
    price = spec.initial_price
    spacing = max(1, round(price * 1e-4 / float(spec.tick_size)))
    level_notional = max(200.0, spec.initial_quote_volume / 86_400.0 * 2.0)
    level_lots = max(1, round(level_notional / price / float(spec.step_size)))
    return LiquidityProfile(levels=levels, spacing_ticks=spacing, level_lots=level_lots)


class BinanceSim:
    """Binance USDⓈ-M futures on loopback, speaking the real wire protocol."""

    name: ClassVar[str] = "binance"

    def __init__(self, *, seed: int, clock: Clock, control: VenueControl, symbols: int = 300,
                 settling_symbols: int = 2, api_keys: dict[str, str] | None = None,
                 weight_limit_per_min: int = 2400, orders_per_10s: int = 300, orders_per_min: int = 1200,
                 oi_hist_requests_per_5min: int = 1000, ban_after_429s: int = 10, step_interval_s: float = 0.25,
                 max_recv_window_ms: int = 60_000, order_timeout_hang_s: float = 0.0, book_levels: int = 20,
                 ws_tick_s: float = 0.05) -> None:
        if step_interval_s <= 0:
            raise ValueError("step_interval_s must be > 0")
        self.seed, self.clock, self.control = seed, clock, control
        self.api_keys = dict(api_keys) if api_keys is not None else {"sim-key": "sim-secret"}
        self.weight_limit_per_min, self.ban_after_429s = weight_limit_per_min, ban_after_429s
        self.orders_per_10s, self.orders_per_min = orders_per_10s, orders_per_min
        self.oi_hist_requests_per_5min = oi_hist_requests_per_5min
        self.step_interval_s, self.max_recv_window_ms = step_interval_s, max_recv_window_ms
        self.order_timeout_hang_s = order_timeout_hang_s
        self.market = BinanceMarket(seed=seed, start_ms=clock.time_ms(), perpetuals=symbols,
                                    settling=settling_symbols)
        self.engine = MatchingEngine(seed=seed)
        for spec in self.market.specs:
            self.engine.add_instrument(Instrument(spec.symbol, spec.tick_size, spec.step_size,
                                                  liquidity_for(spec, book_levels)))
        self._rest = RestShell(self)
        self._streams = StreamServer(self, tick_s=ws_tick_s)

    def app(self) -> Starlette:
        """REST and websockets on one port."""
        return Starlette(routes=[*self._rest.routes(), *self._streams.routes()])

    async def run_market(self) -> None:
        """Step the market every ``step_interval_s`` of trio time, forever (cancel to stop)."""
        await step_on_grid(self.step, self.step_interval_s)

    def step(self, dt_s: float) -> None:
        """Advance the market by ``dt_s`` and let it trade through the active books."""
        self.market.step(dt_s)
        for symbol, state in self.market.states.items():
            if self.engine.is_active(symbol):
                self.engine.on_market_price(symbol, state.mark_price, now_ms=self.market.now_ms)

    def activate(self, symbol: str) -> None:
        """Create a symbol's book (background liquidity around the current price) on first use."""
        if not self.engine.is_active(symbol):
            self.engine.on_market_price(symbol, self.market.states[symbol].mark_price, now_ms=self.market.now_ms)

    def book(self, symbol: str, levels: int) -> BookSnapshot:
        self.activate(symbol)
        return self.engine.depth(symbol, levels)

    def snapshot(self) -> dict[str, Any]:
        """Market numbers and active books: what determinism tests compare."""
        books = {symbol: self.engine.depth(symbol, 20) for symbol in self.market.states
                 if self.engine.is_active(symbol)}
        return {"market": self.market.snapshot(), "books": {s: (b.bids, b.asks) for s, b in books.items()}}

    # ------------------------------------------------------------------ control
    def _symbol(self, params: dict[str, Any]) -> str:
        symbol = params.get("symbol")
        if not isinstance(symbol, str) or symbol not in self.market.states:
            raise ValueError(f"params.symbol must name a listed symbol, got {symbol!r}")
        return symbol

    @staticmethod
    def _number(params: dict[str, Any], name: str) -> float:
        value = params.get(name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"params.{name} must be a finite number, got {value!r}")
        return float(value)

    def control_action(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """``jump_price`` {symbol, pct}, ``spike_oi`` {symbol, pct} (negative: dump),
        ``set_quote_volume`` {symbol, quote_volume}, ``set_status`` {symbol, status}."""
        if action not in CONTROL_ACTIONS:
            raise ValueError(f"unknown action {action!r}; known: {', '.join(CONTROL_ACTIONS)}")
        symbol = self._symbol(params)
        if action == "jump_price":
            pct = self._number(params, "pct")
            if pct <= -100:
                raise ValueError("params.pct must be > -100")
            price = self.market.jump_price(symbol, pct)
            fills = []
            if self.engine.is_active(symbol):
                fills = self.engine.on_market_price(symbol, price, now_ms=self.clock.time_ms())
            return {"symbol": symbol, "price": price, "fills": len(fills)}
        if action == "spike_oi":
            return {"symbol": symbol, "open_interest": self.market.spike_oi(symbol, self._number(params, "pct"))}
        if action == "set_quote_volume":
            quote_volume = self._number(params, "quote_volume")
            return {"symbol": symbol, "quote_volume": self.market.set_quote_volume(symbol, quote_volume)}
        status = params.get("status")
        if not isinstance(status, str):
            raise ValueError(f"params.status must be a string, got {status!r}")
        return {"symbol": symbol, "status": self.market.set_status(symbol, status)}


__all__ = ["BinanceSim", "CONTROL_ACTIONS", "liquidity_for"]
