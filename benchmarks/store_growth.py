"""How much each store grows per subject of a lifetime per-subject limit, and what purging costs a claim.

    python benchmarks/store_growth.py [--subjects 100000]

Each subject (an account) is granted once by a rule with ``per_account = { count = 1 }`` (no window: a
lifetime counter) and a lifetime ``total``: one counter and one idempotency record per subject. Measured:

- MemoryStore: ``tracemalloc`` bytes held after the claims, then after the records expired (counters only);
- SQLiteStore: the file's size after a checkpoint (``page_count * page_size``);
- RedisStore: the change of ``used_memory`` of a fresh redis-server (needs ``redis-server`` on PATH).

Then the rule is taken past its end plus ``ENDED_RETENTION`` and claims go on: each deletes at most
``PURGE_BATCH`` expired counters (and records), so the slowest claim while the backlog drains is reported
beside the median. Divide by the subjects and multiply by a million for the per-million figures in
docs/limits.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import attrs

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from graylib.stores import CounterSpec, MemoryStore, RedisStore, ReserveRequest, SQLiteStore, Store
from graylib.stores._common import ENDED_RETENTION, WINDOW_SLACK

T0 = 1_700_000_040.0
ENDS = T0 + 86_400.0
AFTER = ENDS + ENDED_RETENTION + WINDOW_SLACK + 1


def _request(i: int, now: float, ends_at: float) -> ReserveRequest:
    counters = (CounterSpec(f"per_account:acct-{i:08d}", 0, 1, None), CounterSpec("total", 0, None, None))
    return attrs.evolve(
        ReserveRequest("growth", f"pay-{i:08d}", "fp", 100, counters, "payload-of-about-60-bytes" * 2, now),
        ends_at=ends_at,
    )


def _fill(store: Store, subjects: int) -> float:
    started = time.perf_counter()
    for i in range(subjects):
        store.reserve(_request(i, T0 + i * 0.001, ENDS))
    return time.perf_counter() - started


def _drain(store: Store, claims: int) -> tuple[float, float]:
    """Claims after the rule's end plus retention (an extended rule): median and slowest, in ms."""
    times = []
    for i in range(claims):
        ask = _request(10**8 + i, AFTER + i * 0.001, AFTER + 86_400)
        started = time.perf_counter()
        store.reserve(ask)
        times.append((time.perf_counter() - started) * 1000)
    return statistics.median(times), max(times)


def memory(subjects: int) -> None:
    gc.collect()
    tracemalloc.start()
    store = MemoryStore(record_ttl=3_600)
    before = tracemalloc.get_traced_memory()[0]
    _fill(store, subjects)
    full = tracemalloc.get_traced_memory()[0] - before
    store.reserve(_request(-1, ENDS - 1, ENDS))  # records are an hour old now: they expire
    gc.collect()
    counters_only = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    median, slowest = _drain(store, subjects // 32 + 10)
    left = sum(len(t.counters) for t in store._tables.values())
    print(
        f"MemoryStore: {full / subjects:.0f} B/subject with records, {counters_only / subjects:.0f} B/subject"
        f" counters only; drain: median {median:.3f} ms, slowest {slowest:.3f} ms, counters left {left}"
    )


def sqlite(subjects: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "growth.db"
        store = SQLiteStore(path)
        empty = _file_bytes(store)
        elapsed = _fill(store, subjects)
        full = _file_bytes(store) - empty
        median, slowest = _drain(store, subjects // 32 + 10)
        after = _file_bytes(store) - empty
        print(
            f"SQLiteStore: {full / subjects:.0f} B/subject on disk ({elapsed / subjects * 1e6:.0f} us/claim);"
            f" drain: median {median:.3f} ms, slowest {slowest:.3f} ms; file after the drain"
            f" {after / subjects:.0f} B/subject (freed pages are reused, the file does not shrink)"
        )
        store.close()


def _file_bytes(store: SQLiteStore) -> int:
    db = store._connection()
    db.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    count, size = db.execute("PRAGMA page_count").fetchone()[0], db.execute("PRAGMA page_size").fetchone()[0]
    return int(count * size)


def redis(subjects: int) -> None:
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.redis_server import RedisServer

    with RedisServer() as server:
        store = RedisStore(server.url, initialise=True, timeout=5.0)
        client = store._client()
        before = int(client.info("memory")["used_memory"])
        # Now is real time for Redis TTLs: the rule ends in a day, like the others.
        now = time.time()
        for i in range(subjects):
            store.reserve(_request(i, now, now + 86_400))
        used = int(client.info("memory")["used_memory"]) - before
        keys = client.dbsize()
        ttl = client.pttl("{graylib:growth}:c:r:0:0:per_account:acct-00000000")
        print(
            f"RedisStore: {used / subjects:.0f} B/subject of used_memory, {keys} keys"
            f" (lifetime counter TTL {ttl / 86_400_000:.1f} days: the rule's end plus retention)"
        )
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--subjects", type=int, default=100_000)
    parser.add_argument("--stores", default="memory,sqlite,redis")
    args = parser.parse_args()
    print(f"{args.subjects} subjects, pid {os.getpid()}")
    for name in args.stores.split(","):
        {"memory": memory, "sqlite": sqlite, "redis": redis}[name](args.subjects)


if __name__ == "__main__":
    main()
