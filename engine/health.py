"""Named component states that actors report and /health shows (e.g. one market's update)."""

from __future__ import annotations

import attrs


@attrs.frozen
class ComponentStatus:
    name: str
    ok: bool
    detail: str | None
    since_ms: int


@attrs.define
class HealthBoard:
    """Latest state per component: bounded by the number of components the config names.

    Actors write their own components only; the API reads snapshots.
    """

    _states: dict[str, ComponentStatus] = attrs.field(factory=dict)

    def report(self, name: str, ok: bool, detail: str | None, now_ms: int) -> None:
        previous = self._states.get(name)
        since_ms = previous.since_ms if previous is not None and previous.ok == ok else now_ms
        self._states[name] = ComponentStatus(name, ok, detail, since_ms)

    def snapshot(self) -> list[ComponentStatus]:
        return [self._states[name] for name in sorted(self._states)]

    def retire(self, name: str) -> None:
        """Forget a component that no longer exists (e.g. a feed shard a new plan dropped)."""
        self._states.pop(name, None)
