"""The simulated Binance USDⓈ-M contract list: deterministic from the seed.

About 300 USDT perpetuals (real names first, then synthetic ones), plus the contracts
that make an engine's filters matter: a few quarterlies (CURRENT_QUARTER), USDC-margined
perpetuals, and perpetuals in SETTLING. Tick and step sizes follow the price; on some
symbols ``pricePrecision`` deliberately shows more decimals than ``tickSize`` (BTCUSDT:
precision 2, tick 0.10), as on the real venue.
"""

from __future__ import annotations

import datetime as dt
import math
from decimal import Decimal

import attrs

from adapters.sim.processes import sub_rng

# base asset, price (USDT), 24 h quote volume (USDT), annual vol
REAL_BASES: tuple[tuple[str, float, float, float], ...] = (
    ("BTC", 65_000.0, 1.8e10, 0.5), ("ETH", 3_200.0, 9.0e9, 0.6), ("SOL", 150.0, 3.0e9, 0.9),
    ("BNB", 580.0, 8.0e8, 0.6), ("XRP", 0.55, 1.5e9, 0.8), ("DOGE", 0.15, 1.2e9, 1.0),
    ("ADA", 0.45, 4.0e8, 0.9), ("AVAX", 35.0, 4.0e8, 1.0), ("LINK", 15.0, 3.0e8, 0.9),
    ("DOT", 7.0, 2.0e8, 0.9), ("TRX", 0.12, 1.5e8, 0.6), ("LTC", 80.0, 2.5e8, 0.8),
    ("BCH", 450.0, 2.0e8, 0.8), ("NEAR", 6.0, 2.0e8, 1.1), ("APT", 9.0, 1.5e8, 1.1),
    ("ARB", 1.0, 2.0e8, 1.1), ("OP", 2.2, 1.5e8, 1.1), ("SUI", 1.2, 3.0e8, 1.2),
    ("ATOM", 8.0, 1.0e8, 0.9), ("FIL", 5.0, 8.0e7, 1.0), ("ETC", 27.0, 1.0e8, 0.9),
    ("INJ", 25.0, 1.0e8, 1.2), ("TIA", 8.0, 1.0e8, 1.3), ("SEI", 0.5, 8.0e7, 1.3),
    ("WIF", 2.5, 4.0e8, 1.6), ("1000PEPE", 0.012, 6.0e8, 1.5), ("1000SHIB", 0.025, 1.5e8, 1.1),
    ("1000BONK", 0.03, 1.2e8, 1.5), ("ORDI", 40.0, 1.2e8, 1.4), ("AAVE", 100.0, 1.0e8, 1.0),
    ("UNI", 10.0, 9.0e7, 1.0), ("MKR", 2_500.0, 4.0e7, 0.9), ("LDO", 2.0, 6.0e7, 1.1),
    ("RUNE", 5.0, 7.0e7, 1.2), ("FET", 2.0, 1.5e8, 1.4), ("RENDER", 7.0, 8.0e7, 1.3),
    ("JUP", 1.0, 6.0e7, 1.3), ("PYTH", 0.4, 4.0e7, 1.3), ("STX", 2.0, 4.0e7, 1.2),
    ("IMX", 2.0, 3.0e7, 1.2), ("GALA", 0.04, 5.0e7, 1.2), ("SAND", 0.45, 3.0e7, 1.1),
    ("MANA", 0.45, 2.0e7, 1.1), ("AXS", 7.0, 2.0e7, 1.1), ("CRV", 0.45, 4.0e7, 1.2),
    ("DYDX", 2.0, 3.0e7, 1.2), ("ENA", 0.8, 1.5e8, 1.4), ("WLD", 5.0, 1.2e8, 1.4),
    ("TON", 7.0, 8.0e7, 1.0), ("NOT", 0.015, 6.0e7, 1.5),
)
_SYLLABLES = ("ka", "zo", "ri", "mu", "te", "xa", "lo", "vi", "qu", "ne", "bo", "sy", "da", "fe", "gu", "hi",
              "jo", "pa", "wu", "ze", "ro", "ni", "ma", "ty", "ve", "lu", "so", "ki")
ONBOARD_MS = 1_569_398_400_000  # 2019-09-25, BTCUSDT's listing
PERPETUAL_DELIVERY_MS = 4_133_404_800_000  # 2100-12-25: what Binance shows for perpetuals


@attrs.frozen
class SymbolSpec:
    """Everything fixed about one contract; prices and status live in the market state."""

    symbol: str
    pair: str
    contract_type: str  # PERPETUAL | CURRENT_QUARTER
    base_asset: str
    quote_asset: str
    initial_status: str  # TRADING | SETTLING
    tick_size: Decimal
    step_size: Decimal
    min_qty: Decimal
    max_qty: Decimal
    market_max_qty: Decimal
    min_price: Decimal
    max_price: Decimal
    min_notional: Decimal
    price_precision: int
    quantity_precision: int
    delivery_date_ms: int
    onboard_date_ms: int
    initial_price: float
    initial_quote_volume: float
    vol_annual: float

    @property
    def tick_decimals(self) -> int:
        return max(0, -self.tick_size.normalize().as_tuple().exponent)


def _decimals(value: Decimal) -> int:
    return max(0, -value.normalize().as_tuple().exponent)


def _pow10(exponent: int) -> Decimal:
    return Decimal(1).scaleb(exponent)


def _spec(symbol: str, base: str, quote: str, price: float, quote_volume: float, vol: float, *,
          contract_type: str = "PERPETUAL", status: str = "TRADING", pair: str | None = None,
          delivery_ms: int = PERPETUAL_DELIVERY_MS, rng_key: str | None = None, seed: int = 0) -> SymbolSpec:
    rng = sub_rng(seed, "spec", rng_key or symbol)
    magnitude = math.floor(math.log10(price))
    tick = _pow10(magnitude - 4) * (5 if rng.random() < 0.1 else 1)
    extra_precision = 1 if rng.random() < 0.2 else 0
    if base == "BTC":
        tick, extra_precision = Decimal("0.10"), 1
    elif base == "ETH":
        tick, extra_precision = Decimal("0.01"), 0
    step = _pow10(max(-3, min(3, math.floor(math.log10(100.0 / price)))))
    notional = Decimal({"BTC": "50", "ETH": "20"}.get(base, "5"))
    price_precision = _decimals(tick) + extra_precision
    min_price = (tick * 10).quantize(tick)
    max_price = (Decimal(str(price)) * 100 / tick).to_integral_value() * tick
    return SymbolSpec(
        symbol=symbol, pair=pair or symbol, contract_type=contract_type, base_asset=base, quote_asset=quote,
        initial_status=status, tick_size=tick, step_size=step, min_qty=step, max_qty=step * 10_000_000,
        market_max_qty=step * 1_000_000, min_price=min_price, max_price=max_price.normalize(),
        min_notional=notional, price_precision=price_precision, quantity_precision=_decimals(step),
        delivery_date_ms=delivery_ms, onboard_date_ms=ONBOARD_MS, initial_price=price,
        initial_quote_volume=quote_volume, vol_annual=vol,
    )


def _synthetic_base(seed: int, index: int, taken: set[str]) -> str:
    rng = sub_rng(seed, "name", str(index))
    name = "".join(rng.choice(_SYLLABLES) for _ in range(rng.choice((2, 2, 3)))).upper()
    return name if name not in taken else f"{name}{index}"


def quarter_delivery_ms(now_ms: int) -> int:
    """The last Friday of the current quarter at 08:00 UTC (next quarter once it passed)."""
    today = dt.datetime.fromtimestamp(now_ms / 1000, tz=dt.timezone.utc)
    for quarter_offset in range(2):
        month = ((today.month - 1) // 3 + 1 + quarter_offset) * 3
        year = today.year + (month - 1) // 12
        month = (month - 1) % 12 + 1
        first_next = dt.datetime(year + (month == 12), month % 12 + 1, 1, 8, tzinfo=dt.timezone.utc)
        last_day = first_next - dt.timedelta(days=1)
        friday = last_day - dt.timedelta(days=(last_day.weekday() - 4) % 7)
        if friday > today:
            return int(friday.timestamp() * 1000)
    raise AssertionError("unreachable")


def build_universe(seed: int, now_ms: int, perpetuals: int = 300, settling: int = 2) -> list[SymbolSpec]:
    """USDT perpetuals (the last ``settling`` of them in SETTLING), then quarterlies and
    USDC perpetuals. The same seed gives the same list; adding symbols never changes
    the ones before."""
    specs: list[SymbolSpec] = []
    taken = {base for base, *_ in REAL_BASES}
    for index in range(perpetuals):
        if index < len(REAL_BASES):
            base, price, quote_volume, vol = REAL_BASES[index]
        else:
            rng = sub_rng(seed, "synthetic", str(index))
            base = _synthetic_base(seed, index, taken)
            price = 10 ** rng.uniform(-3.3, 2.7)
            quote_volume = 10 ** rng.uniform(5.3, 8.7)
            vol = rng.uniform(0.8, 1.8)
        taken.add(base)
        specs.append(_spec(f"{base}USDT", base, "USDT", price, quote_volume, vol, seed=seed))
    for index in range(max(0, len(specs) - settling), len(specs)):
        specs[index] = attrs.evolve(specs[index], initial_status="SETTLING")
    delivery_ms = quarter_delivery_ms(now_ms)
    suffix = dt.datetime.fromtimestamp(delivery_ms / 1000, tz=dt.timezone.utc).strftime("%y%m%d")
    for base, price, quote_volume, vol in REAL_BASES[:2]:
        specs.append(_spec(f"{base}USDT_{suffix}", base, "USDT", price * 1.01, quote_volume / 40, vol,
                           contract_type="CURRENT_QUARTER", pair=f"{base}USDT", delivery_ms=delivery_ms,
                           rng_key=f"{base}USDT", seed=seed))
    for base, price, quote_volume, vol in REAL_BASES[:3]:
        specs.append(_spec(f"{base}USDC", base, "USDC", price, quote_volume / 10, vol, seed=seed))
    return specs
