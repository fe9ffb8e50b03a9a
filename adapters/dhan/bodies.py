"""Dhan REST answers decoded into values or the exception that describes them (pure).

Why apart from the shell: the error shapes and the option-chain layout are what break
when the venue changes, so they are tested on hand-written bodies without a server.
Both error shapes of the data APIs are understood: ``{"status": "failed", "data":
{"805": "..."}}`` and ``{"errorType", "errorCode", "errorMessage"}``; a ``status`` other
than success without any detail ("failure" on option chains) is a retryable error.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from datetime import date
from typing import Any

import attrs

from adapters.dhan.codec import SEGMENT_CODES
from adapters.dhan.errors import (
    DhanApiError,
    DhanError,
    DhanRateLimited,
    numeric_code,
    rest_error,
)
from adapters.http import VenueHttpError, VenueProtocolError, excerpt, finite_number, parse_json

VENUE = "dhan"
MAX_QUOTE_INSTRUMENTS = 1000


@attrs.frozen
class Greeks:
    delta: float
    theta: float
    gamma: float
    vega: float


@attrs.frozen
class OptionLeg:
    """One ``ce`` or ``pe`` of a strike; prices may be 0 (no trade yet)."""

    security_id: int
    last_price: float
    previous_close_price: float
    oi: int
    previous_oi: int
    volume: int
    implied_volatility_pct: float  # the venue sends percent already (9.12 means 9.12 %)
    top_bid_price: float
    top_bid_qty: int
    top_ask_price: float
    top_ask_qty: int
    greeks: Greeks
    average_price: float = 0.0


@attrs.frozen
class StrikeLegs:
    ce: OptionLeg | None
    pe: OptionLeg | None


@attrs.frozen
class OptionChainSnapshot:
    """One expiry's chain; ``last_price`` is the underlying's (0 on holidays: the caller
    must not derive an ATM from it)."""

    underlying_scrip: int
    underlying_seg: str
    expiry: str
    last_price: float
    strikes: Mapping[float, StrikeLegs]
    ts_ms: int


# --------------------------------------------------------------------------- envelopes


def _body_text(body: bytes | str) -> str:
    return body.decode("utf-8", "replace") if isinstance(body, (bytes, bytearray)) else body


def envelope_error(envelope: dict[str, Any], what: str) -> DhanError | None:
    """The error an envelope reports, None when it reports success."""
    if "errorCode" in envelope or "errorType" in envelope:
        message = str(envelope.get("errorMessage") or envelope.get("errorType") or "")
        code = envelope.get("errorCode")
        if isinstance(code, str) or numeric_code(code) is not None:
            return rest_error(code, message, what)  # an unknown "DH-9xx" is a plain, final DhanApiError
        return DhanApiError(None, f"error without a code: {message}", what, retryable=True)
    status = envelope.get("status")
    if status == "success":
        return None
    data = envelope.get("data")
    if isinstance(data, dict):
        for key, value in data.items():
            if numeric_code(key) is not None:
                return rest_error(key, str(value), what)
    remarks = envelope.get("remarks")
    if isinstance(remarks, dict) and remarks.get("error_code") is not None:
        return rest_error(remarks["error_code"], str(remarks.get("error_message") or ""), what)
    if status is None:
        return None  # judged by the caller from the HTTP status and the shape of data
    return DhanApiError(None, f"status {status!r} without detail", what, retryable=True)


def decode_answer(status: int, body: bytes | str, what: str) -> Any:
    """``data`` of a successful answer, else raise the exception that describes it.

    A venue error body wins over the HTTP status; a 429 without one is still a rate
    limit; other bodies we cannot read become ``VenueHttpError`` (5xx retryable) or,
    on a 2xx, ``VenueProtocolError`` (malformed JSON: retryable).
    """
    try:
        envelope = parse_json(body, VENUE, what)
    except VenueProtocolError:
        if status == 429:
            raise DhanRateLimited(805, "HTTP 429", what) from None
        if status >= 400:
            raise VenueHttpError(VENUE, what, status, excerpt(_body_text(body))) from None
        raise
    if isinstance(envelope, dict):
        error = envelope_error(envelope, what)
        if error is not None:
            raise error
    if status == 429:
        raise DhanRateLimited(805, "HTTP 429", what)
    if status >= 400:
        raise VenueHttpError(VENUE, what, status, excerpt(_body_text(body)))
    if not isinstance(envelope, dict) or envelope.get("status") != "success" or "data" not in envelope:
        raise VenueProtocolError(VENUE, what, f"not a success envelope: {excerpt(str(envelope))!r}")
    return envelope["data"]


# --------------------------------------------------------------------------- bodies


def _number(obj: Mapping[str, Any], key: str, what: str) -> float:
    """A finite number; missing or null counts as 0 (the venue omits empty fields)."""
    value = obj.get(key)
    return 0.0 if value is None else finite_number(value, VENUE, what, key)


def _int(obj: Mapping[str, Any], key: str, what: str) -> int:
    return int(_number(obj, key, what))


def expiry_dates(data: Any, what: str = "optionchain/expirylist") -> list[str]:
    """The expiry list as sorted, distinct ``YYYY-MM-DD`` strings."""
    if not isinstance(data, list):
        raise VenueProtocolError(VENUE, what, f"data is not a list: {excerpt(str(data))!r}")
    try:
        parsed = {date.fromisoformat(item) for item in data}
    except (TypeError, ValueError):
        raise VenueProtocolError(VENUE, what, f"not YYYY-MM-DD dates: {excerpt(str(data))!r}") from None
    return [day.isoformat() for day in sorted(parsed)]


def option_leg(raw: Any, what: str) -> OptionLeg | None:
    """One leg; None when absent (``ce``/``pe`` may be missing)."""
    if raw is None or raw == {}:
        return None
    if not isinstance(raw, dict) or raw.get("security_id") is None:
        raise VenueProtocolError(VENUE, what, f"leg without security_id: {excerpt(str(raw))!r}")
    greeks = raw.get("greeks") or {}
    if not isinstance(greeks, dict):
        raise VenueProtocolError(VENUE, what, f"greeks is not an object: {excerpt(str(greeks))!r}")
    return OptionLeg(
        security_id=_int(raw, "security_id", what),
        last_price=_number(raw, "last_price", what),
        previous_close_price=_number(raw, "previous_close_price", what),
        oi=_int(raw, "oi", what),
        previous_oi=_int(raw, "previous_oi", what),
        volume=_int(raw, "volume", what),
        implied_volatility_pct=_number(raw, "implied_volatility", what),
        top_bid_price=_number(raw, "top_bid_price", what),
        top_bid_qty=_int(raw, "top_bid_quantity", what),
        top_ask_price=_number(raw, "top_ask_price", what),
        top_ask_qty=_int(raw, "top_ask_quantity", what),
        greeks=Greeks(*(_number(greeks, name, what) for name in ("delta", "theta", "gamma", "vega"))),
        average_price=_number(raw, "average_price", what),
    )


def option_chain(data: Any, scrip: int, seg: str, expiry: str, ts_ms: int,
                 what: str = "optionchain") -> OptionChainSnapshot:
    """The chain of ``data``; strike keys ("24950.000000") become floats."""
    if not isinstance(data, dict) or not isinstance(data.get("oc", {}), dict):
        raise VenueProtocolError(VENUE, what, f"data is not a chain: {excerpt(str(data))!r}")
    strikes: dict[float, StrikeLegs] = {}
    for key, legs in (data.get("oc") or {}).items():
        try:
            strike = float(key)
        except ValueError:
            raise VenueProtocolError(VENUE, what, f"strike key is not a number: {key!r}") from None
        if not math.isfinite(strike) or not isinstance(legs, dict):
            raise VenueProtocolError(VENUE, what, f"bad strike entry {key!r}: {excerpt(str(legs))!r}")
        strikes[strike] = StrikeLegs(ce=option_leg(legs.get("ce"), what), pe=option_leg(legs.get("pe"), what))
    return OptionChainSnapshot(underlying_scrip=scrip, underlying_seg=seg, expiry=expiry,
                               last_price=_number(data, "last_price", what), strikes=strikes, ts_ms=ts_ms)


def last_prices(data: Any, what: str = "marketfeed/ltp") -> dict[tuple[str, int], float]:
    """``data[segment]["<sid>"]["last_price"]`` as {(segment, sid): price}."""
    if not isinstance(data, dict):
        raise VenueProtocolError(VENUE, what, f"data is not an object: {excerpt(str(data))!r}")
    prices: dict[tuple[str, int], float] = {}
    for segment, by_sid in data.items():
        if not isinstance(by_sid, dict):
            raise VenueProtocolError(VENUE, what, f"{segment} is not an object: {excerpt(str(by_sid))!r}")
        for sid, quote in by_sid.items():
            if not (str(sid).isascii() and str(sid).isdigit()) or not isinstance(quote, dict):
                raise VenueProtocolError(VENUE, what, f"bad quote {segment}/{sid}: {excerpt(str(quote))!r}")
            prices[(segment, int(sid))] = _number(quote, "last_price", what)
    return prices


def quote_batches(instruments: Mapping[str, list[int]],
                  max_per_request: int = MAX_QUOTE_INSTRUMENTS) -> list[dict[str, list[int]]]:
    """Request bodies of at most ``max_per_request`` distinct instruments each."""
    batches: list[dict[str, list[int]]] = []
    current: dict[str, list[int]] = {}
    count = 0
    for segment, ids in instruments.items():
        if segment not in SEGMENT_CODES:
            raise ValueError(f"unknown exchange segment {segment!r}")
        for sid in dict.fromkeys(int(i) for i in ids):
            if count == max_per_request:
                batches.append(current)
                current, count = {}, 0
            current.setdefault(segment, []).append(sid)
            count += 1
    if current:
        batches.append(current)
    return batches
