"""Entry point: ``python run.py CONFIG.toml`` runs the engine; ``--check`` validates and plans."""

from __future__ import annotations

import argparse
import sys

import trio

from engine.config import load_config
from engine.config_schema import ConfigError
from engine.logs import configure_logging
from engine.runtime import EXIT_CONFIG, plan_lines, run_engine


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
    if args.check:
        print("\n".join(plan_lines(loaded)))
        return 0
    configure_logging(loaded.engine.log.format, loaded.engine.log.level)
    return trio.run(run_engine, loaded)


if __name__ == "__main__":
    sys.exit(main())
