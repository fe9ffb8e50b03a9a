"""Quoting maths of the simulated Dhan venue (pure): option fair values, books, quotes.

Why pure: the REST option chain, the market-quote APIs and the binary feed must all
show the same numbers for one instrument at one market instant. Every field here is a
function of the market state and the instrument, with no randomness of its own (book
sizes come from a deterministic integer mix of the security id and the step), so two
readers of one step never disagree and replays stay deterministic.
"""

from __future__ import annotations

import math
from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import NamedTuple

import attrs

from engine.quant import SECONDS_PER_YEAR, Black76, SviParams, black76, svi_for_atm_vol

IST = timezone(timedelta(hours=5, minutes=30))
IST_OFFSET_S = 19_800  # Dhan feed times are "IST epoch" seconds: Unix seconds + 5h30
EXPIRY_TIME_IST = time(15, 30)
MIN_EXPIRY_S = 300.0  # an option on its last minutes still has a little time value
DEPTH_LEVELS = 5
SMILE_REFERENCE_YEARS = 0.25
MAX_SMILE_SCALE = 4.0  # caps how much steeper than the reference smile an expiry-day smile gets


class DepthLevel(NamedTuple):
    """One level of the 5-level book, in the order of the feed's ``<IIHHff``.

    A NamedTuple rather than attrs: a full feed builds thousands per step, and it
    unpacks straight into ``struct.pack``.
    """

    bid_qty: int
    ask_qty: int
    bid_orders: int
    ask_orders: int
    bid_price: float
    ask_price: float


@attrs.frozen
class Quote:
    """Everything the venue says about one instrument at one step (REST and feed)."""

    ltp: float
    ltq: int
    ltt_s: int  # IST epoch seconds, as the feed sends it
    atp: float
    volume: int
    total_sell_qty: int
    total_buy_qty: int
    oi: int
    oi_high: int
    oi_low: int
    prev_oi: int
    open: float
    prev_close: float
    high: float
    low: float
    depth: tuple[DepthLevel, ...]
    prev_volume: int = 0
    iv_pct: float = 0.0
    delta: float = 0.0
    theta: float = 0.0
    gamma: float = 0.0
    vega: float = 0.0


def round_to_tick(price: float, tick: float) -> float:
    """Nearest multiple of the tick, printed without binary noise."""
    return round(round(price / tick) * tick, 4)


def mix(*parts: int) -> int:
    """A cheap deterministic 32-bit mix (Knuth multiplicative hashing) for book sizes."""
    value = 0x9E3779B9
    for part in parts:
        value = ((value ^ (part & 0xFFFFFFFF)) * 2654435761) & 0xFFFFFFFF
        value ^= value >> 15
    return value


@lru_cache(maxsize=4096)
def expiry_instant_s(expiry: date) -> float:
    """Unix seconds of the expiry's close (15:30 IST)."""
    return datetime.combine(expiry, EXPIRY_TIME_IST, IST).timestamp()


def years_to_expiry(expiry: date, now_s: float) -> float:
    return max(expiry_instant_s(expiry) - now_s, MIN_EXPIRY_S) / SECONDS_PER_YEAR


def ist_date(unix_s: float) -> date:
    return datetime.fromtimestamp(unix_s, IST).date()


def ist_epoch_s(unix_s: float) -> int:
    return int(unix_s) + IST_OFFSET_S


def smile_vol(forward: float, strike: float, expiry_years: float, atm_vol: float) -> float:
    """Implied vol of ``strike`` on the simulator's SVI smile.

    ``svi_for_atm_vol`` keeps its wings fixed in total variance, which only gives valid
    parameters for maturities of a few months; so the smile is drawn once at
    ``SMILE_REFERENCE_YEARS`` and read at the standardised moneyness k * sqrt(T_ref / T),
    the usual scaling that makes short expiries' smiles steeper in strike.
    """
    smile = _reference_smile(atm_vol)
    scaled_k = math.log(strike / forward) * min(math.sqrt(SMILE_REFERENCE_YEARS / expiry_years), MAX_SMILE_SCALE)
    return math.sqrt(max(smile.total_variance(scaled_k), 1e-12) / SMILE_REFERENCE_YEARS)


@lru_cache(maxsize=256)
def _reference_smile(atm_vol: float) -> SviParams:
    return svi_for_atm_vol(atm_vol, SMILE_REFERENCE_YEARS)


def check_smile(atm_vol: float) -> None:
    """Reject an ATM vol the reference smile cannot carry (invalid SVI parameters)."""
    problems = svi_for_atm_vol(atm_vol, SMILE_REFERENCE_YEARS).problems()
    if problems:
        raise ValueError(f"atm_vol {atm_vol} gives an invalid smile: {'; '.join(problems)}")


def option_fair(forward: float, strike: float, expiry_years: float, atm_vol: float,
                is_call: bool) -> tuple[Black76, float]:
    """Black-76 value and greeks on the SVI smile; returns (result, implied vol)."""
    vol = smile_vol(forward, strike, expiry_years, atm_vol)
    return black76(forward, strike, expiry_years, vol, is_call), vol


def traded_price(fair: float, tick: float) -> float:
    """Last price of a leg: untraded (0) when worth less than half a tick, as on the venue."""
    return 0.0 if fair < tick / 2 else round_to_tick(fair, tick)


_LEVEL_MULTIPLIERS = tuple((2 * i + 1) * 0x9E3779B1 for i in range(DEPTH_LEVELS))


def book(ltp: float, tick: float, lot: int, salt: int) -> tuple[DepthLevel, ...]:
    """Five levels around the last price; the spread widens with the price. Sizes come
    from bit fields of one mixed integer (cheap: a full feed quotes thousands per step)."""
    half_ticks = max(1, int(ltp * 0.0015 / tick))
    ltp_ticks = round(ltp / tick)
    bid_ticks, ask_ticks = (ltp_ticks - half_ticks, ltp_ticks + half_ticks) if ltp > 0 else (0, 1)
    seed = mix(salt)
    levels = []
    for i, multiplier in enumerate(_LEVEL_MULTIPLIERS):
        bits = (seed * multiplier) & 0xFFFFFFFF
        ask_qty, ask_orders = lot * (1 + (bits >> 6 & 0x3F) % 40), 1 + (bits >> 16 & 0xF) % 15
        ask_price = round((ask_ticks + i) * tick, 4)
        if bid_ticks - i > 0:
            levels.append(DepthLevel(lot * (1 + (bits & 0x3F) % 40), ask_qty, 1 + (bits >> 12 & 0xF) % 15,
                                     ask_orders, round((bid_ticks - i) * tick, 4), ask_price))
        else:
            levels.append(DepthLevel(0, ask_qty, 0, ask_orders, 0.0, ask_price))
    return tuple(levels)


def day_range(open_: float, ltp: float, delta: float, underlying_low: float,
              underlying_high: float, forward: float, tick: float) -> tuple[float, float]:
    """(low, high) of a leg today: a first-order view of the underlying's day range, so
    that low <= open, ltp <= high always holds without tracking every print."""
    swings = (ltp + delta * (underlying_high - forward), ltp + delta * (underlying_low - forward))
    high = max(open_, ltp, *swings)
    low = max(0.0, min(open_, ltp, *swings))
    return round_to_tick(low, tick), round_to_tick(high, tick)


@attrs.frozen
class LegState:
    """The slow-moving numbers of one option contract that the market keeps."""

    security_id: int
    strike: float
    is_call: bool
    lot: int
    tick: float
    oi: int
    oi_high: int
    oi_low: int
    prev_oi: int
    volume: int
    prev_volume: int
    prev_close: float
    day_open: float


@attrs.frozen
class UnderlyingView:
    """What an option quote needs to know about its underlying at this step."""

    price: float
    low: float
    high: float
    atm_vol: float
    now_s: float
    step_no: int


def option_quote(leg: LegState, expiry: date, under: UnderlyingView) -> Quote:
    """The full quote of one option leg at the current step."""
    years = years_to_expiry(expiry, under.now_s)
    fair, vol = option_fair(under.price, leg.strike, years, under.atm_vol, leg.is_call)
    ltp = traded_price(fair.price, leg.tick)
    depth = book(ltp, leg.tick, leg.lot, mix(leg.security_id, under.step_no))
    low, high = day_range(leg.day_open, ltp, fair.delta, under.low, under.high, under.price, leg.tick)
    if ltp == 0.0:
        low = high = 0.0
    atp = round_to_tick((leg.day_open + ltp + low + high) / 4, leg.tick) if ltp else 0.0
    return Quote(
        ltp=ltp, ltq=0 if ltp == 0 else leg.lot * (1 + mix(leg.security_id, under.step_no, 7) % 8),
        ltt_s=ist_epoch_s(under.now_s), atp=atp, volume=leg.volume,
        total_sell_qty=sum(level.ask_qty for level in depth) * 9,
        total_buy_qty=sum(level.bid_qty for level in depth) * 9,
        oi=leg.oi, oi_high=leg.oi_high, oi_low=leg.oi_low, prev_oi=leg.prev_oi,
        open=leg.day_open if ltp else 0.0, prev_close=leg.prev_close, high=high, low=low, depth=depth,
        prev_volume=leg.prev_volume, iv_pct=round(vol * 100, 2),
        delta=round(fair.delta, 5), theta=round(fair.theta, 5), gamma=round(fair.gamma, 5),
        vega=round(fair.vega, 5),
    )


def underlying_quote(security_id: int, price: float, open_: float, high: float, low: float,
                     prev_close: float, volume: int, tick: float, lot: int, now_s: float,
                     step_no: int, has_book: bool) -> Quote:
    """Quote of an index, stock or future; an index has no book, volume or OI."""
    ltp = round_to_tick(price, tick)
    depth = book(ltp, tick, lot, mix(security_id, step_no)) if has_book else tuple(
        DepthLevel(0, 0, 0, 0, 0.0, 0.0) for _ in range(DEPTH_LEVELS))
    return Quote(
        ltp=ltp, ltq=lot * (1 + mix(security_id, step_no, 7) % 8) if has_book else 0,
        ltt_s=ist_epoch_s(now_s), atp=round_to_tick((open_ + high + low + price) / 4, tick) if has_book else 0.0,
        volume=volume, total_sell_qty=sum(level.ask_qty for level in depth) * 9,
        total_buy_qty=sum(level.bid_qty for level in depth) * 9,
        oi=0, oi_high=0, oi_low=0, prev_oi=0,
        open=round_to_tick(open_, tick), prev_close=round_to_tick(prev_close, tick),
        high=round_to_tick(max(high, price), tick), low=round_to_tick(min(low, price), tick), depth=depth,
    )


def session_open_s(day: date) -> float:
    """09:15 IST of ``day``: when the day's opening prices were struck."""
    return datetime.combine(day, time(9, 15), IST).timestamp()


def oi_lots_at_listing(log_moneyness: float, years: float, atm_vol: float, round_strike: bool) -> float:
    """Typical open interest (in lots) by moneyness: a bump around ATM, more on round strikes."""
    width = atm_vol * math.sqrt(years) * 2.5 + 0.01
    base = 20_000.0 * math.exp(-((log_moneyness / width) ** 2)) + 150.0
    return base * (2.0 if round_strike else 1.0)
