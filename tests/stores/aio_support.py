"""Async stores driven from sync test code, so one suite tests sync and async stores alike.

``SyncFacade`` runs an ``AsyncStore`` on an event loop of its own (one thread) and offers the sync
``Store`` methods: each call is a coroutine submitted to that loop and waited for. Calls from several
threads at once are coroutines in flight together on the loop, so a race between threads is a race
between tasks there.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import Any, TypeVar

from graylib.stores import (
    Instance,
    KillSwitch,
    LedgerEntry,
    LedgerSummary,
    LedgerTrimmed,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    Revision,
    RuleStats,
    TrustRecord,
)
from graylib.stores._aio_ledger import AsyncLedgerRevisions
from graylib.stores.aio import AsyncStore

T = TypeVar("T")

_TIMEOUT = 60.0


class SyncFacade:
    """The sync ``Store`` protocol over an ``AsyncStore`` built by ``make`` on the facade's loop."""

    def __init__(self, make: Callable[[], AsyncStore]) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="async-store-loop", daemon=True)
        self._thread.start()

        async def build() -> AsyncStore:
            return make()

        self.store = self._run(build())

    def _run(self, coro: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(_TIMEOUT)

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        return self._run(self.store.reserve(request))

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        return self._run(self.store.release(rule_id, payment_id, now))

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        self._run(self.store.kill(rule_id, reason, now))

    def revive(self, rule_id: str) -> bool:
        return self._run(self.store.revive(rule_id))

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        return self._run(self.store.kill_switches())

    def stats(self, rule_id: str) -> RuleStats:
        return self._run(self.store.stats(rule_id))

    def initialise(self) -> str:
        return self._run(self.store.initialise())

    def _reads(self) -> AsyncLedgerRevisions:
        """The store's ledger and revision calls (every async store graylib ships has them)."""
        store = self.store
        assert isinstance(store, AsyncLedgerRevisions), f"{store!r} keeps no ledger or revisions"
        return store

    def ledger_rules(self) -> Sequence[str]:
        return self._run(self._reads().ledger_rules())

    def ledger_page(self, rule_id: str, after: int, limit: int) -> Sequence[LedgerEntry]:
        return self._run(self._reads().ledger_page(rule_id, after, limit))

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        return self._run(self._reads().ledger_summary(rule_id))

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        return self._run(self._reads().ledger_trimmed(rule_id))

    def trim_ledger(self, rule_id: str, before: float) -> int:
        return self._run(self._reads().trim_ledger(rule_id, before))

    def head_revision(self) -> int:
        return self._run(self._reads().head_revision())

    def revision(self, number: int) -> Revision | None:
        return self._run(self._reads().revision(number))

    def revisions(self, limit: int = 100) -> list[Revision]:
        return self._run(self._reads().revisions(limit))

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        return self._run(self._reads().append_revision(revision, expected))

    def head_trust(self) -> int:
        return self._run(self._reads().head_trust())

    def trust_record(self, number: int) -> TrustRecord | None:
        return self._run(self._reads().trust_record(number))

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        return self._run(self._reads().append_trust(record, expected))

    def report_instance(self, instance: Instance, ttl: float) -> None:
        self._run(self._reads().report_instance(instance, ttl))

    def remove_instance(self, key: str) -> None:
        self._run(self._reads().remove_instance(key))

    def instances(self, now: float) -> list[Instance]:
        return self._run(self._reads().instances(now))

    def close(self) -> None:
        """Close the store, then stop and close the loop."""
        try:
            self._run(self.store.close())
        finally:
            self._loop.call_soon_threadsafe(self._loop.stop)
            self._thread.join(_TIMEOUT)
            self._loop.close()

    def __repr__(self) -> str:
        return f"SyncFacade({self.store!r})"
