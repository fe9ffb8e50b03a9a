"""The simulated volatility source: writes ``svi:{market}:{maturity}`` as an external calibrator would.

In production another service calibrates SVI smiles and writes them to Redis; offline,
the simulator does it so the instrument service has smiles to list from. It writes one
smile per calendar day for the coming ``horizon_days`` (whatever maturities the engine
picks), with term structure, in one pipeline per refresh.
"""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

from engine import keys
from engine.quant import svi_for_atm_vol

SIM_ATM_VOLS = {"BTC": 0.55, "ETH": 0.65, "ARB": 0.9}
EXPIRY_HOUR_UTC = 8


def maturity_code(day: dt.date) -> str:
    """Deribit's ``DMMMYY`` (no leading zero): the form the SVI keys are named by."""
    return f"{day.day}{day.strftime('%b').upper()}{day:%y}"


def sim_svi_params(now_s: float, horizon_days: int = 400,
                   atm_vols: dict[str, float] | None = None) -> dict[str, str]:
    """key -> JSON params for every market and day in the horizon (pure)."""
    atm_vols = atm_vols or SIM_ATM_VOLS
    now = dt.datetime.fromtimestamp(now_s, dt.timezone.utc)
    first = now.date()
    out = {}
    for offset in range(horizon_days + 1):
        day = first + dt.timedelta(days=offset)
        expiry = dt.datetime(day.year, day.month, day.day, EXPIRY_HOUR_UTC, tzinfo=dt.timezone.utc)
        years = (expiry - now).total_seconds() / (365.0 * 86_400)
        if years <= 0:
            continue
        for market, vol in atm_vols.items():
            term_vol = vol * (1.0 + 0.1 * min(years, 1.0))  # a gently rising term structure
            p = svi_for_atm_vol(term_vol, years)
            out[keys.svi(market, maturity_code(day))] = json.dumps(
                {"a": p.a, "b": p.b, "rho": p.rho, "m": p.m, "sigma": p.sigma}, separators=(",", ":"))
    return out


async def write_sim_svi(ctx: Any, refresh_s: float = 3600.0) -> None:
    """Keep the simulated smiles in Redis, refreshed hourly (time to expiry shrinks)."""
    while True:
        params = sim_svi_params(ctx.clock.time_s())
        for key, value in params.items():
            ctx.store.set(key, value)
        ctx.log.info("sim_svi_written", keys=len(params))
        await ctx.clock.sleep(refresh_s)
