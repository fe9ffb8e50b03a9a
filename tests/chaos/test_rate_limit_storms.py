"""Chaos: throttling storms from every venue while the engine works.

Armed on the simulators' control API, all at once:
- Binance answers 429 (with ``Retry-After`` up to the next minute, as the venue does) to
  every request for ``STORM_S``, while the OI poller spends about 2000 requests a minute;
- Dhan answers 805 to the next ``DHAN_BURST`` REST calls, while a manual strike
  regeneration (``POST /admin/optionchain/refresh``) goes through the 3 s queue;
- Deribit answers 10028 to the next ``DERIBIT_BURST`` calls, while the index prices poll
  every 2 s; then ``POST /instruments`` regenerates every market from those prices.

Invariants: the simulators count no limit breach (no request over Binance's 2400 weight a
minute, Dhan's 3 s spacing and quote rate, Deribit's credits) and no 418 ban for the whole
run; a 429 stops the engine's Binance calls until its ``Retry-After`` (a client that calls
on is what earns the ban), so the storm's answers are few; and the engine recovers: the
manual regeneration and the instrument update succeed, Binance polling resumes, and
``/health`` is ok again.
"""

from __future__ import annotations

import time
from typing import Any

from tests.chaos.engine_rig import EngineRig

STORM_S = 5.0
BINANCE_BURST = 1000  # more than the storm could ever use: every request in it is answered 429
BINANCE_IN_FLIGHT = 30  # 429s a client that stops at the first one can still receive (requests in flight)
DHAN_BURST = 3  # under the REST client's 5 attempts: the regeneration gets through
DERIBIT_BURST = 10
RECOVERY_S = 90.0  # Retry-After reaches up to the next minute


def armed(rig: EngineRig, venue: str, kind: str) -> int:
    return rig.armed_faults(venue)["errors"].get(kind, 0)


def requests(rig: EngineRig, venue: str) -> int:
    return sum(client["requests"] for client in rig.accounting(venue).values())


def breaches(rig: EngineRig) -> dict[str, dict[str, Any]]:
    """Per venue and client: the limit breaches and bans the simulator counted (empty when none)."""
    found = {}
    for venue in ("binance", "dhan", "deribit"):
        for client, stats in rig.accounting(venue).items():
            if stats["throttled"] or stats["banned"] or stats["max_connections"] > 5:
                found[f"{venue}/{client}"] = stats
    return found


def test_429_805_10028_storms_breach_no_limit_and_the_engine_recovers(rig: EngineRig) -> None:
    assert not breaches(rig)
    builds, restarts = rig.chain_actor.builds, rig.restarts()

    rig.faults("dhan", burst={"kind": "805", "count": DHAN_BURST})
    refresh = rig.post("/admin/optionchain/refresh", {"underlying": "FINNIFTY"})
    assert refresh.status_code == 202, refresh.text
    rig.faults("deribit", burst={"kind": "10028", "count": DERIBIT_BURST})

    rig.faults("binance", burst={"kind": "429", "count": BINANCE_BURST})
    storm_started = time.monotonic()
    rig.wait_for(lambda: armed(rig, "binance", "429") < BINANCE_BURST, 10.0, "the first Binance 429")
    time.sleep(max(0.0, STORM_S - (time.monotonic() - storm_started)))
    answered_429 = BINANCE_BURST - armed(rig, "binance", "429")
    rig.faults("binance", clear=True)
    after_storm = requests(rig, "binance")
    print(f"Binance 429s answered during the {STORM_S:g} s storm: {answered_429}")
    assert 1 <= answered_429 <= BINANCE_IN_FLIGHT

    rig.wait_for(lambda: armed(rig, "dhan", "805") == 0, 60.0, "the Dhan 805 burst answered")
    rig.wait_for(lambda: rig.chain_actor.builds > builds, 60.0, "the manual FINNIFTY regeneration")
    finnifty = rig.components()["optionchain:FINNIFTY"]
    assert finnifty["ok"] and "(manual)" in finnifty["detail"], finnifty
    rig.wait_for(lambda: armed(rig, "deribit", "10028") == 0, 60.0, "the Deribit 10028 burst answered")
    update = rig.post("/instruments")
    assert update.status_code == 200, update.text
    markets = update.json()["markets"]
    assert set(markets) == {"BTC", "ETH", "ARB"} and all(m["ok"] for m in markets.values()), markets

    rig.wait_for(lambda: requests(rig, "binance") > after_storm + 100, RECOVERY_S, "Binance polling resumed")
    rig.wait_for(lambda: rig.health()["status"] == "ok", RECOVERY_S, "a healthy engine")
    assert not breaches(rig), breaches(rig)
    assert rig.restarts() == restarts
