"""Client order ids: valid for Binance, unique, deterministic, recognisably ours."""

from __future__ import annotations

import pytest
from hypothesis import given, strategies as st

from actors.marketmaker.client_ids import (
    CLIENT_ORDER_ID_PATTERN,
    ClientIdFactory,
    base36,
    parse_client_id,
    run_id_from_ms,
)


def test_format_and_determinism() -> None:
    run = run_id_from_ms(1_717_000_000_123)
    assert run == "lws1gv3v"
    factory, ids = ClientIdFactory("BTCUSDT", run).issue(3)
    assert ids == ("mm-BTCUSDT-lws1gv3v-0", "mm-BTCUSDT-lws1gv3v-1", "mm-BTCUSDT-lws1gv3v-2")
    assert factory.next_seq == 3 and factory.issue(1)[1] == ("mm-BTCUSDT-lws1gv3v-3",)
    assert ClientIdFactory("BTCUSDT", run).issue(3)[1] == ids  # same run and counter, same ids
    assert factory.client_id(36 ** 2) == "mm-BTCUSDT-lws1gv3v-100"


def test_base36() -> None:
    assert [base36(v) for v in (0, 9, 10, 35, 36, 1295)] == ["0", "9", "a", "z", "10", "zz"]
    with pytest.raises(ValueError):
        base36(-1)


def test_parse_and_ownership() -> None:
    factory = ClientIdFactory("ETHUSDT", "abc")
    assert parse_client_id("mm-ETHUSDT-abc-1z").seq == 71  # type: ignore[union-attr]
    assert factory.owns("mm-ETHUSDT-zzz-5")  # another run of the same pair is still ours
    assert not factory.owns("mm-BTCUSDT-abc-5")
    for foreign in ("web_8x7s", "mm-ETHUSDT-abc", "mm-ETHUSDT-ABC-1", "x-mm-ETHUSDT-abc-1", "", "mm-ETHUSDT-abc-1-2"):
        assert parse_client_id(foreign) is None and not factory.owns(foreign)


@pytest.mark.parametrize("pair, run_id, message", [
    ("btcusdt", "abc", "pair must be"), ("BTC-USDT", "abc", "pair must be"), ("", "abc", "pair must be"),
    ("BTCUSDT", "ABC", "run_id must be"), ("BTCUSDT", "", "run_id must be"), ("BTCUSDT", "a-b", "run_id must be"),
    ("ABCDEFGHIJKLMNOPQRSTUVWX", "abcdefghij", "leave -3 characters for the order counter"),
    ("ABCDEFGHIJKLMNOPQRS", "abcdefg", "leave 5 characters for the order counter.*need 6"),
])
def test_refuses_bad_parts(pair: str, run_id: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        ClientIdFactory(pair, run_id)


def test_counter_overflow_is_an_error_not_an_invalid_id() -> None:
    tight = ClientIdFactory("ABCDEFGHIJKLMNOPQR", "abcdefg")  # 30 characters of prefix: 6 for the counter
    assert len(tight.client_id(36 ** 6 - 1)) == 36
    with pytest.raises(ValueError, match="no longer fits"):
        tight.client_id(36 ** 6)


@given(pair=st.from_regex(r"[A-Z0-9_]{1,16}", fullmatch=True), ts_ms=st.integers(0, 36 ** 8 - 1),
       start=st.integers(0, 10 ** 9), count=st.integers(0, 300))
def test_ids_always_valid_unique_and_parse_back(pair: str, ts_ms: int, start: int, count: int) -> None:
    factory = ClientIdFactory(pair, run_id_from_ms(ts_ms), start)
    after, ids = factory.issue(count)
    assert len(set(ids)) == count and after.next_seq == start + count
    for seq, client_id in enumerate(ids, start):
        assert CLIENT_ORDER_ID_PATTERN.match(client_id)
        parsed = parse_client_id(client_id)
        assert parsed is not None and (parsed.pair, parsed.run_id, parsed.seq) == (pair, factory.run_id, seq)
        assert factory.owns(client_id)


@given(a=st.integers(0, 36 ** 8 - 1), b=st.integers(0, 36 ** 8 - 1), seq=st.integers(0, 10 ** 6))
def test_runs_never_collide(a: int, b: int, seq: int) -> None:
    ids = {ClientIdFactory("BTCUSDT", run_id_from_ms(ts)).client_id(seq) for ts in (a, b)}
    assert len(ids) == (1 if a == b else 2)
