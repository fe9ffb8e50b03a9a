"""Fault injection and accounting shared by every simulated venue.

Tests (through the Python API) and operators (through the control HTTP API) arm faults
here; venue servers consult them on every answer and frame. Every request, weight unit,
throttle answer, subscription and connection is counted per client, so a test can assert
that the engine never breached a limit.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from typing import Any

import attrs
import trio

ERROR_KINDS = ("429", "418", "805", "10028", "5xx", "malformed")


@attrs.define
class ClientStats:
    """What one client (an API key, a Dhan client id, or a remote address) did at a venue."""

    requests: int = 0
    weight: int = 0
    throttled: int = 0  # answers of 429 / 805 / 10028 earned by going over a limit
    banned: int = 0  # 418 answers
    rejected: int = 0  # auth, signature or validation errors
    connections: int = 0  # open now
    max_connections: int = 0
    subscriptions: int = 0  # open now
    max_subscriptions: int = 0
    orders_placed: int = 0
    orders_cancelled: int = 0
    endpoints: Counter = attrs.field(factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        return {**attrs.asdict(self, filter=lambda a, _: a.name != "endpoints"), "endpoints": dict(self.endpoints)}


@attrs.define
class VenueFaults:
    """The faults armed for one venue. Counts are consumed one answer (or frame) at a time."""

    venue: str
    delay_s: float = 0.0
    silent: bool = False  # websockets keep the connection but send nothing
    errors: Counter = attrs.field(factory=Counter)  # kind -> answers left to fail that way
    malformed_frames: int = 0  # websocket frames left to corrupt
    reject_orders: int = 0
    timeout_orders: int = 0
    drop_generation: int = 0  # bumped to drop every open websocket
    changed: trio.Event = attrs.field(factory=trio.Event)

    def _notify(self) -> None:
        changed, self.changed = self.changed, trio.Event()
        changed.set()

    # --- arming (control API) ---
    def burst(self, kind: str, count: int) -> None:
        if kind not in ERROR_KINDS:
            raise ValueError(f"unknown error kind {kind!r}; known: {', '.join(ERROR_KINDS)}")
        self.errors[kind] += count

    def drop_connections(self) -> None:
        self.drop_generation += 1
        self._notify()

    def set_silent(self, silent: bool) -> None:
        self.silent = silent
        self._notify()

    def clear(self) -> None:
        self.delay_s = 0.0
        self.errors.clear()
        self.malformed_frames = self.reject_orders = self.timeout_orders = 0
        self.set_silent(False)

    # --- consuming (venue servers) ---
    async def before_answer(self) -> None:
        if self.delay_s > 0:
            await trio.sleep(self.delay_s)

    def take_error(self, *kinds: str) -> str | None:
        """The first armed error among ``kinds`` (in the order given), consumed; else None."""
        for kind in kinds:
            if self.errors[kind] > 0:
                self.errors[kind] -= 1
                return kind
        return None

    def take_malformed_frame(self) -> bool:
        if self.malformed_frames > 0:
            self.malformed_frames -= 1
            return True
        return False

    def take_order_fault(self) -> str | None:
        """"reject" or "timeout" for the next order request, if armed."""
        if self.reject_orders > 0:
            self.reject_orders -= 1
            return "reject"
        if self.timeout_orders > 0:
            self.timeout_orders -= 1
            return "timeout"
        return None

    def snapshot(self) -> dict[str, Any]:
        return {
            "delay_s": self.delay_s, "silent": self.silent, "errors": dict(self.errors),
            "malformed_frames": self.malformed_frames, "reject_orders": self.reject_orders,
            "timeout_orders": self.timeout_orders, "drop_generation": self.drop_generation,
        }


@attrs.define
class VenueAccounting:
    """Per-client counters of one venue."""

    venue: str
    clients: defaultdict = attrs.field(factory=lambda: defaultdict(ClientStats))

    def request(self, client: str, endpoint: str, weight: int = 0) -> ClientStats:
        stats = self.clients[client]
        stats.requests += 1
        stats.weight += weight
        stats.endpoints[endpoint] += 1
        return stats

    def connected(self, client: str) -> None:
        stats = self.clients[client]
        stats.connections += 1
        stats.max_connections = max(stats.max_connections, stats.connections)

    def disconnected(self, client: str) -> None:
        self.clients[client].connections -= 1

    def subscribed(self, client: str, count: int) -> None:
        stats = self.clients[client]
        stats.subscriptions += count
        stats.max_subscriptions = max(stats.max_subscriptions, stats.subscriptions)

    def total(self, field: str) -> int:
        return sum(getattr(stats, field) for stats in self.clients.values())

    def snapshot(self) -> dict[str, Any]:
        return {client: stats.as_dict() for client, stats in self.clients.items()}


@attrs.define
class VenueControl:
    """Faults and accounting of one venue, handed to its server."""

    faults: VenueFaults
    accounting: VenueAccounting

    @classmethod
    def new(cls, venue: str) -> "VenueControl":
        return cls(VenueFaults(venue), VenueAccounting(venue))
