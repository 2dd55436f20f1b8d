"""A process killed with SIGKILL mid-claim loses nothing acknowledged and counts nothing twice.

A child claims in a loop and logs each granted payment id (fsync'd) after the store acknowledged it. After
``kill -9`` the store's reservations must exactly explain its counters and statistics, and every logged
grant must have its reservation. At most one reservation may be missing from the log: the claim that
committed just before the kill, whose log line was never written.
"""

from __future__ import annotations

import contextlib
import json
import multiprocessing
import os
import signal
import sqlite3
import time
from pathlib import Path

import pytest

from graylib.stores import LedgerStore, RuleStats, Store
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import StoreSpec
from tests.stores.workers import claim_forever

pytestmark = pytest.mark.slow

GRANTS_BEFORE_KILL = 150


def _run_and_kill(spec: StoreSpec, log: Path) -> list[str]:
    """Start the claiming child, SIGKILL it once enough grants are logged; the logged payment ids."""
    process = multiprocessing.get_context("spawn").Process(target=claim_forever, args=(spec, str(log)))
    process.start()
    deadline = time.monotonic() + 60
    try:
        while not log.exists() or log.read_text().count("\n") < GRANTS_BEFORE_KILL:
            assert process.is_alive(), f"claimer died with exit code {process.exitcode}"
            assert time.monotonic() < deadline, "claimer too slow"
            time.sleep(0.005)
    finally:
        assert process.pid is not None
        os.kill(process.pid, signal.SIGKILL)
        process.join(timeout=30)
    assert process.exitcode == -signal.SIGKILL
    return [line for line in log.read_text().splitlines() if line]


def _check(
    logged: list[str], reservations: dict[str, int], totals: tuple[int, int], stats: RuleStats
) -> None:
    assert len(logged) >= GRANTS_BEFORE_KILL
    assert set(logged) <= set(reservations), "an acknowledged grant lost its reservation"
    assert len(reservations) - len(set(logged)) in (0, 1)
    expected = (len(reservations), sum(reservations.values()))
    assert totals == expected, "counters are not exactly explained by the reservations"
    assert (stats.granted_count, stats.granted_amount) == expected


def _check_ledger(store: Store, reservations: dict[str, int]) -> None:
    """The ledger holds exactly one grant per reservation, and adds up to the statistics."""
    assert isinstance(store, LedgerStore)
    entries = list(store.ledger_page("rule-1", 0, 100_000))
    assert {e.payment_id: e.discount for e in entries} == reservations
    assert len(entries) == len(reservations)
    assert [e.seq for e in entries] == list(range(1, len(entries) + 1))
    summary, stats = store.ledger_summary("rule-1"), store.stats("rule-1")
    assert (summary.net_count, summary.net_amount) == (stats.granted_count, stats.granted_amount)


def test_sqlite_survives_kill_9(tmp_path: Path) -> None:
    spec = StoreSpec("sqlite", str(tmp_path / "kill9.db"))
    logged = _run_and_kill(spec, tmp_path / "granted.log")
    store = spec.open()  # opening recovers the WAL left by the killed process
    stats = store.stats("rule-1")
    with contextlib.closing(sqlite3.connect(spec.location)) as db:
        rows = db.execute("SELECT payment_id, amount, counters FROM reservations WHERE rule_id = 'rule-1'")
        reservations = {payment: amount for payment, amount, _ in rows}
        totals = db.execute(
            "SELECT count, amount FROM counters WHERE rule_id = 'rule-1' AND name = 'total'"
        ).fetchone()
        per_account = db.execute(
            "SELECT sum(count), sum(amount) FROM counters WHERE name LIKE 'per_account:%'"
        ).fetchone()
        assert db.execute("PRAGMA integrity_check").fetchone() == ("ok",)
    _check(logged, reservations, tuple(totals), stats)
    assert tuple(per_account) == tuple(totals)
    _check_ledger(store, reservations)
    store.close()


@pytest.mark.redis
def test_redis_loses_nothing_when_a_client_is_killed(tmp_path: Path, redis_server: RedisServer) -> None:
    import redis

    spec = StoreSpec("redis", redis_server.url, unique_prefix())
    spec.initialise()
    logged = _run_and_kill(spec, tmp_path / "granted.log")
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    tag = f"{{{spec.prefix}:rule-1}}"
    reservations = {}
    for key in client.scan_iter(match=f"{tag}:rec:r:*", count=1000):
        amount, keys = client.hget(key, "amount"), client.hget(key, "keys")
        assert amount is not None and keys is not None
        reservations[key.rsplit(":", 1)[1]] = int(amount)
        assert all(k.startswith(tag) for k in json.loads(keys))
    total_count, total_amount = client.hmget(f"{tag}:c:r:0:0:total", "count", "amount")
    assert total_count is not None and total_amount is not None
    store = spec.open()
    stats = store.stats("rule-1")
    client.close()
    _check(logged, reservations, (int(total_count), int(total_amount)), stats)
    _check_ledger(store, reservations)
    store.close()
