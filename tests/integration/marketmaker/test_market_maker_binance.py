"""MarketMakerActor on the simulated Binance with SIGNED orders (the "binance" venue), end to end.

Real HTTP to the simulator, which verifies every signature and places on its matching
engine; books from its depth stream through a BookFeedActor; a real Redis. A quoting run
that gets filled when the market jumps through the asks, a batch with rejected items, a
place whose outcome is unknown (timed out, or 503 after the venue executed it), the far
ladder's rollback when its second batch fails, and a stop that leaves no open order --
in-process and as a real ``run.py`` process sent SIGTERM.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from decimal import Decimal
from pathlib import Path

import httpx
import pytest
import trio
from structlog.testing import capture_logs

from actors.marketmaker.actor import MarketMakerActor
from actors.marketmaker.params import example_pair_json
from adapters.binance.orders import signed_query
from tests.support import free_ports, json_events
from tests.integration.marketmaker.mm_support import (
    KEY, SECRET, SYMBOL, binance_mm_rig, binance_pair, far_from, mark,
)

ROOT = Path(__file__).resolve().parents[3]
NO_FAR = {"levels": 0, "range_pct": [1, 5], "size": 0.01}


def issued_ids(actor: MarketMakerActor) -> list[str]:
    """Every client id the actor has issued so far, in order (seq 0, 1, ...)."""
    ids = actor._ids  # the test knows the id factory's sequence
    assert ids is not None
    return [ids.client_id(seq) for seq in range(ids.next_seq)]


def near_sells(actor: MarketMakerActor) -> list:
    return [o for o in actor.live.values() if o.ladder == "near" and o.side == "SELL"]


async def test_a_quoting_run_gets_filled_goes_short_and_keeps_quoting(redis_url: str) -> None:
    actor = MarketMakerActor(binance_pair())
    async with binance_mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 3 and near_sells(actor)
                        and any(o.ladder == "far" for o in actor.live.values()), 15)
        quoted = await rig.settled()  # the venue's open orders are the actor's live orders
        book, rules = actor.book, actor.rules
        orders = await rig.signed.open_orders(SYMBOL)
        asks_before = {o.client_id for o in near_sells(actor)}

        jumped = rig.sim.venues.action("binance", "jump_price", {"symbol": SYMBOL, "pct": 0.5})
        position = await rig.signed.position(SYMBOL)
        # the actor sees the fill, reports the venue's position and quotes again around the new price
        await rig.until(lambda: actor.position == position and len(near_sells(actor)) >= 3
                        and not asks_before & {o.client_id for o in near_sells(actor)}, 10)
        rounds = actor.rounds
        await rig.until(lambda: actor.rounds >= rounds + 2, 5)
        status = await rig.status()
        new_price = Decimal(repr(jumped["price"]))
        requoted = await rig.signed.open_orders(SYMBOL)
        settled = await rig.settled()
        assert actor.errors == 0 and actor.rollbacks == 0
        await rig.stop()

    assert {"BUY", "SELL"} <= {o.side for o in orders} and len(quoted) >= 10
    assert all(actor._ids.owns(o.client_order_id) for o in orders)  # type: ignore[union-attr]
    best_bid, best_ask = book.bids[0][0], book.asks[0][0]
    assert all(o.price > best_bid for o in orders if o.side == "SELL")  # nothing crosses the book
    assert all(o.price < best_ask for o in orders if o.side == "BUY")
    assert all(rules.price_on_grid(o.price) and rules.qty_on_grid(o.orig_qty) for o in orders)
    assert all(o.time_in_force == "GTX" for o in orders)  # post-only: a quote never takes

    assert jumped["fills"] >= 1 and position < 0  # our asks were filled: short
    assert abs(position) <= actor.params.max_position
    assert Decimal(status["position"]) == position and status["placed"] > len(orders)
    assert status["rounds"] >= rounds + 2 and status["live_orders"] >= 1 and status["errors"] == 0
    assert any(o.side == "SELL" and o.price > new_price for o in requoted)  # asks again, above the new price
    assert settled  # the venue's open orders are the actor's live ones
    assert actor.remaining_after_stop == 0


async def test_rejected_items_are_counted_and_the_accepted_ones_stay_live(redis_url: str) -> None:
    # one near round every 2 s, no far ladder: the first round is 10 quotes in two batches
    actor = MarketMakerActor(binance_pair(near_interval_s=2.0, far=NO_FAR, force_refresh_num=1000))
    async with binance_mm_rig(redis_url, actor, start=False) as rig:
        rig.faults.reject_orders = 2  # the venue refuses the next two order items (-2019)
        rig.start()
        await rig.until(lambda: actor.rounds >= 1, 15)
        first_round = issued_ids(actor)
        live_after_first = set(actor.live)
        venue_after_first = await rig.open_ids()
        rejected, placed, errors = actor.rejected, actor.placed, actor.errors
        status = await rig.status()
        health = rig.health()
        await rig.until(lambda: actor.rounds >= 2, 5)  # the next round places the two again
        settled = await rig.settled()
        await rig.stop()

    assert len(first_round) == 10
    assert (rejected, placed, errors) == (2, 8, 0)  # two items refused, eight accepted, no error round
    assert live_after_first == venue_after_first == set(first_round[2:])  # the refused ones are the first two
    assert status["rejected"] == 2 and status["errors"] == 0 and health.ok
    assert rig.stats().rejected == 2  # the venue counted the two refusals
    assert actor.errors == 0 and len(settled) == 10
    assert actor.remaining_after_stop == 0


@pytest.mark.parametrize("hang_s, http_timeout_s", [(2.0, 0.5), (0.0, 5.0)], ids=["timeout", "503-after-placing"])
async def test_an_unknown_outcome_is_reconciled_and_leaves_no_orphan(redis_url: str, hang_s: float,
                                                                      http_timeout_s: float) -> None:
    actor = MarketMakerActor(binance_pair())
    async with binance_mm_rig(redis_url, actor, start=False, order_timeout_hang_s=hang_s,
                              http_timeout_s=http_timeout_s) as rig:
        rig.faults.timeout_orders = 1  # the next batch is placed, then answered late (or 503 -1000)
        with capture_logs() as logs:
            rig.start()
            await rig.until(lambda: actor.errors >= 1, 15)
            unknown = next(e for e in logs if e["event"] == "venue_order_status_unknown")
            failed = next(e for e in logs if e["event"] == "mm_round_failed")
            executed = set(unknown["client_ids"])
            # right after the error round: what the venue holds of that batch is live (adopted by the
            # reconciliation), or already cancelled by the error round's pull
            live_then = set(actor.live)
            on_venue = await rig.open_ids()
            assert on_venue & executed <= live_then
            await rig.until(lambda: actor.rounds >= 5, 10)
            settled = await rig.settled()
        assert rig.stats().endpoints["POST /fapi/v1/batchOrders"] >= 2
        await rig.stop()
        left = await rig.open_ids()

    assert failed["error"].startswith("OrderStatusUnknown")
    assert len(executed) == 5 and actor.errors == 1
    assert not executed & settled  # the batch of unknown outcome was reconciled and cancelled: no orphan
    assert settled and all(actor._ids.owns(cid) for cid in settled)  # type: ignore[union-attr]
    assert left == set() and actor.remaining_after_stop == 0


async def test_a_venue_failing_every_place_is_retried_once_a_near_interval(redis_url: str) -> None:
    actor = MarketMakerActor(binance_pair(far=NO_FAR, near_diff_rate_per_round=0))  # every round places
    async with binance_mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 2 and actor.live, 15)
        errors, posts = actor.errors, rig.stats().endpoints["POST /fapi/v1/batchOrders"]
        rig.faults.timeout_orders = 10**6  # every place executed, then answered 503: unknown outcome
        await trio.sleep(2.0)
        rig.faults.timeout_orders = 0
        failed_rounds = actor.errors - errors
        failed_posts = rig.stats().endpoints["POST /fapi/v1/batchOrders"] - posts
        rounds = actor.rounds
        await rig.until(lambda: actor.rounds >= rounds + 2, 5)  # quoting again
        settled = await rig.settled()
        await rig.stop()
    # 2 s of 0.2 s rounds: about 10 failed rounds, each sending one batch (not a retry storm)
    assert 3 <= failed_rounds <= 12 and failed_posts <= failed_rounds + 1
    assert settled and actor.remaining_after_stop == 0  # nothing the failed batches placed was left behind


async def test_a_far_round_failing_part_way_rolls_back_what_it_placed(redis_url: str) -> None:
    actor = MarketMakerActor(binance_pair(far_interval_s=30.0))  # far 10 quotes: two batches of 5
    async with binance_mm_rig(redis_url, actor, start=False) as rig:
        rig.faults.delay_s = 0.2  # every answer 0.2 s late: room to arm a fault between two batches
        with capture_logs() as logs:
            rig.start()
            # the far round's first batch has landed (it is placed before it is answered)
            await rig.until(lambda: any(far_from(o.price, mark(rig)) for o in rig.engine_orders()), 15)
            rig.faults.burst("5xx", 1)  # the far round's second batch: 503, refused, outcome unknown
            rig.faults.delay_s = 0.0
            first_batch = {o.client_order_id for o in rig.engine_orders() if far_from(o.price, mark(rig))}
            await rig.until(lambda: actor.rollbacks >= 1, 10)
            after_rollback = {o.client_order_id for o in rig.engine_orders()}
            rollback = next(e for e in logs if e["event"] == "mm_far_rollback")
            rounds = actor.rounds
            await rig.until(lambda: actor.rounds >= rounds + 3 and any(o.ladder == "far" for o in actor.live.values()),
                            10)  # the far round is retried a near interval later, and lands whole
            settled = await rig.settled()
        far_live = [o for o in actor.live.values() if o.ladder == "far"]
        await rig.stop()
        left = await rig.open_ids()

    assert len(first_batch) == 5 and rollback["orders"] == 5
    assert actor.rollbacks == 1 and actor.errors == 1
    assert not first_batch & after_rollback  # the round's far orders were cancelled
    assert not first_batch & settled
    assert far_live and not {o.client_id for o in far_live} & first_batch  # quoted again, with new orders
    assert left == set() and actor.remaining_after_stop == 0


async def test_stopping_while_quoting_leaves_zero_open_orders(redis_url: str) -> None:
    actor = MarketMakerActor(binance_pair())
    async with binance_mm_rig(redis_url, actor) as rig:
        await rig.until(lambda: actor.rounds >= 3 and len(actor.live) >= 10, 15)
        quoting = await rig.open_ids()
        rig.stopping.set()
        await rig.until(lambda: actor.remaining_after_stop is not None, 10)
        left = await rig.signed.open_orders(SYMBOL)
        status = await rig.status()
        health = rig.health()
    assert len(quoting) >= 10
    assert left == [] and actor.remaining_after_stop == 0 and not actor.live
    assert status["remaining_after_stop"] == 0 and status["live_orders"] == 0
    assert health.ok and "no open orders" in health.detail


# --------------------------------------------------------------------------- a real process


def _signed_open_orders(rest_url: str) -> list[dict]:
    """GET /fapi/v1/openOrders for the simulator's account, signed as the venue requires."""
    query = signed_query([("symbol", SYMBOL)], SECRET, int(time.time() * 1000), 5000).query
    answer = httpx.get(f"{rest_url}/fapi/v1/openOrders?{query}", headers={"X-MBX-APIKEY": KEY}, timeout=2)
    assert answer.status_code == 200, answer.text
    return answer.json()


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def test_sigterm_to_run_py_while_quoting_leaves_zero_open_orders(tmp_path: Path) -> None:
    control, binance, api, deribit, dhan = free_ports(5)
    sim_config = tmp_path / "sim.toml"
    sim_config.write_text(f"[sim]\ncontrol_port = {control}\nderibit_port = {deribit}\n"
                          f"dhan_port = {dhan}\nbinance_port = {binance}\n[log]\nformat = \"json\"\n")
    pair = {**example_pair_json(), "venue": "binance", "near_interval_s": 0.3, "far_interval_s": 2.0,
            "max_position": 0.2}
    (tmp_path / "btcusdt.json").write_text(json.dumps(pair))
    rest_url = f"http://127.0.0.1:{binance}"
    engine_config = tmp_path / "engine.toml"
    engine_config.write_text(
        f'[redis]\nurl = "embedded"\n[api]\nport = {api}\n[log]\nformat = "json"\n'
        f'[supervisor]\ncleanup_window_s = 8.0\n'
        f'[venues.binance]\nrest_url = "{rest_url}"\nws_url = "ws://127.0.0.1:{binance}"\n'
        f'api_key_env = "MM_TEST_BINANCE_KEY"\napi_secret_env = "MM_TEST_BINANCE_SECRET"\n'
        f'[marketmaker]\npairs = ["btcusdt.json"]\n')
    env = {**os.environ, "MM_TEST_BINANCE_KEY": KEY, "MM_TEST_BINANCE_SECRET": SECRET}
    sim_log, engine_log = tmp_path / "sim.log", tmp_path / "engine.log"
    with open(sim_log, "w") as out:
        sim = subprocess.Popen([sys.executable, "-m", "adapters.sim", str(sim_config)], cwd=ROOT,
                               stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    engine = None
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"http://127.0.0.1:{control}/control", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.1)
        with open(engine_log, "w") as out:
            engine = subprocess.Popen([sys.executable, "run.py", str(engine_config)], cwd=ROOT, env=env,
                                      stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
        quoting: list[dict] = []
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(quoting) < 10:
            assert engine.poll() is None, engine_log.read_text()
            quoting = _signed_open_orders(rest_url)
            time.sleep(0.2)
        assert len(quoting) >= 10, engine_log.read_text()

        engine.send_signal(signal.SIGTERM)
        assert engine.wait(timeout=15) == 0, engine_log.read_text()
        left = _signed_open_orders(rest_url)
        stopped = [e for e in json_events(engine_log) if e["event"] == "mm_stopped"]
    finally:
        if engine is not None:
            _stop(engine)
        _stop(sim)
    assert all(o["clientOrderId"].startswith("mm-BTCUSDT-") for o in quoting)
    assert left == []
    assert [e["remaining_orders"] for e in stopped] == [0]
