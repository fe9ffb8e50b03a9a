"""A pair's strategy parameters: its JSON file, strictly validated.

Every problem is a ``PairParamsError`` naming the key by its dotted path, e.g.
``near.levels: must be an integer between 1 and 50, got 0``; unknown keys are refused (a
typo must never fall back silently to a default). Sizes, prices and the position limit
become ``Decimal`` (through the number's shortest repr, so 0.1 stays 0.1): they meet the
exchange's tick/step grid, where floats are not exact. Spreads are stored as rates
(1 bp = 0.0001) whichever form the file used.

Required: ``symbol``, ``venue``, ``near``, ``far`` (``far.levels`` may be 0: no far
ladder) and ``max_position``: sizes are in base units, so no default is safe for every
pair. ``order_rate`` defaults to Binance's account limits (300 orders / 10 s, 1200 /
min); pairs sharing one account must split them between their files.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

import attrs

Venue = Literal["paper", "binance"]
BookSource = Literal["stream", "redis"]
VENUES = ("paper", "binance")
BOOK_SOURCES = ("stream", "redis")
SYMBOL_PATTERN = re.compile(r"^[A-Z0-9_]{2,20}$")
MAX_LEVELS = 50
BPS = Decimal("0.0001")
BATCH_ORDER_COST_10S = 5  # a batchOrders call counts 5 in the 10 s window, whatever its size (batches.py)


class PairParamsError(ValueError):
    """A pair file's parameter is missing, unknown, mistyped or out of range."""


@attrs.frozen
class NearLadder:
    """Quotes around the mid: level i sits at first_spread_rate + i x step_rate from it,
    sized size x size_growth^i (base units)."""

    levels: int
    first_spread_rate: Decimal
    step_rate: Decimal
    size: Decimal
    size_growth: Decimal = Decimal(1)

    @property
    def deepest_spread_rate(self) -> Decimal:
        return self.first_spread_rate + self.step_rate * (self.levels - 1)


@attrs.frozen
class FarLadder:
    """Liquidity spread evenly from range_pct[0] % to range_pct[1] % away from the mid."""

    levels: int
    range_pct: tuple[Decimal, Decimal]
    size: Decimal


@attrs.frozen
class OrderRateLimits:
    """The account's order limits this pair may use, and the share of them it plans to."""

    per_10s: int = 300
    per_min: int = 1200
    safety_fraction: float = 0.9


@attrs.frozen
class PairParams:
    symbol: str
    venue: Venue
    near: NearLadder
    far: FarLadder
    max_position: Decimal  # base units, either direction
    enabled: bool = True
    near_interval_s: float = 1.0
    far_interval_s: float = 30.0
    force_refresh_num: int = 10
    near_diff_rate_per_round: float = 0.0005  # <= 0: every round is a forced refresh
    stale_book_ms: int = 3000
    order_rate: OrderRateLimits = OrderRateLimits()
    book_source: BookSource = "stream"


def to_decimal(value: Any, name: str = "value") -> Decimal:
    """A finite Decimal from an int, a float (its shortest repr) or a numeric string; ValueError otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str, Decimal)):
        raise ValueError(f"{name} must be a number, got {value!r}")
    try:
        out = Decimal(repr(value)) if isinstance(value, float) else Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} must be a number, got {value!r}") from None
    if not out.is_finite():
        raise ValueError(f"{name} must be a finite number, got {value!r}")
    return out


# --------------------------------------------------------------------------- field readers


def _fail(path: str, reason: str) -> PairParamsError:
    return PairParamsError(f"{path}: {reason}")


def _object(doc: Any, path: str, allowed: tuple[str, ...], required: tuple[str, ...]) -> Mapping[str, Any]:
    if not isinstance(doc, Mapping):
        raise _fail(path, f"must be an object, got {doc!r}")
    prefix = f"{path}." if path != "-" else ""
    for key in doc:
        if key not in allowed:
            raise _fail(f"{prefix}{key}", f"unknown key (expected one of {', '.join(allowed)})")
    for key in required:
        if key not in doc:
            raise _fail(f"{prefix}{key}", "missing (required)")
    return doc


def _integer(value: Any, path: str, low: int, high: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise _fail(path, f"must be an integer between {low} and {high}, got {value!r}")
    return value


def _real(value: Any, path: str, low: float, high: float, *, low_open: bool = False) -> float:
    # an int is finite however large (math.isfinite would overflow converting it), and compares exactly
    ok = not isinstance(value, bool) and isinstance(value, (int, float)) \
        and (isinstance(value, int) or math.isfinite(value)) and (low < value if low_open else low <= value) \
        and value <= high
    if not ok:
        bound = f"> {low:g}" if low_open else f">= {low:g}"
        raise _fail(path, f"must be a number {bound} and <= {high:g}, got {value!r}")
    return float(value)


def _positive_decimal(value: Any, path: str) -> Decimal:
    try:
        out = to_decimal(value, path)
    except ValueError:
        out = Decimal(0)
    if out <= 0:
        raise _fail(path, f"must be a number > 0, got {value!r}")
    return out


def _choice(value: Any, path: str, options: tuple[str, ...]) -> str:
    if value not in options:
        raise _fail(path, f"must be one of {', '.join(repr(o) for o in options)}, got {value!r}")
    return value


def _rate(doc: Mapping[str, Any], path: str, name: str, *, positive: bool) -> Decimal:
    """``<name>_bps`` or ``<name>_rate`` (exactly one), as a rate below 1."""
    bps_key, rate_key = f"{name}_bps", f"{name}_rate"
    if (bps_key in doc) == (rate_key in doc):
        raise _fail(f"{path}.{bps_key}", f"give exactly one of {bps_key} or {rate_key}")
    key, scale, high = (bps_key, BPS, 10_000) if bps_key in doc else (rate_key, Decimal(1), 1)
    value = doc[key]
    number = _real(value, f"{path}.{key}", 0, high, low_open=positive)
    if number >= high:
        raise _fail(f"{path}.{key}", f"must be below {high} (100 %), got {value!r}")
    return to_decimal(value) * scale


# --------------------------------------------------------------------------- sections


def _near(doc: Any) -> NearLadder:
    keys = ("levels", "first_spread_bps", "first_spread_rate", "step_bps", "step_rate", "size", "size_growth")
    doc = _object(doc, "near", keys, ("levels", "size"))
    levels = _integer(doc["levels"], "near.levels", 1, MAX_LEVELS)
    first = _rate(doc, "near", "first_spread", positive=True)
    step = _rate(doc, "near", "step", positive=False)
    if levels > 1 and step == 0:
        raise _fail("near.step_bps", "must be > 0 when near.levels > 1 (levels would share one price)")
    growth = _positive_decimal(doc.get("size_growth", 1), "near.size_growth")
    if growth > 10:
        raise _fail("near.size_growth", f"must be at most 10, got {doc['size_growth']!r}")
    ladder = NearLadder(levels, first, step, _positive_decimal(doc["size"], "near.size"), growth)
    if ladder.deepest_spread_rate >= 1:
        raise _fail("near", f"the deepest level's spread ({ladder.deepest_spread_rate * 100:g} %) must be below 100 %")
    return ladder


def _far(doc: Any) -> FarLadder:
    doc = _object(doc, "far", ("levels", "range_pct", "size"), ("levels", "range_pct", "size"))
    levels = _integer(doc["levels"], "far.levels", 0, MAX_LEVELS)
    raw = doc["range_pct"]
    if not isinstance(raw, (list, tuple)) or len(raw) != 2:
        raise _fail("far.range_pct", f"must be [low, high] in percent from the mid, got {raw!r}")
    low = _real(raw[0], "far.range_pct[0]", 0, 100, low_open=True)
    high = _real(raw[1], "far.range_pct[1]", 0, 100, low_open=True)
    if high >= 100 or low > high or (levels > 1 and low == high):
        raise _fail("far.range_pct", f"must satisfy 0 < low {'<' if levels > 1 else '<='} high < 100, got {raw!r}")
    return FarLadder(levels, (to_decimal(raw[0]), to_decimal(raw[1])), _positive_decimal(doc["size"], "far.size"))


def _order_rate(doc: Any) -> OrderRateLimits:
    doc = _object(doc, "order_rate", ("per_10s", "per_min", "safety_fraction"), ())
    per_10s = _integer(doc.get("per_10s", 300), "order_rate.per_10s", BATCH_ORDER_COST_10S, 1_000_000)
    per_min = _integer(doc.get("per_min", 1200), "order_rate.per_min", 1, 10_000_000)
    fraction = _real(doc.get("safety_fraction", 0.9), "order_rate.safety_fraction", 0, 1, low_open=True)
    if math.floor(per_10s * fraction) < BATCH_ORDER_COST_10S:
        raise _fail("order_rate.per_10s", f"x safety_fraction must leave room for one batch "
                                          f"({BATCH_ORDER_COST_10S} orders), got {per_10s} x {fraction:g}")
    return OrderRateLimits(per_10s, per_min, fraction)


_TOP_KEYS = ("symbol", "venue", "enabled", "near_interval_s", "far_interval_s", "force_refresh_num",
             "near_diff_rate_per_round", "near", "far", "max_position", "stale_book_ms", "order_rate", "book_source")


def parse_pair_params(doc: Mapping[str, Any]) -> PairParams:
    """The validated parameters of one pair file (already JSON-decoded); PairParamsError naming the key."""
    doc = _object(doc, "-", _TOP_KEYS, ("symbol", "venue", "near", "far", "max_position"))
    symbol = doc["symbol"]
    if not isinstance(symbol, str) or not SYMBOL_PATTERN.match(symbol):
        raise _fail("symbol", f"must be a venue symbol of 2 to 20 characters A-Z, 0-9 or _, got {symbol!r}")
    enabled = doc.get("enabled", True)
    if not isinstance(enabled, bool):
        raise _fail("enabled", f"must be true or false, got {enabled!r}")
    diff_rate = _real(doc.get("near_diff_rate_per_round", 0.0005), "near_diff_rate_per_round", -1, 1)
    if diff_rate >= 1:
        raise _fail("near_diff_rate_per_round", f"must be below 1 (a relative price difference), got {diff_rate!r}")
    return PairParams(
        symbol=symbol,
        venue=_choice(doc["venue"], "venue", VENUES),  # type: ignore[arg-type]
        near=_near(doc["near"]),
        far=_far(doc["far"]),
        max_position=_positive_decimal(doc["max_position"], "max_position"),
        enabled=enabled,
        near_interval_s=_real(doc.get("near_interval_s", 1.0), "near_interval_s", 0.1, 3600),
        far_interval_s=_real(doc.get("far_interval_s", 30.0), "far_interval_s", 0.1, 86_400),
        force_refresh_num=_integer(doc.get("force_refresh_num", 10), "force_refresh_num", 1, 1_000_000),
        near_diff_rate_per_round=diff_rate,
        stale_book_ms=_integer(doc.get("stale_book_ms", 3000), "stale_book_ms", 100, 600_000),
        order_rate=_order_rate(doc.get("order_rate", {})),
        book_source=_choice(doc.get("book_source", "stream"), "book_source", BOOK_SOURCES),  # type: ignore[arg-type]
    )


def example_pair_json() -> dict[str, Any]:
    """A complete, valid pair file (a fresh dict each call): the template for configs/pairs/*.json."""
    return {
        "symbol": "BTCUSDT",
        "venue": "paper",
        "enabled": True,
        "near_interval_s": 1.0,
        "far_interval_s": 30.0,
        "force_refresh_num": 10,
        "near_diff_rate_per_round": 0.0005,
        "near": {"levels": 5, "first_spread_bps": 5, "step_bps": 3, "size": 0.002, "size_growth": 1.5},
        "far": {"levels": 5, "range_pct": [1.0, 5.0], "size": 0.01},
        "max_position": 0.05,
        "stale_book_ms": 3000,
        "order_rate": {"per_10s": 300, "per_min": 1200, "safety_fraction": 0.9},
        "book_source": "stream",
    }
