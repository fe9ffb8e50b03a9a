"""The liquid universe: Binance USDT perpetuals whose 24 h quote volume clears a threshold.

Hysteresis keeps the universe calm: a symbol *enters* at ``enter_usdt`` (default 4M) and
*leaves* only once it falls to ``exit_usdt`` (default 2M) or below. Between the two it keeps
whatever state it had, so a symbol hovering around one threshold never flaps in and out
(each flap would cost a backfill and reset its alert baseline).

Eligibility is not subject to hysteresis: a member that stops trading, disappears from
exchangeInfo or has no 24 h ticker leaves at once, whatever its volume was.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from types import MappingProxyType
from typing import Protocol

import attrs

ENTER_USDT = 4_000_000.0
EXIT_USDT = 2_000_000.0


class ListedSymbol(Protocol):
    """What classification reads of an exchangeInfo entry (the Binance adapter's
    ``ExchangeSymbol`` has these attributes too, so it can be passed as is)."""

    @property
    def symbol(self) -> str: ...
    @property
    def contract_type(self) -> str: ...
    @property
    def quote_asset(self) -> str: ...
    @property
    def status(self) -> str: ...


@attrs.frozen
class SymbolInfo:
    """One exchangeInfo ``symbols[]`` entry, reduced to what decides eligibility."""

    symbol: str
    contract_type: str  # "PERPETUAL", "CURRENT_QUARTER", ...
    quote_asset: str  # "USDT", "USDC", ...
    status: str  # "TRADING", "SETTLING", "PENDING_TRADING", ...

    @classmethod
    def from_exchange_info(cls, entry: Mapping[str, object]) -> SymbolInfo:
        """From the venue's JSON entry (``symbol``, ``contractType``, ``quoteAsset``, ``status``)."""
        try:
            return cls(*(str(entry[key]) for key in ("symbol", "contractType", "quoteAsset", "status")))
        except KeyError as missing:
            raise ValueError(f"exchangeInfo symbol entry lacks {missing.args[0]!r}: {dict(entry)!r:.200}") from None


def eligible(info: ListedSymbol) -> bool:
    """A USDT-margined perpetual that is trading now: the only contracts we surveil."""
    return info.contract_type == "PERPETUAL" and info.quote_asset == "USDT" and info.status == "TRADING"


@attrs.frozen
class LiquidMeta:
    """What ``oi:liquid_meta:{symbol}`` holds for a member of the universe."""

    quote_volume_24h: float  # USDT, from the all-symbols 24 h ticker
    entered_at_ms: int  # when it last entered; kept while it stays a member
    last_seen_at_ms: int  # the last classification that found it liquid

    def to_hash(self, updated_at_ms: int) -> dict[str, str]:
        """The Redis hash fields (DESIGN.md): ``quote_volume_24h``, ``entered_at``, ``last_seen_at``, ``updated_at``."""
        return {"quote_volume_24h": repr(float(self.quote_volume_24h)), "entered_at": str(self.entered_at_ms),
                "last_seen_at": str(self.last_seen_at_ms), "updated_at": str(int(updated_at_ms))}

    @classmethod
    def from_hash(cls, fields: Mapping[str | bytes, str | bytes]) -> LiquidMeta:
        """Back from the Redis hash (str or bytes keys and values), so a restart keeps ``entered_at``."""
        text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
                for k, v in fields.items()}
        try:
            return cls(float(text["quote_volume_24h"]), int(text["entered_at"]), int(text["last_seen_at"]))
        except KeyError as missing:
            raise ValueError(f"liquid meta hash lacks {missing.args[0]!r}") from None


@attrs.frozen(eq=False)
class UniverseUpdate:
    """The new universe, each member's meta, and who entered and left (both sorted)."""

    universe: frozenset[str]
    meta: Mapping[str, LiquidMeta]  # exactly the members of ``universe``
    entered: tuple[str, ...]
    left: tuple[str, ...]

    @property
    def changed(self) -> bool:
        return bool(self.entered or self.left)


def check_thresholds(enter_usdt: float, exit_usdt: float) -> None:
    """ValueError unless enter > exit > 0 (both finite): equal thresholds would mean no hysteresis."""
    for name, value in (("enter_usdt", enter_usdt), ("exit_usdt", exit_usdt)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
            raise ValueError(f"{name} must be a finite number, got {value!r}")
    if not enter_usdt > exit_usdt > 0:
        raise ValueError(f"liquidity thresholds need enter_usdt > exit_usdt > 0, got enter_usdt={enter_usdt!r}, "
                         f"exit_usdt={exit_usdt!r}")


def classify(previous: Mapping[str, LiquidMeta], symbols: Iterable[ListedSymbol], quote_volumes: Mapping[str, float],
             now_ms: int, enter_usdt: float = ENTER_USDT, exit_usdt: float = EXIT_USDT) -> UniverseUpdate:
    """One classification round: ``previous`` is the current universe with its meta.

    - an outsider enters when eligible and its volume >= ``enter_usdt``;
    - a member stays while eligible and its volume > ``exit_usdt``; it leaves when the volume
      falls to ``exit_usdt`` or below, when it stops trading, disappears from ``symbols``
      (delisted) or has no entry in ``quote_volumes``;
    - members keep ``entered_at_ms``; every member's ``last_seen_at_ms`` becomes ``now_ms``.

    ValueError for bad thresholds, a symbol listed twice, or an eligible symbol's volume that
    is not a finite number >= 0: the caller should keep its previous universe for this round
    rather than act on a garbled answer (which could empty the universe).
    """
    check_thresholds(enter_usdt, exit_usdt)
    if isinstance(now_ms, bool) or not isinstance(now_ms, int) or now_ms < 0:
        raise ValueError(f"now_ms must be an integer >= 0, got {now_ms!r}")
    listed: dict[str, ListedSymbol] = {}
    for info in symbols:
        if info.symbol in listed:
            raise ValueError(f"symbol {info.symbol!r} listed twice in exchangeInfo")
        listed[info.symbol] = info

    meta: dict[str, LiquidMeta] = {}
    for symbol, info in listed.items():
        if not eligible(info) or symbol not in quote_volumes:
            continue
        volume = quote_volumes[symbol]
        if isinstance(volume, bool) or not isinstance(volume, (int, float)) or not math.isfinite(volume) or volume < 0:
            raise ValueError(f"{symbol}: 24 h quote volume must be a finite number >= 0, got {volume!r}")
        member = previous.get(symbol)
        if member is not None and volume > exit_usdt:
            meta[symbol] = LiquidMeta(float(volume), member.entered_at_ms, now_ms)
        elif member is None and volume >= enter_usdt:
            meta[symbol] = LiquidMeta(float(volume), now_ms, now_ms)

    universe, before = frozenset(meta), frozenset(previous)
    return UniverseUpdate(
        universe=universe,
        meta=MappingProxyType(dict(sorted(meta.items()))),
        entered=tuple(sorted(universe - before)),
        left=tuple(sorted(before - universe)),
    )
