"""Code that runs in child processes (started with the ``spawn`` method, so it must be importable)."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event

from graylib.stores import CounterSpec, ReserveStatus, Store
from tests.stores.support import StoreSpec, counter, request

BUDGET = 100_000
DISCOUNT = 1_000
ALLOWED = BUDGET // DISCOUNT


def budget_counters(account: str) -> tuple[CounterSpec, ...]:
    """The race's counters: a lifetime total that binds, and a roomy per-account window that does not."""
    return (counter(f"per_account:{account}", 3600, count=1_000), counter("total", amount=BUDGET))


def race(
    open_store: Callable[[], Store],
    name: str,
    *,
    threads: int,
    attempts: int,
    go: Event | None,
    results: Queue[tuple[str, list[str]]] | None,
) -> list[str]:
    """Claim ``attempts`` times from each of ``threads`` threads, all released together; granted ids."""
    store = open_store()
    granted: list[str] = []
    lock = threading.Lock()
    barrier = threading.Barrier(threads, timeout=60)
    errors: list[BaseException] = []

    def claim(thread: int) -> None:
        mine = []
        counters = budget_counters(f"{name}-{thread % 2}")
        try:
            barrier.wait()
            for attempt in range(attempts):
                payment = f"{name}-{thread}-{attempt}"
                result = store.reserve(request(*counters, payment=payment, amount=DISCOUNT))
                if result.status is ReserveStatus.GRANTED:
                    mine.append(payment)
                else:
                    assert result.status is ReserveStatus.LIMIT_REACHED, result
                    assert result.limit == "total", result
        except BaseException as exc:
            errors.append(exc)
        with lock:
            granted.extend(mine)

    workers = [threading.Thread(target=claim, args=(i,)) for i in range(threads)]
    if results is not None:
        results.put(("ready", []))
    if go is not None and not go.wait(timeout=60):
        msg = "never released"
        raise RuntimeError(msg)
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=60)
    store.close()
    if errors:
        raise errors[0]
    if results is not None:
        results.put((name, granted))
    return granted


def claim_forever(spec: StoreSpec, log_path: str) -> None:
    """Claim in a loop, appending each granted payment id to ``log_path`` (fsync'd) until killed."""
    store = spec.open()
    fd = os.open(log_path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    attempt = 0
    while True:
        attempt += 1
        payment = f"kill9-{attempt}"
        counters = (counter(f"per_account:a{attempt % 7}", 3600), counter("total"))
        result = store.reserve(request(*counters, payment=payment, amount=100 + attempt % 13))
        if result.status is ReserveStatus.GRANTED:
            os.write(fd, f"{payment}\n".encode())
            os.fsync(fd)
