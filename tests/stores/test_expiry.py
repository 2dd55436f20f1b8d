"""What a rule that has ended no longer needs goes away, and no claim pays for a large purge.

Lifetime per-subject counters (``per_account`` without a window) used to be kept forever: a million
accounts cost a million Redis keys without TTL, over a gigabyte in a MemoryStore, and a SQLite file that
only grew. They now go ``ENDED_RETENTION`` after the rule's ``ends_at``; each claim deletes at most
``PURGE_BATCH`` expired entries.
"""

from __future__ import annotations

import itertools
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from graylib.stores import MemoryStore, RedisStore, ReserveStatus, SQLiteStore, Store
from graylib.stores._common import ENDED_RETENTION, PURGE_BATCH, WINDOW_SLACK
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import T0, counter, request

GRANTED = ReserveStatus.GRANTED
ENDS = T0 + 3_600.0
"""The rule ends an hour after T0."""
GONE = ENDS + ENDED_RETENTION + WINDOW_SLACK + 1


def _claim(store: Store, account: str, *, now: float = T0, ends_at: float | None = ENDS) -> ReserveStatus:
    ask = msgspec.structs.replace(
        request(counter(f"per_account:{account}", count=1), now=now), ends_at=ends_at
    )
    return store.reserve(ask).status


def _local_stores(tmp_path: Path) -> Iterator[Store]:
    yield MemoryStore()
    yield SQLiteStore(tmp_path / "expiry.db")


def _lifetime_counters(store: Store) -> int:
    if isinstance(store, MemoryStore):
        return sum(len(t.counters) for t in store._tables.values())
    assert isinstance(store, SQLiteStore)
    with sqlite3.connect(store.path) as db:
        count: int = db.execute("SELECT count(*) FROM counters WHERE window_seconds = 0").fetchone()[0]
    db.close()
    return count


@pytest.mark.parametrize("kind", [0, 1])
def test_lifetime_counters_of_an_ended_rule_go_after_the_retention(tmp_path: Path, kind: int) -> None:
    store = list(_local_stores(tmp_path))[kind]
    for i in range(10):
        assert _claim(store, f"u-{i}") is GRANTED
    assert _claim(store, "u-0") is ReserveStatus.LIMIT_REACHED
    assert _claim(store, "x", ends_at=None) is GRANTED  # claimed while the rule had no end: kept for good
    # Still within the retention after the end: every count is kept (a rule extended now keeps them).
    assert _claim(store, "u-0", now=ENDS + ENDED_RETENTION - 10) is ReserveStatus.LIMIT_REACHED
    assert _lifetime_counters(store) == 11
    # Past it: the counters of the ended rule go (those whose last claim said it had no end stay). The
    # claim that notices comes from the rule extended meanwhile (a client refuses claims past the end).
    assert _claim(store, "late", now=GONE, ends_at=GONE) is GRANTED
    assert _lifetime_counters(store) == 2
    store.close()


@pytest.mark.parametrize("kind", [0, 1])
def test_a_claim_purges_at_most_one_small_batch(tmp_path: Path, kind: int) -> None:
    store = list(_local_stores(tmp_path))[kind]
    backlog = 5 * PURGE_BATCH
    for i in range(backlog):
        assert _claim(store, f"u-{i}") is GRANTED
    left = [_lifetime_counters(store)]
    for i in range(6):
        assert _claim(store, f"after-{i}", now=GONE + i, ends_at=GONE) is GRANTED
        left.append(_lifetime_counters(store))
    # each claim adds its own counter and removes at most PURGE_BATCH expired ones, until none are left
    steps = [before - after for before, after in itertools.pairwise(left)]
    assert all(step <= PURGE_BATCH - 1 for step in steps), steps
    assert left[-1] == 6
    store.close()


@pytest.fixture
def redis_store(redis_server: RedisServer) -> Iterator[tuple[RedisStore, Any]]:
    import redis

    store = RedisStore(redis_server.url, prefix=unique_prefix(), initialise=True)
    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield store, client
    store.close()
    client.close()


@pytest.mark.redis
def test_redis_lifetime_keys_expire_with_their_rules_end(redis_store: tuple[RedisStore, Any]) -> None:
    store, client = redis_store
    now = time.time()
    ends = now + 100 - ENDED_RETENTION  # the key should live about 100 s more
    assert _claim(store, "u-1", now=now, ends_at=ends) is GRANTED
    key = f"{{{store._prefix}:rule-1}}:c:r:0:0:per_account:u-1"
    assert 95_000 < client.pttl(key) <= 100_000
    # The rule's end moved later: the latest claim's end wins, even for a counter that is full.
    assert _claim(store, "u-1", now=now, ends_at=ends + 1_000) is ReserveStatus.LIMIT_REACHED
    assert 1_095_000 < client.pttl(key) <= 1_100_000
    # The end was removed: kept for good again.
    assert _claim(store, "u-1", now=now, ends_at=None) is ReserveStatus.LIMIT_REACHED
    assert client.pttl(key) == -1


@pytest.mark.parametrize("kind", [0, 1])
def test_a_full_counter_follows_its_rules_new_end(tmp_path: Path, kind: int) -> None:
    """A rule extended while an account's lifetime limit is full must not forget that account."""
    store = list(_local_stores(tmp_path))[kind]
    assert _claim(store, "u-1") is GRANTED
    extended = ENDS + 2 * ENDED_RETENTION
    assert _claim(store, "u-1", now=ENDS - 1, ends_at=extended) is ReserveStatus.LIMIT_REACHED
    assert _claim(store, "other", now=GONE, ends_at=extended) is GRANTED  # past the old end's retention
    assert _claim(store, "u-1", now=GONE + 1, ends_at=extended) is ReserveStatus.LIMIT_REACHED
    store.close()


def test_memory_records_expire_in_small_batches_and_expired_ones_are_never_replayed() -> None:
    store = MemoryStore(record_ttl=100)
    for i in range(5 * PURGE_BATCH):
        assert store.reserve(request(payment=f"p-{i}", now=T0)).status is GRANTED
    assert store.reserve(request(payment="new", now=T0 + 100)).status is GRANTED
    assert len(store._records) == 5 * PURGE_BATCH + 1 - PURGE_BATCH  # one batch, not the whole backlog
    # Records past their age that are still held count afresh, as in the other stores.
    assert store.reserve(request(payment="p-100", now=T0 + 100)).status is GRANTED
    assert not store.release("rule-1", "p-101", T0 + 100).released
    store.close()
