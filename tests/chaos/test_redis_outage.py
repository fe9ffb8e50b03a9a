"""Chaos: Redis killed for 30 s while every service works, then restarted empty on the same socket.

Before the outage one OI alert comes from the real pipeline (an OI spike on the simulated
Binance, polled and judged by the engine) and one from the ingest API, and both are on the
server. Then the private redis-server is SIGKILLed for 30 s; meanwhile two more alerts are
raised the same two ways, and the API is read every second. Then a new, empty server starts
on the same socket.

Invariants:
- during the outage the API answers 200 from memory: ``/optionchain/live`` (with chains still
  merging ticks), ``/optionchain/chains``, the liquid universe, the recent OI alerts (with every
  alert raised during the outage), the OI samples of the spiked symbol (still growing), the
  market maker's pair (still quoting), and ``/health`` showing Redis disconnected;
- afterwards Redis holds what the engine holds: every chain equal to the in-memory cache
  (after the next write), the expiry and ATM registries and the universe keys equal to what
  the engine last wrote, and in ``oi:alerts`` every alert the engine raised, before and
  during the outage, in order: the entries of before the outage under their old ids.
"""

from __future__ import annotations

import json
import time
from collections import Counter
from typing import Any

from engine import keys
from tests.chaos.engine_rig import MM_PAIR, EngineRig

OUTAGE_S = 30.0
SPIKE_PCT = 30.0  # far over the 5 % alert threshold
ALERT_TIMEOUT_S = 40.0  # a spiked symbol is seen at its next poll (every few seconds)


def alerted_symbols(rig: EngineRig) -> set[str]:
    return {json.loads(text)["symbol"] for text in list(rig.probe.alerts)}


def ingest_doc(symbol: str, ts_ms: int) -> dict[str, Any]:
    return {"type": "open_interest_alert", "symbol": symbol, "direction": "DOWN", "open_interest": 900.0,
            "baseline_oi": 1000.0, "pct_change": -10.0, "abs_change": -100.0, "window_min": [30, 60], "ts": ts_ms}


def raise_alerts(rig: EngineRig, spiked: str, ingested: str) -> None:
    """One alert through the OI pipeline, one through the ingest API; returns once the engine raised both."""
    rig.sim_action("binance", "spike_oi", symbol=spiked, pct=SPIKE_PCT)
    answer = rig.post("/api/open-interest-alerts/ingest", {"items": [ingest_doc(ingested, rig.now_ms())]})
    assert answer.status_code == 200 and answer.json() == {"accepted": 1}, answer.text
    rig.wait_for(lambda: {spiked, ingested} <= alerted_symbols(rig), ALERT_TIMEOUT_S, f"alerts of {spiked}, {ingested}")


def stored_payloads(rig: EngineRig) -> list[str]:
    with rig.redis() as client:
        return [fields["payload"] for _id, fields in client.xrange(keys.OI_ALERTS)]


def chain_is_stored(rig: EngineRig, underlying: str, expiry: str) -> bool:
    """Redis holds the cache's document of the chain after the next write (checked in the engine's loop)."""
    async def check() -> bool:
        cache = rig.chain_actor.cache
        before = cache.texts.get((underlying, expiry))
        await rig.store.flush(5.0)
        stored = await rig.store.get(keys.optionchain(underlying, expiry))
        return stored is not None and stored in (before, cache.texts.get((underlying, expiry)))
    return rig.call_async(check)


def as_stored(value: Any) -> Any:
    """The mirror's value as a Redis client reads it back (strings): a copy, made in the engine's loop."""
    if isinstance(value, dict):
        return {str(k): str(v) for k, v in value.items()}
    if isinstance(value, set):
        return {str(v) for v in value}
    return value


def read_key(client: Any, key: str, like: Any) -> Any:
    if isinstance(like, dict):
        return client.hgetall(key)
    if isinstance(like, set):
        return client.smembers(key)
    return client.get(key)


def test_api_answers_from_memory_for_30_s_and_redis_is_whole_again(rig: EngineRig) -> None:
    universe = rig.get("/api/market/open-interest/liquid-universe").json()["symbols"]
    quiet = [s for s in universe if s not in alerted_symbols(rig)]
    assert len(quiet) >= 4, quiet
    listings = rig.chains()

    raise_alerts(rig, spiked=quiet[0], ingested=quiet[1])
    assert rig.call_async(rig.store.flush, 5.0)
    with rig.redis() as client:
        before_outage = client.xrange(keys.OI_ALERTS)
    assert {quiet[0], quiet[1]} <= {json.loads(f["payload"])["symbol"] for _id, f in before_outage}
    generation, restarts = rig.health()["redis"]["generation"], rig.restarts()

    rig.redis_server.kill()
    killed_at, killed_ms = time.monotonic(), rig.now_ms()
    raised_before = len(rig.probe.alerts)
    rig.wait_for(lambda: not rig.health()["redis"]["connected"], 10.0, "/health showing Redis disconnected")
    raise_alerts(rig, spiked=quiet[2], ingested=quiet[3])
    raised_during = [json.loads(text) for text in rig.probe.alerts[raised_before:]]
    assert {quiet[2], quiet[3]} <= {alert["symbol"] for alert in raised_during}
    answers: Counter[tuple[str, int]] = Counter()
    served: dict[tuple[str, str], dict[str, Any]] = {}
    sample_ts: list[int] = []  # the newest sample of the spiked symbol, at each read
    mm_rounds: list[int] = []
    while time.monotonic() - killed_at < OUTAGE_S:
        for listing in listings:
            chain = (listing["underlying"], listing["expiry"])
            response = rig.get("/optionchain/live", underlying=chain[0], expiry=chain[1])
            answers[("/optionchain/live", response.status_code)] += 1
            if response.status_code == 200:
                served[chain] = response.json()
        for path in ("/optionchain/chains", "/api/market/open-interest/liquid-universe"):
            answers[(path, rig.get(path).status_code)] += 1
        alerts = rig.get("/api/open-interest-alerts", limit=1000)
        answers[("/api/open-interest-alerts", alerts.status_code)] += 1
        if alerts.status_code == 200:
            missing = [a for a in raised_during if a not in alerts.json()["alerts"]]
            assert not missing, f"alerts raised during the outage not answered: {missing}"
        samples = rig.get("/api/market/open-interest/samples", symbol=quiet[2])
        answers[("/api/market/open-interest/samples", samples.status_code)] += 1
        if samples.status_code == 200 and samples.json()["samples"]:
            sample_ts.append(samples.json()["samples"][0]["ts"])
        quoting = rig.get(f"/api/mm/{MM_PAIR}")
        answers[("/api/mm/{pair}", quoting.status_code)] += 1
        if quoting.status_code == 200 and quoting.json()["status"] is not None:
            mm_rounds.append(quoting.json()["status"]["rounds"])
        health = rig.get("/health")
        answers[("/health", health.status_code)] += 1
        assert health.json()["redis"]["connected"] is False
        time.sleep(1.0)
    assert rig.redis_server.running is False
    assert all(status == 200 for _path, status in answers), answers
    print(f"answers during the {OUTAGE_S:g} s outage: {dict(answers)}")
    assert all(doc["updated_ms"] > killed_ms for doc in served.values()), "chains stopped merging during the outage"
    assert len(sample_ts) >= 2 and sample_ts[-1] > sample_ts[0], f"OI samples stopped during the outage: {sample_ts}"
    assert len(mm_rounds) >= 2 and mm_rounds[-1] > mm_rounds[0], f"the market maker stopped quoting: {mm_rounds}"

    rig.redis_server.restart()
    rig.wait_for(lambda: (lambda r: r["connected"] and r["generation"] == generation + 1)(rig.health()["redis"]),
                 20.0, "the writer back on the restarted server")

    # Every alert the engine raised, before and during the outage, in order; the old entries keep their ids.
    rig.wait_for(lambda: stored_payloads(rig) == rig.probe.alerts, 20.0, "oi:alerts equal to the alerts raised",
                 describe=lambda: {"stored": stored_payloads(rig), "raised": rig.probe.alerts})
    with rig.redis() as client:
        after = client.xrange(keys.OI_ALERTS)
    assert after[:len(before_outage)] == before_outage
    assert set(quiet[:4]) <= {json.loads(f["payload"])["symbol"] for _id, f in after}

    # The same chains: equal to the in-memory cache after the next write; registries as last written.
    for listing in listings:
        rig.wait_for(lambda: chain_is_stored(rig, listing["underlying"], listing["expiry"]), 20.0,
                     f"Redis holding the cached {listing['underlying']} {listing['expiry']} chain")
    underlyings = {listing["underlying"] for listing in listings}
    registry = [key for u in underlyings for key in (keys.optionchain_expiries(u), keys.optionchain_atm(u))]

    # The universe: the set the API serves and every symbol's metadata as the engine last wrote it.
    view = rig.get("/api/market/open-interest/liquid-universe").json()
    meta_keys = [keys.oi_liquid_meta(symbol) for symbol in view["symbols"]]

    def stored_as_written() -> list[str]:
        assert rig.call_async(rig.store.flush, 5.0)
        with rig.redis() as client:
            differing = []
            for key in [keys.OI_LIQUID_UNIVERSE, *meta_keys, *registry]:
                written = rig.call(lambda: as_stored(rig.store.mirror_value(key)))
                if written is None or read_key(client, key, written) != written:
                    differing.append(key)
            return differing

    rig.wait_for(lambda: not stored_as_written(), 20.0, "universe and registry keys as the engine wrote them",
                 describe=stored_as_written)
    with rig.redis() as client:
        assert client.smembers(keys.OI_LIQUID_UNIVERSE) == set(view["symbols"])
    assert rig.health()["redis"]["dropped_ops"] == 0
    assert rig.restarts() == restarts  # every service rode the outage out in memory
