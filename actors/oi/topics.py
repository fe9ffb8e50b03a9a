"""The bus contract of the OI surveillance: what its actors publish and what the API asks.

- ``UNIVERSE_TOPIC``: ``UniverseChanged`` after every liquidity round (CONFLATE on ``UNIVERSE_KEY``);
- ``SAMPLES_TOPIC``: a tuple of ``payloads.Sample`` (poller rounds and the ingest API) -> AlertActor;
- ``BACKFILL_TOPIC``: ``Backfill`` history of one symbol (openInterestHist) -> AlertActor;
- ``ALERT_TOPIC``: every recorded ``alerts.Alert`` (AlertActor and the alert ingest API) -> /ws;
- asks answered by the LiquidityActor from memory: ``UNIVERSE_ASK`` -> ``UniverseView``,
  ``EXCHANGE_INFO_ASK`` -> the last exchangeInfo as JSON text (or None before the first).
"""

from __future__ import annotations

from typing import Any, Mapping

import attrs

from actors.oi.universe import LiquidMeta

UNIVERSE_TOPIC = "oi.universe"
UNIVERSE_KEY = "universe"


def universe_key(_message: object) -> str:
    """CONFLATE key of UNIVERSE_TOPIC: only the latest universe matters."""
    return UNIVERSE_KEY

SAMPLES_TOPIC = "oi.samples"
BACKFILL_TOPIC = "oi.backfill"
ALERT_TOPIC = "oi.alert"
UNIVERSE_ASK = "oi.universe.get"
EXCHANGE_INFO_ASK = "oi.exchange_info.get"


@attrs.frozen
class UniverseChanged:
    universe: frozenset[str]
    entered: tuple[str, ...]
    left: tuple[str, ...]
    ts_ms: int


@attrs.frozen
class Backfill:
    """Past OI of one symbol: rows of (ts_ms, open_interest, oi_usd)."""

    symbol: str
    rows: tuple[tuple[int, float, float], ...]


@attrs.frozen
class UniverseView:
    """The liquid universe as the API serves it."""

    symbols: tuple[str, ...]
    meta: Mapping[str, LiquidMeta]
    updated_ms: int | None

    def to_json(self) -> dict[str, Any]:
        return {
            "symbols": list(self.symbols),
            "count": len(self.symbols),
            "updated_at": self.updated_ms,
            "meta": {s: {"quote_volume_24h": m.quote_volume_24h, "entered_at": m.entered_at_ms,
                         "last_seen_at": m.last_seen_at_ms} for s, m in sorted(self.meta.items())},
        }
