"""Async stores: the ``AsyncStore`` protocol, and the three backends for ``graylib.aio.AsyncClient``.

Every async store means exactly what its sync store means (the same store conformance suite runs against
both) and none of them blocks the event loop:

- ``AsyncMemoryStore`` wraps a ``MemoryStore``: its calls are in-process dictionary work of a few
  microseconds and are made directly on the loop;
- ``AsyncSQLiteStore`` wraps a ``SQLiteStore`` and runs every call on one dedicated thread of its own
  (SQLite has no async driver, and a transaction may wait for another process's lock);
- ``AsyncRedisStore`` sends the claim and release scripts of ``RedisStore`` (the same ``reserve.lua`` and
  ``release.lua``, the same keys and arguments) through ``redis.asyncio``; the rare administrative calls
  (kill switches, kill, revive, stats, initialise) run the sync store's code in a worker thread.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, runtime_checkable

from graylib.stores._protocol import KillSwitch, ReleaseResult, ReserveRequest, ReserveResult, RuleStats
from graylib.stores.aio_memory import AsyncMemoryStore
from graylib.stores.aio_redis import AsyncRedisStore
from graylib.stores.aio_sqlite import AsyncSQLiteStore

__all__ = ["AsyncMemoryStore", "AsyncRedisStore", "AsyncSQLiteStore", "AsyncStore"]


@runtime_checkable
class AsyncStore(Protocol):
    """``Store`` with every call awaited: the same meaning, method by method (``graylib.stores.Store``)."""

    async def reserve(self, request: ReserveRequest) -> ReserveResult: ...

    async def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult: ...

    async def kill(self, rule_id: str, reason: str, now: float) -> None: ...

    async def revive(self, rule_id: str) -> bool: ...

    async def kill_switches(self) -> Mapping[str, KillSwitch]: ...

    async def stats(self, rule_id: str) -> RuleStats: ...

    async def initialise(self) -> str: ...

    async def close(self) -> None: ...
