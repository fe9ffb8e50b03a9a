"""Chaos: an actor that crashes at every start, inside a running engine, beside real siblings.

``run_engine`` runs its own children (the heartbeat writing to a real Redis, the API serving
``/health``) plus a counting actor and a crasher that raises at once every time it starts.
Invariants, as ``engine/supervisor.py`` documents them:

- every restart waits the capped exponential backoff of ``[supervisor]``: the delays grow
  by ``backoff_multiplier`` and then stay at ``backoff_max_s``, jitter never passes the cap;
- the siblings run on untouched: their counters advance between the crasher's starts, none
  of them is restarted, ``/health`` shows them running while the crasher is restarting;
- the restart past ``max_restarts`` within ``window_s`` escalates: the crasher is the one
  named, every child is stopped in reverse start order (graceful ones through
  ``ctx.stopping``) and the engine returns ``EXIT_ESCALATED`` (3), run.py's exit code;
  restarts spaced wider than the window never escalate.

Delays are read from the supervisor's ``actor_restarting`` logs and checked against the
spacing of the starts on the engine's own clock (a lower bound, never a wall-time limit).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, ClassVar

import attrs
import httpx
import redis as redis_py
import trio
from structlog.testing import capture_logs

from engine import keys
from engine.actor import ActorContext, ChildSpec
from engine.config import load_config
from engine.runtime import run_engine
from engine.supervisor import EXIT_ESCALATED, EXIT_OK

SIBLINGS = ("heartbeat", "counter", "api")


@attrs.define
class Journal:
    """What the test actors saw: shared by every fresh instance the supervisor builds."""

    counters: list["CountingActor"] = attrs.field(factory=list)  # one per start of the counter
    crash_starts_s: list[float] = attrs.field(factory=list)  # engine clock (monotonic) at each crasher start
    crash_starts_ms: list[int] = attrs.field(factory=list)  # engine clock (Unix ms)
    counts_at_crash: list[int] = attrs.field(factory=list)  # the counter's ticks at each crasher start

    @property
    def counter(self) -> "CountingActor":
        return self.counters[-1]


@attrs.define(eq=False)
class CountingActor:
    """A sibling that ticks every 10 ms until asked to stop, and records how it was stopped."""

    stop_gracefully: ClassVar[bool] = True
    ticks: int = 0
    stopped_by: str | None = None

    async def run(self, ctx: ActorContext) -> None:
        try:
            while not ctx.stopping.is_set():
                self.ticks += 1
                with trio.move_on_after(0.01):
                    await ctx.stopping.wait()
            self.stopped_by = "stopping"
        except trio.Cancelled:
            self.stopped_by = "cancelled"
            raise


@attrs.define(eq=False)
class Crasher:
    """Raises at once, every start, after noting when it started and how far the counter had ticked."""

    journal: Journal

    async def run(self, ctx: ActorContext) -> None:
        journal = self.journal
        journal.crash_starts_s.append(ctx.clock.monotonic())
        journal.crash_starts_ms.append(ctx.clock.time_ms())
        journal.counts_at_crash.append(journal.counter.ticks)
        raise RuntimeError(f"start {len(journal.crash_starts_s)} fails at once")


def _config(tmp_path: Path, redis_url: str, supervisor: str) -> Any:
    path = tmp_path / "engine.toml"
    path.write_text(f'[engine]\nname = "chaos-crash"\nheartbeat_interval_s = 0.05\n'
                    f'[redis]\nurl = "{redis_url}"\n[api]\nport = 0\n[supervisor]\n{supervisor}')
    return load_config(path, environ={})


def _specs(journal: Journal) -> tuple[ChildSpec, ...]:
    def counter() -> CountingActor:
        journal.counters.append(CountingActor())
        return journal.counter

    return (ChildSpec("counter", counter), ChildSpec("crasher", lambda: Crasher(journal)))


@attrs.define
class Run:
    exit_code: int | None = None
    health: list[dict[str, Any]] = attrs.field(factory=list)  # every /health answer seen while it ran


async def _run(loaded: Any, journal: Journal, stop_after_crashes: int | None = None) -> Run:
    """The engine with the counter and the crasher; ``/health`` polled until the API goes away.
    ``stop_after_crashes``: an orderly stop once the crasher started that often (else it must stop itself)."""
    result, urls = Run(), []
    listening, stop = trio.Event(), trio.Event()

    def on_listening(binds: list[str]) -> None:
        urls.extend(binds)
        listening.set()

    async def engine() -> None:
        result.exit_code = await run_engine(loaded, extra_specs=_specs(journal), on_listening=on_listening,
                                            handle_signals=False, stop_event=stop)

    async def poll_health() -> None:
        await listening.wait()
        async with httpx.AsyncClient(base_url=urls[0], timeout=5) as client:
            while result.exit_code is None:
                try:
                    answer = await client.get("/health")
                except httpx.TransportError:
                    return  # the API stopped with the engine
                result.health.append(answer.json())
                if stop_after_crashes is not None and len(journal.crash_starts_s) >= stop_after_crashes:
                    stop.set()
                await trio.sleep(0.02)

    with trio.fail_after(60):
        async with trio.open_nursery() as nursery:
            nursery.start_soon(poll_health)
            await engine()
            nursery.cancel_scope.cancel()
    return result


def _actors(health: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {a["name"]: a for a in health["actors"]}


def _before_the_stop(run: Run) -> list[dict[str, Any]]:
    """The /health answers up to the first that shows the engine stopping (an escalation or a stop request)."""
    answers = []
    for answer in run.health:
        actors = _actors(answer)
        if actors["crasher"]["state"] == "failed" or {a["state"] for a in actors.values()} & {"stopping", "stopped"}:
            break
        answers.append(answer)
    return answers


def _assert_siblings_untouched(journal: Journal, run: Run, logs: list[dict[str, Any]]) -> None:
    assert len(journal.counters) == 1  # the counter was never rebuilt, so never restarted
    counts = journal.counts_at_crash
    assert counts == sorted(counts) and counts[-1] > counts[0], counts  # it kept ticking through the loop
    assert {e["actor"] for e in logs if e["event"] == "actor_restarting"} == {"crasher"}
    answers = _before_the_stop(run)
    assert answers, "the API never answered while the crash loop ran"
    for answer in answers:
        actors = _actors(answer)
        assert all(actors[name]["state"] == "running" and actors[name]["restarts"] == 0 for name in SIBLINGS), actors
    crasher = [_actors(a)["crasher"] for a in answers]
    assert any(c["state"] == "restarting" and c["restarts"] >= 1 and c["last_error"].startswith("RuntimeError: start ")
               for c in crasher)
    seen = [c["restarts"] for c in crasher]
    assert seen == sorted(seen)


def _heartbeat(redis_url: str) -> dict[str, Any]:
    reader = redis_py.Redis.from_url(redis_url, decode_responses=True)
    try:
        text = reader.get(keys.ENGINE_HEARTBEAT)
    finally:
        reader.close()
    assert text is not None
    return json.loads(text)


async def test_a_crash_loop_backs_off_to_the_cap_then_escalates_and_stops_the_engine(
        tmp_path: Path, redis_url: str) -> None:
    loaded = _config(tmp_path, redis_url, "max_restarts = 6\nwindow_s = 30.0\nbackoff_initial_s = 0.05\n"
                     "backoff_multiplier = 2.0\nbackoff_max_s = 0.4\njitter_fraction = 0.0\n"
                     "stable_after_s = 60.0\ncleanup_window_s = 2.0\n")
    journal = Journal()
    with capture_logs() as logs:
        run = await _run(loaded, journal)

    assert run.exit_code == EXIT_ESCALATED == 3
    restarts = [e for e in logs if e["event"] == "actor_restarting"]
    delays = [e["delay_s"] for e in restarts]
    assert delays == [0.05, 0.1, 0.2, 0.4, 0.4, 0.4]  # doubling, then capped at backoff_max_s
    assert [e["attempt"] for e in restarts] == [1, 2, 3, 4, 5, 6]
    assert all(e["reason"] == "exception" and e["error_type"] == "RuntimeError" for e in restarts)
    # each start came at least its logged delay after the previous one (the engine's clock)
    starts = journal.crash_starts_s
    assert len(starts) == 7  # six restarts; the seventh crash is the seventh restart in the window
    assert all(b - a >= delay for a, b, delay in zip(starts, starts[1:], delays))

    escalations = [e for e in logs if e["event"] == "supervisor_escalating"]
    assert len(escalations) == 1
    assert escalations[0]["actor"] == "crasher" and escalations[0]["restarts_in_window"] == 7
    assert escalations[0]["max_restarts"] == 6 and escalations[0]["window_s"] == 30.0
    assert escalations[0]["error"] == "RuntimeError: start 7 fails at once"
    stopping = [e for e in logs if e["event"] == "supervisor_stopping"]
    assert [e["reason"] for e in stopping] == ["escalated"]
    # every other child stopped, last started first; the counter through ctx.stopping, not cancelled
    assert [e["actor"] for e in logs if e["event"] == "actor_stopping"] == ["api", "counter", "heartbeat"]
    assert journal.counter.stopped_by == "stopping"
    assert [e["exit_code"] for e in logs if e["event"] in ("supervisor_stopped", "engine_stopped")] == [3, 3]

    _assert_siblings_untouched(journal, run, logs)
    # one heartbeat run, started before the loop, still writing to Redis late in it (0.8 s before its end)
    heartbeat = _heartbeat(redis_url)
    assert heartbeat["started_ts"] <= journal.crash_starts_ms[0] <= journal.crash_starts_ms[-3] <= heartbeat["ts"]


async def test_restarts_spaced_wider_than_the_window_never_escalate(tmp_path: Path, redis_url: str) -> None:
    # restarts at least 0.16 s apart (0.2 s less 20 % jitter): at most 2 of them in any 0.3 s window
    loaded = _config(tmp_path, redis_url, "max_restarts = 2\nwindow_s = 0.3\nbackoff_initial_s = 0.2\n"
                     "backoff_max_s = 0.2\njitter_fraction = 0.2\nstable_after_s = 60.0\ncleanup_window_s = 2.0\n")
    journal = Journal()
    with capture_logs() as logs:
        run = await _run(loaded, journal, stop_after_crashes=8)

    assert run.exit_code == EXIT_OK
    assert not [e for e in logs if e["event"] == "supervisor_escalating"]
    assert [e["reason"] for e in logs if e["event"] == "supervisor_stopping"] == ["requested"]
    delays = [e["delay_s"] for e in logs if e["event"] == "actor_restarting"]
    assert len(delays) >= 7
    assert all(0.16 - 5e-4 <= delay <= 0.2 for delay in delays), delays  # jittered, never past the cap
    starts = journal.crash_starts_s
    assert all(b - a >= delay for a, b, delay in zip(starts, starts[1:], delays))
    _assert_siblings_untouched(journal, run, logs)
