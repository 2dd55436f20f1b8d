"""Zero overspend under concurrency: threads and processes race on one budget, grants are counted exactly.

The shared stores race as sync stores and as async stores (each process drives its async store from its
threads through a ``SyncFacade``: the threads' claims are tasks in flight together on that loop).
"""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from graylib.stores import LedgerStore, MemoryStore, ReserveStatus, RuleStats, Store
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer
from tests.store_kinds import cluster_prefix, unique_prefix
from tests.stores.support import StoreSpec, race_in_processes, request
from tests.stores.workers import ALLOWED, BUDGET, DISCOUNT, budget_counters, race

pytestmark = pytest.mark.slow

PROCESSES = 4
THREADS = 4
ATTEMPTS = 10  # 4 x 4 x 10 = 160 attempts on a budget of 100 grants


def _check_exact(store: Store, granted: list[str]) -> None:
    assert len(granted) == len(set(granted)) == ALLOWED
    assert store.stats("rule-1") == RuleStats(ALLOWED, BUDGET)
    late = store.reserve(request(*budget_counters("late"), amount=1))
    assert (late.status, late.limit) == (ReserveStatus.LIMIT_REACHED, "total")
    _check_ledger(store, granted)


def _check_ledger(store: Store, granted: list[str]) -> None:
    """Exactly one ledger entry per grant, none for the refusals; then, raced by 8 threads, replays write
    nothing and each of 40 payments released twice writes exactly one release entry."""
    assert isinstance(store, LedgerStore)
    entries = list(store.ledger_page("rule-1", 0, 10_000))
    assert sorted(e.payment_id for e in entries) == sorted(granted)
    assert {e.kind for e in entries} == {"grant"}
    released = granted[:40]
    with ThreadPoolExecutor(8) as pool:
        replays = pool.map(
            lambda p: store.reserve(request(*budget_counters("x"), payment=p, amount=DISCOUNT)).status,
            granted,
        )
        assert set(replays) == {ReserveStatus.REPLAYED}
        outcomes = list(pool.map(lambda p: store.release("rule-1", p, 0.0).released, released * 2))
    assert outcomes.count(True) == len(released)
    entries = list(store.ledger_page("rule-1", 0, 10_000))
    assert [e.seq for e in entries] == list(range(1, ALLOWED + len(released) + 1))
    assert sorted(e.payment_id for e in entries if e.kind == "release") == sorted(released)
    summary = store.ledger_summary("rule-1")
    stats = store.stats("rule-1")
    assert (summary.net_count, summary.net_amount) == (stats.granted_count, stats.granted_amount)


def test_threads_never_overspend_a_memory_store() -> None:
    store = MemoryStore()
    granted = race(lambda: store, "m", threads=8, attempts=20, go=None, results=None)
    _check_exact(store, granted)


@pytest.fixture(
    params=[
        "sqlite",
        pytest.param("redis", marks=pytest.mark.redis),
        pytest.param("redis-cluster", marks=pytest.mark.redis),
        "async-sqlite",
        pytest.param("async-redis", marks=pytest.mark.redis),
    ]
)
def shared_spec(request: pytest.FixtureRequest, tmp_path: Path) -> StoreSpec:
    """A store that other processes can open too (sync, or async behind a facade)."""
    kind: str = request.param
    asynchronous = kind.startswith("async-")
    if kind.endswith("sqlite"):
        return StoreSpec("sqlite", str(tmp_path / "race.db"), asynchronous=asynchronous)
    if request.param == "redis-cluster":
        cluster: LocalCluster = request.getfixturevalue("redis_cluster")
        spec = StoreSpec("redis-cluster", cluster.url, cluster_prefix(cluster))
        spec.initialise()
        return spec
    server: RedisServer = request.getfixturevalue("redis_server")
    spec = StoreSpec("redis", server.url, unique_prefix(), asynchronous=asynchronous)
    spec.initialise()
    return spec


def test_processes_and_threads_never_overspend(shared_spec: StoreSpec) -> None:
    store = shared_spec.open()  # also creates the SQLite schema before the race
    granted = race_in_processes(
        race,
        lambda i, go, results: (
            (shared_spec.open, f"p{i}"),
            {"threads": THREADS, "attempts": ATTEMPTS, "go": go, "results": results},
        ),
        PROCESSES,
    )
    _check_exact(store, granted)
    store.close()
