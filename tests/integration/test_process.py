"""run.py as operators run it: a real process, signals, exit codes, embedded Redis clean-up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support import free_ports, json_events

ROOT = Path(__file__).resolve().parents[2]


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    try:  # a zombie is dead for our purposes
        with open(f"/proc/{pid}/stat") as fh:
            return fh.read().split(") ")[1][0] != "Z"
    except FileNotFoundError:
        return False


def test_broken_config_exits_2_with_one_line(tmp_path: Path) -> None:
    broken = tmp_path / "broken.toml"
    broken.write_text('[api]\nport = "eighty"\n')
    proc = subprocess.run([sys.executable, "run.py", str(broken)], cwd=ROOT, capture_output=True, text=True, timeout=30)
    assert proc.returncode == 2
    assert proc.stderr.strip().splitlines() == [f"config error: {broken}: api.port: must be an integer, got 'eighty'"]
    assert proc.stdout == ""


def test_check_prints_the_plan() -> None:
    proc = subprocess.run([sys.executable, "run.py", "--check", "configs/prod.toml"], cwd=ROOT,
                          capture_output=True, text=True, timeout=30)
    assert proc.returncode == 0, proc.stderr
    assert "config: configs/prod.toml (valid)" in proc.stdout
    assert "  heartbeat    permanent" in proc.stdout and "  api          permanent" in proc.stdout


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_exits_0_and_stops_embedded_redis(tmp_path: Path, signum: int) -> None:
    port = free_ports(1)[0]
    config = tmp_path / "engine.toml"
    config.write_text(f'[redis]\nurl = "embedded"\n[api]\nport = {port}\n[log]\nformat = "json"\n')
    log = tmp_path / "engine.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "run.py", str(config)], cwd=ROOT, stdin=subprocess.DEVNULL,
                                stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 10
        status = None
        while time.monotonic() < deadline:
            try:
                response = httpx.get(f"http://127.0.0.1:{port}/health", timeout=1)
                status = response.status_code
                if status == 200 and response.json()["status"] == "ok":
                    break
            except httpx.TransportError:
                pass
            time.sleep(0.1)
        assert status == 200, log.read_text()
        started = next(e for e in json_events(log) if e["event"] == "embedded_redis_started")
        redis_pid = started["pid"]
        socket_dir = Path(started["url"].removeprefix("unix://")).parent
        assert _pid_alive(redis_pid) and socket_dir.exists()

        sent_at = time.monotonic()
        proc.send_signal(signum)
        assert proc.wait(timeout=5) == 0, log.read_text()
        assert time.monotonic() - sent_at < 5
        assert not _pid_alive(redis_pid)
        assert not socket_dir.exists()
        names = [e["event"] for e in json_events(log)]
        assert names.index("engine_stop_requested") < names.index("engine_stopped") < names.index("embedded_redis_stopped")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_simulator_runs_stand_alone_on_the_config_ports(tmp_path: Path) -> None:
    ports = free_ports(4)
    config = tmp_path / "sim.toml"
    config.write_text(
        f"[sim]\ncontrol_port = {ports[0]}\nderibit_port = {ports[1]}\ndhan_port = {ports[2]}\nbinance_port = {ports[3]}\n"
        '[log]\nformat = "json"\n'
    )
    log = tmp_path / "sim.log"
    with open(log, "w") as out:
        proc = subprocess.Popen([sys.executable, "-m", "adapters.sim", str(config), "--seed", "3"], cwd=ROOT,
                                stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 20
        state = None
        while time.monotonic() < deadline and state is None:
            try:
                state = httpx.get(f"http://127.0.0.1:{ports[0]}/control", timeout=1).json()
            except httpx.TransportError:
                time.sleep(0.1)
        assert state is not None, log.read_text()
        assert state["seed"] == 3
        assert state["urls"]["binance"] == f"http://127.0.0.1:{ports[3]}"
        time_answer = httpx.get(f"http://127.0.0.1:{ports[3]}/fapi/v1/time", timeout=2)
        assert time_answer.status_code == 200 and "serverTime" in time_answer.json()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=10) == 0, log.read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
