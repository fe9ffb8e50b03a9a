"""Fault arming and per-client accounting of the simulated venues (pure parts)."""

from __future__ import annotations

import pytest
import trio

from adapters.sim.control import VenueAccounting, VenueFaults
from adapters.sim.control_api import ControlError, apply_faults


def test_bursts_are_consumed_one_answer_at_a_time_in_the_order_asked() -> None:
    faults = VenueFaults("binance")
    apply_faults(faults, {"burst": {"kind": "429", "count": 2}})
    apply_faults(faults, {"burst": {"kind": "5xx", "count": 1}})
    assert [faults.take_error("5xx", "429") for _ in range(4)] == ["5xx", "429", "429", None]


def test_order_faults_reject_before_timeout() -> None:
    faults = VenueFaults("binance")
    apply_faults(faults, {"reject_orders": 1, "timeout_orders": 1})
    assert [faults.take_order_fault() for _ in range(3)] == ["reject", "timeout", None]


def test_malformed_frames_count_down() -> None:
    faults = VenueFaults("dhan")
    apply_faults(faults, {"malformed_frames": 2})
    assert [faults.take_malformed_frame() for _ in range(3)] == [True, True, False]


async def test_drop_and_silence_wake_websocket_handlers() -> None:
    faults = VenueFaults("dhan")
    woke: list[tuple[int, bool]] = []

    async def handler() -> None:
        for _ in range(2):
            await faults.changed.wait()
            woke.append((faults.drop_generation, faults.silent))

    async with trio.open_nursery() as nursery:
        nursery.start_soon(handler)
        await trio.sleep(0.01)
        apply_faults(faults, {"drop_connections": True})
        await trio.sleep(0.01)
        apply_faults(faults, {"silent": True})
    assert woke == [(1, False), (1, True)]


def test_clear_disarms_everything() -> None:
    faults = VenueFaults("deribit")
    apply_faults(faults, {"delay_s": 0.5, "silent": True, "burst": {"kind": "10028", "count": 3}, "malformed_frames": 1})
    apply_faults(faults, {"clear": True})
    snap = faults.snapshot()
    assert snap["delay_s"] == 0 and not snap["silent"] and snap["malformed_frames"] == 0
    assert faults.take_error("10028") is None


@pytest.mark.parametrize(("body", "message"), [
    ({"delay": 1}, "delay: unknown fault"),
    ({"delay_s": "1"}, "delay_s: wrong type str"),
    ({"delay_s": -1}, "delay_s: must be >= 0"),
    ({"silent": 1}, "silent: wrong type int"),
    ({"malformed_frames": True}, "malformed_frames: wrong type bool"),
    ({"burst": {"kind": "500", "count": 1}}, "burst.kind: unknown error kind '500'"),
    ({"burst": {"kind": "429", "count": 0}}, "burst.count: must be an integer >= 1"),
])
def test_bad_control_requests_change_nothing(body: dict, message: str) -> None:
    faults = VenueFaults("binance")
    with pytest.raises(ControlError, match=message):
        apply_faults(faults, {"reject_orders": 5, **body})
    assert faults.reject_orders == 0 and not faults.errors


def test_accounting_per_client() -> None:
    accounting = VenueAccounting("binance")
    accounting.request("127.0.0.1", "/fapi/v1/ticker/24hr", 40)
    accounting.request("127.0.0.1", "/fapi/v1/openInterest", 1)
    accounting.request("10.0.0.2", "/fapi/v1/openInterest", 1).throttled += 1
    accounting.connected("a")
    accounting.connected("a")
    accounting.disconnected("a")
    accounting.subscribed("a", 100)
    snap = accounting.snapshot()
    assert snap["127.0.0.1"]["weight"] == 41 and snap["127.0.0.1"]["requests"] == 2
    assert snap["127.0.0.1"]["endpoints"] == {"/fapi/v1/ticker/24hr": 1, "/fapi/v1/openInterest": 1}
    assert accounting.total("throttled") == 1
    assert snap["a"]["connections"] == 1 and snap["a"]["max_connections"] == 2 and snap["a"]["max_subscriptions"] == 100
