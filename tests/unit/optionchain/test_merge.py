"""Tick merges move only ltp/bid/ask/volume; REST refreshes never change the strike set."""

from __future__ import annotations


import attrs
import pytest
from hypothesis import given, settings, strategies as st

from actors.optionchain.chain import Chain, build_skeleton, security_ids
from actors.optionchain.inputs import TickUpdate
from actors.optionchain.merge import LegIndex, LiveChain, apply_rest_refresh, merge_ticks, recenter_atm
from tests.unit.optionchain.helpers import snapshot

NOW_MS = 1_767_000_000_000
TICKED = ("ltp", "bid", "ask", "volume", "updated_ms")
CHAIN, _ = build_skeleton("NIFTY", "2026-04-30", snapshot(), 24_964.25, "index_major", 75, NOW_MS)
IDS = security_ids(CHAIN)


def legs(chain: Chain) -> dict[int, object]:
    return {leg.security_id: leg for row in chain.rows for leg in (row.ce, row.pe) if leg is not None}


def untouched_fields(leg) -> tuple:
    return tuple(getattr(leg, f.name) for f in attrs.fields(type(leg)) if f.name not in TICKED)


finite = st.floats(0, 1e5, allow_nan=False)
ticks = st.builds(
    TickUpdate,
    security_id=st.one_of(st.sampled_from(IDS), st.integers(1, 10**6)),
    ltp=st.one_of(st.none(), finite), bid=st.one_of(st.none(), finite), ask=st.one_of(st.none(), finite),
    volume=st.one_of(st.none(), st.integers(0, 10**9)), ts_ms=st.integers(NOW_MS, NOW_MS + 10**6),
)


@settings(max_examples=60, deadline=None)
@given(updates=st.lists(ticks, max_size=60))
def test_random_ticks_touch_only_prices(updates: list[TickUpdate]) -> None:
    merged, count = merge_ticks(CHAIN, updates, NOW_MS + 2 * 10**6)
    assert count == sum(u.security_id in set(IDS) for u in updates)
    assert [r.strike for r in merged.rows] == [r.strike for r in CHAIN.rows]
    assert [(r.ce is None, r.pe is None) for r in merged.rows] == [(r.ce is None, r.pe is None) for r in CHAIN.rows]
    before, after = legs(CHAIN), legs(merged)
    assert before.keys() == after.keys()
    for sid, leg in after.items():
        assert untouched_fields(leg) == untouched_fields(before[sid])  # greeks, IV, OI, qty, id untouched
    last = {}
    for u in updates:  # the latest value each field received wins
        for name in ("ltp", "bid", "ask", "volume"):
            if getattr(u, name) is not None:
                last[(u.security_id, name)] = getattr(u, name)
    for (sid, name), value in last.items():
        if sid in after:
            assert getattr(after[sid], name) == value
    assert (merged.atm_strike, merged.underlying_ltp, merged.stale) == (CHAIN.atm_strike, CHAIN.underlying_ltp, False)


def test_unknown_ids_are_ignored() -> None:
    merged, count = merge_ticks(CHAIN, [TickUpdate(999_999_999, 5.0, 4.0, 6.0, 7, NOW_MS + 1)], NOW_MS + 5)
    assert count == 0 and merged is CHAIN


def test_ticker_packet_moves_only_ltp_and_nan_is_dropped() -> None:
    sid = IDS[10]
    merged, count = merge_ticks(CHAIN, [TickUpdate(sid, 321.5, ts_ms=NOW_MS + 9),
                                        TickUpdate(sid, float("nan"), bid=float("nan"), ts_ms=NOW_MS + 10)],
                                NOW_MS + 20, index=LegIndex.of(CHAIN))
    leg, old = legs(merged)[sid], legs(CHAIN)[sid]
    assert count == 2 and leg.ltp == 321.5 and (leg.bid, leg.ask, leg.volume) == (old.bid, old.ask, old.volume)
    assert leg.updated_ms == NOW_MS + 10 and merged.updated_ms == NOW_MS + 20


def test_live_chain_snapshots_share_untouched_legs() -> None:
    live = LiveChain(CHAIN)
    assert live.snapshot() is CHAIN
    live.apply(TickUpdate(IDS[0], 1.0, ts_ms=NOW_MS + 1))
    first = live.snapshot()
    assert first.rows[0].ce.ltp == 1.0 and first.rows[1] is CHAIN.rows[1] and live.snapshot() is first
    live.set_underlying_ltp(25_040.0, NOW_MS + 2)
    second = live.snapshot()
    assert (second.atm_strike, second.underlying_ltp) == (25_050, 25_040.0) and second.rows == first.rows
    with pytest.raises(ValueError):
        live.set_underlying_ltp(0.0, NOW_MS + 3)
    assert live.snapshot().atm_strike == 25_050 and live.ticks_merged == 1


def test_many_ticks_leave_the_last_value_per_leg() -> None:
    live = LiveChain(CHAIN)
    updates = [TickUpdate(IDS[i % len(IDS)], 100.0 + i % 7, 99.0, 101.0, i, NOW_MS + i) for i in range(50_000)]
    for update in updates:
        live.apply(update)
    assert live.ticks_merged == len(updates)
    last = {u.security_id: u for u in updates}
    for row in live.snapshot(NOW_MS + 60_000).rows:
        for leg in (row.ce, row.pe):
            if leg is not None and leg.security_id in last:
                assert (leg.ltp, leg.volume) == (last[leg.security_id].ltp, last[leg.security_id].volume)


def test_recenter_moves_atm_not_strikes() -> None:
    moved = recenter_atm(CHAIN, 25_480.0, NOW_MS + 7)
    assert (moved.atm_strike, moved.underlying_ltp, moved.updated_ms) == (25_500, 25_480.0, NOW_MS + 7)
    assert moved.rows is CHAIN.rows
    for bad in (0.0, -1.0, float("nan")):
        with pytest.raises(ValueError):
            recenter_atm(CHAIN, bad)


def rest_rows(**changes):
    rows = snapshot(20_000, 30_000, id_base=40_000 - 2 * 40)  # same ids at the same strikes, more strikes listed
    return [attrs.evolve(r, ce=attrs.evolve(r.ce, **changes), pe=attrs.evolve(r.pe, **changes)) for r in rows]


def test_rest_refresh_updates_greeks_and_never_the_strike_set() -> None:
    rows = rest_rows(oi=777, delta=0.33, iv_pct=44.0, ltp=55.0)
    assert {r.ce.security_id for r in rows} >= {r.ce.security_id for r in CHAIN.rows}
    refreshed = apply_rest_refresh(attrs.evolve(CHAIN, stale=True), rows, NOW_MS + 30_000)
    assert [r.strike for r in refreshed.rows] == [r.strike for r in CHAIN.rows]
    assert security_ids(refreshed) == IDS
    assert all((leg.oi, leg.delta, leg.iv_pct, leg.ltp) == (777, 0.33, 44.0, 55.0) for leg in legs(refreshed).values())
    assert not refreshed.stale and refreshed.updated_ms == NOW_MS + 30_000


def test_rest_refresh_keeps_newer_tick_prices_and_skips_changed_ids() -> None:
    ticked, _ = merge_ticks(CHAIN, [TickUpdate(IDS[0], 1.25, 1.0, 1.5, 9, NOW_MS + 29_000)], NOW_MS + 29_000)
    rows = rest_rows(oi=5, ltp=55.0)
    rows = [attrs.evolve(r, pe=attrs.evolve(r.pe, security_id=1)) if r.strike == CHAIN.rows[3].strike else r
            for r in rows]
    out = apply_rest_refresh(ticked, rows, NOW_MS + 30_000, keep_ticks_since_ms=NOW_MS + 28_000)
    first = out.rows[0].ce
    assert (first.ltp, first.bid, first.volume, first.oi) == (1.25, 1.0, 9, 5)
    assert out.rows[1].ce.ltp == 55.0 and out.rows[3].pe == ticked.rows[3].pe


def test_rest_refresh_with_nothing_matching_changes_nothing() -> None:
    assert apply_rest_refresh(CHAIN, [], NOW_MS + 1) is CHAIN
    assert apply_rest_refresh(CHAIN, snapshot(id_base=1), NOW_MS + 1) is CHAIN
