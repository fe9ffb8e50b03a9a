"""Sharding every feed token (option legs and underlyings) over Dhan's market-feed connections.

Limits (venues.md): 5 connections per user, 5000 instruments per connection, 100 per
subscribe message. Decisions:
- The plan uses the *fewest* connections that hold every token (ceil(n / 5000)), leaving
  the rest of the user's 5 free for a reconnect overlap or another tool, and spreads tokens
  evenly over them: a lost connection then drops as few instruments as possible.
- Deterministic: tokens are de-duplicated and ordered by (segment, security id), groups by
  name, so the same set gives the same plan whatever the input order.
- A group (one underlying's legs plus the underlying itself) goes whole to the least loaded
  connection that still has room for it (largest groups first); a group no connection can
  hold is split into as few pieces as fit, emptiest connection first. Ungrouped tokens then even out the loads.
"""

from __future__ import annotations

import math
from typing import Any, Iterable, Mapping

import attrs

Token = tuple[str, int]  # (Dhan exchange segment, security id)
SEGMENTS = ("IDX_I", "NSE_EQ", "NSE_FNO", "NSE_CURRENCY", "BSE_EQ", "MCX_COMM", "BSE_CURRENCY", "BSE_FNO")
REQUEST_CODES = {15: "ticker subscribe", 16: "ticker unsubscribe", 17: "quote subscribe",
                 18: "quote unsubscribe", 21: "full subscribe", 22: "full unsubscribe"}
MAX_CONNECTIONS = 5
MAX_PER_CONNECTION = 5000
MAX_PER_MESSAGE = 100


class TooManyTokens(ValueError):
    """More instruments than the user's feed connections can carry."""


@attrs.frozen(eq=False)
class ShardPlan:
    """Tokens per connection (each sorted), and which connection carries each token."""

    shards: tuple[tuple[Token, ...], ...]
    shard_of: Mapping[Token, int]

    def __len__(self) -> int:
        return len(self.shards)

    @property
    def token_count(self) -> int:
        return len(self.shard_of)

    def messages(self, shard: int, request_code: int) -> list[dict[str, Any]]:
        """The subscribe/unsubscribe frames (JSON-ready) for one connection, <= 100 instruments each."""
        if request_code not in REQUEST_CODES:
            raise ValueError(f"request code {request_code!r} is not one of {sorted(REQUEST_CODES)}")
        if not 0 <= shard < len(self.shards):
            raise ValueError(f"shard {shard} out of range: the plan has {len(self.shards)}")
        tokens = self.shards[shard]
        return [
            {"RequestCode": request_code, "InstrumentCount": len(chunk),
             "InstrumentList": [{"ExchangeSegment": seg, "SecurityId": str(sid)} for seg, sid in chunk]}
            for chunk in (tokens[i:i + MAX_PER_MESSAGE] for i in range(0, len(tokens), MAX_PER_MESSAGE))
        ]


def _token(raw: Any) -> Token:
    try:
        segment, security_id = raw
    except (TypeError, ValueError):
        raise ValueError(f"a feed token is (segment, security_id), got {raw!r}") from None
    if segment not in SEGMENTS:
        raise ValueError(f"unknown exchange segment {segment!r} in token {raw!r}: expected one of {', '.join(SEGMENTS)}")
    if isinstance(security_id, bool) or not isinstance(security_id, int) or security_id < 0:
        raise ValueError(f"security id must be a non-negative integer, got {security_id!r}")
    return (segment, security_id)


def plan_shards(
    tokens: Iterable[Token], max_connections: int = MAX_CONNECTIONS, max_per_connection: int = MAX_PER_CONNECTION,
    group_of: Mapping[Token, str] | None = None,
) -> ShardPlan:
    """Every token on exactly one connection; ``group_of`` (token -> underlying) keeps groups together.

    Raises ``TooManyTokens`` when the distinct tokens exceed max_connections x max_per_connection.
    """
    if max_connections < 1 or max_per_connection < 1:
        raise ValueError("max_connections and max_per_connection must be >= 1")
    unique = sorted({_token(t) for t in tokens})
    limit = max_connections * max_per_connection
    if len(unique) > limit:
        raise TooManyTokens(
            f"{len(unique)} feed tokens exceed the limit of {limit} "
            f"({max_connections} connections x {max_per_connection} instruments): trim windows or expiries")
    if not unique:
        return ShardPlan((), {})
    count = math.ceil(len(unique) / max_per_connection)
    groups: dict[str, list[Token]] = {}
    loose: list[Token] = []
    for token in unique:
        name = group_of.get(token) if group_of else None
        (groups.setdefault(str(name), []) if name is not None else loose).append(token)
    shards: list[list[Token]] = [[] for _ in range(count)]

    def least_loaded(room_for: int) -> int | None:
        fits = [i for i in range(count) if len(shards[i]) + room_for <= max_per_connection]
        return min(fits, key=lambda i: (len(shards[i]), i)) if fits else None

    for name in sorted(groups, key=lambda g: (-len(groups[g]), g)):
        members = groups[name]
        target = least_loaded(len(members))
        if target is not None:
            shards[target].extend(members)
            continue
        while members:  # no connection has room for it whole: fill the emptiest, then the next
            emptiest = least_loaded(1)
            room = max_per_connection - len(shards[emptiest])  # type: ignore[index]
            shards[emptiest].extend(members[:room])  # type: ignore[index]
            members = members[room:]
    for token in loose:
        shards[least_loaded(1)].append(token)  # type: ignore[index]
    frozen = tuple(tuple(sorted(s)) for s in shards)
    return ShardPlan(frozen, {token: i for i, shard in enumerate(frozen) for token in shard})
