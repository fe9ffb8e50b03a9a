"""Stream entries a restarted, empty server lost: a bounded tail of each stream, to append again.

The mirror rewrites every string, hash and set after a reset, but a stream is a log, not a
latest value: what the old server held (alerts raised before an outage, recent samples) is
gone from the new one. So the writer keeps, per stream, the newest entries it got onto the
server, with the ids the server gave them, and after a reset appends them again, with those
same ids, before anything newer. Readers then see the same entries under the same ids, and
entries queued during the outage follow with newer ids.

Memory is bounded twice: a stream keeps at most its own ``MAXLEN`` (what the server would
keep anyway; ``default_maxlen`` for a stream written without one), and all streams together
at most ``max_entries``. Over that, the longest tails are cut first (to a common length),
so a quiet stream such as the alerts keeps its entries while chatty ones give some up.

No I/O here: the buffer records completed appends and asks for the replay commands.
"""

from __future__ import annotations

import collections
from typing import Any, Iterable

import attrs

from engine.store_ops import Command

SHRINK_TO_FRACTION = 0.9  # cut to this share of the bound, so a cut is not paid on every append


def entry_maxlen(command: Command) -> tuple[int | None, int]:
    """(MAXLEN of an ``XADD`` command or None, index of its id argument)."""
    if len(command) > 4 and command[2] == "MAXLEN":
        return int(command[4]), 5
    return None, 2


def replay_command(command: Command, entry_id: str) -> Command:
    """The ``XADD`` that appends the same fields again under ``entry_id``."""
    _, id_at = entry_maxlen(command)
    return (*command[:id_at], entry_id, *command[id_at + 1:])


def water_level(sizes: Iterable[int], budget: int) -> int:
    """The largest length L such that cutting every size above L down to L fits ``budget``."""
    ordered = sorted(sizes)
    remaining, count = budget, len(ordered)
    for i, size in enumerate(ordered):
        share = remaining // (count - i)
        if size > share:
            return share
        remaining -= size
    return ordered[-1] if ordered else 0


@attrs.define(eq=False)
class StreamTails:
    """Per stream, the newest appends the server confirmed, as ready-to-send ``XADD`` commands."""

    max_entries: int = 50_000
    default_maxlen: int = 10_000
    evicted: int = 0  # entries cut by the ``max_entries`` bound (never by a stream's own MAXLEN)
    _tails: dict[str, collections.deque[Command]] = attrs.field(factory=dict)
    _count: int = 0

    def __len__(self) -> int:
        return self._count

    def record(self, command: Command, entry_id: Any) -> None:
        """An ``XADD`` the server answered with ``entry_id``."""
        if isinstance(entry_id, bytes):
            entry_id = entry_id.decode()
        if not isinstance(entry_id, str) or not entry_id:
            return
        stream = command[1]
        maxlen, _ = entry_maxlen(command)
        cap = self.default_maxlen if maxlen is None else maxlen
        tail = self._tails.get(stream)
        if tail is None or tail.maxlen != cap:
            kept = list(tail or ())[-cap:] if cap else []
            self._count -= len(tail or ()) - len(kept)
            tail = self._tails[stream] = collections.deque(kept, maxlen=cap)
        if cap == 0:
            return
        if len(tail) < cap:
            self._count += 1
        tail.append(replay_command(command, entry_id))
        if self._count > self.max_entries:
            self._shrink()

    def forget(self, stream: str) -> None:
        """The stream was deleted: nothing of it is to come back."""
        tail = self._tails.pop(stream, None)
        if tail is not None:
            self._count -= len(tail)

    def replay_commands(self) -> list[Command]:
        """Every kept entry, each stream oldest first (ids must grow within a stream)."""
        return [command for stream in sorted(self._tails) for command in self._tails[stream]]

    def _shrink(self) -> None:
        level = water_level((len(t) for t in self._tails.values()), int(self.max_entries * SHRINK_TO_FRACTION))
        for stream, tail in list(self._tails.items()):
            while len(tail) > level:
                tail.popleft()
                self._count -= 1
                self.evicted += 1
            if not tail:
                del self._tails[stream]
