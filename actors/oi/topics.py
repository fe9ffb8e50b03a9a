"""The bus contract of the OI surveillance: what its actors publish and what the API asks.

- ``UNIVERSE_TOPIC``: ``UniverseChanged`` after every liquidity round (CONFLATE on ``UNIVERSE_KEY``);
- ``SAMPLES_TOPIC``: a tuple of ``payloads.Sample`` (poller rounds and the ingest API) -> AlertActor;
- ``BACKFILL_TOPIC``: ``Backfill`` history of one symbol (openInterestHist) -> AlertActor;
- ``ALERT_TOPIC``: every recorded ``alerts.Alert`` (AlertActor and the alert ingest API) -> /ws;
- ``INGESTED_ALERTS_TOPIC``: a tuple of the ``alerts.Alert`` the ingest API recorded -> AlertActor
  (which keeps the recent alerts in memory; it records its own itself);
- asks answered by the LiquidityActor from memory: ``UNIVERSE_ASK`` -> ``UniverseView``,
  ``EXCHANGE_INFO_ASK`` -> the last exchangeInfo as JSON text (or None before the first);
- asks answered by the AlertActor from memory (``actors.oi.memory``): ``SAMPLES_ASK`` with a
  ``SamplesQuery`` -> ``{symbol: Recalled of payloads.Sample}``, ``ALERTS_ASK`` with an
  ``AlertsQuery`` -> ``Recalled`` of alert JSON texts; both newest first.
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
INGESTED_ALERTS_TOPIC = "oi.alert.ingested"
UNIVERSE_ASK = "oi.universe.get"
EXCHANGE_INFO_ASK = "oi.exchange_info.get"
SAMPLES_ASK = "oi.samples.get"
ALERTS_ASK = "oi.alerts.get"
READ_LIMIT_MAX = 5000  # the most samples or alerts one read asks for


@attrs.frozen
class SamplesQuery:
    """The newest ``limit`` samples of each of ``symbols``."""

    symbols: tuple[str, ...]
    limit: int


@attrs.frozen
class AlertsQuery:
    """Up to ``limit`` alerts (of ``symbol`` if given) among the newest ``scan`` recorded."""

    symbol: str | None
    limit: int
    scan: int


@attrs.frozen
class Recalled:
    """What memory holds for one read, newest first. ``complete``: it is what the Redis stream
    would answer; False while memory may lack older entries the stream still holds (after a start)."""

    items: tuple[Any, ...]
    complete: bool


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
