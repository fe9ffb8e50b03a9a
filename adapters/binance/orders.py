"""Binance USDⓈ-M SIGNED order requests and answers as pure functions.

Request side: order parameters (strings only: Decimals are written without exponent),
client order ids checked against the venue's pattern, the batch lists as compact JSON
(``batchOrders``, ``origClientOrderIdList``: no spaces), the percent-encoded query string
and its HMAC-SHA256 signature (hex), appended last. The signature covers the exact
string that is sent, so the shell sends it byte for byte (everything in the query
string, the body empty: Binance reads POST and DELETE parameters from either).

Answer side: the order objects of place/cancel answers, the per-item ``{"code","msg"}``
errors of batch answers (in input order), ``openOrders`` lists, ``/fapi/v1/time`` and the
net position of a symbol in ``/fapi/v2/positionRisk``.
A body of the wrong shape is a ``VenueProtocolError``; the shell decides what that means
for a write (its outcome is then unknown).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
from collections.abc import Mapping, Sequence
from decimal import Decimal, InvalidOperation
from typing import Any
from urllib.parse import quote

import attrs

from adapters.http import VenueProtocolError, excerpt
from adapters.binance.public import header_count

VENUE = "binance"
CLIENT_ORDER_ID_PATTERN = r"^[\.A-Z\:/a-z0-9_-]{1,36}$"
CLIENT_ORDER_ID = re.compile(CLIENT_ORDER_ID_PATTERN)
MAX_BATCH_PLACE = 5  # POST /fapi/v1/batchOrders
MAX_BATCH_CANCEL = 10  # DELETE /fapi/v1/batchOrders
MAX_RECV_WINDOW_MS = 60_000
SIDES = ("BUY", "SELL")
ORDER_TYPES = ("LIMIT",)  # what this adapter places (market making quotes)
TIMES_IN_FORCE = ("GTX", "GTC", "IOC", "FOK")  # GTX = post-only; GTD would need goodTillDate

# Error codes the shell branches on.
TIMESTAMP_OUT_OF_WINDOW = -1021  # clock skew: resync against /fapi/v1/time and retry once
INVALID_SIGNATURE = -1022
API_KEY_FORMAT = -2014
API_KEY_REJECTED = -2015  # unknown key, IP not whitelisted, or no permission
AUTH_ERROR_CODES = frozenset({INVALID_SIGNATURE, API_KEY_FORMAT, API_KEY_REJECTED})
TOO_MANY_ORDERS = -1015  # the account's order rate (10 s / 1 min), not the IP weight
# "execution status unknown" whatever the HTTP status: -1006 unexpected response from the
# message bus, -1007 timeout waiting for the backend (usually with HTTP 408 or 503).
STATUS_UNKNOWN_CODES = frozenset({-1006, -1007})


class InvalidOrder(ValueError):
    """An order (or a list of ids) the venue would refuse: caught before anything is sent."""


# --------------------------------------------------------------------------- request side


def check_client_order_id(client_order_id: str) -> str:
    """``client_order_id`` when it matches ``^[\\.A-Z\\:/a-z0-9_-]{1,36}$``, else InvalidOrder."""
    if not isinstance(client_order_id, str) or not CLIENT_ORDER_ID.fullmatch(client_order_id):
        raise InvalidOrder(f"client order id {client_order_id!r} does not match {CLIENT_ORDER_ID_PATTERN}")
    return client_order_id


def decimal_text(value: Decimal, field: str) -> str:
    """A positive finite Decimal written without exponent: ``Decimal("1E+2")`` -> ``"100"``,
    ``Decimal("0.00000100")`` -> ``"0.000001"``."""
    if isinstance(value, bool) or not isinstance(value, Decimal):
        raise InvalidOrder(f"{field} must be a Decimal, got {type(value).__name__} {value!r}")
    if not value.is_finite() or value <= 0:
        raise InvalidOrder(f"{field} must be finite and > 0, got {value}")
    return format(value.normalize(), "f")


SYMBOL = re.compile(r"[A-Z0-9_]{1,40}")  # BTCUSDT, 1000PEPEUSDT, BTCUSDT_250926


def check_symbol(value: str) -> str:
    if not isinstance(value, str) or not SYMBOL.fullmatch(value):
        raise InvalidOrder(f"symbol must be upper-case letters, digits and '_', got {value!r}")
    return value


@attrs.frozen
class NewOrder:
    """One limit order; post-only (``GTX``) unless told otherwise. Checked on creation."""

    symbol: str = attrs.field(converter=check_symbol)
    side: str
    quantity: Decimal
    price: Decimal
    client_order_id: str = attrs.field(converter=check_client_order_id)
    time_in_force: str = "GTX"
    order_type: str = "LIMIT"
    reduce_only: bool = False

    def __attrs_post_init__(self) -> None:
        if self.side not in SIDES:
            raise InvalidOrder(f"side must be one of {SIDES}, got {self.side!r}")
        if self.order_type not in ORDER_TYPES:
            raise InvalidOrder(f"order type must be one of {ORDER_TYPES}, got {self.order_type!r}")
        if self.time_in_force not in TIMES_IN_FORCE:
            raise InvalidOrder(f"timeInForce must be one of {TIMES_IN_FORCE}, got {self.time_in_force!r}")
        decimal_text(self.quantity, "quantity")
        decimal_text(self.price, "price")


def order_params(order: NewOrder) -> dict[str, str]:
    """The order's parameters as Binance names them, every value a string."""
    params = {
        "symbol": order.symbol, "side": order.side, "type": order.order_type, "timeInForce": order.time_in_force,
        "quantity": decimal_text(order.quantity, "quantity"), "price": decimal_text(order.price, "price"),
        "newClientOrderId": order.client_order_id,
    }
    if order.reduce_only:
        params["reduceOnly"] = "true"
    return params


def compact_json(value: Any) -> str:
    """JSON without spaces (Binance's list parameters must not contain any)."""
    return json.dumps(value, separators=(",", ":"), ensure_ascii=True)


def batch_orders_param(orders: Sequence[NewOrder]) -> str:
    """``batchOrders``: 1 to 5 orders with distinct client ids, as compact JSON."""
    if not 1 <= len(orders) <= MAX_BATCH_PLACE:
        raise InvalidOrder(f"a batch holds 1 to {MAX_BATCH_PLACE} orders, got {len(orders)}")
    ids = [order.client_order_id for order in orders]
    if len(set(ids)) != len(ids):
        raise InvalidOrder(f"client order ids repeat within the batch: {ids}")
    return compact_json([order_params(order) for order in orders])


def client_id_list_param(client_ids: Sequence[str]) -> str:
    """``origClientOrderIdList``: 1 to 10 valid ids as compact JSON (``["a","b"]``)."""
    if isinstance(client_ids, str) or not 1 <= len(client_ids) <= MAX_BATCH_CANCEL:
        raise InvalidOrder(f"a batch cancel names 1 to {MAX_BATCH_CANCEL} client ids, got {client_ids!r}")
    return compact_json([check_client_order_id(cid) for cid in client_ids])


def check_recv_window(recv_window_ms: int | None) -> int | None:
    if recv_window_ms is None:
        return None
    if isinstance(recv_window_ms, bool) or not isinstance(recv_window_ms, int) \
            or not 0 < recv_window_ms <= MAX_RECV_WINDOW_MS:
        raise ValueError(f"recv_window_ms must be an int in 1..{MAX_RECV_WINDOW_MS} or None, got {recv_window_ms!r}")
    return recv_window_ms


def encode_query(params: Sequence[tuple[str, str]]) -> str:
    """``k=v&...`` in the given order, every reserved character percent-encoded (the
    quotes, brackets, braces, colons and commas of JSON values included)."""
    return "&".join(f"{quote(key, safe='')}={quote(value, safe='')}" for key, value in params)


def hmac_sha256_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


@attrs.frozen
class SignedQuery:
    """The signed payload and its signature; ``query`` is what goes on the wire.

    The signature never shows in ``repr`` (nor should ``query`` be logged)."""

    payload: str
    signature: str = attrs.field(repr=False)

    @property
    def query(self) -> str:
        return f"{self.payload}&signature={self.signature}"


def signed_query(params: Sequence[tuple[str, str]], secret: str, timestamp_ms: int,
                 recv_window_ms: int | None) -> SignedQuery:
    """``params`` + ``recvWindow`` (when given) + ``timestamp``, encoded, then signed."""
    items = list(params)
    if recv_window_ms is not None:
        items.append(("recvWindow", str(recv_window_ms)))
    items.append(("timestamp", str(int(timestamp_ms))))
    payload = encode_query(items)
    return SignedQuery(payload, hmac_sha256_hex(secret, payload))


def clock_offset_ms(server_ms: int, sent_ms: float, received_ms: float) -> int:
    """Server time minus local time, taking the server's reading at the round trip's middle."""
    return round(server_ms - (sent_ms + received_ms) / 2.0)


# --------------------------------------------------------------------------- answer side


@attrs.frozen
class PlaceResult:
    """One order's outcome: accepted (``ok``, with the venue's order fields) or refused
    (``code``/``msg``, e.g. -5022 post-only would cross). Also the outcome of one cancel."""

    ok: bool
    client_order_id: str
    order_id: int | None = None
    status: str | None = None  # NEW, PARTIALLY_FILLED, FILLED, CANCELED, EXPIRED ...
    price: Decimal | None = None
    orig_qty: Decimal | None = None
    executed_qty: Decimal | None = None
    code: int | None = None
    msg: str = ""

    @property
    def status_unknown(self) -> bool:
        """A refused item whose code says the venue does not know either (-1006, -1007):
        reconcile it like an ``OrderStatusUnknown``."""
        return not self.ok and self.code in STATUS_UNKNOWN_CODES


CancelResult = PlaceResult


@attrs.frozen
class OpenOrder:
    """One resting order as ``GET /fapi/v1/openOrders`` lists it."""

    symbol: str
    order_id: int
    client_order_id: str
    side: str
    status: str
    order_type: str
    time_in_force: str
    price: Decimal
    orig_qty: Decimal
    executed_qty: Decimal
    time_ms: int
    update_time_ms: int


def _fail(what: str, detail: str) -> VenueProtocolError:
    return VenueProtocolError(VENUE, what, detail)


def _int(entry: Mapping[str, Any], field: str, what: str) -> int:
    value = entry.get(field)
    if isinstance(value, bool) or not isinstance(value, int):
        raise _fail(what, f"{field} is not an integer: {excerpt(str(entry))!r}")
    return value


def _str(entry: Mapping[str, Any], field: str, what: str) -> str:
    value = entry.get(field)
    if not isinstance(value, str) or not value:
        raise _fail(what, f"{field} missing or not a string: {excerpt(str(entry))!r}")
    return value


def _decimal(entry: Mapping[str, Any], field: str, what: str) -> Decimal:
    value = entry.get(field)
    if not isinstance(value, str):
        raise _fail(what, f"{field} is not a decimal string: {excerpt(str(entry))!r}")
    try:
        number = Decimal(value)
    except InvalidOperation:
        raise _fail(what, f"{field} is not a number: {value!r}") from None
    if not number.is_finite():
        raise _fail(what, f"{field} is not finite: {value!r}")
    return number


def is_item_error(entry: Any) -> bool:
    """A ``{"code", "msg"}`` item (an order object never carries ``code``)."""
    return isinstance(entry, dict) and "code" in entry and "orderId" not in entry


def order_result_from(entry: Any, what: str, client_order_id: str) -> PlaceResult:
    """One order object or one ``{"code","msg"}`` error, for the order sent as ``client_order_id``.

    An accepted order must carry that id back: a different one means the answer is not
    about the order we think, and the caller cannot trust any of it.
    """
    if not isinstance(entry, dict):
        raise _fail(what, f"expected an object, got {excerpt(str(entry))!r}")
    if is_item_error(entry):
        return PlaceResult(ok=False, client_order_id=client_order_id, code=_int(entry, "code", what),
                           msg=str(entry.get("msg", "")))
    echoed = _str(entry, "clientOrderId", what)
    if echoed != client_order_id:
        raise _fail(what, f"answer for client id {echoed!r} where {client_order_id!r} was sent")
    return PlaceResult(ok=True, client_order_id=echoed, order_id=_int(entry, "orderId", what),
                       status=_str(entry, "status", what), price=_decimal(entry, "price", what),
                       orig_qty=_decimal(entry, "origQty", what), executed_qty=_decimal(entry, "executedQty", what))


def batch_results_from(body: Any, what: str, client_ids: Sequence[str]) -> list[PlaceResult]:
    """A batch answer: one item per request item, in input order."""
    if not isinstance(body, list):
        raise _fail(what, f"expected a list, got {excerpt(str(body))!r}")
    if len(body) != len(client_ids):
        raise _fail(what, f"{len(body)} results for {len(client_ids)} items: {excerpt(str(body))!r}")
    return [order_result_from(entry, what, cid) for entry, cid in zip(body, client_ids)]


def open_order_from(entry: Any, what: str) -> OpenOrder:
    if not isinstance(entry, dict):
        raise _fail(what, f"expected an object, got {excerpt(str(entry))!r}")
    return OpenOrder(
        symbol=_str(entry, "symbol", what), order_id=_int(entry, "orderId", what),
        client_order_id=_str(entry, "clientOrderId", what), side=_str(entry, "side", what),
        status=_str(entry, "status", what), order_type=_str(entry, "type", what),
        time_in_force=_str(entry, "timeInForce", what), price=_decimal(entry, "price", what),
        orig_qty=_decimal(entry, "origQty", what), executed_qty=_decimal(entry, "executedQty", what),
        time_ms=_int(entry, "time", what), update_time_ms=_int(entry, "updateTime", what))


def open_orders_from(body: Any, what: str) -> list[OpenOrder]:
    """Every open order; one unreadable entry fails the whole answer (reconciliation must
    not miss an order)."""
    if not isinstance(body, list):
        raise _fail(what, f"expected a list, got {excerpt(str(body))!r}")
    return [open_order_from(entry, what) for entry in body]


def cancel_all_from(body: Any, what: str) -> None:
    """``{"code": 200, "msg": "The operation of cancel all open order is done."}``."""
    if not isinstance(body, dict) or body.get("code") != 200:
        raise _fail(what, f"expected code 200, got {excerpt(str(body))!r}")


def server_time_from(body: Any, what: str = "GET /fapi/v1/time") -> int:
    if not isinstance(body, dict):
        raise _fail(what, f"expected an object, got {excerpt(str(body))!r}")
    server_ms = _int(body, "serverTime", what)
    if server_ms <= 0:
        raise _fail(what, f"serverTime is not a timestamp: {server_ms}")
    return server_ms


POSITION_SIDES = ("BOTH", "LONG", "SHORT")


def position_from(body: Any, symbol: str, what: str = "GET /fapi/v2/positionRisk") -> Decimal:
    """The net base quantity of ``symbol`` (+ long, - short) in a ``positionRisk`` answer.

    One-way mode lists one ``BOTH`` entry per symbol; hedge mode lists ``LONG`` and
    ``SHORT`` (a short's ``positionAmt`` is negative) and may add ``BOTH``: the entries of
    the symbol are summed. No entry for the symbol is a flat position (0). Entries of
    other symbols are ignored; a malformed entry, or one position side listed twice for
    the symbol, fails the whole answer (a wrong position is worse than none).
    """
    if not isinstance(body, list):
        raise _fail(what, f"expected a list, got {excerpt(str(body))!r}")
    net = Decimal(0)
    sides: set[str] = set()
    for entry in body:
        if not isinstance(entry, dict):
            raise _fail(what, f"expected an object, got {excerpt(str(entry))!r}")
        if _str(entry, "symbol", what) != symbol:
            continue
        side = entry.get("positionSide", "BOTH")
        if side not in POSITION_SIDES:
            raise _fail(what, f"positionSide is not one of {POSITION_SIDES}: {excerpt(str(entry))!r}")
        if side in sides:
            raise _fail(what, f"{symbol} lists positionSide {side} twice: {excerpt(str(body))!r}")
        sides.add(side)
        net += _decimal(entry, "positionAmt", what)
    return net


def order_count(headers: Mapping[str, str], name: str) -> int | None:
    """``X-MBX-ORDER-COUNT-10S`` / ``-1M`` as an int; None when absent or unreadable."""
    return header_count(headers, name)
