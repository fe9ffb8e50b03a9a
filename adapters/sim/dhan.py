"""The simulated Dhan venue: REST (``/v2/...``) and the binary market feed (``/``) on one port.

Config for an engine pointed at it: ``rest_url = "http://127.0.0.1:PORT/v2"``,
``feed_url = "ws://127.0.0.1:PORT"``; the instrument master is served at
``/v2/instruments/api-scrip-master-detailed.csv`` (the real one lives on a CDN, so make
that URL configurable too). See dhan_rest.py and dhan_feed.py for the wire behaviour.
"""

from __future__ import annotations

from datetime import date
from typing import Any, ClassVar, Iterable

from starlette.applications import Starlette
from starlette.routing import Route, WebSocketRoute

from adapters.sim.processes import step_on_grid
from adapters.sim.control import VenueControl
from adapters.sim.dhan_access import Credentials
from adapters.sim.dhan_feed import DhanFeed
from adapters.sim.dhan_market import DhanMarket, start_of_day_s
from adapters.sim.dhan_packets import REASON_TOKEN_EXPIRED, encode_market_status
from adapters.sim.dhan_quotes import check_smile
from adapters.sim.dhan_rest import INSTRUMENT_MASTER_PATH, DhanRest
from adapters.sim.dhan_universe import select_underlyings, synthetic_indices as make_synthetic_indices
from engine.clock import Clock


class DhanSim:
    """Seeded Dhan venue. Options (all keyword, with defaults):

    * ``access_token="sim-token"``, ``client_id="1000000001"``: the one valid user.
    * ``today=None``: pin the market's start to 10:00 IST of this date (tests); default
      is the clock's wall time.
    * ``holiday_mode=False``: start frozen, with the underlying's last price 0 (chain and quotes).
    * ``underlyings=None``: symbols to list (default all: NIFTY, BANKNIFTY, FINNIFTY,
      MIDCPNIFTY, SENSEX, RELIANCE, INFY, CRUDEOIL).
    * ``synthetic_indices=0``, ``synthetic_weeklies=12``: made-up indices SIMIDX01, ... listed
      after those, each with that many weekly expiries (load tests: many chains and tokens).
    * ``strikes_each_side=60``: strikes listed each side of the ATM on every expiry.
    * ``step_interval_s=0.5``: market step (and feed frame) cadence of ``run_market``.
    * ``max_feed_connections=5``, ``over_limit="disconnect"`` (or ``"ignore"``): feed caps.
    """

    name: ClassVar[str] = "dhan"

    def __init__(self, *, seed: int, clock: Clock, control: VenueControl, access_token: str = "sim-token",
                 client_id: str = "1000000001", today: date | None = None, holiday_mode: bool = False,
                 underlyings: Iterable[str] | None = None, synthetic_indices: int = 0,
                 synthetic_weeklies: int = 12, strikes_each_side: int = 60,
                 step_interval_s: float = 0.5, max_feed_connections: int = 5,
                 over_limit: str = "disconnect") -> None:
        if step_interval_s <= 0:
            raise ValueError("step_interval_s must be > 0")
        specs = select_underlyings(underlyings) + make_synthetic_indices(synthetic_indices, synthetic_weeklies)
        for spec in specs:
            check_smile(spec.atm_vol)
        self.clock = clock
        self.control = control
        self.step_interval_s = step_interval_s
        self.creds = Credentials(access_token, client_id)
        start_s = start_of_day_s(today) if today is not None else clock.time_s()
        self.market = DhanMarket(seed=seed, time_s=start_s, specs=specs, strikes_each_side=strikes_each_side,
                                 holiday_mode=holiday_mode)
        self.rest = DhanRest(self.market, control, self.creds, clock)
        self.feed = DhanFeed(self.market, control, self.creds, max_connections=max_feed_connections,
                             over_limit=over_limit)

    def app(self) -> Starlette:
        rest = self.rest
        return Starlette(routes=[
            Route("/v2/optionchain/expirylist", rest.expiry_list, methods=["POST"]),
            Route("/v2/optionchain", rest.option_chain, methods=["POST"]),
            Route("/v2/marketfeed/ltp", rest.market_quote("ltp"), methods=["POST"]),
            Route("/v2/marketfeed/ohlc", rest.market_quote("ohlc"), methods=["POST"]),
            Route("/v2/marketfeed/quote", rest.market_quote("quote"), methods=["POST"]),
            Route(INSTRUMENT_MASTER_PATH, rest.instrument_master, methods=["GET"]),
            WebSocketRoute("/", self.feed.endpoint),
        ])

    async def run_market(self) -> None:
        """Step the market every ``step_interval_s`` of trio time, forever (cancel to stop)."""
        await step_on_grid(self.step, self.step_interval_s)

    def step(self, dt_s: float) -> None:
        """Advance the market deterministically and push one frame per feed connection."""
        self.market.step(dt_s)
        self.feed.publish()

    # ------------------------------------------------------------------ control
    def control_action(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        """Venue-specific control: jump_price, set_expiries, holiday_mode, expire_token,
        renew_token, remove_strikes, fail_option_chain."""
        handler = getattr(self, f"_action_{action}", None)
        if handler is None:
            raise ValueError(f"unknown dhan action {action!r}; known: {', '.join(self.actions())}")
        try:
            return handler(**params)
        except TypeError as exc:
            raise ValueError(f"bad params for dhan action {action!r}: {exc}") from None

    @classmethod
    def actions(cls) -> list[str]:
        return sorted(name.removeprefix("_action_") for name in dir(cls) if name.startswith("_action_"))

    def _action_jump_price(self, underlying: str, pct: float) -> dict[str, Any]:
        if isinstance(pct, bool) or not isinstance(pct, (int, float)) or pct <= -100:
            raise ValueError(f"jump_price: pct must be a number > -100, got {pct!r}")
        price = self.market.jump(underlying, float(pct))
        self.feed.publish()
        return {"underlying": underlying, "price": price}

    def _action_set_expiries(self, underlying: str, expiries: list[str] | None) -> dict[str, Any]:
        """Override the calendar (``null`` restores it); dates are YYYY-MM-DD."""
        try:
            if expiries is not None and not isinstance(expiries, list):
                raise TypeError
            parsed = None if expiries is None else [date.fromisoformat(e) for e in expiries]
        except (TypeError, ValueError):
            raise ValueError(f"set_expiries: expiries must be a list of YYYY-MM-DD strings or null, "
                             f"got {expiries!r}") from None
        self.market.set_expiries(underlying, parsed)
        return {"underlying": underlying, "expiries": [e.isoformat() for e in self.market.expiries(underlying)]}

    def _action_holiday_mode(self, on: bool) -> dict[str, Any]:
        if not isinstance(on, bool):
            raise ValueError("holiday_mode: needs {'on': true|false}")
        if on != self.market.holiday_mode:
            self.market.holiday_mode = on
            self.feed.broadcast(encode_market_status())
        return {"holiday_mode": on}

    def _action_expire_token(self) -> dict[str, Any]:
        """REST answers 807 from now on; open feed connections get disconnect 807."""
        self.creds.token_expired = True
        self.feed.kick_all(REASON_TOKEN_EXPIRED)
        return {"token_expired": True}

    def _action_renew_token(self) -> dict[str, Any]:
        self.creds.token_expired = False
        return {"token_expired": False}

    def _action_remove_strikes(self, underlying: str, expiry: str, strikes: list[float],
                               side: str | None = None) -> dict[str, Any]:
        """Delist strikes of one expiry (both legs, or ``side`` "ce"/"pe") to leave a gap."""
        if side not in (None, "ce", "pe"):
            raise ValueError("remove_strikes: side must be 'ce', 'pe' or omitted")
        if not isinstance(strikes, list) or not all(
                isinstance(s, (int, float)) and not isinstance(s, bool) for s in strikes):
            raise ValueError(f"remove_strikes: strikes must be a list of numbers, got {strikes!r}")
        try:
            expiry_date = date.fromisoformat(expiry)
        except (TypeError, ValueError):
            raise ValueError(f"remove_strikes: expiry must be YYYY-MM-DD, got {expiry!r}") from None
        removed = self.market.remove_strikes(underlying, expiry_date, [float(s) for s in strikes], side)
        return {"underlying": underlying, "expiry": expiry, "legs_removed": removed}

    def _action_fail_option_chain(self, count: int = 1) -> dict[str, Any]:
        """The next ``count`` option-chain answers fail with ``status: failure`` and no detail."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"fail_option_chain: count must be an int >= 0, got {count!r}")
        self.rest.chain_failures += count
        return {"chain_failures": self.rest.chain_failures}
