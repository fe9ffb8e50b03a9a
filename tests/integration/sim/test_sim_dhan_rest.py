"""The simulated Dhan REST API over real HTTP: shapes against hand-written fixtures, the
3 s option-chain limit, 1/s quotes, auth, validation, holiday mode, faults, the master."""

from __future__ import annotations

import csv
import io
import json
from contextlib import asynccontextmanager
from datetime import date
from functools import partial
from pathlib import Path
from typing import Any, AsyncIterator

import httpx
import pytest
import trio

from adapters.sim.control import VenueControl
from adapters.sim.dhan import DhanSim
from adapters.sim.serving import serve_app
from engine.clock import Clock

FIXTURES = Path(__file__).parents[2] / "fixtures" / "dhan"
DAY = date(2025, 10, 14)
HEADERS = {"access-token": "sim-token", "client-id": "1000000001", "Content-Type": "application/json",
           "Accept": "application/json"}
NIFTY = {"UnderlyingScrip": 13, "UnderlyingSeg": "IDX_I"}


def fixture(name: str) -> Any:
    return json.loads((FIXTURES / name).read_text())


def shape(value: Any) -> Any:
    """A value's JSON skeleton: key sets and kinds (any number counts as a number)."""
    if isinstance(value, dict):
        return {key: shape(item) for key, item in value.items()}
    if isinstance(value, list):
        return [shape(value[0])] if value else []
    if isinstance(value, bool):
        return "bool"
    if isinstance(value, (int, float)):
        return "number"
    return type(value).__name__


@asynccontextmanager
async def dhan(**options: Any) -> AsyncIterator[tuple[DhanSim, httpx.AsyncClient]]:
    options.setdefault("underlyings", ("NIFTY",))
    sim = DhanSim(seed=5, clock=Clock(), control=VenueControl.new("dhan"), today=DAY, **options)
    shutdown = trio.Event()
    async with trio.open_nursery() as nursery:
        base_url = await nursery.start(partial(serve_app, sim.app(), "127.0.0.1", 0, shutdown=shutdown))
        # verify=False: plain http on loopback; skips building an SSL context per test
        async with httpx.AsyncClient(base_url=f"{base_url}/v2", headers=HEADERS, verify=False) as client:
            yield sim, client
        shutdown.set()
        nursery.cancel_scope.cancel()


async def test_expiry_list_matches_the_venue_shape() -> None:
    async with dhan() as (sim, client):
        answer = await client.post("/optionchain/expirylist", json=NIFTY)
    assert answer.status_code == 200
    body = answer.json()
    assert shape(body) == shape(fixture("expirylist.json"))
    assert body["data"] == [e.isoformat() for e in sim.market.expiries("NIFTY")]
    assert body["data"][:3] == ["2025-10-14", "2025-10-20", "2025-10-28"]  # Tuesdays, Diwali shift to Monday


async def test_option_chain_matches_the_venue_shape() -> None:
    async with dhan() as (sim, client):
        answer = await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})
    assert answer.status_code == 200
    body, expected = answer.json(), fixture("optionchain.json")
    assert body.keys() == expected.keys() and body["data"].keys() == expected["data"].keys()
    assert body["data"]["last_price"] > 0
    oc = body["data"]["oc"]
    assert len(oc) == 121
    expected_entry = next(iter(expected["data"]["oc"].values()))
    for strike_key, entry in oc.items():
        assert strike_key == f"{float(strike_key):.6f}"
        assert shape(entry) == shape(expected_entry)
        for leg in entry.values():
            for field in ("security_id", "oi", "previous_oi", "volume", "previous_volume", "top_bid_quantity",
                          "top_ask_quantity"):
                assert isinstance(leg[field], int), field
    atm = oc[f"{round(body['data']['last_price'] / 50) * 50:.6f}"]["ce"]
    assert 5.0 < atm["implied_volatility"] < 30.0  # percent, not a fraction
    assert 0.3 < atm["greeks"]["delta"] < 0.7 and atm["greeks"]["theta"] < 0


async def test_option_chain_and_expiry_list_share_one_request_per_three_seconds() -> None:
    async with dhan() as (sim, client):
        assert (await client.post("/optionchain/expirylist", json=NIFTY)).status_code == 200
        refused = await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})
        assert (await client.post("/optionchain/expirylist", json=NIFTY)).status_code == 429
        await trio.sleep(3.0)
        accepted = await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})
        again = await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})
        stats = sim.control.accounting.clients["1000000001"]
    expected = fixture("data_errors.json")["rate_limited"]
    assert (refused.status_code, refused.json()) == (expected["http_status"], expected["body"])
    assert accepted.status_code == 200 and again.status_code == 429
    assert stats.throttled == 3 and stats.requests == 5
    assert stats.endpoints["optionchain"] == 3 and stats.endpoints["optionchain/expirylist"] == 2


async def test_quotes_are_one_per_second_and_match_the_venue_shapes() -> None:
    async with dhan() as (sim, client):
        sid = sim.market.chain("NIFTY", date(2025, 10, 20))[60][1][True]
        body = {"IDX_I": [13], "NSE_FNO": [sid]}
        ltp = await client.post("/marketfeed/ltp", json=body)
        refused = await client.post("/marketfeed/ohlc", json=body)
        await trio.sleep(1.0)
        ohlc = await client.post("/marketfeed/ohlc", json=body)
        await trio.sleep(1.0)
        quote = await client.post("/marketfeed/quote", json=body)
        assert sim.control.accounting.clients["1000000001"].throttled == 1
    assert refused.status_code == 429 and refused.json()["data"].keys() == {"805"}
    for answer, name in ((ltp, "marketfeed_ltp.json"), (ohlc, "marketfeed_ohlc.json"),
                         (quote, "marketfeed_quote.json")):
        assert answer.status_code == 200
        got, expected = answer.json(), fixture(name)
        assert got["status"] == "success" and set(got["data"]) == {"IDX_I", "NSE_FNO"}
        expected_item = next(iter(next(iter(expected["data"].values())).values()))
        for segment, items in got["data"].items():
            for key, item in items.items():
                assert key.isdigit() and shape(item) == shape(expected_item), (name, segment)
    assert ltp.json()["data"]["IDX_I"]["13"]["last_price"] > 20_000


@pytest.mark.parametrize("headers, code", [
    ({"access-token": ""}, 808),
    ({"access-token": "forged"}, 809),
    ({"client-id": "1000000002"}, 810),
])
async def test_auth_failures(headers: dict[str, str], code: int) -> None:
    async with dhan() as (sim, client):
        answer = await client.post("/optionchain/expirylist", json=NIFTY, headers=headers)
        after = await client.post("/optionchain/expirylist", json=NIFTY)  # refusals charge no budget
    assert answer.status_code == 401 and answer.json() == {"data": {str(code): answer.json()["data"][str(code)]},
                                                            "status": "failed"}
    assert after.status_code == 200
    assert sim.control.accounting.total("rejected") == 1


async def test_expired_token_answers_807_until_renewed() -> None:
    async with dhan() as (sim, client):
        sim.control_action("expire_token", {})
        expired = await client.post("/marketfeed/ltp", json={"IDX_I": [13]})
        sim.control_action("renew_token", {})
        renewed = await client.post("/marketfeed/ltp", json={"IDX_I": [13]})
    assert expired.status_code == 401 and "807" in expired.json()["data"]
    assert renewed.status_code == 200


@pytest.mark.parametrize("path, body, code", [
    ("/optionchain", {**NIFTY, "Expiry": "2025-10-21"}, 811),  # the holiday, not a listed expiry
    ("/optionchain", {**NIFTY, "Expiry": "20-10-2025"}, 812),
    ("/optionchain", {"UnderlyingScrip": 99999, "UnderlyingSeg": "IDX_I", "Expiry": "2025-10-20"}, 813),
    ("/optionchain/expirylist", {"UnderlyingScrip": 13, "UnderlyingSeg": "NSE_IDX"}, 814),
    ("/marketfeed/ltp", {"NSE_FNO": list(range(1, 1002))}, 804),
    ("/marketfeed/ltp", {"NSE_FNO": [7]}, 813),
    ("/marketfeed/ltp", ["not", "an", "object"], 814),
])
async def test_invalid_requests(path: str, body: Any, code: int) -> None:
    async with dhan() as (sim, client):
        answer = await client.post(path, json=body)
    assert answer.status_code == 400 and answer.json()["data"].keys() == {str(code)}
    assert answer.json()["status"] == "failed"
    assert sim.control.accounting.total("rejected") == 1


async def test_holiday_mode_zeroes_the_underlying_last_price() -> None:
    async with dhan() as (sim, client):
        sim.control_action("holiday_mode", {"on": True})
        body = (await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})).json()
    assert body["data"]["last_price"] == 0
    assert any(entry["ce"]["last_price"] > 0 for entry in body["data"]["oc"].values())


async def test_removed_strikes_and_missing_legs() -> None:
    async with dhan() as (sim, client):
        sim.control_action("remove_strikes", {"underlying": "NIFTY", "expiry": "2025-10-20",
                                              "strikes": [24900, 24950]})
        sim.control_action("remove_strikes", {"underlying": "NIFTY", "expiry": "2025-10-20",
                                              "strikes": [25000], "side": "pe"})
        oc = (await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})).json()["data"]["oc"]
    assert "24900.000000" not in oc and "24950.000000" not in oc
    assert set(oc["25000.000000"]) == {"ce"}


@pytest.mark.parametrize("kind, status", [("805", 429), ("429", 429), ("5xx", 500), ("malformed", 200)])
async def test_error_bursts(kind: str, status: int) -> None:
    async with dhan() as (sim, client):
        sim.control.faults.burst(kind, 1)
        answer = await client.post("/optionchain/expirylist", json=NIFTY)
    assert answer.status_code == status
    if kind == "malformed":
        with pytest.raises(ValueError):
            answer.json()
    else:
        assert answer.json()["status"] == "failed"


async def test_delay_and_chain_failure() -> None:
    async with dhan() as (sim, client):
        sim.control.faults.delay_s = 0.3
        sim.control_action("fail_option_chain", {"count": 1})
        started = trio.current_time()
        answer = await client.post("/optionchain", json={**NIFTY, "Expiry": "2025-10-20"})
        elapsed = trio.current_time() - started
    assert elapsed >= 0.3
    assert answer.status_code == 200 and answer.json()["status"] == "failure"


async def test_instrument_master_has_exactly_the_venue_columns() -> None:
    async with dhan(underlyings=("NIFTY", "SENSEX")) as (sim, client):
        answer = await client.get(fixture("instrument_master.json")["path"].removeprefix("/v2"),
                                  headers={"access-token": "", "client-id": ""})
        chain = dict(sim.market.chain("NIFTY", date(2025, 10, 20)))
    assert answer.status_code == 200
    rows = list(csv.DictReader(io.StringIO(answer.text)))
    assert list(rows[0]) == fixture("instrument_master.json")["columns"]
    index = next(r for r in rows if r["SECURITY_ID"] == "13")
    assert (index["EXCH_ID"], index["SEGMENT"], index["INSTRUMENT"]) == ("NSE", "I", "INDEX")
    call = next(r for r in rows if r["SECURITY_ID"] == str(chain[24950.0][True]))
    assert (call["INSTRUMENT"], call["UNDERLYING_SECURITY_ID"], call["LOT_SIZE"], call["OPTION_TYPE"]) == (
        "OPTIDX", "13", "75", "CE")
    assert call["TICK_SIZE"] == "0.05" and float(call["STRIKE_PRICE"]) == 24950.0
    assert call["SM_EXPIRY_DATE"].startswith("2025-10-20") and call["EXPIRY_FLAG"] == "W"
    sensex = [r for r in rows if r["UNDERLYING_SYMBOL"] == "SENSEX" and r["INSTRUMENT"] == "OPTIDX"]
    assert sensex and all(r["EXCH_ID"] == "BSE" and r["LOT_SIZE"] == "20" for r in sensex)
