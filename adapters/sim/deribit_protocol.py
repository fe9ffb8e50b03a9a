"""Deribit's JSON-RPC 2.0 wire format and credit limits, as pure functions over plain values.

Shared by the HTTP (``GET /api/v2/public/<method>?<params>``) and WebSocket
(``/ws/api/v2``) transports: the same envelope, the same errors, the same credit pools.
Error shapes follow what the venue answers (HTTP 400 with the JSON-RPC body):
``-32602 Invalid params`` with ``data: {"param", "reason"}``, ``-32601 Method not found``,
``10028 too_many_requests``, ``10030 must_be_websocket_request``, ``11050 bad_request``,
``11094 internal_server_error``, ``13009 unauthorized``.
"""

from __future__ import annotations

import json
from typing import Any, Callable, Protocol

import attrs

from engine.ratelimit import BucketState, refill_bucket

SETTLEMENT_CURRENCIES = ("BTC", "ETH", "USDC", "USDT", "EURR")
KINDS = ("future", "option", "spot", "future_combo", "option_combo")
WS_ONLY_METHODS = ("public/subscribe", "public/unsubscribe", "public/unsubscribe_all",
                   "public/set_heartbeat", "public/disable_heartbeat")
API_VERSION = "1.2.26"


class RpcError(Exception):
    """A JSON-RPC error answer: ``{"code", "message"[, "data"]}``."""

    def __init__(self, code: int, message: str, data: Any = None) -> None:
        super().__init__(f"{code} {message} {data or ''}".strip())
        self.code, self.message, self.data = code, message, data

    def as_dict(self) -> dict[str, Any]:
        body: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.data is not None:
            body["data"] = self.data
        return body

    @property
    def is_validation(self) -> bool:
        """The caller's fault (counted as ``rejected``), not the server's or a limit's."""
        return self.code in (-32600, -32601, -32602, 10030, 11050, 13009)


def invalid_params(param: str, reason: str) -> RpcError:
    return RpcError(-32602, "Invalid params", {"param": param, "reason": reason})


def too_many_requests() -> RpcError:
    return RpcError(10028, "too_many_requests")


def internal_error() -> RpcError:
    return RpcError(11094, "internal_server_error")


def bad_request(reason: str) -> RpcError:
    return RpcError(11050, "bad_request", reason)


def envelope(*, us_in: int, us_out: int, result: Any = None, error: RpcError | None = None,
             request_id: Any = None) -> dict[str, Any]:
    """The answer object, keys in the venue's order; ``id`` only when the request had one."""
    body: dict[str, Any] = {"jsonrpc": "2.0"}
    if request_id is not None:
        body["id"] = request_id
    if error is not None:
        body["error"] = error.as_dict()
    else:
        body["result"] = result
    body.update(usIn=us_in, usOut=us_out, usDiff=us_out - us_in, testnet=False)
    return body


def notification(channel: str, data: Any) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "subscription", "params": {"channel": channel, "data": data}}


def heartbeat_request() -> dict[str, Any]:
    return {"jsonrpc": "2.0", "method": "heartbeat", "params": {"type": "test_request"}}


def encode(message: dict[str, Any]) -> str:
    return json.dumps(message, separators=(",", ":"))


def truncated(text: str) -> str:
    """A corrupt frame: the first half of a JSON text, never parseable."""
    return text[: max(1, len(text) // 2)]


# --------------------------------------------------------------------------- credits


@attrs.frozen
class CreditPool:
    """A credit bucket per client: ``cost`` per request from ``capacity``, refilled per second."""

    name: str
    cost: float
    capacity: float
    refill_per_s: float


@attrs.frozen
class DeribitLimits:
    """Deribit's published defaults (Rate Limits article): non-matching requests 500 of
    50,000 refilled at 10,000/s (burst 100, 20/s); ``public/get_instruments`` its own pool of
    10,000 of 500,000 at 10,000/s (burst 50, 1/s); ``public/subscribe`` 3,000 of 30,000 at
    10,000/s (burst 10, about 3.3/s)."""

    default: CreditPool = CreditPool("default", 500, 50_000, 10_000)
    instruments: CreditPool = CreditPool("get_instruments", 10_000, 500_000, 10_000)
    subscribe: CreditPool = CreditPool("subscribe", 3_000, 30_000, 10_000)

    def pool_for(self, method: str) -> CreditPool:
        if method == "public/get_instruments":
            return self.instruments
        if method == "public/subscribe":
            return self.subscribe
        return self.default


def try_spend(state: BucketState | None, now_s: float, pool: CreditPool) -> tuple[BucketState, bool]:
    """Take ``pool.cost`` credits if they are all there; a refused request costs nothing."""
    state = refill_bucket(state or BucketState(tokens=pool.capacity), now_s, pool.capacity, pool.refill_per_s)
    if state.tokens < pool.cost:
        return state, False
    return attrs.evolve(state, tokens=state.tokens - pool.cost), True


# --------------------------------------------------------------------------- methods


class VenueView(Protocol):
    """What the public methods read from the simulated venue."""

    def index_price(self, index_name: str) -> float | None: ...

    def index_names(self) -> list[str]: ...

    def option_rows(self, currency: str, *, summaries: bool) -> list[dict[str, Any]]: ...

    def now_ms(self) -> int: ...


def _str_param(params: dict[str, Any], name: str, *, required: bool) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise invalid_params(name, "value is required")
        return None
    if not isinstance(value, str):
        raise invalid_params(name, "must be a string")
    return value


def _bool_param(params: dict[str, Any], name: str) -> bool:
    value = params.get(name, False)
    if isinstance(value, bool):
        return value
    if value in ("true", "false"):
        return value == "true"
    raise invalid_params(name, "must be a boolean")


def _currency_and_kind(params: dict[str, Any], *, allow_any: bool) -> tuple[str, str | None]:
    currency = _str_param(params, "currency", required=True)
    if currency not in SETTLEMENT_CURRENCIES and not (allow_any and currency == "any"):
        raise invalid_params("currency", "invalid currency")
    kind = _str_param(params, "kind", required=False)
    if kind is not None and kind not in KINDS:
        raise invalid_params("kind", "invalid kind")
    assert currency is not None
    return currency, kind


def get_index_price(view: VenueView, params: dict[str, Any]) -> dict[str, float]:
    name = _str_param(params, "index_name", required=True)
    price = view.index_price(name or "")
    if price is None:
        raise invalid_params("index_name", "invalid index_name")
    return {"index_price": price, "estimated_delivery_price": price}


def get_instruments(view: VenueView, params: dict[str, Any]) -> list[dict[str, Any]]:
    currency, kind = _currency_and_kind(params, allow_any=True)
    if _bool_param(params, "expired") or kind not in (None, "option"):
        return []  # only live options are simulated
    return view.option_rows(currency, summaries=False)


def get_book_summary_by_currency(view: VenueView, params: dict[str, Any]) -> list[dict[str, Any]]:
    currency, kind = _currency_and_kind(params, allow_any=False)
    if kind not in (None, "option"):
        return []
    return view.option_rows(currency, summaries=True)


PUBLIC_METHODS: dict[str, Callable[[VenueView, dict[str, Any]], Any]] = {
    "public/get_index_price": get_index_price,
    "public/get_index_price_names": lambda view, _: view.index_names(),
    "public/get_instruments": get_instruments,
    "public/get_book_summary_by_currency": get_book_summary_by_currency,
    "public/get_time": lambda view, _: view.now_ms(),
    "public/test": lambda view, _: {"version": API_VERSION},
}


def call_method(view: VenueView, method: str, params: Any) -> Any:
    """Run one public method over HTTP or WebSocket; raise ``RpcError`` the venue's way."""
    if not isinstance(params, dict):
        raise RpcError(-32602, "Invalid params")
    if method.startswith("private/"):
        raise RpcError(13009, "unauthorized", {"reason": "invalid_token"})
    if method in WS_ONLY_METHODS:
        raise RpcError(10030, "must_be_websocket_request")
    handler = PUBLIC_METHODS.get(method)
    if handler is None:
        raise RpcError(-32601, "Method not found")
    return handler(view, params)


def parse_request(text: str) -> tuple[Any, str, dict[str, Any]]:
    """``(id, method, params)`` of a WebSocket text frame, or ``RpcError`` (11050 bad_request)."""
    try:
        message = json.loads(text)
    except ValueError:
        raise bad_request("invalid json") from None
    if not isinstance(message, dict) or not isinstance(message.get("method"), str):
        raise bad_request("invalid request")
    params = message.get("params", {})
    return message.get("id"), message["method"], params if params is not None else {}
