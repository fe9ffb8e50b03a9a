"""The values the chain actor hands the pure core, filled from the Dhan adapter's own types.

Actors may not depend on a venue protocol, so the core defines these small inputs instead
of importing ``adapters.dhan``; the actor maps one to the other in a few lines.
"""

from __future__ import annotations

import attrs


@attrs.frozen
class LegQuote:
    """One option leg as a REST chain snapshot lists it (``iv_pct`` already in percent)."""

    security_id: int
    ltp: float = 0.0
    bid: float = 0.0
    ask: float = 0.0
    bid_qty: int = 0
    ask_qty: int = 0
    oi: int = 0
    previous_oi: int = 0
    volume: int = 0
    iv_pct: float = 0.0
    delta: float = 0.0
    gamma: float = 0.0
    theta: float = 0.0
    vega: float = 0.0


@attrs.frozen
class ChainRow:
    """One strike of a REST snapshot; either side may be absent, as on the venue."""

    strike: float
    ce: LegQuote | None = None
    pe: LegQuote | None = None


@attrs.frozen(slots=True)
class TickUpdate:
    """A feed packet's prices for one security; ``None`` = this packet does not carry the field.

    A ticker packet carries only ``ltp``; a quote adds ``volume``; a full packet adds the top
    of the depth (``bid``/``ask``). OI packets are not merged: OI comes from REST refreshes.
    """

    security_id: int
    ltp: float | None
    bid: float | None = None
    ask: float | None = None
    volume: int | None = None
    ts_ms: int = 0
    segment: str = ""  # the feed's exchange segment: ids are unique only within one segment
