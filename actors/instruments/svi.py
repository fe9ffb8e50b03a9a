"""SVI smiles as they arrive from Redis (``svi:{market}:{maturity}``), checked before use.

Parameters come from an external calibrator: anything wrong with them must stop that
one maturity with a reason an operator can act on, never produce strikes from a smile
with negative variance or arbitrageable wings.
"""

from __future__ import annotations

import json
import math
from typing import Callable

from engine.quant import SviParams

FIELDS = ("a", "b", "rho", "m", "sigma")
MAX_WING_SLOPE = 2.0  # Lee's moment bound on total variance: b (1 +- rho) <= 2


class SviError(ValueError):
    """SVI parameters that cannot be used, with the reason."""


def parse_svi(raw: str | bytes | None) -> SviParams:
    """Decode and validate the JSON ``{"a","b","rho","m","sigma"}`` stored for a maturity."""
    if raw is None or (isinstance(raw, (str, bytes)) and not raw.strip()):
        raise SviError("missing: no SVI parameters stored")
    if isinstance(raw, bytes):
        try:
            raw = raw.decode("utf-8")
        except UnicodeDecodeError as error:
            raise SviError(f"invalid JSON: not UTF-8 ({error.reason})") from None
    try:
        doc = json.loads(raw)
    except (json.JSONDecodeError, TypeError) as error:
        raise SviError(f"invalid JSON: {error}") from None
    if not isinstance(doc, dict):
        raise SviError(f"invalid JSON: expected an object with {', '.join(FIELDS)}, got {type(doc).__name__}")
    values = {}
    for field in FIELDS:
        if field not in doc:
            raise SviError(f"missing field {field!r}")
        value = doc[field]
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise SviError(f"field {field!r} is not a number: {value!r}")
        try:
            number = float(value)
        except OverflowError:
            number = math.inf
        if not math.isfinite(number):
            raise SviError(f"field {field!r} is not finite: {value!r}")
        values[field] = number
    params = SviParams(**values)
    problems = svi_problems(params)
    if problems:
        raise SviError("invalid parameters: " + "; ".join(problems))
    return params


def svi_problems(params: SviParams) -> list[str]:
    """SviParams.problems() plus Lee's wing bound (no arbitrage in the far strikes)."""
    found = list(params.problems())
    for sign, label in ((1.0, "b*(1+rho)"), (-1.0, "b*(1-rho)")):
        slope = params.b * (1.0 + sign * params.rho)
        if slope > MAX_WING_SLOPE:
            found.append(f"{label} = {slope:.6g} must be <= {MAX_WING_SLOPE:g} (Lee's wing bound)")
    return found


def _check_positive(**values: float) -> None:
    for name, value in values.items():
        if not (math.isfinite(value) and value > 0):
            raise ValueError(f"{name} must be a positive number, got {value!r}")


def atm_iv(params: SviParams, expiry_years: float) -> float:
    """Implied vol at the forward (k = 0): sqrt(w(0) / T); picks the vol regime."""
    _check_positive(expiry_years=expiry_years)
    return math.sqrt(max(params.total_variance(0.0), 0.0) / expiry_years)


def smile_vol(params: SviParams, strike: float, forward: float, expiry_years: float) -> float:
    """Implied vol at ``strike``: sqrt(w(ln(K/F)) / T)."""
    _check_positive(strike=strike, forward=forward, expiry_years=expiry_years)
    return params.implied_vol(strike, forward, expiry_years)


def smile_of(params: SviParams, forward: float, expiry_years: float) -> Callable[[float], float]:
    """The ``vol_of(strike)`` the strike generator takes, for one maturity's smile."""
    _check_positive(forward=forward, expiry_years=expiry_years)
    return lambda strike: smile_vol(params, strike, forward, expiry_years)


def flat_vol(vol: float) -> Callable[[float], float]:
    """A smile-less ``vol_of`` (the strike tester, worked examples)."""
    _check_positive(vol=vol)
    return lambda strike: vol
