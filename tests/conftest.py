"""Session fixtures shared by every test module: one real redis-server and one real Redis Cluster.

Defined here, once, so that every module asking for them shares the same processes (a fixture imported
into several modules would start one per module). Both fail, never skip, when a binary is missing.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """One real three-node Redis Cluster for the session (started only when a test asks for it)."""
    with LocalCluster() as cluster:
        yield cluster
