"""Entry point: ``python run.py CONFIG.toml`` runs the engine; ``--check`` validates and plans."""

from __future__ import annotations

import argparse
import contextlib
import os
import signal
import sys
from functools import partial
from typing import Iterator

import trio

from engine.config import load_config
from engine.config_schema import ConfigError
from engine.logs import configure_logging
from actors.marketmaker.service import mm_plan_lines
from actors.optionchain.service import optionchain_plan_lines
from actors.oi.service import oi_plan_lines
from actors.services import service_routers, service_specs
from adapters.clients import open_venue_clients
from adapters.sim.actor import sim_plan_lines, sim_specs
from engine.runtime import EXIT_CONFIG, build_specs, plan_lines, run_engine


def _parent_command(pid: int) -> tuple[str, int]:
    """(command name, parent pid) of a process, from /proc; ("", 0) where unreadable."""
    try:
        with open(f"/proc/{pid}/stat", encoding="ascii", errors="replace") as fh:
            stat = fh.read()
    except OSError:
        return "", 0
    name = stat[stat.find("(") + 1 : stat.rfind(")")]
    return name, int(stat[stat.rfind(")") + 2 :].split()[1])


def _run_by_make() -> bool:
    """True when make started us, directly or through its recipe shell (not via pytest)."""
    if not os.environ.get("MAKELEVEL"):
        return False
    name, grandparent = _parent_command(os.getppid())
    if name == "make":
        return True
    return name in ("sh", "bash", "dash") and _parent_command(grandparent)[0] == "make"


@contextlib.contextmanager
def terminal_of_our_own() -> Iterator[None]:
    """Under ``make run``, take the terminal's foreground so Ctrl-C reaches only the engine.

    Otherwise make receives the SIGINT too and dies by it, reporting an interrupt even
    though the engine stopped cleanly with exit code 0. The foreground goes back to make
    before we exit.
    """
    if not _run_by_make() or not sys.stdin.isatty():
        yield
        return
    fd = sys.stdin.fileno()
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        make_group = os.tcgetpgrp(fd)
        os.setpgid(0, 0)
        os.tcsetpgrp(fd, os.getpgrp())
    except OSError:
        signal.signal(signal.SIGTTOU, previous)
        yield
        return
    try:
        yield
    finally:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, make_group)
        signal.signal(signal.SIGTTOU, previous)


def venue_clients(loaded, clock, log, metrics):  # type: ignore[no-untyped-def]
    """The venue clients every actor shares, from the config's [venues] section."""
    return open_venue_clients(loaded.engine.venues, clock, log, metrics)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Actor-based trading engine on trio")
    parser.add_argument("config", help="path to the engine's TOML config")
    parser.add_argument("--check", action="store_true", help="validate the config, print the plan, exit")
    args = parser.parse_args(argv)
    try:
        loaded = load_config(args.config)
    except ConfigError as error:
        print(error.one_line(), file=sys.stderr)
        return EXIT_CONFIG
    try:
        venue_specs = sim_specs(loaded)
        capability_specs = service_specs(loaded, require_credentials=not args.check)
    except ConfigError as error:
        print(error.one_line(), file=sys.stderr)
        return EXIT_CONFIG
    routers = service_routers(loaded)
    if args.check:
        specs = build_specs(loaded, lambda: [], venue_specs=venue_specs, extra_specs=capability_specs)
        print("\n".join(plan_lines(loaded, specs) + optionchain_plan_lines(loaded) + oi_plan_lines(loaded)
                         + mm_plan_lines(loaded) + sim_plan_lines(loaded)))
        return 0
    configure_logging(loaded.engine.log.format, loaded.engine.log.level)
    with terminal_of_our_own():
        return trio.run(partial(run_engine, loaded, venue_specs=venue_specs, extra_specs=capability_specs,
                                routers=routers, venue_clients=venue_clients))


if __name__ == "__main__":
    sys.exit(main())
