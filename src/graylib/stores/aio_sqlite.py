"""``AsyncSQLiteStore``: a ``SQLiteStore`` whose every call runs on one dedicated thread.

SQLite has no async driver, and a transaction may wait (up to the store's ``timeout``) for another
process's write lock: made on the event loop, that wait would stall every other task. Each call is
therefore handed to a single worker thread owned by the store (``graylib-sqlite``), and the loop awaits
it. One thread is enough: SQLite runs one write transaction at a time per database anyway, and a claim is
one short transaction. The SQL, the checks and the data-loss guards are the ``SQLiteStore``'s own.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

from graylib.stores._aio_ledger import AsyncLedgerRevisions
from graylib.stores._protocol import KillSwitch, ReleaseResult, ReserveRequest, ReserveResult, RuleStats
from graylib.stores.sqlite import SQLiteStore

__all__ = ["AsyncSQLiteStore"]

T = TypeVar("T")


class AsyncSQLiteStore(AsyncLedgerRevisions):
    """A SQLite file shared by the processes of one machine, awaited. ``options`` are ``SQLiteStore``'s
    (``timeout``, ``record_ttl``, ``durable``, ``create``)."""

    def __init__(self, path: str | os.PathLike[str], **options: Any) -> None:
        self._path = os.fspath(path)
        self._executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="graylib-sqlite")
        try:
            # opened on the worker thread, where every later call runs
            self._store: SQLiteStore = self._executor.submit(SQLiteStore, path, **options).result()
        except BaseException:
            self._executor.shutdown(wait=True)
            raise

    @property
    def sync(self) -> SQLiteStore:
        """The ``SQLiteStore`` underneath (call it from the store's thread only, or from another store)."""
        return self._store

    async def _call(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.get_running_loop().run_in_executor(self._executor, method, *args)

    def _sync_store(self) -> SQLiteStore:
        return self._store

    async def _sync_call(self, method: Callable[..., T], *args: Any) -> T:
        return await self._call(method, *args)

    async def reserve(self, request: ReserveRequest) -> ReserveResult:
        return await self._call(self._store.reserve, request)

    async def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        return await self._call(self._store.release, rule_id, payment_id, now)

    async def kill(self, rule_id: str, reason: str, now: float) -> None:
        await self._call(self._store.kill, rule_id, reason, now)

    async def revive(self, rule_id: str) -> bool:
        return await self._call(self._store.revive, rule_id)

    async def kill_switches(self) -> Mapping[str, KillSwitch]:
        return await self._call(self._store.kill_switches)

    async def stats(self, rule_id: str) -> RuleStats:
        return await self._call(self._store.stats, rule_id)

    async def initialise(self) -> str:
        return await self._call(self._store.initialise)

    async def close(self) -> None:
        """Close the database on its thread, then end the thread."""
        try:
            await self._call(self._store.close)
        finally:
            self._executor.shutdown(wait=True)

    def __repr__(self) -> str:
        return f"AsyncSQLiteStore({self._path!r})"
