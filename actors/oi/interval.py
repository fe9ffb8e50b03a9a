"""How often the poller asks for each symbol's open interest, and how it spreads the asks.

``/fapi/v1/openInterest`` has no all-symbols form: one request (weight 1) per symbol per
round. The round length follows the seed's rule

    interval_s = min(max_s, max(min_s, round(60 / (max_requests_per_min / n_symbols))))

(defaults 2000 requests/min, 5 s, 20 s: 100 symbols -> 5 s, 300 -> 9 s, 400 -> 12 s), and
the requests of a round are spread evenly over it, never sent as a burst.

Two things the rule does not promise, and the shell must know:
- ``round`` may shorten the interval by up to half a second, so the rate can exceed
  ``max_requests_per_min`` by a few per cent (310 symbols: 9 s, 2067 requests/min);
- past ``max_s`` (above 666 symbols at the defaults) the rate grows with the universe.
Neither can breach the venue limit: the shared weight budget (``WindowBudget``) is the guard
and simply makes requests wait. ``max_requests_for_budget`` chooses ``max_requests_per_min``
so that the rule stays inside that budget; ``requests_per_min`` tells what a plan costs.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

MAX_REQUESTS_PER_MIN = 2000
MIN_INTERVAL_S = 5.0
MAX_INTERVAL_S = 20.0
WEIGHT_PER_MIN = 2400  # Binance USD-M request weight per minute per IP
SAFETY_FRACTION = 0.9


def _positive(name: str, value: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value) or value <= 0:
        raise ValueError(f"{name} must be a finite number > 0, got {value!r}")
    return float(value)


def _count(name: str, value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
    return value


def poll_interval_s(n_symbols: int, max_requests_per_min: float = MAX_REQUESTS_PER_MIN,
                    min_s: float = MIN_INTERVAL_S, max_s: float = MAX_INTERVAL_S) -> float:
    """Seconds between two polls of the same symbol (the seed's rule, see the module doc).

    ``round`` is half-up (7.5 -> 8), not Python's half-to-even: at a tie the longer interval
    spends less weight. An empty universe gets ``min_s``.
    """
    _count("n_symbols", n_symbols)
    max_requests_per_min = _positive("max_requests_per_min", max_requests_per_min)
    min_s, max_s = _positive("min_s", min_s), _positive("max_s", max_s)
    if min_s > max_s:
        raise ValueError(f"min_s must be <= max_s, got min_s={min_s:g}, max_s={max_s:g}")
    if n_symbols == 0:
        return min_s
    exact_s = 60.0 * n_symbols / max_requests_per_min  # == 60 / (max_requests_per_min / n), one rounding less
    rounded_s = math.floor(exact_s + 0.5 + 1e-9)  # 1e-9: a tie computed as x.4999999 still rounds up
    return float(min(max_s, max(min_s, rounded_s)))


def requests_per_min(n_symbols: int, interval_s: float) -> float:
    """The request rate of polling ``n_symbols`` once every ``interval_s`` each."""
    return _count("n_symbols", n_symbols) * 60.0 / _positive("interval_s", interval_s)


def spread_offsets_s(symbols: Iterable[str], interval_s: float) -> list[tuple[str, float]]:
    """(symbol, offset_s) with offsets evenly spaced over [0, interval_s): request i of a round
    goes out at round start + i x interval_s / n, so the weight is spent smoothly.

    Symbols are de-duplicated and sorted, so the same universe always gives the same plan
    and a symbol keeps its slot while the universe is unchanged.
    """
    interval_s = _positive("interval_s", interval_s)
    ordered = sorted(set(symbols))
    step_s = interval_s / len(ordered) if ordered else 0.0
    return [(symbol, i * step_s) for i, symbol in enumerate(ordered)]


def max_requests_for_budget(weight_per_min: float = WEIGHT_PER_MIN, safety_fraction: float = SAFETY_FRACTION,
                            reserved_weight_per_min: float = 0.0, weight_per_request: float = 1.0) -> int:
    """The poller's ``max_requests_per_min`` that spends exactly its share of the IP's weight budget.

        requests_per_min = floor((weight_per_min x safety_fraction - reserved_weight_per_min)
                                 / weight_per_request)

    - ``safety_fraction`` keeps headroom for other processes on the IP and for the window
      boundary (the venue counts per wall-clock minute): 2400 x 0.9 = 2160;
    - ``reserved_weight_per_min`` is what the engine's other Binance callers spend per minute,
      e.g. the LiquidityActor's all-symbols ticker (40) + exchangeInfo (10, budgeted) every
      5 min = 10/min, plus backfill and index prices;
    - ``weight_per_request`` is 1 for ``openInterest`` alone, 2 with a ``premiumIndex`` per symbol.
    Example: (2400 x 0.9 - 10) / 2 = 1075 requests/min. ValueError when nothing is left.
    """
    weight_per_min = _positive("weight_per_min", weight_per_min)
    weight_per_request = _positive("weight_per_request", weight_per_request)
    if isinstance(safety_fraction, bool) or not isinstance(safety_fraction, (int, float)) \
            or not 0 < safety_fraction <= 1:
        raise ValueError(f"safety_fraction must be in (0, 1], got {safety_fraction!r}")
    if isinstance(reserved_weight_per_min, bool) or not isinstance(reserved_weight_per_min, (int, float)) \
            or not math.isfinite(reserved_weight_per_min) or reserved_weight_per_min < 0:
        raise ValueError(f"reserved_weight_per_min must be a finite number >= 0, got {reserved_weight_per_min!r}")
    usable = weight_per_min * safety_fraction - reserved_weight_per_min
    requests = math.floor(usable / weight_per_request + 1e-9)
    if requests < 1:
        raise ValueError(f"reserved_weight_per_min={reserved_weight_per_min:g} leaves no room for a request of weight "
                         f"{weight_per_request:g} in {weight_per_min:g} x {safety_fraction:g} per minute")
    return requests
