"""``AsyncMemoryStore``: a ``MemoryStore`` behind the ``AsyncStore`` protocol.

A ``MemoryStore`` call is a few microseconds of dictionary work under a lock that is never held across
I/O, so awaiting it directly on the loop is cheaper than any hand-off to a thread and blocks nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from graylib.stores._aio_ledger import AsyncLedgerRevisions
from graylib.stores._protocol import KillSwitch, ReleaseResult, ReserveRequest, ReserveResult, RuleStats
from graylib.stores.memory import MemoryStore

__all__ = ["AsyncMemoryStore"]

T = TypeVar("T")


class AsyncMemoryStore(AsyncLedgerRevisions):
    """One process's counters, records and kill switches, awaited (``store``: a ``MemoryStore`` to share
    with sync code; a new one by default)."""

    def __init__(self, store: MemoryStore | None = None) -> None:
        self._store = store if store is not None else MemoryStore()

    @property
    def sync(self) -> MemoryStore:
        """The ``MemoryStore`` underneath."""
        return self._store

    def _sync_store(self) -> MemoryStore:
        return self._store

    async def _sync_call(self, method: Callable[..., T], *args: Any) -> T:
        return method(*args)

    async def reserve(self, request: ReserveRequest) -> ReserveResult:
        return self._store.reserve(request)

    async def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        return self._store.release(rule_id, payment_id, now)

    async def kill(self, rule_id: str, reason: str, now: float) -> None:
        self._store.kill(rule_id, reason, now)

    async def revive(self, rule_id: str) -> bool:
        return self._store.revive(rule_id)

    async def kill_switches(self) -> Mapping[str, KillSwitch]:
        return self._store.kill_switches()

    async def stats(self, rule_id: str) -> RuleStats:
        return self._store.stats(rule_id)

    async def initialise(self) -> str:
        return self._store.initialise()

    async def close(self) -> None:
        self._store.close()

    def __repr__(self) -> str:
        return "AsyncMemoryStore()"
