"""The Redis store's wire: redis-py sync clients, the MULTI/EXEC round trip, restart checks.

Everything here runs in a worker thread (``trio.to_thread``): ``redis.asyncio`` does not
run under trio. redis-py's own retries are off: a retried MULTI could apply twice, and
reconnect policy (backoff, buffering, state repair) belongs to the store.
"""

from __future__ import annotations

from typing import Any

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from engine.store_ops import Command, pack_commands

# After these the connection is gone: the same flush may be tried again later.
CONNECTION_ERRORS = (redis.ConnectionError, redis.TimeoutError, redis.exceptions.InvalidResponse, OSError)


class StoreUnavailable(Exception):
    """Redis could not be reached for a read; callers fall back to memory or retry."""


class ServerReset(redis.ConnectionError):
    """The writer reached a server with a new run_id: it restarted and may have lost data."""

    def __init__(self, run_id: str) -> None:
        super().__init__(f"redis server restarted (run_id {run_id})")
        self.run_id = run_id


def parse_run_id(info: Any) -> str:
    text = info.decode() if isinstance(info, bytes) else str(info)
    for line in text.splitlines():
        if line.startswith("run_id:"):
            return line[len("run_id:"):].strip()
    raise redis.ConnectionError("INFO server has no run_id")


class RedisWire:
    """Two sync clients from one URL: the writer's (one flush at a time; every new
    connection checks the server's run_id) and a pool for reads.

    ``decode_responses=True``: values in this project are JSON text, so reads return str.
    """

    def __init__(self, url: str, *, socket_timeout_s: float) -> None:
        options: dict[str, Any] = dict(
            decode_responses=True,
            socket_timeout=socket_timeout_s,
            socket_connect_timeout=socket_timeout_s,
            retry=Retry(NoBackoff(), 0),
        )
        self.run_id: str | None = None  # the server the mirror was last written to
        self.writer = redis.Redis.from_url(url, redis_connect_func=self._on_connect, **options)
        self.reader = redis.Redis.from_url(url, **options)

    def execute(self, commands: list[Command]) -> list[Any]:
        """One MULTI/EXEC (a PING if there is nothing to send), so a flush is
        all-or-nothing for readers. Command errors come back as exception objects in the
        result list; a refusal of the whole transaction (OOM, READONLY) is raised.

        Sent on a pooled connection with our own packer: redis-py's pipeline packs ~3x
        slower and runs response callbacks we do not need. A socket whose state is unknown
        after an exception is closed.
        """
        pool = self.writer.connection_pool
        connection = pool.get_connection()  # a new connection runs _on_connect first
        try:
            if not commands:
                connection.send_command("PING")
                connection.read_response()
                return []
            connection.send_packed_command([pack_commands([("MULTI",), *commands, ("EXEC",)])])
            connection.read_response()  # OK
            refused: redis.ResponseError | None = None
            for _ in commands:
                try:
                    connection.read_response()  # QUEUED
                except redis.ResponseError as exc:  # refused at queue time: EXEC aborts
                    refused = refused or exc
            try:
                return connection.read_response()
            except redis.ResponseError:
                if refused is not None:
                    raise refused from None
                raise
        except BaseException:
            connection.disconnect()
            raise
        finally:
            pool.release(connection)

    def _on_connect(self, connection: Any) -> None:
        """On every new writer connection. redis-py silently replaces a dead pooled
        connection when it is checked out, so this is the one reliable place to notice
        that the server restarted (and lost what the mirror must rewrite)."""
        connection.on_connect()
        connection.send_command("INFO", "server")
        run_id = parse_run_id(connection.read_response())
        if self.run_id is None:
            self.run_id = run_id
        elif run_id != self.run_id:
            raise ServerReset(run_id)

    def close(self) -> None:
        self.writer.close()
        self.reader.close()
