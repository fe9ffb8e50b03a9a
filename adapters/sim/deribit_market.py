"""The simulated Deribit market: seeded index processes, listed option series, SVI marks.

One JumpGBM per coin drives both of its indices (``btc_usd`` and ``btc_usdc`` share a
process, as Deribit pegs the USDC index to the USD one). Inverse options (currency BTC
or ETH) quote in the coin: ``mark_price = black76_usd / underlying_price``; linear USDC
options quote in USDC: ``mark_price = black76_usd``. Strikes are listed per expiry when
the expiry appears (interval by tenor, covering call delta 0.10-0.90 under the smile)
and extended, never removed, as the index moves; expired series drop out.
"""

from __future__ import annotations

import hashlib
import math
from typing import Any

import attrs

from adapters.sim.deribit_listing import (
    DAY_MS, ExpiryPolicy, ListedExpiry, expiry_code, instrument_name, listed_expiries, strike_for_call_delta,
    strike_grid, strike_step,
)
from engine.quant import SECONDS_PER_YEAR, SviParams, black76, svi_for_atm_vol
from adapters.sim.processes import JumpGBM, OIWalk, sub_rng

MS_PER_YEAR = SECONDS_PER_YEAR * 1000.0
OI_STEP_S = 5.0  # open interest steps at most this often (market seconds)
RESTRIKE_MOVE = 0.0025  # re-check strike coverage after the index moved this fraction
INVERSE_TICK = 0.0001
INVERSE_TICK_STEPS = ({"above_price": 0.005, "tick_size": 0.0005},)


@attrs.frozen
class CoinSpec:
    """What Deribit lists for one coin. Linear contract figures are illustrative, not verified."""

    coin: str
    start_price: float
    atm_vol: float
    policy: ExpiryPolicy = ExpiryPolicy()
    skew: float = -0.3  # SVI rho
    linear_tick: float = 5.0
    linear_contract_size: float = 0.01
    inverse_min_trade: float = 0.1
    oi_scale: float = 500.0  # open interest of an ATM option, in coins


DEFAULT_SPECS = {
    "BTC": CoinSpec("BTC", 86_000.0, 0.55),
    "ETH": CoinSpec("ETH", 3_200.0, 0.65, linear_tick=0.5, linear_contract_size=0.1, inverse_min_trade=1.0,
                    oi_scale=4_000.0),
    "SOL": CoinSpec("SOL", 140.0, 0.75, ExpiryPolicy(2, 2, 2, 1), skew=-0.2, linear_tick=0.01,
                    linear_contract_size=1.0, oi_scale=20_000.0),
    "XRP": CoinSpec("XRP", 2.2, 0.85, ExpiryPolicy(2, 2, 2, 1), skew=-0.15, linear_tick=0.0001,
                    linear_contract_size=10.0, oi_scale=500_000.0),
}


def atm_vol_for_tenor(atm_vol: float, expiry_years: float) -> float:
    """A gently rising term structure: 0.9x the quoted ATM vol for the nearest, 1.1x at a year."""
    return atm_vol * (0.9 + 0.2 * min(1.0, math.sqrt(expiry_years)))


def smile_for(atm_vol: float, skew: float, expiry_years: float) -> SviParams:
    """SVI with wings scaled by sqrt(T), clipped so total variance stays non-negative."""
    atm = atm_vol_for_tenor(atm_vol, expiry_years)
    sigma = 0.1
    wing = 0.15 * min(1.0, math.sqrt(expiry_years / 0.25))
    wing = min(wing, 0.99 * atm * atm * expiry_years / (sigma * (1 - math.sqrt(1 - skew * skew))))
    return svi_for_atm_vol(atm, expiry_years, skew=skew, wing=max(wing, 1e-9))


def delta_strike(forward: float, delta: float, svi: SviParams, expiry_years: float) -> float:
    """Strike of a call delta under the smile: iterate K -> vol(K) -> K to a fixed point."""
    strike = forward
    for _ in range(6):
        strike = strike_for_call_delta(forward, delta, svi.implied_vol(strike, forward, expiry_years), expiry_years)
    return strike


def index_round(price: float) -> float:
    """Deribit prints indices to cents; small coins (XRP) keep four decimals."""
    return round(price, 2 if price >= 100 else 4)


def _round_down(value: float, tick: float) -> float:
    return float(f"{math.floor(value / tick + 1e-9) * tick:.10g}")


def _round_up(value: float, tick: float) -> float:
    return float(f"{math.ceil(value / tick - 1e-9) * tick:.10g}")


@attrs.define
class Series:
    """One coin's expiry: its strike interval and strikes (strike -> creation ms)."""

    expiry: ListedExpiry
    step: float
    strikes: dict[float, int] = attrs.field(factory=dict)


@attrs.frozen
class Option:
    coin: str
    linear: bool
    series: Series
    strike: float
    is_call: bool
    creation_ms: int

    @property
    def name(self) -> str:
        return instrument_name(self.coin, self.series.expiry.expiry_ms, self.strike, self.is_call, linear=self.linear)


@attrs.define
class DeribitMarket:
    """All market state; ``step`` is the only thing that moves it (plus control actions)."""

    seed: int
    now_ms: int
    specs: dict[str, CoinSpec]
    inverse_coins: tuple[str, ...]
    linear_coins: tuple[str, ...]
    basis_annual: float = 0.03
    max_strikes: int = 41
    spread_frac: float = 0.03
    atm_vols: dict[str, float] = attrs.field(init=False)
    indices: dict[str, JumpGBM] = attrs.field(init=False)
    series: dict[str, dict[int, Series]] = attrs.field(init=False)
    oi: dict[str, OIWalk] = attrs.field(init=False, factory=dict)
    turnover: dict[str, float] = attrs.field(init=False, factory=dict)
    version: int = attrs.field(init=False, default=0)
    _oi_pending_s: float = attrs.field(init=False, default=0.0)
    _checked: dict[str, tuple[int, float, float]] = attrs.field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.atm_vols = {coin: spec.atm_vol for coin, spec in self.specs.items()}
        self.indices = {coin: JumpGBM(price=spec.start_price, rng=sub_rng(self.seed, "index", coin),
                                      vol_annual=spec.atm_vol) for coin, spec in self.specs.items()}
        self.series = {coin: {} for coin in self.specs}
        self._refresh_listing(starting=True)

    # ------------------------------------------------------------------ moving
    def step(self, dt_s: float) -> None:
        """Advance market time by ``dt_s``: indices, open interest, then the listing.

        Open interest moves slowly, so its thousands of walks step once per ``OI_STEP_S``
        of accumulated time; the outcome still depends only on the sequence of steps."""
        self.now_ms += int(round(dt_s * 1000))
        for coin in sorted(self.indices):
            self.indices[coin].step(dt_s)
        self._oi_pending_s += dt_s
        if self._oi_pending_s >= OI_STEP_S:
            for name in sorted(self.oi):
                self.oi[name].step(self._oi_pending_s)
            self._oi_pending_s = 0.0
        self._refresh_listing(starting=False)
        self.version += 1

    def jump(self, coin: str, pct: float) -> float:
        self.version += 1
        return self.indices[coin].jump(pct)

    def set_atm_vol(self, coin: str, vol: float) -> None:
        self.atm_vols[coin] = vol
        self.version += 1

    def _refresh_listing(self, *, starting: bool) -> None:
        """Listings change only at 08:00 UTC; strikes are re-checked when that happens, the
        index has moved ``RESTRIKE_MOVE`` since the last check, or the ATM vol was set."""
        window = (self.now_ms - 8 * 3_600_000) // DAY_MS
        for coin, spec in self.specs.items():
            price, vol = self.indices[coin].price, self.atm_vols[coin]
            last = self._checked.get(coin)
            if last and last[0] == window and last[2] == vol and abs(price / last[1] - 1) < RESTRIKE_MOVE:
                continue
            self._checked[coin] = (window, price, vol)
            live = {e.expiry_ms: e for e in listed_expiries(spec.policy, self.now_ms)}
            books = self.series[coin]
            for gone in [ts for ts in books if ts not in live]:
                for strike in books[gone].strikes:
                    for option in self._options_at(coin, books[gone], strike):
                        self.oi.pop(option.name, None)
                        self.turnover.pop(option.name, None)
                del books[gone]
            for ts, expiry in live.items():
                if ts not in books:
                    books[ts] = Series(expiry, strike_step(price, self._years(ts)))
                self._extend_strikes(coin, books[ts], expiry.introduced_ms if starting else self.now_ms)

    def _extend_strikes(self, coin: str, series: Series, creation_ms: int) -> None:
        """List strikes covering call delta 0.90..0.10 now; keep every strike already listed."""
        forward, years, svi = self.surface(coin, series.expiry.expiry_ms)
        lo = delta_strike(forward, 0.90, svi, years)
        hi = delta_strike(forward, 0.10, svi, years)
        for strike in strike_grid(lo, hi, series.step, self.max_strikes, forward):
            if strike not in series.strikes:
                series.strikes[strike] = creation_ms
                for option in self._options_at(coin, series, strike):
                    self._start_oi(option, forward)

    def _start_oi(self, option: Option, forward: float) -> None:
        rng = sub_rng(self.seed, "oi", option.name)
        spec = self.specs[option.coin]
        scale = spec.oi_scale * (0.2 if option.linear else 1.0)
        moneyness = math.log(option.strike / forward)
        start = scale * rng.uniform(0.3, 1.7) * math.exp(-moneyness * moneyness / 0.08)
        self.oi[option.name] = OIWalk(value=start, rng=rng)
        self.turnover[option.name] = rng.uniform(0.0, 0.25)

    # ------------------------------------------------------------------ reading
    def _years(self, expiry_ms: int) -> float:
        return max(expiry_ms - self.now_ms, 1) / MS_PER_YEAR

    def index_price(self, coin: str) -> float:
        return self.indices[coin].price

    def surface(self, coin: str, expiry_ms: int) -> tuple[float, float, SviParams]:
        """(forward, years to expiry, smile) of one expiry."""
        years = self._years(expiry_ms)
        forward = self.indices[coin].price * math.exp(self.basis_annual * years)
        return forward, years, smile_for(self.atm_vols[coin], self.specs[coin].skew, years)

    def _options_at(self, coin: str, series: Series, strike: float) -> list[Option]:
        styles = ([False] if coin in self.inverse_coins else []) + ([True] if coin in self.linear_coins else [])
        created = series.strikes[strike]
        return [Option(coin, linear, series, strike, is_call, created)
                for linear in styles for is_call in (True, False)]

    def options(self, coin: str, *, linear: bool) -> list[Option]:
        """Live options of a coin and style, by expiry, strike, call before put."""
        out = []
        for ts in sorted(self.series.get(coin, {})):
            series = self.series[coin][ts]
            for strike in sorted(series.strikes):
                out.extend(o for o in self._options_at(coin, series, strike) if o.linear == linear)
        return out

    def instrument_row(self, option: Option) -> dict[str, Any]:
        """One ``public/get_instruments`` row, field for field as the venue sends an option."""
        coin, spec, expiry = option.coin, self.specs[option.coin], option.series.expiry
        linear = option.linear
        quote = "USDC" if linear else coin
        return {
            "tick_size": spec.linear_tick if linear else INVERSE_TICK,
            "tick_size_steps": [] if linear else [dict(s) for s in INVERSE_TICK_STEPS],
            "taker_commission": 0.0003, "strike": option.strike,
            "settlement_period": expiry.settlement_period, "settlement_currency": quote, "rfq": False,
            "quote_currency": quote, "price_index": f"{coin.lower()}_{'usdc' if linear else 'usd'}",
            "option_type": "call" if option.is_call else "put",
            "min_trade_amount": spec.linear_contract_size if linear else spec.inverse_min_trade,
            "maker_commission": 0.0003, "kind": "option", "is_active": True,
            "instrument_name": option.name, "instrument_id": _instrument_id(option.name),
            "instrument_type": "linear" if linear else "reversed",
            "expiration_timestamp": expiry.expiry_ms, "creation_timestamp": option.creation_ms,
            "counter_currency": "USDC" if linear else "USD",
            "contract_size": spec.linear_contract_size if linear else 1.0,
            "block_trade_tick_size": spec.linear_tick if linear else INVERSE_TICK,
            "block_trade_min_trade_amount": 25 if not linear else spec.linear_contract_size * 100,
            "block_trade_commission": 0.00015, "base_currency": coin, "state": "open",
        }

    def summary_row(self, option: Option, surface: tuple[float, float, SviParams]) -> dict[str, Any]:
        """One ``public/get_book_summary_by_currency`` option row (mark_iv in percent)."""
        forward, years, svi = surface
        coin, linear, spec = option.coin, option.linear, self.specs[option.coin]
        vol = svi.implied_vol(option.strike, forward, years)
        usd = black76(forward, option.strike, years, vol, option.is_call).price
        mark = usd if linear else usd / forward
        tick = spec.linear_tick if linear else INVERSE_TICK
        bid = _round_down(mark * (1 - self.spread_frac), tick)
        ask = max(_round_up(mark * (1 + self.spread_frac), tick), bid + tick, tick)
        bid_price = bid if bid >= tick else None
        open_interest = self.oi[option.name].value
        volume = round(open_interest * self.turnover[option.name], 1)
        traded = volume > 0 and bid_price is not None
        index = self.indices[coin].price
        underlying = f"SYN.{coin}{'_USDC' if linear else ''}-{expiry_code(option.series.expiry.expiry_ms)}"
        return {
            "volume_usd": round(volume * index, 2), "volume": volume,
            "underlying_price": forward, "underlying_index": underlying,
            "quote_currency": "USDC" if linear else coin,
            "price_change": round((self.turnover[option.name] - 0.125) * 80, 4) if traded else None,
            "open_interest": round(open_interest, 1), "mid_price": round((bid + ask) / 2, 10) if bid_price else None,
            "mark_price": round(mark, 8), "mark_iv": round(vol * 100, 2),
            "low": _round_down(mark * 0.9, tick) if traded else None,
            "last": _round_down(mark, tick) if traded else None, "interest_rate": 0.0,
            "instrument_name": option.name,
            "high": _round_up(mark * 1.1, tick) if traded else None,
            "estimated_delivery_price": index_round(index), "creation_timestamp": self.now_ms, "bid_price": bid_price,
            "base_currency": coin, "ask_price": ask,
        }

    def rows(self, currency: str, *, summaries: bool) -> list[dict[str, Any]]:
        """Option rows of a settlement currency: BTC/ETH inverse, USDC linear, "any" both."""
        wanted: list[tuple[str, bool]] = []
        if currency in ("any", *self.inverse_coins):
            wanted += [(c, False) for c in self.inverse_coins if currency in ("any", c)]
        if currency in ("any", "USDC"):
            wanted += [(c, True) for c in self.linear_coins]
        out = []
        for coin, linear in wanted:
            surfaces: dict[int, tuple[float, float, SviParams]] = {}
            for option in self.options(coin, linear=linear):
                if not summaries:
                    out.append(self.instrument_row(option))
                    continue
                ts = option.series.expiry.expiry_ms
                if ts not in surfaces:
                    surfaces[ts] = self.surface(coin, ts)
                out.append(self.summary_row(option, surfaces[ts]))
        return out


def _instrument_id(name: str) -> int:
    """A stable id per name (Deribit's are sequence numbers; only uniqueness matters here)."""
    return 100_000 + int.from_bytes(hashlib.sha256(name.encode()).digest()[:4], "little") % 900_000
