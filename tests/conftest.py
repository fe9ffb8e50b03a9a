"""Shared fixtures: tests talk to real, private redis-server processes (never a mock)."""

from __future__ import annotations

from typing import Iterator

import pytest
import redis

from engine.redis_embedded import EmbeddedRedis


@pytest.fixture(scope="session")
def redis_server() -> Iterator[EmbeddedRedis]:
    """One private server for the whole session (unix socket, no persistence)."""
    server = EmbeddedRedis().start()
    try:
        yield server
    finally:
        server.stop()


@pytest.fixture
def redis_url(redis_server: EmbeddedRedis) -> str:
    """The session server's URL, emptied (FLUSHALL) before each test."""
    client = redis.Redis.from_url(redis_server.url)
    try:
        client.flushall()
    finally:
        client.close()
    return redis_server.url


@pytest.fixture
def private_redis() -> Iterator[EmbeddedRedis]:
    """A server of this test's own, which the test may kill and restart."""
    server = EmbeddedRedis().start()
    try:
        yield server
    finally:
        server.stop()
