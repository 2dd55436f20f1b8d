"""Every kind of store the tests run against, in one list, and the one place a test opens a store.

``STORE_KINDS`` names each kind and the class behind it: memory, SQLite, a single Redis server and a
three-node Redis Cluster. A store fixture takes its parameters from ``store_params()``, so a new kind
reaches every test that uses the fixture, and ``tests/test_store_kinds.py`` fails when ``graylib.stores``
exports a store class that no kind covers. A test that leaves a kind out names it in ``exclude`` with a
reason next to it, where a reader sees it.

``StoreSpec`` says where a store lives (picklable, so a spawned process opens the same store);
``open_store`` is the only function that constructs one. ``spec_for`` builds the spec of a fresh, empty
store of a kind from the session fixtures ``redis_server`` and ``redis_cluster`` of ``tests/conftest.py``.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Collection
from pathlib import Path
from typing import Any

import attrs
import pytest

from graylib.stores import MemoryStore, RedisStore, SQLiteStore, Store
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer

__all__ = [
    "SHARED_KINDS",
    "STORE_KINDS",
    "StoreKind",
    "StoreSpec",
    "cluster_prefix",
    "open_store",
    "spec_for",
    "store_params",
    "unique_prefix",
]


@attrs.frozen
class StoreKind:
    """One kind of store: its name in test ids, its class, and what it needs."""

    name: str
    store_class: type[Store]
    needs_redis: bool = False
    """Started by the ``redis_server`` or ``redis_cluster`` fixture; the tests carry the ``redis`` mark."""
    shared: bool = True
    """Another ``open()`` of the same spec, in this process or another, sees the same data."""


STORE_KINDS: tuple[StoreKind, ...] = (
    StoreKind("memory", MemoryStore, shared=False),
    StoreKind("sqlite", SQLiteStore),
    StoreKind("redis", RedisStore, needs_redis=True),
    StoreKind("redis-cluster", RedisStore, needs_redis=True),
)
SHARED_KINDS = tuple(kind.name for kind in STORE_KINDS if kind.shared)
"""The kinds other processes can open too (every kind but memory)."""

_BY_NAME = {kind.name: kind for kind in STORE_KINDS}


def store_params(exclude: Collection[str] = (), *, shared_only: bool = False) -> list[Any]:
    """``pytest.param`` for each kind not in ``exclude``, marked ``redis`` where it needs a server.

    ``shared_only`` keeps the kinds that other processes can open (``SHARED_KINDS``).
    """
    unknown = set(exclude) - _BY_NAME.keys()
    if unknown:
        msg = f"store_params: unknown kinds {sorted(unknown)} (known: {sorted(_BY_NAME)})"
        raise ValueError(msg)
    return [
        pytest.param(kind.name, id=kind.name, marks=[pytest.mark.redis] if kind.needs_redis else [])
        for kind in STORE_KINDS
        if kind.name not in exclude and (kind.shared or not shared_only)
    ]


def open_store(kind: str, location: str = "", prefix: str = "graylib", *, timeout: float = 2.0) -> Store:
    """A store of ``kind`` at ``location``: the only place the tests construct a store from a spec."""
    if kind == "memory":
        return MemoryStore()
    if kind == "sqlite":
        return SQLiteStore(location)
    if kind in ("redis", "redis-cluster"):
        return RedisStore(location, prefix=prefix, timeout=timeout)  # redis:// or redis+cluster://
    msg = f"open_store: unknown store kind {kind!r} (known: {sorted(_BY_NAME)})"
    raise ValueError(msg)


@attrs.frozen
class StoreSpec:
    """Enough to open the same store again, in this process or another one."""

    kind: str
    location: str = ""
    prefix: str = "graylib"

    @property
    def shared(self) -> bool:
        """Whether another ``open()`` sees what this one wrote (not for memory: each is a new store)."""
        return _BY_NAME[self.kind].shared

    def open(self, *, timeout: float = 2.0) -> Store:
        """A new handle on the store (``timeout``: the Redis reply timeout in seconds)."""
        return open_store(self.kind, self.location, self.prefix, timeout=timeout)

    def initialise(self) -> None:
        """Initialise the store once (the explicit act a new Redis needs before it grants anything)."""
        store = self.open(timeout=10.0)
        try:
            store.initialise()
        finally:
            store.close()


def unique_prefix() -> str:
    """A Redis key prefix no other test uses, so tests share one server without seeing each other."""
    return f"t{os.getpid()}-{uuid.uuid4().hex[:10]}"


def cluster_prefix(cluster: LocalCluster, rules: Collection[str] = ("rule-1", "rule-2")) -> str:
    """A fresh prefix that puts each of ``rules`` and the kill-switch index on a node of its own.

    The slot of a rule's keys is the slot of ``prefix:rule_id``, so the prefix decides where each rule
    lives: drawing prefixes until they land apart makes every cluster test cross nodes. A three-node
    cluster separates the index and two rules; a single rule is kept off the index's node.
    """
    for _ in range(1_000):
        prefix = unique_prefix()
        nodes = {cluster.node_of_key(prefix)} | {cluster.node_of_key(f"{prefix}:{r}") for r in rules}
        if len(nodes) == 1 + len(rules):
            return prefix
    msg = f"no prefix spreads the rules {sorted(rules)} and the index over the cluster's nodes"
    raise RuntimeError(msg)


def spec_for(
    kind: str, request: pytest.FixtureRequest, tmp_path: Path, rules: Collection[str] = ("rule-1", "rule-2")
) -> StoreSpec:
    """The spec of a fresh, empty, initialised store of ``kind``; on a cluster, ``rules`` land on separate
    nodes."""
    if kind == "memory":
        return StoreSpec("memory")
    if kind == "sqlite":
        return StoreSpec("sqlite", str(tmp_path / "graylib.db"))
    if kind == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        spec = StoreSpec("redis", server.url, unique_prefix())
    elif kind == "redis-cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        spec = StoreSpec("redis-cluster", cluster.url, cluster_prefix(cluster, rules))
    else:
        msg = f"spec_for: unknown store kind {kind!r} (known: {sorted(_BY_NAME)})"
        raise ValueError(msg)
    spec.initialise()  # once, as an operator would, before any process opens it
    return spec
