"""The imperative shell of the engine: Redis, bus, supervisor and signals in one nursery."""

from __future__ import annotations

import signal
from contextlib import AbstractAsyncContextManager, AsyncExitStack
from typing import Any, Callable, Iterable

import attrs
import trio

from engine.actor import ActorContext, ChildSpec, Restart
from engine.api import ApiActor, RouterFactory
from engine.bus import Bus
from engine.clock import Clock
from engine.config import LoadedConfig
from engine.health import HealthBoard
from engine.heartbeat import HeartbeatActor
from engine.logs import get_logger
from engine.metrics import EngineMetrics
from engine.redis_embedded import EmbeddedRedis
from engine.store import RedisStore
from engine.supervisor import Supervisor, SupervisorPolicy

EXIT_OK = 0
EXIT_CONFIG = 2
EXIT_FORCED = 130

# Opens the venue clients (HTTP sessions, limiters) for the engine's lifetime; engine/ never
# imports adapters/, so run.py hands this in.
VenueClientsFactory = Callable[[LoadedConfig, Clock, Any, EngineMetrics], AbstractAsyncContextManager[dict[str, Any]]]


def supervisor_policy(loaded: LoadedConfig) -> SupervisorPolicy:
    section = loaded.engine.supervisor
    return SupervisorPolicy(**attrs.asdict(section))


def effective_config(loaded: LoadedConfig) -> dict[str, Any]:
    """The config as served to operators: env-var names only, never their values."""
    return {"path": loaded.path, **attrs.asdict(loaded.engine),
            "pairs": [attrs.asdict(p) for p in loaded.pairs]}


def build_specs(loaded: LoadedConfig, health: Callable[[], list[Any]],
                on_listening: Callable[[list[str]], None] | None = None,
                venue_specs: Iterable[ChildSpec] = (), extra_specs: Iterable[ChildSpec] = (),
                routers: Iterable[RouterFactory] = ()) -> list[ChildSpec]:
    """Start order: venues (simulated ones), heartbeat, capabilities, then the API.

    Children stop in reverse order, so the API stops taking requests first and the
    venues go last, after the market makers have cancelled their orders there.
    """
    cfg = loaded.engine
    api = ChildSpec(
        "api",
        lambda: ApiActor(cfg.api.host, cfg.api.port, health, loaded.admin_token, effective_config(loaded),
                         on_listening=on_listening, routers=tuple(routers)),
        restart=Restart.PERMANENT,
    )
    heartbeat = ChildSpec("heartbeat", lambda: HeartbeatActor(cfg.engine.name, cfg.engine.heartbeat_interval_s))
    return [*venue_specs, heartbeat, *extra_specs, api]


def plan_lines(loaded: LoadedConfig, specs: list[ChildSpec]) -> list[str]:
    """What ``run.py --check`` prints: the actors that would run and where state goes."""
    cfg = loaded.engine
    lines = [
        f"config: {loaded.path} (valid)",
        f"redis: {'embedded private redis-server' if cfg.redis.url == 'embedded' else cfg.redis.url}",
        f"api: http://{cfg.api.host}:{cfg.api.port} (admin token {'required' if loaded.admin_token else 'not set'})",
        f"supervisor: one_for_one, at most {cfg.supervisor.max_restarts} restarts in {cfg.supervisor.window_s:g} s, "
        f"backoff {cfg.supervisor.backoff_initial_s:g}..{cfg.supervisor.backoff_max_s:g} s",
        "actors:",
    ]
    for spec in specs:
        lines.append(f"  {spec.name:<12} {spec.restart.value}")
    for name in ("deribit", "dhan", "binance"):
        venue = getattr(cfg.venues, name)
        if venue is not None:
            lines.append(f"venue {name}: {venue.rest_url}")
    for pair in loaded.pairs:
        lines.append(f"pair {pair.symbol}: venue {pair.venue}{'' if pair.enabled else ' (disabled)'}")
    return lines


async def _watch_signals(supervisor: Supervisor, log: Any, forced: trio.CancelScope, task_status=trio.TASK_STATUS_IGNORED) -> None:
    """First SIGINT/SIGTERM stops cleanly; a second one cancels everything at once."""
    with trio.open_signal_receiver(signal.SIGINT, signal.SIGTERM) as signals:
        task_status.started()
        count = 0
        async for signum in signals:
            count += 1
            if count == 1:
                log.info("engine_stop_requested", signal=signal.Signals(signum).name)
                supervisor.request_stop()
            else:
                log.warning("engine_forced_stop", signal=signal.Signals(signum).name)
                forced.cancel()


async def _stop_on(event: trio.Event, supervisor: Supervisor) -> None:
    await event.wait()
    supervisor.request_stop()


async def run_engine(loaded: LoadedConfig, *, venue_specs: Iterable[ChildSpec] = (),
                     extra_specs: Iterable[ChildSpec] = (), routers: Iterable[RouterFactory] = (),
                     venue_clients: VenueClientsFactory | None = None,
                     on_listening: Callable[[list[str]], None] | None = None,
                     handle_signals: bool = True, stop_event: trio.Event | None = None) -> int:
    """Run until a signal, ``stop_event`` or an escalation; return the process exit code."""
    cfg = loaded.engine
    log = get_logger(engine=cfg.engine.name, actor="engine")
    clock = Clock()
    metrics = EngineMetrics()
    embedded: EmbeddedRedis | None = None
    url = cfg.redis.url
    if url == "embedded":
        embedded = EmbeddedRedis()
        await trio.to_thread.run_sync(embedded.start)
        url = embedded.url
        log.info("embedded_redis_started", pid=embedded.pid, url=url)
    exit_code = EXIT_FORCED
    try:
        store = RedisStore(url, clock=clock, log=log.bind(actor="redis_writer"), metrics=metrics,
                           max_pending_ops=cfg.redis.max_pending_ops, flush_max_ops=cfg.redis.flush_max_ops,
                           socket_timeout_s=cfg.redis.socket_timeout_s)
        bus = Bus(metrics)
        board = HealthBoard()
        supervisor: Supervisor | None = None
        venues: dict[str, Any] = {}

        def health() -> list[Any]:
            return supervisor.statuses() if supervisor is not None else []

        def make_context(spec: ChildSpec) -> ActorContext:
            return ActorContext(name=spec.name, bus=bus, store=store, clock=clock, log=log.bind(actor=spec.name),
                                metrics=metrics, config=spec.config, venues=venues, health=board)

        specs = build_specs(loaded, health, on_listening, venue_specs, extra_specs, routers)
        supervisor = Supervisor(specs, make_context, supervisor_policy(loaded), clock, log.bind(actor="supervisor"), metrics)
        with trio.CancelScope() as forced:
            async with AsyncExitStack() as exits:
                if venue_clients is not None:
                    venues.update(await exits.enter_async_context(venue_clients(loaded, clock, log, metrics)))
                async with trio.open_nursery() as nursery:
                    await nursery.start(store.run)
                    if handle_signals:
                        await nursery.start(_watch_signals, supervisor, log, forced)
                    if stop_event is not None:
                        nursery.start_soon(_stop_on, stop_event, supervisor)
                    log.info("engine_started", actors=[s.name for s in specs])
                    exit_code = await supervisor.run()
                    await store.aclose(timeout_s=cfg.supervisor.cleanup_window_s)
                    nursery.cancel_scope.cancel()
        log.info("engine_stopped", exit_code=exit_code, redis=attrs.asdict(store.status()))
    finally:
        if embedded is not None:
            with trio.CancelScope(shield=True):
                await trio.to_thread.run_sync(embedded.stop)
            log.info("embedded_redis_stopped")
    return exit_code
