"""Stand-alone simulated venues: ``python -m adapters.sim configs/dev.toml [--seed N] [load options]``.

Serves the ports of the config's ``[sim]`` section until SIGINT/SIGTERM, with the
credentials the config's venue sections name (or the simulator's defaults). A port of 0
picks a free one; the ``sim_venues_listening`` log line names them all.

``--venues dhan,binance`` serves only those venues (and the control API), so each can have
a process, and a core, of its own. Load options (benchmarks run the simulators in a process
of their own, so the engine's measurements never include them): ``--binance-symbols`` USDT perpetuals listed (default
300), ``--dhan-synthetic-indices`` made-up indices added to Dhan's list with
``--dhan-synthetic-weeklies`` weekly expiries each (default 0 and 12), and
``--dhan-step-interval-s`` the Dhan market step, which is also how often every subscribed
instrument gets a feed packet (default 0.5 s).
"""

from __future__ import annotations

import argparse
import signal
import sys
from typing import Any

import trio

from adapters.sim.actor import sim_credentials, venue_options
from adapters.sim.venues import SimPorts, SimVenues
from engine.clock import Clock
from engine.config import load_config
from engine.config_schema import ConfigError
from engine.logs import configure_logging, get_logger

VENUES = ("deribit", "dhan", "binance")


async def serve(loaded, seed: int, load: dict[str, dict[str, Any]] | None = None,
                venues_served: tuple[str, ...] = VENUES) -> None:
    section = loaded.engine.sim
    log = get_logger(actor="sim_venues")
    every = {"deribit": section.deribit_port, "dhan": section.dhan_port, "binance": section.binance_port}
    ports = SimPorts(host=section.host, control=section.control_port,
                     venues={name: port for name, port in every.items() if name in venues_served})
    options = venue_options(sim_credentials(loaded))
    for venue, extra in (load or {}).items():
        options[venue] = {**options.get(venue, {}), **extra}
    venues = SimVenues(seed=seed, clock=Clock(), ports=ports, ws_ping_interval_s=section.ws_ping_interval_s,
                       options=options)
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(venues.run)
        log.info("sim_venues_listening", seed=seed, urls=urls)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("sim_venues_stopping", signal=signal.Signals(signum).name)
                venues.stop()
                break


def venue_list(text: str) -> tuple[str, ...]:
    """``--venues``: a comma-separated subset of the simulated venues."""
    names = tuple(dict.fromkeys(name.strip() for name in text.split(",") if name.strip()))
    unknown = [name for name in names if name not in VENUES]
    if unknown or not names:
        raise argparse.ArgumentTypeError(f"expected some of {', '.join(VENUES)}, got {text!r}")
    return names


def load_options(args: argparse.Namespace) -> dict[str, dict[str, Any]]:
    """The venue options the load flags set (only those given: the venues' defaults stay)."""
    flags = {("binance", "symbols"): args.binance_symbols,
             ("dhan", "synthetic_indices"): args.dhan_synthetic_indices,
             ("dhan", "synthetic_weeklies"): args.dhan_synthetic_weeklies,
             ("dhan", "step_interval_s"): args.dhan_step_interval_s}
    options: dict[str, dict[str, Any]] = {}
    for (venue, name), value in flags.items():
        if value is not None:
            options.setdefault(venue, {})[name] = value
    return options


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.sim", description="Simulated venues on loopback")
    parser.add_argument("config", nargs="?", default="configs/dev.toml", help="TOML whose [sim] section names the ports")
    parser.add_argument("--seed", type=int, default=None, help="override [sim] seed")
    parser.add_argument("--venues", type=venue_list, default=VENUES, help="serve only these (default: all)")
    parser.add_argument("--binance-symbols", type=int, default=None, help="USDT perpetuals listed (default 300)")
    parser.add_argument("--dhan-synthetic-indices", type=int, default=None,
                        help="made-up indices SIMIDX01.. added to Dhan's list (default 0)")
    parser.add_argument("--dhan-synthetic-weeklies", type=int, default=None,
                        help="weekly expiries of each made-up index (default 12)")
    parser.add_argument("--dhan-step-interval-s", type=float, default=None,
                        help="Dhan market step and feed packet interval (default 0.5)")
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.config)
    except ConfigError as error:
        print(error.one_line(), file=sys.stderr)
        return 2
    configure_logging(loaded.engine.log.format, loaded.engine.log.level)
    seed = args.seed if args.seed is not None else loaded.engine.sim.seed
    trio.run(serve, loaded, seed, load_options(args), args.venues)
    return 0


if __name__ == "__main__":
    sys.exit(main())
