"""All simulated venues in one nursery, each on its own loopback port, plus the control API."""

from __future__ import annotations

import importlib
from functools import partial
from typing import Any

import attrs
import trio

from adapters.sim.control import VenueControl
from adapters.sim.control_api import build_control_app
from adapters.sim.serving import serve_app
from engine.clock import Clock

# venue name -> "module:Class"; imported when used so one venue's module never blocks another's
VENUE_CLASSES = {
    "deribit": "adapters.sim.deribit:DeribitSim",
    "dhan": "adapters.sim.dhan:DhanSim",
    "binance": "adapters.sim.binance:BinanceSim",
}


def venue_class(venue: str) -> type:
    module_name, _, class_name = VENUE_CLASSES[venue].partition(":")
    return getattr(importlib.import_module(module_name), class_name)


@attrs.frozen
class SimPorts:
    """Where each simulated venue listens; 0 picks a free port (tests)."""

    host: str = "127.0.0.1"
    control: int = 0
    venues: dict[str, int] = attrs.field(factory=lambda: {"deribit": 0, "dhan": 0, "binance": 0})


class SimVenues:
    """The simulated Deribit, Dhan and Binance with their faults and accounting.

    Python API for tests: ``sim.faults(venue)``, ``sim.accounting(venue)``,
    ``sim.action(venue, action, params)``, ``sim.venue(name)`` (the venue object itself),
    and ``sim.urls`` once started. The control HTTP API offers the same to operators.
    """

    def __init__(self, *, seed: int, clock: Clock, ports: SimPorts | None = None,
                 ws_ping_interval_s: float = 10.0, options: dict[str, dict[str, Any]] | None = None) -> None:
        self.seed = seed
        self.ports = ports or SimPorts()
        self.ws_ping_interval_s = ws_ping_interval_s
        self.controls = {name: VenueControl.new(name) for name in self.ports.venues}
        options = options or {}
        self._sims = {
            name: venue_class(name)(seed=seed, clock=clock, control=self.controls[name], **options.get(name, {}))
            for name in self.ports.venues
        }
        self.urls: dict[str, str] = {}
        self._shutdown = trio.Event()

    def venue(self, name: str) -> Any:
        return self._sims[name]

    def faults(self, venue: str) -> Any:
        return self.controls[venue].faults

    def accounting(self, venue: str) -> Any:
        return self.controls[venue].accounting

    def action(self, venue: str, action: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
        return self._sims[venue].control_action(action, params or {})

    def step(self, dt_s: float) -> None:
        """Advance every market deterministically (tests)."""
        for sim in self._sims.values():
            sim.step(dt_s)

    def stop(self) -> None:
        self._shutdown.set()

    async def run(self, *, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """Serve every venue and the control API; ``task_status.started(urls)``."""
        host = self.ports.host
        async with trio.open_nursery() as nursery:
            for name, sim in self._sims.items():
                self.urls[name] = await nursery.start(
                    partial(serve_app, sim.app(), host, self.ports.venues[name], shutdown=self._shutdown,
                            ws_ping_interval_s=self.ws_ping_interval_s))
                nursery.start_soon(sim.run_market)
            self.urls["control"] = await nursery.start(
                partial(serve_app, build_control_app(self), host, self.ports.control, shutdown=self._shutdown,
                        ws_ping_interval_s=None))
            task_status.started(dict(self.urls))
            await self._shutdown.wait()
            nursery.cancel_scope.cancel()
