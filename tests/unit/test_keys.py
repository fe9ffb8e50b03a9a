"""Key names are a contract with other services; hash tags keep atomic groups on one slot."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st
from redis.crc import key_slot

from engine import keys


def test_contract_key_names() -> None:
    assert keys.index_price("BTC") == "index_price:{BTC}"
    assert keys.svi("BTC", "28MAR25") == "svi:{BTC}:28MAR25"
    assert keys.instruments("BTC") == "instruments:{BTC}"
    assert keys.instruments_updated_at("BTC") == "instruments:{BTC}:updated_at"
    assert keys.optionchain("NIFTY", "2026-04-30") == "optionchain:{NIFTY}:2026-04-30"
    assert keys.optionchain_expiries("NIFTY") == "optionchain:expiries:{NIFTY}"
    assert keys.optionchain_atm("NIFTY") == "optionchain:atm:{NIFTY}"
    assert keys.OI_LIQUID_UNIVERSE == "oi:liquid_universe"
    assert keys.oi_liquid_meta("BTCUSDT") == "oi:liquid_meta:{BTCUSDT}"
    assert keys.oi_samples("BTCUSDT") == "oi:samples:{BTCUSDT}"
    assert keys.OI_ALERTS == "oi:alerts"
    assert keys.orderbook("binance", "BTCUSDT") == "orderbook:binance:{BTCUSDT}"
    assert keys.mm_orders("BTCUSDT") == "mm:{BTCUSDT}:orders"
    assert keys.mm_status("BTCUSDT") == "mm:{BTCUSDT}:status"
    assert keys.ENGINE_HEARTBEAT == "engine:heartbeat"


def test_keys_updated_together_share_a_tag() -> None:
    assert keys.hash_slot_tag(keys.instruments("ETH")) == keys.hash_slot_tag(keys.instruments_updated_at("ETH")) == "ETH"
    assert keys.hash_slot_tag(keys.mm_orders("ETHUSDT")) == keys.hash_slot_tag(keys.mm_status("ETHUSDT"))
    assert keys.hash_slot_tag(keys.optionchain("NIFTY", "2026-04-30")) == keys.hash_slot_tag(keys.optionchain_atm("NIFTY"))


@pytest.mark.parametrize(
    ("key", "tag"),
    [
        ("plain", "plain"),
        ("a{b}c", "b"),
        ("a{}b{c}", "a{}b{c}"),  # first {...} is empty: the whole key is hashed
        ("a{b}{c}", "b"),
        ("a{b", "a{b"),
        ("a}b{c}", "c"),
        ("{{x}}", "{x"),
    ],
)
def test_hash_slot_tag_follows_the_cluster_rule(key: str, tag: str) -> None:
    assert keys.hash_slot_tag(key) == tag


@given(st.text(alphabet="ab{}:", max_size=12))
def test_hash_slot_tag_agrees_with_redis_py_slots(key: str) -> None:
    assert key_slot(keys.hash_slot_tag(key).encode()) == key_slot(key.encode())


@pytest.mark.parametrize("bad", ["", "B{TC", "BT}C"])
def test_empty_or_braced_parts_are_refused(bad: str) -> None:
    with pytest.raises(ValueError):
        keys.index_price(bad)
