"""Merging live ticks and REST refreshes into a chain without ever changing its strikes.

Trade-off (the tick path): a ``Chain`` is an immutable value that pages, Redis and other
actors can share safely, but rebuilding ~200 frozen legs per tick would cost far more than
decoding the tick. So the chain actor keeps one mutable ``LiveChain``: a tick is a dict
lookup plus a few list stores (``apply``), and a fresh immutable ``Chain`` is made only when
publishing (``snapshot``), rebuilding just the legs touched since the last snapshot. The
mutable object never leaves the actor; everything shared stays a frozen value.

Ticks move only ``ltp``, ``bid``, ``ask`` and ``volume``; strikes, greeks, IV and OI come only
from REST refreshes (``apply_rest_refresh``), which update legs already in the window and
never add or remove a strike. Within a batch the later update of a security wins (feed order).
"""

from __future__ import annotations

from typing import Iterable, Mapping

import attrs

from actors.optionchain.chain import Chain, Leg, StrikeRow, document_text, leg_of, row_text
from actors.optionchain.inputs import ChainRow, TickUpdate
from actors.optionchain.windows import atm_strike

CE, PE = 0, 1
_INF = float("inf")


@attrs.frozen(eq=False)
class LegIndex:
    """security id -> (row index, side): built once per skeleton; valid for every chain merged from it."""

    slots: Mapping[int, tuple[int, int]]

    @classmethod
    def of(cls, chain: Chain) -> "LegIndex":
        slots: dict[int, tuple[int, int]] = {}
        for i, row in enumerate(chain.rows):
            for side, leg in ((CE, row.ce), (PE, row.pe)):
                if leg is None:
                    continue
                if leg.security_id in slots:
                    raise ValueError(f"security id {leg.security_id} appears twice in the {chain.underlying} chain")
                slots[leg.security_id] = (i, side)
        return cls(slots)

    def get(self, security_id: int) -> tuple[int, int] | None:
        return self.slots.get(security_id)

    def __len__(self) -> int:
        return len(self.slots)


class LiveChain:
    """The actor's mutable working copy of one chain: cheap ``apply`` per tick, ``snapshot`` to publish."""

    __slots__ = ("index", "ticks_merged", "_base", "_rows", "_slot", "_ltp", "_bid", "_ask", "_volume",
                 "_updated_ms", "_dirty", "_last_ms", "_cached", "_row_texts")

    def __init__(self, chain: Chain, index: LegIndex | None = None) -> None:
        self.ticks_merged = 0
        self.reset(chain, index)

    def reset(self, chain: Chain, index: LegIndex | None = None) -> None:
        """Start over from ``chain`` (after a REST refresh or a rebuild); reuse ``index`` if it is the chain's."""
        self.index = index if index is not None else LegIndex.of(chain)
        self._base = chain
        self._rows = list(chain.rows)
        self._slot = {sid: row * 2 + side for sid, (row, side) in self.index.slots.items()}
        legs = [leg for row in chain.rows for leg in (row.ce, row.pe)]
        self._ltp = [leg.ltp if leg else 0.0 for leg in legs]
        self._bid = [leg.bid if leg else 0.0 for leg in legs]
        self._ask = [leg.ask if leg else 0.0 for leg in legs]
        self._volume = [leg.volume if leg else 0 for leg in legs]
        self._updated_ms = [leg.updated_ms if leg else 0 for leg in legs]
        self._dirty: set[int] = set()
        self._last_ms = chain.updated_ms
        self._cached: Chain | None = chain
        self._row_texts: list[str | None] = [None] * len(chain.rows)

    def apply(self, update: TickUpdate) -> bool:
        """Merge one tick; False (and nothing changes) for a security not in this chain."""
        slot = self._slot.get(update.security_id)
        if slot is None:
            return False
        ltp, bid, ask, volume = update.ltp, update.bid, update.ask, update.volume
        if ltp is not None and -_INF < ltp < _INF:  # drops NaN and infinities (float32 can carry both)
            self._ltp[slot] = float(ltp)
        if bid is not None and -_INF < bid < _INF:
            self._bid[slot] = float(bid)
        if ask is not None and -_INF < ask < _INF:
            self._ask[slot] = float(ask)
        if volume is not None:
            self._volume[slot] = int(volume)
        if update.ts_ms > self._updated_ms[slot]:
            self._updated_ms[slot] = update.ts_ms
        if update.ts_ms > self._last_ms:
            self._last_ms = update.ts_ms
        self._dirty.add(slot)
        self._cached = None
        self.ticks_merged += 1
        return True

    def set_underlying_ltp(self, ltp: float, ts_ms: int) -> None:
        """The underlying's tick: new LTP and ATM (same strikes); ValueError for LTP <= 0, nothing changed."""
        self._base = recenter_atm(self._base, ltp, max(ts_ms, self._base.updated_ms))
        self._last_ms = max(self._last_ms, ts_ms)
        self._cached = None

    def snapshot(self, now_ms: int | None = None) -> Chain:
        """An immutable chain of the current state; only legs touched since the last snapshot are rebuilt."""
        if self._cached is not None and now_ms is None:
            return self._cached
        for row_i in sorted({slot >> 1 for slot in self._dirty}):
            row = self._rows[row_i]
            self._rows[row_i] = StrikeRow(row.strike, self._leg(row.ce, row_i * 2), self._leg(row.pe, row_i * 2 + 1))
            self._row_texts[row_i] = None
        self._dirty.clear()
        updated_ms = self._last_ms if now_ms is None else max(now_ms, self._last_ms)
        self._base = attrs.evolve(self._base, rows=tuple(self._rows), updated_ms=updated_ms)
        self._cached = self._base
        return self._base

    def text(self, now_ms: int | None = None) -> tuple[Chain, str]:
        """``snapshot`` and its document text, re-encoding only the rows touched since the last call."""
        chain = self.snapshot(now_ms)
        texts = self._row_texts
        for i, cached in enumerate(texts):
            if cached is None:
                texts[i] = row_text(self._rows[i])
        return chain, document_text(chain, texts)  # type: ignore[arg-type]

    def _leg(self, leg: Leg | None, slot: int) -> Leg | None:
        if leg is None or slot not in self._dirty:
            return leg
        return Leg(leg.security_id, self._ltp[slot], self._bid[slot], self._ask[slot], leg.bid_qty, leg.ask_qty,
                   leg.oi, leg.previous_oi, self._volume[slot], leg.iv_pct, leg.delta, leg.gamma, leg.theta,
                   leg.vega, self._updated_ms[slot])  # positional: ~5x cheaper than attrs.evolve


def merge_ticks(chain: Chain, updates: Iterable[TickUpdate], now_ms: int,
                index: LegIndex | None = None) -> tuple[Chain, int]:
    """The chain with ``updates`` merged, and how many matched a leg (unknown ids are ignored).

    Pass the skeleton's ``LegIndex`` to skip rebuilding it: merging never moves a security id.
    With nothing merged the same chain comes back unchanged.
    """
    live = LiveChain(chain, index)
    merged = sum(1 for update in updates if live.apply(update))
    return (live.snapshot(now_ms), merged) if merged else (chain, 0)


def recenter_atm(chain: Chain, ltp: float, now_ms: int | None = None) -> Chain:
    """New underlying LTP and ATM (from the chain's own interval); the strikes stay as they are.

    ValueError for an LTP <= 0 or non-finite: the caller keeps the old ATM and reports it.
    """
    atm = atm_strike(ltp, chain.strike_interval)
    changes: dict = {"underlying_ltp": float(ltp), "atm_strike": atm}
    if now_ms is not None:
        changes["updated_ms"] = max(now_ms, chain.updated_ms)
    return attrs.evolve(chain, **changes)


def _refreshed(leg: Leg | None, quote, now_ms: int, keep_ticks_since_ms: int | None) -> tuple[Leg | None, bool]:
    if leg is None or quote is None or int(quote.security_id) != leg.security_id:
        return leg, False  # a side the window lacks is not added; a changed id is not ours
    fresh = leg_of(quote, now_ms)
    if keep_ticks_since_ms is not None and leg.updated_ms >= keep_ticks_since_ms:
        fresh = attrs.evolve(fresh, ltp=leg.ltp, bid=leg.bid, ask=leg.ask, bid_qty=leg.bid_qty,
                             ask_qty=leg.ask_qty, volume=leg.volume, updated_ms=leg.updated_ms)
    return fresh, True


def apply_rest_refresh(chain: Chain, snapshot_rows: Iterable[ChainRow], now_ms: int,
                       keep_ticks_since_ms: int | None = None) -> Chain:
    """Greeks, IV, OI (and LTP/bid/ask/volume) from a REST snapshot for the strikes already in the window.

    Never adds or removes a strike or a leg; a leg whose security id changed is left alone.
    ``keep_ticks_since_ms``: legs ticked at or after this time (the request's send time) keep
    their tick prices, which are newer than the snapshot's. A refresh that matched at least
    one leg clears ``stale``.
    """
    by_strike = {float(r.strike): r for r in snapshot_rows}
    rows, matched = [], 0
    for row in chain.rows:
        src = by_strike.get(row.strike)
        if src is None:
            rows.append(row)
            continue
        ce, ok_ce = _refreshed(row.ce, src.ce, now_ms, keep_ticks_since_ms)
        pe, ok_pe = _refreshed(row.pe, src.pe, now_ms, keep_ticks_since_ms)
        matched += ok_ce + ok_pe
        rows.append(StrikeRow(row.strike, ce, pe) if ok_ce or ok_pe else row)
    if not matched:
        return chain
    return attrs.evolve(chain, rows=tuple(rows), updated_ms=max(now_ms, chain.updated_ms), stale=False)
