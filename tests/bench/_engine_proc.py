"""The whole engine and the simulators as separate processes, for start-up and memory benchmarks.

Why processes: start-up is measured from the engine process's start, and peak RSS is the
engine process's own (``VmHWM``), so neither may include the simulators; they run in a
process of their own (``python -m adapters.sim``, ports picked by the OS and read back
from its ``sim_venues_listening`` log line). Both get the simulator's credentials through
the environment variables the configs name, as an operator would export real ones.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import attrs
import httpx

from adapters.sim.actor import SIM_CREDENTIALS

ROOT = Path(__file__).resolve().parents[2]
CREDENTIAL_ENV = {
    "DHAN_ACCESS_TOKEN": SIM_CREDENTIALS["dhan_access_token"],
    "DHAN_CLIENT_ID": SIM_CREDENTIALS["dhan_client_id"],
    "BINANCE_API_KEY": SIM_CREDENTIALS["binance_api_key"],
    "BINANCE_API_SECRET": SIM_CREDENTIALS["binance_api_secret"],
}
SIM_TOML = """\
[log]
format = "json"
level = "info"

[sim]
seed = 7
host = "127.0.0.1"
control_port = 0
deribit_port = 0
dhan_port = 0
binance_port = 0
"""


@attrs.define
class Proc:
    """One child process whose stdout (JSON log lines) goes to ``log_path``."""

    popen: subprocess.Popen
    log_path: Path
    started_s: float  # time.monotonic() just before the process was spawned
    started_wall_s: float  # time.time() at the same moment

    @property
    def pid(self) -> int:
        return self.popen.pid

    def events(self) -> Iterator[dict[str, Any]]:
        for line in self.log_path.read_text(errors="replace").splitlines():
            if line.startswith("{"):
                try:
                    yield json.loads(line)
                except json.JSONDecodeError:
                    continue

    def event(self, name: str, timeout_s: float) -> dict[str, Any]:
        """The first log event called ``name``, waiting for it; fails if the process exits first."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = next((e for e in self.events() if e.get("event") == name), None)
            if found is not None:
                return found
            if self.popen.poll() is not None:
                raise RuntimeError(f"process exited ({self.popen.returncode}) before {name}: {self.tail()}")
            time.sleep(0.1)
        raise TimeoutError(f"no {name} within {timeout_s} s: {self.tail()}")

    def event_after_start_s(self, name: str) -> float | None:
        """Seconds from the spawn to the first log event ``name``, by the event's own timestamp."""
        for event in self.events():
            if event.get("event") == name:
                return datetime.fromisoformat(event["ts"]).timestamp() - self.started_wall_s
        return None

    def tail(self, lines: int = 15) -> str:
        return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])

    def stop(self, timeout_s: float = 30.0) -> int:
        """SIGINT (the engine's clean stop), then SIGKILL if it does not exit in time."""
        if self.popen.poll() is None:
            self.popen.send_signal(signal.SIGINT)
            try:
                self.popen.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.popen.kill()
                self.popen.wait(10)
        return self.popen.returncode


def spawn(args: list[str], log_path: Path) -> Proc:
    env = {**os.environ, **CREDENTIAL_ENV, "PYTHONUNBUFFERED": "1"}
    with open(log_path, "w") as out:
        started, started_wall = time.monotonic(), time.time()
        popen = subprocess.Popen([sys.executable, *args], cwd=ROOT, env=env, stdin=subprocess.DEVNULL,
                                 stdout=out, stderr=subprocess.STDOUT)
    return Proc(popen, log_path, started, started_wall)


def start_sim(workdir: Path, *flags: str, name: str = "sim") -> tuple[Proc, dict[str, str]]:
    """Simulators (all, or those ``--venues`` names) in a process of their own; (process, venue -> base URL)."""
    config = workdir / "sim.toml"
    config.write_text(SIM_TOML)
    proc = spawn(["-m", "adapters.sim", str(config), *flags], workdir / f"{name}.log")
    try:
        urls = proc.event("sim_venues_listening", timeout_s=120)["urls"]
    except Exception:
        proc.stop()
        raise
    return proc, urls


def start_engine(config: Path) -> tuple[Proc, str]:
    """``run.py config`` (its API on a port the OS picks); (process, API base URL)."""
    proc = spawn(["run.py", str(config)], config.with_suffix(".log"))
    try:
        url = proc.event("api_listening", timeout_s=60)["urls"][0]
    except Exception:
        proc.stop()
        raise
    return proc, url


def venue_sections(urls: dict[str, str], venues: tuple[str, ...]) -> str:
    """The ``[venues.*]`` tables pointing the engine at the simulators."""
    text = []
    if "dhan" in venues:
        dhan, feed = urls["dhan"], urls["dhan"].replace("http://", "ws://")
        text.append(f'[venues.dhan]\nrest_url = "{dhan}/v2"\nfeed_url = "{feed}"\n'
                    f'instrument_master_url = "{dhan}/v2/instruments/api-scrip-master-detailed.csv"\n')
    if "binance" in venues:
        binance = urls["binance"]
        text.append(f'[venues.binance]\nrest_url = "{binance}"\nws_url = "{binance.replace("http://", "ws://")}"\n')
    return "\n".join(text)


def engine_toml(name: str, urls: dict[str, str], venues: tuple[str, ...], services: str) -> str:
    """A whole engine config: embedded Redis, API on a free port, JSON logs, ``services`` sections."""
    return (f'[engine]\nname = "{name}"\n\n[log]\nformat = "json"\nlevel = "info"\n\n[redis]\nurl = "embedded"\n\n'
            f'[api]\nhost = "127.0.0.1"\nport = 0\n\n{venue_sections(urls, venues)}\n{services}')


# --------------------------------------------------------------------------- reading the processes


def proc_status_kb(pid: int) -> dict[str, int]:
    """The ``Vm*`` lines of /proc/<pid>/status in kB (VmHWM: peak resident set, VmRSS: now)."""
    out = {}
    with open(f"/proc/{pid}/status") as fh:
        for line in fh:
            if line.startswith("Vm"):
                key, _, value = line.partition(":")
                out[key] = int(value.split()[0])
    return out


def cpu_s(pid: int) -> float:
    """User + system CPU seconds the process has used (all threads)."""
    with open(f"/proc/{pid}/stat") as fh:
        fields = fh.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def metric_total(text: str, name: str) -> float:
    """Sum of every sample of one Prometheus metric in ``/metrics`` text."""
    pattern = re.compile(rf"^{re.escape(name)}(?:\{{[^}}]*\}})? ([0-9.eE+-]+)$", re.MULTILINE)
    return sum(float(value) for value in pattern.findall(text))


def dhan_client(sim_control: str, http: httpx.Client) -> dict[str, Any]:
    """The simulated Dhan's accounting of the engine's client id."""
    accounting = http.get(f"{sim_control}/control/dhan/accounting").json()
    return accounting.get(CREDENTIAL_ENV["DHAN_CLIENT_ID"], {})


def wait_until(condition: Callable[[], Any], timeout_s: float, step_s: float = 0.25, what: str = "") -> Any:
    """Poll ``condition`` until it returns something truthy (that value), or TimeoutError."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise TimeoutError(f"not reached within {timeout_s:g} s: {what}")
        time.sleep(step_s)
