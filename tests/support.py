"""Small helpers every kind of test uses: free loopback ports, structlog JSON lines of a log file."""

from __future__ import annotations

import json
import socket
from pathlib import Path
from typing import Any


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (all held open until each is known)."""
    sockets = [socket.socket() for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [sock.getsockname()[1] for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


def json_events(log: Path) -> list[dict[str, Any]]:
    """The structlog JSON lines of a log file (other lines skipped)."""
    events = []
    for line in log.read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "event" in event:
            events.append(event)
    return events
