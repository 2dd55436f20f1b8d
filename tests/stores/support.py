"""Helpers shared by the store tests: request builders and picklable store specs for other processes."""

from __future__ import annotations

import itertools
import multiprocessing
import os
import queue
import time
from collections.abc import Callable
from typing import Any

import attrs
import pytest

from graylib.stores import CounterSpec, ReserveRequest, Store
from graylib.stores.aio import AsyncMemoryStore, AsyncRedisStore, AsyncSQLiteStore, AsyncStore
from tests import store_kinds

T0 = 1_700_000_040.0
"""A fixed 'now' at the start of a 60-second window (1_700_000_040 is a multiple of 60)."""

_ids = itertools.count()


CLUSTER_RULES = ("rule-1", "rule-2")
"""The rule ids the shared store tests use most; on a cluster each must live on its own node."""


def payment_id() -> str:
    return f"pay-{os.getpid()}-{next(_ids)}"


def counter(
    name: str, window: int = 0, *, count: int | None = None, amount: int | None = None
) -> CounterSpec:
    return CounterSpec(name, window, count, amount)


def request(
    *counters: CounterSpec,
    rule_id: str = "rule-1",
    payment: str | None = None,
    amount: int = 1_000,
    now: float = T0,
    fingerprint: str = "fp",
    payload: str | None = None,
    shadow: bool = False,
    alarm_amount: int | None = None,
    alarm_window: int = 60,
) -> ReserveRequest:
    """A ReserveRequest with defaults; a fresh payment id unless one is given."""
    payment = payment or payment_id()
    return ReserveRequest(
        rule_id=rule_id,
        payment_id=payment,
        fingerprint=fingerprint,
        amount=amount,
        counters=counters,
        payload=f"decision of {payment}" if payload is None else payload,
        now=now,
        alarm_amount=alarm_amount,
        alarm_window=alarm_window,
        shadow=shadow,
    )


@attrs.frozen
class StoreSpec(store_kinds.StoreSpec):
    """``tests.store_kinds.StoreSpec``, or the async store of the kind (``asynchronous``)."""

    asynchronous: bool = False
    """Open the async store of the kind, driven through a ``SyncFacade`` (``open_async`` gives it bare)."""

    def open(self, *, timeout: float = 2.0) -> Store:
        if self.asynchronous:
            from tests.stores.aio_support import SyncFacade

            return SyncFacade(self.open_async)
        return super().open(timeout=timeout)

    def open_async(self) -> AsyncStore:
        """The async store of this kind (its own connections; a memory store is a new, empty one)."""
        if self.kind == "memory":
            return AsyncMemoryStore()
        if self.kind == "sqlite":
            return AsyncSQLiteStore(self.location)
        assert self.kind == "redis", f"no async store for {self.kind!r}"
        return AsyncRedisStore(self.location, prefix=self.prefix, timeout=2.0)

    def initialise(self) -> None:
        """Initialise the store once, through the sync store of its kind."""
        super(StoreSpec, attrs.evolve(self, asynchronous=False)).initialise()


def race_in_processes(
    target: Callable[..., object],
    args_of: Callable[[int, Any, Any], tuple[tuple[Any, ...], dict[str, Any]]],
    count: int,
) -> list[Any]:
    """Run ``count`` spawned processes of ``target``, released together; gather what each reports.

    ``args_of(i, go, results)`` gives process ``i`` its positional and keyword arguments. Each process
    puts ``("ready",)`` on ``results``, waits for ``go``, races, then puts ``(name, items)``; the items of
    all processes are returned. A process that never reports fails the test; every process is joined
    (killed if stuck).
    """
    context = multiprocessing.get_context("spawn")
    go = context.Event()
    results = context.Queue()
    processes = []
    for i in range(count):
        args, kwargs = args_of(i, go, results)
        processes.append(context.Process(target=target, args=args, kwargs=kwargs, daemon=True))
    for process in processes:
        process.start()
    gathered: list[Any] = []
    try:
        for _ in processes:
            assert results.get(timeout=60)[0] == "ready"
        go.set()
        for _ in processes:
            gathered.extend(results.get(timeout=90)[1])
    except queue.Empty:
        pytest.fail(f"a racer did not report; exit codes {[p.exitcode for p in processes]}")
    finally:
        for process in processes:
            process.join(timeout=30)
            if process.is_alive():
                process.kill()
    assert [p.exitcode for p in processes] == [0] * count
    return gathered


def assert_every_call_fails_fast(store: Store, *, match: str | None = None, within: float = 1.0) -> None:
    """Each store call against an unreachable backend raises ``StoreError`` (chained) within ``within`` s."""
    from graylib import StoreError

    calls: list[Callable[[], object]] = [
        lambda: store.reserve(request(counter("total"))),
        lambda: store.release("rule-1", "p-1", 0.0),
        lambda: store.kill("rule-1", "x", 0.0),
        lambda: store.revive("rule-1"),
        store.kill_switches,
        lambda: store.stats("rule-1"),
    ]
    for call in calls:
        started = time.monotonic()
        with pytest.raises(StoreError, match=match) as caught:
            call()
        assert time.monotonic() - started < within
        assert caught.value.__cause__ is not None
