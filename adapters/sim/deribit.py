"""The simulated Deribit: JSON-RPC 2.0 over HTTP GET and WebSocket on one port.

``GET /api/v2/public/<method>?<params>`` and text frames on ``/ws/api/v2`` serve
``public/get_index_price``, ``public/get_index_price_names``, ``public/get_instruments``,
``public/get_book_summary_by_currency``, ``public/get_time`` and ``public/test``;
the socket also serves subscriptions to ``deribit_price_index.<index>`` and heartbeats.

Limits, per client (remote address), shared by HTTP and WebSocket: the credit pools of
``DeribitLimits``. A request arriving without enough credits is answered
``{"code": 10028, "message": "too_many_requests"}`` (HTTP status ``throttle_http_status``,
400 by default like every Deribit JSON-RPC error; the WebSocket session is then closed),
costs nothing and counts as ``throttled``. JSON-RPC errors travel with HTTP 400.
"""

from __future__ import annotations

import itertools
from typing import Any, Callable, ClassVar

import attrs
import trio
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route, WebSocketRoute
from starlette.websockets import WebSocket

from adapters.sim.processes import step_on_grid
from adapters.sim.control import VenueControl
from adapters.sim.deribit_market import DEFAULT_SPECS, DeribitMarket, index_round
from adapters.sim.deribit_protocol import (
    DeribitLimits, RpcError, call_method, encode, envelope, internal_error, too_many_requests, truncated, try_spend,
)
from adapters.sim.deribit_ws import WsSession
from engine.clock import Clock
from engine.ratelimit import BucketState

GATEWAY_PAGE = "<html><head><title>{0}</title></head><body><center><h1>{0}</h1></center><hr>" \
               "<center>cloudflare</center></body></html>"
GATEWAY_ERRORS = ((502, "502 Bad Gateway"), (503, "503 Service Temporarily Unavailable"))


@attrs.frozen
class Outcome:
    """How one request is answered, before it is put on a transport."""

    us_in: int
    result: Any = None
    error: RpcError | None = None
    fault: str | None = None  # "5xx" or "malformed" when an armed fault shapes the answer
    throttled: bool = False  # a 10028 answer (limit or armed burst)


class DeribitSim:
    """Simulated Deribit. Options:

    ``currencies``: coins with inverse options (currency BTC/ETH) and a ``<coin>_usd`` index;
    ``usdc_coins``: coins with linear USDC options and a ``<coin>_usdc`` index (no ARB: Deribit
    has none); ``start_prices`` / ``atm_vols`` per coin (defaults in ``DEFAULT_SPECS``);
    ``step_interval_s``: market step of ``run_market``; ``limits``: credit pools;
    ``throttle_http_status``; ``max_ws_connections`` per client (HTTP 429 past it, as the
    venue's 33rd connection per IP); ``min_heartbeat_interval_s`` (venue: 10).
    """

    name: ClassVar[str] = "deribit"

    def __init__(self, *, seed: int, clock: Clock, control: VenueControl,
                 currencies: tuple[str, ...] = ("BTC", "ETH"),
                 start_prices: dict[str, float] | None = None, atm_vols: dict[str, float] | None = None,
                 usdc_coins: tuple[str, ...] = ("BTC", "ETH", "SOL", "XRP"), step_interval_s: float = 1.0,
                 basis_annual: float = 0.03, max_strikes: int = 41, limits: DeribitLimits | None = None,
                 throttle_http_status: int = 400, max_ws_connections: int = 32,
                 min_heartbeat_interval_s: float = 10.0) -> None:
        coins = tuple(dict.fromkeys((*currencies, *usdc_coins)))
        unknown = [c for c in (*coins, *(start_prices or {}), *(atm_vols or {})) if c not in DEFAULT_SPECS]
        if unknown:
            raise ValueError(f"deribit: no options or index for {unknown}; known coins: {', '.join(DEFAULT_SPECS)}")
        if step_interval_s <= 0:
            raise ValueError("deribit: step_interval_s must be > 0")
        specs = {}
        for coin in coins:
            price = (start_prices or {}).get(coin, DEFAULT_SPECS[coin].start_price)
            vol = (atm_vols or {}).get(coin, DEFAULT_SPECS[coin].atm_vol)
            if price <= 0 or vol <= 0:
                raise ValueError(f"deribit: {coin} start price and ATM vol must be > 0")
            specs[coin] = attrs.evolve(DEFAULT_SPECS[coin], start_price=float(price), atm_vol=float(vol))
        self.clock, self.control = clock, control
        self.limits = limits or DeribitLimits()
        self.step_interval_s = step_interval_s
        self.throttle_http_status = throttle_http_status
        self.max_ws_connections = max_ws_connections
        self.min_heartbeat_interval_s = min_heartbeat_interval_s
        self.market = DeribitMarket(seed=seed, now_ms=clock.time_ms(), specs=specs, inverse_coins=tuple(currencies),
                                    linear_coins=tuple(usdc_coins), basis_annual=basis_annual,
                                    max_strikes=max_strikes)
        self._index_coins = {f"{c.lower()}_usd": c for c in currencies}
        self._index_coins.update({f"{c.lower()}_usdc": c for c in usdc_coins})
        self._credits: dict[tuple[str, str], BucketState] = {}
        self._rows_cache: dict[tuple[str, bool], tuple[int, list[dict[str, Any]]]] = {}
        self._tick = trio.Event()
        self._gateway_errors = itertools.cycle(GATEWAY_ERRORS)

    # ------------------------------------------------------------------ contract
    def app(self) -> Starlette:
        return Starlette(routes=[
            Route("/api/v2/{scope}/{method}", self._http, methods=["GET"]),
            WebSocketRoute("/ws/api/v2", self._websocket),
        ])

    async def run_market(self) -> None:
        """Step the market every ``step_interval_s`` of trio time, forever (cancel to stop)."""
        await step_on_grid(self.step, self.step_interval_s)

    def step(self, dt_s: float) -> None:
        """Advance the market deterministically and wake the socket pushers."""
        self.market.step(dt_s)
        tick, self._tick = self._tick, trio.Event()
        tick.set()

    def control_action(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """``jump_price`` {"currency", "pct"}: move a coin's index at once;
        ``set_atm_vol`` {"currency", "vol"}: re-level its smile (vol as a fraction, 0.55)."""
        if action not in ("jump_price", "set_atm_vol"):
            raise ValueError(f"deribit: unknown action {action!r}; known: jump_price, set_atm_vol")
        coin = params.get("currency")
        coin = coin.upper() if isinstance(coin, str) else coin
        if coin not in self.market.specs:
            raise ValueError(f"deribit {action}: currency must be one of {', '.join(self.market.specs)}, got {coin!r}")
        field = "pct" if action == "jump_price" else "vol"
        value = params.get(field)
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ValueError(f"deribit {action}: {field} must be a number")
        extra = set(params) - {"currency", field}
        if extra:
            raise ValueError(f"deribit {action}: unknown params {sorted(extra)}")
        if action == "jump_price":
            if value <= -100:
                raise ValueError("deribit jump_price: pct must be > -100")
            return {"currency": coin, "index_price": index_round(self.market.jump(coin, float(value)))}
        if not 0 < value <= 5:
            raise ValueError("deribit set_atm_vol: vol must be in (0, 5] (a fraction: 0.55 is 55 %)")
        self.market.set_atm_vol(coin, float(value))
        return {"currency": coin, "atm_vol": float(value)}

    # ------------------------------------------------------------------ venue view
    @property
    def tick(self) -> trio.Event:
        return self._tick

    def index_price(self, index_name: str) -> float | None:
        coin = self._index_coins.get(index_name)
        return None if coin is None else index_round(self.market.index_price(coin))

    def index_names(self) -> list[str]:
        return sorted(self._index_coins)

    def option_rows(self, currency: str, *, summaries: bool) -> list[dict[str, Any]]:
        """Rows cached per market version: a burst of polls costs one computation."""
        key = (currency, summaries)
        cached = self._rows_cache.get(key)
        if cached is None or cached[0] != self.market.version:
            cached = self._rows_cache[key] = (self.market.version, self.market.rows(currency, summaries=summaries))
        return cached[1]

    def now_ms(self) -> int:
        return self.clock.time_ms()

    def market_now_ms(self) -> int:
        return self.market.now_ms

    def now_us(self) -> int:
        return int(self.clock.time_s() * 1_000_000)

    # ------------------------------------------------------------------ answering
    async def answer(self, client: str, method: str, params: Any,
                     local: dict[str, Callable[[dict[str, Any]], Any]]) -> Outcome:
        """Faults first, then the client's credits, then the method itself."""
        us_in = self.now_us()
        faults = self.control.faults
        stats = self.control.accounting.request(client, method)
        await faults.before_answer()
        fault = faults.take_error("10028", "5xx", "malformed")
        if fault == "10028":
            return Outcome(us_in, error=too_many_requests(), throttled=True)
        if fault == "5xx":
            return Outcome(us_in, error=internal_error(), fault="5xx")
        pool = self.limits.pool_for(method)
        key = (client, pool.name)
        self._credits[key], granted = try_spend(self._credits.get(key), self.clock.monotonic(), pool)
        if not granted:
            stats.throttled += 1
            return Outcome(us_in, error=too_many_requests(), throttled=True)
        stats.weight += int(pool.cost)
        try:
            handler = local.get(method) if isinstance(params, dict) else None
            result = handler(params) if handler else call_method(self, method, params)
        except RpcError as error:
            if error.is_validation:
                stats.rejected += 1
            return Outcome(us_in, error=error, fault=fault)
        return Outcome(us_in, result=result, fault=fault)

    async def _http(self, request: Request) -> Response:
        method = f"{request.path_params['scope']}/{request.path_params['method']}"
        client = request.client.host if request.client else "unknown"
        outcome = await self.answer(client, method, dict(request.query_params), {})
        if outcome.fault == "5xx":
            status, title = next(self._gateway_errors)
            return Response(GATEWAY_PAGE.format(title), status_code=status, media_type="text/html")
        body = encode(envelope(us_in=outcome.us_in, us_out=self.now_us(), result=outcome.result,
                               error=outcome.error))
        if outcome.fault == "malformed":
            return Response(truncated(body), status_code=200, media_type="application/json")
        status = 200 if outcome.error is None else self.throttle_http_status if outcome.throttled else 400
        return Response(body, status_code=status, media_type="application/json")

    async def _websocket(self, websocket: WebSocket) -> None:
        client = websocket.client.host if websocket.client else "unknown"
        if self.control.accounting.clients[client].connections >= self.max_ws_connections:
            await websocket.send_denial_response(Response("too many connections", status_code=429))
            return
        await websocket.accept()
        await WsSession(self, websocket, client, self.control.faults.drop_generation).run()
