"""Dhan adapter: data APIs over REST and the binary live market feed (v2).

``codec`` (pure): feed packets and request messages; ``bodies`` (pure): REST answers;
``errors``: what each venue code means; ``rest``: ``DhanRest``; ``feed``: ``DhanFeedConnection``.
"""

from adapters.dhan.bodies import Greeks, OptionChainSnapshot, OptionLeg, StrikeLegs
from adapters.dhan.codec import (
    FULL_SUB,
    QUOTE_SUB,
    TICKER_SUB,
    DecodeStats,
    Depth,
    Disconnect,
    Full,
    MarketStatus,
    OpenInterest,
    Packet,
    PrevClose,
    Quote,
    Tick,
    decode_frame,
    disconnect_message,
    subscribe_messages,
    unsubscribe_messages,
)
from adapters.dhan.errors import (
    DhanApiError,
    DhanAuthError,
    DhanConfigError,
    DhanError,
    DhanFeedClosed,
    DhanRateLimited,
    DhanTokenExpired,
    DhanTooManyConnections,
)
from adapters.dhan.feed import DhanFeedConnection
from adapters.dhan.rest import DhanRest

__all__ = [
    "FULL_SUB", "QUOTE_SUB", "TICKER_SUB", "DecodeStats", "Depth", "DhanApiError", "DhanAuthError",
    "DhanConfigError", "DhanError", "DhanFeedClosed", "DhanFeedConnection", "DhanRateLimited", "DhanRest",
    "DhanTokenExpired", "DhanTooManyConnections", "Disconnect", "Full", "Greeks", "MarketStatus", "OpenInterest",
    "OptionChainSnapshot", "OptionLeg", "Packet", "PrevClose", "Quote", "StrikeLegs", "Tick", "decode_frame",
    "disconnect_message", "subscribe_messages", "unsubscribe_messages",
]
