"""DhanSim's control actions: each does what it says, and bad input gets a clear ValueError."""

from __future__ import annotations

from datetime import date
from typing import Any

import pytest

from adapters.sim.control import VenueControl
from adapters.sim.dhan import DhanSim
from engine.clock import Clock


def _sim(**options: Any) -> DhanSim:
    return DhanSim(seed=1, clock=Clock(), control=VenueControl.new("dhan"), today=date(2025, 10, 14),
                   underlyings=("NIFTY",), **options)


async def test_actions_do_what_they_say() -> None:
    sim = _sim()
    before = sim.market.underlying("NIFTY").price
    assert sim.control_action("jump_price", {"underlying": "NIFTY", "pct": 2})["price"] == pytest.approx(before * 1.02)
    assert sim.control_action("set_expiries", {"underlying": "NIFTY", "expiries": ["2025-10-16"]})["expiries"] == [
        "2025-10-16"]
    assert sim.control_action("remove_strikes", {"underlying": "NIFTY", "expiry": "2025-10-16",
                                                 "strikes": [25400]})["legs_removed"] == 2
    assert sim.control_action("holiday_mode", {"on": True}) == {"holiday_mode": True}
    assert sim.market.holiday_mode
    sim.control_action("expire_token", {})
    assert sim.creds.token_expired
    sim.control_action("renew_token", {})
    assert not sim.creds.token_expired
    assert sim.control_action("fail_option_chain", {"count": 2}) == {"chain_failures": 2}


@pytest.mark.parametrize("action, params, message", [
    ("explode", {}, "unknown dhan action"),
    ("jump_price", {"underlying": "DOGE", "pct": 1}, "unknown underlying"),
    ("jump_price", {"underlying": "NIFTY", "pct": "lots"}, "pct must be a number"),
    ("jump_price", {"underlying": "NIFTY", "pct": -100}, "pct must be a number > -100"),
    ("jump_price", {"underlying": "NIFTY"}, "bad params"),
    ("set_expiries", {"underlying": "NIFTY", "expiries": "2025-10-16"}, "list of YYYY-MM-DD"),
    ("holiday_mode", {"on": "yes"}, "true|false"),
    ("remove_strikes", {"underlying": "NIFTY", "expiry": "2030-01-01", "strikes": [1]}, "no listed expiry"),
    ("remove_strikes", {"underlying": "NIFTY", "expiry": "2025-10-20", "strikes": [1], "side": "x"}, "side"),
    ("fail_option_chain", {"count": -1}, "count"),
    ("expire_token", {"now": True}, "bad params"),
])
async def test_bad_actions_are_clear_value_errors(action: str, params: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        _sim().control_action(action, params)


async def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="over_limit"):
        _sim(over_limit="shout")
    with pytest.raises(ValueError, match="unknown underlyings"):
        DhanSim(seed=1, clock=Clock(), control=VenueControl.new("dhan"), underlyings=("DOGE",))
