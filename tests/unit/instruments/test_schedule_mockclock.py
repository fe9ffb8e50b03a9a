"""The daily 08:00 UTC trigger and the listing boundary, on trio's MockClock."""

from __future__ import annotations

import datetime as dt
from typing import Any

import structlog
import trio

from actors.instruments.actor import InstrumentsActor
from actors.instruments.maturities import default_policy, live_maturities
from engine.actor import ActorContext
from engine.bus import Bus
from engine.clock import Clock
from engine.metrics import EngineMetrics


def _utc(text: str) -> float:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.timezone.utc).timestamp()


class RecordingActor(InstrumentsActor):
    """The real schedule and request loop; the update itself only records when it ran."""

    runs: list[tuple[str, str]]

    async def regenerate(self, ctx: Any, trigger: str) -> list[Any]:
        stamp = dt.datetime.fromtimestamp(ctx.clock.time_s(), dt.timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        self.runs.append((stamp, trigger))
        return []


async def test_runs_daily_at_0800_utc(autojump_clock: Any) -> None:
    clock = Clock(epoch_s=_utc("2028-02-27T21:30:00"))
    metrics = EngineMetrics()
    ctx = ActorContext(name="instruments", bus=Bus(metrics), store=None, clock=clock,
                       log=structlog.get_logger(), metrics=metrics)
    actor = RecordingActor((), run_at_start=True, startup_wait_s=0.0)
    actor.runs = []
    with trio.move_on_after(3 * 86_400):
        await actor.run(ctx)
    assert actor.runs == [
        ("2028-02-27 21:30:00", "start"),
        ("2028-02-28 08:00:00", "schedule"),
        ("2028-02-29 08:00:00", "schedule"),  # leap day
        ("2028-03-01 08:00:00", "schedule"),
    ]


async def test_listing_changes_exactly_at_0800_utc(autojump_clock: Any) -> None:
    clock = Clock(epoch_s=_utc("2026-03-26T07:59:00"))  # Thursday before the March quarterly
    policy = default_policy("BTC")
    await trio.sleep(60 - 0.001)
    before = live_maturities(clock.time_ms(), policy)
    await trio.sleep(0.001)
    after = live_maturities(clock.time_ms(), policy)
    assert before != after
    assert before[0].code == "26MAR26" and after[0].code != "26MAR26"  # the daily expired at 08:00
