"""Chaos: SIGTERM to the engine process while its market makers quote on the simulated Binance.

Two real processes, as operators run them: the simulated venues (``python -m adapters.sim``)
and the engine (``python run.py``) market-making three pairs with SIGNED orders on the
simulated Binance, on free ports and a private embedded Redis. Once every pair rests quotes
at the venue, the engine gets SIGTERM. Invariant: it exits 0 within a bound, and the venue
holds zero open orders for the engine's account (every pair's, not only the ones the engine
remembers), as the simulator's control API and a signed ``openOrders`` both show.
"""

from __future__ import annotations

import json
import os
import signal
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx

from actors.marketmaker.params import example_pair_json
from adapters.binance.orders import signed_query
from adapters.sim.actor import SIM_CREDENTIALS
from tests.chaos.process_support import SimPorts, free_ports, json_events, spawned, stop_process, wait_for

KEY, SECRET = SIM_CREDENTIALS["binance_api_key"], SIM_CREDENTIALS["binance_api_secret"]
KEY_ENV, SECRET_ENV = "CHAOS_BINANCE_KEY", "CHAOS_BINANCE_SECRET"
CLIENT_ADDRESS = "127.0.0.1"
# the market makers' cancel timeout (5 s) plus the cleanup windows, with margin for a loaded machine
STOP_BOUND_S = 20.0
# Three pairs on one account: the account's 1200 orders a minute are split between them.
PAIRS: dict[str, dict[str, Any]] = {
    "BTCUSDT": {"near": {"levels": 4, "first_spread_bps": 5, "step_bps": 3, "size": 0.002}, "max_position": 0.2,
                "far": {"levels": 2, "range_pct": [1.0, 5.0], "size": 0.002}},
    "ETHUSDT": {"near": {"levels": 4, "first_spread_bps": 6, "step_bps": 3, "size": 0.04}, "max_position": 4.0,
                "far": {"levels": 2, "range_pct": [1.0, 5.0], "size": 0.04}},
    "SOLUSDT": {"near": {"levels": 4, "first_spread_bps": 8, "step_bps": 4, "size": 1.0}, "max_position": 100.0,
                "far": {"levels": 2, "range_pct": [1.0, 5.0], "size": 1.0}},
}


def _write_configs(tmp_path: Path, ports: SimPorts, api_port: int) -> tuple[Path, Path]:
    sim_config = tmp_path / "sim.toml"
    sim_config.write_text(ports.sim_section(enabled=False) + '[log]\nformat = "json"\n'
                          f'[venues.binance]\napi_key_env = "{KEY_ENV}"\napi_secret_env = "{SECRET_ENV}"\n')
    names = []
    for symbol, changes in PAIRS.items():
        pair = {**example_pair_json(), "symbol": symbol, "venue": "binance", "near_interval_s": 0.3,
                "far_interval_s": 2.0, "order_rate": {"per_10s": 100, "per_min": 400, "safety_fraction": 0.9},
                **changes}
        (tmp_path / f"{symbol.lower()}.json").write_text(json.dumps(pair))
        names.append(f"{symbol.lower()}.json")
    engine_config = tmp_path / "engine.toml"
    engine_config.write_text(
        f'[redis]\nurl = "embedded"\n[api]\nport = {api_port}\n[log]\nformat = "json"\n'
        f'[venues.binance]\nrest_url = "{ports.binance_rest_url}"\nws_url = "ws://127.0.0.1:{ports.binance}"\n'
        f'api_key_env = "{KEY_ENV}"\napi_secret_env = "{SECRET_ENV}"\n'
        f'[marketmaker]\npairs = {json.dumps(names)}\n')
    return sim_config, engine_config


def _signed_get(rest_url: str, path: str, params: list[tuple[str, str]]) -> Any:
    """A signed GET as the account (the venue's own view of it)."""
    query = signed_query(params, SECRET, int(time.time() * 1000), 5000).query
    answer = httpx.get(f"{rest_url}{path}?{query}", headers={"X-MBX-APIKEY": KEY}, timeout=5)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _account(control_url: str) -> dict[str, Any]:
    """Orders placed and cancelled at the simulated Binance, from its control API. It counts per
    client address: the engine is the only client on loopback that places or cancels orders."""
    accounting = httpx.get(f"{control_url}/control/binance/accounting", timeout=5).json()
    return accounting.get(CLIENT_ADDRESS, {})


def _ts_s(event: dict[str, Any]) -> float:
    return datetime.fromisoformat(event["ts"].replace("Z", "+00:00")).timestamp()


def test_sigterm_while_three_pairs_quote_leaves_zero_open_orders(tmp_path: Path) -> None:
    ports = SimPorts.free()
    (api_port,) = free_ports(1)
    sim_config, engine_config = _write_configs(tmp_path, ports, api_port)
    env = {**os.environ, KEY_ENV: KEY, SECRET_ENV: SECRET}
    engine_log = tmp_path / "engine.log"
    with spawned(["-m", "adapters.sim", str(sim_config)], tmp_path / "sim.log", env) as sim:
        wait_for(lambda: _probe(f"{ports.control_url}/control"), 30, "the simulator's control API")
        with spawned(["run.py", str(engine_config)], engine_log, env) as engine:
            def quoting() -> dict[str, list[dict[str, Any]]] | None:
                assert engine.poll() is None, engine_log.read_text()
                if _account(ports.control_url).get("orders_placed", 0) < 3 * 8:
                    return None
                books = {s: _signed_get(ports.binance_rest_url, "/fapi/v1/openOrders", [("symbol", s)]) for s in PAIRS}
                both_sides = all({o["side"] for o in orders} == {"BUY", "SELL"} for orders in books.values())
                return books if both_sides else None

            resting = wait_for(quoting, 45, "every pair quoting both sides at the venue", interval_s=0.3)
            placed_before_stop = _account(ports.control_url)["orders_placed"]

            engine.send_signal(signal.SIGTERM)
            sent_at = time.monotonic()
            exit_code = engine.wait(timeout=STOP_BOUND_S + 10)
            waited_s = time.monotonic() - sent_at
            stop_process(engine)
        left = _signed_get(ports.binance_rest_url, "/fapi/v1/openOrders", [])  # every symbol of the account
        account = _account(ports.control_url)
        assert sim.poll() is None, (tmp_path / "sim.log").read_text()

    events = json_events(engine_log)
    assert exit_code == 0, engine_log.read_text()[-4000:]
    assert waited_s < STOP_BOUND_S
    # what was resting: each pair's own ladder, both sides (client ids name the pair)
    for symbol, orders in resting.items():
        assert orders and all(o["clientOrderId"].startswith(f"mm-{symbol}-") for o in orders)
    assert placed_before_stop >= 3 * 8
    assert left == []
    assert account["orders_cancelled"] > 0
    stopped = {e["pair"]: e["remaining_orders"] for e in events if e["event"] == "mm_stopped"}
    assert stopped == {symbol: 0 for symbol in PAIRS}
    names = [e["event"] for e in events]
    assert names.index("engine_stop_requested") < names.index("supervisor_stopping") < names.index("engine_stopped")
    requested = next(e for e in events if e["event"] == "engine_stop_requested")
    finished = next(e for e in events if e["event"] == "engine_stopped")
    assert requested["signal"] == "SIGTERM" and finished["exit_code"] == 0
    assert _ts_s(finished) - _ts_s(requested) < STOP_BOUND_S  # the engine's own clock agrees


def _probe(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.TransportError:
        return False
