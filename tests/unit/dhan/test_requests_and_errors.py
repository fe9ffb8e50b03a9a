"""Dhan request encoders (feed JSON, quote batches) and the mapping of venue answers to
values or exceptions, on hand-written bodies in the shapes of venues.md."""

from __future__ import annotations

import json

import pytest

from adapters.dhan.bodies import (
    decode_answer,
    expiry_dates,
    last_prices,
    option_chain,
    quote_batches,
)
from adapters.dhan.codec import (
    disconnect_message,
    subscribe_messages,
    unsubscribe_messages,
)
from adapters.dhan.errors import (
    DhanApiError,
    DhanAuthError,
    DhanConfigError,
    DhanFeedClosed,
    DhanRateLimited,
    DhanTokenExpired,
    DhanTooManyConnections,
    feed_disconnect_error,
)
from adapters.dhan.feed import feed_url_with_auth, redact
from adapters.http import VenueHttpError, VenueProtocolError

# ------------------------------------------------------------------ feed requests


def test_subscribe_message_shape() -> None:
    [message] = subscribe_messages([("NSE_FNO", 42510), ("IDX_I", "13")], 15)
    assert json.loads(message) == {"RequestCode": 15, "InstrumentCount": 2, "InstrumentList": [
        {"ExchangeSegment": "NSE_FNO", "SecurityId": "42510"}, {"ExchangeSegment": "IDX_I", "SecurityId": "13"}]}


def test_subscribe_batches_of_at_most_100() -> None:
    instruments = [("NSE_FNO", sid) for sid in range(250)]
    messages = [json.loads(m) for m in subscribe_messages(instruments, 21)]
    assert [m["InstrumentCount"] for m in messages] == [100, 100, 50]
    assert all(m["InstrumentCount"] == len(m["InstrumentList"]) for m in messages)
    sent = [int(i["SecurityId"]) for m in messages for i in m["InstrumentList"]]
    assert sent == list(range(250))
    assert subscribe_messages([], 21) == []


def test_unsubscribe_and_disconnect_codes() -> None:
    assert json.loads(unsubscribe_messages([("NSE_EQ", 1)], 17)[0])["RequestCode"] == 18
    assert json.loads(unsubscribe_messages([("NSE_EQ", 1)], 22)[0])["RequestCode"] == 22
    assert json.loads(disconnect_message()) == {"RequestCode": 12}


@pytest.mark.parametrize("instruments,code", [
    ([("NSE_XX", 1)], 15), ([("NSE_FNO", "12a")], 15), ([("NSE_FNO", -1)], 15), ([("NSE_FNO", True)], 15),
    ([("NSE_FNO", 1)], 16), ([("NSE_FNO", 1)], 12)])
def test_bad_requests_raise_value_error(instruments: list, code: int) -> None:
    with pytest.raises(ValueError):
        subscribe_messages(instruments, code)


def test_feed_url_carries_auth_and_redaction_hides_the_token() -> None:
    url = feed_url_with_auth("wss://api-feed.dhan.co", "SECRET.jwt", "1000")
    assert url == "wss://api-feed.dhan.co/?version=2&token=SECRET.jwt&clientId=1000&authType=2"
    assert "SECRET" not in redact(url) and "clientId=1000" in redact(url)


# ------------------------------------------------------------------ quote batches


def test_quote_batches_hold_at_most_1000_distinct_instruments() -> None:
    batches = quote_batches({"NSE_FNO": list(range(1500)) + [3, 3], "IDX_I": [13]})
    assert [sum(len(ids) for ids in b.values()) for b in batches] == [1000, 501]
    assert batches[1]["IDX_I"] == [13]
    with pytest.raises(ValueError):
        quote_batches({"NOPE": [1]})


# ------------------------------------------------------------------ errors

WHAT = "optionchain"


def failed(code: int) -> bytes:
    return json.dumps({"status": "failed", "data": {str(code): "message"}}).encode()


@pytest.mark.parametrize("code,error,retryable", [
    (805, DhanRateLimited, True), (807, DhanTokenExpired, False), (808, DhanAuthError, False),
    (809, DhanAuthError, False), (810, DhanAuthError, False), (806, DhanAuthError, False),
    (811, DhanConfigError, False), (813, DhanConfigError, False), (814, DhanConfigError, False),
    (800, DhanApiError, True)])
def test_data_api_error_shape(code: int, error: type, retryable: bool) -> None:
    with pytest.raises(error) as raised:
        decode_answer(400, failed(code), WHAT)
    assert raised.value.code == code and raised.value.retryable is retryable


@pytest.mark.parametrize("code,error", [("807", DhanTokenExpired), (805, DhanRateLimited),
                                        ("DH-904", DhanRateLimited), ("DH-901", DhanAuthError),
                                        ("811", DhanConfigError)])
def test_error_type_code_message_shape(code: object, error: type) -> None:
    body = json.dumps({"errorType": "Data_Error", "errorCode": code, "errorMessage": "nope"})
    with pytest.raises(error):
        decode_answer(400, body, WHAT)


def test_status_failure_without_detail_is_retryable() -> None:
    body = {"status": "failure", "remarks": {"error_code": None, "error_type": None, "error_message": None},
            "data": ""}
    with pytest.raises(DhanApiError) as raised:
        decode_answer(200, json.dumps(body), WHAT)
    assert raised.value.retryable and raised.value.code is None


def test_unreadable_bodies() -> None:
    with pytest.raises(VenueProtocolError) as raised:
        decode_answer(200, b'{"status":"success","data":{"last_pr', WHAT)
    assert raised.value.retryable
    with pytest.raises(VenueHttpError) as gateway:
        decode_answer(502, b"<html>bad gateway</html>", WHAT)
    assert gateway.value.retryable
    with pytest.raises(DhanRateLimited):
        decode_answer(429, b"Too Many Requests", WHAT)
    with pytest.raises(VenueProtocolError) as shape:
        decode_answer(200, b'{"data": []}', WHAT)
    assert not shape.value.retryable


@pytest.mark.parametrize("reason,error", [(805, DhanTooManyConnections), (807, DhanTokenExpired),
                                          (808, DhanAuthError), (809, DhanAuthError), (4242, DhanFeedClosed)])
def test_feed_disconnect_reasons(reason: int, error: type) -> None:
    assert type(feed_disconnect_error(reason)) is error


# ------------------------------------------------------------------ bodies

CHAIN = {"status": "success", "data": {"last_price": 24964.25, "oc": {
    "24950.000000": {
        "ce": {"security_id": 42510, "last_price": 118.4, "average_price": 121.3, "oi": 4123500,
               "previous_oi": 2980125, "volume": 96541275, "previous_volume": 40218750,
               "previous_close_price": 96.15, "implied_volatility": 9.12, "top_bid_price": 118.35,
               "top_bid_quantity": 1575, "top_ask_price": 118.45, "top_ask_quantity": 450,
               "greeks": {"delta": 0.5412, "theta": -13.05, "gamma": 0.00131, "vega": 12.98}},
        "pe": {"security_id": 42511, "last_price": 0, "oi": 0, "greeks": {}}},
    "25000.500000": {"pe": {"security_id": 42513, "last_price": 3.5, "implied_volatility": 11.0}},
    "25100.000000": {}}}}


def test_option_chain_parses_legs_missing_legs_and_zero_prices() -> None:
    chain = option_chain(decode_answer(200, json.dumps(CHAIN), WHAT), 13, "IDX_I", "2024-10-31", 1)
    assert chain.last_price == 24964.25 and chain.expiry == "2024-10-31"
    assert sorted(chain.strikes) == [24950.0, 25000.5, 25100.0]
    ce = chain.strikes[24950.0].ce
    assert ce is not None and ce.security_id == 42510 and ce.implied_volatility_pct == 9.12
    assert (ce.top_bid_price, ce.top_bid_qty, ce.top_ask_price, ce.top_ask_qty) == (118.35, 1575, 118.45, 450)
    assert (ce.greeks.delta, ce.greeks.theta, ce.greeks.gamma, ce.greeks.vega) == (0.5412, -13.05, 0.00131, 12.98)
    assert (ce.oi, ce.previous_oi, ce.volume, ce.previous_close_price) == (4123500, 2980125, 96541275, 96.15)
    pe = chain.strikes[24950.0].pe
    assert pe is not None and pe.last_price == 0 and pe.greeks.delta == 0
    assert chain.strikes[25000.5].ce is None and chain.strikes[25100.0].pe is None


def test_holiday_chain_keeps_last_price_zero() -> None:
    chain = option_chain({"last_price": 0, "oc": {}}, 13, "IDX_I", "2024-10-31", 1)
    assert chain.last_price == 0 and chain.strikes == {}


@pytest.mark.parametrize("data", [[], {"oc": {"abc": {}}}, {"oc": {"1.0": {"ce": {"last_price": 1}}}},
                                  {"oc": {"1.0": {"ce": {"security_id": 1, "oi": "x"}}}}])
def test_chain_of_the_wrong_shape_is_a_protocol_error(data: object) -> None:
    with pytest.raises(VenueProtocolError):
        option_chain(data, 13, "IDX_I", "2024-10-31", 1)


def test_expiry_list_and_last_prices() -> None:
    assert expiry_dates(["2024-11-07", "2024-10-31", "2024-10-31"]) == ["2024-10-31", "2024-11-07"]
    with pytest.raises(VenueProtocolError):
        expiry_dates(["31-10-2024"])
    data = {"NSE_EQ": {"11536": {"last_price": 4520.5}}, "IDX_I": {"13": {"last_price": 24964.25}}}
    assert last_prices(data) == {("NSE_EQ", 11536): 4520.5, ("IDX_I", 13): 24964.25}
