"""The simulated Deribit over real HTTP and real WebSockets, checked against hand-written fixtures."""

from __future__ import annotations

import datetime as dt
import json
import re
from contextlib import asynccontextmanager
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
import trio
from trio_websocket import ConnectionClosed, ConnectionRejected, WebSocketConnection, open_websocket_url

from adapters.sim.control import VenueControl
from adapters.sim.deribit import DeribitSim
from engine.quant import black76
from adapters.sim.serving import serve_app
from engine.clock import Clock

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "deribit"
NULLABLE = frozenset({"bid_price", "ask_price", "mid_price", "last", "high", "low", "price_change"})
INDEX_NAMES = ("btc_usd", "eth_usd", "btc_usdc", "eth_usdc", "sol_usdc", "xrp_usdc")
MONDAY_10_UTC = dt.datetime(2025, 3, 24, 10, tzinfo=dt.timezone.utc).timestamp()


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def assert_shape(actual: Any, expected: Any, path: str = "$") -> None:
    """Same keys and JSON types as the hand-written example (numbers are numbers, int or float)."""
    if isinstance(expected, dict):
        assert isinstance(actual, dict), path
        assert set(actual) == set(expected), f"{path}: {sorted(set(actual) ^ set(expected))}"
        for key, value in expected.items():
            if actual[key] is None and key in NULLABLE:
                continue
            assert_shape(actual[key], value, f"{path}.{key}")
    elif isinstance(expected, list):
        assert isinstance(actual, list), path
        for item in actual if expected else []:
            assert_shape(item, expected[0], f"{path}[]")
    elif isinstance(expected, bool) or expected is None or isinstance(expected, str):
        assert type(actual) is type(expected), f"{path}: {actual!r}"
    else:
        assert isinstance(actual, (int, float)) and not isinstance(actual, bool), f"{path}: {actual!r}"


@asynccontextmanager
async def running(epoch_s: float | None = None, **options: Any) -> AsyncIterator[tuple[DeribitSim, str]]:
    """A DeribitSim served on a free loopback port with its market stepping in real time."""
    clock = Clock() if epoch_s is None else Clock(epoch_s=epoch_s, origin_s=trio.current_time())
    sim = DeribitSim(seed=5, clock=clock, control=VenueControl.new("deribit"),
                     **{"step_interval_s": 0.1, **options})
    stop = trio.Event()
    async with trio.open_nursery() as nursery:
        url = await nursery.start(partial(serve_app, sim.app(), "127.0.0.1", 0, shutdown=stop))
        nursery.start_soon(sim.run_market)
        yield sim, url
        stop.set()
        nursery.cancel_scope.cancel()


async def rpc(ws: WebSocketConnection, request_id: int, method: str, **params: Any) -> dict[str, Any]:
    await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": request_id, "method": method, "params": params}))
    while True:
        message = json.loads(await ws.get_message())
        if message.get("id") == request_id:
            return message


def parses(text: str) -> bool:
    try:
        json.loads(text)
    except json.JSONDecodeError:
        return False
    return True


def ws_url(url: str) -> str:
    return url.replace("http://", "ws://") + "/ws/api/v2"


# --------------------------------------------------------------------------- shapes


async def test_index_prices_over_http_match_the_venue_shape_and_there_is_no_arb_index() -> None:
    async with running() as (_, url), httpx.AsyncClient(base_url=url) as http:
        prices = {}
        for name in INDEX_NAMES:
            answer = await http.get("/api/v2/public/get_index_price", params={"index_name": name})
            assert answer.status_code == 200
            assert_shape(answer.json(), fixture("get_index_price_http"))
            prices[name] = answer.json()["result"]["index_price"]
        assert 40_000 < prices["btc_usd"] < 200_000 and 1 < prices["xrp_usdc"] < 10
        arb = await http.get("/api/v2/public/get_index_price", params={"index_name": "arb_usdc"})
        assert arb.status_code == 400
        assert_shape(arb.json(), fixture("error_invalid_params"))
        assert arb.json()["error"]["data"]["param"] == "index_name"
        unknown = await http.get("/api/v2/public/get_nothing")
        assert unknown.status_code == 400
        assert unknown.json()["error"] == fixture("error_method_not_found")["error"]
        missing = await http.get("/api/v2/public/get_book_summary_by_currency")
        assert missing.json()["error"]["data"] == {"param": "currency", "reason": "value is required"}


async def test_websocket_answers_carry_the_request_id_and_the_same_shapes() -> None:
    async with running() as (sim, url), open_websocket_url(ws_url(url)) as ws:
        answer = await rpc(ws, 42, "public/get_index_price", index_name="btc_usd")
        assert_shape(answer, fixture("get_index_price_ws"))
        summary = await rpc(ws, 43, "public/get_book_summary_by_currency", currency="BTC", kind="option")
        assert_shape(summary["result"], fixture("get_book_summary_btc_option")["result"])
        nope = await rpc(ws, 44, "public/nope")
        assert nope["error"] == fixture("error_method_not_found")["error"] and nope["id"] == 44
        ack = await rpc(ws, 3, "public/subscribe",
                        channels=["deribit_price_index.btc_usd", "deribit_price_index.arb_usdc"])
        assert_shape(ack, fixture("subscribe_ack_ws"))
        assert ack["result"] == ["deribit_price_index.btc_usd"]
        push = json.loads(await ws.get_message())
        assert_shape(push, fixture("subscription_price_index"))
        assert sim.control.accounting.clients["127.0.0.1"].subscriptions == 1


async def test_instruments_follow_the_listing_policy_on_a_fixed_date() -> None:
    async with running(epoch_s=MONDAY_10_UTC) as (_, url), httpx.AsyncClient(base_url=url) as http:
        linear = (await http.get("/api/v2/public/get_instruments",
                                 params={"currency": "USDC", "kind": "option"})).json()
        inverse = (await http.get("/api/v2/public/get_instruments", params={"currency": "BTC"})).json()
    assert_shape(linear, fixture("get_instruments_usdc_option"))
    assert_shape(inverse, fixture("get_instruments_btc_option"))
    pattern = re.compile(r"^(BTC|ETH|SOL|XRP)_USDC-([1-9]\d?[A-Z]{3}\d{2})-(\d+(d\d+)?)-[CP]$")
    assert all(pattern.match(r["instrument_name"]) and r["instrument_type"] == "linear" for r in linear["result"])
    assert {r["base_currency"] for r in linear["result"]} == {"BTC", "ETH", "SOL", "XRP"}
    btc = inverse["result"]
    assert all(re.match(r"^BTC-[1-9]\d?[A-Z]{3}\d{2}-\d+-[CP]$", r["instrument_name"]) for r in btc)
    expiries = sorted({r["expiration_timestamp"] for r in btc})
    days = [dt.datetime.fromtimestamp(ts / 1000, tz=dt.timezone.utc) for ts in expiries]
    codes = [f"{d.day}{d.strftime('%b').upper()}{d:%y}" for d in days]
    assert codes == ["25MAR25", "26MAR25", "27MAR25", "28MAR25", "4APR25", "11APR25", "25APR25", "30MAY25",
                     "27JUN25", "26SEP25", "26DEC25"]
    assert all(ts % 86_400_000 == 8 * 3_600_000 for ts in expiries)
    for row in btc:
        assert row["instrument_name"].split("-")[1] == codes[expiries.index(row["expiration_timestamp"])]
        assert row["instrument_name"].split("-")[2] == str(int(row["strike"]))
    periods = {r["instrument_name"].split("-")[1]: r["settlement_period"] for r in btc}
    assert (periods["25MAR25"], periods["4APR25"], periods["25APR25"], periods["28MAR25"]) == (
        "day", "week", "month", "month")


async def test_book_summary_marks_are_black76_at_mark_iv_in_percent() -> None:
    async with running() as (_, url), httpx.AsyncClient(base_url=url) as http:
        body = (await http.get("/api/v2/public/get_book_summary_by_currency",
                               params={"currency": "BTC", "kind": "option"})).json()
        expiries = {r["instrument_name"]: r["expiration_timestamp"] for r in (await http.get(
            "/api/v2/public/get_instruments", params={"currency": "BTC", "kind": "option"})).json()["result"]}
    assert_shape(body, fixture("get_book_summary_btc_option"))
    for row in body["result"][::7]:
        _, _, strike, right = row["instrument_name"].split("-")
        years = (expiries[row["instrument_name"]] - row["creation_timestamp"]) / 1000 / (365 * 86400)
        usd = black76(row["underlying_price"], float(strike), years, row["mark_iv"] / 100, right == "C").price
        assert row["mark_price"] == pytest.approx(usd / row["underlying_price"], abs=2e-4)
        assert 10 < row["mark_iv"] < 300 and row["interest_rate"] == 0
        assert row["underlying_index"].startswith("SYN.BTC-")


# --------------------------------------------------------------------------- limits


async def test_a_burst_past_50000_credits_earns_10028_then_the_pool_refills() -> None:
    async with running() as (sim, url), httpx.AsyncClient(base_url=url) as http:
        answers: list[httpx.Response] = []

        async def one() -> None:
            answers.append(await http.get("/api/v2/public/get_index_price", params={"index_name": "btc_usd"}))

        async with trio.open_nursery() as nursery:
            for _ in range(170):  # 100 from the pool plus 20/s of refill while the burst lasts
                nursery.start_soon(one)
        throttled = [a for a in answers if a.status_code != 200]
        assert 100 <= len(answers) - len(throttled) < 170
        assert throttled and all(a.status_code == 400 for a in throttled)
        assert_shape(throttled[0].json(), fixture("error_too_many_requests"))
        assert throttled[0].json()["error"] == fixture("error_too_many_requests")["error"]
        stats = sim.control.accounting.clients["127.0.0.1"]
        assert stats.throttled == len(throttled) and stats.requests == 170
        await trio.sleep(0.06)  # 600 credits refilled: one more request
        assert (await http.get("/api/v2/public/get_index_price", params={"index_name": "btc_usd"})).status_code == 200


async def test_get_instruments_has_a_stricter_pool_of_50() -> None:
    async with running() as (_, url), httpx.AsyncClient(base_url=url) as http:
        statuses = [(await http.get("/api/v2/public/get_instruments",
                                    params={"currency": "BTC", "kind": "future"})).status_code for _ in range(55)]
        assert statuses[:50] == [200] * 50 and statuses.count(400) >= 4
        # the general pool is untouched
        assert (await http.get("/api/v2/public/get_time")).status_code == 200


async def test_running_out_of_credits_on_a_websocket_ends_the_session() -> None:
    async with running() as (sim, url), open_websocket_url(ws_url(url)) as ws:
        for i in range(130):
            await ws.send_message(json.dumps({"jsonrpc": "2.0", "id": i, "method": "public/test"}))
        errors = []
        with pytest.raises(ConnectionClosed):
            while True:
                message = json.loads(await ws.get_message())
                if "error" in message:
                    errors.append(message["error"])
        assert errors == [{"code": 10028, "message": "too_many_requests"}]
        assert sim.control.accounting.clients["127.0.0.1"].throttled == 1


async def test_a_client_past_the_connection_cap_is_refused_with_429() -> None:
    async with running(max_ws_connections=2) as (_, url):
        async with open_websocket_url(ws_url(url)), open_websocket_url(ws_url(url)):
            with pytest.raises(ConnectionRejected) as refused:
                async with open_websocket_url(ws_url(url)):
                    pass
            assert refused.value.status_code == 429


# --------------------------------------------------------------------------- faults


async def test_http_faults_delay_10028_5xx_and_malformed_fire_once_each() -> None:
    async with running() as (sim, url), httpx.AsyncClient(base_url=url) as http:
        faults = sim.control.faults

        async def ask() -> httpx.Response:
            return await http.get("/api/v2/public/get_index_price", params={"index_name": "eth_usd"})

        faults.delay_s = 0.3
        started = trio.current_time()
        assert (await ask()).status_code == 200 and trio.current_time() - started >= 0.3
        faults.delay_s = 0.0
        faults.burst("10028", 1)
        faults.burst("5xx", 2)
        faults.burst("malformed", 1)
        first, second, third, fourth, fifth = [await ask() for _ in range(5)]
        assert first.status_code == 400 and first.json()["error"]["code"] == 10028
        assert (second.status_code, third.status_code) == (502, 503)
        with pytest.raises(json.JSONDecodeError):
            json.loads(fourth.text)
        assert fifth.status_code == 200 and fifth.json()["result"]["index_price"] > 0
        assert sim.control.accounting.clients["127.0.0.1"].throttled == 0  # armed faults are not breaches


async def test_websocket_faults_silence_corruption_errors_and_drops() -> None:
    async with running() as (sim, url), open_websocket_url(ws_url(url)) as ws:
        faults = sim.control.faults
        await rpc(ws, 1, "public/subscribe", channels=["deribit_price_index.eth_usdc"])
        faults.set_silent(True)
        with trio.move_on_after(0.15):  # frames already in flight before the silence
            while True:
                await ws.get_message()
        with trio.move_on_after(0.4) as quiet:
            await ws.get_message()
        assert quiet.cancelled_caught
        faults.set_silent(False)
        assert json.loads(await ws.get_message())["method"] == "subscription"
        faults.malformed_frames = 1
        frames = [await ws.get_message() for _ in range(2)]  # one push may have left before arming
        assert sum(not parses(f) for f in frames) == 1 and faults.malformed_frames == 0
        faults.burst("5xx", 1)
        assert (await rpc(ws, 2, "public/get_time"))["error"] == {"code": 11094, "message": "internal_server_error"}
        faults.drop_connections()
        with pytest.raises(ConnectionClosed):
            while True:
                await ws.get_message()
    async with running() as (sim, url), open_websocket_url(ws_url(url)) as ws:
        sim.control.faults.burst("10028", 1)
        assert (await rpc(ws, 9, "public/get_time"))["error"]["code"] == 10028
        with pytest.raises(ConnectionClosed):
            await ws.get_message()


async def test_heartbeats_ask_for_test_requests_and_close_when_unanswered() -> None:
    async with running(min_heartbeat_interval_s=0.1) as (_, url), open_websocket_url(ws_url(url)) as ws:
        too_short = await rpc(ws, 1, "public/set_heartbeat", interval=0.05)
        assert too_short["error"]["code"] == -32602
        assert (await rpc(ws, 2, "public/set_heartbeat", interval=0.1))["result"] == "ok"
        assert json.loads(await ws.get_message()) == fixture("heartbeat_test_request")
        assert (await rpc(ws, 3, "public/test"))["result"]["version"]
        assert json.loads(await ws.get_message()) == fixture("heartbeat_test_request")
        with pytest.raises(ConnectionClosed):
            with trio.fail_after(1):
                while True:
                    await ws.get_message()
