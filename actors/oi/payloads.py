"""JSON shapes of OI samples and alerts, and their strict validation (pure).

Ingest is all-or-nothing: a batch is parsed whole before anything is written, and the
first bad item stops it with an ``IngestError`` naming it (``items[3].open_interest: must be
a finite number >= 0``), which the API answers with a 400. Strict means: required fields
present, no unknown fields (a typo must not pass silently), numbers as JSON numbers (not
strings, not booleans), symbols as Binance spells them, and timestamps in Unix
*milliseconds* (a value in seconds is refused rather than stored in 1970).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any, Literal

import attrs

from actors.oi.alerts import DIRECTIONS, Alert

ALERT_TYPE = "open_interest_alert"
SOURCES: tuple[str, ...] = ("snapshot", "realtime")
SYMBOL_RE = re.compile(r"[A-Z0-9]{2,30}")  # always fullmatch: "$" would let a trailing newline in
MIN_TS_MS, MAX_TS_MS = 10**12, 10**13  # 2001-09-09 .. 2286-11-20: anything else is not milliseconds
MAX_BATCH_ITEMS = 10_000  # one request never holds an unbounded amount of work

SAMPLE_FIELDS = {"symbol", "open_interest", "ts", "mark_price", "oi_usd"}
SAMPLE_REQUIRED = ("symbol", "open_interest", "ts")
ALERT_FIELDS = {"type", "symbol", "direction", "open_interest", "baseline_oi", "pct_change", "abs_change",
                "oi_usd", "mark_price", "window_min", "ts"}
ALERT_REQUIRED = ("type", "symbol", "direction", "open_interest", "baseline_oi", "pct_change", "abs_change",
                  "window_min", "ts")


class IngestError(ValueError):
    """A payload that does not validate; the message names the field (``items[3].ts: ...``)."""


@attrs.frozen
class Sample:
    """One open-interest observation of a symbol (contracts; ``oi_usd`` in USDT when known)."""

    symbol: str
    open_interest: float
    ts_ms: int
    mark_price: float | None = None
    oi_usd: float | None = None
    source: Literal["snapshot", "realtime"] = "realtime"


# --------------------------------------------------------------------------- field checks

def _number(doc: Mapping[str, Any], key: str, where: str, minimum: float | None = None, strict: bool = False,
            nullable: bool = False) -> float:
    value = doc.get(key)
    bound = "" if minimum is None else f" {'>' if strict else '>='} {minimum:g}"
    try:
        number = math.nan if isinstance(value, bool) or not isinstance(value, (int, float)) else float(value)
    except OverflowError:  # an integer beyond any float
        number = math.nan
    if not math.isfinite(number) or (minimum is not None and (number <= minimum if strict else number < minimum)):
        raise IngestError(f"{where}{key}: must be a finite number{bound}{' or null' if nullable else ''}, "
                          f"got {value!r:.80}")
    return number


def _optional_number(doc: Mapping[str, Any], key: str, where: str, minimum: float,
                     strict: bool = False) -> float | None:
    """An optional field: absent or null is None, anything else must pass :func:`_number`."""
    return None if doc.get(key) is None else _number(doc, key, where, minimum, strict, nullable=True)


def _ts_ms(doc: Mapping[str, Any], key: str, where: str) -> int:
    value = doc.get(key)
    if isinstance(value, bool) or not isinstance(value, int) or not MIN_TS_MS <= value < MAX_TS_MS:
        raise IngestError(f"{where}{key}: must be Unix milliseconds (an integer in [1e12, 1e13)), got {value!r:.80}")
    return value


def _symbol(doc: Mapping[str, Any], where: str) -> str:
    value = doc.get("symbol")
    if not isinstance(value, str) or not SYMBOL_RE.fullmatch(value):
        raise IngestError(f"{where}symbol: must match ^[A-Z0-9]{{2,30}}$, got {value!r:.80}")
    return value


def _object(doc: Any, where: str, allowed: set[str], required: tuple[str, ...]) -> Mapping[str, Any]:
    label = where.rstrip(".") or "payload"
    if not isinstance(doc, Mapping):
        raise IngestError(f"{label}: must be a JSON object, got {type(doc).__name__}")
    unknown = sorted(str(key) for key in doc if key not in allowed)
    if unknown:
        raise IngestError(f"{where}{unknown[0]}: unexpected field (allowed: {', '.join(sorted(allowed))})")
    for key in required:
        if key not in doc:
            raise IngestError(f"{where}{key}: required")
    return doc


def _items(doc: Any, allowed: set[str]) -> list[Any]:
    batch = _object(doc, "", allowed, ("items",))
    items = batch["items"]
    if not isinstance(items, list):
        raise IngestError(f"items: must be a list, got {type(items).__name__}")
    if len(items) > MAX_BATCH_ITEMS:
        raise IngestError(f"items: at most {MAX_BATCH_ITEMS} per batch, got {len(items)}")
    return items


# --------------------------------------------------------------------------- samples

def _source(value: Any) -> Literal["snapshot", "realtime"]:
    if value == "snapshot" or value == "realtime":
        return value
    raise IngestError(f"source: must be 'snapshot' or 'realtime', got {value!r:.80}")


def parse_sample(item: Any, source: str = "realtime", where: str = "") -> Sample:
    """One ingest item ``{"symbol", "open_interest", "ts", "mark_price"?, "oi_usd"?}``."""
    checked_source = _source(source)
    doc = _object(item, where, SAMPLE_FIELDS, SAMPLE_REQUIRED)
    return Sample(
        symbol=_symbol(doc, where),
        open_interest=_number(doc, "open_interest", where, minimum=0),
        ts_ms=_ts_ms(doc, "ts", where),
        mark_price=_optional_number(doc, "mark_price", where, minimum=0, strict=True),
        oi_usd=_optional_number(doc, "oi_usd", where, minimum=0),
        source=checked_source,
    )


def parse_samples_batch(doc: Any) -> tuple[Sample, ...]:
    """``{"source": "snapshot"|"realtime", "items": [...]}`` -> every sample, or IngestError.

    Duplicates (same symbol and ts) are kept here; the ring ignores the repeats.
    """
    items = _items(doc, {"source", "items"})
    if "source" not in doc:
        raise IngestError("source: required ('snapshot' or 'realtime')")
    source = _source(doc["source"])
    return tuple(parse_sample(item, source, f"items[{i}].") for i, item in enumerate(items))


def sample_to_json(sample: Sample) -> dict[str, Any]:
    """The ingest item shape plus ``source`` (what ``GET .../samples`` answers)."""
    return {"symbol": sample.symbol, "open_interest": sample.open_interest, "ts": sample.ts_ms,
            "mark_price": sample.mark_price, "oi_usd": sample.oi_usd, "source": sample.source}


def sample_to_stream_fields(sample: Sample) -> dict[str, str]:
    """Flat string fields of one ``oi:samples:{symbol}`` stream entry (absent optionals left out)."""
    fields = {"open_interest": repr(sample.open_interest), "ts": str(sample.ts_ms), "source": sample.source}
    if sample.mark_price is not None:
        fields["mark_price"] = repr(sample.mark_price)
    if sample.oi_usd is not None:
        fields["oi_usd"] = repr(sample.oi_usd)
    return fields


def sample_from_stream_fields(symbol: str, fields: Mapping[str | bytes, str | bytes]) -> Sample:
    """Back from a stream entry (str or bytes keys and values); ValueError when malformed."""
    text = {(k.decode() if isinstance(k, bytes) else k): (v.decode() if isinstance(v, bytes) else v)
            for k, v in fields.items()}
    try:
        return Sample(symbol, float(text["open_interest"]), int(text["ts"]),
                      float(text["mark_price"]) if "mark_price" in text else None,
                      float(text["oi_usd"]) if "oi_usd" in text else None, _source(text["source"]))
    except (KeyError, ValueError) as exc:
        raise ValueError(f"malformed oi sample stream entry for {symbol}: {exc}: {text!r:.200}") from None


# --------------------------------------------------------------------------- alerts

def alert_to_json(alert: Alert) -> dict[str, Any]:
    """The seed's ``open_interest_alert`` event (stream entry, pub/sub message and ``/ws`` push)."""
    return {"type": ALERT_TYPE, "symbol": alert.symbol, "direction": alert.direction,
            "open_interest": alert.open_interest, "baseline_oi": alert.baseline_oi,
            "pct_change": alert.pct_change, "abs_change": alert.abs_change, "oi_usd": alert.oi_usd,
            "mark_price": alert.mark_price, "window_min": [alert.window_low_min, alert.window_high_min],
            "ts": alert.ts_ms}


def _window_min(doc: Mapping[str, Any], where: str) -> tuple[float, float]:
    value = doc["window_min"]
    if isinstance(value, list) and len(value) == 2 and all(
            not isinstance(v, bool) and isinstance(v, (int, float)) and math.isfinite(v) for v in value) \
            and 0 <= value[0] < value[1]:
        return value[0], value[1]
    raise IngestError(f"{where}window_min: must be [low, high] minutes with 0 <= low < high, got {value!r:.80}")


def alert_from_json(doc: Any, where: str = "") -> Alert:
    """Strict inverse of :func:`alert_to_json`; IngestError (a ValueError) naming the field."""
    doc = _object(doc, where, ALERT_FIELDS, ALERT_REQUIRED)
    if doc["type"] != ALERT_TYPE:
        raise IngestError(f"{where}type: must be {ALERT_TYPE!r}, got {doc['type']!r:.80}")
    if doc["direction"] not in DIRECTIONS:
        raise IngestError(f"{where}direction: must be 'UP' or 'DOWN', got {doc['direction']!r:.80}")
    low_min, high_min = _window_min(doc, where)
    return Alert(
        symbol=_symbol(doc, where), direction=doc["direction"],
        open_interest=_number(doc, "open_interest", where, minimum=0),
        baseline_oi=_number(doc, "baseline_oi", where, minimum=0, strict=True),
        pct_change=_number(doc, "pct_change", where),
        abs_change=_number(doc, "abs_change", where),
        ts_ms=_ts_ms(doc, "ts", where), window_low_min=low_min, window_high_min=high_min,
        mark_price=_optional_number(doc, "mark_price", where, minimum=0, strict=True),
        oi_usd=_optional_number(doc, "oi_usd", where, minimum=0),
    )


def parse_alerts_batch(doc: Any) -> tuple[Alert, ...]:
    """``{"items": [alert json, ...]}`` -> every alert, or IngestError naming the first bad item."""
    return tuple(alert_from_json(item, f"items[{i}].") for i, item in enumerate(_items(doc, {"items"})))
