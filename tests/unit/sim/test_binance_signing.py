"""SIGNED endpoint security: the docs' HMAC vectors, signature placement, errors, timing."""

from __future__ import annotations

import pytest

from adapters.sim.binance_errors import ApiError
from adapters.sim.binance_signing import (
    authenticate, check_timing, hmac_hex, request_params, signature_valid, split_signature,
)

# Binance's published HMAC example (USDⓈ-M general info, "SIGNED Endpoint Examples").
DOC_SECRET = "2b5eb11e18796d12d88f13dc27dbbd02c2cc51ff7059765ed9821957d82bb4d9"
DOC_PAYLOAD = ("symbol=BTCUSDT&side=BUY&type=LIMIT&quantity=1&price=9000&timeInForce=GTC"
               "&recvWindow=5000&timestamp=1591702613943")
DOC_SIGNATURE = "3c661234138461fcc7a7d8746c6558c9842d4e10870d2ecbedf7777cad694af9"
# The mixed query + body example, computed with `openssl dgst -sha256 -hmac` over the
# bare concatenation (the docs' own digest signs a stray space after "timestamp=").
MIXED_QUERY = "symbol=BTCUSDT&side=BUY&type=LIMIT&timeInForce=GTC"
MIXED_BODY = "quantity=1&price=9000&recvWindow=5000&timestamp=1591702613943"
MIXED_SIGNATURE = "30baaf0fab549bbeda7f5ef201898b34122da25fd23c646cac2c529aebe670a4"


def test_doc_vector() -> None:
    assert hmac_hex(DOC_SECRET, DOC_PAYLOAD) == DOC_SIGNATURE


def test_signature_in_query_or_body_or_split_and_case_insensitive() -> None:
    in_query = split_signature(f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}", "")
    in_body = split_signature("", f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE.upper()}")
    mixed = split_signature(MIXED_QUERY, f"{MIXED_BODY}&signature={MIXED_SIGNATURE}")
    assert in_query.payload == in_body.payload == DOC_PAYLOAD
    assert mixed.payload == MIXED_QUERY + MIXED_BODY
    assert all(signature_valid(DOC_SECRET, s) for s in (in_query, in_body, mixed))


def test_signature_must_be_last_and_cover_every_byte() -> None:
    assert split_signature(f"signature={DOC_SIGNATURE}&{DOC_PAYLOAD}", "").signature is None
    tampered = split_signature(f"{DOC_PAYLOAD.replace('9000', '9001')}&signature={DOC_SIGNATURE}", "")
    assert not signature_valid(DOC_SECRET, tampered)
    assert not signature_valid("other-secret", split_signature(f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}", ""))


def test_query_wins_over_body() -> None:
    assert request_params("a=1&b=2", "b=3&c=4") == {"a": "1", "b": "2", "c": "4"}


def _auth(query: str, *, key: str | None = "k", server_ms: int = 1_591_702_614_000) -> dict[str, str]:
    return authenticate(query=query, body="", api_key=key, api_keys={"k": DOC_SECRET}, ip="127.0.0.1",
                        server_ms=server_ms)


@pytest.mark.parametrize(("key", "code", "status"), [(None, -2014, 401), ("", -2014, 401), ("bad key", -2014, 401),
                                                     ("unknown", -2015, 401)])
def test_api_key_errors(key: str | None, code: int, status: int) -> None:
    with pytest.raises(ApiError) as caught:
        _auth(f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}", key=key)
    assert (caught.value.code, caught.value.http_status) == (code, status)
    if code == -2015:
        assert caught.value.msg == "Invalid API-key, IP, or permissions for action, request ip: 127.0.0.1"


def test_authenticate_ok_and_signature_errors() -> None:
    params = _auth(f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}")
    assert params["symbol"] == "BTCUSDT" and "signature" not in params
    with pytest.raises(ApiError) as caught:
        _auth(f"{DOC_PAYLOAD.replace('BUY', 'SELL')}&signature={DOC_SIGNATURE}")
    assert (caught.value.code, caught.value.msg) == (-1022, "Signature for this request is not valid.")
    with pytest.raises(ApiError) as caught:
        _auth(DOC_PAYLOAD)
    assert caught.value.code == -1102 and "'signature'" in caught.value.msg


def test_timing_rules() -> None:
    sent = {"timestamp": "100000"}
    check_timing(sent, server_ms=100_000 + 5000)  # exactly recvWindow late: accepted
    check_timing(sent, server_ms=100_000 - 999)  # 999 ms ahead: accepted
    with pytest.raises(ApiError, match="outside of the recvWindow"):
        check_timing(sent, server_ms=100_000 + 5001)
    with pytest.raises(ApiError, match="1000ms ahead of the server's time"):
        check_timing(sent, server_ms=100_000 - 1000)
    check_timing({"timestamp": "100000", "recvWindow": "60000"}, server_ms=159_000)
    for bad in ("60001", "0", "x"):
        with pytest.raises(ApiError) as caught:
            check_timing({"timestamp": "100000", "recvWindow": bad}, server_ms=100_000)
        assert caught.value.code == -1130
    with pytest.raises(ApiError) as caught:
        check_timing({}, server_ms=1)
    assert caught.value.code == -1102


def test_stale_timestamp_is_minus_1021_after_a_good_signature() -> None:
    with pytest.raises(ApiError) as caught:
        _auth(f"{DOC_PAYLOAD}&signature={DOC_SIGNATURE}", server_ms=1_591_702_613_943 + 60_000)
    assert caught.value.code == -1021 and caught.value.http_status == 400
