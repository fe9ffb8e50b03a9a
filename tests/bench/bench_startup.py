"""Start-up of the option-chain service: engine process start -> every chain built and every token streaming.

Run: ``python -m tests.bench.bench_startup``. The whole engine as operators run it
(``run.py`` with a config of its own: embedded Redis, the API, the option-chain service)
against the simulated Dhan in a separate process (``python -m adapters.sim``), which
enforces Dhan's limits and counts every request per client.

Dhan serves option chains and expiry lists through one limit, one request every 3 s, so
start-up cannot beat the queue: the bound is the plan ``run.py --check`` prints
(``start_up_time_s``: one expiry list per underlying + one chain per expiry, 3 s each) plus
the one batched LTP quote the build may need (quote APIs: 1 request/s). The instrument
master is a file with no limit, so it has no share of the bound.

The clock starts just before the engine process is spawned (Python start-up, imports and
the embedded redis-server included) and stops at the first poll of the engine's API that
sees every configured chain served, every leg of every chain carrying a tick merged after
its build (``updated_ms > built_ms``; the REST refresh, which also stamps legs, is 60 s
away and the venue's count proves none was sent) and the venue counting as many
subscribed instruments as the chains have legs plus their underlyings. Polls are 250 ms
apart. The venue must count zero refusals for breaking the 3 s spacing (805s): asserted.
Ratio: measured / bound, lower is better; near 1 means start-up is the queue and little else.
"""

from __future__ import annotations

import os
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from actors.optionchain.schedule import QUEUE_SPACING_S, start_up_time_s
from actors.optionchain.service import optionchain_plan_lines
from engine.config import load_config
from tests.bench._engine_proc import CREDENTIAL_ENV, dhan_client, engine_toml, start_engine, start_sim, wait_until
from tests.bench._report import BenchResult, emit

# (name, security id, segment, kind, expiries): 6 expiry lists + 10 chains = 48 s of queue.
UNDERLYINGS = (
    ("NIFTY", 13, "IDX_I", "index_major", 3),
    ("BANKNIFTY", 25, "IDX_I", "index_major", 2),
    ("SENSEX", 51, "IDX_I", "index_major", 2),
    ("FINNIFTY", 27, "IDX_I", "index_minor", 1),
    ("RELIANCE", 2885, "NSE_EQ", "stock", 1),
    ("CRUDEOIL", 464926, "MCX_COMM", "mcx", 1),
)
QUOTE_SPACING_S = 1.0  # Dhan's quote APIs: one request per second
REFRESH_INTERVAL_S = 60.0  # the first REST refresh (which stamps legs too) comes after start-up
POLL_S = 0.25
TIMEOUT_S = 240.0


def optionchain_toml() -> str:
    lines = ["[optionchain]", "enabled = true", f"refresh_interval_s = {REFRESH_INTERVAL_S}", 'feed_mode = "full"', ""]
    for name, security_id, segment, kind, expiries in UNDERLYINGS:
        lines += ["[[optionchain.underlyings]]", f'name = "{name}"', f"security_id = {security_id}",
                  f'segment = "{segment}"', f'kind = "{kind}"', f"expiries = {expiries}", ""]
    return "\n".join(lines)


def streaming(api: str, control: str, http: httpx.Client, chains: int) -> dict[str, Any] | None:
    """What start-up has reached, once every chain is served and every token has streamed; else None."""
    listing = http.get(f"{api}/optionchain/chains").json()["chains"]
    if len(listing) < chains:
        return None
    legs = 0
    for entry in listing:
        doc = http.get(f"{api}/optionchain/live", params={"underlying": entry["underlying"],
                                                          "expiry": entry["expiry"]}).json()
        for row in doc["rows"]:
            for leg in (row["ce"], row["pe"]):
                if leg is None:
                    continue
                if leg["updated_ms"] <= doc["built_ms"]:
                    return None
                legs += 1
    tokens = legs + len({entry["underlying"] for entry in listing})
    client = dhan_client(control, http)
    if client.get("subscriptions") != tokens:
        return None
    return {"chains": len(listing), "tokens": tokens, "client": client}


def measure(workdir: Path) -> tuple[float, float, dict[str, Any], list[str]]:
    """(start-up s, bound s, what was reached, the plan lines)."""
    os.environ.update(CREDENTIAL_ENV)  # the plan lines report whether the credentials are set
    sim, urls = start_sim(workdir)
    try:
        config = workdir / "startup.toml"
        config.write_text(engine_toml("bench-startup", urls, ("dhan",), optionchain_toml()))
        loaded = load_config(config)
        section = loaded.engine.optionchain
        lists, chains = len(section.underlyings), sum(u.expiries for u in section.underlyings)
        bound_s = start_up_time_s(lists, [u.expiries for u in section.underlyings]) + QUOTE_SPACING_S
        engine, api = start_engine(config)
        try:
            with httpx.Client(timeout=10) as http:
                reached = wait_until(lambda: streaming(api, urls["control"], http, chains), TIMEOUT_S, POLL_S,
                                     "every chain built and every token streaming")
                startup_s = time.monotonic() - engine.started_s
                final = dhan_client(urls["control"], http)
        finally:
            code = engine.stop()
        assert code == 0, f"engine exit code {code}: {engine.tail()}"
    finally:
        sim.stop()
    endpoints = reached["client"]["endpoints"]
    reached.update(planned_lists=lists, planned_chains=chains, lists=endpoints.get("optionchain/expirylist", 0),
                   chain_calls=endpoints.get("optionchain", 0), quotes=endpoints.get("marketfeed/ltp", 0),
                   throttled=final["throttled"], api_listening_s=engine.event_after_start_s("api_listening"))
    assert reached["throttled"] == 0, f"the venue refused {reached['throttled']} requests (805): 3 s spacing breached"
    assert reached["chain_calls"] == chains, f"{reached['chain_calls']} chain calls for {chains} chains: a refresh " \
                                             f"or a retry ran before start-up ended, the leg stamps prove nothing"
    return startup_s, bound_s, reached, optionchain_plan_lines(loaded)


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        startup_s, bound_s, reached, plan = measure(Path(tmp))
    print("\n".join(plan))
    print(f"start-up: API listening after {reached['api_listening_s']:.1f} s; venue counted {reached['lists']} "
          f"expiry lists, {reached['chain_calls']} chains, {reached['quotes']} LTP quotes, "
          f"{reached['throttled']} refused for the 3 s spacing", flush=True)
    emit([BenchResult(
        f"option-chain start-up, engine process start -> {reached['chains']} chains built and "
        f"{reached['tokens']:,} tokens streaming ({reached['lists'] + reached['chain_calls']} queued REST calls, "
        f"{reached['throttled']} spacing breaches at the venue)", startup_s, "s",
        f"Dhan-limit bound of the plan: ({reached['planned_lists']} expiry lists + {reached['planned_chains']} chains) "
        f"x {QUEUE_SPACING_S:g} s + 1 quote x {QUOTE_SPACING_S:g} s", bound_s, higher_is_better=False)])


if __name__ == "__main__":
    main()
