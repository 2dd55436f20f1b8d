"""Claims under concurrency and failure, end to end through Client.claim, with real stores and processes.

- threads and processes race on one budget: exactly budget / discount grants, zero overspend;
- a kill set through one client reaches another client sharing the store within ``kill_refresh``;
- a rate alarm tripped under a race alerts once and stops every client;
- Redis going away turns claims into ``ERROR`` within the timeout, and they recover when it returns.

Every store kind of ``tests/store_kinds.py`` runs these (the process races: every kind processes can share).
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections.abc import Callable

import pytest

from graylib import Alert, Client, MemoryStore, Reason, Store
from graylib.stores import RuleStats
from tests.claims_support import (  # noqa: F401 - fixtures
    DISCOUNT,
    RULE,
    client,
    close_clients_fixture,
    limited_config,
    payment,
    race_claims,
    shared_spec_fixture,
    store_fixture,
    store_spec_fixture,
)
from tests.redis_server import RedisServer
from tests.store_kinds import StoreSpec, unique_prefix
from tests.stores.support import race_in_processes

pytestmark = pytest.mark.slow

BUDGET = 10_000
ALLOWED = BUDGET // DISCOUNT  # 100 grants
BUDGET_CONFIG = limited_config({"per_account": {"count": 1_000, "window": "1h"}, "total": {"amount": BUDGET}})


def _check_exact(store: Store, granted: list[tuple[str, int]]) -> None:
    ids = [pid for pid, _ in granted]
    assert len(ids) == len(set(ids)) == ALLOWED
    assert sum(discount for _, discount in granted) == BUDGET
    assert store.stats(RULE) == RuleStats(ALLOWED, BUDGET)
    late_client = client(BUDGET_CONFIG, store)
    late = late_client.claim(RULE, payment("late", account="late"))
    late_client.close()  # before the caller closes the store: a running client would reopen connections
    assert late.reason is Reason.LIMIT_REACHED and late.detail.startswith("limit reached: total")


def test_threads_never_overspend_through_claim() -> None:
    store = MemoryStore()
    granted = race_claims(lambda: store, BUDGET_CONFIG, "m", 8, 20, None, None)  # 160 tries, 100 fit
    _check_exact(store, granted)


def test_processes_and_threads_never_overspend_through_claim(shared_spec: StoreSpec) -> None:
    processes_n, threads, attempts = 4, 4, 10  # 160 tries on a budget of 100 grants
    store = shared_spec.open()  # creates the SQLite schema before the race
    granted: list[tuple[str, int]] = race_in_processes(
        race_claims,
        lambda i, go, results: (
            (shared_spec.open, BUDGET_CONFIG, f"p{i}", threads, attempts, go, results),
            {},
        ),
        processes_n,
    )
    _check_exact(store, granted)
    store.close()


def test_a_rate_alarm_tripped_in_a_race_alerts_once_and_stops_everyone(store_spec: StoreSpec) -> None:
    alarm = 10 * DISCOUNT  # ten grants fit under the alarm, the eleventh trips it
    config = limited_config({"rate_alarm": {"amount": alarm, "window": "1h"}})
    alerts: list[Alert] = []
    shared = store_spec.open()
    clients = [
        client(config, store_spec.open() if store_spec.shared else shared, on_alert=alerts.append)
        for _ in range(4)
    ]
    barrier = threading.Barrier(len(clients) * 2, timeout=30)
    decisions: list[Reason] = []
    lock = threading.Lock()

    def run(n: int) -> None:
        barrier.wait()
        mine = [clients[n % 4].claim(RULE, payment(f"t{n}-{i}", account=f"a{i}")).reason for i in range(8)]
        with lock:
            decisions.extend(mine)

    workers = [threading.Thread(target=run, args=(n,)) for n in range(len(clients) * 2)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=30)
    assert decisions.count(Reason.APPLIES_ROLLOUT) == 10
    assert decisions.count(Reason.KILLED) == len(decisions) - 10
    assert len(alerts) == 1 and alerts[0].alarm_amount == alarm
    assert shared.stats(RULE) == RuleStats(10, alarm)
    for c in clients:
        assert c.evaluate(RULE, payment("after")).reason is Reason.KILLED
        c.close()  # stops its kill-switch refresh before its store closes
        c.store.close()
    if store_spec.shared:  # a handle of its own; for memory it is the clients' store, closed above
        shared.close()


def _wait_for(check: Callable[[], bool], limit: float) -> float:
    """Seconds until ``check()`` held; fails past ``limit``."""
    start = time.monotonic()
    while not check():
        assert time.monotonic() - start < limit, "not within the time limit"
        time.sleep(0.02)
    return time.monotonic() - start


def test_a_kill_through_one_client_stops_another_within_a_second(store_spec: StoreSpec) -> None:
    shared = store_spec.open()
    a = client(BUDGET_CONFIG, store_spec.open() if store_spec.shared else shared)
    b = client(BUDGET_CONFIG, shared)  # kill_refresh: the default second
    assert b.evaluate(RULE, payment("p-0")).applies and b.claim(RULE, payment("p-0")).applies
    a.kill(RULE, reason="wrong discount")
    killed = b.evaluate(RULE, payment("p-1"))
    if killed.applies:  # b's view is still fresh: it must go stale within kill_refresh
        _wait_for(lambda: b.evaluate(RULE, payment("p-1")).reason is Reason.KILLED, 1.5)
    decision = b.claim(RULE, payment("p-2"))
    assert (decision.applies, decision.reason) == (False, Reason.KILLED)
    assert decision.detail == "kill switch: wrong discount"
    assert a.revive(RULE)
    _wait_for(lambda: b.claim(RULE, payment("p-3")).applies, 1.5)
    assert shared.stats(RULE) == RuleStats(2, 2 * DISCOUNT)
    a.close()
    b.close()
    a.store.close()
    shared.close()


@pytest.mark.redis
def test_claims_fail_closed_while_redis_is_down_and_recover() -> None:
    with RedisServer() as server:
        spec = StoreSpec("redis", server.url, unique_prefix())
        spec.initialise()
        store = spec.open(timeout=0.25)
        c = Client(BUDGET_CONFIG, cluster="sh-small", store=store, kill_refresh=0.2)
        assert c.claim(RULE, payment("before")).applies
        server.stop()
        started = time.monotonic()
        down = c.claim(RULE, payment("during"))
        elapsed = time.monotonic() - started
        assert (down.applies, down.reason) == (False, Reason.ERROR)
        assert down.detail.startswith("store unavailable: ")
        assert elapsed < 1.5, elapsed
        released = c.release(RULE, "before")
        assert (released.released, released.failed) == (False, True)
        time.sleep(0.3)  # past kill_refresh: evaluation keeps the last known kill switches, never raises
        assert c.evaluate(RULE, payment("during")).applies
        server.start()  # empty (no persistence): the store lost its data, and claims keep failing closed
        _wait_for(lambda: "lost its data" in c.claim(RULE, payment("after")).detail, 5.0)
        store.initialise()  # the operator's explicit re-initialisation
        _wait_for(lambda: c.claim(RULE, payment("after")).applies, 5.0)
        c.close()
        store.close()


@pytest.mark.redis
def test_a_hung_redis_fails_claims_within_the_timeout_and_recovers() -> None:
    with RedisServer() as server:
        process = server._process
        assert process is not None
        spec = StoreSpec("redis", server.url, unique_prefix())
        spec.initialise()
        store = spec.open(timeout=0.25)
        c = Client(BUDGET_CONFIG, cluster="sh-small", store=store, kill_refresh=3600)
        assert c.claim(RULE, payment("before")).applies
        os.kill(process.pid, signal.SIGSTOP)  # accepts connections, answers nothing
        try:
            started = time.monotonic()
            hung = c.claim(RULE, payment("during"))
            elapsed = time.monotonic() - started
        finally:
            os.kill(process.pid, signal.SIGCONT)
        assert (hung.applies, hung.reason) == (False, Reason.ERROR)
        assert hung.detail.startswith("store unavailable: ") and "Timeout" in hung.detail
        assert elapsed < 1.0, elapsed  # the 0.25 s reply timeout, not a hung payment
        _wait_for(lambda: c.claim(RULE, payment("after")).applies, 5.0)
        # A timed-out claim is "unknown": Redis may run it once it resumes. Retrying with the same payment id
        # is safe either way: it is granted now or replayed, and counted once.
        assert c.claim(RULE, payment("during")).applies
        assert store.stats(RULE) == RuleStats(3, 3 * DISCOUNT)
        c.close()
        store.close()
