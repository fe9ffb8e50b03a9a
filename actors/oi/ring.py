"""A bounded, time-ordered ring of one symbol's open-interest samples.

Memory never grows: the capacity is fixed at construction (``for_window`` derives it from
the window to cover at the shortest poll interval) and the oldest sample is overwritten.

Order is an invariant, not a hope: timestamps strictly increase from oldest to newest, so
windows are found by binary search. A sample whose ``ts_ms`` is not newer than the latest
is *ignored* (``append`` returns False and ``rejected`` counts it): the venue may answer the
same ``time`` twice, and an ingested sample may arrive late; neither may reorder history,
and the first value seen for a timestamp wins. Older history (``openInterestHist``, 5 m) goes
in through ``extend_history``, which merges it *before* the current samples.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

import numpy as np

ALERT_WINDOW_S = 3 * 3600.0  # what the alerts look back over, with room to spare
MAX_CAPACITY = 1_000_000

HistoryRow = Sequence[float]  # (ts_ms, open_interest) or (ts_ms, open_interest, oi_usd or None/NaN)


def _check_sample(ts_ms: int, open_interest: float, oi_usd: float | None) -> float:
    if isinstance(ts_ms, bool) or not isinstance(ts_ms, (int, np.integer)):
        raise ValueError(f"ts_ms must be an integer, got {ts_ms!r}")
    if isinstance(open_interest, bool) or not isinstance(open_interest, (int, float, np.floating)) \
            or not math.isfinite(open_interest) or open_interest < 0:
        raise ValueError(f"open_interest must be a finite number >= 0, got {open_interest!r}")
    if oi_usd is None:
        return math.nan
    if isinstance(oi_usd, bool) or not isinstance(oi_usd, (int, float, np.floating)) \
            or not (math.isnan(oi_usd) or (math.isfinite(oi_usd) and oi_usd >= 0)):
        raise ValueError(f"oi_usd must be None, NaN or a finite number >= 0, got {oi_usd!r}")
    return float(oi_usd)


class OIRing:
    """Per-symbol samples (ts_ms int64, open_interest float64, oi_usd float64 or NaN), oldest first."""

    def __init__(self, capacity: int) -> None:
        if isinstance(capacity, bool) or not isinstance(capacity, int) or not 2 <= capacity <= MAX_CAPACITY:
            raise ValueError(f"capacity must be an integer in [2, {MAX_CAPACITY}], got {capacity!r}")
        self.capacity = capacity
        self.rejected = 0  # samples ignored for not being newer than the latest
        self._ts_ms = np.zeros(capacity, dtype=np.int64)
        self._oi = np.zeros(capacity, dtype=np.float64)
        self._oi_usd = np.full(capacity, np.nan, dtype=np.float64)
        self._head = 0  # index of the oldest sample
        self._count = 0

    @classmethod
    def for_window(cls, interval_s: float, window_s: float = ALERT_WINDOW_S, slack_fraction: float = 0.1) -> OIRing:
        """A ring holding ``window_s`` of samples taken every ``interval_s``, plus ``slack_fraction``.

        Size it with the *shortest* interval the poller may use (``min_s``): the interval
        stretches when the universe grows, and a longer interval only covers a longer window.
        3 h at 5 s with 10 % slack: 2377 samples, 57 KB.
        """
        if not (interval_s > 0 and window_s > 0 and slack_fraction >= 0) \
                or not all(math.isfinite(v) for v in (interval_s, window_s, slack_fraction)):
            raise ValueError(f"need interval_s > 0, window_s > 0, slack_fraction >= 0, got {interval_s!r}, "
                             f"{window_s!r}, {slack_fraction!r}")
        return cls(min(MAX_CAPACITY, max(2, math.ceil(window_s / interval_s * (1 + slack_fraction)) + 1)))

    def __len__(self) -> int:
        return self._count

    def _segments(self) -> list[slice]:
        """The stored samples as at most two index ranges, in time order."""
        end = self._head + self._count
        if end <= self.capacity:
            return [slice(self._head, end)]
        return [slice(self._head, self.capacity), slice(0, end - self.capacity)]

    def _ordered(self, values: np.ndarray) -> np.ndarray:
        return np.concatenate([values[part] for part in self._segments()])  # always a copy

    def latest_ts_ms(self) -> int | None:
        if not self._count:
            return None
        return int(self._ts_ms[(self._head + self._count - 1) % self.capacity])

    def oldest_ts_ms(self) -> int | None:
        return int(self._ts_ms[self._head]) if self._count else None

    def latest(self) -> tuple[int, float, float] | None:
        """(ts_ms, open_interest, oi_usd or NaN) of the newest sample, None when empty."""
        if not self._count:
            return None
        i = (self._head + self._count - 1) % self.capacity
        return int(self._ts_ms[i]), float(self._oi[i]), float(self._oi_usd[i])

    def append(self, ts_ms: int, open_interest: float, oi_usd: float | None = None) -> bool:
        """Add the newest sample in O(1), overwriting the oldest when full.

        False (and nothing stored) when ``ts_ms`` is not newer than the latest sample.
        ValueError for a non-integer ts or an open interest that is not finite and >= 0.
        """
        usd = _check_sample(ts_ms, open_interest, oi_usd)
        latest = self.latest_ts_ms()
        if latest is not None and ts_ms <= latest:
            self.rejected += 1
            return False
        if self._count < self.capacity:
            i = (self._head + self._count) % self.capacity
            self._count += 1
        else:
            i = self._head
            self._head = (self._head + 1) % self.capacity
        self._ts_ms[i], self._oi[i], self._oi_usd[i] = ts_ms, open_interest, usd
        return True

    def extend_history(self, rows: Iterable[HistoryRow]) -> int:
        """Merge older samples before the current ones; returns how many were kept.

        Rows at or after the oldest current sample overlap what the poller already has and
        are dropped (live samples win); the rest are sorted, a repeated timestamp keeps its
        first row, and when everything does not fit the oldest rows give way. O(capacity).
        """
        oldest = self.oldest_ts_ms()
        history: dict[int, tuple[float, float]] = {}
        for row in rows:
            if len(row) not in (2, 3):
                raise ValueError(f"a history row is (ts_ms, open_interest[, oi_usd]), got {row!r}")
            ts_ms, oi = row[0], row[1]
            usd = _check_sample(ts_ms, oi, row[2] if len(row) == 3 else None)
            if (oldest is None or ts_ms < oldest) and int(ts_ms) not in history:
                history[int(ts_ms)] = (float(oi), usd)
        if not history:
            return 0
        room = self.capacity - self._count
        kept = sorted(history.items())[-room:] if room else []
        if not kept:
            return 0
        ts_ms = np.concatenate([np.array([t for t, _ in kept], dtype=np.int64), self._ordered(self._ts_ms)])
        oi = np.concatenate([np.array([v[0] for _, v in kept]), self._ordered(self._oi)])
        usd = np.concatenate([np.array([v[1] for _, v in kept]), self._ordered(self._oi_usd)])
        n = len(ts_ms)
        self._ts_ms[:n], self._oi[:n], self._oi_usd[:n] = ts_ms, oi, usd
        self._head, self._count = 0, n
        return len(kept)

    def _range(self, from_ms: int, to_ms: int, values: np.ndarray) -> np.ndarray:
        parts = []
        for part in self._segments():
            ts = self._ts_ms[part]
            lo, hi = np.searchsorted(ts, from_ms, side="left"), np.searchsorted(ts, to_ms, side="right")
            parts.append(values[part][lo:hi])
        return np.concatenate(parts) if parts else np.empty(0, dtype=values.dtype)

    def window(self, from_ms: int, to_ms: int) -> np.ndarray:
        """Open interest of the samples with from_ms <= ts_ms <= to_ms, oldest first (a copy)."""
        return self._range(from_ms, to_ms, self._oi)

    def window_ts_ms(self, from_ms: int, to_ms: int) -> np.ndarray:
        """The timestamps matching :meth:`window`."""
        return self._range(from_ms, to_ms, self._ts_ms)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(ts_ms, open_interest, oi_usd), oldest first, copies (for charts and tests)."""
        return self._ordered(self._ts_ms), self._ordered(self._oi), self._ordered(self._oi_usd)
