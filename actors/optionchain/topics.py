"""The bus contract between the chain actor and everything that reads chains (the API).

The API never calls Dhan and never touches the actor's working set: it asks over the bus
and the actor answers from its in-memory cache (``engine.requests.ask``):

- ``GET_TOPIC`` payload ``(underlying, expiry)`` -> the chain document as JSON text, or None;
- ``LIST_TOPIC`` payload None -> a list of ``ChainListing.to_json()`` dicts;
- ``REFRESH_TOPIC`` payload an underlying name or None (all) -> ``RefreshAnswer``;
- ``UPDATES_TOPIC``: every chain write is also published as a ``ChainPublished`` (subscribe
  with ``Overflow.CONFLATE`` keyed by ``ChainPublished.key``: a slow reader gets the latest).
"""

from __future__ import annotations

from typing import Any

import attrs

GET_TOPIC = "optionchain.get"
LIST_TOPIC = "optionchain.list"
REFRESH_TOPIC = "optionchain.refresh"
UPDATES_TOPIC = "optionchain.updates"


@attrs.frozen
class ChainPublished:
    """One chain as just written to the cache (the same JSON text Redis holds)."""

    underlying: str
    expiry: str
    document: str

    @property
    def key(self) -> tuple[str, str]:
        return (self.underlying, self.expiry)


@attrs.frozen
class ChainListing:
    """One available chain, as the listing shows it."""

    underlying: str
    expiry: str
    stale: bool
    atm_strike: float
    strikes: int
    updated_ms: int

    def to_json(self) -> dict[str, Any]:
        return attrs.asdict(self)


@attrs.frozen
class RefreshAnswer:
    """What a manual strike regeneration request scheduled (it runs through the 3 s queue)."""

    accepted: bool
    underlyings: tuple[str, ...] = ()
    queued_requests: int = 0  # REST requests it needs (expiry lists + chains)
    estimated_s: float = 0.0  # their queue time at one request per 3 s
    error: str | None = None

    def to_json(self) -> dict[str, Any]:
        out = attrs.asdict(self)
        out["underlyings"] = list(self.underlyings)
        return out
