"""Liquid universe: eligibility, the ENTER/EXIT hysteresis table, delisting, no flapping."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from actors.oi.universe import (
    LiquidMeta,
    SymbolInfo,
    check_thresholds,
    classify,
    eligible,
)

M = 1_000_000


def perp(symbol: str, status: str = "TRADING", quote: str = "USDT", kind: str = "PERPETUAL") -> SymbolInfo:
    return SymbolInfo(symbol, kind, quote, status)


def member(volume: float = 5 * M, entered_at_ms: int = 1_000) -> LiquidMeta:
    return LiquidMeta(volume, entered_at_ms, entered_at_ms)


@pytest.mark.parametrize("info, ok", [
    (perp("BTCUSDT"), True),
    (perp("BTCUSDT", status="SETTLING"), False),
    (perp("BTCUSDT", status="PENDING_TRADING"), False),
    (perp("BTCUSDC", quote="USDC"), False),
    (perp("BTCUSDT_260626", kind="CURRENT_QUARTER"), False),
])
def test_eligible(info: SymbolInfo, ok: bool) -> None:
    assert eligible(info) is ok


def test_from_exchange_info() -> None:
    entry = {"symbol": "ETHUSDT", "pair": "ETHUSDT", "contractType": "PERPETUAL", "quoteAsset": "USDT",
             "status": "TRADING", "filters": []}
    assert SymbolInfo.from_exchange_info(entry) == perp("ETHUSDT")
    with pytest.raises(ValueError, match="lacks 'status'"):
        SymbolInfo.from_exchange_info({"symbol": "X", "contractType": "PERPETUAL", "quoteAsset": "USDT"})


# was member, volume (M USDT), member after
@pytest.mark.parametrize("was_member, volume_m, is_member", [
    (False, 1.0, False), (False, 2.0, False), (False, 3.0, False), (False, 3.99, False),
    (False, 4.0, True), (False, 9.0, True),
    (True, 9.0, True), (True, 4.0, True), (True, 3.0, True), (True, 2.01, True),
    (True, 2.0, False), (True, 1.0, False), (True, 0.0, False),
])
def test_hysteresis_table(was_member: bool, volume_m: float, is_member: bool) -> None:
    previous = {"ABCUSDT": member()} if was_member else {}
    update = classify(previous, [perp("ABCUSDT")], {"ABCUSDT": volume_m * M}, now_ms=5_000)
    assert ("ABCUSDT" in update.universe) is is_member
    assert update.entered == (("ABCUSDT",) if is_member and not was_member else ())
    assert update.left == (("ABCUSDT",) if was_member and not is_member else ())
    assert update.changed is (was_member is not is_member)


def test_meta_keeps_entered_at_and_updates_last_seen() -> None:
    previous = {"BTCUSDT": member(9 * M, entered_at_ms=1_000)}
    update = classify(previous, [perp("BTCUSDT"), perp("ETHUSDT")], {"BTCUSDT": 8 * M, "ETHUSDT": 6 * M}, now_ms=7_000)
    assert update.meta["BTCUSDT"] == LiquidMeta(8 * M, 1_000, 7_000)
    assert update.meta["ETHUSDT"] == LiquidMeta(6 * M, 7_000, 7_000)
    assert set(update.meta) == update.universe and update.entered == ("ETHUSDT",)


@pytest.mark.parametrize("symbols, volumes", [
    ([perp("ABCUSDT", status="SETTLING")], {"ABCUSDT": 50 * M}),  # stops trading
    ([perp("ABCUSDT", status="CLOSE")], {"ABCUSDT": 50 * M}),
    ([], {"ABCUSDT": 50 * M}),  # gone from exchangeInfo
    ([perp("ABCUSDT")], {}),  # no 24 h ticker
])
def test_ineligible_member_leaves_whatever_its_volume(symbols: list[SymbolInfo], volumes: dict[str, float]) -> None:
    update = classify({"ABCUSDT": member()}, symbols, volumes, now_ms=5_000)
    assert update.universe == frozenset() and update.left == ("ABCUSDT",) and dict(update.meta) == {}


def test_outputs_are_sorted() -> None:
    previous = {"ZZZUSDT": member(), "AAAUSDT": member(), "KEEPUSDT": member()}
    names = ["YUSDT", "BUSDT", "KEEPUSDT"]
    update = classify(previous, [perp(n) for n in names], {n: 10 * M for n in names}, now_ms=1)
    assert update.entered == ("BUSDT", "YUSDT") and update.left == ("AAAUSDT", "ZZZUSDT")
    assert list(update.meta) == ["BUSDT", "KEEPUSDT", "YUSDT"]


@pytest.mark.parametrize("enter, exit_", [(2 * M, 2 * M), (2 * M, 4 * M), (4 * M, 0), (4 * M, -1), (float("nan"), 1)])
def test_thresholds_need_enter_above_exit_above_zero(enter: float, exit_: float) -> None:
    with pytest.raises(ValueError):
        check_thresholds(enter, exit_)
    with pytest.raises(ValueError):
        classify({}, [], {}, now_ms=0, enter_usdt=enter, exit_usdt=exit_)


def test_garbled_input_is_refused_not_acted_on() -> None:
    with pytest.raises(ValueError, match="listed twice"):
        classify({}, [perp("BTCUSDT"), perp("BTCUSDT")], {"BTCUSDT": 9 * M}, now_ms=1)
    with pytest.raises(ValueError, match="BTCUSDT: 24 h quote volume"):
        classify({}, [perp("BTCUSDT")], {"BTCUSDT": float("nan")}, now_ms=1)
    # a garbled volume of a symbol we do not surveil does not matter
    assert classify({}, [perp("X", quote="BUSD")], {"X": float("nan")}, now_ms=1).universe == frozenset()


def test_meta_hash_round_trip() -> None:
    meta = LiquidMeta(4_123_456.5, 1_717_000_000_000, 1_717_000_300_000)
    fields = meta.to_hash(updated_at_ms=1_717_000_300_001)
    assert fields == {"quote_volume_24h": "4123456.5", "entered_at": "1717000000000",
                      "last_seen_at": "1717000300000", "updated_at": "1717000300001"}
    assert LiquidMeta.from_hash({k.encode(): v.encode() for k, v in fields.items()}) == meta
    with pytest.raises(ValueError, match="entered_at"):
        LiquidMeta.from_hash({"quote_volume_24h": "1", "last_seen_at": "1"})


NAMES = [f"S{i}USDT" for i in range(6)]
rounds = st.lists(st.fixed_dictionaries({
    name: st.tuples(st.sampled_from(["TRADING", "SETTLING", "GONE"]), st.floats(0, 10 * M) | st.none())
    for name in NAMES}), min_size=1, max_size=8)


@given(rounds=rounds)
def test_universe_never_holds_an_ineligible_symbol(rounds: list[dict[str, tuple[str, float | None]]]) -> None:
    previous: dict[str, LiquidMeta] = {}
    for now_ms, state in enumerate(rounds):
        symbols = [perp(n, status=s) for n, (s, _) in state.items() if s != "GONE"]
        volumes = {n: v for n, (_, v) in state.items() if v is not None}
        update = classify(previous, symbols, volumes, now_ms=now_ms)
        for name in update.universe:
            status, volume = state[name]
            assert status == "TRADING" and volume is not None and volume > 2 * M
            assert name in previous or volume >= 4 * M
        for name in update.left:
            assert name in previous and name not in update.universe
        previous = dict(update.meta)


@given(start_in=st.booleans(), volumes=st.lists(st.floats(2 * M, 4 * M, exclude_min=True, exclude_max=True),
                                                 min_size=1, max_size=30))
def test_no_flapping_strictly_between_thresholds(start_in: bool, volumes: list[float]) -> None:
    previous = {"ABCUSDT": member()} if start_in else {}
    for now_ms, volume in enumerate(volumes):
        update = classify(previous, [perp("ABCUSDT")], {"ABCUSDT": volume}, now_ms=now_ms)
        assert ("ABCUSDT" in update.universe) is start_in and not update.changed
        previous = dict(update.meta)
    if start_in:
        assert previous["ABCUSDT"].entered_at_ms == 1_000
