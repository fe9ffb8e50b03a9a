"""Feed shards: every token once, within Dhan's limits, deterministic, groups kept together."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings, strategies as st

from actors.optionchain.shards import SEGMENTS, TooManyTokens, plan_shards

tokens_st = st.lists(st.tuples(st.sampled_from(SEGMENTS), st.integers(0, 60_000)), max_size=12_000)


def check_plan(tokens, plan, max_connections=5, max_per_connection=5000) -> None:
    unique = set(tokens)
    flat = [t for shard in plan.shards for t in shard]
    assert len(flat) == len(unique) and set(flat) == unique  # every token exactly once
    assert len(plan) <= max_connections and all(len(s) <= max_per_connection for s in plan.shards)
    as_sets = [set(shard) for shard in plan.shards]
    assert all(t in as_sets[plan.shard_of[t]] for t in unique)
    for i in range(len(plan)):
        messages = plan.messages(i, 15)
        assert all(0 < m["InstrumentCount"] == len(m["InstrumentList"]) <= 100 for m in messages)
        assert sum(m["InstrumentCount"] for m in messages) == len(plan.shards[i])


def random_tokens(n: int, seed: int, duplicates: int) -> list[tuple[str, int]]:
    rng = random.Random(seed)
    tokens = [(rng.choice(SEGMENTS), rng.randrange(0, 100_000)) for _ in range(n)]
    return tokens + [rng.choice(tokens) for _ in range(duplicates if tokens else 0)]


@settings(max_examples=25, deadline=None)
@given(tokens=tokens_st, seed=st.integers(0, 2**32), per=st.sampled_from([5000, 1000, 2500]))
def test_plan_properties(tokens, seed: int, per: int) -> None:
    check_random_plan(tokens, seed, per)


@settings(max_examples=12, deadline=None)
@given(n=st.integers(0, 26_500), seed=st.integers(0, 2**32), duplicates=st.integers(0, 50))
def test_plan_properties_at_scale(n: int, seed: int, duplicates: int) -> None:
    check_random_plan(random_tokens(n, seed, duplicates), seed, 5000)


def check_random_plan(tokens, seed: int, per: int) -> None:
    if len(set(tokens)) > 5 * per:
        with pytest.raises(TooManyTokens, match=f"{len(set(tokens))} feed tokens exceed the limit of {5 * per}"):
            plan_shards(tokens, max_per_connection=per)
        return
    plan = plan_shards(tokens, max_per_connection=per)
    check_plan(tokens, plan, max_per_connection=per)
    shuffled = list(tokens)
    random.Random(seed).shuffle(shuffled)
    assert plan_shards(shuffled, max_per_connection=per).shards == plan.shards  # order-independent
    if plan.shards:
        sizes = [len(s) for s in plan.shards]
        assert max(sizes) - min(sizes) <= 1  # ungrouped tokens balance exactly


@settings(max_examples=15, deadline=None)
@given(sizes=st.lists(st.integers(1, 2_500), min_size=1, max_size=10), seed=st.integers(0, 2**32))
def test_grouped_plan_properties(sizes: list[int], seed: int) -> None:
    tokens, group_of, next_id = [], {}, 0
    for g, size in enumerate(sizes):
        for _ in range(size):
            token = ("NSE_FNO", next_id)
            tokens.append(token)
            group_of[token] = f"U{g:02d}"
            next_id += 1
    plan = plan_shards(tokens, group_of=group_of)
    check_plan(tokens, plan)
    shuffled = list(tokens)
    random.Random(seed).shuffle(shuffled)
    assert plan_shards(shuffled, group_of=dict(reversed(list(group_of.items())))).shards == plan.shards
    if len(plan) == 1:
        return
    shards_of_group: dict[str, set[int]] = {}
    for token, name in group_of.items():
        shards_of_group.setdefault(name, set()).add(plan.shard_of[token])
    split = {g for g, where in shards_of_group.items() if len(where) > 1}
    assert len(split) <= len(plan) - 1  # only a group that fits nowhere whole is split
    assert all(len(where) <= len(plan) for where in shards_of_group.values())


def test_groups_stay_together_and_balance() -> None:
    tokens, group_of = [], {}
    for g in range(6):  # 6 underlyings x 1200 tokens over 2 connections
        for i in range(1200):
            token = ("NSE_FNO", g * 10_000 + i)
            tokens.append(token)
            group_of[token] = f"U{g}"
    tokens.append(("IDX_I", 13))  # an ungrouped underlying
    plan = plan_shards(tokens, group_of=group_of)
    assert [len(s) for s in plan.shards] in ([3601, 3600], [3600, 3601])
    for g in range(6):
        assert len({plan.shard_of[t] for t, name in group_of.items() if name == f"U{g}"}) == 1


def test_exactly_the_limit_and_one_more() -> None:
    tokens = [("NSE_FNO", i) for i in range(25_000)]
    plan = plan_shards(tokens)
    assert [len(s) for s in plan.shards] == [5000] * 5
    with pytest.raises(TooManyTokens, match=r"25001 feed tokens exceed the limit of 25000 \(5 connections x 5000"):
        plan_shards(tokens + [("NSE_FNO", 25_000)])


def test_messages_are_dhan_subscribe_frames() -> None:
    plan = plan_shards([("NSE_FNO", 42510), ("IDX_I", 13)] + [("NSE_FNO", i) for i in range(150)])
    first, second = plan.messages(0, 21)
    assert first["RequestCode"] == 21 and first["InstrumentCount"] == 100 and second["InstrumentCount"] == 52
    assert first["InstrumentList"][0] == {"ExchangeSegment": "IDX_I", "SecurityId": "13"}
    with pytest.raises(ValueError, match="request code"):
        plan.messages(0, 99)
    with pytest.raises(ValueError, match="out of range"):
        plan.messages(1, 15)


@pytest.mark.parametrize("bad", [("NSE_XX", 1), ("NSE_FNO", "1"), ("NSE_FNO", -1), ("NSE_FNO",)])
def test_bad_tokens_are_named(bad) -> None:
    with pytest.raises(ValueError):
        plan_shards([bad])


def test_empty_plan() -> None:
    assert len(plan_shards([])) == 0
