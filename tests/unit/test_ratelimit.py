"""Rate limiting: the budget is never exceeded, server feedback is followed, waiters are FIFO.

Async tests run on trio's MockClock (``autojump_clock``): minutes of waiting take
milliseconds. The pure accounting functions get Hypothesis properties.
"""

from __future__ import annotations

import math
import random
from collections import defaultdict

import pytest
import trio
from hypothesis import given, settings
from hypothesis import strategies as st

from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.ratelimit import (
    MIN_WAIT_S,
    BucketState,
    TokenBucket,
    WindowBudget,
    WindowState,
    allowed_weight,
    observe_window,
    pause_bucket,
    pause_window,
    plan_bucket,
    plan_window,
)

# A wall clock 30 s into a minute, so tests cross minute boundaries at known offsets.
EPOCH_S = 1_700_000_010.0
TOL_S = 1e-6


def minute_of(t_s: float, window_s: float = 60.0) -> int:
    return math.floor(t_s / window_s)


def next_minute_s(t_s: float, window_s: float = 60.0) -> float:
    return (minute_of(t_s, window_s) + 1) * window_s


def weight_per_window(grants: list[tuple[float, int]], window_s: float = 60.0) -> dict[int, int]:
    per: dict[int, int] = defaultdict(int)
    for t_s, weight in grants:
        per[minute_of(t_s, window_s)] += weight
    return dict(per)


# --------------------------------------------------------------------------- window budget


@pytest.mark.parametrize("safety_fraction", [1.0, 0.9])
@pytest.mark.parametrize("seed", [1, 2, 3])
async def test_window_never_exceeds_limit_under_concurrent_callers(autojump_clock, safety_fraction, seed):
    clock = Clock(epoch_s=EPOCH_S + seed * 7.3)
    budget = WindowBudget(clock=clock, venue="binance", limit=100, safety_fraction=safety_fraction)
    rng = random.Random(seed)
    requests = [(rng.uniform(0, 240), rng.choice([1, 1, 1, 5, 10, 40, budget.allowed])) for _ in range(250)]
    grants: list[tuple[float, int]] = []

    async def caller(delay_s: float, weight: int) -> None:
        await trio.sleep(delay_s)
        granted_at_s = await budget.acquire(weight)
        assert granted_at_s == clock.time_s()
        grants.append((clock.time_s(), weight))

    async with trio.open_nursery() as nursery:
        for delay_s, weight in requests:
            nursery.start_soon(caller, delay_s, weight)

    assert len(grants) == len(requests)
    per_window = weight_per_window(grants)
    assert max(per_window.values()) <= budget.allowed
    # Demand far exceeds the budget, so the limiter should also use it: every full
    # window between the first and the last is at least nearly full.
    windows = sorted(per_window)
    for w in windows[1:-1]:
        assert per_window[w] >= budget.allowed - max(weight for _, weight in requests)
    stats = budget.stats()
    assert stats.granted_requests == len(requests)
    assert stats.granted_weight == sum(weight for _, weight in requests)
    assert stats.waits > 0 and stats.wait_s > 0


async def test_grants_resume_at_the_wall_clock_minute(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=10, safety_fraction=1.0)
    start_s = clock.time_s()
    for _ in range(10):
        await budget.acquire(1)
    assert clock.time_s() == start_s  # the first ten fit the current minute
    granted_at_s = await budget.acquire(1)
    assert granted_at_s == pytest.approx(next_minute_s(start_s), abs=2 * MIN_WAIT_S)
    assert minute_of(granted_at_s) == minute_of(start_s) + 1


async def test_observe_used_shrinks_remaining_room(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=100, safety_fraction=1.0)
    granted_at_s = await budget.acquire(10)
    assert budget.remaining() == 90

    budget.observe_used(70, at_s=granted_at_s)  # another process spent weight on our IP
    assert budget.remaining() == 30
    budget.observe_used(20)  # the server's count is never below ours: keep ours
    assert budget.remaining() == 30

    await budget.acquire(30)
    assert clock.time_s() == granted_at_s
    await budget.acquire(1)
    assert clock.time_s() >= next_minute_s(granted_at_s)


async def test_observe_used_about_a_past_window_is_ignored(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=100, safety_fraction=1.0)
    granted_at_s = await budget.acquire(1)
    await clock.sleep_until_time_s(next_minute_s(granted_at_s) + 0.5)
    # The answer to a request granted last minute arrives in the new minute.
    budget.observe_used(99, at_s=granted_at_s)
    assert budget.remaining() == 100
    budget.observe_used(99)  # without at_s it is taken to be about the current window
    assert budget.remaining() == 1


async def test_pause_for_blocks_waiting_and_new_callers_until_the_deadline(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=10, safety_fraction=1.0)
    await budget.acquire(10)  # window full: the next callers wait for the next minute
    grants: list[float] = []

    async def caller() -> None:
        await budget.acquire(1)
        grants.append(clock.time_s())

    async with trio.open_nursery() as nursery:
        for _ in range(3):
            nursery.start_soon(caller)
        await trio.sleep(1)
        assert grants == []
        deadline_s = clock.time_s() + 90  # past the window start the waiters expect
        budget.pause_for(90)
        assert budget.remaining() == 0
        for _ in range(3):
            nursery.start_soon(caller)
        # A shorter pause later must not cut the first one short.
        await trio.sleep(1)
        budget.pause_for(5)

    assert len(grants) == 6
    assert min(grants) >= deadline_s
    assert budget.stats().pauses == 2


async def test_pause_for_short_retry_after_releases_at_the_deadline(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=100)
    budget.pause_for(5)
    start_s = clock.time_s()
    await budget.acquire(1)
    assert clock.time_s() - start_s == pytest.approx(5, abs=TOL_S)


async def test_pause_for_none_waits_for_the_next_window(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=100)
    start_s = clock.time_s()
    budget.pause_for(None)
    granted_at_s = await budget.acquire(1)
    assert granted_at_s >= next_minute_s(start_s)
    assert granted_at_s == pytest.approx(next_minute_s(start_s), abs=2 * MIN_WAIT_S)


async def test_window_fifo_big_request_not_starved_by_small_ones(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=100, safety_fraction=1.0)
    await budget.acquire(90)
    order: list[str] = []

    async def caller(name: str, weight: int) -> None:
        await budget.acquire(weight)
        order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, "big", 60)
        await trio.sleep(0.1)
        for i in range(20):  # each would fit the 10 left, but arrived after "big"
            nursery.start_soon(caller, f"small{i}", 1)
            await trio.sleep(0.1)
    assert order == ["big"] + [f"small{i}" for i in range(20)]


async def test_window_weight_beyond_the_budget_raises_at_once(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    budget = WindowBudget(clock=clock, venue="binance", limit=2400)
    assert budget.allowed == 2160
    start_s = clock.monotonic()
    with pytest.raises(ValueError):
        await budget.acquire(2401)
    with pytest.raises(ValueError):
        await budget.acquire(2161)  # under the limit but over the safety fraction
    with pytest.raises(ValueError):
        await budget.acquire(-1)
    assert clock.monotonic() == start_s
    await budget.acquire(2160)


def test_invalid_configuration_is_rejected():
    clock = Clock(epoch_s=EPOCH_S, origin_s=0.0)
    with pytest.raises(ValueError):
        WindowBudget(clock=clock, venue="binance", limit=0)
    with pytest.raises(ValueError):
        WindowBudget(clock=clock, venue="binance", limit=10, safety_fraction=1.5)
    with pytest.raises(ValueError):
        TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=0)


async def test_metrics_count_weight_and_throttles(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    metrics = EngineMetrics()
    budget = WindowBudget(clock=clock, venue="binance", limit=2400, metrics=metrics)
    bucket = TokenBucket(clock=clock, venue="deribit", capacity=50_000, refill_per_s=10_000, metrics=metrics)
    await budget.acquire(40)
    await budget.acquire(1)
    await bucket.acquire(500)
    budget.pause_for(None)
    bucket.pause_for(1)
    bucket.pause_for(1)

    def sample(name: str, venue: str) -> float | None:
        return metrics.registry.get_sample_value(name, {"venue": venue})

    assert sample("engine_venue_weight_used_total", "binance") == 41
    assert sample("engine_venue_weight_used_total", "deribit") == 500
    assert sample("engine_venue_throttled_total", "binance") == 1
    assert sample("engine_venue_throttled_total", "deribit") == 2
    assert budget.stats().granted_requests == 2 and budget.stats().granted_weight == 41


# --------------------------------------------------------------------------- token bucket


async def test_dhan_option_chain_one_request_every_3s_in_fifo_order(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    chain = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1 / 3)
    n = 10
    grants: list[tuple[float, int]] = []

    async def caller(i: int) -> None:
        await chain.acquire()
        grants.append((clock.monotonic(), i))

    start_s = clock.monotonic()
    async with trio.open_nursery() as nursery:
        for i in range(n):
            nursery.start_soon(caller, i)
            await trio.sleep(0.01)  # distinct arrival order

    times = [t for t, _ in grants]
    assert [i for _, i in grants] == list(range(n))
    assert times[-1] - start_s >= 3 * (n - 1) - TOL_S
    assert all(b - a >= 3 - TOL_S for a, b in zip(times, times[1:]))
    assert times[-1] - start_s <= 3 * (n - 1) + 0.1  # and no slower than needed
    assert chain.stats().waits == n - 1


async def test_dhan_quotes_one_per_second(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    quotes = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1)
    start_s = clock.monotonic()
    for _ in range(5):
        await quotes.acquire()
    assert clock.monotonic() - start_s == pytest.approx(4, abs=1e-3)


async def test_deribit_credits_burst_then_sustain_20_per_s(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    credits = TokenBucket(clock=clock, venue="deribit", capacity=50_000, refill_per_s=10_000)
    grants: list[float] = []

    async def caller() -> None:
        await credits.acquire(500)
        grants.append(clock.monotonic())

    start_s = clock.monotonic()
    async with trio.open_nursery() as nursery:
        for _ in range(300):
            nursery.start_soon(caller)

    offsets = sorted(t - start_s for t in grants)
    assert sum(1 for t in offsets if t == 0) == 100  # the full pool at once
    # then 20/s: the remaining 200 take 10 s
    assert offsets[-1] == pytest.approx(10, abs=0.01)
    assert sum(1 for t in offsets if 0 < t <= 5 + TOL_S) == pytest.approx(100, abs=1)
    # never more credits in any span than the pool plus its refill
    for i in range(len(offsets)):
        for j in range(i, len(offsets), 7):
            assert (j - i + 1) * 500 <= 50_000 + 10_000 * (offsets[j] - offsets[i]) + 1e-3


async def test_bucket_pause_blocks_waiters_and_drains_the_pool(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    credits = TokenBucket(clock=clock, venue="deribit", capacity=50_000, refill_per_s=10_000)
    await credits.acquire(500)
    credits.pause_for(2)  # 10028 too_many_requests
    assert credits.available() == 0
    grants: list[float] = []

    async def caller() -> None:
        await credits.acquire(500)
        grants.append(clock.monotonic())

    start_s = clock.monotonic()
    async with trio.open_nursery() as nursery:
        for _ in range(60):
            nursery.start_soon(caller)
    offsets = sorted(t - start_s for t in grants)
    assert offsets[0] >= 2 - TOL_S
    # 2 s of refill during the pause = 40 requests at the deadline, then 20/s
    assert sum(1 for t in offsets if t <= 2 + TOL_S) == 40
    assert offsets[-1] == pytest.approx(3, abs=0.01)


async def test_bucket_pause_none_waits_a_full_refill(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    chain = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1 / 3)
    chain.pause_for(None)  # Dhan 805 without detail
    start_s = clock.monotonic()
    await chain.acquire()
    assert clock.monotonic() - start_s == pytest.approx(3, abs=1e-3)


async def test_bucket_fifo_big_cost_not_starved(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    bucket = TokenBucket(clock=clock, venue="deribit", capacity=100, refill_per_s=10)
    await bucket.acquire(100)
    order: list[str] = []

    async def caller(name: str, cost: int) -> None:
        await bucket.acquire(cost)
        order.append(name)

    async with trio.open_nursery() as nursery:
        nursery.start_soon(caller, "big", 80)
        for i in range(30):  # each small one could be served from the refill at once
            await trio.sleep(0.1)
            nursery.start_soon(caller, f"small{i}", 1)
    assert order[0] == "big"
    assert order[1:] == [f"small{i}" for i in range(30)]


async def test_bucket_cost_beyond_capacity_raises_at_once(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    bucket = TokenBucket(clock=clock, venue="deribit", capacity=50_000, refill_per_s=10_000)
    start_s = clock.monotonic()
    with pytest.raises(ValueError):
        await bucket.acquire(50_001)
    with pytest.raises(ValueError):
        await bucket.acquire(-1)
    assert clock.monotonic() == start_s


async def test_cancelled_waiter_leaves_the_queue(autojump_clock):
    clock = Clock(epoch_s=EPOCH_S)
    chain = TokenBucket(clock=clock, venue="dhan", capacity=1, refill_per_s=1 / 3)
    await chain.acquire()
    with trio.move_on_after(1):
        await chain.acquire()
    start_s = clock.monotonic()
    await chain.acquire()  # the cancelled caller spent nothing
    assert clock.monotonic() - start_s == pytest.approx(2, abs=1e-3)
    assert chain.stats().granted_requests == 2


# --------------------------------------------------------------------------- properties

WINDOW_S = 60.0
BASE_S = 1_700_000_000.0  # realistic magnitude: rounding at the minute edge is real

window_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.floats(0, 50), st.integers(0, 120)),
        st.tuples(st.just("observe"), st.floats(0, 50), st.integers(0, 200)),
        st.tuples(st.just("pause"), st.floats(0, 50), st.one_of(st.none(), st.floats(0, 200))),
    ),
    max_size=60,
)


def run_until_granted(plan, state, t_s: float):
    """Drive a pure plan like the shell does; returns (state, grant time)."""
    for _ in range(10_000):
        state, wait_s = plan(state, t_s)
        if wait_s <= 0:
            return state, t_s
        assert wait_s > 0
        t_s += max(wait_s, MIN_WAIT_S)
    raise AssertionError("no grant after 10k plans: the plan does not make progress")


@settings(max_examples=300, deadline=None)
@given(ops=window_ops, limit=st.integers(1, 200), fraction=st.sampled_from([1.0, 0.9, 0.5]))
def test_property_window_schedule_never_exceeds_the_budget(ops, limit, fraction):
    allowed = allowed_weight(limit, fraction)
    state = WindowState()
    t_s = BASE_S + 0.123
    grants: list[tuple[float, int]] = []
    pause_ends_s: list[float] = []
    for kind, dt_s, value in ops:
        t_s += dt_s
        if kind == "observe":
            state = observe_window(state, t_s, value, None, WINDOW_S)
        elif kind == "pause":
            state = pause_window(state, t_s, value, WINDOW_S)
            pause_ends_s.append(next_minute_s(t_s) if value is None else t_s + value)
        elif value <= allowed:
            asked_s = t_s
            state, t_s = run_until_granted(
                lambda s, now: plan_window(s, now, value, allowed, WINDOW_S), state, t_s
            )
            # a pause holds every later grant back until its end
            assert all(t_s >= end_s for end_s in pause_ends_s)
            # liveness: at most the rest of the pauses plus one window
            assert t_s <= max(pause_ends_s + [asked_s]) + WINDOW_S + 1e-3
            grants.append((t_s, value))
        assert 0 <= state.used

    assert all(weight <= allowed for weight in weight_per_window(grants).values())


@settings(max_examples=300, deadline=None)
@given(ops=window_ops, limit=st.integers(1, 200))
def test_property_observed_server_weight_is_respected(ops, limit):
    """After the server says U was used in a window, we add at most allowed - U there."""
    allowed = allowed_weight(limit, 1.0)
    state = WindowState()
    t_s = BASE_S + 0.123
    after_observe: dict[int, int] = defaultdict(int)
    observed: dict[int, int] = {}
    for kind, dt_s, value in ops:
        t_s += dt_s
        if kind == "observe":
            state = observe_window(state, t_s, value, None, WINDOW_S)
            window = minute_of(t_s)
            observed[window] = max(observed.get(window, 0), value)
            after_observe[window] = 0  # count only grants after the latest observation
        elif kind == "pause":
            state = pause_window(state, t_s, value, WINDOW_S)
        elif value <= allowed:
            state, t_s = run_until_granted(
                lambda s, now: plan_window(s, now, value, allowed, WINDOW_S), state, t_s
            )
            after_observe[minute_of(t_s)] += value
            window = minute_of(t_s)
            if window in observed:
                assert observed[window] + after_observe[window] <= max(allowed, observed[window])


bucket_ops = st.lists(
    st.one_of(
        st.tuples(st.just("acquire"), st.floats(0, 20), st.floats(0, 1)),
        st.tuples(st.just("pause"), st.floats(0, 20), st.one_of(st.none(), st.floats(0, 10))),
    ),
    max_size=60,
)


@settings(max_examples=300, deadline=None)
@given(
    ops=bucket_ops,
    capacity=st.sampled_from([1.0, 3.0, 500.0, 50_000.0]),
    refill_per_s=st.sampled_from([1 / 3, 1.0, 20.0, 10_000.0]),
)
def test_property_token_bucket_never_negative_and_conforms(ops, capacity, refill_per_s):
    state = BucketState(tokens=capacity)
    t_s = 100_000.0  # trio's system clock starts at a large random offset
    grants: list[tuple[float, float]] = []
    pause_ends_s: list[float] = []
    for kind, dt_s, value in ops:
        t_s += dt_s
        if kind == "pause":
            state = pause_bucket(state, t_s, value, capacity, refill_per_s)
            pause_ends_s.append(t_s + (capacity / refill_per_s if value is None else value))
        else:
            cost = value * capacity
            state, t_s = run_until_granted(
                lambda s, now: plan_bucket(s, now, cost, capacity, refill_per_s), state, t_s
            )
            assert all(t_s >= end_s for end_s in pause_ends_s)
            grants.append((t_s, cost))
        assert 0.0 <= state.tokens <= capacity

    # conformance: in any span, granted cost <= capacity + refill over the span
    for i in range(len(grants)):
        spent = 0.0
        for j in range(i, len(grants)):
            spent += grants[j][1]
            span_s = grants[j][0] - grants[i][0]
            assert spent <= capacity + refill_per_s * span_s + 1e-6 * capacity
