"""The seeded market of the simulated Dhan venue: underlyings, listed options, OI and volume.

Why a separate model: REST and feed read the same state, and tests step it directly
(no I/O) to check determinism. State advances only through ``step``/``jump``; reads
never draw random numbers, so the same seed and steps give the same market whoever
reads it. Per-instrument generators come from ``sub_rng(seed, "dhan", ...)`` so listing
one more contract never shifts another's path.
"""

from __future__ import annotations

import hashlib
import math
from datetime import date, datetime, time
from typing import Iterator

import attrs

from adapters.sim.dhan_calendar import EXCHANGE_HOLIDAYS, listed_expiries
from adapters.sim.dhan_quotes import (
    IST, LegState, Quote, UnderlyingView, ist_date, oi_lots_at_listing, option_fair, option_quote,
    session_open_s, traded_price, underlying_quote, years_to_expiry,
)
from adapters.sim.dhan_universe import DEFAULT_UNDERLYINGS, UnderlyingSpec
from adapters.sim.processes import JumpGBM, OIWalk, sub_rng

SECURITY_ID_MIN = 1_000_000
SECURITY_ID_SPAN = 2**31 - 1 - SECURITY_ID_MIN  # ids fit a signed int32 for every client


def option_security_id(symbol: str, expiry: date, strike: float, is_call: bool) -> int:
    """Stable id of a contract: a hash of what it is (collisions are probed by the market)."""
    key = f"{symbol}|{expiry.isoformat()}|{strike:.4f}|{'CE' if is_call else 'PE'}"
    digest = hashlib.sha256(key.encode()).digest()
    return SECURITY_ID_MIN + int.from_bytes(digest[:8], "little") % SECURITY_ID_SPAN


def start_of_day_s(day: date) -> float:
    """10:00 IST of ``day``: where a market pinned to a test date starts."""
    return datetime.combine(day, time(10, 0), IST).timestamp()


@attrs.define
class OptionContract:
    """One listed option and its slow-moving state (OI, volume, yesterday's values)."""

    spec: UnderlyingSpec
    expiry: date
    leg: LegState
    oi_walk: OIWalk
    activity: float  # relative trading activity (1 at the money)

    @property
    def security_id(self) -> int:
        return self.leg.security_id


@attrs.define
class UnderlyingState:
    """One underlying: its price process, today's range and its listed chains."""

    spec: UnderlyingSpec
    process: JumpGBM
    open: float
    high: float
    low: float
    prev_close: float
    volume: int = 0
    expiry_override: list[date] | None = None
    chains: dict[date, dict[float, dict[bool, int]]] = attrs.field(factory=dict)  # expiry->strike->call?->sid
    removed: set[tuple[date, float, bool]] = attrs.field(factory=set)
    listed_atm_index: int | None = None

    @property
    def price(self) -> float:
        return self.process.price


@attrs.define
class DhanMarket:
    """The whole simulated market. ``time_s`` is market time (Unix seconds)."""

    seed: int
    time_s: float
    specs: tuple[UnderlyingSpec, ...] = DEFAULT_UNDERLYINGS
    strikes_each_side: int = 60
    oi_interval_s: float = 5.0
    holidays: frozenset[date] = EXCHANGE_HOLIDAYS
    holiday_mode: bool = False
    step_no: int = 0
    underlyings: dict[str, UnderlyingState] = attrs.field(factory=dict)
    contracts: dict[int, OptionContract] = attrs.field(factory=dict)
    _oi_clock_s: float = 0.0
    _day: date | None = None
    _quote_cache: dict[int, Quote] = attrs.field(factory=dict)
    _reserved_ids: frozenset[int] = frozenset()

    def __attrs_post_init__(self) -> None:
        self._reserved_ids = frozenset(spec.security_id for spec in self.specs)
        for spec in self.specs:
            rng = sub_rng(self.seed, "dhan", spec.symbol)
            process = JumpGBM(spec.spot, rng, vol_annual=spec.atm_vol, jumps_per_day=2.0, jump_vol=0.003)
            self.underlyings[spec.symbol] = UnderlyingState(spec, process, spec.spot, spec.spot, spec.spot,
                                                             spec.spot)
        self._day = self.today()
        self.refresh_listing()

    # ------------------------------------------------------------------ reading
    def today(self) -> date:
        return ist_date(self.time_s)

    def underlying(self, symbol: str) -> UnderlyingState:
        try:
            return self.underlyings[symbol]
        except KeyError:
            raise ValueError(f"unknown underlying {symbol!r}; known: {', '.join(self.underlyings)}") from None

    def find_underlying(self, segment: str, security_id: int) -> UnderlyingState | None:
        for state in self.underlyings.values():
            if state.spec.segment == segment and state.spec.security_id == security_id:
                return state
        return None

    def expiries(self, symbol: str) -> list[date]:
        """The authoritative expiry list: the calendar, or the control override."""
        state = self.underlying(symbol)
        if state.expiry_override is not None:
            return list(state.expiry_override)
        return listed_expiries(self.today(), state.spec.rule, self.holidays)

    def chain(self, symbol: str, expiry: date) -> list[tuple[float, dict[bool, int]]]:
        """(strike, {is_call: security id}) in strike order; legs may be missing."""
        strikes = self.underlying(symbol).chains.get(expiry, {})
        return [(strike, strikes[strike]) for strike in sorted(strikes) if strikes[strike]]

    def option_quote(self, security_id: int) -> Quote:
        cached = self._quote_cache.get(security_id)
        if cached is None:
            contract = self.contracts[security_id]
            state = self.underlyings[contract.spec.symbol]
            view = UnderlyingView(state.price, state.low, state.high, contract.spec.atm_vol, self.time_s,
                                  self.step_no)
            cached = self._quote_cache[security_id] = option_quote(contract.leg, contract.expiry, view)
        return cached

    def underlying_quote(self, state: UnderlyingState) -> Quote:
        """The underlying's quote; on a holiday its LTP reads 0, as the option chain's does (the case
        every consumer must survive without deriving an ATM)."""
        spec = state.spec
        quote = underlying_quote(spec.security_id, state.price, state.open, state.high, state.low,
                                state.prev_close, state.volume, spec.price_tick, spec.lot_size if
                                spec.segment != "IDX_I" else 0, self.time_s, self.step_no,
                                has_book=spec.segment != "IDX_I")
        return attrs.evolve(quote, ltp=0.0) if self.holiday_mode else quote

    def quote(self, segment: str, security_id: int) -> Quote | None:
        """Quote of any instrument by (segment, security id); None when not listed there."""
        contract = self.contracts.get(security_id)
        if contract is not None and contract.spec.option_segment == segment:
            return self.option_quote(security_id)
        state = self.find_underlying(segment, security_id)
        return None if state is None else self.underlying_quote(state)

    def is_derivative(self, segment: str, security_id: int) -> bool:
        contract = self.contracts.get(security_id)
        return contract is not None and contract.spec.option_segment == segment

    def listed_contracts(self) -> Iterator[OptionContract]:
        """Contracts of every listed expiry (what the instrument master shows)."""
        for symbol, state in self.underlyings.items():
            for expiry in self.expiries(symbol):
                for _, legs in self.chain(symbol, expiry):
                    for sid in legs.values():
                        yield self.contracts[sid]

    # ------------------------------------------------------------------ advancing
    def step(self, dt_s: float) -> None:
        """Advance market time by ``dt_s``: prices, then OI/volume on their own grid."""
        if dt_s < 0:
            raise ValueError("dt_s must be >= 0")
        self.time_s += dt_s
        self.step_no += 1
        self._quote_cache.clear()
        if not self.holiday_mode:
            for state in self.underlyings.values():
                price = state.process.step(dt_s)
                state.high, state.low = max(state.high, price), min(state.low, price)
                if state.spec.segment != "IDX_I":
                    state.volume += state.spec.lot_size * int(state.process.rng.expovariate(1.0) * dt_s * 20)
            self._oi_clock_s += dt_s
            if self._oi_clock_s >= self.oi_interval_s:
                self._step_contracts(self._oi_clock_s)
                self._oi_clock_s = 0.0
        if self.today() != self._day:
            self._roll_day()
        self.refresh_listing(only_if_moved=True)

    def jump(self, symbol: str, pct: float) -> float:
        state = self.underlying(symbol)
        price = state.process.jump(pct)
        state.high, state.low = max(state.high, price), min(state.low, price)
        self._quote_cache.clear()
        self.refresh_listing(only_if_moved=True)
        return price

    def set_expiries(self, symbol: str, expiries: list[date] | None) -> None:
        self.underlying(symbol).expiry_override = None if expiries is None else sorted(set(expiries))
        self.refresh_listing()

    def remove_strikes(self, symbol: str, expiry: date, strikes: list[float], side: str | None) -> int:
        """Delist strikes (both legs, or one ``side`` "ce"/"pe"); returns legs removed."""
        state = self.underlying(symbol)
        chain = state.chains.get(expiry)
        if chain is None:
            raise ValueError(f"{symbol} has no listed expiry {expiry.isoformat()}")
        sides = (True, False) if side is None else ({"ce": True, "pe": False}[side],)
        removed = 0
        for strike in strikes:
            for is_call in sides:
                state.removed.add((expiry, float(strike), is_call))
                if chain.get(float(strike), {}).pop(is_call, None) is not None:
                    removed += 1
        return removed

    def refresh_listing(self, only_if_moved: bool = False) -> None:
        """List strikes ATM +- ``strikes_each_side`` on every listed expiry (new strikes
        appear as the price moves, as exchanges add them; removed ones stay removed)."""
        for symbol, state in self.underlyings.items():
            atm_index = round(state.price / state.spec.strike_interval)
            if only_if_moved and atm_index == state.listed_atm_index:
                continue
            state.listed_atm_index = atm_index
            for expiry in self.expiries(symbol):
                chain = state.chains.setdefault(expiry, {})
                for i in range(atm_index - self.strikes_each_side, atm_index + self.strikes_each_side + 1):
                    strike = round(i * state.spec.strike_interval, 4)
                    if strike <= 0:
                        continue
                    legs = chain.setdefault(strike, {})
                    for is_call in (True, False):
                        if is_call not in legs and (expiry, strike, is_call) not in state.removed:
                            legs[is_call] = self._list_contract(state, expiry, strike, is_call)

    # ------------------------------------------------------------------ internals
    def _list_contract(self, state: UnderlyingState, expiry: date, strike: float, is_call: bool) -> int:
        spec = state.spec
        sid = option_security_id(spec.symbol, expiry, strike, is_call)
        while sid in self.contracts or sid in self._reserved_ids:
            sid = SECURITY_ID_MIN + (sid + 1 - SECURITY_ID_MIN) % SECURITY_ID_SPAN
        rng = sub_rng(self.seed, "dhan", spec.symbol, expiry.isoformat(), f"{strike:.4f}", str(is_call))
        years = years_to_expiry(expiry, self.time_s)
        log_moneyness = math.log(strike / state.price)
        round_strike = strike % (spec.strike_interval * 10) == 0
        oi_lots = oi_lots_at_listing(log_moneyness, years, spec.atm_vol, round_strike) * rng.uniform(0.6, 1.4)
        activity = oi_lots / 20_000.0
        prev_fair, _ = option_fair(state.prev_close, strike, years + 1 / 365, spec.atm_vol, is_call)
        oi = int(oi_lots) * spec.lot_size
        leg = LegState(
            security_id=sid, strike=strike, is_call=is_call, lot=spec.lot_size, tick=spec.option_tick,
            oi=oi, oi_high=oi, oi_low=oi, prev_oi=int(oi_lots * rng.uniform(0.6, 1.1)) * spec.lot_size,
            volume=int(oi_lots * rng.uniform(0.5, 3.0)) * spec.lot_size,
            prev_volume=int(oi_lots * rng.uniform(1.0, 6.0)) * spec.lot_size,
            prev_close=traded_price(prev_fair.price, spec.option_tick),
            day_open=self._open_price(state, expiry, strike, is_call),
        )
        self.contracts[sid] = OptionContract(spec, expiry, leg, OIWalk(float(oi_lots), rng, 0.05), activity)
        return sid

    def _open_price(self, state: UnderlyingState, expiry: date, strike: float, is_call: bool) -> float:
        opened_s = min(session_open_s(self.today()), self.time_s)
        fair, _ = option_fair(state.open, strike, years_to_expiry(expiry, opened_s), state.spec.atm_vol, is_call)
        return traded_price(fair.price, state.spec.option_tick)

    def _step_contracts(self, dt_s: float) -> None:
        for contract in self.contracts.values():
            lots = contract.oi_walk.step(dt_s)
            traded_lots = int(contract.oi_walk.rng.expovariate(1.0) * contract.activity * dt_s * 4)
            leg = contract.leg
            oi = int(lots) * leg.lot
            contract.leg = attrs.evolve(leg, oi=oi, oi_high=max(leg.oi_high, oi), oi_low=min(leg.oi_low, oi),
                                        volume=leg.volume + traded_lots * leg.lot)

    def _roll_day(self) -> None:
        """A new session: yesterday's close/OI/volume become the previous values."""
        self._day = self.today()
        for state in self.underlyings.values():
            state.prev_close = state.open = state.high = state.low = state.price
            state.volume = 0
        for sid, contract in list(self.contracts.items()):
            if contract.expiry < self._day:
                del self.contracts[sid]
                chains = self.underlyings[contract.spec.symbol].chains
                chains.pop(contract.expiry, None)
                continue
            state = self.underlyings[contract.spec.symbol]
            leg = contract.leg
            close = self.option_quote(sid).ltp
            contract.leg = attrs.evolve(
                leg, prev_close=close, prev_oi=leg.oi, oi_high=leg.oi, oi_low=leg.oi, prev_volume=leg.volume,
                volume=0, day_open=self._open_price(state, contract.expiry, leg.strike, leg.is_call))
        self._quote_cache.clear()
