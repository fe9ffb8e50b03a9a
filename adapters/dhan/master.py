"""Dhan's instrument master CSV, read for metadata only: lot sizes, option ticks, feed segments.

Why metadata only: expiries come from the expiry-list API, the one authoritative source
(they shift around holidays); the master tells what a contract *is*, not when it exists.
The real file is about 40 MB (≈200k rows), so it is parsed a line at a time and only the
option rows of the wanted underlyings are kept. Option rows are those whose INSTRUMENT
starts with ``OPT`` (OPTIDX, OPTSTK, OPTFUT, OPTCUR); they are matched to an underlying
by UNDERLYING_SYMBOL, because UNDERLYING_SECURITY_ID is not the id the option chain
uses (NIFTY options carry 26000 there, the index is 13 on IDX_I). ``parse_master`` is
pure; ``fetch_master`` streams the file over HTTP into the same parser.
"""

from __future__ import annotations

import csv
import math
from collections import Counter
from collections.abc import Iterable, Mapping
from datetime import date
from types import MappingProxyType

import attrs
import httpx
import trio

from adapters.http import VenueHttpError, excerpt

VENUE = "dhan"
WHAT = "instrument master"
ERROR_EXCERPT_BYTES = 2048
# (EXCH_ID, SEGMENT letter) -> the feed's exchange segment name.
FEED_SEGMENTS: Mapping[tuple[str, str], str] = MappingProxyType({
    ("NSE", "I"): "IDX_I", ("BSE", "I"): "IDX_I",
    ("NSE", "E"): "NSE_EQ", ("NSE", "D"): "NSE_FNO", ("NSE", "C"): "NSE_CURRENCY",
    ("BSE", "E"): "BSE_EQ", ("BSE", "D"): "BSE_FNO", ("BSE", "C"): "BSE_CURRENCY",
    ("MCX", "M"): "MCX_COMM",
})
# The columns this parser reads (the file has more; extra columns are ignored).
REQUIRED_COLUMNS = ("EXCH_ID", "SEGMENT", "INSTRUMENT", "UNDERLYING_SYMBOL", "LOT_SIZE", "SM_EXPIRY_DATE",
                    "TICK_SIZE")


class DhanMasterError(ValueError):
    """The file is not an instrument master we can read (no header, a required column missing)."""


def _read_only(mapping: Mapping[str, int]) -> Mapping[str, int]:
    return MappingProxyType(dict(sorted(mapping.items())))


@attrs.frozen
class UnderlyingMeta:
    """What the master says about one underlying's options.

    ``lot_sizes``: expiry (YYYY-MM-DD) -> lot size, ascending by expiry (lots change
    between series, so a new expiry may differ from the front one). ``tick_size`` is the
    options' TICK_SIZE as the file states it. ``option_count``: option rows read.
    """

    symbol: str
    option_segment: str
    lot_sizes: Mapping[str, int] = attrs.field(converter=_read_only)
    tick_size: float
    option_count: int

    def lot_size(self, expiry: str | date) -> int | None:
        """The lot size of ``expiry``; for an expiry the master does not list, the lot of the
        nearest listed expiry on or after it, else of the latest one (lots apply per series
        and a new series takes the current lot); None when no option rows were read."""
        key = expiry.isoformat() if isinstance(expiry, date) else date.fromisoformat(expiry).isoformat()
        if not self.lot_sizes:
            return None
        if key in self.lot_sizes:
            return self.lot_sizes[key]
        later = [listed for listed in self.lot_sizes if listed >= key]  # ISO dates sort as text
        return self.lot_sizes[later[0] if later else next(reversed(self.lot_sizes))]


@attrs.frozen
class MasterResult:
    """The metas found, and how many data rows were read and how many wanted rows skipped."""

    metas: Mapping[str, UnderlyingMeta]
    rows_read: int
    skipped: int

    def missing(self, symbols: Iterable[str]) -> list[str]:
        """The wanted symbols the file has no option rows for (for the caller to report)."""
        return sorted({s.strip().upper() for s in symbols if s.strip()} - set(self.metas))


class ParsedMaster(dict[str, UnderlyingMeta]):
    """``parse_master``'s answer: the metas by symbol, with the row counts attached."""

    rows_read: int = 0
    skipped: int = 0


@attrs.define
class _Tally:
    """Running counts of one underlying's option rows (most common value wins)."""

    segments: Counter = attrs.field(factory=Counter)
    ticks: Counter = attrs.field(factory=Counter)
    lots_by_expiry: dict[str, Counter] = attrs.field(factory=dict)
    rows: int = 0

    def meta(self, symbol: str) -> UnderlyingMeta:
        lots = {expiry: counts.most_common(1)[0][0] for expiry, counts in self.lots_by_expiry.items()}
        return UnderlyingMeta(symbol, self.segments.most_common(1)[0][0], lots, self.ticks.most_common(1)[0][0],
                              self.rows)


class MasterParser:
    """Push parser: ``feed`` one line at a time (no line terminator needed), then ``result``.

    Lines that cannot contain a wanted symbol are counted and dropped before any CSV
    parsing, which keeps a 200k-row file cheap when only a few underlyings are wanted.
    """

    def __init__(self, symbols: Iterable[str]) -> None:
        self.wanted = frozenset(s.strip().upper() for s in symbols if s.strip())
        self.columns: list[str] | None = None
        self.rows_read = 0
        self.skipped = 0
        self._tallies: dict[str, _Tally] = {}

    def feed(self, line: str) -> None:
        if self.columns is None:
            if line.strip():
                self.columns = _header(line)
            return
        if not line.strip():
            return
        self.rows_read += 1
        upper = line.upper()
        if not any(symbol in upper for symbol in self.wanted):
            return
        try:
            row = next(csv.DictReader((line,), fieldnames=self.columns), None)
        except csv.Error:
            self.skipped += 1
            return
        if row is not None:
            self._row(row)

    def result(self) -> MasterResult:
        if self.columns is None:
            raise DhanMasterError(f"{WHAT}: empty file, no header row")
        metas = {symbol: tally.meta(symbol) for symbol, tally in sorted(self._tallies.items())}
        return MasterResult(MappingProxyType(metas), self.rows_read, self.skipped)

    def _row(self, row: dict[str | None, str | list[str] | None]) -> None:
        instrument, symbol = _text(row, "INSTRUMENT"), _text(row, "UNDERLYING_SYMBOL")
        if instrument is None or not instrument.startswith("OPT") or symbol not in self.wanted:
            return
        exchange, letter = _text(row, "EXCH_ID"), _text(row, "SEGMENT")
        segment = FEED_SEGMENTS.get((exchange or "", letter or ""))
        lot, expiry, tick = _lot(row.get("LOT_SIZE")), _expiry(row.get("SM_EXPIRY_DATE")), _tick(row.get("TICK_SIZE"))
        if segment is None or lot is None or expiry is None or tick is None:
            self.skipped += 1
            return
        tally = self._tallies.setdefault(symbol, _Tally())
        tally.segments[segment] += 1
        tally.ticks[tick] += 1
        tally.lots_by_expiry.setdefault(expiry, Counter())[lot] += 1
        tally.rows += 1


def parse_master(lines: Iterable[str], symbols: Iterable[str]) -> ParsedMaster:
    """The metas of ``symbols`` (upper-cased) found in the master's ``lines``.

    Raises ``DhanMasterError`` when the header lacks a required column or there is no
    header; a row that cannot be read (bad lot size, date, tick, unknown segment) is
    skipped and counted in ``skipped``. Wanted symbols without option rows are absent.
    """
    parser = MasterParser(symbols)
    for line in lines:
        parser.feed(line)
    result = parser.result()
    parsed = ParsedMaster(result.metas)
    parsed.rows_read, parsed.skipped = result.rows_read, result.skipped
    return parsed


async def fetch_master(http: httpx.AsyncClient, url: str, symbols: Iterable[str], *,
                       timeout_s: float = 120.0) -> MasterResult:
    """Stream the master from ``url`` through the parser (the file is public: no auth headers).

    ``timeout_s`` bounds every network phase and the whole transfer; a transfer that takes
    longer raises ``httpx.ReadTimeout`` like a stalled read. A status other than 200
    raises ``VenueHttpError``; network errors propagate as they are (callers retry).
    """
    parser = MasterParser(symbols)
    timeout = httpx.Timeout(timeout_s, connect=min(timeout_s, 10.0))
    with trio.move_on_after(timeout_s) as deadline:
        async with http.stream("GET", url, timeout=timeout, headers={"Accept": "text/csv, */*"}) as response:
            if response.status_code != 200:
                raise VenueHttpError(VENUE, WHAT, response.status_code, await _body_excerpt(response))
            async for line in response.aiter_lines():
                parser.feed(line)
    if deadline.cancelled_caught:
        raise httpx.ReadTimeout(f"{WHAT} not read within {timeout_s} s")
    return parser.result()


async def _body_excerpt(response: httpx.Response) -> str:
    """The start of an error body, without reading a large one to its end."""
    head = b""
    async for chunk in response.aiter_bytes():
        head += chunk
        if len(head) >= ERROR_EXCERPT_BYTES:
            break
    return excerpt(head[:ERROR_EXCERPT_BYTES].decode("utf-8", "replace"))


# --------------------------------------------------------------------------- fields


def _header(line: str) -> list[str]:
    try:
        columns = next(csv.reader((line,)), [])
    except csv.Error as error:
        raise DhanMasterError(f"{WHAT}: unreadable header row: {error}") from None
    columns = [column.strip().lstrip("\ufeff").strip().upper() for column in columns]
    missing = [column for column in REQUIRED_COLUMNS if column not in columns]
    if missing:
        raise DhanMasterError(f"{WHAT}: header lacks required column {', '.join(missing)}; "
                              f"got {excerpt(','.join(columns))!r}")
    return columns


def _text(row: Mapping[str | None, object], column: str) -> str | None:
    value = row.get(column)
    return value.strip().upper() if isinstance(value, str) else None


def _lot(value: object) -> int | None:
    """A positive whole lot: ``75`` and ``75.0`` (the venue writes both styles) alike."""
    number = _number(value)
    return int(number) if number is not None and number >= 1 and number.is_integer() else None


def _tick(value: object) -> float | None:
    number = _number(value)
    return number if number is not None and number > 0 else None


def _number(value: object) -> float | None:
    if not isinstance(value, str):
        return None
    try:
        number = float(value)
    except ValueError:
        return None
    return number if math.isfinite(number) else None


def _expiry(value: object) -> str | None:
    """``2026-04-30 14:30:00`` -> ``2026-04-30``; None unless the date part is YYYY-MM-DD."""
    if not isinstance(value, str):
        return None
    text = value.strip()[:10]
    if len(text) != 10 or text[4] != "-" or text[7] != "-":
        return None
    try:
        return date.fromisoformat(text).isoformat()
    except ValueError:
        return None
