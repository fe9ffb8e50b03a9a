"""Peak RSS of one engine process with every service at full size, beside the same engine idle.

Run: ``python -m tests.bench.bench_rss`` (about 9 minutes: start-up alone is Dhan's 3 s queue
for 135 calls). ``run.py`` runs as operators run it, with:

* option chains: 10 simulated indices x 12 weekly expiries + NIFTY x 4 expiries, all
  ``index_major`` (100 strikes, 200 legs a chain): 124 chains, 24,811 feed tokens on 5
  connections (the 25,000-token cap less one chain: 125 chains and their underlyings would
  not fit), every token ticking every ``DHAN_STEP_S`` in full mode;
* OI surveillance on the simulated Binance listing ``BINANCE_SYMBOLS`` perpetuals, with the
  default ENTER/EXIT thresholds, which puts about 410 symbols in the liquid universe, polled
  at the default 2000 requests/min (with the history backfill at start);
* 10 market-making pairs quoting on the paper venue from the simulated Binance's depth stream.

The simulators run outside the engine (``python -m adapters.sim`` with its load flags), so
their memory is not counted: Dhan and Binance each in a process of its own, so that encoding
25,000 feed packets never stalls the REST answers the OI poller waits for (the real venues
do not share a CPU either). Once every chain is built and all tokens stream, the
universe is full and every pair quotes, the engine runs ``STEADY_S`` more seconds; then the
engine process's ``VmHWM`` (peak resident set since it started, start-up transients
included) is read from /proc. The embedded redis-server is a child process of its own and
is not counted either.

Figures, each beside a baseline from the same run:

* peak RSS beside the same engine (``run.py``, same imports, embedded Redis and the API)
  running with no service for ``IDLE_S`` seconds: what the services themselves cost;
* the same peak RSS beside the 300 MB the project aims to stay under.
"""

from __future__ import annotations

import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

from adapters.sim.binance_universe import build_universe
from tests.bench._engine_proc import (
    Proc, cpu_s, dhan_client, engine_toml, metric_total, proc_status_kb, spawn, start_engine, start_sim, wait_until,
)
from tests.bench._report import BenchResult, emit

SYNTHETIC_INDICES, WEEKLIES = 10, 12
NIFTY_EXPIRIES = 4
BINANCE_SYMBOLS = 650
DHAN_STEP_S = 2.0  # every subscribed token gets a full packet this often (~12k ticks/s in all)
MM_BASES = ("BTC", "ETH", "SOL", "BNB", "XRP", "DOGE", "ADA", "AVAX", "LINK", "DOT")
MIN_UNIVERSE = 400
STEADY_S = 60.0
IDLE_S = 20.0
AIM_MB = 300.0
STARTUP_TIMEOUT_S = 1200.0
SAMPLE_S = 1.0
SEED = 7


# --------------------------------------------------------------------------- configs


def optionchain_toml() -> str:
    underlyings = [(f"SIMIDX{i + 1:02d}", 900_001 + i, WEEKLIES) for i in range(SYNTHETIC_INDICES)]
    underlyings.append(("NIFTY", 13, NIFTY_EXPIRIES))
    lines = ["[optionchain]", "enabled = true", "refresh_interval_s = 30.0", 'feed_mode = "full"', ""]
    for name, security_id, expiries in underlyings:
        lines += ["[[optionchain.underlyings]]", f'name = "{name}"', f"security_id = {security_id}",
                  'segment = "IDX_I"', 'kind = "index_major"', f"expiries = {expiries}", ""]
    return "\n".join(lines)


def pair_documents() -> list[dict[str, Any]]:
    """One paper pair per base, sized on the simulated venue's grid (about twice its minimum notional)."""
    specs = {s.symbol: s for s in build_universe(SEED, int(time.time() * 1000), BINANCE_SYMBOLS)}
    out = []
    for base in MM_BASES:
        spec = specs[f"{base}USDT"]
        step = float(spec.step_size)
        size = step * math.ceil(2 * float(spec.min_notional) / spec.initial_price / step)
        places = max(0, -spec.step_size.normalize().as_tuple().exponent)
        out.append({
            "symbol": spec.symbol, "venue": "paper", "enabled": True, "book_source": "stream",
            "near_interval_s": 1.0, "far_interval_s": 30.0, "force_refresh_num": 10,
            "near_diff_rate_per_round": 0.0005,
            "near": {"levels": 5, "first_spread_bps": 5, "step_bps": 3, "size": round(size, places),
                     "size_growth": 1.5},
            "far": {"levels": 5, "range_pct": [1.0, 5.0], "size": round(size * 2, places)},
            "max_position": round(size * 40, places), "stale_book_ms": 3000,
        })
    return out


def full_toml(workdir: Path, urls: dict[str, str]) -> str:
    pairs = []
    (workdir / "pairs").mkdir(exist_ok=True)
    for doc in pair_documents():
        path = workdir / "pairs" / f"{doc['symbol'].lower()}.json"
        path.write_text(json.dumps(doc, indent=1))
        pairs.append(f'"pairs/{path.name}"')
    services = (f"{optionchain_toml()}\n[oi]\nenabled = true\n\n[marketmaker]\npairs = [{', '.join(pairs)}]\n")
    return engine_toml("bench-rss", urls, ("dhan", "binance"), services)


# --------------------------------------------------------------------------- measuring


def idle_peak_kb(workdir: Path, urls: dict[str, str]) -> int:
    """VmHWM of the engine with no service, after ``IDLE_S`` seconds."""
    config = workdir / "idle.toml"
    config.write_text(engine_toml("bench-idle", urls, (), ""))
    engine, _ = start_engine(config)
    try:
        time.sleep(IDLE_S)
        return proc_status_kb(engine.pid)["VmHWM"]
    finally:
        assert engine.stop() == 0, engine.tail()


def imports_peak_kb(workdir: Path) -> int:
    """VmHWM of a bare interpreter that imports what run.py imports (every service's modules), and no more."""
    code = ("import run\nwith open('/proc/self/status') as fh:\n"
            "    print([l.split()[1] for l in fh if l.startswith('VmHWM')][0], flush=True)\n")
    proc = spawn(["-c", code], workdir / "imports.log")
    proc.popen.wait(120)
    return int(proc.log_path.read_text().split()[-1])


def ready(api: str, controls: dict[str, str], http: httpx.Client, chains: int) -> dict[str, Any] | None:
    """Every chain served and streaming, the universe full and every pair quoting; else None."""
    try:
        return _ready(api, controls["dhan"], http, chains)
    except httpx.HTTPError:  # a slow answer while the engine builds: ask again at the next poll
        return None


def _ready(api: str, control: str, http: httpx.Client, chains: int) -> dict[str, Any] | None:
    listing = http.get(f"{api}/optionchain/chains").json()["chains"]
    if len(listing) < chains:
        return None
    tokens = sum(entry["strikes"] for entry in listing) * 2 + len({entry["underlying"] for entry in listing})
    if dhan_client(control, http).get("subscriptions") != tokens:
        return None
    universe = http.get(f"{api}/api/market/open-interest/liquid-universe").json()
    symbols = universe["count"]
    if symbols < MIN_UNIVERSE:
        return None
    pairs = http.get(f"{api}/api/mm").json()["pairs"]
    if len(pairs) < len(MM_BASES) or not all((p.get("status") or {}).get("live_orders") for p in pairs):
        return None
    return {"tokens": tokens, "symbols": symbols}


def steady(engine: Proc, sims: list[Proc], api: str, controls: dict[str, str], http: httpx.Client) -> dict[str, Any]:
    """Run ``STEADY_S`` seconds, sampling VmRSS; what flowed meanwhile and the CPU it took."""
    def counts() -> tuple[float, int]:
        ticks = metric_total(http.get(f"{api}/metrics").text, "engine_ticks_received_total")
        binance = http.get(f"{controls['binance']}/control/binance/accounting").json()
        oi = sum(c["endpoints"].get("GET /fapi/v1/openInterest", 0) for c in binance.values())
        return ticks, oi

    ticks_0, oi_0 = counts()
    cpu_0 = cpu_s(engine.pid), sum(cpu_s(sim.pid) for sim in sims)
    started, rss_kb = time.monotonic(), []
    while time.monotonic() - started < STEADY_S:
        rss_kb.append(proc_status_kb(engine.pid)["VmRSS"])
        time.sleep(SAMPLE_S)
    elapsed = time.monotonic() - started
    cpu_1 = cpu_s(engine.pid), sum(cpu_s(sim.pid) for sim in sims)
    ticks_1, oi_1 = counts()
    pairs = http.get(f"{api}/api/mm").json()["pairs"]
    status = proc_status_kb(engine.pid)
    return {"hwm_kb": status["VmHWM"], "rss_end_kb": status["VmRSS"], "rss_max_kb": max(rss_kb),
            "ticks_s": (ticks_1 - ticks_0) / elapsed, "oi_per_min": (oi_1 - oi_0) / elapsed * 60,
            "engine_cpu": (cpu_1[0] - cpu_0[0]) / elapsed, "sim_cpu": (cpu_1[1] - cpu_0[1]) / elapsed,
            "quoting": sum(1 for p in pairs if (p.get("status") or {}).get("live_orders")),
            "dhan": dhan_client(controls["dhan"], http),
            "sim_rss_kb": sum(proc_status_kb(sim.pid)["VmRSS"] for sim in sims)}


def measure(workdir: Path) -> dict[str, Any]:
    sims: list[Proc] = []
    try:
        dhan, dhan_urls = start_sim(workdir, "--venues", "dhan", "--dhan-synthetic-indices", str(SYNTHETIC_INDICES),
                                    "--dhan-synthetic-weeklies", str(WEEKLIES), "--dhan-step-interval-s",
                                    str(DHAN_STEP_S), name="sim-dhan")
        sims.append(dhan)
        binance, binance_urls = start_sim(workdir, "--venues", "binance", "--binance-symbols", str(BINANCE_SYMBOLS),
                                          name="sim-binance")
        sims.append(binance)
        urls = {"dhan": dhan_urls["dhan"], "binance": binance_urls["binance"]}
        controls = {"dhan": dhan_urls["control"], "binance": binance_urls["control"]}
        result = {"imports_kb": imports_peak_kb(workdir), "idle_kb": idle_peak_kb(workdir, urls)}
        config = workdir / "full.toml"
        config.write_text(full_toml(workdir, urls))
        engine, api = start_engine(config)
        try:
            with httpx.Client(timeout=30) as http:
                chains = SYNTHETIC_INDICES * WEEKLIES + NIFTY_EXPIRIES
                result.update(wait_until(lambda: ready(api, controls, http, chains), STARTUP_TIMEOUT_S,
                                         5.0, "every chain streaming, the universe full, every pair quoting"))
                result["ready_s"] = time.monotonic() - engine.started_s
                result["hwm_at_ready_kb"] = proc_status_kb(engine.pid)["VmHWM"]
                result.update(steady(engine, sims, api, controls, http))
                plans = [e for e in engine.events() if e.get("event") == "feed_plan"]
                result["connections"] = plans[-1]["connections"] if plans else 0
        finally:
            code = engine.stop(60)
        assert code == 0, f"engine exit code {code}: {engine.tail()}"
    finally:
        for sim in sims:
            sim.stop()
    assert result["dhan"]["throttled"] == 0, result["dhan"]
    return result


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        r = measure(Path(tmp))
    mb = {k: v / 1024 for k, v in r.items() if k.endswith("_kb")}
    print(f"ready after {r['ready_s']:.0f} s (peak then {mb['hwm_at_ready_kb']:.0f} MB); steady {STEADY_S:g} s: "
          f"{r['ticks_s']:,.0f} ticks/s, {r['oi_per_min']:,.0f} OI requests/min, {r['quoting']} pairs quoting, "
          f"CPU engine {r['engine_cpu']:.0%} simulators {r['sim_cpu']:.0%} of a core; "
          f"VmRSS at the end {mb['rss_end_kb']:.0f} MB (max sampled {mb['rss_max_kb']:.0f} MB); "
          f"imports alone {mb['imports_kb']:.0f} MB; simulators (not counted) {mb['sim_rss_kb']:.0f} MB", flush=True)
    name = (f"engine peak RSS (VmHWM) after {STEADY_S:g} s steady: {r['tokens']:,} Dhan tokens on "
            f"{r['connections']} connections ({r['ticks_s']:,.0f} ticks/s), {r['symbols']} OI symbols "
            f"({r['oi_per_min']:,.0f} requests/min), {r['quoting']} MM pairs quoting")
    emit([
        BenchResult(name, mb["hwm_kb"], "MB", "the same engine with no service (peak RSS)", mb["idle_kb"],
                    higher_is_better=False),
        BenchResult(name, mb["hwm_kb"], "MB", "the project's aim", AIM_MB, higher_is_better=False),
    ])


if __name__ == "__main__":
    main()
