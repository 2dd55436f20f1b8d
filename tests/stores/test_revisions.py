"""Published revisions and fleet records: one meaning in every store (memory, SQLite, Redis, Cluster)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest

from graylib import ConflictError, StoreError
from graylib.stores import Instance, Revision, Store, TrustRecord
from tests.redis_cluster import LocalCluster
from tests.redis_server import RedisServer
from tests.store_kinds import cluster_prefix, unique_prefix
from tests.stores.support import T0, StoreSpec


@pytest.fixture(name="store")
def revisions_store(any_store_spec: StoreSpec) -> Iterator[Store]:
    """A fresh, empty store of every kind, sync and async (whose revision calls are the sync store's)."""
    opened = any_store_spec.open()
    yield opened
    opened.close()


HOSTILE = 'version = "v1"\n# "quotes", \\backslashes\\, {braces}:, 中文, emoji \U0001f600, NUL-free\n'


def revision(version: str = "v1", text: str | None = None, **fields: object) -> Revision:
    text = text if text is not None else f'version = "{version}"\n'
    return Revision(number=0, version=version, digest=f"digest-of-{text}", text=text, **fields)  # type: ignore[arg-type]


def instance(
    node: str = "n-1", *, pid: int = 100, last_seen: float = T0, revision: int | None = 1
) -> Instance:
    return Instance(
        cluster="sh-small",
        node=node,
        host="host-a",
        pid=pid,
        revision=revision,
        version="v1",
        digest="d",
        healthy=True,
        last_error="",
        last_seen=last_seen,
        heartbeat=5.0,
    )


def test_an_empty_store_has_no_revision(store: Store) -> None:
    assert store.head_revision() == 0
    assert store.revision(1) is None
    assert store.revisions() == []


def test_revisions_are_numbered_from_one_and_listed_newest_first(store: Store) -> None:
    first = store.append_revision(revision("v1", HOSTILE, author="li.wei", approvers=("a", "b")), 0)
    second = store.append_revision(revision("v2", note="MKT-1", rollback_of=None, published_at=T0), 1)
    assert (first.number, second.number) == (1, 2)
    assert store.head_revision() == 2
    assert [r.number for r in store.revisions()] == [2, 1]
    assert [r.number for r in store.revisions(limit=1)] == [2]
    kept = store.revision(1)
    assert kept == first
    assert kept is not None and kept.text == HOSTILE and kept.approvers == ("a", "b")
    assert store.revision(3) is None
    assert store.revision(0) is None


def test_a_publish_checked_against_an_old_head_changes_nothing(store: Store) -> None:
    store.append_revision(revision("v1"), 0)
    with pytest.raises(ConflictError, match="revision 1 was published meanwhile"):
        store.append_revision(revision("v2"), 0)
    assert store.head_revision() == 1
    assert store.revision(2) is None


def test_one_version_never_names_two_texts(store: Store) -> None:
    store.append_revision(revision("v1", 'version = "v1"\n'), 0)
    with pytest.raises(ConflictError, match=r"version 'v1' already names another text \(revision 1\)"):
        store.append_revision(revision("v1", 'version = "v1"\n# changed\n'), 1)
    assert store.head_revision() == 1
    store.append_revision(revision("v2"), 1)
    again = store.append_revision(revision("v1", 'version = "v1"\n', rollback_of=1), 2)  # the same text
    assert (again.number, again.rollback_of) == (3, 1)


def test_bad_revisions_are_refused_with_a_clear_error(store: Store) -> None:
    with pytest.raises(StoreError, match="its text is empty"):
        store.append_revision(revision("v1", "  "), 0)
    with pytest.raises(StoreError, match="format must be one of"):
        store.append_revision(revision("v1", format="ini"), 0)
    with pytest.raises(StoreError, match="expected must be a revision number"):
        store.append_revision(revision("v1"), -1)
    assert store.head_revision() == 0


def test_of_racing_publishes_exactly_one_wins(store_spec: StoreSpec) -> None:
    shared = store_spec.open() if store_spec.kind == "memory" else None
    stores = [shared or store_spec.open() for _ in range(8)]
    barrier = threading.Barrier(len(stores))
    outcomes: list[str] = []

    def race(i: int) -> None:
        barrier.wait()
        try:
            stores[i].append_revision(revision(f"v-{i}"), 0)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=race, args=(i,)) for i in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert stores[0].head_revision() == 1
    for opened in set(stores):
        opened.close()


def test_trust_files_are_numbered_kept_and_stored_by_compare_and_set(store: Store) -> None:
    assert (store.head_trust(), store.trust_record(1)) == (0, None)
    root = store.append_trust(TrustRecord(0, 1, "d1", HOSTILE, published_by="security"), 0)
    second = store.append_trust(TrustRecord(0, 2, "d2", "version = 2\n", signatures='{"a": 1}\n'), 1)
    assert (root.number, second.number, store.head_trust()) == (1, 2, 2)
    assert store.trust_record(1) == root and store.trust_record(2) == second
    assert store.trust_record(3) is None and store.trust_record(0) is None
    with pytest.raises(ConflictError, match="trust file 2 is in force in the store, not 1"):
        store.append_trust(TrustRecord(0, 3, "d3", "version = 3\n"), 1)
    with pytest.raises(StoreError, match="its version must be a positive integer"):
        store.append_trust(TrustRecord(0, 0, "d", "version = 0\n"), 2)
    assert store.head_trust() == 2
    assert store.head_revision() == 0  # trust files are not revisions


def test_fleet_records_are_listed_until_they_expire(store: Store) -> None:
    store.report_instance(instance("n-2", pid=2), ttl=30)
    store.report_instance(instance("n-1", pid=1), ttl=30)
    store.report_instance(instance("n-1", pid=1, revision=2, last_seen=T0 + 5), ttl=30)  # replaces its own
    listed = store.instances(T0 + 10)
    assert [(i.node, i.revision) for i in listed] == [("n-1", 2), ("n-2", 1)]
    assert [i.node for i in store.instances(T0 + 32)] == ["n-1"]  # n-2 expired at T0 + 30
    assert store.instances(T0 + 40) == []


def test_a_fleet_record_can_be_removed(store: Store) -> None:
    kept, gone = instance("n-1", pid=1), instance("n-2", pid=2)
    store.report_instance(kept, ttl=30)
    store.report_instance(gone, ttl=30)
    store.remove_instance(gone.key)
    store.remove_instance("no-such-record")
    assert [i.node for i in store.instances(T0 + 1)] == ["n-1"]


def test_hostile_identities_get_distinct_records(store: Store) -> None:
    names = ["a}:b", "a_:b", "{x}", "中文 node", "a" * 500]
    for pid, node in enumerate(names):
        store.report_instance(instance(node, pid=7), ttl=30)
        assert len(store.instances(T0 + 1)) == pid + 1
    assert sorted(i.node for i in store.instances(T0 + 1)) == sorted(names)


@pytest.mark.redis
def test_a_redis_store_that_lost_its_data_refuses_to_publish(redis_server: RedisServer) -> None:
    import redis

    spec = StoreSpec("redis", redis_server.url, unique_prefix())
    spec.initialise()
    store = spec.open()
    store.append_revision(revision("v1"), 0)
    client = redis.Redis.from_url(spec.location)
    for key in client.scan_iter(f"{{{spec.prefix}}}*"):
        client.delete(key)
    client.close()
    with pytest.raises(StoreError, match="lost its data"):
        store.append_revision(revision("v2"), 1)
    with pytest.raises(StoreError, match="lost its data"):
        store.head_revision()
    store.close()


@pytest.mark.redis
def test_redis_fleet_records_carry_a_ttl(redis_server: RedisServer) -> None:
    import redis

    spec = StoreSpec("redis", redis_server.url, unique_prefix())
    spec.initialise()
    store = spec.open()
    store.report_instance(instance(), ttl=30)
    client = redis.Redis.from_url(spec.location)
    keys = list(client.scan_iter(f"{{{spec.prefix}}}:fleet:*"))
    assert len(keys) == 1
    assert 0 < client.pttl(keys[0]) <= 30_000
    client.close()
    store.close()


def test_hostile_revision_fields_come_back_exactly(store: Store) -> None:
    odd = 'a lone \ud800 surrogate, a NUL \x00, "quotes", {tag}:, 中文'
    stored = store.append_revision(revision("v1", published_by=odd, note=odd, author=odd), 0)
    assert store.revision(1) == stored
    assert (stored.published_by, stored.note, stored.author) == (odd, odd, odd)


@pytest.mark.redis
def test_a_client_follows_a_revision_published_on_a_redis_cluster(
    redis_cluster: LocalCluster, tmp_path: Path
) -> None:
    import graylib
    from tests.fleet.support import rules_text, write

    spec = StoreSpec("redis-cluster", redis_cluster.url, cluster_prefix(redis_cluster))
    spec.initialise()
    store = spec.open()
    graylib.publish(store, write(tmp_path, "v1.toml", rules_text("smoke", "v1")))
    with graylib.Client.from_store(
        store, cluster="sh-small", node="sh-small-01", follow_interval=60
    ) as client:
        assert (client.config.version, client.status().revision) == ("v1", 1)
        graylib.publish(store, write(tmp_path, "v2.toml", rules_text("canary-node", "v2")))
        assert client.reload_now()
        assert (client.config.version, client.status().revision) == ("v2", 2)
        assert [(i.node, i.revision, i.behind) for i in graylib.fleet(store)] == [("sh-small-01", 2, False)]
        back = graylib.rollback(store)
        assert client.reload_now()
        assert (client.config.version, client.status().revision, back.rollback_of) == ("v1", 3, 1)
    assert graylib.fleet(store) == []
    store.close()
