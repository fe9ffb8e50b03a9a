"""Fixtures of the chaos scenarios: one whole engine (``engine_rig``) shared by the package.

``whole_engine`` starts it once, at the first scenario that asks for it, and stops it after the
package's last test. ``rig`` hands it to one scenario in a known state and restores it after:
every simulated venue's faults cleared and the private Redis running, so scenarios pass in
any order and a failing one does not poison the next.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.chaos.engine_rig import EngineRig, running_engine

RECOVERY_TIMEOUT_S = 90.0  # a Binance 429 pauses the engine's calls up to the next minute


@pytest.fixture(scope="package")
def whole_engine(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EngineRig]:
    """The whole engine on the simulated venues and a private Redis, every service up."""
    with running_engine(tmp_path_factory.mktemp("chaos-engine")) as rig:
        yield rig


@pytest.fixture
def rig(whole_engine: EngineRig) -> Iterator[EngineRig]:
    """The shared engine, healthy, for one scenario; faults cleared and Redis up again afterwards."""
    engine = whole_engine
    engine.wait_for(lambda: engine.health()["status"] == "ok", RECOVERY_TIMEOUT_S, "a healthy engine")
    try:
        yield engine
    finally:
        if not engine.redis_server.running:
            engine.redis_server.restart()
        for venue in ("deribit", "dhan", "binance"):
            engine.faults(venue, clear=True)
        if engine.probe.tick_log is not None:
            engine.call(engine.probe.take_tick_log)
