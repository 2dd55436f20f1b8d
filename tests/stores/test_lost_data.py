"""A store that lost its data refuses to grant until an operator re-initialises it.

A Redis restarted without persistence, flushed, or failed over to a replica that never had the data would
otherwise grant every budget again and forget every kill switch: a killed rule would apply again. An
explicit ``initialise`` writes an epoch marker; every claim and release checks it inside its script, and
the kill-switch listing reads it in the same pipeline. SQLite keeps its epoch in the file.
"""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graylib import Client, Reason, StoreError
from graylib.stores import RedisStore, ReserveStatus, SQLiteStore, Store
from tests.claims_support import CLUSTER, RULE, limited_config, payment
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import CLUSTER_RULES, StoreSpec, counter, request

GRANTED = ReserveStatus.GRANTED
ONE = counter("total", count=1)


@pytest.fixture
def private_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def _admin(server: RedisServer) -> Any:
    import redis

    return redis.Redis.from_url(server.url, decode_responses=True)


def _spend_and_kill(store: Store) -> None:
    """Use up rule-1's one-payment budget and kill rule-2."""
    assert store.reserve(request(ONE, payment="first")).status is GRANTED
    assert store.reserve(request(ONE)).status is ReserveStatus.LIMIT_REACHED
    store.kill("rule-2", "runaway", 0.0)
    assert set(store.kill_switches()) == {"rule-2"}


def _assert_refuses(store: Store, match: str) -> None:
    with pytest.raises(StoreError, match=match):
        store.reserve(request(ONE))
    with pytest.raises(StoreError, match=match):
        store.reserve(request(rule_id="rule-2"))
    with pytest.raises(StoreError, match=match):
        store.release("rule-1", "first", 0.0)
    with pytest.raises(StoreError, match=match):
        store.kill_switches()


@pytest.mark.redis
@pytest.mark.parametrize("how", ["flushall", "restart"])
def test_a_redis_that_lost_its_data_refuses_until_reinitialised(
    private_server: RedisServer, how: str
) -> None:
    prefix = unique_prefix()
    store = RedisStore(private_server.url, prefix=prefix, initialise=True)
    _spend_and_kill(store)
    if how == "flushall":
        admin = _admin(private_server)
        admin.flushall()
        admin.close()
    else:  # no persistence: it comes back empty
        private_server.stop()
        private_server.start()
    # Before: the whole budget again, and rule-2's kill switch forgotten.
    _assert_refuses(store, "lost its data")
    # A process started now cannot tell a new Redis from a flushed one: it refuses too.
    newcomer = RedisStore(private_server.url, prefix=prefix)
    _assert_refuses(newcomer, "never initialised, or it lost its data")
    # The operator re-initialises explicitly; processes started afterwards work on the new store.
    epoch = RedisStore(private_server.url, prefix=prefix).initialise()
    assert newcomer.reserve(request(ONE)).status is GRANTED
    assert newcomer.kill_switches() == {}
    # The instance that saw the old data still refuses: it must be restarted.
    _assert_refuses(store, f"initialised again \\(epoch .* -> {epoch}\\)")
    assert store.initialise() == epoch  # calling it again keeps the epoch...
    assert store.reserve(request(ONE)).status is ReserveStatus.LIMIT_REACHED  # ...and adopts it
    store.close()
    newcomer.close()


@pytest.mark.redis
def test_a_redis_that_was_never_initialised_grants_nothing(private_server: RedisServer) -> None:
    store = RedisStore(private_server.url, prefix=unique_prefix())
    _assert_refuses(store, "never initialised")
    store.kill("rule-1", "set before the first setup", 0.0)  # killing is always allowed
    first = store.initialise()
    assert store.initialise() == first
    assert store.reserve(request(ONE)).status is ReserveStatus.KILLED
    store.close()


@pytest.mark.redis
def test_a_redis_that_lost_its_data_makes_claims_answer_error(private_server: RedisServer) -> None:
    store = RedisStore(private_server.url, prefix=unique_prefix(), initialise=True, timeout=1.0)
    c = Client(limited_config({"total": {"count": 1}}), cluster=CLUSTER, store=store, kill_refresh=0)
    assert c.claim(RULE, payment("p-1")).applies
    admin = _admin(private_server)
    admin.flushall()
    admin.close()
    decision = c.claim(RULE, payment("p-2"))
    assert (decision.applies, decision.reason) == (False, Reason.ERROR)
    assert "lost its data" in decision.detail
    c.close()
    store.close()


@pytest.mark.redis
def test_a_cluster_shard_that_lost_its_data_stops_its_rules(redis_cluster: LocalCluster) -> None:
    import redis

    from tests.store_kinds import cluster_prefix

    spec = StoreSpec("redis-cluster", redis_cluster.url, cluster_prefix(redis_cluster))
    spec.initialise()
    store = spec.open()
    lost, kept = CLUSTER_RULES
    for rule_id in CLUSTER_RULES:
        assert store.reserve(request(ONE, rule_id=rule_id, payment="first")).status is GRANTED
    store.kill(lost, "stopped before the shard lost it", 0.0)
    # The shard owning `lost` loses everything of this prefix (as a primary restarted empty would).
    node = redis.Redis(port=redis_cluster.node_of_key(f"{spec.prefix}:{lost}"), decode_responses=True)
    doomed = list(node.scan_iter(match=f"*{spec.prefix}*", count=1000))
    assert doomed
    for key in doomed:  # one by one: they live in many slots
        node.delete(key)
    node.close()
    with pytest.raises(StoreError, match="lost its data"):
        store.reserve(request(ONE, rule_id=lost))
    with pytest.raises(StoreError, match="lost its data"):
        store.release(lost, "first", 0.0)
    with pytest.raises(StoreError, match="lost its data"):  # the index still names the lost switch
        store.kill_switches()
    assert store.reserve(request(ONE, rule_id=kept)).status is ReserveStatus.LIMIT_REACHED
    # The operator re-initialises: a new epoch everywhere, so every instance that saw the old one stops.
    epoch = spec.open().initialise()
    with pytest.raises(StoreError, match=f"-> {epoch}"):
        store.reserve(request(ONE, rule_id=kept))
    fresh = spec.open()
    assert fresh.reserve(request(ONE, rule_id=lost)).status is GRANTED
    store.close()
    fresh.close()


def test_a_sqlite_file_overwritten_in_place_by_another_database_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    store = SQLiteStore(path)
    _spend_and_kill(store)
    other = SQLiteStore(tmp_path / "other.db")  # an empty database of its own, e.g. a fresh install
    other.close()
    with sqlite3.connect(path) as admin:  # a quiet moment: every commit is in the main file
        admin.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    admin.close()
    shutil.copyfile(tmp_path / "other.db", path)  # same inode, other content: `cp other.db graylib.db`
    _assert_refuses(store, "lost its data")
    store.close()


def test_a_sqlite_file_emptied_in_place_fails_closed(tmp_path: Path) -> None:
    path = tmp_path / "graylib.db"
    store = SQLiteStore(path)
    _spend_and_kill(store)
    with sqlite3.connect(path) as admin:  # what a careless cleanup script could do
        for table in ("counters", "reservations", "kill_switches", "stats", "meta"):
            admin.execute(f"DROP TABLE {table}")
    admin.close()
    _assert_refuses(store, "lost its data")
    store.close()


def test_every_store_initialises_idempotently(store: Store) -> None:
    epoch = store.initialise()
    assert isinstance(epoch, str) and epoch
    assert store.initialise() == epoch
    assert store.reserve(request(ONE)).status is GRANTED
