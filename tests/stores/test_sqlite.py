"""SQLiteStore specifics: schema, pragmas, purge, threads and fork."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import threading
import time
import warnings
from pathlib import Path

import pytest

from graylib import StoreError
from graylib.stores import ReserveStatus, RuleStats, SQLiteStore
from graylib.stores.sqlite import SCHEMA_VERSION
from tests.stores.support import T0, counter, request

GRANTED = ReserveStatus.GRANTED


def _pragma(path: Path, name: str) -> object:
    with contextlib.closing(sqlite3.connect(path)) as db:
        return db.execute(f"PRAGMA {name}").fetchone()[0]


def test_schema_is_versioned_in_wal_mode_and_created_once(tmp_path: Path) -> None:
    path = tmp_path / "s.db"
    SQLiteStore(path).close()
    SQLiteStore(path).close()
    assert _pragma(path, "user_version") == SCHEMA_VERSION
    assert _pragma(path, "journal_mode") == "wal"


def test_a_newer_schema_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "new.db"
    with contextlib.closing(sqlite3.connect(path)) as db:
        db.execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    with pytest.raises(StoreError, match="newer"):
        SQLiteStore(path)


@pytest.mark.parametrize(("durable", "level"), [(False, 1), (True, 2)])  # NORMAL = 1, FULL = 2
def test_durable_asks_for_synchronous_full(tmp_path: Path, durable: bool, level: int) -> None:
    store = SQLiteStore(tmp_path / "d.db", durable=durable)
    assert store._connection().execute("PRAGMA synchronous").fetchone()[0] == level
    store.close()


def test_expired_counters_and_old_records_are_purged(tmp_path: Path) -> None:
    path = tmp_path / "p.db"
    store = SQLiteStore(path, record_ttl=1_000)
    for i in range(50):
        assert (
            store.reserve(request(counter(f"per_account:u-{i}", 60), counter("total"), now=T0)).status
            is GRANTED
        )
    for late in ("late-1", "late-2"):  # each claim purges at most PURGE_BATCH (32) of each
        assert store.reserve(request(counter("total"), payment=late, now=T0 + 5_000)).status is GRANTED
    with contextlib.closing(sqlite3.connect(path)) as db:
        names = {row[0] for row in db.execute("SELECT name FROM counters WHERE namespace = 'real'")}
        payments = sorted(row[0] for row in db.execute("SELECT payment_id FROM reservations"))
    assert names == {"total"}
    assert payments == ["late-1", "late-2"]
    assert store.stats("rule-1") == RuleStats(52, 52_000)  # statistics are lifetime: never purged
    store.close()


def test_an_expired_record_counts_afresh(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "r.db", record_ttl=100)
    assert store.reserve(request(payment="p-1", now=T0)).status is GRANTED
    assert store.reserve(request(payment="p-1", now=T0 + 99)).status is ReserveStatus.REPLAYED
    assert not store.release("rule-1", "p-1", T0 + 101).released
    assert store.reserve(request(payment="p-1", fingerprint="new", now=T0 + 101)).status is GRANTED
    store.close()


def test_each_thread_has_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "t.db")
    seen = []

    def work() -> None:
        seen.append(store._connection())
        store.reserve(request(counter("total")))

    threads = [threading.Thread(target=work) for _ in range(3)]
    for thread in threads:
        thread.start()
        thread.join(timeout=10)
    assert len({id(db) for db in seen}) == 3
    store.reserve(request(counter("total")))
    assert len(store._connections) <= 2  # connections of finished threads were closed
    assert store.stats("rule-1") == RuleStats(4, 4_000)
    store.close()


def test_a_forked_child_opens_its_own_connection(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "f.db")
    assert store.reserve(request(counter("total"))).status is GRANTED
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # fork with threads alive (newer Pythons warn)
        pid = os.fork()
    if pid == 0:  # child: must not reuse the parent's connection
        code = 1
        try:
            ok = store.reserve(request(counter("total"))).status is GRANTED
            code = 0 if ok and store._connection() is not store._connections[0][2] else 1
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.reserve(request(counter("total"))).status is GRANTED
    assert store.stats("rule-1") == RuleStats(3, 3_000)
    store.close()


def test_a_child_forked_while_the_connection_list_is_locked_does_not_hang(tmp_path: Path) -> None:
    """Another thread of the parent may hold the lock at the fork; the child must not wait for it forever."""
    store = SQLiteStore(tmp_path / "f.db")
    store._lock.acquire()  # as if a thread were registering its connection at the moment of the fork
    try:
        pid = os.fork()
        if pid == 0:
            code = 1
            try:
                code = 0 if store.reserve(request(counter("total"))).status is GRANTED else 1
            finally:
                os._exit(code)
    finally:
        store._lock.release()
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        done, status = os.waitpid(pid, os.WNOHANG)
        if done:
            break
        time.sleep(0.05)
    else:
        os.kill(pid, signal.SIGKILL)
        os.waitpid(pid, 0)
        pytest.fail("the forked child hung on the connection-list lock")
    assert os.waitstatus_to_exitcode(status) == 0
    assert store.stats("rule-1") == RuleStats(1, 1_000)
    store.close()


@pytest.mark.parametrize("path", [":memory:", ""])
def test_a_database_private_to_each_connection_is_refused(path: str) -> None:
    # Every thread has its own connection: each would see its own empty database, without the schema.
    with pytest.raises(ValueError, match="MemoryStore"):
        SQLiteStore(path)


def test_a_store_dropped_without_close_closes_its_connections(tmp_path: Path) -> None:
    import gc

    store = SQLiteStore(tmp_path / "dropped.db")
    assert store.reserve(request(counter("total"))).status is GRANTED
    db = store._connection()
    del store
    gc.collect()
    with pytest.raises(sqlite3.ProgrammingError, match="closed"):
        db.execute("SELECT 1")


def test_a_version_2_file_gets_the_ledger_and_keeps_its_reservations(tmp_path: Path) -> None:
    from graylib.stores import LedgerStore

    path = tmp_path / "v2.db"
    SQLiteStore(path).close()
    with contextlib.closing(sqlite3.connect(path)) as db:  # back to what graylib wrote before the ledger
        for table in ("ledger", "ledger_origins", "ledger_rules"):
            db.execute(f"DROP TABLE {table}")
        db.execute("ALTER TABLE reservations DROP COLUMN grant_seq")
        db.execute(
            "INSERT INTO reservations VALUES ('rule-1', 0, 'old', 'fp', 'payload', 300, '[]', ?)", (T0,)
        )
        db.execute("INSERT INTO stats VALUES ('rule-1', 0, 1, 300)")
        db.execute("PRAGMA user_version = 2")
        db.commit()
    store = SQLiteStore(path)
    assert isinstance(store, LedgerStore)
    assert store.reserve(request(payment="new", now=T0)).status.value == "granted"
    assert store.release("rule-1", "old", T0 + 1).released
    entries = store.ledger_page("rule-1", 0, 10)
    assert [(e.kind, e.payment_id, e.discount) for e in entries] == [
        ("grant", "new", 1_000),
        ("release", "old", 300),
    ]
    store.close()
