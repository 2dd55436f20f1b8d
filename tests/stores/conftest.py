"""Fixtures for the store tests: a real redis-server and a real Redis Cluster per session, every store behind
one fixture."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graylib.stores import Store
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer
from tests.stores.support import StoreSpec, cluster_prefix, unique_prefix


@pytest.fixture(scope="session")
def redis_server() -> Iterator[RedisServer]:
    """One real redis-server for the session; fails (never skips) when the binary is missing."""
    with RedisServer() as server:
        yield server


@pytest.fixture(scope="session")
def redis_cluster() -> Iterator[LocalCluster]:
    """One real three-node Redis Cluster for the session; fails (never skips) when a binary is missing."""
    with LocalCluster() as cluster:
        yield cluster


@pytest.fixture(
    params=[
        "memory",
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
    ]
)
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """How to open a fresh, empty store of each kind (picklable, for other processes)."""
    kind: str = request.param
    if kind == "memory":
        return StoreSpec("memory")
    if kind == "sqlite":
        return StoreSpec("sqlite", str(tmp_path / "graylib.db"))
    if kind == "redis-cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        spec = StoreSpec("redis-cluster", cluster.url, cluster_prefix(cluster))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        spec = StoreSpec("redis", server.url, unique_prefix())
    spec.initialise()  # once, as an operator would; every process then opens it plainly
    return spec


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[Store]:
    """A fresh, empty store of each kind."""
    opened = store_spec.open()
    yield opened
    opened.close()
