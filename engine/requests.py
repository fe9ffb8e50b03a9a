"""Request/reply over the bus: the API asks an actor and awaits its answer, bounded in time."""

from __future__ import annotations

from typing import Any

import attrs
import trio


class NoReply(Exception):
    """No actor answered in time (not subscribed, busy, or crashed)."""


@attrs.frozen
class Ask:
    """A command with a one-shot reply channel. The actor calls ``answer`` exactly once."""

    payload: Any
    _reply: trio.MemorySendChannel

    def answer(self, result: Any) -> None:
        try:
            self._reply.send_nowait(result)
        except (trio.WouldBlock, trio.BrokenResourceError, trio.ClosedResourceError):
            pass  # the asker gave up (timeout) or already has an answer
        self._reply.close()


async def ask(bus: Any, topic: str, payload: Any, timeout_s: float) -> Any:
    """Publish an ``Ask`` on ``topic`` and wait for its answer; NoReply after ``timeout_s``."""
    if bus.subscription_count(topic) == 0:
        raise NoReply(f"nobody serves {topic!r}")
    send, receive = trio.open_memory_channel(1)
    with receive:
        with trio.move_on_after(timeout_s):
            await bus.publish(topic, Ask(payload, send))
            try:
                return await receive.receive()
            except trio.EndOfChannel:
                raise NoReply(f"{topic!r} closed without an answer") from None
    raise NoReply(f"no answer on {topic!r} within {timeout_s:g} s")
