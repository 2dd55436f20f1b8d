"""Fixtures for the store tests: every store behind one fixture (the session's redis-server and Redis
Cluster are ``tests/conftest.py``'s)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from graylib.stores import Store
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer
from tests.store_kinds import cluster_prefix, unique_prefix
from tests.stores.support import StoreSpec

SYNC_KINDS = [
    "memory",
    "sqlite",
    pytest.param("redis", marks=pytest.mark.redis),
    pytest.param("redis-cluster", marks=pytest.mark.redis),
]
ASYNC_KINDS = [
    "async-memory",
    "async-sqlite",
    pytest.param("async-redis", marks=pytest.mark.redis),
]


@pytest.fixture(params=SYNC_KINDS)
def store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """How to open a fresh, empty store of each kind (picklable, for other processes)."""
    return spec_of(request.param, request, tmp_path)


@pytest.fixture(params=SYNC_KINDS + ASYNC_KINDS)
def any_store_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """Every kind, sync and async (an async store is driven through a ``SyncFacade``)."""
    return spec_of(request.param, request, tmp_path)


def spec_of(kind: str, request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A fresh, empty, initialised store of ``kind`` (``async-`` before a kind: its async store)."""
    asynchronous = kind.startswith("async-")
    kind = kind.removeprefix("async-")
    if kind == "memory":
        return StoreSpec("memory", asynchronous=asynchronous)
    if kind == "sqlite":
        return StoreSpec("sqlite", str(tmp_path / "graylib.db"), asynchronous=asynchronous)
    if kind == "redis-cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        spec = StoreSpec("redis-cluster", cluster.url, cluster_prefix(cluster))
    else:
        server: RedisServer = request.getfixturevalue("redis_server")
        spec = StoreSpec("redis", server.url, unique_prefix(), asynchronous=asynchronous)
    spec.initialise()  # once, as an operator would; every process then opens it plainly
    return spec


@pytest.fixture
def store(store_spec: StoreSpec) -> Iterator[Store]:
    """A fresh, empty store of each kind."""
    opened = store_spec.open()
    yield opened
    opened.close()
