"""Log lines are JSON bound to their actor with secrets redacted; the clock follows MockClock."""

from __future__ import annotations

import io
import json
import logging

import trio

from engine.clock import Clock
from engine.logs import configure_logging, get_logger


def test_json_lines_carry_actor_and_redact_secrets() -> None:
    stream = io.StringIO()
    configure_logging("json", "info", stream=stream)
    try:
        get_logger(engine="t").bind(actor="oi_poller").info("poll_done", symbol="BTCUSDT", access_token="abc",
                                                            api_key_env="BINANCE_API_KEY")
        get_logger().debug("hidden")
        logging.getLogger("hypercorn.error").warning("port %d in use", 8080)
    finally:
        configure_logging("json", "info")
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert len(lines) == 2
    first, second = lines
    assert first["event"] == "poll_done" and first["actor"] == "oi_poller" and first["symbol"] == "BTCUSDT"
    assert first["access_token"] == "***" and first["api_key_env"] == "BINANCE_API_KEY"
    assert first["level"] == "info" and first["ts"].endswith("Z")
    assert second["event"] == "port 8080 in use" and second["logger"] == "hypercorn.error"


async def test_clock_wall_time_follows_mock_clock(autojump_clock) -> None:
    clock = Clock(epoch_s=1_700_000_000.0)
    start_ms = clock.time_ms()
    assert start_ms == 1_700_000_000_000
    await clock.sleep(86_400)
    assert clock.time_ms() - start_ms == 86_400_000
    await clock.sleep_until_time_s(1_700_000_000.0 + 90_000)
    assert clock.time_s() == 1_700_000_000.0 + 90_000
    assert clock.monotonic() == trio.current_time()
