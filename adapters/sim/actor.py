"""The simulated venues as a supervised actor, started first so every adapter finds them."""

from __future__ import annotations

import os
from typing import Any, MutableMapping

import attrs
import trio

from adapters.sim.svi_feed import write_sim_svi
from adapters.sim.venues import SimPorts, SimVenues
from engine.actor import ActorContext, ChildSpec, Restart
from engine.config import LoadedConfig, SimSection

# What the simulators accept when the operator has not exported credentials of their own.
SIM_CREDENTIALS = {
    "dhan_access_token": "sim-dhan-token",
    "dhan_client_id": "1000000001",
    "binance_api_key": "sim-binance-key",
    "binance_api_secret": "sim-binance-secret",
}


def sim_credentials(loaded: LoadedConfig, environ: MutableMapping[str, str] | None = None) -> dict[str, str]:
    """Credentials shared by the simulators and the engine's adapters in simulated mode.

    The adapters read secrets only from the environment variables the config names; with
    the simulator on and a variable unset, it is set to the simulator's credential so the
    offline default needs no set-up. Real credentials are never invented.
    """
    environ = os.environ if environ is None else environ
    venues = loaded.engine.venues
    names = {
        "dhan_access_token": venues.dhan.access_token_env if venues.dhan else None,
        "dhan_client_id": venues.dhan.client_id_env if venues.dhan else None,
        "binance_api_key": venues.binance.api_key_env if venues.binance else None,
        "binance_api_secret": venues.binance.api_secret_env if venues.binance else None,
    }
    resolved = {}
    for what, default in SIM_CREDENTIALS.items():
        env = names[what]
        resolved[what] = environ.setdefault(env, default) if env else default
    return resolved


def venue_options(credentials: dict[str, str]) -> dict[str, dict[str, Any]]:
    return {
        "dhan": {"access_token": credentials["dhan_access_token"], "client_id": credentials["dhan_client_id"]},
        "binance": {"api_keys": {credentials["binance_api_key"]: credentials["binance_api_secret"]}},
    }


SIM_READY_TIMEOUT_S = 10.0  # the engine's actors wait this long at most for the simulators' ports


@attrs.define
class SimVenuesActor:
    """Serves Deribit, Dhan and Binance simulators and the control API on loopback, and
    writes the simulated SVI smiles an external calibrator writes in production."""

    section: SimSection
    credentials: dict[str, str]
    on_started: Any = None  # called with the urls (tests)

    async def run(self, ctx: ActorContext) -> None:
        s = self.section
        ports = SimPorts(host=s.host, control=s.control_port,
                         venues={"deribit": s.deribit_port, "dhan": s.dhan_port, "binance": s.binance_port})
        venues = SimVenues(seed=s.seed, clock=ctx.clock, ports=ports, ws_ping_interval_s=s.ws_ping_interval_s,
                           options=venue_options(self.credentials))
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(venues.run)
            ctx.log.info("sim_venues_listening", seed=s.seed, urls=urls)
            ctx.mark_ready()  # every adapter started after us finds the ports bound
            if self.on_started is not None:
                self.on_started(venues, urls)
            nursery.start_soon(write_sim_svi, ctx)


def sim_specs(loaded: LoadedConfig, environ: MutableMapping[str, str] | None = None) -> list[ChildSpec]:
    """The simulator's child spec when ``[sim] enabled``; nothing otherwise."""
    section = loaded.engine.sim
    if not section.enabled:
        return []
    credentials = sim_credentials(loaded, environ)
    return [ChildSpec("sim_venues", lambda: SimVenuesActor(section, credentials), restart=Restart.PERMANENT,
                      ready_timeout_s=SIM_READY_TIMEOUT_S)]


def sim_plan_lines(loaded: LoadedConfig) -> list[str]:
    s = loaded.engine.sim
    if not s.enabled:
        return []
    return [f"simulated venues (seed {s.seed}) on {s.host}: deribit :{s.deribit_port}, dhan :{s.dhan_port}, "
            f"binance :{s.binance_port}, control :{s.control_port}"]
