"""One-for-one supervision of actors on trio (OTP semantics, after linkdd/triotp) plus backoff.

- Restart types: PERMANENT restarts after a return or an exception, TRANSIENT only after
  an exception, TEMPORARY never. ``Cancelled`` and ``KeyboardInterrupt`` are not crashes:
  they propagate.
- Backoff: restart n waits ``min(max, initial * multiplier**(n-1))`` ± jitter, capped;
  the attempt counter starts over once a run lasted ``stable_after_s``.
- Intensity: more than ``max_restarts`` restarts (across all children) within
  ``window_s`` escalate: the supervisor stops every child and ``run`` returns
  ``EXIT_ESCALATED``. A crash loop that never stops means a fault a restart cannot fix.
- Stop: children stop one after the other in reverse start order (the API started last
  stops first, the Redis writer started first flushes last). See ``_stop_child``.

The arithmetic (backoff, attempt reset, intensity window) is pure functions below; the
``Supervisor`` class is the imperative shell around them.
"""

from __future__ import annotations

import enum
import math
import random
from typing import Any, Callable

import attrs
import trio

from engine.actor import ActorContext, ChildSpec, Restart
from engine.clock import Clock
from engine.metrics import EngineMetrics

EXIT_OK = 0
EXIT_ESCALATED = 3


def _finite(_instance: Any, attribute: attrs.Attribute, value: float) -> None:
    if not math.isfinite(value):
        raise ValueError(f"{attribute.name} must be finite, got {value!r}")


def _not_below_initial(instance: "SupervisorPolicy", attribute: attrs.Attribute, value: float) -> None:
    if value < instance.backoff_initial_s:
        raise ValueError(f"{attribute.name} must be >= backoff_initial_s ({instance.backoff_initial_s}), got {value}")


_ge0 = attrs.validators.ge(0.0)
_gt0 = attrs.validators.gt(0.0)


@attrs.frozen
class SupervisorPolicy:
    """How hard the supervisor tries before it gives up on the whole engine."""

    max_restarts: int = attrs.field(default=5, validator=[attrs.validators.instance_of(int), attrs.validators.ge(0)])
    window_s: float = attrs.field(default=30.0, validator=[_gt0, _finite])
    backoff_initial_s: float = attrs.field(default=0.5, validator=[_ge0, _finite])
    backoff_max_s: float = attrs.field(default=30.0, validator=[_ge0, _finite, _not_below_initial])
    backoff_multiplier: float = attrs.field(default=2.0, validator=[attrs.validators.ge(1.0), _finite])
    jitter_fraction: float = attrs.field(default=0.2, validator=[_ge0, attrs.validators.le(1.0)])
    stable_after_s: float = attrs.field(default=60.0, validator=[_gt0, _finite])
    cleanup_window_s: float = attrs.field(default=5.0, validator=[_ge0, _finite])


class ActorState(enum.Enum):
    STARTING = "starting"
    RUNNING = "running"
    RESTARTING = "restarting"  # sleeping in backoff before the next start
    FAILED = "failed"  # ended in an exception and will not be restarted
    STOPPING = "stopping"
    STOPPED = "stopped"
    COMPLETED = "completed"  # returned normally and will not be restarted


@attrs.frozen
class ActorStatus:
    """One child as shown by ``GET /health``."""

    name: str
    state: ActorState
    restarts: int
    last_error: str | None
    since_ms: int


# ---- functional core --------------------------------------------------------------------


def backoff_delay_s(attempt: int, policy: SupervisorPolicy, jitter_unit: float = 0.0) -> float:
    """Delay before restart ``attempt`` (1-based), within ``[0, backoff_max_s]``.

    ``jitter_unit`` in [-1, 1] is drawn by the caller so this stays pure; jitter spreads
    restarts of actors that failed together (a venue outage) so they do not retry in step.
    """
    if attempt < 1:
        raise ValueError(f"attempt is 1-based, got {attempt}")
    try:
        base_s = policy.backoff_initial_s * policy.backoff_multiplier ** (attempt - 1)
    except OverflowError:
        base_s = policy.backoff_max_s
    base_s = min(policy.backoff_max_s, base_s)
    jittered_s = base_s * (1.0 + policy.jitter_fraction * max(-1.0, min(1.0, jitter_unit)))
    return min(policy.backoff_max_s, max(0.0, jittered_s))


def next_attempt(previous_attempt: int, run_s: float, stable_after_s: float) -> int:
    """A run that lasted ``stable_after_s`` shows the fault went away: back off from the start."""
    return 1 if run_s >= stable_after_s else previous_attempt + 1


def should_restart(restart: Restart, crashed: bool) -> bool:
    """OTP restart types."""
    if restart is Restart.PERMANENT:
        return True
    if restart is Restart.TRANSIENT:
        return crashed
    return False


def record_restart(recent_s: tuple[float, ...], now_s: float, policy: SupervisorPolicy) -> tuple[tuple[float, ...], bool]:
    """Add a restart at ``now_s``; return the restarts inside the window and whether to escalate.

    The window holds restarts less than ``window_s`` old; more than ``max_restarts`` of
    them escalate. The tuple stays short: at most ``max_restarts + 1`` entries survive.
    """
    kept = tuple(t for t in recent_s if now_s - t < policy.window_s) + (now_s,)
    return kept, len(kept) > policy.max_restarts


def split_crash(exc: BaseException) -> tuple[Exception | None, BaseException | None]:
    """Split what an actor raised into (the crash, the cancellation or interrupt to re-raise)."""
    if isinstance(exc, BaseExceptionGroup):
        crash, other = exc.split(Exception)
        return crash, other  # type: ignore[return-value]
    if isinstance(exc, Exception):
        return exc, None
    return None, exc


def describe_error(exc: BaseException) -> str:
    """``Type: message``; a group names its leaves, since an actor's nursery wraps its real error."""
    if isinstance(exc, BaseExceptionGroup):
        return "; ".join(describe_error(leaf) for leaf in exc.exceptions)
    return f"{type(exc).__name__}: {exc}"


# ---- imperative shell ---------------------------------------------------------------------


@attrs.define(eq=False)
class _Child:
    """The supervisor's mutable record of one child."""

    spec: ChildSpec
    state: ActorState = ActorState.STARTING
    restarts: int = 0
    last_error: str | None = None
    since_ms: int = 0
    started: bool = False
    ctx: ActorContext | None = None
    actor: Any = None
    ready: trio.Event = attrs.field(factory=trio.Event)  # the first run marked itself ready, or ended
    cancel_scope: trio.CancelScope = attrs.field(factory=trio.CancelScope)
    done: trio.Event = attrs.field(factory=trio.Event)


class Supervisor:
    """Runs ``specs`` one_for_one until ``request_stop()`` or an escalation."""

    def __init__(self, specs: list[ChildSpec], make_context: Callable[[ChildSpec], ActorContext],
                 policy: SupervisorPolicy, clock: Clock, log: Any, metrics: EngineMetrics,
                 rng: random.Random | None = None) -> None:
        names = [spec.name for spec in specs]
        if len(set(names)) != len(names):
            raise ValueError(f"child names must be unique, got {names}")
        self._make_context = make_context
        self._policy = policy
        self._clock = clock
        self._log = log
        self._metrics = metrics
        self._rng = rng if rng is not None else random.Random()
        self._children = [_Child(spec, since_ms=clock.time_ms()) for spec in specs]
        self._by_name = {child.spec.name: child for child in self._children}
        self._recent_restarts_s: tuple[float, ...] = ()
        self._stop_requested = trio.Event()
        self._escalated = False
        self._ran = False
        for name in names:  # export every child's series from the start, not at first restart
            metrics.actor_up.labels(actor=name).set(0)
            metrics.actor_restarts.labels(actor=name)
            metrics.actor_failures.labels(actor=name)

    # ---- public API -------------------------------------------------------------------------

    async def run(self) -> int:
        """Start the children in order, supervise them, stop them; return the exit code.

        Returns once every child has ended. Use ``request_stop()`` for an orderly stop;
        cancelling ``run`` from outside cancels every child at once instead.
        """
        if self._ran:
            raise RuntimeError("Supervisor.run() may be called once")
        self._ran = True
        async with trio.open_nursery() as nursery:
            for child in self._children:
                if self._stop_requested.is_set():
                    break
                await nursery.start(self._supervise, child)
                await self._await_ready(child)
            await self._stop_requested.wait()
            reason = "escalated" if self._escalated else "requested"
            self._log.info("supervisor_stopping", actor="supervisor", reason=reason)
            for child in reversed(self._children):
                await self._stop_child(child)
        exit_code = EXIT_ESCALATED if self._escalated else EXIT_OK
        self._log.info("supervisor_stopped", actor="supervisor", exit_code=exit_code)
        return exit_code

    async def _await_ready(self, child: _Child) -> None:
        """Hold the next sibling until ``child`` is ready, when its spec asks for that."""
        timeout_s = child.spec.ready_timeout_s
        if timeout_s is None:
            return
        with trio.move_on_after(timeout_s) as waited:
            await child.ready.wait()
        if waited.cancelled_caught:
            self._log.warning("actor_not_ready", actor=child.spec.name, waited_s=timeout_s)

    def request_stop(self) -> None:
        """Ask for an orderly stop. Sync and idempotent; call it from any trio task."""
        self._stop_requested.set()

    def statuses(self) -> list[ActorStatus]:
        """Every child in spec order."""
        return [ActorStatus(c.spec.name, c.state, c.restarts, c.last_error, c.since_ms) for c in self._children]

    def restart_count(self, name: str) -> int:
        return self._by_name[name].restarts

    # ---- one child ----------------------------------------------------------------------------

    def _set_state(self, child: _Child, state: ActorState, error: BaseException | None = None) -> None:
        child.state = state
        child.since_ms = self._clock.time_ms()
        if error is not None:
            child.last_error = describe_error(error)

    async def _supervise(self, child: _Child, task_status: Any = trio.TASK_STATUS_IGNORED) -> None:
        """The task that owns one child: its runs and the backoff sleeps between them."""
        child.started = True
        try:
            with child.cancel_scope:
                # No checkpoint until the actor's first one: it starts before the next sibling.
                task_status.started()
                await self._run_with_restarts(child)
        finally:
            if child.state in (ActorState.STARTING, ActorState.RUNNING, ActorState.RESTARTING, ActorState.STOPPING):
                self._set_state(child, ActorState.STOPPED)
            child.done.set()

    async def _run_with_restarts(self, child: _Child) -> None:
        name = child.spec.name
        policy = self._policy
        attempt = 0
        while True:
            started_s = self._clock.monotonic()
            error = await self._run_once(child)
            run_s = self._clock.monotonic() - started_s
            if self._stop_requested.is_set():
                if error is not None:
                    self._log.error("actor_failed", actor=name, during="stop", error=describe_error(error), exc_info=error)
                self._set_state(child, ActorState.FAILED if error else ActorState.STOPPED, error)
                return
            if not should_restart(child.spec.restart, crashed=error is not None):
                if error is not None:
                    self._log.error("actor_failed", actor=name, restart=child.spec.restart.value,
                                    error=describe_error(error), exc_info=error)
                    self._set_state(child, ActorState.FAILED, error)
                else:
                    self._log.info("actor_completed", actor=name, restart=child.spec.restart.value, run_s=run_s)
                    self._set_state(child, ActorState.COMPLETED)
                return
            self._recent_restarts_s, escalate = record_restart(self._recent_restarts_s, self._clock.monotonic(), policy)
            if escalate:
                self._set_state(child, ActorState.FAILED, error)
                self._log.error("supervisor_escalating", actor=name, restarts_in_window=len(self._recent_restarts_s),
                                max_restarts=policy.max_restarts, window_s=policy.window_s,
                                error=describe_error(error) if error else None, exc_info=error)
                self._escalated = True
                self.request_stop()
                return
            attempt = next_attempt(attempt, run_s, policy.stable_after_s)
            delay_s = backoff_delay_s(attempt, policy, self._rng.uniform(-1.0, 1.0))
            child.restarts += 1
            self._metrics.actor_restarts.labels(actor=name).inc()
            self._set_state(child, ActorState.RESTARTING, error)
            self._log.warning(
                "actor_restarting", actor=name, attempt=attempt, delay_s=round(delay_s, 3), run_s=round(run_s, 3),
                reason="exception" if error else "returned",
                error_type=type(error).__name__ if error else None, error=str(error) if error else None,
                exc_info=error,
            )
            await self._clock.sleep(delay_s)
            if self._stop_requested.is_set():
                return  # _supervise marks it stopped

    async def _run_once(self, child: _Child) -> Exception | None:
        """One run of a fresh actor; returns its crash, or None after a normal return."""
        name = child.spec.name
        self._set_state(child, ActorState.STARTING)
        try:
            child.ctx = self._make_context(child.spec)
            child.ctx.ready = child.ready  # set once, by the first run that gets there
            child.actor = child.spec.factory()
            self._set_state(child, ActorState.RUNNING)
            self._metrics.actor_up.labels(actor=name).set(1)
            await child.actor.run(child.ctx)
        except BaseException as exc:  # noqa: BLE001 - split below; cancellations re-raised
            crash, other = split_crash(exc)
            if crash is not None:
                self._metrics.actor_failures.labels(actor=name).inc()
            if other is not None:
                if crash is not None:
                    self._log.error("actor_failed", actor=name, during="cancellation",
                                    error=describe_error(crash), exc_info=crash)
                    child.last_error = describe_error(crash)
                raise other
            return crash
        finally:
            self._metrics.actor_up.labels(actor=name).set(0)
            child.ready.set()  # a run that ended never holds its siblings back
        return None

    async def _stop_child(self, child: _Child) -> None:
        """Stop one child, bounded by ``cleanup_window_s`` per phase.

        A running actor whose class sets ``stop_gracefully = True`` gets ``ctx.stopping``
        and up to ``cleanup_window_s`` to return (a market maker cancels its orders). Then,
        or at once for other actors and for a child sleeping in backoff, its cancel scope
        is cancelled and the supervisor waits up to ``cleanup_window_s`` more for it to end
        (an actor may clean up in ``finally`` under ``trio.move_on_after(t, shield=True)``).
        trio cannot kill a task that ignores cancellation: past that deadline the
        supervisor logs ``actor_stop_overdue`` and goes on to the next child, and ``run``
        still returns only after this one has ended.
        """
        if not child.started or child.done.is_set():
            return
        name = child.spec.name
        window_s = self._policy.cleanup_window_s
        graceful = (child.state is ActorState.RUNNING and child.ctx is not None
                    and getattr(child.actor, "stop_gracefully", False) is True)
        self._set_state(child, ActorState.STOPPING)
        self._log.info("actor_stopping", actor=name, graceful=graceful, cleanup_window_s=window_s)
        if graceful:
            child.ctx.stopping.set()  # type: ignore[union-attr]
            with trio.move_on_after(window_s):
                await child.done.wait()
            if child.done.is_set():
                return
            self._log.warning("actor_cleanup_timeout", actor=name, cleanup_window_s=window_s)
        child.cancel_scope.cancel()
        with trio.move_on_after(window_s):
            await child.done.wait()
        if not child.done.is_set():
            self._log.error("actor_stop_overdue", actor=name, cleanup_window_s=window_s)
