"""What a client reports to a metrics recorder, bound when the client is built.

A client without a recorder (the default) has none of this on its paths: its claims and its kill view talk
to the store directly, and decisions are counted only by the tallies ``status()`` already reads. With a
recorder (``Client(metrics=...)``, see ``graylib.otel``), the claims and the kill view are given a
``MeteredStore`` instead of the store: it times every ``reserve``, counts every store call that raises
(and raises on), and reports each real grant's amount. Decisions are not reported per payment at all: the
recorder reads the client's tallies when it is collected (``Recorder.watch``), so evaluation costs the same
with metrics on as with them off.

Only the rule id, the reason, the operation and the store's class name ever reach a recorder: never an
account, a payment id, an IP or any other value of one payment.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator, Mapping
from typing import TYPE_CHECKING, Protocol

import attrs

from ..stores import (
    Instance,
    KillSwitch,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
    Revision,
    RuleStats,
    Store,
    TrustRecord,
)
from ._tallies import Tallies, read_tallies

if TYPE_CHECKING:  # the async stores (and asyncio) are imported only by code that uses them
    from ..stores.aio import AsyncStore

__all__ = ["AsyncMeteredStore", "MeteredStore", "Reading", "Recorder", "nonzero"]

_GRANTED = ReserveStatus.GRANTED


@attrs.frozen
class Reading:
    """What a client shows a recorder when it is collected: decisions counted so far and the served config.

    ``evaluations`` and ``claims`` are the client's tallies (``next`` is never called on them here);
    ``loaded_at`` is when the served config version was loaded (seconds since the epoch).
    """

    evaluations: Tallies
    claims: Tallies
    version: str
    loaded_at: float


class Recorder(Protocol):
    """Where a client's measurements go (``graylib.otel.Metrics`` is the OpenTelemetry one)."""

    def watch(self, read: Callable[[], Reading | None]) -> None:
        """Read ``read()`` whenever the metrics are collected (None: the client is gone)."""
        ...

    def claim_duration(self, store: str, seconds: float) -> None:
        """One ``reserve`` call took ``seconds`` (answered or failed)."""
        ...

    def store_error(self, op: str) -> None:
        """A store call (``claim``, ``release``, ``kill_switches``, ``kill``, ``revive``) raised."""
        ...

    def granted(self, rule_id: str, amount: int) -> None:
        """The store granted a real (not shadow) claim of ``amount`` minor units under ``rule_id``."""
        ...


def _claimed(
    recorder: Recorder, name: str, started: float, request: ReserveRequest, result: ReserveResult | None
) -> None:
    """Report a ``reserve`` begun at ``started`` (``time.perf_counter``): its duration, then the error
    (``result`` None: it raised) or the amount of a real grant."""
    recorder.claim_duration(name, time.perf_counter() - started)
    if result is None:
        recorder.store_error("claim")
    elif getattr(result, "status", None) is _GRANTED and not request.shadow:
        recorder.granted(request.rule_id, request.amount)


class MeteredStore:
    """A store that reports its calls to a recorder, and otherwise is the store it wraps.

    Every error is re-raised unchanged after it is counted: what a claim makes of it (fail closed, warn)
    does not change.
    """

    __slots__ = ("_name", "_recorder", "_store")

    def __init__(self, store: Store, recorder: Recorder) -> None:
        self._store = store
        self._recorder = recorder
        self._name = type(store).__name__

    @property
    def wrapped(self) -> Store:
        return self._store

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        started = time.perf_counter()
        try:
            result = self._store.reserve(request)
        except BaseException:
            _claimed(self._recorder, self._name, started, request, None)
            raise
        _claimed(self._recorder, self._name, started, request, result)
        return result

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        with self._counting("release"):
            return self._store.release(rule_id, payment_id, now)

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        with self._counting("kill"):
            self._store.kill(rule_id, reason, now)

    def revive(self, rule_id: str) -> bool:
        with self._counting("revive"):
            return self._store.revive(rule_id)

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        with self._counting("kill_switches"):
            return self._store.kill_switches()

    def stats(self, rule_id: str) -> RuleStats:
        return self._store.stats(rule_id)

    def initialise(self) -> str:
        return self._store.initialise()

    # the published revisions and the fleet: not measured (the follower reads the store itself)

    def head_revision(self) -> int:
        return self._store.head_revision()

    def revision(self, number: int) -> Revision | None:
        return self._store.revision(number)

    def revisions(self, limit: int = 100) -> list[Revision]:
        return self._store.revisions(limit)

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        return self._store.append_revision(revision, expected)

    def head_trust(self) -> int:
        return self._store.head_trust()

    def trust_record(self, number: int) -> TrustRecord | None:
        return self._store.trust_record(number)

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        return self._store.append_trust(record, expected)

    def report_instance(self, instance: Instance, ttl: float) -> None:
        self._store.report_instance(instance, ttl)

    def remove_instance(self, key: str) -> None:
        self._store.remove_instance(key)

    def instances(self, now: float) -> list[Instance]:
        return self._store.instances(now)

    def close(self) -> None:
        self._store.close()

    def _counting(self, op: str) -> _Counting:
        return _Counting(self._recorder, op)

    def __repr__(self) -> str:
        return repr(self._store)


class _Counting:
    """A context manager counting a store error of ``op`` when its block raises (and letting it raise)."""

    __slots__ = ("_op", "_recorder")

    def __init__(self, recorder: Recorder, op: str) -> None:
        self._recorder = recorder
        self._op = op

    def __enter__(self) -> None:
        return None

    def __exit__(self, kind: type[BaseException] | None, *rest: object) -> None:
        if kind is not None and issubclass(kind, Exception):
            self._recorder.store_error(self._op)


class AsyncMeteredStore:
    """``MeteredStore`` for an async store (``graylib.stores.aio.AsyncStore``): the same reports."""

    __slots__ = ("_name", "_recorder", "_store")

    def __init__(self, store: AsyncStore, recorder: Recorder) -> None:
        self._store = store
        self._recorder = recorder
        self._name = type(store).__name__

    @property
    def wrapped(self) -> AsyncStore:
        return self._store

    async def reserve(self, request: ReserveRequest) -> ReserveResult:
        started = time.perf_counter()
        try:
            result = await self._store.reserve(request)
        except BaseException:
            _claimed(self._recorder, self._name, started, request, None)
            raise
        _claimed(self._recorder, self._name, started, request, result)
        return result

    async def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        with _Counting(self._recorder, "release"):
            return await self._store.release(rule_id, payment_id, now)

    async def kill(self, rule_id: str, reason: str, now: float) -> None:
        with _Counting(self._recorder, "kill"):
            await self._store.kill(rule_id, reason, now)

    async def revive(self, rule_id: str) -> bool:
        with _Counting(self._recorder, "revive"):
            return await self._store.revive(rule_id)

    async def kill_switches(self) -> Mapping[str, KillSwitch]:
        with _Counting(self._recorder, "kill_switches"):
            return await self._store.kill_switches()

    async def stats(self, rule_id: str) -> RuleStats:
        return await self._store.stats(rule_id)

    async def initialise(self) -> str:
        return await self._store.initialise()

    async def close(self) -> None:
        await self._store.close()

    def __repr__(self) -> str:
        return repr(self._store)


def nonzero(tallies: Tallies) -> Iterator[tuple[str, str, int]]:
    """``(rule_id, reason, count)`` for every count above zero in ``tallies``."""
    for rule_id in list(tallies):
        for reason, count in read_tallies(tallies, rule_id).items():
            yield rule_id, reason, count
