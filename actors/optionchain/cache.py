"""The central chain cache: the served JSON per chain, mirrored to Redis, written per chain.

Every ``cache_write_interval_s`` (250 ms by default) the actor takes the chains that
changed, serialises each once (only its
rows touched since the last pass are re-encoded), keeps the text in memory (what ``GET /optionchain/live``
returns), queues one SET per chain on the Redis writer (latest value wins, never a write
per tick) and publishes the same text to API websocket readers. ATM registry entries
that moved go out in the same pass.
"""

from __future__ import annotations

import json
from typing import Any

import attrs

from actors.optionchain.book import ChainBook, ChainKey
from actors.optionchain.chain import Chain, document_text
from actors.optionchain.topics import UPDATES_TOPIC, ChainListing, ChainPublished
from engine import keys




@attrs.define(eq=False)
class ChainCache:
    """Served texts by chain; ``listing`` describes them. Lives inside the chain actor only."""

    texts: dict[ChainKey, str] = attrs.field(factory=dict)
    listing: dict[ChainKey, ChainListing] = attrs.field(factory=dict)
    writes: int = 0
    last_tick_age_ms: list[int] = attrs.field(factory=list)  # oldest unwritten tick age per write (bounded)
    max_age_samples: int = 10_000

    def put(self, chain: Chain, text: str) -> None:
        key = (chain.underlying, chain.expiry)
        self.texts[key] = text
        self.listing[key] = ChainListing(chain.underlying, chain.expiry, chain.stale, chain.atm_strike,
                                         len(chain.rows), chain.updated_ms)

    def drop(self, key: ChainKey) -> None:
        self.texts.pop(key, None)
        self.listing.pop(key, None)

    def record_age(self, age_ms: int) -> None:
        if len(self.last_tick_age_ms) >= self.max_age_samples:
            del self.last_tick_age_ms[: self.max_age_samples // 2]
        self.last_tick_age_ms.append(age_ms)


def publish_chain(chain: Chain, cache: ChainCache, store: Any, bus: Any, text: str | None = None) -> str:
    """Serve, mirror and push one chain now (also used for stale copies); ``text`` if already encoded."""
    text = document_text(chain) if text is None else text
    cache.put(chain, text)
    if store is not None:
        store.set(keys.optionchain(chain.underlying, chain.expiry), text)
    bus.publish_nowait(UPDATES_TOPIC, ChainPublished(chain.underlying, chain.expiry, text))
    cache.writes += 1
    return text


def write_changed(book: ChainBook, cache: ChainCache, store: Any, bus: Any, now_ms: int) -> int:
    """One cache pass: every changed chain once, and the ATM registry entries that moved."""
    written = 0
    for chain, text, pending_since_ms in book.take_changed(now_ms):
        publish_chain(chain, cache, store, bus, text)
        if pending_since_ms is not None:
            cache.record_age(max(0, now_ms - pending_since_ms))
        written += 1
    for state in book.take_atm_changed():
        if store is not None:
            store.set(keys.optionchain_atm(state.underlying), json.dumps(state.to_json()))
    return written
