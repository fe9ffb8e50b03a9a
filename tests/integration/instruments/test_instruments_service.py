"""The instrument service in a whole engine on the simulated Deribit and Binance and a real Redis."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import redis as redis_py
import trio

import run
from actors.instruments.api import instruments_router
from actors.instruments.service import instruments_specs
from adapters.sim.actor import sim_specs
from engine import keys
from engine.config import load_config
from engine.runtime import run_engine
from tests.support import free_ports


def _config(tmp_path: Path, redis_url: str) -> Any:
    control, deribit, dhan, binance = free_ports(4)
    path = tmp_path / "engine.toml"
    path.write_text(f"""
[redis]
url = "{redis_url}"
[api]
port = 0
[sim]
enabled = true
control_port = {control}
deribit_port = {deribit}
dhan_port = {dhan}
binance_port = {binance}
[venues.deribit]
rest_url = "http://127.0.0.1:{deribit}/api/v2"
[venues.binance]
rest_url = "http://127.0.0.1:{binance}"
[index_prices]
enabled = true
interval_s = 0.5
sources = [{{market = "BTC", venue = "deribit", index = "btc_usdc"}},
           {{market = "ARB", venue = "binance", index = "ARBUSDT"}}]
[instruments]
enabled = true
startup_wait_s = 10.0
[instruments.markets.BTC]
[instruments.markets.ARB]
""")
    return load_config(path, environ={})


async def _health(client: httpx.AsyncClient, predicate: Any) -> dict[str, Any]:
    while True:
        body = (await client.get("/health")).json()
        if predicate(body):
            return body
        await trio.sleep(0.05)


def _components(health: dict[str, Any], prefix: str = "instruments:") -> dict[str, bool]:
    return {c["name"]: c["ok"] for c in health["components"] if c["name"].startswith(prefix)}


async def test_post_instruments_and_health(tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url)
    urls: list[str] = []
    listening, stop = trio.Event(), trio.Event()

    def on_listening(binds: list[str]) -> None:
        urls.extend(binds)
        listening.set()

    reader = redis_py.Redis.from_url(redis_url, decode_responses=True)

    async def engine() -> None:
        await run_engine(loaded, venue_specs=sim_specs(loaded, {}), extra_specs=instruments_specs(loaded),
                         routers=[instruments_router], venue_clients=run.venue_clients,
                         on_listening=on_listening, handle_signals=False, stop_event=stop)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(engine)
            await listening.wait()
            async with httpx.AsyncClient(base_url=urls[0], timeout=30) as client:
                # the start-up run lists both markets from the simulated index prices
                health = await _health(client, lambda b: len(_components(b)) == 2)
                assert _components(health) == {"instruments:ARB": True, "instruments:BTC": True}
                assert _components(health, "index_price:") == {"index_price:ARB": True, "index_price:BTC": True}
                btc_index = json.loads(reader.get(keys.index_price("BTC")))
                assert btc_index["price"] > 0 and btc_index["ts"] > 0
                assert json.loads(reader.get(keys.index_price("ARB")))["price"] > 0

                bad = await client.post("/instruments", content=b'{"market": "BTC"}')
                assert bad.status_code == 400 and "empty body" in bad.json()["error"]

                ok = await client.post("/instruments")
                assert ok.status_code == 200
                assert {m: r["ok"] for m, r in ok.json()["markets"].items()} == {"BTC": True, "ARB": True}
                assert reader.scard(keys.instruments("BTC")) == ok.json()["markets"]["BTC"]["live"] > 0

                arb_svi = [k for k in reader.scan_iter(match="svi:{ARB}:*")]
                reader.delete(*arb_svi)
                one_failed = await client.post("/instruments")
                assert one_failed.status_code == 200
                markets = one_failed.json()["markets"]
                assert markets["BTC"]["ok"] and not markets["ARB"]["ok"]
                assert "missing" in json.dumps(markets["ARB"]["failed_maturities"]).lower()
                health = (await client.get("/health")).json()
                assert _components(health) == {"instruments:ARB": False, "instruments:BTC": True}
                assert health["status"] == "degraded"
                assert reader.scard(keys.instruments("ARB")) > 0  # live names stay until they expire
            stop.set()
    reader.close()
