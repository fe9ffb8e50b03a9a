"""One whole engine for the chaos scenarios: every service on the simulated venues and a private Redis.

Why a thread: pytest-trio gives each test its own ``trio.run``, and an engine shared by several
scenarios must outlive them, so ``engine.runtime.run_engine`` runs in a trio loop of its own on
a background thread, assembled as ``run.py`` assembles it (same specs, routers and venue
clients). Scenarios talk to it as operators do (the HTTP API, the simulator's control API,
Redis) and, for what only the process can see (the store's mirror, the simulator's feed
connections, the bus), run small functions inside the engine's loop with ``EngineRig.call``.

What runs (``config_text``):
- instruments (BTC, ETH, ARB from Deribit and Binance index prices);
- option chains of NIFTY, BANKNIFTY (index_major, 100 strikes) and FINNIFTY (index_minor, 50):
  503 feed tokens. Dhan's cap is 5000 tokens a connection and the plan uses the fewest
  connections, so these would share one; a start-up with over 5000 tokens needs 25 chains,
  over 75 s of Dhan's 3 s REST queue. The rig's config therefore sets
  ``max_tokens_per_connection`` to ``FEED_SHARD_CAPACITY``: three shards, one underlying each;
- OI surveillance of the simulated Binance's liquid universe;
- market making of BTCUSDT on the paper venue, its book from the simulated depth stream.

Feed settings that bound recovery (``FEED``): a shard silent for ``watchdog_silence_s`` is
reconnected, after a backoff of at most ``feed_backoff_initial_s`` for a first failure.
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import attrs
import httpx
import redis as redis_py
import trio

from actors.instruments.service import instruments_specs
from actors.marketmaker.service import mm_specs
from actors.oi.records import alert_text
from actors.oi.service import oi_specs
from actors.oi.topics import ALERT_TOPIC
from actors.optionchain.actor import FEED_TOPIC
from actors.optionchain.service import check_optionchain, optionchain_specs
from actors.services import service_routers
from adapters.clients import open_venue_clients
from adapters.sim.actor import SimVenuesActor, sim_credentials
from engine.actor import ActorContext, ChildSpec, Restart
from engine.bus import Overflow
from engine.config import LoadedConfig, load_config
from engine.redis_embedded import EmbeddedRedis
from tests.engine_thread import EngineThread
from tests.chaos.process_support import SimPorts

ROOT = Path(__file__).resolve().parents[2]
T = TypeVar("T")
Token = tuple[str, int]

FEED_SHARD_CAPACITY = 250  # tokens per Dhan feed connection in the rig's plan (Dhan allows 5000)
FEED = {"max_tokens_per_connection": FEED_SHARD_CAPACITY, "watchdog_silence_s": 2.0,
        "feed_backoff_initial_s": 0.25, "feed_backoff_max_s": 2.0}
CHAINS = (("NIFTY", 13, "index_major"), ("BANKNIFTY", 25, "index_major"), ("FINNIFTY", 27, "index_minor"))
MM_PAIR = "BTCUSDT"
START_TIMEOUT_S = 120.0


def config_text(redis_url: str, sim: SimPorts, pair_file: Path) -> str:
    """The engine's TOML: every service on, the API on a free port (0), the simulator on ``sim``."""
    underlyings = "".join(
        f'[[optionchain.underlyings]]\nname = "{name}"\nsecurity_id = {sid}\nsegment = "IDX_I"\n'
        f'kind = "{kind}"\nexpiries = 1\n' for name, sid, kind in CHAINS)
    sources = "".join(
        f'[[index_prices.sources]]\nmarket = "{market}"\nvenue = "{venue}"\nindex = "{index}"\n'
        for market, venue, index in (("BTC", "deribit", "btc_usdc"), ("ETH", "deribit", "eth_usdc"),
                                     ("ARB", "binance", "ARBUSDT")))
    return (
        '[engine]\nname = "chaos"\nheartbeat_interval_s = 1.0\n'
        f'[redis]\nurl = "{redis_url}"\n'
        '[api]\nhost = "127.0.0.1"\nport = 0\n'
        + sim.sim_section(enabled=True) + sim.venue_sections()
        + '[index_prices]\nenabled = true\ninterval_s = 2.0\n' + sources
        + '[instruments]\nenabled = true\nrun_at_start = true\n'
          '[instruments.markets.BTC]\n[instruments.markets.ETH]\n[instruments.markets.ARB]\n'
        + '[optionchain]\nenabled = true\nrefresh_interval_s = 60.0\nfeed_mode = "full"\n'
        + "".join(f"{key} = {value}\n" for key, value in FEED.items())
        + underlyings
        + '[oi]\nenabled = true\nalert_pct = 5.0\n'
        + f'[marketmaker]\npairs = ["{pair_file}"]\n'
    )


@attrs.define(eq=False)
class ChaosProbe:
    """An observer actor inside the engine: the context every actor gets (store, clock, bus,
    health), the receive time of every feed tick while a scenario records them, and every OI
    alert raised (the JSON ``/ws`` pushes and ``oi:alerts`` stores). It subscribes like any
    consumer (``BLOCK``, as the chain actor does) and only stores what it reads."""

    started: threading.Event = attrs.field(factory=threading.Event)
    ctx: ActorContext | None = None
    tick_log: dict[Token, list[int]] | None = None  # every tick's receive time while recording
    alerts: list[str] = attrs.field(factory=list)
    max_alerts: int = 10_000

    async def run(self, ctx: ActorContext) -> None:
        self.ctx = ctx
        ticks = ctx.bus.subscribe(FEED_TOPIC, maxlen=1024, overflow=Overflow.BLOCK)
        alerts = ctx.bus.subscribe(ALERT_TOPIC, maxlen=1024, overflow=Overflow.BLOCK)
        with ticks, alerts:
            self.started.set()
            async with trio.open_nursery() as nursery:
                nursery.start_soon(self._read_ticks, ticks)
                nursery.start_soon(self._read_alerts, alerts)

    async def _read_ticks(self, sub: Any) -> None:
        async for updates in sub:
            log = self.tick_log
            if log is not None:
                for update in updates:
                    log.setdefault((update.segment, update.security_id), []).append(update.ts_ms)

    def start_tick_log(self) -> None:
        """Record every tick's receive time from now on (call in the engine's loop)."""
        self.tick_log = {}

    def take_tick_log(self) -> dict[Token, list[int]]:
        """What was recorded since ``start_tick_log``; recording stops (call in the engine's loop)."""
        log, self.tick_log = self.tick_log or {}, None
        return log

    async def _read_alerts(self, sub: Any) -> None:
        async for alert in sub:
            if len(self.alerts) < self.max_alerts:
                self.alerts.append(alert_text(alert))


@attrs.define(eq=False)
class EngineRig:
    """The running engine and what scenarios use of it (see the module docstring)."""

    redis_server: EmbeddedRedis
    loaded: LoadedConfig
    sim_ports: SimPorts
    probe: ChaosProbe
    sim: Any = None  # adapters.sim.venues.SimVenues, set (again) whenever the simulator (re)starts
    chain_actor: Any = None  # the running ChainActor (its shards, book and cache)
    engine: EngineThread | None = None

    @property
    def api_url(self) -> str:
        return self.engine.api_url if self.engine is not None else ""

    # ------------------------------------------------------------------ inside the engine's loop
    def call(self, fn: Callable[..., T], *args: Any) -> T:
        """Run a plain function in the engine's trio loop (between its tasks' steps) and return its result.

        Scenarios are plain test functions; from async code use ``trio.to_thread.run_sync(rig.call, fn)``."""
        assert self.engine is not None
        return self.engine.call(fn, *args)

    def call_async(self, fn: Callable[..., Any], *args: Any) -> Any:
        """Run an async function in the engine's trio loop and return its result."""
        assert self.engine is not None
        return self.engine.call_async(fn, *args)

    @property
    def store(self) -> Any:
        assert self.probe.ctx is not None
        return self.probe.ctx.store

    def now_ms(self) -> int:
        """The engine's clock (every timestamp it writes), read in its own loop."""
        assert self.probe.ctx is not None
        return self.call(self.probe.ctx.clock.time_ms)

    # ------------------------------------------------------------------ as operators see it
    def get(self, path: str, **params: Any) -> httpx.Response:
        return httpx.get(self.api_url + path, params=params or None, timeout=10.0)

    def post(self, path: str, body: Any = None) -> httpx.Response:
        if body is None:
            return httpx.post(self.api_url + path, timeout=30.0)
        return httpx.post(self.api_url + path, json=body, timeout=30.0)

    def health(self) -> dict[str, Any]:
        response = self.get("/health")
        assert response.status_code == 200, response.text
        return response.json()

    def components(self) -> dict[str, dict[str, Any]]:
        return {c["name"]: c for c in self.health()["components"]}

    def restarts(self) -> dict[str, int]:
        """How often the supervisor restarted each actor (a fault should cost no restart)."""
        return {actor["name"]: actor["restarts"] for actor in self.health()["actors"]}

    def faults(self, venue: str, **faults: Any) -> dict[str, Any]:
        """Arm faults through the simulator's control API (``clear=True`` disarms everything)."""
        response = httpx.post(f"{self.sim_ports.control_url}/control/{venue}/faults", json=faults, timeout=10.0)
        assert response.status_code == 200, response.text
        return response.json()

    def armed_faults(self, venue: str) -> dict[str, Any]:
        """What is still armed at a simulated venue (error bursts count down as they are answered)."""
        response = httpx.get(f"{self.sim_ports.control_url}/control", timeout=10.0)
        assert response.status_code == 200, response.text
        return response.json()["venues"][venue]["faults"]

    def sim_action(self, venue: str, action: str, **params: Any) -> dict[str, Any]:
        response = httpx.post(f"{self.sim_ports.control_url}/control/{venue}/actions/{action}", json=params,
                              timeout=10.0)
        assert response.status_code == 200, response.text
        return response.json()

    def accounting(self, venue: str) -> dict[str, dict[str, Any]]:
        """Per-client counters of a simulated venue (requests, throttled, banned, connections...)."""
        response = httpx.get(f"{self.sim_ports.control_url}/control/{venue}/accounting", timeout=10.0)
        assert response.status_code == 200, response.text
        return response.json()

    @contextmanager
    def redis(self) -> Iterator[redis_py.Redis]:
        """A client of the engine's Redis (whatever server is up on its socket now)."""
        client = redis_py.Redis.from_url(self.redis_server.url, decode_responses=True, socket_timeout=5.0)
        try:
            yield client
        finally:
            client.close()

    def chains(self) -> list[dict[str, Any]]:
        response = self.get("/optionchain/chains")
        assert response.status_code == 200, response.text
        return response.json()["chains"]

    # ------------------------------------------------------------------ waiting
    def wait_for(self, probe: Callable[[], T], timeout_s: float, what: str, interval_s: float = 0.2,
                 describe: Callable[[], Any] | None = None) -> T:
        """Poll ``probe`` until it returns something truthy; AssertionError naming ``what`` and the
        last value (or ``describe()``) past the timeout. The engine stopping is a failure at once."""
        deadline = time.monotonic() + timeout_s
        while True:
            self.check_alive()
            value = probe()
            if value:
                return value
            if time.monotonic() > deadline:
                last = describe() if describe is not None else value
                raise AssertionError(f"timed out after {timeout_s:g} s waiting for {what}; last: {last!r:.800}")
            time.sleep(interval_s)

    def check_alive(self) -> None:
        if self.engine is None or not self.engine.alive():
            exit_code, error = (self.engine.exit_code, self.engine.error) if self.engine else (None, None)
            raise AssertionError(f"the engine stopped (exit code {exit_code}, error {error!r})")

    def ready(self) -> bool:
        """Every service up: actors running, chains built on every shard, universe, instruments, quotes."""
        health = self.health()
        components = {c["name"]: c for c in health["components"]}
        chains = self.chains()
        shards = [name for name in components if name.startswith("dhan_feed:")]
        return (health["status"] == "ok" and len(chains) == len(CHAINS) and not any(c["stale"] for c in chains)
                and len(shards) == len(CHAINS) and all(components[name]["ok"] for name in shards)
                and all(components.get(f"instruments:{m}", {}).get("ok") for m in ("BTC", "ETH", "ARB"))
                and self.get("/api/market/open-interest/liquid-universe").json().get("count", 0) > 0)

    # ------------------------------------------------------------------ the engine thread
    def _sim_started(self, venues: Any, _urls: dict[str, str]) -> None:
        self.sim = venues

    def _capture_chain_actor(self, factory: Callable[[], Any]) -> Callable[[], Any]:
        def make() -> Any:
            self.chain_actor = factory()
            return self.chain_actor
        return make

    def _specs(self, environ: dict[str, str]) -> tuple[list[ChildSpec], list[ChildSpec], list[Any]]:
        loaded = self.loaded
        credentials = sim_credentials(loaded, environ)  # fills the rig's own environment, never os.environ
        venue_specs = [ChildSpec("sim_venues", lambda: SimVenuesActor(loaded.engine.sim, credentials,
                                                                      on_started=self._sim_started))]
        check_optionchain(loaded, environ)
        chain_specs = [attrs.evolve(spec, factory=self._capture_chain_actor(spec.factory))
                       for spec in optionchain_specs(loaded, require_credentials=False)]
        probe = ChildSpec("chaos_probe", lambda: self.probe, restart=Restart.PERMANENT)  # first: sees every alert
        capability_specs = ([probe] + instruments_specs(loaded) + chain_specs + oi_specs(loaded)
                            + mm_specs(loaded, environ=environ))
        routers = service_routers(loaded)
        return venue_specs, capability_specs, routers

    def start(self) -> None:
        environ: dict[str, str] = {}
        venue_specs, capability_specs, routers = self._specs(environ)

        def venue_clients(loaded: LoadedConfig, clock: Any, log: Any, metrics: Any) -> Any:
            return open_venue_clients(loaded.engine.venues, clock, log, metrics, environ=environ)

        self.engine = EngineThread(self.loaded, venue_specs=venue_specs, extra_specs=capability_specs,
                                   routers=routers, venue_clients=venue_clients, name="chaos-engine")
        self.engine.start(30.0)
        if not self.probe.started.wait(30.0):
            raise RuntimeError("the engine did not start the probe actor")

    def stop(self, timeout_s: float = 30.0) -> int | None:
        """Stop the engine as a signal would (actors in reverse order, the writer flushed); its exit code."""
        return self.engine.stop(timeout_s) if self.engine is not None else None


@contextmanager
def running_engine(work_dir: Path) -> Iterator[EngineRig]:
    """A private Redis and the whole engine on it, ready (every service up); stopped on exit."""
    pair_file = work_dir / "btcusdt.json"
    pair = json.loads((ROOT / "configs" / "pairs" / "btcusdt.json").read_text())
    pair_file.write_text(json.dumps({**pair, "symbol": MM_PAIR, "venue": "paper"}))
    server = EmbeddedRedis().start()
    try:
        sim_ports = SimPorts.free()
        config = work_dir / "engine.toml"
        config.write_text(config_text(server.url, sim_ports, pair_file))
        rig = EngineRig(server, load_config(config, environ={}), sim_ports, ChaosProbe())
        try:
            rig.start()
            rig.wait_for(rig.ready, START_TIMEOUT_S, "every service up", interval_s=0.5)
            yield rig
        finally:
            exit_code = rig.stop()
        assert exit_code == 0, f"the engine stopped with exit code {exit_code}"
    finally:
        server.stop()
