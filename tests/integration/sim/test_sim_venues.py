"""All simulated venues together: ports, control HTTP API, accounting, determinism, the engine actor."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import trio

from adapters.sim.actor import SIM_CREDENTIALS, sim_credentials, sim_specs
from adapters.sim.venues import SimVenues
from engine.clock import Clock
from engine.config import load_config
from engine.runtime import run_engine

DHAN_HEADERS = {"access-token": "sim-dhan-token", "client-id": "1000000001", "Content-Type": "application/json"}
OPTIONS = {"dhan": {"access_token": "sim-dhan-token", "client_id": "1000000001"}}


async def _with_sim(body: Any, seed: int = 11) -> None:
    sim = SimVenues(seed=seed, clock=Clock(), ws_ping_interval_s=10.0, options=OPTIONS)
    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            urls = await nursery.start(sim.run)
            async with httpx.AsyncClient(timeout=5) as client:
                await body(sim, urls, client)
            sim.stop()


async def test_every_venue_answers_on_its_own_port() -> None:
    async def body(sim: SimVenues, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        assert set(urls) == {"deribit", "dhan", "binance", "control"}
        assert len({u.rsplit(":", 1)[1] for u in urls.values()}) == 4
        index = (await client.get(f"{urls['deribit']}/api/v2/public/get_index_price", params={"index_name": "btc_usd"})).json()
        assert index["jsonrpc"] == "2.0" and index["result"]["index_price"] > 0
        expiries = await client.post(f"{urls['dhan']}/v2/optionchain/expirylist", headers=DHAN_HEADERS,
                                     json={"UnderlyingScrip": 13, "UnderlyingSeg": "IDX_I"})
        assert expiries.json()["status"] == "success" and expiries.json()["data"]
        oi = await client.get(f"{urls['binance']}/fapi/v1/openInterest", params={"symbol": "BTCUSDT"})
        assert oi.json()["symbol"] == "BTCUSDT" and "X-MBX-USED-WEIGHT-1M" in oi.headers

    await _with_sim(body)


async def test_control_api_arms_faults_and_reports_accounting() -> None:
    async def body(sim: SimVenues, urls: dict[str, str], client: httpx.AsyncClient) -> None:
        control = urls["control"]
        armed = await client.post(f"{control}/control/binance/faults", json={"burst": {"kind": "429", "count": 1}})
        assert armed.status_code == 200 and armed.json()["errors"] == {"429": 1}
        limited = await client.get(f"{urls['binance']}/fapi/v1/time")
        assert limited.status_code == 429
        assert (await client.get(f"{urls['binance']}/fapi/v1/time")).status_code == 200
        accounting = (await client.get(f"{control}/control/binance/accounting")).json()
        assert sum(c["requests"] for c in accounting.values()) >= 2
        bad = await client.post(f"{control}/control/binance/faults", json={"burst": {"kind": "teapot"}})
        assert bad.status_code == 400 and "burst.kind" in bad.json()["error"]
        assert (await client.post(f"{control}/control/kraken/faults", json={})).status_code == 404
        jumped = await client.post(f"{control}/control/deribit/actions/jump_price", json={"currency": "BTC", "pct": 10})
        assert jumped.status_code == 200
        unknown = await client.post(f"{control}/control/deribit/actions/melt_down", json={})
        assert unknown.status_code == 400
        state = (await client.get(f"{control}/control")).json()
        assert state["seed"] == 11 and set(state["venues"]) == {"deribit", "dhan", "binance"}

    await _with_sim(body)


async def test_same_seed_same_market() -> None:
    def prices(seed: int) -> list[float]:
        sim = SimVenues(seed=seed, clock=Clock(), options=OPTIONS)
        for _ in range(50):
            sim.step(1.0)
        return [float(sim.venue("deribit").control_action("jump_price", {"currency": "BTC", "pct": 0})["index_price"])]

    assert prices(5) == prices(5)
    assert prices(5) != prices(6)


def test_sim_credentials_fill_only_unset_variables(tmp_path: Path) -> None:
    path = tmp_path / "dev.toml"
    path.write_text('[sim]\nenabled = true\n[venues.dhan]\n[venues.binance]\n')
    loaded = load_config(path, environ={})
    environ = {"DHAN_CLIENT_ID": "42"}
    creds = sim_credentials(loaded, environ)
    assert creds["dhan_client_id"] == "42" and environ["DHAN_ACCESS_TOKEN"] == SIM_CREDENTIALS["dhan_access_token"]
    assert environ["BINANCE_API_SECRET"] == SIM_CREDENTIALS["binance_api_secret"]


async def test_engine_runs_the_simulator_as_its_first_actor(tmp_path: Path, redis_url: str) -> None:
    path = tmp_path / "dev.toml"
    path.write_text(
        f'[redis]\nurl = "{redis_url}"\n[api]\nport = 0\n'
        "[sim]\nenabled = true\ncontrol_port = 0\nderibit_port = 0\ndhan_port = 0\nbinance_port = 0\n"
    )
    loaded = load_config(path, environ={})
    urls: list[str] = []
    listening, stop = trio.Event(), trio.Event()

    def on_listening(binds: list[str]) -> None:
        urls.extend(binds)
        listening.set()

    with trio.fail_after(30):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(lambda: run_engine(loaded, venue_specs=sim_specs(loaded, {}), on_listening=on_listening,
                                                  handle_signals=False, stop_event=stop))
            await listening.wait()
            async with httpx.AsyncClient(base_url=urls[0]) as client:
                health = (await client.get("/health")).json()
            assert [a["name"] for a in health["actors"]] == ["sim_venues", "heartbeat", "api"]
            assert {a["state"] for a in health["actors"]} == {"running"}
            stop.set()
