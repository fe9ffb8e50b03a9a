"""What the OI surveillance keeps in memory for the read API: recent samples and recent alerts (pure).

Both mirror a capped Redis stream (``oi:samples:{symbol}``, ``oi:alerts``) in the stream's own
order: entries are kept as they were recorded (duplicates and late timestamps included, unlike
the alert rings), and answered newest first, so the API answers what reading the stream
answered, also while Redis is down. Memory stays bounded: a log holds at most ``capacity``
samples (the stream's cap), in numpy columns that grow with use (33 bytes a sample), and at
most ``max_symbols`` logs, the least recently sampled one giving way; the alerts are a deque
of at most ``capacity`` (symbol, JSON text) pairs.

A restart starts empty while the streams still hold the past: the AlertActor reads it back
and merges it in *before* what it recorded since (``merge_history``: the stream entries older
than the oldest one held, found by equality). Until then an answer says whether memory alone
is the whole answer (``Recalled.complete``), and the API may read the stream for the rest.
"""

from __future__ import annotations

import itertools
import json
import math
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, TypeVar

import attrs
import numpy as np

from actors.oi.payloads import SOURCES, Sample
from actors.oi.topics import Recalled

T = TypeVar("T")
INITIAL_ROWS = 64  # a log starts this small and doubles up to its capacity
MAX_SAMPLE_SYMBOLS = 1000  # logs kept at once: the liquid universe several times over
_SOURCE_CODE = {source: code for code, source in enumerate(SOURCES)}


def older_than_held(history_newest_first: Sequence[T], oldest_held: T | None) -> list[T]:
    """The entries of a stream read (newest first) recorded before ``oldest_held``, oldest first.

    The read is taken after the held entries were flushed, so the oldest held entry is in it
    unless it never reached Redis (then everything read is older). Of equal entries the newest
    is taken as the held one: the older copies are history.
    """
    if oldest_held is not None:
        for index, entry in enumerate(history_newest_first):
            if entry == oldest_held:
                return list(reversed(history_newest_first[index + 1:]))
    return list(reversed(history_newest_first))


def _check_capacity(capacity: int) -> int:
    if isinstance(capacity, bool) or not isinstance(capacity, int) or capacity < 1:
        raise ValueError(f"capacity must be an integer >= 1, got {capacity!r}")
    return capacity


class SampleLog:
    """One symbol's samples in recording order, at most ``capacity`` (the oldest give way)."""

    def __init__(self, symbol: str, capacity: int) -> None:
        self.symbol = symbol
        self.capacity = _check_capacity(capacity)
        self.loaded = False  # the stream's older entries are merged in (or there were none)
        self._head = 0  # index of the oldest sample
        self._count = 0
        self._allocate(min(capacity, INITIAL_ROWS))

    def _allocate(self, size: int) -> None:
        self._ts_ms = np.zeros(size, dtype=np.int64)
        self._oi = np.zeros(size, dtype=np.float64)
        self._mark = np.full(size, np.nan, dtype=np.float64)  # NaN: None (valid samples are finite)
        self._usd = np.full(size, np.nan, dtype=np.float64)
        self._source = np.zeros(size, dtype=np.int8)

    def _columns(self) -> tuple[np.ndarray, ...]:
        return self._ts_ms, self._oi, self._mark, self._usd, self._source

    def __len__(self) -> int:
        return self._count

    @property
    def complete(self) -> bool:
        """Memory holds what the stream holds: merged with it, or as many as it keeps."""
        return self.loaded or self._count >= self.capacity

    def _ordered(self) -> np.ndarray:
        """Indices of the held samples, oldest first."""
        return (self._head + np.arange(self._count)) % len(self._ts_ms)

    def _rebuild(self, size: int, before: Sequence[Sample] = ()) -> None:
        """Re-lay the columns oldest first in ``size`` rows, with ``before`` ahead of what is held."""
        order = self._ordered()
        held = [column[order] for column in self._columns()]
        self._allocate(size)
        n = len(before)
        for i, sample in enumerate(before):
            self._write(i, sample)
        for column, values in zip(self._columns(), held):
            column[n:n + len(values)] = values
        self._head, self._count = 0, n + len(order)

    def _write(self, i: int, sample: Sample) -> None:
        self._ts_ms[i], self._oi[i] = sample.ts_ms, sample.open_interest
        self._mark[i] = math.nan if sample.mark_price is None else sample.mark_price
        self._usd[i] = math.nan if sample.oi_usd is None else sample.oi_usd
        self._source[i] = _SOURCE_CODE[sample.source]

    def append(self, sample: Sample) -> None:
        """The newest sample, in O(1) (amortised over the doublings)."""
        size = len(self._ts_ms)
        if self._count == size < self.capacity:
            self._rebuild(min(self.capacity, 2 * size))
            size = len(self._ts_ms)
        if self._count < size:
            i = (self._head + self._count) % size
            self._count += 1
        else:
            i = self._head
            self._head = (self._head + 1) % size
        self._write(i, sample)

    def _samples(self, indices: np.ndarray) -> list[Sample]:
        sources = [SOURCES[code] for code in self._source[indices].tolist()]
        return [Sample(self.symbol, oi, ts_ms, None if math.isnan(mark) else mark, None if math.isnan(usd) else usd,
                       source)  # type: ignore[arg-type]
                for ts_ms, oi, mark, usd, source in zip(
                    self._ts_ms[indices].tolist(), self._oi[indices].tolist(), self._mark[indices].tolist(),
                    self._usd[indices].tolist(), sources)]

    def newest(self, limit: int) -> list[Sample]:
        """Up to ``limit`` samples, newest first."""
        n = max(0, min(limit, self._count))
        return self._samples((self._head + self._count - 1 - np.arange(n)) % len(self._ts_ms))

    def oldest(self) -> Sample | None:
        return self._samples(np.array([self._head]))[0] if self._count else None

    def merge_history(self, history_newest_first: Sequence[Sample], whole: bool) -> int:
        """Put the stream's entries older than what is held before it; how many were kept.

        ``whole``: the read returned everything the stream had, so memory is then all of it.
        """
        older = older_than_held(history_newest_first, self.oldest())
        room = self.capacity - self._count
        kept = older[len(older) - room:] if room < len(older) else older
        if kept:
            self._rebuild(min(self.capacity, max(len(self._ts_ms), self._count + len(kept))), kept)
        self.loaded = self.loaded or whole
        return len(kept)


@attrs.define(eq=False)
class SampleLogs:
    """A ``SampleLog`` per symbol, at most ``max_symbols``. A new log awaits one read of its stream's
    history (``unloaded``, ``merge_history``); answers beyond what it holds then come from the stream."""

    capacity: int = attrs.field(converter=_check_capacity)
    max_symbols: int = MAX_SAMPLE_SYMBOLS
    evicted: int = 0
    _logs: dict[str, SampleLog] = attrs.field(init=False, factory=dict)  # least recently sampled first
    _unloaded: dict[str, None] = attrs.field(init=False, factory=dict)  # an ordered set

    def __len__(self) -> int:
        return len(self._logs)

    def get(self, symbol: str) -> SampleLog | None:
        return self._logs.get(symbol)

    def add(self, samples: Iterable[Sample]) -> None:
        for sample in samples:
            log = self._logs.pop(sample.symbol, None)
            if log is None:
                if len(self._logs) >= self.max_symbols:
                    gone = next(iter(self._logs))
                    del self._logs[gone]
                    self._unloaded.pop(gone, None)
                    self.evicted += 1
                log = SampleLog(sample.symbol, self.capacity)
                self._unloaded[sample.symbol] = None
            self._logs[sample.symbol] = log
            log.append(sample)

    def recall(self, symbol: str, limit: int) -> Recalled:
        """The newest ``limit`` samples held; complete when memory alone answers the stream's read."""
        log = self._logs.get(symbol)
        if log is None:
            return Recalled((), False)
        return Recalled(tuple(log.newest(limit)), log.complete or len(log) >= limit)

    def unloaded(self, count: int) -> list[str]:
        """Up to ``count`` symbols whose log awaits its history, oldest log first."""
        return list(itertools.islice(self._unloaded, count))

    def merge_history(self, symbol: str, history_newest_first: Sequence[Sample], whole: bool) -> int | None:
        """``SampleLog.merge_history`` of the symbol's log, once; None when it is gone (evicted meanwhile)."""
        self._unloaded.pop(symbol, None)
        log = self._logs.get(symbol)
        if log is None:
            return None
        return log.merge_history(history_newest_first, whole)


def alert_entry(fields: Mapping[str, Any]) -> tuple[str | None, str] | None:
    """An ``oi:alerts`` entry as held: (symbol a filter matches, payload text), None when it holds no
    alert document. The symbol is None when the entry's field and its document disagree: reading the
    stream never matched such an entry to a symbol filter either."""
    text = fields.get("payload")
    if not isinstance(text, str):
        return None
    try:
        doc = json.loads(text)
    except (ValueError, TypeError):
        return None
    if not isinstance(doc, dict):
        return None
    symbol = fields.get("symbol")
    return (symbol if isinstance(symbol, str) and doc.get("symbol") == symbol else None), text


@attrs.define(eq=False)
class RecentAlerts:
    """The newest ``capacity`` alerts as (symbol, JSON text), oldest first; ``loaded`` once merged with the stream."""

    capacity: int = attrs.field(converter=_check_capacity)
    loaded: bool = False
    _items: deque[tuple[str | None, str]] = attrs.field(init=False)

    def __attrs_post_init__(self) -> None:
        self._items = deque(maxlen=self.capacity)

    def __len__(self) -> int:
        return len(self._items)

    def add(self, symbol: str | None, text: str) -> None:
        self._items.append((symbol, text))

    def recall(self, symbol: str | None, limit: int, scan: int) -> Recalled:
        """Texts of up to ``limit`` alerts (of ``symbol`` if given) among the newest ``scan``, newest first:
        the stream read the API did. Complete when memory holds the whole window read."""
        found: list[str] = []
        for seen, (held_symbol, text) in enumerate(reversed(self._items)):
            if seen >= scan or len(found) >= limit:
                break
            if symbol is None or held_symbol == symbol:
                found.append(text)
        complete = self.loaded or len(self._items) >= min(scan, self.capacity)
        return Recalled(tuple(found), complete)

    def merge_history(self, history_newest_first: Sequence[tuple[str | None, str]]) -> int:
        """Put the stream's entries older than what is held before it (as many as fit); how many were kept."""
        older = older_than_held(history_newest_first, self._items[0] if self._items else None)
        room = self.capacity - len(self._items)
        kept = older[len(older) - room:] if room < len(older) else older
        self._items.extendleft(reversed(kept))
        self.loaded = True
        return len(kept)
