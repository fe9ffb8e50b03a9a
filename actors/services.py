"""The four services as the engine runs them: their actors and their API routers, from one config.

``run.py`` and every whole-engine test assemble the engine from these two functions, so a
test runs what production runs.
"""

from __future__ import annotations

from typing import Any

from actors.instruments.api import instruments_router
from actors.instruments.service import instruments_specs
from actors.marketmaker.api import make_mm_router
from actors.marketmaker.service import enabled_pairs, mm_specs
from actors.oi.api import oi_router
from actors.oi.service import oi_specs
from actors.optionchain.api import optionchain_router
from actors.optionchain.service import optionchain_specs
from engine.actor import ChildSpec
from engine.config import LoadedConfig


def service_specs(loaded: LoadedConfig, require_credentials: bool = True) -> list[ChildSpec]:
    """Every enabled service's actors; ``require_credentials=False`` for ``--check``, which reports them instead.

    Raises ``ConfigError`` for what could only fail later (too many feed tokens, missing credentials, bad pair files).
    """
    return (instruments_specs(loaded) + optionchain_specs(loaded, require_credentials)
            + oi_specs(loaded) + mm_specs(loaded, require_credentials))


def service_routers(loaded: LoadedConfig) -> list[Any]:
    """The API routers of the enabled services."""
    routers: list[Any] = [instruments_router] if loaded.engine.instruments.enabled else []
    if loaded.engine.optionchain.enabled:
        routers.append(optionchain_router)
    if loaded.engine.oi.enabled:
        routers.append(oi_router)
    pairs = enabled_pairs(loaded)
    if pairs:
        routers.append(make_mm_router(tuple(pair.symbol for pair in pairs)))
    return routers
