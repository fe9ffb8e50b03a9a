"""Binance signed orders: request building, signing and answer decoding (pure), and the
shell's rules (clock offset, -1021, unknown status, auth errors, throttles) over a
scripted transport on trio's MockClock."""

from __future__ import annotations

import json
from collections.abc import Callable
from decimal import Decimal
from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest
import trio

from adapters.binance.orders import (
    MAX_BATCH_CANCEL, InvalidOrder, NewOrder, OpenOrder, PlaceResult, batch_orders_param, batch_results_from,
    cancel_all_from, check_client_order_id, check_recv_window, client_id_list_param, clock_offset_ms, compact_json,
    decimal_text, encode_query, hmac_sha256_hex, open_orders_from, order_count, order_params, position_from,
    server_time_from, signed_query,
)
from adapters.binance.public import BinanceError
from adapters.binance.signed import BinanceAuthError, BinanceSigned, OrderStatusUnknown
from adapters.http import VenueProtocolError
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import WindowBudget

DOC_SECRET = "NhqPtmdSJYdKjVHjA7PZj4Mge3R5YNiP1e3UZjInClVN65XAbvqqM6A7H5fATj0j"
DOC_QUERY = ("symbol=LTCBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1&recvWindow=5000"
             "&timestamp=1499827319559")
DOC_SIGNATURE = "c8db56825ae71d6d79447849e617115f4a920fa2acdcab2b053c4b2838bd6b71"
KEY, SECRET = "unit-key", "unit-secret-do-not-log"
SERVER_AHEAD_MS = 7_000


def order(cid: str = "q-1", side: str = "BUY", price: str = "2000.5", qty: str = "0.010") -> NewOrder:
    return NewOrder(symbol="ETHUSDT", side=side, quantity=Decimal(qty), price=Decimal(price), client_order_id=cid)


def order_json(cid: str, status: str = "NEW", price: str = "2000.50", qty: str = "0.010") -> dict[str, Any]:
    return {"orderId": 8389765 + len(cid), "symbol": "ETHUSDT", "status": status, "clientOrderId": cid,
            "price": price, "avgPrice": "0.00", "origQty": qty, "executedQty": "0.000", "cumQty": "0.000",
            "cumQuote": "0.00000", "timeInForce": "GTX", "type": "LIMIT", "reduceOnly": False, "side": "BUY",
            "positionSide": "BOTH", "updateTime": 1717000000123}


# --------------------------------------------------------------------------- pure: signing


def test_the_signature_of_binances_documented_example() -> None:
    assert hmac_sha256_hex(DOC_SECRET, DOC_QUERY) == DOC_SIGNATURE
    params = [("symbol", "LTCBTC"), ("side", "BUY"), ("type", "LIMIT"), ("timeInForce", "GTC"), ("quantity", "1"),
              ("price", "0.1")]
    signed = signed_query(params, DOC_SECRET, 1499827319559, 5000)
    assert signed.payload == DOC_QUERY
    assert signed.query == f"{DOC_QUERY}&signature={DOC_SIGNATURE}"  # the signature goes last
    assert DOC_SIGNATURE not in repr(signed)


def test_recv_window_is_optional_and_bounded() -> None:
    assert signed_query([("symbol", "ETHUSDT")], "s", 5, None).payload == "symbol=ETHUSDT&timestamp=5"
    assert check_recv_window(60_000) == 60_000 and check_recv_window(None) is None
    for bad in (0, 60_001, -1, 5000.0, True):
        with pytest.raises(ValueError):
            check_recv_window(bad)  # type: ignore[arg-type]


def test_json_lists_are_compact_and_percent_encoded() -> None:
    batch = batch_orders_param([order("a-1"), order("a-2", side="SELL", price="2100")])
    assert " " not in batch
    assert json.loads(batch)[1] == {"symbol": "ETHUSDT", "side": "SELL", "type": "LIMIT", "timeInForce": "GTX",
                                    "quantity": "0.01", "price": "2100", "newClientOrderId": "a-2"}
    assert client_id_list_param(["my_id_1", "my_id_2"]) == '["my_id_1","my_id_2"]'
    assert compact_json({"a": [1, 2]}) == '{"a":[1,2]}'
    encoded = encode_query([("symbol", "ETHUSDT"), ("origClientOrderIdList", '["x:1","y/2"]')])
    assert encoded == "symbol=ETHUSDT&origClientOrderIdList=%5B%22x%3A1%22%2C%22y%2F2%22%5D"
    assert dict(parse_qsl(encoded))["origClientOrderIdList"] == '["x:1","y/2"]'


def test_decimals_are_written_without_exponent() -> None:
    assert decimal_text(Decimal("1E+2"), "q") == "100"
    assert decimal_text(Decimal("0.00000100"), "q") == "0.000001"
    assert decimal_text(Decimal("65000.10"), "p") == "65000.1"
    assert decimal_text(Decimal("1e-8"), "p") == "0.00000001"
    for bad in (Decimal("0"), Decimal("-1"), Decimal("NaN"), Decimal("Infinity"), 1.5, "1"):
        with pytest.raises(InvalidOrder):
            decimal_text(bad, "q")  # type: ignore[arg-type]


def test_order_params_default_to_post_only_limits() -> None:
    assert order_params(order()) == {"symbol": "ETHUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX",
                                     "quantity": "0.01", "price": "2000.5", "newClientOrderId": "q-1"}
    reduce = NewOrder(symbol="BTCUSDT_250926", side="SELL", quantity=Decimal("1"), price=Decimal("1"),
                      client_order_id="r", time_in_force="GTC", reduce_only=True)
    assert order_params(reduce)["reduceOnly"] == "true" and order_params(reduce)["timeInForce"] == "GTC"


@pytest.mark.parametrize("cid", ["a", "A.b:c/d_e-f", "x" * 36, "mm-BTCUSDT-1717000000-17"])
def test_valid_client_order_ids(cid: str) -> None:
    assert check_client_order_id(cid) == cid


@pytest.mark.parametrize("cid", ["", "x" * 37, "a b", "a#b", "prix-é", "a\n", "a,b", "a+b"])
def test_invalid_client_order_ids_are_refused_before_sending(cid: str) -> None:
    with pytest.raises(InvalidOrder, match="does not match"):
        check_client_order_id(cid)
    with pytest.raises(InvalidOrder):
        order(cid)


@pytest.mark.parametrize("change", [{"side": "buy"}, {"time_in_force": "GTD"}, {"order_type": "MARKET"},
                                    {"symbol": "ethusdt"}, {"quantity": Decimal(0)}, {"price": 2000.5}])
def test_malformed_orders_are_refused(change: dict[str, Any]) -> None:
    fields = {"symbol": "ETHUSDT", "side": "BUY", "quantity": Decimal("1"), "price": Decimal("1"),
              "client_order_id": "c", **change}
    with pytest.raises(InvalidOrder):
        NewOrder(**fields)


def test_batch_sizes_are_checked() -> None:
    with pytest.raises(InvalidOrder):
        batch_orders_param([])
    with pytest.raises(InvalidOrder):
        batch_orders_param([order(f"o-{i}") for i in range(6)])
    with pytest.raises(InvalidOrder, match="repeat"):
        batch_orders_param([order("same"), order("same")])
    with pytest.raises(InvalidOrder):
        client_id_list_param([f"c-{i}" for i in range(MAX_BATCH_CANCEL + 1)])
    with pytest.raises(InvalidOrder):
        client_id_list_param("c-1")
    with pytest.raises(InvalidOrder):
        client_id_list_param(["ok", "not ok"])


def test_clock_offset_reads_the_server_at_the_round_trips_middle() -> None:
    assert clock_offset_ms(server_ms=10_050, sent_ms=1_000, received_ms=1_100) == 9_000
    assert clock_offset_ms(server_ms=1_000, sent_ms=1_500.4, received_ms=1_500.4) == -500


# --------------------------------------------------------------------------- pure: answers


def test_mixed_batch_results_keep_input_order() -> None:
    body = [order_json("b-0"), {"code": -5022, "msg": "Due to the order could not be executed as maker, ..."},
            order_json("b-2", status="PARTIALLY_FILLED"), {"code": -1007, "msg": "Timeout waiting for response"}]
    results = batch_results_from(body, "POST /fapi/v1/batchOrders", ["b-0", "b-1", "b-2", "b-3"])
    assert results[0] == PlaceResult(ok=True, client_order_id="b-0", order_id=8389768, status="NEW",
                                     price=Decimal("2000.50"), orig_qty=Decimal("0.010"), executed_qty=Decimal(0))
    assert (results[1].ok, results[1].client_order_id, results[1].code) == (False, "b-1", -5022)
    assert not results[1].status_unknown
    assert results[2].status == "PARTIALLY_FILLED"
    assert results[3].status_unknown and results[3].client_order_id == "b-3"


@pytest.mark.parametrize("body", [
    [order_json("b-0")],  # one result for two items
    [order_json("b-0"), order_json("zzz")],  # an answer about another order
    [order_json("b-0"), "oops"],
    [order_json("b-0"), {**order_json("b-1"), "price": "1e"}],
    {"code": 200},
])
def test_batch_answers_of_the_wrong_shape_are_refused(body: Any) -> None:
    with pytest.raises(VenueProtocolError):
        batch_results_from(body, "POST /fapi/v1/batchOrders", ["b-0", "b-1"])


def test_open_orders_cancel_all_and_time_answers() -> None:
    entry = {**order_json("o-1"), "time": 1717000000000}
    del entry["cumQty"]
    [listed] = open_orders_from([entry], "GET /fapi/v1/openOrders")
    assert listed == OpenOrder(symbol="ETHUSDT", order_id=8389768, client_order_id="o-1", side="BUY", status="NEW",
                               order_type="LIMIT", time_in_force="GTX", price=Decimal("2000.50"),
                               orig_qty=Decimal("0.010"), executed_qty=Decimal(0), time_ms=1717000000000,
                               update_time_ms=1717000000123)
    with pytest.raises(VenueProtocolError):
        open_orders_from([entry, {"orderId": 1}], "GET /fapi/v1/openOrders")  # never silently skipped
    cancel_all_from({"code": 200, "msg": "The operation of cancel all open order is done."}, "DELETE")
    with pytest.raises(VenueProtocolError):
        cancel_all_from({"code": -1, "msg": "?"}, "DELETE")
    assert server_time_from({"serverTime": 1717000000000}) == 1717000000000
    with pytest.raises(VenueProtocolError):
        server_time_from({"serverTime": "1717000000000"})
    headers = httpx.Headers({"x-mbx-order-count-10s": "5", "X-MBX-ORDER-COUNT-1M": "x"})
    assert order_count(headers, "X-MBX-ORDER-COUNT-10S") == 5 and order_count(headers, "X-MBX-ORDER-COUNT-1M") is None


def risk(symbol: str = "ETHUSDT", amt: str = "0.000", side: str = "BOTH") -> dict[str, Any]:
    """One ``/fapi/v2/positionRisk`` entry as Binance's endpoint page shows it."""
    return {"symbol": symbol, "positionAmt": amt, "entryPrice": "2185.2", "breakEvenPrice": "0.0",
            "markPrice": "2123.05052574", "unRealizedProfit": "-1.06214947", "liquidationPrice": "0", "leverage": "4",
            "maxNotionalValue": "100000000", "marginType": "cross", "isolatedMargin": "0.00000000",
            "isAutoAddMargin": "false", "positionSide": side, "notional": "21.12305052", "isolatedWallet": "0",
            "updateTime": 1655217461579}


@pytest.mark.parametrize(("body", "expected"), [
    ([risk(amt="0.250")], Decimal("0.25")),  # one-way mode: one BOTH entry
    ([risk(amt="-1.500")], Decimal("-1.5")),
    ([risk(amt="0.000")], Decimal(0)),
    ([risk(amt="0.400", side="LONG"), risk(amt="-0.100", side="SHORT")], Decimal("0.3")),  # hedge mode: summed
    ([risk(amt="0", side="BOTH"), risk(amt="0.001", side="LONG"), risk(amt="-0.003", side="SHORT")],
     Decimal("-0.002")),
    ([risk("BTCUSDT", amt="2.000"), risk(amt="0.010"), risk("SOLUSDT", amt="-3")], Decimal("0.01")),  # others ignored
    ([risk("BTCUSDT", amt="2.000")], Decimal(0)),  # no entry for the symbol: flat
    ([], Decimal(0)),
    ([{"symbol": "ETHUSDT", "positionAmt": "0.5"}], Decimal("0.5")),  # positionSide absent: one-way
])
def test_position_from_sums_the_symbols_entries(body: Any, expected: Decimal) -> None:
    assert position_from(body, "ETHUSDT") == expected


@pytest.mark.parametrize("body", [
    {"code": -1, "msg": "?"},
    [risk(amt="0.1"), "oops"],
    [risk(amt="1e")],
    [risk(amt="NaN")],
    [{**risk(), "positionAmt": 0.5}],  # a number, not a string
    [{k: v for k, v in risk().items() if k != "positionAmt"}],
    [{k: v for k, v in risk().items() if k != "symbol"}],
    [risk(amt="0.1", side="LONG"), risk(amt="0.1", side="LONG")],  # a side twice would count double
    [risk(amt="0.1", side="long")],
])
def test_position_answers_of_the_wrong_shape_are_refused(body: Any) -> None:
    with pytest.raises(VenueProtocolError):
        position_from(body, "ETHUSDT")


# --------------------------------------------------------------------------- shell


class Recorder:
    """A logger that keeps every event (to check that no secret is ever logged)."""

    def __init__(self) -> None:
        self.events: list[tuple[str, dict[str, Any]]] = []

    def __getattr__(self, level: str) -> Callable[..., None]:
        def record(event: str, **fields: Any) -> None:
            self.events.append((event, fields))
        return record


Answer = Callable[[httpx.Request], httpx.Response]


def reply(status: int, body: Any, **headers: str) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        return httpx.Response(status, content=json.dumps(body).encode(),
                              headers={k.replace("_", "-"): v for k, v in headers.items()})
    return answer


def fail(error: type[httpx.TransportError]) -> Answer:
    def answer(request: httpx.Request) -> httpx.Response:
        raise error("scripted", request=request)
    return answer


class Venue:
    """Answers ``/fapi/v1/time`` from a clock ``SERVER_AHEAD_MS`` ahead of ours and plays
    ``answers`` in order (the last repeats) for everything else; records every request."""

    def __init__(self, clock: Clock, answers: list[Answer]) -> None:
        self.clock, self.answers = clock, answers
        self.requests: list[httpx.Request] = []
        self.sent_at: list[float] = []
        self.played = 0

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        self.sent_at.append(self.clock.time_s())
        if request.url.path == "/fapi/v1/time":
            return httpx.Response(200, json={"serverTime": self.clock.time_ms() + SERVER_AHEAD_MS})
        self.played += 1
        return self.answers[min(self.played, len(self.answers)) - 1](request)

    def calls(self, path: str) -> list[httpx.Request]:
        return [r for r in self.requests if r.url.path == path]


def client_for(answers: list[Answer], clock: Clock | None = None,
               **options: Any) -> tuple[BinanceSigned, Venue, Recorder]:
    clock = clock or Clock()
    venue = Venue(clock, answers)
    budget = WindowBudget(clock=clock, venue="binance", limit=2400, window_s=60.0, safety_fraction=0.9)
    log = Recorder()
    http = httpx.AsyncClient(transport=httpx.MockTransport(venue))
    client = BinanceSigned("https://fapi.test", http, budget, KEY, SECRET, clock, log, EngineMetrics(),
                           jitter_seed=5, **options)
    return client, venue, log


def assert_nothing_secret_logged(log: Recorder, venue: Venue) -> None:
    text = repr(log.events)
    assert SECRET not in text
    for request in venue.requests:
        signature = dict(parse_qsl(request.url.query.decode())).get("signature")
        assert signature is None or signature not in text


async def test_a_batch_is_signed_over_the_exact_query_sent(autojump_clock: trio.abc.Clock) -> None:
    batch = [order("s-0"), order("s-1", side="SELL", price="2100")]
    client, venue, log = client_for([reply(200, [order_json("s-0"), order_json("s-1", price="2100.00")],
                                           X_MBX_ORDER_COUNT_10S="5", X_MBX_ORDER_COUNT_1M="1",
                                           X_MBX_USED_WEIGHT_1M="6")])
    results = await client.place_batch(batch)
    assert [r.ok for r in results] == [True, True]
    [post] = venue.calls("/fapi/v1/batchOrders")
    assert post.method == "POST" and post.content == b"" and post.headers["X-MBX-APIKEY"] == KEY
    query = post.url.query.decode()
    payload, _, signature = query.rpartition("&signature=")
    assert signature == hmac_sha256_hex(SECRET, payload)  # the exact bytes on the wire, signature last
    params = dict(parse_qsl(query))
    assert json.loads(params["batchOrders"]) == [order_params(o) for o in batch]
    assert params["recvWindow"] == "5000"
    assert abs(int(params["timestamp"]) - (client.clock.time_ms() + SERVER_AHEAD_MS)) < 50  # offset applied
    assert abs((client.clock_offset_ms or 0) - SERVER_AHEAD_MS) <= 1
    assert (client.last_order_count_10s, client.last_order_count_1m) == (5, 1)
    assert client.budget.stats().granted_weight == 1 + 5  # /time, then the batch
    assert SECRET not in str(post.url) and KEY not in repr(client)
    assert_nothing_secret_logged(log, venue)


async def test_minus_1021_resyncs_the_clock_and_retries_once(autojump_clock: trio.abc.Clock) -> None:
    ahead = {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."}
    client, venue, log = client_for([reply(400, ahead), reply(200, [])])
    assert await client.open_orders("ETHUSDT") == []
    assert len(venue.calls("/fapi/v1/time")) == 2 and len(venue.calls("/fapi/v1/openOrders")) == 2
    assert_nothing_secret_logged(log, venue)

    client, venue, _ = client_for([reply(400, ahead)])
    with pytest.raises(BinanceError) as caught:
        await client.place_batch([order()])
    assert caught.value.code == -1021
    assert len(venue.calls("/fapi/v1/batchOrders")) == 2  # refused unexecuted: resent once, not more


@pytest.mark.parametrize("answer", [
    reply(503, {"code": -1001, "msg": "Internal error; unable to process your request. Please try again."}),
    reply(502, "<html>Bad Gateway</html>"),
    reply(408, {"code": -1007, "msg": "Timeout waiting for response from backend server."}),
    reply(400, {"code": -1006, "msg": "An unexpected response was received from the message bus."}),
    reply(200, [{"orderId": 1}]),
    fail(httpx.ReadTimeout),
    fail(httpx.RemoteProtocolError),
])
async def test_an_unknown_outcome_of_a_write_is_never_resent(answer: Answer, autojump_clock: trio.abc.Clock) -> None:
    client, venue, log = client_for([answer, reply(200, [order_json("u-0"), order_json("u-1")])])
    with pytest.raises(OrderStatusUnknown) as caught:
        await client.place_batch([order("u-0"), order("u-1")])
    assert caught.value.client_ids == ("u-0", "u-1") and caught.value.symbol == "ETHUSDT"
    assert len(venue.calls("/fapi/v1/batchOrders")) == 1
    assert any(event == "venue_order_status_unknown" for event, _ in log.events)
    assert_nothing_secret_logged(log, venue)


async def test_cancels_with_an_unknown_outcome_are_not_resent(autojump_clock: trio.abc.Clock) -> None:
    client, venue, _ = client_for([fail(httpx.ReadTimeout)])
    with pytest.raises(OrderStatusUnknown) as caught:
        await client.cancel_batch("ETHUSDT", ["c-1", "c-2"])
    assert caught.value.client_ids == ("c-1", "c-2")
    with pytest.raises(OrderStatusUnknown) as caught:
        await client.cancel_all("ETHUSDT")
    assert caught.value.client_ids == ()
    assert len(venue.requests) == 3  # /time, then each write once
    with pytest.raises(InvalidOrder):
        await client.cancel_batch("ETHUSDT", "c-1")  # type: ignore[arg-type]


async def test_a_connection_never_opened_is_retried_even_for_a_write(autojump_clock: trio.abc.Clock) -> None:
    client, venue, _ = client_for([fail(httpx.ConnectError), reply(200, order_json("c-0"))])
    result = await client.place(order("c-0"))
    assert result.ok and len(venue.calls("/fapi/v1/order")) == 2


async def test_reads_are_retried(autojump_clock: trio.abc.Clock) -> None:
    client, venue, _ = client_for([reply(503, {"code": -1001, "msg": "Internal error"}), fail(httpx.ReadTimeout),
                                   reply(200, [])])
    assert await client.open_orders("ETHUSDT") == []
    assert len(venue.calls("/fapi/v1/openOrders")) == 3


@pytest.mark.parametrize("code", [-2015, -2014, -1022])
async def test_auth_errors_are_clear_and_never_retried(code: int, autojump_clock: trio.abc.Clock) -> None:
    client, venue, log = client_for([reply(401 if code != -1022 else 400, {"code": code, "msg": "refused"})])
    with pytest.raises(BinanceAuthError) as caught:
        await client.open_orders("ETHUSDT")
    assert caught.value.code == code
    with pytest.raises(BinanceAuthError):
        await client.place(order())  # not a PlaceResult: the credentials are wrong, not the order
    assert len(venue.requests) == 3
    assert_nothing_secret_logged(log, venue)


async def test_a_single_order_refused_is_a_result(autojump_clock: trio.abc.Clock) -> None:
    client, _, _ = client_for([reply(400, {"code": -5022, "msg": "Post Only order will be rejected."})])
    result = await client.place(order("p-1"))
    assert (result.ok, result.client_order_id, result.code) == (False, "p-1", -5022)


async def test_a_429_on_a_write_pauses_every_caller_and_is_not_resent(autojump_clock: trio.abc.Clock) -> None:
    too_many = {"code": -1003, "msg": "Too many requests; current limit of IP(1.2.3.4) is 2400 requests per minute."}
    client, venue, _ = client_for([reply(429, too_many, Retry_After="9"), reply(200, [])])
    with pytest.raises(BinanceError) as caught:
        await client.place_batch([order()])
    assert caught.value.http_status == 429 and len(venue.calls("/fapi/v1/batchOrders")) == 1
    assert client.budget.remaining() == 0
    await client.open_orders("ETHUSDT")
    assert venue.sent_at[-1] - venue.sent_at[-2] >= 9.0


async def test_a_429_for_the_order_rate_pauses_only_the_order_budget(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock()
    orders_10s = WindowBudget(clock=clock, venue="orders", limit=300, window_s=10.0, safety_fraction=1.0)
    too_many = {"code": -1015, "msg": "Too many new orders; current limit is 300 orders per 10 SECOND."}
    client, venue, _ = client_for([reply(429, too_many), reply(200, []), reply(200, [order_json("n-0")])],
                                  clock=clock, order_budget=orders_10s)
    with pytest.raises(BinanceError) as caught:
        await client.place_batch([order("m-0")])
    assert caught.value.code == -1015
    assert client.budget.remaining() > 0 and orders_10s.remaining() == 0
    sent = len(venue.sent_at)
    await client.open_orders("ETHUSDT")  # the IP's budget is not held back
    assert venue.sent_at[sent] - venue.sent_at[sent - 1] < 1.0
    await client.place_batch([order("n-0")])  # the order budget is: until its 10 s window turns
    assert int(venue.sent_at[-1] // 10) > int(venue.sent_at[sent - 1] // 10)


async def test_order_budgets_are_spent_per_batch(autojump_clock: trio.abc.Clock) -> None:
    clock = Clock()
    ten_s = WindowBudget(clock=clock, venue="orders_10s", limit=10, window_s=10.0, safety_fraction=1.0)
    one_min = WindowBudget(clock=clock, venue="orders_1m", limit=1200, window_s=60.0, safety_fraction=1.0)
    client, venue, _ = client_for([reply(200, [order_json("o-0")])], clock=clock, order_budget=[ten_s, one_min])
    for _ in range(3):
        await client.place_batch([order("o-0")])
    assert ten_s.stats().granted_weight == 15 and one_min.stats().granted_weight == 3
    posts = [t for t, r in zip(venue.sent_at, venue.requests) if r.url.path == "/fapi/v1/batchOrders"]
    assert int(posts[2] // 10) > int(posts[0] // 10)  # the third batch waited for the next 10 s window
    with pytest.raises(ValueError):
        BinanceSigned("https://fapi.test", httpx.AsyncClient(), client.budget, KEY, SECRET, clock, Recorder(),
                      EngineMetrics(), order_budget=WindowBudget(clock=clock, venue="x", limit=1, window_s=30.0))


async def test_requests_waiting_for_the_budget_are_signed_when_sent(autojump_clock: trio.abc.Clock) -> None:
    # another process has spent the minute: our request waits, and must not carry a stale timestamp
    client, venue, _ = client_for([reply(200, [], X_MBX_USED_WEIGHT_1M="2300"), reply(200, [])])
    await client.open_orders("ETHUSDT")
    await client.open_orders("ETHUSDT")
    last = venue.calls("/fapi/v1/openOrders")[-1]
    stamp = int(dict(parse_qsl(urlsplit(str(last.url)).query))["timestamp"])
    assert venue.sent_at[-1] >= (venue.sent_at[-2] // 60 + 1) * 60  # held until the next minute window
    assert abs(stamp - (venue.sent_at[-1] * 1000 + SERVER_AHEAD_MS)) < 50


async def test_position_is_a_signed_read_of_weight_5(autojump_clock: trio.abc.Clock) -> None:
    client, venue, log = client_for([reply(503, {"code": -1001, "msg": "Internal error"}),
                                     reply(200, [risk(amt="-0.020")])])
    assert await client.position("ETHUSDT") == Decimal("-0.02")
    calls = venue.calls("/fapi/v2/positionRisk")
    assert len(calls) == 2  # a read: retried
    query = calls[-1].url.query.decode()
    assert calls[-1].method == "GET" and calls[-1].headers["X-MBX-APIKEY"] == KEY
    assert query.startswith("symbol=ETHUSDT&recvWindow=5000&timestamp=")
    payload, _, signature = query.rpartition("&signature=")
    assert signature == hmac_sha256_hex(SECRET, payload)
    assert client.budget.stats().granted_weight == 1 + 5 + 5  # /time, then two positionRisk
    assert_nothing_secret_logged(log, venue)
    with pytest.raises(InvalidOrder):
        await client.position("eth usdt")


def test_credentials_are_required() -> None:
    with pytest.raises(ValueError):
        BinanceSigned("https://fapi.test", None, None, "", SECRET, None, None, None)  # type: ignore[arg-type]
