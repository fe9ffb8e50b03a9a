"""Client order ids: unique, valid for Binance, and recognisably ours.

``mm-<PAIR>-<run>-<seq>``, e.g. ``mm-BTCUSDT-lx3k9v2a-1z``: ``run`` names one start of the
market maker (``run_id_from_ms`` of its start time, base 36), ``seq`` counts its orders
(base 36). Deterministic given (pair, run, seq), so tests and replays are reproducible,
and unique across restarts as long as two starts never share a millisecond. At
reconciliation ``parse_client_id`` tells the pair's own orders (any run) from others'.

The whole id must match ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$`` (venues.md); the factory refuses a
pair + run too long to leave ``MIN_SEQ_DIGITS`` for the counter.
"""

from __future__ import annotations

import re

import attrs

CLIENT_ORDER_ID_PATTERN = re.compile(r"^[\.A-Z\:/a-z0-9_-]{1,36}$")
MAX_CLIENT_ID_LEN = 36
PREFIX = "mm"
MIN_SEQ_DIGITS = 6  # 36^6 ~ 2.2e9 orders per run before the id would outgrow 36 characters
_DIGITS = "0123456789abcdefghijklmnopqrstuvwxyz"
_PAIR = re.compile(r"^[A-Z0-9_]{1,24}$")
_RUN = re.compile(r"^[a-z0-9]{1,10}$")
_PARSE = re.compile(r"^mm-([A-Z0-9_]{1,24})-([a-z0-9]{1,10})-([a-z0-9]{1,20})$")


def base36(value: int) -> str:
    """Lower-case base 36 of an integer >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"base36 needs an integer >= 0, got {value!r}")
    out = ""
    while True:
        value, digit = divmod(value, 36)
        out = _DIGITS[digit] + out
        if value == 0:
            return out


def run_id_from_ms(ts_ms: int) -> str:
    """A run id from the start time (8 base-36 characters until the year 2059)."""
    return base36(ts_ms)


@attrs.frozen
class ParsedClientId:
    pair: str
    run_id: str
    seq: int


def parse_client_id(client_id: str) -> ParsedClientId | None:
    """The parts of one of our ids, or None for an id we did not make."""
    match = _PARSE.match(client_id) if isinstance(client_id, str) else None
    if match is None or len(client_id) > MAX_CLIENT_ID_LEN:
        return None
    return ParsedClientId(match[1], match[2], int(match[3], 36))


@attrs.frozen
class ClientIdFactory:
    """Issues ``mm-<pair>-<run_id>-<seq>`` for seq = next_seq, next_seq + 1, ...; a frozen value:
    ``issue`` returns the advanced factory with the ids."""

    pair: str
    run_id: str
    next_seq: int = 0

    def __attrs_post_init__(self) -> None:
        if not isinstance(self.pair, str) or not _PAIR.match(self.pair):
            raise ValueError(f"pair must be 1 to 24 characters A-Z, 0-9 or _, got {self.pair!r}")
        if not isinstance(self.run_id, str) or not _RUN.match(self.run_id):
            raise ValueError(f"run_id must be 1 to 10 characters a-z or 0-9, got {self.run_id!r}")
        if isinstance(self.next_seq, bool) or not isinstance(self.next_seq, int) or self.next_seq < 0:
            raise ValueError(f"next_seq must be an integer >= 0, got {self.next_seq!r}")
        room = MAX_CLIENT_ID_LEN - len(self.prefix)
        if room < MIN_SEQ_DIGITS:
            raise ValueError(f"pair {self.pair!r} and run_id {self.run_id!r} leave {room} characters for the "
                             f"order counter in a {MAX_CLIENT_ID_LEN}-character client id; need {MIN_SEQ_DIGITS}")

    @property
    def prefix(self) -> str:
        return f"{PREFIX}-{self.pair}-{self.run_id}-"

    def client_id(self, seq: int) -> str:
        """The id of order ``seq`` of this run; ValueError once the counter outgrows the id."""
        out = self.prefix + base36(seq)
        if len(out) > MAX_CLIENT_ID_LEN:
            raise ValueError(f"order counter {seq} no longer fits a {MAX_CLIENT_ID_LEN}-character client id: "
                             "start a new run")
        return out

    def issue(self, count: int = 1) -> tuple[ClientIdFactory, tuple[str, ...]]:
        """``count`` fresh ids and the factory that continues after them."""
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f"count must be an integer >= 0, got {count!r}")
        ids = tuple(self.client_id(seq) for seq in range(self.next_seq, self.next_seq + count))
        return attrs.evolve(self, next_seq=self.next_seq + count), ids

    def owns(self, client_id: str) -> bool:
        """Whether ``client_id`` is one of this pair's market-maker ids, from any run."""
        parsed = parse_client_id(client_id)
        return parsed is not None and parsed.pair == self.pair
