"""Binance USDⓈ-M error answers, worded as the venue words them.

Codes and messages follow Binance's published error-code page for USDⓈ-M futures;
where the page leaves a ``%s`` the real answers observed in public client logs fill it
(e.g. -1003 names the IP and the limit). Every error is ``{"code", "msg"}``.
"""

from __future__ import annotations

import attrs

from adapters.sim.matching import (
    REJECT_DUPLICATE_ID, REJECT_FOK, REJECT_MAX_OPEN, REJECT_OFF_GRID, REJECT_POST_ONLY,
)


@attrs.define(auto_exc=True)
class ApiError(Exception):
    """An answer the venue gives instead of a result."""

    http_status: int
    code: int
    msg: str

    def body(self) -> dict[str, object]:
        return {"code": self.code, "msg": self.msg}


def too_many_requests(ip: str, limit: int) -> ApiError:
    """429: the IP's request weight for the minute is used up."""
    return ApiError(429, -1003, f"Too many requests; current limit of IP({ip}) is {limit} requests per minute. "
                                "Please use the websocket for live updates to avoid polling the API.")


def too_many_requests_window(ip: str, limit: int, window: str) -> ApiError:
    """429 of an endpoint with its own cap (openInterestHist: 1000 per 5 minutes). Unverified wording."""
    return ApiError(429, -1003, f"Too many requests; current limit of IP({ip}) is {limit} requests per {window}. "
                                "Please use the websocket for live updates to avoid polling the API.")


def ip_banned(ip: str, until_ms: int) -> ApiError:
    """418: the IP kept calling after 429s."""
    return ApiError(418, -1003, f"Way too many requests; IP({ip}) banned until {until_ms}. "
                                "Please use the websocket for live updates to avoid bans.")


def too_many_orders(limit: int, interval: str) -> ApiError:
    return ApiError(429, -1015, f"Too many new orders; current limit is {limit} orders per {interval}.")


def server_error() -> ApiError:
    """503 that Binance documents as a failure: safe to resend."""
    return ApiError(503, -1001, "Internal error; unable to process your request. Please try again.")


def unknown_execution() -> ApiError:
    """503 with execution status UNKNOWN: the order may well have been placed."""
    return ApiError(503, -1000, "Unknown error, please check your request or try again later.")


def mandatory(name: str) -> ApiError:
    return ApiError(400, -1102, f"Mandatory parameter '{name}' was not sent, was empty/null, or malformed.")


def one_of_mandatory(first: str, second: str) -> ApiError:
    return ApiError(400, -1102, f"Param '{first}' or '{second}' must be sent, but both were empty/null!")


def invalid_value(name: str) -> ApiError:
    return ApiError(400, -1130, f"Data sent for parameter '{name}' is not valid.")


def illegal_chars(name: str, legal: str) -> ApiError:
    return ApiError(400, -1100, f"Illegal characters found in parameter '{name}'; legal range is '{legal}'.")


def min_notional(notional: str) -> ApiError:
    return ApiError(400, -4164, f"Order's notional must be no smaller than {notional} (unless you choose reduce only)")


def batch_size(count: int) -> ApiError:
    return ApiError(400, -4082, f"Invalid number of batch place orders: {count}")


def bad_api_key_format() -> ApiError:
    return ApiError(401, -2014, "API-key format invalid.")


def rejected_api_key(ip: str) -> ApiError:
    return ApiError(401, -2015, f"Invalid API-key, IP, or permissions for action, request ip: {ip}")


def _fixed(code: int, msg: str, status: int = 400) -> ApiError:
    return ApiError(status, code, msg)


def invalid_symbol() -> ApiError:
    return _fixed(-1121, "Invalid symbol.")


def invalid_symbol_status() -> ApiError:
    return _fixed(-1122, "Invalid symbol status.")


def invalid_signature() -> ApiError:
    return _fixed(-1022, "Signature for this request is not valid.")


def timestamp_outside_window() -> ApiError:
    return _fixed(-1021, "Timestamp for this request is outside of the recvWindow.")


def timestamp_ahead() -> ApiError:
    return _fixed(-1021, "Timestamp for this request was 1000ms ahead of the server's time.")


def invalid_side() -> ApiError:
    return _fixed(-1117, "Invalid side.")


def invalid_order_type() -> ApiError:
    return _fixed(-1116, "Invalid orderType.")


def invalid_tif() -> ApiError:
    return _fixed(-1115, "Invalid timeInForce.")


def algo_order_type() -> ApiError:
    return _fixed(-4120, "Order type not supported for this endpoint. Please use the Algo Order API endpoints instead.")


def precision() -> ApiError:
    return _fixed(-1111, "Precision is over the maximum defined for this asset.")


def price_not_positive() -> ApiError:
    return _fixed(-4001, "Price less than 0.")


def price_above_max() -> ApiError:
    return _fixed(-4002, "Price greater than max price.")


def price_below_min() -> ApiError:
    return _fixed(-4013, "Price less than min price.")


def price_off_tick() -> ApiError:
    return _fixed(-4014, "Price not increased by tick size.")


def price_above_cap() -> ApiError:
    return _fixed(-4016, "Price is higher than mark price multiplier cap.")


def price_below_floor() -> ApiError:
    return _fixed(-4024, "Price is lower than mark price multiplier floor.")


def qty_not_positive() -> ApiError:
    return _fixed(-4003, "Quantity less than or equal to zero.")


def qty_below_min() -> ApiError:
    return _fixed(-4004, "Quantity less than min quantity.")


def qty_above_max() -> ApiError:
    return _fixed(-4005, "Quantity greater than max quantity.")


def qty_off_step() -> ApiError:
    return _fixed(-4023, "Qty not increased by step size.")


def client_id_too_long() -> ApiError:
    return _fixed(-4015, "Client order id length should not be more than 36 chars")


def client_id_empty() -> ApiError:
    return _fixed(-1118, "New client order ID was empty.")


def client_id_duplicated() -> ApiError:
    return _fixed(-4116, "clientOrderId is duplicated")


def post_only_rejected() -> ApiError:
    return _fixed(-5022, "Due to the order could not be executed as maker, the Post Only order will be rejected.")


def fok_rejected() -> ApiError:
    return _fixed(-5021, "Due to the order could not be filled immediately, the FOK order has been rejected.")


def max_open_orders() -> ApiError:
    return _fixed(-2025, "Reach max open order limit.")


def margin_insufficient() -> ApiError:
    return _fixed(-2019, "Margin is insufficient.")


def unknown_order_sent() -> ApiError:
    return _fixed(-2011, "Unknown order sent.")


def order_does_not_exist() -> ApiError:
    return _fixed(-2013, "Order does not exist.")


def cancel_size() -> ApiError:
    return _fixed(-4032, "Exceed maximum cancel order size.")


# The matching engine's refusals as Binance answers them (the simulated Binance and the paper venue).
MATCHING_REJECTIONS = {
    REJECT_POST_ONLY: post_only_rejected,
    REJECT_FOK: fok_rejected,
    REJECT_DUPLICATE_ID: client_id_duplicated,
    REJECT_MAX_OPEN: max_open_orders,
    REJECT_OFF_GRID: price_off_tick,
}
