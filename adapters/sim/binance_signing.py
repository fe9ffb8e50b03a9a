"""Binance SIGNED (TRADE / USER_DATA) endpoint security, as pure functions.

The venue signs ``totalParams``: the query string exactly as sent, concatenated with the
request body exactly as sent (no ``&`` at the join), up to but excluding the trailing
``signature`` parameter. HMAC-SHA256 with the API secret, hex, not case sensitive.
Timing: ``timestamp < serverTime + 1000 and serverTime - timestamp <= recvWindow``.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from urllib.parse import parse_qsl

import attrs

from adapters.sim import binance_errors as errors
from adapters.sim.binance_errors import ApiError

DEFAULT_RECV_WINDOW_MS = 5000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_TOLERANCE_MS = 1000
_SIGNATURE = "signature="


def hmac_hex(secret: str, payload: str) -> str:
    return hmac.new(secret.encode(), payload.encode(), hashlib.sha256).hexdigest()


def request_params(query: str, body: str) -> dict[str, str]:
    """Parameters from the body and the query string; the query string wins on duplicates."""
    params = dict(parse_qsl(body, keep_blank_values=True))
    params.update(parse_qsl(query, keep_blank_values=True))
    return params


@attrs.frozen
class SignedPayload:
    """What was signed and the signature sent for it (None: no signature parameter last)."""

    payload: str
    signature: str | None


def split_signature(query: str, body: str) -> SignedPayload:
    """Cut the trailing ``signature=<hex>`` off ``totalParams`` (query + body).

    The signature must be the last parameter; anything else is treated as unsigned.
    """
    total = query + body
    index = total.rfind(_SIGNATURE)
    at_param_start = index == 0 or index == len(query) or (index > 0 and total[index - 1] == "&")
    if index < 0 or not at_param_start:
        return SignedPayload(total, None)
    signature = total[index + len(_SIGNATURE):]
    if "&" in signature or not signature:
        return SignedPayload(total, None)
    payload = total[:index]
    return SignedPayload(payload[:-1] if payload.endswith("&") else payload, signature)


def signature_valid(secret: str, signed: SignedPayload) -> bool:
    if signed.signature is None:
        return False
    return hmac.compare_digest(hmac_hex(secret, signed.payload), signed.signature.lower())


def check_api_key(api_key: str | None, api_keys: Mapping[str, str], ip: str) -> str:
    """The secret of a known key; -2014 for a missing or malformed key, -2015 for an unknown one."""
    if not api_key or not api_key.isprintable() or any(c.isspace() for c in api_key):
        raise errors.bad_api_key_format()
    secret = api_keys.get(api_key)
    if secret is None:
        raise errors.rejected_api_key(ip)
    return secret


def _int_param(params: Mapping[str, str], name: str) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return None
    try:
        return int(raw)
    except ValueError:
        return None


def check_timing(params: Mapping[str, str], server_ms: int, max_recv_window_ms: int = MAX_RECV_WINDOW_MS) -> None:
    """Raise -1021 when ``timestamp`` is outside the recvWindow or more than 1 s ahead."""
    timestamp = _int_param(params, "timestamp")
    if timestamp is None:
        raise errors.mandatory("timestamp")
    recv_window = DEFAULT_RECV_WINDOW_MS
    if "recvWindow" in params:
        parsed = _int_param(params, "recvWindow")
        if parsed is None or parsed <= 0 or parsed > max_recv_window_ms:
            raise errors.invalid_value("recvWindow")
        recv_window = parsed
    if timestamp >= server_ms + AHEAD_TOLERANCE_MS:
        raise errors.timestamp_ahead()
    if server_ms - timestamp > recv_window:
        raise errors.timestamp_outside_window()


def authenticate(*, query: str, body: str, api_key: str | None, api_keys: Mapping[str, str], ip: str,
                 server_ms: int, max_recv_window_ms: int = MAX_RECV_WINDOW_MS) -> dict[str, str]:
    """The request's parameters once key, signature and timing check out; else ApiError.

    Order of checks: API key (-2014/-2015), ``timestamp`` present (-1102), signature
    present (-1102) and valid (-1022), then timing (-1130 recvWindow, -1021).
    """
    secret = check_api_key(api_key, api_keys, ip)
    params = request_params(query, body)
    if _int_param(params, "timestamp") is None:
        raise errors.mandatory("timestamp")
    signed = split_signature(query, body)
    if signed.signature is None:
        raise errors.mandatory("signature")
    if not signature_valid(secret, signed):
        raise errors.invalid_signature()
    check_timing(params, server_ms, max_recv_window_ms)
    params.pop("signature", None)
    return params


__all__ = ["ApiError", "SignedPayload", "authenticate", "check_api_key", "check_timing", "hmac_hex",
           "request_params", "signature_valid", "split_signature"]
