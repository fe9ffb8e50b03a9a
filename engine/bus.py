"""Topic-based publish/subscribe over trio memory channels; every subscription is bounded.

Each subscription declares what happens when its consumer falls behind:

- ``BLOCK``: backpressure, the publisher waits (commands, orders: nothing may be lost).
- ``CONFLATE``: keep only the latest value per key (market data: never stale, never
  unbounded). Pending keys are a bounded channel; their values live in a dict, so a
  newer value for a pending key replaces the older one in place (counted ``conflated``)
  and keeps the key's place in the queue. When more than ``maxlen`` distinct keys are
  pending, the oldest pending key is dropped (counted ``dropped``).
- ``DROP_OLDEST``: when full, the oldest queued message is dropped (counted ``dropped``).

Delivery tries ``send_nowait`` first and awaits ``send`` only when a ``BLOCK`` subscription
is full; receiving tries ``receive_nowait`` first. A plain ``await send()`` per message is
a scheduling point and costs ~14x (DESIGN.md, Stack notes). To stay fair to other tasks
anyway, ``publish`` and ``receive`` checkpoint once every ``CHECKPOINT_EVERY`` calls that
took the fast path (before touching a message, so a cancellation there loses nothing):
a tight producer or consumer loop cannot starve the rest of the engine.

One consumer task per subscription: the subscription is the consumer's own queue.
"""

from __future__ import annotations

import enum
from typing import Any, Callable, Hashable

import trio

from engine.metrics import EngineMetrics

# Topic -> matching subscriptions is cached; the cache is cleared when it grows past this
# many topics so that publishing to ever-new topic names cannot grow memory without bound.
_ROUTE_CACHE_MAX_TOPICS = 10_000
# Fast-path calls of publish/receive between two forced scheduling points.
CHECKPOINT_EVERY = 64


class Overflow(enum.Enum):
    """What a full subscription does with one more message."""

    BLOCK = "block"
    CONFLATE = "conflate"
    DROP_OLDEST = "drop_oldest"


def _validate_topic(topic: str) -> str:
    """A topic is an exact string; a trailing ``.*`` is the only wildcard (a prefix match)."""
    if not topic:
        raise ValueError("topic must not be empty")
    if "*" in topic[:-2] or (topic.endswith("*") and not topic.endswith(".*")):
        raise ValueError(f"topic {topic!r}: '*' is only allowed as a trailing '.*'")
    return topic


def topic_matches(pattern: str, topic: str) -> bool:
    """``ticks.*`` matches ``ticks.NIFTY`` and ``ticks.a.b``, not ``ticks``; others match exactly."""
    if pattern.endswith(".*"):
        return topic.startswith(pattern[:-1])
    return pattern == topic


class Subscription:
    """A bounded queue of messages for one consumer; obtain it from ``Bus.subscribe``.

    ``dropped`` counts messages this consumer will never see (overflow, or a full ``BLOCK``
    subscription skipped by ``publish_nowait``); ``conflated`` counts values replaced by a
    newer value for the same key. The metrics ``bus_dropped{topic,policy}`` and
    ``bus_conflated{topic}`` carry the subscription's topic (``ticks.*``), not the
    published one; ``bus_published{topic}`` carries the published topic.
    """

    __slots__ = (
        "topic", "maxlen", "overflow", "key", "dropped", "conflated", "_bus", "_closed",
        "_send", "_receive", "_drop_receive", "_latest", "offer_nowait", "_dropped_metric",
        "_conflated_metric", "_fast_receives",
    )

    def __init__(self, bus: "Bus", topic: str, maxlen: int, overflow: Overflow,
                 key: Callable[[Any], Hashable] | None, metrics: EngineMetrics | None) -> None:
        self.topic = topic
        self.maxlen = maxlen
        self.overflow = overflow
        self.key = key
        self.dropped = 0
        self.conflated = 0
        self._bus = bus
        self._closed = False
        # For CONFLATE the channel carries pending keys and ``_latest`` their values.
        self._send, self._receive = trio.open_memory_channel[Any](maxlen)
        # The bus's own receive end: lets the publisher evict the oldest entry when full.
        self._drop_receive = self._receive.clone()
        self._latest: dict[Hashable, Any] = {}
        self._fast_receives = 0
        self._dropped_metric = metrics.bus_dropped.labels(topic=topic, policy=overflow.value) if metrics else None
        self._conflated_metric = metrics.bus_conflated.labels(topic=topic) if metrics else None
        self.offer_nowait: Callable[[Any], bool] = {
            Overflow.BLOCK: self._offer_block,
            Overflow.CONFLATE: self._offer_conflate,
            Overflow.DROP_OLDEST: self._offer_drop_oldest,
        }[overflow]

    # ---- publisher side (called by the bus) -------------------------------------------

    def _count_drop(self) -> None:
        self.dropped += 1
        if self._dropped_metric is not None:
            self._dropped_metric.inc()

    def _offer_block(self, msg: Any) -> bool:
        """Queue ``msg`` if there is room; False means the publisher must wait (or skip)."""
        try:
            self._send.send_nowait(msg)
        except trio.WouldBlock:
            return False
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # closed while a publisher held an old route: nobody to deliver to
        return True

    def _offer_drop_oldest(self, msg: Any) -> bool:
        try:
            self._send.send_nowait(msg)
        except trio.WouldBlock:
            # Full means the buffer holds maxlen messages and no receiver waits, so the
            # oldest one is there to evict; nothing else runs between these two calls.
            self._drop_receive.receive_nowait()
            self._count_drop()
            self._send.send_nowait(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass
        return True

    def _offer_conflate(self, msg: Any) -> bool:
        key = self.key(msg)  # type: ignore[misc]  # required for CONFLATE at subscribe
        latest = self._latest
        if key in latest:
            latest[key] = msg  # pending (or handed to the consumer, not yet read): replace
            self.conflated += 1
            if self._conflated_metric is not None:
                self._conflated_metric.inc()
            return True
        if self._closed:
            return True
        latest[key] = msg
        try:
            self._send.send_nowait(key)
        except trio.WouldBlock:
            oldest = self._drop_receive.receive_nowait()
            del latest[oldest]
            self._count_drop()
            self._send.send_nowait(key)
        return True

    async def send_blocking(self, msg: Any) -> None:
        """Slow path of a full ``BLOCK`` subscription: wait for room (backpressure)."""
        try:
            await self._send.send(msg)
        except (trio.ClosedResourceError, trio.BrokenResourceError):
            pass  # the consumer unsubscribed while we waited

    def skip(self) -> None:
        """``publish_nowait`` found this ``BLOCK`` subscription full: the message is lost to it."""
        self._count_drop()

    # ---- consumer side -------------------------------------------------------------------

    def _unwrap(self, item: Any) -> Any:
        return self._latest.pop(item) if self.overflow is Overflow.CONFLATE else item

    async def receive(self) -> Any:
        """Next message; raises ``trio.EndOfChannel`` once closed and drained.

        Does not checkpoint while messages are queued, except once every
        ``CHECKPOINT_EVERY`` calls.
        """
        if self._fast_receives >= CHECKPOINT_EVERY:
            self._fast_receives = 0
            await trio.lowlevel.checkpoint()
        try:
            item = self._receive.receive_nowait()
        except trio.WouldBlock:
            self._fast_receives = 0
            item = await self._receive.receive()
        else:
            self._fast_receives += 1
        return self._unwrap(item)

    def receive_nowait(self) -> Any:
        """Next message or ``trio.WouldBlock``; ``trio.EndOfChannel`` once closed and drained."""
        return self._unwrap(self._receive.receive_nowait())

    def __aiter__(self) -> "Subscription":
        return self

    async def __anext__(self) -> Any:
        try:
            return await self.receive()
        except trio.EndOfChannel:
            raise StopAsyncIteration from None

    def pending(self) -> int:
        """Messages (for CONFLATE: keys) queued now; never more than ``maxlen``."""
        return self._send.statistics().current_buffer_used

    def statistics(self) -> Any:
        """The underlying memory channel's statistics (buffer size and use, waiting tasks)."""
        return self._send.statistics()

    def close(self) -> None:
        """Unsubscribe. Messages already queued can still be received; then iteration ends."""
        if self._closed:
            return
        self._closed = True
        self._bus._unsubscribe(self)
        self._send.close()  # wakes a publisher blocked on this subscription
        self._drop_receive.close()

    def __enter__(self) -> "Subscription":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return (f"Subscription(topic={self.topic!r}, overflow={self.overflow.value}, maxlen={self.maxlen}, "
                f"pending={self.pending()}, dropped={self.dropped}, conflated={self.conflated})")


class Bus:
    """Routes each published message to every subscription whose topic matches."""

    def __init__(self, metrics: EngineMetrics | None = None) -> None:
        self._metrics = metrics
        self._subscriptions: list[Subscription] = []
        # topic -> (matching subscriptions, that topic's published counter or None)
        self._routes: dict[str, tuple[tuple[Subscription, ...], Any]] = {}
        self._fast_publishes = 0

    def subscribe(self, topic: str, *, maxlen: int, overflow: Overflow,
                  key: Callable[[Any], Hashable] | None = None) -> Subscription:
        """A new bounded subscription; close it (or use it as a ``with`` block) to unsubscribe."""
        _validate_topic(topic)
        if not isinstance(overflow, Overflow):
            raise TypeError(f"overflow must be an Overflow, got {overflow!r}")
        if isinstance(maxlen, bool) or not isinstance(maxlen, int) or maxlen < 1:
            raise ValueError(f"maxlen must be an int >= 1 (no unbounded queues), got {maxlen!r}")
        if overflow is Overflow.CONFLATE and key is None:
            raise ValueError("overflow=CONFLATE needs key=, the function that names a message's key")
        if overflow is not Overflow.CONFLATE and key is not None:
            raise ValueError(f"key= only applies to overflow=CONFLATE, not {overflow.value}")
        sub = Subscription(self, topic, maxlen, overflow, key, self._metrics)
        self._subscriptions.append(sub)
        self._routes.clear()
        return sub

    def _unsubscribe(self, sub: Subscription) -> None:
        self._subscriptions.remove(sub)
        self._routes.clear()

    def subscription_count(self, topic: str | None = None) -> int:
        """Live subscriptions (matching ``topic`` when given)."""
        if topic is None:
            return len(self._subscriptions)
        return len(self._route(topic)[0])

    def _route(self, topic: str) -> tuple[tuple[Subscription, ...], Any]:
        route = self._routes.get(topic)
        if route is None:
            subs = tuple(s for s in self._subscriptions if topic_matches(s.topic, topic))
            counter = self._metrics.bus_published.labels(topic=topic) if subs and self._metrics else None
            if len(self._routes) >= _ROUTE_CACHE_MAX_TOPICS:
                self._routes.clear()
            route = self._routes[topic] = (subs, counter)
        return route

    async def publish(self, topic: str, msg: Any) -> None:
        """Deliver to every matching subscription; waits only while a ``BLOCK`` one is full.

        A topic with no subscribers is a dictionary lookup and nothing else. Checkpoints
        once every ``CHECKPOINT_EVERY`` calls, before delivering anything.
        """
        subs, counter = self._route(topic)
        if not subs:
            return
        self._fast_publishes += 1
        if self._fast_publishes >= CHECKPOINT_EVERY:
            self._fast_publishes = 0
            await trio.lowlevel.checkpoint()
        if counter is not None:
            counter.inc()
        for sub in subs:
            if not sub.offer_nowait(msg):
                await sub.send_blocking(msg)

    def publish_nowait(self, topic: str, msg: Any) -> bool:
        """Deliver without waiting, for sync code; False if some ``BLOCK`` subscription was full.

        A full ``BLOCK`` subscription does not get this message (it is counted in its
        ``dropped``); every other matching subscription does.
        """
        subs, counter = self._route(topic)
        if not subs:
            return True
        if counter is not None:
            counter.inc()
        delivered = True
        for sub in subs:
            if not sub.offer_nowait(msg):
                sub.skip()
                delivered = False
        return delivered
