"""The chain actor's working set: every live chain and the routes from feed tokens to them.

One object owns the hot path so a frame of ticks costs one dict lookup per packet: option
legs route to the one chain that holds them, an underlying's tick moves the LTP and ATM of
every chain of that underlying. Chains that changed are collected for the cache writer,
which snapshots them at most once per write interval (never per tick).

Tokens are (exchange segment, security id): Dhan ids are unique only within a segment
(IDX_I 13 is NIFTY, NSE_EQ 13 is a stock), so a tick without its segment is not routed.
"""

from __future__ import annotations

from typing import Iterable, Sequence

import attrs

from actors.optionchain.chain import Chain, security_ids
from actors.optionchain.inputs import ChainRow, TickUpdate
from actors.optionchain.merge import LiveChain, apply_rest_refresh

ChainKey = tuple[str, str]  # (underlying, expiry YYYY-MM-DD)
Token = tuple[str, int]  # (exchange segment, security id)


@attrs.frozen
class AtmState:
    """What the ATM registry holds for one underlying (``optionchain:atm:{U}``)."""

    underlying: str
    atm: float
    ltp: float
    interval: float
    ts_ms: int

    def to_json(self) -> dict[str, float | int]:
        return {"atm": self.atm, "ltp": self.ltp, "interval": self.interval, "ts": self.ts_ms}


@attrs.define(eq=False)
class _Entry:
    key: ChainKey
    live: LiveChain
    leg_segment: str
    pending_since_ms: int | None = None  # receive time of the oldest tick not yet written


class ChainBook:
    """Live chains by (underlying, expiry), token routes, and what changed since the last write."""

    def __init__(self) -> None:
        self._entries: dict[ChainKey, _Entry] = {}
        self._legs: dict[Token, _Entry] = {}
        self._underlying_token: dict[str, Token] = {}
        self._chains_of: dict[Token, list[_Entry]] = {}
        self._changed: dict[ChainKey, _Entry] = {}
        self._atm_changed: set[str] = set()
        self._watched: dict[Token, str] = {}
        self.underlying_ltp: dict[Token, tuple[float, int]] = {}  # latest good feed LTP, ts_ms
        self.ticks_merged = 0
        self.ticks_unrouted = 0
        self.bad_underlying_ticks = 0  # LTP <= 0 or NaN from the feed: ignored, never an ATM

    # ------------------------------------------------------------------ building
    def install(self, chain: Chain, leg_segment: str, underlying_token: Token) -> None:
        """Add or replace the chain of (underlying, expiry) and route its legs and underlying."""
        key = (chain.underlying, chain.expiry)
        self.remove(key)
        entry = _Entry(key, LiveChain(chain), leg_segment)
        self._entries[key] = entry
        for sid in security_ids(chain):
            self._legs[(leg_segment, sid)] = entry
        self._underlying_token[chain.underlying] = underlying_token
        self._chains_of.setdefault(underlying_token, []).append(entry)
        self._chains_of[underlying_token].sort(key=lambda e: e.key[1])  # nearest expiry first
        self._changed[key] = entry
        self._atm_changed.add(chain.underlying)

    def remove(self, key: ChainKey) -> bool:
        entry = self._entries.pop(key, None)
        if entry is None:
            return False
        for sid in security_ids(entry.live.snapshot()):
            if self._legs.get((entry.leg_segment, sid)) is entry:
                del self._legs[(entry.leg_segment, sid)]
        token = self._underlying_token.get(key[0])
        if token is not None:
            siblings = [e for e in self._chains_of.get(token, []) if e is not entry]
            if siblings:
                self._chains_of[token] = siblings
            else:
                self._chains_of.pop(token, None)
                del self._underlying_token[key[0]]
        self._changed.pop(key, None)
        return True

    def watch_underlying(self, underlying: str, token: Token) -> None:
        """Carry and record this underlying's feed LTP even while it has no chain (the ATM of its first build)."""
        self._watched[token] = underlying

    # ------------------------------------------------------------------ the hot path
    def apply(self, updates: Sequence[TickUpdate]) -> int:
        """Merge one frame's updates; returns how many reached a chain (legs or underlyings)."""
        legs, merged = self._legs, 0
        for update in updates:
            token = (update.segment, update.security_id)
            entry = legs.get(token)
            if entry is not None:
                entry.live.apply(update)
                if entry.pending_since_ms is None:
                    entry.pending_since_ms = update.ts_ms
                    self._changed[entry.key] = entry
                merged += 1
                continue
            chains = self._chains_of.get(token)
            if chains is None and token not in self._watched:
                self.ticks_unrouted += 1
            elif self._move_underlying(token, chains, update):
                merged += 1
        self.ticks_merged += merged
        return merged

    def _move_underlying(self, token: Token, chains: list[_Entry] | None, update: TickUpdate) -> bool:
        ltp = update.ltp
        if ltp is None or not ltp == ltp or ltp <= 0:  # NaN fails ltp == ltp
            self.bad_underlying_ticks += 1
            return False
        self.underlying_ltp[token] = (ltp, update.ts_ms)
        if not chains:
            return True
        for entry in chains:
            entry.live.set_underlying_ltp(ltp, update.ts_ms)
            if entry.pending_since_ms is None:
                entry.pending_since_ms = update.ts_ms
            self._changed[entry.key] = entry
        self._atm_changed.add(chains[0].key[0])
        return True

    # ------------------------------------------------------------------ reading
    def take_changed(self, now_ms: int) -> list[tuple[Chain, str, int | None]]:
        """The chains changed since the last call: snapshot, document text, oldest unwritten tick time."""
        out = []
        for entry in self._changed.values():
            chain, text = entry.live.text(now_ms)
            out.append((chain, text, entry.pending_since_ms))
            entry.pending_since_ms = None
        self._changed.clear()
        return out

    def take_atm_changed(self) -> list[AtmState]:
        """The ATM registry entries of underlyings whose LTP moved since the last call."""
        out = [state for state in (self.atm(u) for u in sorted(self._atm_changed)) if state is not None]
        self._atm_changed.clear()
        return out

    def atm(self, underlying: str) -> AtmState | None:
        """ATM of the underlying from its nearest expiry's chain (its strike interval)."""
        token = self._underlying_token.get(underlying)
        chains = self._chains_of.get(token) if token is not None else None
        if not chains:
            return None
        chain = chains[0].live.snapshot()
        return AtmState(underlying, chain.atm_strike, chain.underlying_ltp, chain.strike_interval, chain.updated_ms)

    def chain(self, key: ChainKey) -> Chain | None:
        entry = self._entries.get(key)
        return entry.live.snapshot() if entry is not None else None

    def keys(self) -> list[ChainKey]:
        return sorted(self._entries)

    def chains_of(self, underlying: str) -> list[ChainKey]:
        return [key for key in sorted(self._entries) if key[0] == underlying]

    def __len__(self) -> int:
        return len(self._entries)

    def feed_tokens(self) -> tuple[list[Token], dict[Token, str]]:
        """Every token the feed must carry (legs, then underlyings) and its group (the underlying)."""
        group_of: dict[Token, str] = {token: entry.key[0] for token, entry in self._legs.items()}
        group_of.update(self._watched)
        group_of.update({token: name for name, token in self._underlying_token.items()})
        return sorted(group_of), group_of

    # ------------------------------------------------------------------ REST refresh
    def refresh(self, key: ChainKey, rows: Iterable[ChainRow], now_ms: int, sent_ms: int) -> bool:
        """Greeks/IV/OI from a REST snapshot into the live chain; ticks newer than ``sent_ms`` are kept."""
        entry = self._entries.get(key)
        if entry is None:
            return False
        current = entry.live.snapshot(now_ms)
        refreshed = apply_rest_refresh(current, rows, now_ms, keep_ticks_since_ms=sent_ms)
        if refreshed is current:
            return False
        entry.live.reset(refreshed, entry.live.index)
        if entry.pending_since_ms is None:
            entry.pending_since_ms = now_ms
        self._changed[key] = entry
        return True


def expiry_groups(keys: Iterable[ChainKey]) -> dict[str, list[str]]:
    """underlying -> its expiries (sorted), from chain keys."""
    out: dict[str, list[str]] = {}
    for underlying, expiry in sorted(keys):
        out.setdefault(underlying, []).append(expiry)
    return out
