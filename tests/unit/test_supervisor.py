"""Supervisor: restart types, backoff, intensity, ordered stop; on trio's MockClock."""

from __future__ import annotations

import random
from typing import Any

import attrs
import pytest
import structlog
import trio
from hypothesis import given
from hypothesis import strategies as st
from structlog.testing import capture_logs

from engine.actor import ActorContext, ChildSpec, Restart
from engine.clock import Clock
from engine.metrics import EngineMetrics
from engine.supervisor import (
    EXIT_ESCALATED,
    EXIT_OK,
    ActorState,
    Supervisor,
    SupervisorPolicy,
    backoff_delay_s,
    next_attempt,
    record_restart,
    should_restart,
    split_crash,
)

# ---- actors used by the tests -----------------------------------------------------------


@attrs.define
class Crasher:
    """Records when each run starts, runs ``run_s[i]`` seconds (0 by default), then raises."""

    starts: list[float]
    ends: list[float] = attrs.field(factory=list)
    run_s: list[float] = attrs.field(factory=list)

    async def run(self, ctx: ActorContext) -> None:
        self.starts.append(trio.current_time())
        index = len(self.starts) - 1
        if index < len(self.run_s) and self.run_s[index]:
            await trio.sleep(self.run_s[index])
        self.ends.append(trio.current_time())
        raise ValueError("boom")


@attrs.define
class Ticker:
    """Makes progress once a second, forever."""

    progress: list[float]

    async def run(self, ctx: ActorContext) -> None:
        while True:
            await trio.sleep(1)
            self.progress.append(trio.current_time())


@attrs.define
class OneShot:
    """Runs for a second, then returns or raises."""

    starts: list[float]
    raise_error: bool

    async def run(self, ctx: ActorContext) -> None:
        self.starts.append(trio.current_time())
        await trio.sleep(1)
        if self.raise_error:
            raise RuntimeError("one shot failed")


@attrs.define
class StopRecorder:
    """Runs until cancelled; records its name when it ends."""

    name: str
    stopped: list[tuple[str, float]]

    async def run(self, ctx: ActorContext) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.stopped.append((self.name, trio.current_time()))


@attrs.define
class GracefulMaker:
    """A market maker: on ``ctx.stopping`` it cancels its orders (takes ``cleanup_s``) and returns."""

    stop_gracefully = True
    events: list[tuple[str, float]]
    cleanup_s: float = 1.0

    async def run(self, ctx: ActorContext) -> None:
        await ctx.stopping.wait()
        await trio.sleep(self.cleanup_s)
        self.events.append(("orders cancelled", trio.current_time()))


@attrs.define
class DeafGraceful:
    """Claims to stop gracefully but ignores ``ctx.stopping``."""

    stop_gracefully = True
    events: list[tuple[str, float]]

    async def run(self, ctx: ActorContext) -> None:
        try:
            await trio.sleep_forever()
        finally:
            self.events.append(("cancelled", trio.current_time()))


@attrs.define
class ShieldedCleanup:
    """Not graceful: cleans up in ``finally`` under a shielded scope taking ``cleanup_s``."""

    events: list[tuple[str, float]]
    cleanup_s: float

    async def run(self, ctx: ActorContext) -> None:
        try:
            await trio.sleep_forever()
        finally:
            with trio.CancelScope(shield=True):
                await trio.sleep(self.cleanup_s)
                self.events.append(("cleaned", trio.current_time()))


@attrs.define
class GroupCrasher:
    """Crashes through an inner nursery: the error arrives as an ExceptionGroup."""

    starts: list[float]

    async def run(self, ctx: ActorContext) -> None:
        self.starts.append(trio.current_time())

        async def fail() -> None:
            raise KeyError("inner")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(fail)
            await trio.sleep_forever()


class Interrupter:
    async def run(self, ctx: ActorContext) -> None:
        await trio.sleep(1)
        raise KeyboardInterrupt


# ---- harness --------------------------------------------------------------------------------

NO_JITTER = dict(jitter_fraction=0.0)


def make_supervisor(specs: list[ChildSpec], seed: int = 7, **policy: Any) -> tuple[Supervisor, EngineMetrics]:
    metrics = EngineMetrics()
    clock = Clock()

    def make_context(spec: ChildSpec) -> ActorContext:
        return ActorContext(name=spec.name, bus=None, store=None, clock=clock,
                            log=structlog.get_logger().bind(actor=spec.name), metrics=metrics, config=spec.config)

    sup = Supervisor(specs, make_context, SupervisorPolicy(**policy), clock, structlog.get_logger(), metrics,
                     rng=random.Random(seed))
    return sup, metrics


@attrs.define
class Running:
    """A supervisor running in a background task; ``exit_code`` once it returned."""

    sup: Supervisor
    exit_code: int | None = None
    ended_at: float | None = None

    async def main(self) -> None:
        self.exit_code = await self.sup.run()
        self.ended_at = trio.current_time()


def sample(metrics: EngineMetrics, name: str, actor: str) -> float:
    return metrics.registry.get_sample_value(name, {"actor": actor}) or 0.0


def gaps(times: list[float]) -> list[float]:
    return [b - a for a, b in zip(times, times[1:])]


# ---- restarts and backoff --------------------------------------------------------------------


async def test_restarts_a_crashed_actor_and_counts_it(autojump_clock: Any) -> None:
    starts: list[float] = []
    sup, metrics = make_supervisor([ChildSpec("crasher", lambda: Crasher(starts))], max_restarts=100,
                                   backoff_initial_s=1.0, **NO_JITTER)
    running = Running(sup)
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.main)
            await trio.sleep(3.5)  # starts at 0, 1, 3; the third restart is sleeping in backoff
            sup.request_stop()
    assert len(starts) == 3
    assert sup.restart_count("crasher") == 3  # counted when decided, before the backoff
    assert sample(metrics, "engine_actor_restarts_total", "crasher") == 3
    assert sample(metrics, "engine_actor_failures_total", "crasher") == 3
    restarting = [e for e in logs if e["event"] == "actor_restarting"]
    assert [e["attempt"] for e in restarting] == [1, 2, 3]
    assert [e["delay_s"] for e in restarting] == [1.0, 2.0, 4.0]
    assert restarting[0]["actor"] == "crasher"
    assert restarting[0]["error_type"] == "ValueError" and restarting[0]["error"] == "boom"
    assert isinstance(restarting[0]["exc_info"], ValueError)
    assert running.exit_code == EXIT_OK


async def test_backoff_grows_then_caps(autojump_clock: Any) -> None:
    starts: list[float] = []
    sup, _ = make_supervisor([ChildSpec("crasher", lambda: Crasher(starts))], max_restarts=100,
                             backoff_initial_s=1.0, backoff_multiplier=2.0, backoff_max_s=8.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(40)
        sup.request_stop()
    assert gaps(starts)[:7] == pytest.approx([1, 2, 4, 8, 8, 8, 8])


async def test_backoff_jitter_follows_the_seeded_rng(autojump_clock: Any) -> None:
    starts: list[float] = []
    policy = dict(max_restarts=100, backoff_initial_s=1.0, backoff_max_s=8.0, jitter_fraction=0.2)
    sup, _ = make_supervisor([ChildSpec("crasher", lambda: Crasher(starts))], seed=42, **policy)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(60)
        sup.request_stop()
    rng = random.Random(42)
    expected = [backoff_delay_s(n, SupervisorPolicy(**policy), rng.uniform(-1, 1)) for n in range(1, 7)]
    assert gaps(starts)[:6] == pytest.approx(expected)
    assert expected != pytest.approx([1, 2, 4, 8, 8, 8])  # the jitter did something
    assert all(0 <= g <= 8.0 + 1e-9 for g in gaps(starts))


async def test_backoff_resets_after_a_stable_run(autojump_clock: Any) -> None:
    starts: list[float] = []
    ends: list[float] = []
    run_s = [0, 0, 0, 70, 0, 0]  # the fourth run lasts past stable_after_s
    sup, _ = make_supervisor([ChildSpec("crasher", lambda: Crasher(starts, ends, run_s))], max_restarts=100,
                             backoff_initial_s=1.0, backoff_max_s=30.0, stable_after_s=60.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(85)
        sup.request_stop()
    waits = [start - end for end, start in zip(ends, starts[1:])]
    assert waits[:5] == pytest.approx([1, 2, 4, 1, 2])


@attrs.define
class Recorder:
    """Records its context at start (which keeps it alive for identity checks); then crashes or idles."""

    seen: list[tuple[str, "Recorder", ActorContext]]
    crash: bool = False

    async def run(self, ctx: ActorContext) -> None:
        self.seen.append((ctx.name, self, ctx))
        if self.crash:
            raise ValueError("again")
        await trio.sleep_forever()


async def test_children_start_in_order_each_start_fresh(autojump_clock: Any) -> None:
    seen: list[tuple[str, Recorder, ActorContext]] = []
    specs = [ChildSpec(name, lambda: Recorder(seen)) for name in ("writer", "chain", "maker")]
    specs.append(ChildSpec("crasher", lambda: Recorder(seen, crash=True)))
    sup, _ = make_supervisor(specs, max_restarts=100, backoff_initial_s=1.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(3.5)
        sup.request_stop()
    assert [name for name, _, _ in seen[:4]] == ["writer", "chain", "maker", "crasher"]
    crasher_runs = [entry for entry in seen if entry[0] == "crasher"]
    assert len(crasher_runs) == 3
    assert len({id(actor) for _, actor, _ in crasher_runs}) == 3  # a fresh actor per start
    assert len({id(ctx.stopping) for _, _, ctx in crasher_runs}) == 3  # and a fresh context


@attrs.define
class SlowStarter:
    """Binds its "ports" after ``bind_s`` (or crashes first), then marks itself ready."""

    starts: dict[str, float]
    name: str
    bind_s: float = 0.0
    crash: bool = False
    ready: bool = True

    async def run(self, ctx: ActorContext) -> None:
        self.starts[self.name] = trio.current_time()
        await trio.sleep(self.bind_s)
        if self.crash:
            raise ValueError("could not bind")
        if self.ready:
            ctx.mark_ready()
        await trio.sleep_forever()


async def run_briefly(specs: list[ChildSpec], run_s: float) -> None:
    sup, _ = make_supervisor(specs, max_restarts=100, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(run_s)
        sup.request_stop()


async def test_a_child_that_must_be_ready_holds_its_next_sibling_until_it_is(autojump_clock: Any) -> None:
    starts: dict[str, float] = {}
    await run_briefly([ChildSpec("venues", lambda: SlowStarter(starts, "venues", bind_s=2.0), ready_timeout_s=10.0),
                       ChildSpec("client", lambda: SlowStarter(starts, "client"))], 5.0)
    assert starts["venues"] == 0.0 and starts["client"] == 2.0


async def test_without_ready_timeout_the_next_sibling_starts_at_once(autojump_clock: Any) -> None:
    starts: dict[str, float] = {}
    await run_briefly([ChildSpec("venues", lambda: SlowStarter(starts, "venues", bind_s=2.0)),
                       ChildSpec("client", lambda: SlowStarter(starts, "client"))], 5.0)
    assert starts["client"] == 0.0


async def test_a_first_run_that_crashes_or_never_says_ready_does_not_hold_siblings_forever(
        autojump_clock: Any) -> None:
    starts: dict[str, float] = {}
    with capture_logs() as logs:
        await run_briefly([
            ChildSpec("crashes", lambda: SlowStarter(starts, "crashes", bind_s=1.0, crash=True), ready_timeout_s=10.0),
            ChildSpec("silent", lambda: SlowStarter(starts, "silent", ready=False), ready_timeout_s=3.0),
            ChildSpec("client", lambda: SlowStarter(starts, "client"))], 8.0)
    assert starts["silent"] == 1.0  # the crash released it
    assert starts["client"] == 4.0  # after the silent one's 3 s timeout
    assert [e["actor"] for e in logs if e["event"] == "actor_not_ready"] == ["silent"]


# ---- restart types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("restart", "raise_error", "restarted", "state"),
    [
        (Restart.PERMANENT, False, True, None),
        (Restart.PERMANENT, True, True, None),
        (Restart.TRANSIENT, False, False, ActorState.COMPLETED),
        (Restart.TRANSIENT, True, True, None),
        (Restart.TEMPORARY, False, False, ActorState.COMPLETED),
        (Restart.TEMPORARY, True, False, ActorState.FAILED),
    ],
)
async def test_restart_types(autojump_clock: Any, restart: Restart, raise_error: bool, restarted: bool,
                             state: ActorState | None) -> None:
    starts: list[float] = []
    sup, metrics = make_supervisor([ChildSpec("one", lambda: OneShot(starts, raise_error), restart=restart)],
                                   max_restarts=100, backoff_initial_s=1.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(9)  # between events: (re)starts at 0, 2, 5, 10 for the restarted ones
        status = sup.statuses()[0]
        sup.request_stop()
    if restarted:  # the last restart may still be sleeping in backoff
        assert len(starts) > 2 and sup.restart_count("one") in (len(starts) - 1, len(starts))
    else:
        assert len(starts) == 1 and sup.restart_count("one") == 0
        assert status.state is state
    assert sample(metrics, "engine_actor_failures_total", "one") == (len(starts) if raise_error else 0)
    if raise_error:
        assert status.last_error == "RuntimeError: one shot failed"


async def test_exception_group_from_an_inner_nursery_is_a_crash(autojump_clock: Any) -> None:
    starts: list[float] = []
    sup, _ = make_supervisor([ChildSpec("grouped", lambda: GroupCrasher(starts))], max_restarts=100,
                             backoff_initial_s=1.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(3.5)
        sup.request_stop()
    assert len(starts) == 3
    assert sup.statuses()[0].last_error == "KeyError: 'inner'"


async def test_keyboard_interrupt_is_not_a_crash(autojump_clock: Any) -> None:
    sup, metrics = make_supervisor([ChildSpec("ki", Interrupter)], max_restarts=100)
    with pytest.raises(BaseException) as raised:
        await sup.run()
    assert raised.group_contains(KeyboardInterrupt) if isinstance(raised.value, BaseExceptionGroup) \
        else isinstance(raised.value, KeyboardInterrupt)
    assert sup.restart_count("ki") == 0
    assert sample(metrics, "engine_actor_failures_total", "ki") == 0


# ---- intensity and isolation ----------------------------------------------------------------


async def test_intensity_escalates_and_stops_every_child(autojump_clock: Any) -> None:
    starts: list[float] = []
    stopped: list[tuple[str, float]] = []
    events: list[tuple[str, float]] = []
    specs = [
        ChildSpec("writer", lambda: StopRecorder("writer", stopped)),
        ChildSpec("maker", lambda: GracefulMaker(events)),
        ChildSpec("crasher", lambda: Crasher(starts)),
        ChildSpec("api", lambda: StopRecorder("api", stopped)),
    ]
    sup, metrics = make_supervisor(specs, max_restarts=3, window_s=30.0, backoff_initial_s=0.5, **NO_JITTER)
    with capture_logs() as logs:
        with trio.fail_after(100):
            code = await sup.run()
    assert code == EXIT_ESCALATED
    assert len(starts) == 4 and sup.restart_count("crasher") == 3
    escalations = [e for e in logs if e["event"] == "supervisor_escalating"]
    assert len(escalations) == 1 and escalations[0]["log_level"] == "error"
    assert escalations[0]["actor"] == "crasher"
    assert [name for name, _ in stopped] == ["api", "writer"]
    assert [name for name, _ in events] == ["orders cancelled"]  # the maker cancelled its orders
    states = {s.name: s.state for s in sup.statuses()}
    assert states == {"writer": ActorState.STOPPED, "maker": ActorState.STOPPED,
                      "crasher": ActorState.FAILED, "api": ActorState.STOPPED}
    assert all(sample(metrics, "engine_actor_up", name) == 0 for name in states)


async def test_restarts_outside_the_window_do_not_escalate(autojump_clock: Any) -> None:
    starts: list[float] = []
    # every run lasts 20 s, so at most 2 restarts fall in any 30 s window
    sup, _ = make_supervisor([ChildSpec("slow", lambda: Crasher(starts, run_s=[20] * 100))],
                             max_restarts=2, window_s=30.0, backoff_initial_s=0.1, backoff_max_s=0.1, **NO_JITTER)
    running = Running(sup)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.main)
        await trio.sleep(300)
        assert running.exit_code is None
        sup.request_stop()
    assert sup.restart_count("slow") >= 10
    assert running.exit_code == EXIT_OK


async def test_crash_loop_leaves_siblings_running(autojump_clock: Any) -> None:
    starts: list[float] = []
    progress: list[float] = []
    specs = [ChildSpec("ticker", lambda: Ticker(progress)), ChildSpec("crasher", lambda: Crasher(starts))]
    sup, metrics = make_supervisor(specs, max_restarts=1000, backoff_initial_s=0.5, backoff_max_s=2.0, **NO_JITTER)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(100.5)
        statuses = {s.name: s for s in sup.statuses()}
        sup.request_stop()
    assert sup.restart_count("crasher") > 40
    assert sup.restart_count("ticker") == 0
    assert len(progress) == 100  # one tick per second, uninterrupted
    assert statuses["ticker"].state is ActorState.RUNNING
    assert sample(metrics, "engine_actor_restarts_total", "ticker") == 0


# ---- stopping ----------------------------------------------------------------------------------


async def test_request_stop_stops_in_reverse_start_order(autojump_clock: Any) -> None:
    ended: list[tuple[str, float]] = []  # one list, in the order things happened
    specs = [
        ChildSpec("a", lambda: StopRecorder("a", ended)),
        ChildSpec("b", lambda: GracefulMaker(ended, cleanup_s=2.0)),
        ChildSpec("c", lambda: StopRecorder("c", ended)),
        ChildSpec("d", lambda: ShieldedCleanup(ended, cleanup_s=1.0)),
    ]
    sup, _ = make_supervisor(specs)
    running = Running(sup)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.main)
        await trio.sleep(10)
        sup.request_stop()
        sup.request_stop()  # idempotent
    # d cleans up (1 s), then c is cancelled, then b cancels its orders (2 s), then a.
    assert [name for name, _ in ended] == ["cleaned", "c", "orders cancelled", "a"]
    assert [t for _, t in ended] == pytest.approx([11, 11, 13, 13])
    assert running.exit_code == EXIT_OK and running.ended_at == pytest.approx(13)
    assert {s.state for s in sup.statuses()} == {ActorState.STOPPED}


async def test_graceful_actor_finishes_cleanup_within_the_window(autojump_clock: Any) -> None:
    events: list[tuple[str, float]] = []
    sup, _ = make_supervisor([ChildSpec("maker", lambda: GracefulMaker(events, cleanup_s=3.0))], cleanup_window_s=5.0)
    running = Running(sup)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.main)
        await trio.sleep(1)
        sup.request_stop()
    assert events == [("orders cancelled", pytest.approx(4.0))]
    assert running.ended_at == pytest.approx(4.0)
    assert sup.statuses()[0].state is ActorState.STOPPED


async def test_graceful_actor_that_ignores_stopping_is_cancelled_after_the_window(autojump_clock: Any) -> None:
    events: list[tuple[str, float]] = []
    sup, _ = make_supervisor([ChildSpec("deaf", lambda: DeafGraceful(events))], cleanup_window_s=5.0)
    running = Running(sup)
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.main)
            await trio.sleep(1)
            sup.request_stop()
    assert events == [("cancelled", pytest.approx(6.0))]
    assert any(e["event"] == "actor_cleanup_timeout" for e in logs)
    assert sup.statuses()[0].state is ActorState.STOPPED


async def test_overdue_shielded_cleanup_does_not_hold_up_the_other_children(autojump_clock: Any) -> None:
    events: list[tuple[str, float]] = []
    stopped: list[tuple[str, float]] = []
    specs = [ChildSpec("a", lambda: StopRecorder("a", stopped)),
             ChildSpec("slow", lambda: ShieldedCleanup(events, cleanup_s=20.0))]
    sup, _ = make_supervisor(specs, cleanup_window_s=5.0)
    running = Running(sup)
    with capture_logs() as logs:
        async with trio.open_nursery() as nursery:
            nursery.start_soon(running.main)
            await trio.sleep(1)
            sup.request_stop()
    assert stopped == [("a", pytest.approx(6.0))]  # stopped once slow's window ran out
    assert events == [("cleaned", pytest.approx(21.0))]
    assert running.ended_at == pytest.approx(21.0)  # run() still waits for every child
    assert any(e["event"] == "actor_stop_overdue" and e["actor"] == "slow" for e in logs)


async def test_actor_in_backoff_is_cancelled_and_crashes_during_stop_are_not_restarted(autojump_clock: Any) -> None:
    starts: list[float] = []
    late: list[float] = []
    specs = [ChildSpec("late_crasher", lambda: Crasher(late, run_s=[3.0] * 10)),
             ChildSpec("maker", lambda: GracefulMaker([], cleanup_s=4.0)),
             ChildSpec("backoff", lambda: Crasher(starts))]
    sup, _ = make_supervisor(specs, max_restarts=100, backoff_initial_s=100.0, backoff_max_s=100.0, **NO_JITTER)
    running = Running(sup)
    async with trio.open_nursery() as nursery:
        nursery.start_soon(running.main)
        await trio.sleep(1)
        assert sup.statuses()[2].state is ActorState.RESTARTING
        sup.request_stop()
    # backoff: cancelled at once; maker: 4 s of cleanup, meanwhile late_crasher crashes at t=3
    assert len(starts) == 1 and len(late) == 1
    assert running.ended_at == pytest.approx(5.0)
    states = {s.name: s.state for s in sup.statuses()}
    assert states == {"late_crasher": ActorState.FAILED, "maker": ActorState.STOPPED, "backoff": ActorState.STOPPED}
    assert sup.restart_count("late_crasher") == 0


async def test_statuses_reflect_each_state(autojump_clock: Any) -> None:
    specs = [
        ChildSpec("ticker", lambda: Ticker([])),
        ChildSpec("crasher", lambda: Crasher([])),
        ChildSpec("temp", lambda: OneShot([], raise_error=True), restart=Restart.TEMPORARY),
        ChildSpec("trans", lambda: OneShot([], raise_error=False), restart=Restart.TRANSIENT),
    ]
    sup, metrics = make_supervisor(specs, max_restarts=100, backoff_initial_s=10.0, **NO_JITTER)
    assert [s.name for s in sup.statuses()] == ["ticker", "crasher", "temp", "trans"]
    async with trio.open_nursery() as nursery:
        nursery.start_soon(Running(sup).main)
        await trio.sleep(2)
        statuses = sup.statuses()
        up = {name: sample(metrics, "engine_actor_up", name) for name in ("ticker", "crasher", "temp")}
        sup.request_stop()
    by_name = {s.name: s for s in statuses}
    assert by_name["ticker"].state is ActorState.RUNNING
    assert by_name["crasher"].state is ActorState.RESTARTING and by_name["crasher"].restarts == 1
    assert by_name["crasher"].last_error == "ValueError: boom"
    assert by_name["temp"].state is ActorState.FAILED and by_name["temp"].last_error == "RuntimeError: one shot failed"
    assert by_name["trans"].state is ActorState.COMPLETED and by_name["trans"].last_error is None
    assert by_name["ticker"].since_ms <= by_name["trans"].since_ms
    assert up == {"ticker": 1, "crasher": 0, "temp": 0}


async def test_stop_requested_before_run_starts_nothing(autojump_clock: Any) -> None:
    starts: list[float] = []
    sup, _ = make_supervisor([ChildSpec("x", lambda: OneShot(starts, False))])
    sup.request_stop()
    assert await sup.run() == EXIT_OK
    assert starts == []


async def test_duplicate_child_names_are_rejected() -> None:
    with pytest.raises(ValueError, match="unique"):
        make_supervisor([ChildSpec("x", Interrupter), ChildSpec("x", Interrupter)])


# ---- policy validation ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad",
    [
        dict(max_restarts=-1), dict(window_s=0), dict(backoff_initial_s=-1), dict(backoff_max_s=0.1),
        dict(backoff_multiplier=0.5), dict(jitter_fraction=1.5), dict(jitter_fraction=-0.1),
        dict(stable_after_s=0), dict(cleanup_window_s=-1), dict(window_s=float("nan")),
        dict(backoff_max_s=float("inf")),
    ],
)
def test_policy_rejects_bad_values(bad: dict[str, Any]) -> None:
    with pytest.raises((ValueError, TypeError)):
        SupervisorPolicy(**bad)


def test_policy_defaults() -> None:
    p = SupervisorPolicy()
    assert (p.max_restarts, p.window_s, p.backoff_initial_s, p.backoff_max_s) == (5, 30.0, 0.5, 30.0)
    assert (p.backoff_multiplier, p.jitter_fraction, p.stable_after_s, p.cleanup_window_s) == (2.0, 0.2, 60.0, 5.0)


# ---- pure functions ----------------------------------------------------------------------------


def test_backoff_delay_examples() -> None:
    p = SupervisorPolicy(backoff_initial_s=0.5, backoff_max_s=30.0, backoff_multiplier=2.0, jitter_fraction=0.2)
    assert [backoff_delay_s(n, p) for n in range(1, 9)] == [0.5, 1, 2, 4, 8, 16, 30, 30]
    assert backoff_delay_s(1, p, 1.0) == pytest.approx(0.6)
    assert backoff_delay_s(1, p, -1.0) == pytest.approx(0.4)
    assert backoff_delay_s(10, p, 1.0) == 30.0  # jitter never pushes above the cap
    assert backoff_delay_s(10, p, -1.0) == pytest.approx(24.0)
    assert backoff_delay_s(100_000, p) == 30.0  # no overflow
    with pytest.raises(ValueError):
        backoff_delay_s(0, p)


def test_next_attempt_and_should_restart() -> None:
    assert next_attempt(0, 0.0, 60.0) == 1
    assert next_attempt(4, 59.9, 60.0) == 5
    assert next_attempt(4, 60.0, 60.0) == 1
    assert should_restart(Restart.PERMANENT, crashed=False) and should_restart(Restart.PERMANENT, crashed=True)
    assert not should_restart(Restart.TRANSIENT, crashed=False) and should_restart(Restart.TRANSIENT, crashed=True)
    assert not should_restart(Restart.TEMPORARY, crashed=False) and not should_restart(Restart.TEMPORARY, crashed=True)


def test_record_restart_window() -> None:
    p = SupervisorPolicy(max_restarts=2, window_s=10.0)
    times, escalate = record_restart((), 0.0, p)
    assert times == (0.0,) and not escalate
    times, escalate = record_restart(times, 5.0, p)
    assert not escalate
    times, escalate = record_restart(times, 9.0, p)
    assert escalate and times == (0.0, 5.0, 9.0)
    times, escalate = record_restart((0.0, 5.0), 10.0, p)  # 0.0 is exactly window_s old: gone
    assert times == (5.0, 10.0) and not escalate


def test_split_crash() -> None:
    err = ValueError("x")
    assert split_crash(err) == (err, None)
    ki = KeyboardInterrupt()
    assert split_crash(ki) == (None, ki)
    crash, other = split_crash(BaseExceptionGroup("g", [ValueError("a"), KeyboardInterrupt()]))
    assert isinstance(crash, ExceptionGroup) and isinstance(other, BaseExceptionGroup)
    crash, other = split_crash(ExceptionGroup("g", [ValueError("a")]))
    assert crash is not None and other is None


policies = st.builds(
    lambda initial, extra, mult, jitter: SupervisorPolicy(
        backoff_initial_s=initial, backoff_max_s=initial + extra, backoff_multiplier=mult, jitter_fraction=jitter),
    st.floats(0.0, 100.0), st.floats(0.0, 1000.0), st.floats(1.0, 10.0), st.floats(0.0, 1.0),
)


@given(policies, st.integers(1, 100_000), st.floats(-1.0, 1.0))
def test_delay_is_within_zero_and_the_cap(policy: SupervisorPolicy, attempt: int, jitter_unit: float) -> None:
    delay_s = backoff_delay_s(attempt, policy, jitter_unit)
    assert 0.0 <= delay_s <= policy.backoff_max_s


@given(policies, st.integers(1, 2000))
def test_delay_without_jitter_is_non_decreasing(policy: SupervisorPolicy, attempt: int) -> None:
    assert backoff_delay_s(attempt, policy) <= backoff_delay_s(attempt + 1, policy)


@given(policies, st.integers(1, 2000), st.floats(-1.0, 1.0))
def test_jitter_stays_within_its_fraction(policy: SupervisorPolicy, attempt: int, jitter_unit: float) -> None:
    base_s = backoff_delay_s(attempt, policy)
    delay_s = backoff_delay_s(attempt, policy, jitter_unit)
    assert base_s * (1 - policy.jitter_fraction) - 1e-9 <= delay_s <= base_s * (1 + policy.jitter_fraction) + 1e-9


@given(st.integers(0, 10), st.floats(0.1, 100.0),
       st.lists(st.floats(0.0, 50.0), max_size=30).map(sorted))
def test_intensity_counts_only_restarts_inside_the_window(max_restarts: int, window_s: float,
                                                          offsets: list[float]) -> None:
    policy = SupervisorPolicy(max_restarts=max_restarts, window_s=window_s)
    times: tuple[float, ...] = ()
    for i, now_s in enumerate(offsets):
        times, escalate = record_restart(times, now_s, policy)
        inside = [t for t in offsets[: i + 1] if now_s - t < window_s]
        assert len(times) == len(inside)
        assert escalate == (len(inside) > max_restarts)
        if escalate:
            break  # the engine stops here
