"""The grant ledger's reads and the published revisions, awaited: the sync store's own code.

Every async store wraps a sync store (``sync``) that already keeps the ledger and the revisions. These
calls are not on the payment path (an export, a reconciliation, a publish, a follower's poll, a fleet
record), so each runs the sync store's method where that store's calls belong: on the loop for memory,
on the SQLite store's own thread, in a worker thread for Redis (``_sync_call``). Their logic exists once.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from graylib.stores._ledger import LedgerEntry, LedgerStore, LedgerSummary, LedgerTrimmed
from graylib.stores._protocol import Store
from graylib.stores._revisions import Instance, Revision
from graylib.stores._trust_records import TrustRecord

__all__ = ["AsyncLedgerRevisions"]

T = TypeVar("T")


class AsyncLedgerRevisions:
    """``LedgerStore`` and the revision and fleet methods of ``Store``, each awaited."""

    if TYPE_CHECKING:  # each async store's own: the sync store it wraps, and how it runs a call of it

        def _sync_store(self) -> Store: ...
        async def _sync_call(self, method: Callable[..., T], *args: Any) -> T: ...

    def _ledger(self) -> LedgerStore:
        store = self._sync_store()
        assert isinstance(store, LedgerStore)  # every store graylib ships keeps one
        return store

    # -- the grant ledger ------------------------------------------------------------------------------

    async def ledger_rules(self) -> Sequence[str]:
        return await self._sync_call(self._ledger().ledger_rules)

    async def ledger_page(self, rule_id: str, after: int, limit: int) -> Sequence[LedgerEntry]:
        return await self._sync_call(self._ledger().ledger_page, rule_id, after, limit)

    async def ledger_summary(self, rule_id: str) -> LedgerSummary:
        return await self._sync_call(self._ledger().ledger_summary, rule_id)

    async def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        return await self._sync_call(self._ledger().ledger_trimmed, rule_id)

    async def trim_ledger(self, rule_id: str, before: float) -> int:
        return await self._sync_call(self._ledger().trim_ledger, rule_id, before)

    # -- published revisions and the fleet -------------------------------------------------------------

    async def head_revision(self) -> int:
        return await self._sync_call(self._sync_store().head_revision)

    async def revision(self, number: int) -> Revision | None:
        return await self._sync_call(self._sync_store().revision, number)

    async def revisions(self, limit: int = 100) -> list[Revision]:
        return await self._sync_call(self._sync_store().revisions, limit)

    async def append_revision(self, revision: Revision, expected: int) -> Revision:
        return await self._sync_call(self._sync_store().append_revision, revision, expected)

    async def head_trust(self) -> int:
        return await self._sync_call(self._sync_store().head_trust)

    async def trust_record(self, number: int) -> TrustRecord | None:
        return await self._sync_call(self._sync_store().trust_record, number)

    async def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        return await self._sync_call(self._sync_store().append_trust, record, expected)

    async def report_instance(self, instance: Instance, ttl: float) -> None:
        await self._sync_call(self._sync_store().report_instance, instance, ttl)

    async def remove_instance(self, key: str) -> None:
        await self._sync_call(self._sync_store().remove_instance, key)

    async def instances(self, now: float) -> list[Instance]:
        return await self._sync_call(self._sync_store().instances, now)
