"""Venue-agnostic option maths: raw SVI smiles and Black-76 (r = 0), for strategies and simulators."""

from __future__ import annotations

import math
from statistics import NormalDist

import attrs

_N = NormalDist()
SECONDS_PER_YEAR = 365.0 * 24 * 3600


@attrs.frozen
class SviParams:
    """Raw SVI in total variance: w(k) = a + b (rho (k - m) + sqrt((k - m)^2 + sigma^2))."""

    a: float
    b: float
    rho: float
    m: float
    sigma: float

    def problems(self) -> list[str]:
        found = []
        if self.b < 0:
            found.append("b must be >= 0")
        if abs(self.rho) >= 1:
            found.append("|rho| must be < 1")
        if self.sigma <= 0:
            found.append("sigma must be > 0")
        if self.a + self.b * self.sigma * math.sqrt(1 - min(self.rho**2, 1.0)) < 0:
            found.append("a + b*sigma*sqrt(1-rho^2) must be >= 0")
        return found

    def total_variance(self, log_moneyness: float) -> float:
        x = log_moneyness - self.m
        return self.a + self.b * (self.rho * x + math.sqrt(x * x + self.sigma * self.sigma))

    def implied_vol(self, strike: float, forward: float, expiry_years: float) -> float:
        w = self.total_variance(math.log(strike / forward))
        return math.sqrt(max(w, 1e-12) / expiry_years)


def svi_for_atm_vol(atm_vol: float, expiry_years: float, *, skew: float = -0.3, wing: float = 0.15) -> SviParams:
    """A plausible smile whose ATM vol is ``atm_vol``: the simulator's default surface.

    ``b`` scales with time to expiry (up to a year) so the smile keeps one shape in vol
    terms at every tenor and the parameters stay valid however close the expiry is
    (a + b*sigma*sqrt(1-rho^2) >= 0 needs atm_vol^2 >= wing*sigma*(1-sqrt(1-rho^2))).
    """
    sigma = 0.1
    b = wing * min(expiry_years, 1.0)
    a = atm_vol * atm_vol * expiry_years - b * sigma  # w(0) = a + b*sigma (m = 0, rho term 0)
    return SviParams(a=a, b=b, rho=skew, m=0.0, sigma=sigma)


@attrs.frozen
class Black76:
    """Price and greeks of one option. ``theta`` is per calendar day, ``vega`` per vol point."""

    price: float
    delta: float
    gamma: float
    vega: float
    theta: float


def black76(forward: float, strike: float, expiry_years: float, vol: float, is_call: bool) -> Black76:
    """Black-76 with zero rates (the convention of crypto and index option venues' greeks)."""
    if expiry_years <= 0 or vol <= 0:
        intrinsic = max(forward - strike, 0.0) if is_call else max(strike - forward, 0.0)
        delta = (1.0 if forward > strike else 0.0) if is_call else (-1.0 if forward < strike else 0.0)
        return Black76(intrinsic, delta, 0.0, 0.0, 0.0)
    sqrt_t = math.sqrt(expiry_years)
    d1 = (math.log(forward / strike) + 0.5 * vol * vol * expiry_years) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    pdf = _N.pdf(d1)
    if is_call:
        price = forward * _N.cdf(d1) - strike * _N.cdf(d2)
        delta = _N.cdf(d1)
    else:
        price = strike * _N.cdf(-d2) - forward * _N.cdf(-d1)
        delta = _N.cdf(d1) - 1.0
    gamma = pdf / (forward * vol * sqrt_t)
    vega = forward * pdf * sqrt_t / 100.0
    theta = -(forward * pdf * vol) / (2 * sqrt_t) / 365.0
    return Black76(price, delta, gamma, vega, theta)


def norm_ppf(p: float) -> float:
    return _N.inv_cdf(p)
