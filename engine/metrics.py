"""Prometheus metrics owned by one engine instance (never the global default registry)."""

from __future__ import annotations

import attrs
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest


def _counter(registry: CollectorRegistry, name: str, doc: str, labels: tuple[str, ...] = ()) -> Counter:
    return Counter(name, doc, labels, registry=registry)


@attrs.define
class EngineMetrics:
    """Every metric the runtime itself exports; venue actors add theirs to ``registry``."""

    registry: CollectorRegistry = attrs.field(factory=lambda: CollectorRegistry(auto_describe=True))
    actor_restarts: Counter = attrs.field(init=False)
    actor_failures: Counter = attrs.field(init=False)
    actor_up: Gauge = attrs.field(init=False)
    bus_published: Counter = attrs.field(init=False)
    bus_dropped: Counter = attrs.field(init=False)
    bus_conflated: Counter = attrs.field(init=False)
    redis_flushes: Counter = attrs.field(init=False)
    redis_flush_seconds: Histogram = attrs.field(init=False)
    redis_commands: Counter = attrs.field(init=False)
    redis_dropped_ops: Counter = attrs.field(init=False)
    redis_pending_ops: Gauge = attrs.field(init=False)
    redis_connected: Gauge = attrs.field(init=False)
    venue_requests: Counter = attrs.field(init=False)
    venue_weight_used: Counter = attrs.field(init=False)
    venue_throttled: Counter = attrs.field(init=False)
    ticks_received: Counter = attrs.field(init=False)
    ticks_merged: Counter = attrs.field(init=False)
    cache_writes: Counter = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        r = self.registry
        self.actor_restarts = _counter(r, "engine_actor_restarts", "Actor restarts by the supervisor", ("actor",))
        self.actor_failures = _counter(r, "engine_actor_failures", "Actor runs that ended in an exception", ("actor",))
        self.actor_up = Gauge("engine_actor_up", "1 while the actor is running", ("actor",), registry=r)
        self.bus_published = _counter(r, "engine_bus_published", "Messages published per topic", ("topic",))
        self.bus_dropped = _counter(r, "engine_bus_dropped", "Messages dropped by a bounded subscription", ("topic", "policy"))
        self.bus_conflated = _counter(r, "engine_bus_conflated", "Messages replaced by a newer value for the same key", ("topic",))
        self.redis_flushes = _counter(r, "engine_redis_flushes", "Writer flushes executed")
        self.redis_flush_seconds = Histogram(
            "engine_redis_flush_seconds", "Writer flush latency", registry=r,
            buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0, 5.0),
        )
        self.redis_commands = _counter(r, "engine_redis_commands", "Commands sent by the writer")
        self.redis_dropped_ops = _counter(r, "engine_redis_dropped_ops", "Buffered writes dropped while Redis was unreachable")
        self.redis_pending_ops = Gauge("engine_redis_pending_ops", "Writes waiting for the next flush", registry=r)
        self.redis_connected = Gauge("engine_redis_connected", "1 while the writer reaches Redis", registry=r)
        self.venue_requests = _counter(r, "engine_venue_requests", "Requests sent per venue", ("venue",))
        self.venue_weight_used = _counter(r, "engine_venue_weight_used", "Request weight spent per venue", ("venue",))
        self.venue_throttled = _counter(r, "engine_venue_throttled", "Rate-limit answers (429/805/10028) per venue", ("venue",))
        self.ticks_received = _counter(r, "engine_ticks_received", "Market-data updates taken in per service", ("service",))
        self.ticks_merged = _counter(r, "engine_ticks_merged", "Updates that reached a live value per service", ("service",))
        self.cache_writes = _counter(r, "engine_cache_writes", "Documents written to the cache and Redis per service", ("service",))

    def render(self) -> bytes:
        """Prometheus text exposition of this engine's registry."""
        return generate_latest(self.registry)
