"""Every Redis key name of the contract, in one place.

Other services read these keys, so the names are a contract (DESIGN.md, "Redis").
The variable part of a key is wrapped in a Redis Cluster hash tag (``{...}``) so the
keys that one atomic update touches (``instruments:{BTC}`` and
``instruments:{BTC}:updated_at``) hash to the same slot and can share a MULTI.

=====================================  ========================  ====================
key                                    type                      written by
=====================================  ========================  ====================
``index_price:{market}``               string (JSON)             IndexPriceActor
``svi:{market}:{maturity}``            string (JSON)             calibrator/external
``instruments:{market}``               set                       InstrumentsActor
``instruments:{market}:updated_at``    string (ms)               InstrumentsActor
``optionchain:{underlying}:{expiry}``  string (JSON) or hash     ChainActor
``optionchain:expiries:{underlying}``  string (JSON list)        ChainActor
``optionchain:atm:{underlying}``       string (JSON)             ChainActor
``oi:liquid_universe``                 set                       LiquidityActor
``oi:liquid_meta:{symbol}``            hash                      LiquidityActor
``oi:samples:{symbol}``                stream (capped)           OIPollerActor, API
``oi:alerts``                          stream + pub/sub channel  AlertActor, API
``orderbook:{venue}:{symbol}``         string (JSON)             BookFeedActor
``mm:{pair}:orders``                   hash                      MarketMakerActor
``mm:{pair}:status``                   string                    MarketMakerActor
``engine:heartbeat``                   string (JSON)             engine
=====================================  ========================  ====================

In the names the braces are literal: ``index_price("BTC") == "index_price:{BTC}"``.
"""

from __future__ import annotations

OI_LIQUID_UNIVERSE = "oi:liquid_universe"
OI_ALERTS = "oi:alerts"  # both the capped stream and the pub/sub channel
ENGINE_HEARTBEAT = "engine:heartbeat"


def _tag(part: str) -> str:
    """Render a key part as a hash tag; an empty part would silently disable the tag."""
    if not part:
        raise ValueError("a key part inside a hash tag must not be empty")
    if "{" in part or "}" in part:
        raise ValueError(f"a key part must not contain braces: {part!r}")
    return "{" + part + "}"


def index_price(market: str) -> str:
    return f"index_price:{_tag(market)}"


def svi(market: str, maturity: str) -> str:
    """Raw SVI params of one maturity, e.g. ``svi:{BTC}:28MAR25``."""
    return f"svi:{_tag(market)}:{maturity}"


def instruments(market: str) -> str:
    return f"instruments:{_tag(market)}"


def instruments_updated_at(market: str) -> str:
    """Shares the tag of :func:`instruments` so both change in one MULTI."""
    return f"instruments:{_tag(market)}:updated_at"


def optionchain(underlying: str, expiry: str) -> str:
    """The chain of one expiry, e.g. ``optionchain:{NIFTY}:2026-04-30``."""
    return f"optionchain:{_tag(underlying)}:{expiry}"


def optionchain_expiries(underlying: str) -> str:
    return f"optionchain:expiries:{_tag(underlying)}"


def optionchain_atm(underlying: str) -> str:
    return f"optionchain:atm:{_tag(underlying)}"


def oi_liquid_meta(symbol: str) -> str:
    return f"oi:liquid_meta:{_tag(symbol)}"


def oi_samples(symbol: str) -> str:
    return f"oi:samples:{_tag(symbol)}"


def orderbook(venue: str, symbol: str) -> str:
    """Tagged by symbol: one symbol's books of several venues may be read together."""
    return f"orderbook:{venue}:{_tag(symbol)}"


def mm_orders(pair: str) -> str:
    return f"mm:{_tag(pair)}:orders"


def mm_status(pair: str) -> str:
    """Shares the tag of :func:`mm_orders` so quotes and state change in one MULTI."""
    return f"mm:{_tag(pair)}:status"


def hash_slot_tag(key: str) -> str:
    """The part of ``key`` Redis Cluster hashes: the first ``{...}`` with non-empty
    content, else the whole key (the cluster spec's rule, so tests can prove that keys
    written in one MULTI land on one slot)."""
    start = key.find("{")
    if start == -1:
        return key
    end = key.find("}", start + 1)
    if end == -1 or end == start + 1:
        return key
    return key[start + 1 : end]
