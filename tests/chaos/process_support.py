"""Helpers of the chaos scenarios: free loopback ports, engine configs on the simulated venues,
child processes that never outlive a test and their JSON log lines, and the whole engine
running in a thread of the test process (``ThreadedEngine``) for synchronous fuzzing."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections.abc import AsyncIterator, Callable, Iterator, Sequence
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs

import run
from actors.services import service_routers, service_specs
from adapters.dhan.codec import DecodeStats
from adapters.sim.actor import sim_specs
from engine.actor import ChildSpec
from engine.config import LoadedConfig
from tests.engine_thread import EngineThread
from tests.support import free_ports, json_events  # noqa: F401 - the scenarios import them from here

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")


@attrs.frozen
class SimPorts:
    """Where the simulated venues listen: the ``[sim]`` section and the venue URLs that point at it."""

    control: int
    deribit: int
    dhan: int
    binance: int

    @classmethod
    def free(cls) -> SimPorts:
        return cls(*free_ports(4))

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.control}"

    @property
    def binance_rest_url(self) -> str:
        return f"http://127.0.0.1:{self.binance}"

    def sim_section(self, enabled: bool) -> str:
        return (f"[sim]\nenabled = {'true' if enabled else 'false'}\ncontrol_port = {self.control}\n"
                f"deribit_port = {self.deribit}\ndhan_port = {self.dhan}\nbinance_port = {self.binance}\n")

    def venue_sections(self, env_prefix: str = "CHAOS") -> str:
        """``[venues.*]`` on the simulators; credentials in variables named ``{env_prefix}_...``."""
        return (f'[venues.deribit]\nrest_url = "http://127.0.0.1:{self.deribit}/api/v2"\n'
                f'ws_url = "ws://127.0.0.1:{self.deribit}/ws/api/v2"\n'
                f'[venues.dhan]\nrest_url = "http://127.0.0.1:{self.dhan}/v2"\n'
                f'feed_url = "ws://127.0.0.1:{self.dhan}"\n'
                f'instrument_master_url = "http://127.0.0.1:{self.dhan}/v2/instruments/api-scrip-master-detailed.csv"\n'
                f'access_token_env = "{env_prefix}_DHAN_ACCESS_TOKEN"\nclient_id_env = "{env_prefix}_DHAN_CLIENT_ID"\n'
                f'[venues.binance]\nrest_url = "http://127.0.0.1:{self.binance}"\n'
                f'ws_url = "ws://127.0.0.1:{self.binance}"\n'
                f'api_key_env = "{env_prefix}_BINANCE_API_KEY"\napi_secret_env = "{env_prefix}_BINANCE_API_SECRET"\n')


def wait_for(probe: Callable[[], T | None], timeout_s: float, what: str, interval_s: float = 0.1) -> T:
    """Poll ``probe`` until it returns something truthy; AssertionError naming ``what`` past the timeout."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}")
        time.sleep(interval_s)


def stop_process(proc: subprocess.Popen, timeout_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL if it has not exited within ``timeout_s``; reaps it either way."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def spawned(args: Sequence[str], log: Path, env: dict[str, str] | None = None) -> Iterator[subprocess.Popen]:
    """``python *args`` from the project root, stdout and stderr into ``log``; stopped on exit."""
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        yield proc
    finally:
        stop_process(proc)


# --------------------------------------------------------------------------- the whole engine in a thread


@attrs.define(eq=False)
class _CountingDhan:
    """The engine's real Dhan client, handing every feed connection one shared ``DecodeStats``
    (its documented option), so a test can see what the engine's decoder skipped."""

    client: Any
    stats: DecodeStats

    def new_feed(self, log: Any, **options: Any) -> Any:
        return self.client.new_feed(log, **{"stats": self.stats, **options})

    def __getattr__(self, name: str) -> Any:
        return getattr(self.client, name)


@attrs.define(eq=False)
class ThreadedEngine:
    """The whole engine wired as ``run.py`` wires it (the simulated venues first, every capability,
    every router) in an ``EngineThread``, so synchronous tests (hypothesis) can drive it over HTTP
    while it runs. ``actors``: the instances each child's factory built, by child name (a restarted
    child has several); ``dhan_stats``: the feed decoder's counters."""

    loaded: LoadedConfig
    actors: dict[str, list[Any]] = attrs.field(factory=dict)
    dhan_stats: DecodeStats = attrs.field(factory=DecodeStats)
    engine: EngineThread | None = None

    @property
    def control_url(self) -> str:
        return f"http://127.0.0.1:{self.loaded.engine.sim.control_port}"

    @property
    def api_url(self) -> str:
        return self.engine.api_url if self.engine is not None else ""

    def start(self, timeout_s: float = 30.0) -> ThreadedEngine:
        loaded = self.loaded
        venue_specs = sim_specs(loaded)  # first: it sets the simulator's credentials where unset
        self.engine = EngineThread(loaded, venue_specs=[self._tapped(s) for s in venue_specs],
                                   extra_specs=[self._tapped(s) for s in service_specs(loaded)],
                                   routers=service_routers(loaded), venue_clients=self._venue_clients)
        try:
            self.engine.start(timeout_s)
        except RuntimeError:
            self.stop()
            raise
        return self

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """The orderly stop a signal asks for; the engine's exit code once it is over."""
        assert self.engine is not None
        return self.engine.stop(timeout_s)

    def _tapped(self, spec: ChildSpec) -> ChildSpec:
        built = self.actors.setdefault(spec.name, [])

        def factory() -> Any:
            actor = spec.factory()
            built.append(actor)
            return actor

        return attrs.evolve(spec, factory=factory)

    @asynccontextmanager
    async def _venue_clients(self, loaded: LoadedConfig, clock: Any, log: Any,
                             metrics: Any) -> AsyncIterator[dict[str, Any]]:
        async with run.venue_clients(loaded, clock, log, metrics) as clients:
            if "dhan" in clients:
                clients["dhan"] = _CountingDhan(clients["dhan"], self.dhan_stats)
            yield clients
