"""The live chain model, its skeleton from a REST snapshot, and the JSON document it is served as.

The document served by ``GET /optionchain/live`` and stored under
``optionchain:{underlying}:{expiry}`` (numbers are JSON numbers, times Unix ms UTC)::

    {"version": 1, "underlying": "NIFTY", "expiry": "2026-04-30",
     "underlying_ltp": 24964.25, "atm_strike": 24950.0, "strike_interval": 50.0,
     "lot_size": 75, "built_ms": 1767000000000, "updated_ms": 1767000003000, "stale": false,
     "rows": [{"strike": 24950.0,
               "ce": {"security_id": 42510, "ltp": 118.4, "bid": 118.35, "ask": 118.45,
                      "bid_qty": 1575, "ask_qty": 450, "oi": 4123500, "previous_oi": 2980125,
                      "volume": 96541275, "iv_pct": 9.12, "delta": 0.5412, "gamma": 0.00131,
                      "theta": -13.05, "vega": 12.98, "updated_ms": 1767000003000},
               "pe": null}, ...]}

Rows are in ascending strike order; a side the venue does not list is ``null``. ``stale`` is
true for a chain read back from Redis after a restart until the next REST refresh confirms it.
"""

from __future__ import annotations

import datetime as dt
import json
import math
from typing import Any, Iterable, Mapping

import attrs

from actors.optionchain.inputs import ChainRow, LegQuote
from actors.optionchain.windows import Window, atm_strike, select_window, strike_interval

DOCUMENT_VERSION = 1
LEG_FIELDS: tuple[str, ...] = (
    "security_id", "ltp", "bid", "ask", "bid_qty", "ask_qty", "oi", "previous_oi", "volume",
    "iv_pct", "delta", "gamma", "theta", "vega", "updated_ms",
)
_INT_FIELDS = frozenset({"security_id", "bid_qty", "ask_qty", "oi", "previous_oi", "volume", "updated_ms"})


@attrs.frozen(slots=True)
class Leg:
    """One option of the chain: ticks move ltp/bid/ask/volume, REST refreshes the rest."""

    security_id: int
    ltp: float
    bid: float
    ask: float
    bid_qty: int
    ask_qty: int
    oi: int
    previous_oi: int
    volume: int
    iv_pct: float
    delta: float
    gamma: float
    theta: float
    vega: float
    updated_ms: int


@attrs.frozen(slots=True)
class StrikeRow:
    strike: float
    ce: Leg | None
    pe: Leg | None


@attrs.frozen
class Chain:
    """One underlying x expiry: the window's rows plus the ATM they were centred on."""

    underlying: str
    expiry: str  # YYYY-MM-DD, as the expiry-list API gives it
    underlying_ltp: float
    atm_strike: float
    strike_interval: float
    lot_size: int
    rows: tuple[StrikeRow, ...]
    built_ms: int
    updated_ms: int
    stale: bool = False


def check_expiry(expiry: str) -> str:
    """YYYY-MM-DD or ValueError: the key and the served document both depend on this form."""
    try:
        if isinstance(expiry, str) and dt.date.fromisoformat(expiry).isoformat() == expiry:
            return expiry
    except ValueError:
        pass
    raise ValueError(f"expiry must be YYYY-MM-DD, got {expiry!r}")


def leg_of(quote: LegQuote, now_ms: int) -> Leg:
    """A chain leg from a snapshot's quote, stamped with the time it was taken in."""
    return Leg(
        int(quote.security_id), float(quote.ltp), float(quote.bid), float(quote.ask), int(quote.bid_qty),
        int(quote.ask_qty), int(quote.oi), int(quote.previous_oi), int(quote.volume), float(quote.iv_pct),
        float(quote.delta), float(quote.gamma), float(quote.theta), float(quote.vega), int(now_ms),
    )


def listed_strikes(snapshot_rows: Iterable[ChainRow]) -> dict[float, ChainRow]:
    """Strike -> row for rows with at least one leg (a strike with no option is nothing to trade)."""
    out: dict[float, ChainRow] = {}
    for row in snapshot_rows:
        strike = float(row.strike)
        if strike in out:
            raise ValueError(f"strike {strike} listed twice in the snapshot")
        if row.ce is not None or row.pe is not None:
            out[strike] = row
    return out


def build_skeleton(
    underlying: str, expiry: str, snapshot_rows: Iterable[ChainRow], underlying_ltp: float,
    kind: str, lot_size: int, now_ms: int,
) -> tuple[Chain, Window]:
    """The chain of the kind's window around the ATM, from one REST snapshot.

    The interval comes from the listed strikes near the LTP, the ATM from the LTP (ValueError
    on an LTP of 0 or NaN: never guess). The returned ``Window`` says what the venue could not
    fill, for the actor to log; the chain holds only strikes the venue actually listed.
    """
    check_expiry(expiry)
    if not underlying:
        raise ValueError("underlying must be a non-empty name")
    if isinstance(lot_size, bool) or not isinstance(lot_size, int) or lot_size <= 0:
        raise ValueError(f"lot_size must be a positive integer, got {lot_size!r}")
    if not (isinstance(underlying_ltp, (int, float)) and math.isfinite(underlying_ltp) and underlying_ltp > 0):
        raise ValueError(f"underlying_ltp must be > 0 to centre the chain, got {underlying_ltp!r}")
    by_strike = listed_strikes(snapshot_rows)
    interval = strike_interval(by_strike, underlying_ltp)
    atm = atm_strike(underlying_ltp, interval)
    window = select_window(by_strike, atm, kind)
    rows = []
    for strike in window.strikes:
        src = by_strike[strike]
        rows.append(StrikeRow(
            strike,
            leg_of(src.ce, now_ms) if src.ce is not None else None,
            leg_of(src.pe, now_ms) if src.pe is not None else None,
        ))
    chain = Chain(underlying, expiry, float(underlying_ltp), atm, interval, lot_size, tuple(rows), now_ms, now_ms)
    return chain, window


def security_ids(chain: Chain) -> list[int]:
    """Every leg's security id, row by row (CE before PE): what the feed must subscribe."""
    return [leg.security_id for row in chain.rows for leg in (row.ce, row.pe) if leg is not None]


def _leg_json(leg: Leg | None) -> dict[str, Any] | None:
    return None if leg is None else {name: getattr(leg, name) for name in LEG_FIELDS}


def to_json(chain: Chain) -> dict[str, Any]:
    """The served / stored document (shape in the module docstring); json.dumps-ready."""
    return {
        "version": DOCUMENT_VERSION,
        "underlying": chain.underlying,
        "expiry": chain.expiry,
        "underlying_ltp": chain.underlying_ltp,
        "atm_strike": chain.atm_strike,
        "strike_interval": chain.strike_interval,
        "lot_size": chain.lot_size,
        "built_ms": chain.built_ms,
        "updated_ms": chain.updated_ms,
        "stale": chain.stale,
        "rows": [{"strike": r.strike, "ce": _leg_json(r.ce), "pe": _leg_json(r.pe)} for r in chain.rows],
    }


# The same text json.dumps(to_json(chain), separators=(",", ":")) gives, built from templates:
# floats and ints print through their repr as json does, so the output is identical (a property
# test holds them equal) at a fraction of the cost, and a row's text can be kept between writes.
_LEG_TEMPLATE = "{" + ",".join(
    f'"{name}":%{"d" if name in _INT_FIELDS else "r"}' for name in LEG_FIELDS) + "}"
_ROW_TEMPLATE = '{"strike":%r,"ce":%s,"pe":%s}'


def leg_text(leg: Leg | None) -> str:
    if leg is None:
        return "null"
    return _LEG_TEMPLATE % (
        leg.security_id, leg.ltp, leg.bid, leg.ask, leg.bid_qty, leg.ask_qty, leg.oi, leg.previous_oi, leg.volume,
        leg.iv_pct, leg.delta, leg.gamma, leg.theta, leg.vega, leg.updated_ms)


def row_text(row: StrikeRow) -> str:
    return _ROW_TEMPLATE % (row.strike, leg_text(row.ce), leg_text(row.pe))


def document_text(chain: Chain, rows_text: Iterable[str] | None = None) -> str:
    """The stored and served document as compact JSON; ``rows_text`` reuses rows already encoded.

    Every number must be finite (JSON has no NaN): the merge and the REST parser keep it so.
    """
    rows = ",".join(rows_text if rows_text is not None else map(row_text, chain.rows))
    return (f'{{"version":{DOCUMENT_VERSION},"underlying":{json.dumps(chain.underlying)},'
            f'"expiry":{json.dumps(chain.expiry)},"underlying_ltp":{chain.underlying_ltp!r},'
            f'"atm_strike":{chain.atm_strike!r},"strike_interval":{chain.strike_interval!r},'
            f'"lot_size":{chain.lot_size:d},"built_ms":{chain.built_ms:d},"updated_ms":{chain.updated_ms:d},'
            f'"stale":{"true" if chain.stale else "false"},"rows":[{rows}]}}')


def _number(doc: Mapping[str, Any], key: str, where: str, integer: bool = False) -> Any:
    value = doc.get(key) if isinstance(doc, Mapping) else None
    ok = isinstance(value, int) if integer else isinstance(value, (int, float)) and math.isfinite(value)
    if isinstance(value, bool) or not ok:
        kind = "an integer" if integer else "a finite number"
        raise ValueError(f"chain document: {where}{key} must be {kind}, got {value!r}")
    return int(value) if integer else float(value)


def _leg_from(doc: Any, where: str) -> Leg | None:
    if doc is None:
        return None
    if not isinstance(doc, Mapping):
        raise ValueError(f"chain document: {where} must be an object or null")
    return Leg(**{name: _number(doc, name, where + ".", name in _INT_FIELDS) for name in LEG_FIELDS})


def from_json(doc: Mapping[str, Any]) -> Chain:
    """The chain back from its stored document, marked stale (served until a refresh confirms it)."""
    if not isinstance(doc, Mapping):
        raise ValueError("chain document must be an object")
    if doc.get("version", DOCUMENT_VERSION) != DOCUMENT_VERSION:
        raise ValueError(f"chain document: unsupported version {doc.get('version')!r}")
    underlying = doc.get("underlying")
    if not isinstance(underlying, str) or not underlying:
        raise ValueError(f"chain document: underlying must be a non-empty string, got {underlying!r}")
    raw_rows = doc.get("rows")
    if not isinstance(raw_rows, list):
        raise ValueError("chain document: rows must be a list")
    rows = []
    for i, raw in enumerate(raw_rows):
        if not isinstance(raw, Mapping):
            raise ValueError(f"chain document: rows[{i}] must be an object")
        where = f"rows[{i}]."
        rows.append(StrikeRow(_number(raw, "strike", where), _leg_from(raw.get("ce"), where + "ce"),
                              _leg_from(raw.get("pe"), where + "pe")))
    strikes = [r.strike for r in rows]
    if strikes != sorted(set(strikes)):
        raise ValueError("chain document: rows must have distinct strikes in ascending order")
    return Chain(
        underlying=underlying,
        expiry=check_expiry(doc.get("expiry")),  # type: ignore[arg-type]
        underlying_ltp=_number(doc, "underlying_ltp", ""),
        atm_strike=_number(doc, "atm_strike", ""),
        strike_interval=_number(doc, "strike_interval", ""),
        lot_size=_number(doc, "lot_size", "", integer=True),
        rows=tuple(rows),
        built_ms=_number(doc, "built_ms", "", integer=True),
        updated_ms=_number(doc, "updated_ms", "", integer=True),
        stale=True,
    )
