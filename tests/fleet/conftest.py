"""Fixtures of the publishing and following tests: a real redis-server for the session."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def fleet_redis() -> Iterator[RedisServer]:
    """One real redis-server for these tests; fails (never skips) when the binary is missing."""
    with RedisServer() as server:
        yield server
