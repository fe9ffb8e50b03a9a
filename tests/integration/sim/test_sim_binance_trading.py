"""Simulated Binance SIGNED order endpoints over real HTTP, signed by an independent signer."""

from __future__ import annotations

import json
from decimal import Decimal as D

from tests.integration.sim.sim_binance_support import Venue, assert_shape, fixture, running_venue

ORDER = "/fapi/v1/order"


async def _book(venue: Venue, symbol: str = "BTCUSDT") -> tuple[D, D, D]:
    depth = (await venue.http.get("/fapi/v1/depth", params={"symbol": symbol, "limit": "5"})).json()
    return D(depth["bids"][0][0]), D(depth["asks"][0][0]), D(depth["asks"][0][1])


def _limit(side: str, price: D, qty: str = "0.010", tif: str = "GTC", **extra: str) -> list[tuple[str, str]]:
    return [("symbol", "BTCUSDT"), ("side", side), ("type", "LIMIT"), ("timeInForce", tif), ("quantity", qty),
            ("price", str(price)), *extra.items()]


async def test_signed_order_passes_and_tampering_or_bad_keys_or_stale_time_do_not() -> None:
    async with running_venue(run_market=False) as venue:
        bid, _, _ = await _book(venue)
        placed = await venue.send("POST", ORDER, _limit("BUY", bid - 100, newClientOrderId="mm-1"))
        assert placed.status_code == 200, placed.text
        body = placed.json()
        assert_shape(body, fixture("order.json"), exact=True)
        assert (body["status"], body["clientOrderId"], body["price"], body["origQty"]) == (
            "NEW", "mm-1", f"{bid - 100:.2f}", "0.010")
        assert placed.headers["X-MBX-ORDER-COUNT-10S"] == "1" and placed.headers["X-MBX-ORDER-COUNT-1M"] == "1"
        in_query = await venue.send("POST", ORDER, _limit("BUY", bid - 200), in_body=False)
        assert in_query.status_code == 200 and in_query.headers["X-MBX-ORDER-COUNT-10S"] == "2"

        tampered = await venue.send("POST", ORDER, _limit("BUY", bid - 100), tamper=True)
        assert (tampered.status_code, tampered.json()) == (
            400, {"code": -1022, "msg": "Signature for this request is not valid."})
        wrong_secret = await venue.send("POST", ORDER, _limit("BUY", bid - 100), secret="guess")
        assert wrong_secret.json()["code"] == -1022
        unknown = await venue.send("POST", ORDER, _limit("BUY", bid - 100), key="nobody")
        assert (unknown.status_code, unknown.json()["code"]) == (401, -2015)
        no_key = await venue.http.post(ORDER, content=venue.signed(_limit("BUY", bid)).encode(),
                                       headers={"Content-Type": "application/x-www-form-urlencoded"})
        assert (no_key.status_code, no_key.json()) == (401, {"code": -2014, "msg": "API-key format invalid."})
        now_ms = venue.sim.clock.time_ms()
        stale = await venue.send("POST", ORDER, _limit("BUY", bid - 100), ts_ms=now_ms - 6000)
        assert stale.json() == {"code": -1021, "msg": "Timestamp for this request is outside of the recvWindow."}
        wide = await venue.send("POST", ORDER, _limit("BUY", bid - 100, recvWindow="10000"), ts_ms=now_ms - 6000)
        assert wide.status_code == 200
        ahead = await venue.send("POST", ORDER, _limit("BUY", bid - 100), ts_ms=now_ms + 1500)
        assert ahead.json() == {"code": -1021, "msg": "Timestamp for this request was 1000ms ahead of the server's time."}
        stats = venue.sim.control.accounting.clients["127.0.0.1"]
        assert (stats.orders_placed, stats.rejected) == (3, 6)


async def test_open_orders_query_cancel_and_cancel_all() -> None:
    async with running_venue(run_market=False) as venue:
        bid, _, _ = await _book(venue)
        for n in range(3):
            await venue.send("POST", ORDER, _limit("BUY", bid - 50 * (n + 1), newClientOrderId=f"q{n}"))
        listed = await venue.send("GET", "/fapi/v1/openOrders", [("symbol", "BTCUSDT")])
        assert listed.headers["X-MBX-USED-WEIGHT-1M"] == "3"  # depth 2 + three orders 0 + openOrders 1
        orders = listed.json()
        assert [o["clientOrderId"] for o in orders] == ["q0", "q1", "q2"]
        assert_shape(orders, [fixture("open_order.json")], exact=True)
        one = (await venue.send("GET", ORDER, [("symbol", "BTCUSDT"), ("origClientOrderId", "q1")])).json()
        assert one["orderId"] == orders[1]["orderId"] and one["status"] == "NEW"
        cancelled = await venue.send("DELETE", ORDER, [("symbol", "BTCUSDT"), ("orderId", str(one["orderId"]))])
        assert cancelled.json()["status"] == "CANCELED"
        again = await venue.send("DELETE", ORDER, [("symbol", "BTCUSDT"), ("orderId", str(one["orderId"]))])
        assert (again.status_code, again.json()) == (400, {"code": -2011, "msg": "Unknown order sent."})
        assert (await venue.send("GET", ORDER, [("symbol", "BTCUSDT"), ("orderId", "1")])).json()["code"] == -2013
        everything = await venue.send("DELETE", "/fapi/v1/allOpenOrders", [("symbol", "BTCUSDT")])
        assert everything.json() == fixture("cancel_all.json")
        assert (await venue.send("GET", "/fapi/v1/openOrders", [])).json() == []
        assert venue.sim.control.accounting.clients["127.0.0.1"].orders_cancelled == 3


async def test_batch_place_is_in_input_order_with_item_errors_and_at_most_five() -> None:
    async with running_venue(run_market=False) as venue:
        bid, _, _ = await _book(venue)
        orders = [{"symbol": "BTCUSDT", "side": "BUY", "type": "LIMIT", "timeInForce": "GTX", "quantity": "0.010",
                   "price": str(bid - 10 * n), "newClientOrderId": f"b{n}"} for n in range(3)]
        orders[1]["price"] = str(bid - D("10.05"))  # off the 0.10 tick
        answer = await venue.send("POST", "/fapi/v1/batchOrders", [("batchOrders", json.dumps(orders))])
        assert answer.status_code == 200 and answer.headers["X-MBX-ORDER-COUNT-10S"] == "5"
        results = answer.json()
        assert [r.get("clientOrderId") for r in results] == ["b0", None, "b2"]
        assert results[1] == {"code": -4014, "msg": "Price not increased by tick size."}
        assert_shape(results[0], fixture("order.json"), exact=True)
        six = await venue.send("POST", "/fapi/v1/batchOrders", [("batchOrders", json.dumps(orders * 2))])
        assert (six.status_code, six.json()) == (400, {"code": -4082, "msg": "Invalid number of batch place orders: 6"})
        ids = json.dumps([results[0]["orderId"], 12345], separators=(",", ":"))
        cancelled = (await venue.send("DELETE", "/fapi/v1/batchOrders", [("symbol", "BTCUSDT"),
                                                                          ("orderIdList", ids)])).json()
        assert cancelled[0]["status"] == "CANCELED" and cancelled[1] == {"code": -2011, "msg": "Unknown order sent."}
        by_client = (await venue.send("DELETE", "/fapi/v1/batchOrders", [
            ("symbol", "BTCUSDT"), ("origClientOrderIdList", '["b2"]')])).json()
        assert by_client[0]["clientOrderId"] == "b2" and by_client[0]["status"] == "CANCELED"
        eleven = await venue.send("DELETE", "/fapi/v1/batchOrders", [("symbol", "BTCUSDT"),
                                                                     ("orderIdList", json.dumps(list(range(11))))])
        assert eleven.json()["code"] == -4032
        neither = await venue.send("DELETE", "/fapi/v1/batchOrders", [("symbol", "BTCUSDT")])
        assert neither.json() == {"code": -1102, "msg": "Param 'orderIdList' or 'origClientOrderIdList' must be "
                                                        "sent, but both were empty/null!"}


async def test_post_only_rejection_duplicate_ids_and_min_notional() -> None:
    async with running_venue(run_market=False) as venue:
        bid, ask, _ = await _book(venue)
        crossing = await venue.send("POST", ORDER, _limit("BUY", ask, tif="GTX"))
        assert (crossing.status_code, crossing.json()) == (400, {
            "code": -5022, "msg": "Due to the order could not be executed as maker, the Post Only order will be rejected."})
        await venue.send("POST", ORDER, _limit("BUY", bid, tif="GTX", newClientOrderId="same"))
        duplicate = await venue.send("POST", ORDER, _limit("BUY", bid, tif="GTX", newClientOrderId="same"))
        assert duplicate.json() == {"code": -4116, "msg": "clientOrderId is duplicated"}
        small = await venue.send("POST", ORDER, _limit("BUY", bid, qty="0.0001"))
        assert small.json()["code"] == -1111
        tiny = await venue.send("POST", ORDER, _limit("BUY", bid, qty="0.000"))
        assert tiny.json()["code"] == -4003


async def test_resting_quote_fills_when_the_price_jumps_through_it_and_takers_fill_partly() -> None:
    async with running_venue(run_market=False) as venue:
        bid, ask, ask_qty = await _book(venue)
        quote_price = bid - 500
        quote = (await venue.send("POST", ORDER, _limit("BUY", quote_price, tif="GTX"))).json()
        venue.sim.control_action("jump_price", {"symbol": "BTCUSDT", "pct": -3.0})
        assert (await venue.send("GET", "/fapi/v1/openOrders", [("symbol", "BTCUSDT")])).json() == []
        filled = (await venue.send("GET", ORDER, [("symbol", "BTCUSDT"), ("orderId", str(quote["orderId"]))])).json()
        assert (filled["status"], filled["executedQty"], filled["avgPrice"]) == ("FILLED", "0.010", f"{quote_price:.2f}")
        _, ask, ask_qty = await _book(venue)
        taker = await venue.send("POST", ORDER, _limit("BUY", ask, qty=str(ask_qty + D("0.5")), tif="IOC",
                                                      newOrderRespType="RESULT"))
        result = taker.json()
        assert (result["status"], result["executedQty"], result["avgPrice"]) == ("EXPIRED", str(ask_qty), f"{ask:.2f}")
        acked = (await venue.send("POST", ORDER, [("symbol", "BTCUSDT"), ("side", "SELL"), ("type", "MARKET"),
                                                  ("quantity", "0.010")])).json()
        assert (acked["status"], acked["executedQty"]) == ("NEW", "0.000")  # ACK: the state before matching
        market = (await venue.send("GET", ORDER, [("symbol", "BTCUSDT"), ("orderId", str(acked["orderId"]))])).json()
        assert market["status"] == "FILLED"


async def test_order_rate_limits_and_order_faults() -> None:
    async with running_venue(run_market=False, orders_per_10s=4) as venue:
        bid, _, _ = await _book(venue)
        faults = venue.sim.control.faults
        faults.reject_orders = 1
        rejected = await venue.send("POST", ORDER, _limit("BUY", bid - 100))
        assert (rejected.status_code, rejected.json()) == (400, {"code": -2019, "msg": "Margin is insufficient."})
        faults.timeout_orders = 1
        timed_out = await venue.send("POST", ORDER, _limit("BUY", bid - 100, newClientOrderId="maybe"))
        assert (timed_out.status_code, timed_out.json()) == (503, {
            "code": -1000, "msg": "Unknown error, please check your request or try again later."})
        placed = (await venue.send("GET", ORDER, [("symbol", "BTCUSDT"), ("origClientOrderId", "maybe")])).json()
        assert placed["status"] == "NEW"  # the order was placed all the same
        for _ in range(2):  # orders 3 and 4 of the 10-second window
            assert (await venue.send("POST", ORDER, _limit("BUY", bid - 100))).status_code == 200
        refused = await venue.send("POST", ORDER, _limit("BUY", bid - 100))
        assert (refused.status_code, refused.json()) == (429, {
            "code": -1015, "msg": "Too many new orders; current limit is 4 orders per 10 SECOND."})
        assert venue.sim.control.accounting.clients["127.0.0.1"].throttled == 1


async def test_position_risk_answers_like_binance_from_the_accounts_fills() -> None:
    async with running_venue(run_market=False) as venue:
        risk = "/fapi/v2/positionRisk"
        flat = await venue.send("GET", risk, [("symbol", "BTCUSDT")])
        assert flat.status_code == 200 and flat.headers["X-MBX-USED-WEIGHT-1M"] == "5"
        assert_shape(flat.json(), fixture("position_risk.json"), exact=True)
        [entry] = flat.json()
        assert (entry["symbol"], entry["positionAmt"], entry["positionSide"], entry["updateTime"]) == (
            "BTCUSDT", "0.000", "BOTH", 0)
        assert (await venue.send("GET", risk, [])).json() == []  # nothing traded yet
        unknown = await venue.send("GET", risk, [("symbol", "NOPEUSDT")])
        assert (unknown.status_code, unknown.json()["code"]) == (400, -1121)
        unsigned = await venue.http.get(risk, params={"symbol": "BTCUSDT"})
        assert unsigned.json()["code"] == -2014

        bid, _, _ = await _book(venue)
        quote_price = bid - 500
        await venue.send("POST", ORDER, _limit("BUY", quote_price, qty="0.020", tif="GTX", newClientOrderId="p1"))
        await venue.send("POST", ORDER, _limit("BUY", bid - 5000, qty="0.010", tif="GTX"))  # stays resting
        venue.sim.control_action("jump_price", {"symbol": "BTCUSDT", "pct": -3.0})
        answer = await venue.send("GET", risk, [("symbol", "BTCUSDT")])
        assert_shape(answer.json(), fixture("position_risk.json"), exact=True)
        [long] = answer.json()
        mark = D(long["markPrice"])
        assert mark == D(repr(venue.sim.market.states["BTCUSDT"].mark_price)).quantize(D("1E-8"))
        assert (long["positionAmt"], D(long["entryPrice"]), D(long["breakEvenPrice"])) == (
            "0.020", quote_price, quote_price)
        assert D(long["notional"]) == (D("0.020") * mark).quantize(D("1E-8"))
        assert D(long["unRealizedProfit"]) == (D("0.020") * (mark - quote_price)).quantize(D("1E-8"))
        assert long["updateTime"] > 0 and long["marginType"] == "cross" and long["liquidationPrice"] == "0"

        # sell half back (IOC, into the bids above our resting one): the entry price stays
        sold = await venue.send("POST", ORDER, _limit("SELL", bid - 5000, qty="0.010", tif="IOC",
                                                      newOrderRespType="RESULT"))
        assert sold.json()["status"] == "FILLED"
        [reduced] = (await venue.send("GET", risk, [])).json()  # every symbol traded: only BTCUSDT
        assert (reduced["symbol"], reduced["positionAmt"], D(reduced["entryPrice"])) == (
            "BTCUSDT", "0.010", quote_price)
