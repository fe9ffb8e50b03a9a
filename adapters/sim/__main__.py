"""Stand-alone simulated venues: ``python -m adapters.sim configs/dev.toml [--seed N]``.

Serves the ports of the config's ``[sim]`` section until SIGINT/SIGTERM, with the
credentials the config's venue sections name (or the simulator's defaults).
"""

from __future__ import annotations

import argparse
import signal
import sys

import trio

from adapters.sim.actor import sim_credentials, venue_options
from adapters.sim.venues import SimPorts, SimVenues
from engine.clock import Clock
from engine.config import load_config
from engine.config_schema import ConfigError
from engine.logs import configure_logging, get_logger


async def serve(loaded, seed: int) -> None:
    section = loaded.engine.sim
    log = get_logger(actor="sim_venues")
    ports = SimPorts(host=section.host, control=section.control_port,
                     venues={"deribit": section.deribit_port, "dhan": section.dhan_port, "binance": section.binance_port})
    venues = SimVenues(seed=seed, clock=Clock(), ports=ports, ws_ping_interval_s=section.ws_ping_interval_s,
                       options=venue_options(sim_credentials(loaded)))
    async with trio.open_nursery() as nursery:
        urls = await nursery.start(venues.run)
        log.info("sim_venues_listening", seed=seed, urls=urls)
        with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
            async for signum in signals:
                log.info("sim_venues_stopping", signal=signal.Signals(signum).name)
                venues.stop()
                break


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m adapters.sim", description="Simulated venues on loopback")
    parser.add_argument("config", nargs="?", default="configs/dev.toml", help="TOML whose [sim] section names the ports")
    parser.add_argument("--seed", type=int, default=None, help="override [sim] seed")
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.config)
    except ConfigError as error:
        print(error.one_line(), file=sys.stderr)
        return 2
    configure_logging(loaded.engine.log.format, loaded.engine.log.level)
    seed = args.seed if args.seed is not None else loaded.engine.sim.seed
    trio.run(serve, loaded, seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
