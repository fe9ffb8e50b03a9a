"""ChainBook routing (segment-aware), ATM from underlying ticks, change tracking; the cache pass."""

from __future__ import annotations

import json

import hypothesis.strategies as st
from hypothesis import given, settings

from actors.optionchain.book import ChainBook
from actors.optionchain.cache import ChainCache, write_changed
from actors.optionchain.chain import build_skeleton, document_text, from_json, security_ids, to_json
from actors.optionchain.inputs import TickUpdate
from actors.optionchain.topics import UPDATES_TOPIC, ChainPublished
from engine.bus import Bus, Overflow
from engine.metrics import EngineMetrics
from tests.unit.optionchain.helpers import snapshot

NOW_MS = 1_767_000_000_000
NEAR, _ = build_skeleton("NIFTY", "2026-04-30", snapshot(), 24_964.25, "index_major", 75, NOW_MS)
FAR, _ = build_skeleton("NIFTY", "2026-05-28", snapshot(id_base=60_000), 24_964.25, "index_major", 75, NOW_MS)
UNDERLYING = ("IDX_I", 13)


def book() -> ChainBook:
    out = ChainBook()
    out.install(NEAR, "NSE_FNO", UNDERLYING)
    out.install(FAR, "NSE_FNO", UNDERLYING)
    out.take_changed(NOW_MS)
    out.take_atm_changed()
    return out


def test_ticks_route_by_segment_and_security_id() -> None:
    b = book()
    sid = security_ids(NEAR)[10]
    merged = b.apply([TickUpdate(sid, 123.5, 123.0, 124.0, 77, NOW_MS + 5, "NSE_FNO"),
                      TickUpdate(sid, 999.0, ts_ms=NOW_MS + 6, segment="NSE_EQ"),  # same id, other segment
                      TickUpdate(424242, 1.0, ts_ms=NOW_MS + 7, segment="NSE_FNO")])
    changed = b.take_changed(NOW_MS + 10)
    assert merged == 1 and b.ticks_unrouted == 2
    assert [(c.expiry, pending) for c, _, pending in changed] == [("2026-04-30", NOW_MS + 5)]
    leg = next(r.ce for r in changed[0][0].rows if r.ce and r.ce.security_id == sid)
    assert (leg.ltp, leg.bid, leg.ask, leg.volume) == (123.5, 123.0, 124.0, 77)
    assert b.take_changed(NOW_MS + 20) == []  # written once, then quiet until the next tick


def test_underlying_ticks_move_the_atm_of_every_expiry_and_ignore_zero() -> None:
    b = book()
    assert b.apply([TickUpdate(13, 25_480.0, ts_ms=NOW_MS + 1, segment="IDX_I")]) == 1
    assert b.apply([TickUpdate(13, 0.0, ts_ms=NOW_MS + 2, segment="IDX_I"),
                    TickUpdate(13, float("nan"), ts_ms=NOW_MS + 3, segment="IDX_I")]) == 0
    chains = {c.expiry: c for c, _, _ in b.take_changed(NOW_MS + 5)}
    (atm,) = b.take_atm_changed()
    assert b.bad_underlying_ticks == 2 and b.underlying_ltp[UNDERLYING] == (25_480.0, NOW_MS + 1)
    assert {c.atm_strike for c in chains.values()} == {25_500.0}
    assert all([r.strike for r in c.rows] == [r.strike for r in NEAR.rows] for c in chains.values())
    assert atm.to_json() == {"atm": 25_500.0, "ltp": 25_480.0, "interval": 50.0, "ts": chains["2026-04-30"].updated_ms}


def test_watched_underlying_records_its_ltp_before_any_chain() -> None:
    b = ChainBook()
    b.watch_underlying("BANKNIFTY", ("IDX_I", 25))
    assert b.apply([TickUpdate(25, 55_400.0, ts_ms=NOW_MS, segment="IDX_I")]) == 1
    assert b.underlying_ltp[("IDX_I", 25)] == (55_400.0, NOW_MS)
    assert b.feed_tokens() == ([("IDX_I", 25)], {("IDX_I", 25): "BANKNIFTY"})


def test_feed_tokens_and_remove() -> None:
    b = book()
    tokens, group_of = b.feed_tokens()
    assert len(tokens) == 2 * len(security_ids(NEAR)) + 1 and set(group_of.values()) == {"NIFTY"}
    assert b.remove(("NIFTY", "2026-04-30")) and not b.remove(("NIFTY", "2026-04-30"))
    sid = security_ids(NEAR)[0]
    assert b.apply([TickUpdate(sid, 1.0, ts_ms=NOW_MS, segment="NSE_FNO")]) == 0
    assert b.keys() == [("NIFTY", "2026-05-28")] and b.atm("NIFTY") is not None
    b.remove(("NIFTY", "2026-05-28"))
    assert b.atm("NIFTY") is None and b.feed_tokens() == ([], {})


def test_rest_refresh_keeps_newer_ticks_and_marks_the_chain_changed() -> None:
    b = book()
    sid = security_ids(NEAR)[0]
    b.apply([TickUpdate(sid, 555.0, ts_ms=NOW_MS + 2_000, segment="NSE_FNO")])
    assert b.refresh(("NIFTY", "2026-04-30"), snapshot(), NOW_MS + 3_000, sent_ms=NOW_MS + 1_000)
    (chain, _, _), = b.take_changed(NOW_MS + 3_500)
    leg = next(r.ce for r in chain.rows if r.ce and r.ce.security_id == sid)
    assert leg.ltp == 555.0 and not b.refresh(("NOPE", "2026-04-30"), snapshot(), NOW_MS, NOW_MS)


def test_cache_pass_writes_each_changed_chain_once_and_publishes_it() -> None:
    b, cache, bus = book(), ChainCache(), Bus(EngineMetrics())  # Redis writes: tests/integration/optionchain
    sub = bus.subscribe(UPDATES_TOPIC, maxlen=8, overflow=Overflow.CONFLATE, key=lambda m: m.key)
    ids = security_ids(NEAR)
    for i in range(500):  # many ticks, one chain: one write
        b.apply([TickUpdate(ids[i % len(ids)], 100.0 + i, ts_ms=NOW_MS + i, segment="NSE_FNO")])
    assert write_changed(b, cache, None, bus, NOW_MS + 600) == 1
    assert write_changed(b, cache, None, bus, NOW_MS + 900) == 0
    text = cache.texts[("NIFTY", "2026-04-30")]
    published = sub.receive_nowait()
    assert isinstance(published, ChainPublished) and published.document == text
    assert from_json(json.loads(text)).rows[0].strike == NEAR.rows[0].strike and cache.last_tick_age_ms == [600]
    assert cache.listing[("NIFTY", "2026-04-30")].strikes == 100


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 399), st.floats(allow_nan=True, allow_infinity=True, width=32),
                          st.sampled_from(["NSE_FNO", "NSE_EQ", "IDX_I"])), max_size=200))
def test_no_tick_sequence_changes_strikes_or_security_ids(ticks) -> None:
    b = book()
    ids = security_ids(NEAR) + security_ids(FAR)
    b.apply([TickUpdate(ids[i], price, ts_ms=NOW_MS + n, segment=seg) for n, (i, price, seg) in enumerate(ticks)])
    for chain, text, _ in b.take_changed(NOW_MS + 1_000):
        assert text == json.dumps(to_json(chain), separators=(",", ":"), allow_nan=False)  # cached rows stay true
        base = NEAR if chain.expiry == NEAR.expiry else FAR
        assert [r.strike for r in chain.rows] == [r.strike for r in base.rows]
        assert security_ids(chain) == security_ids(base)
    # several passes in a row: rows encoded in an earlier pass are reused only while untouched
    ids = security_ids(NEAR)
    for n in range(3):
        b.apply([TickUpdate(ids[(7 * n) % len(ids)], 10.0 + n, ts_ms=NOW_MS + 2_000 + n, segment="NSE_FNO")])
        for chain, text, _ in b.take_changed(NOW_MS + 3_000 + n):
            assert text == json.dumps(to_json(chain), separators=(",", ":"), allow_nan=False)


@settings(max_examples=40, deadline=None)
@given(st.floats(-1e12, 1e12), st.integers(0, 2**40), st.booleans(), st.text(min_size=1, max_size=8))
def test_template_document_is_exactly_what_json_dumps_gives(price, qty, stale, name) -> None:
    import attrs

    row = NEAR.rows[3]
    leg = attrs.evolve(row.ce, ltp=price, oi=qty, delta=price / 7)
    chain = attrs.evolve(NEAR, underlying=name, stale=stale, underlying_ltp=abs(price) + 1,
                         rows=(attrs.evolve(row, ce=leg, pe=None),) + NEAR.rows[4:])
    assert document_text(chain) == json.dumps(to_json(chain), separators=(",", ":"), allow_nan=False)

