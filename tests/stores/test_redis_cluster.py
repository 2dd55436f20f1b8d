"""RedisStore on a real three-node Redis Cluster: routing by slot, per-node scripts, faults of one node.

The shared store suites (conformance, races) run against the session's cluster too, with a prefix that puts
``rule-1``, ``rule-2`` and the kill-switch index on three different nodes; these tests cover what only a
cluster has.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from typing import Any

import pytest

from graylib import StoreError
from graylib.stores import KillSwitch, RedisStore, ReleaseResult, ReserveStatus, RuleStats, store_from_url
from tests.redis_cluster import LocalCluster
from tests.redis_server import free_port
from tests.store_kinds import cluster_prefix
from tests.stores.support import CLUSTER_RULES, T0, StoreSpec, assert_every_call_fails_fast, counter, request

pytestmark = pytest.mark.redis

GRANTED = ReserveStatus.GRANTED


@pytest.fixture
def spec(redis_cluster: LocalCluster) -> StoreSpec:
    return StoreSpec("redis-cluster", redis_cluster.url, cluster_prefix(redis_cluster))


@pytest.fixture
def store(spec: StoreSpec) -> Iterator[RedisStore]:
    store = RedisStore(spec.location, prefix=spec.prefix, timeout=2.0, initialise=True)
    yield store
    store.close()


@pytest.fixture
def private_cluster() -> Iterator[LocalCluster]:
    """A cluster of its own for a test that breaks it (the session's cluster stays healthy)."""
    cluster = LocalCluster()
    yield cluster
    cluster.close()


def _node_clients(cluster: LocalCluster) -> list[Any]:
    import redis

    return [redis.Redis(port=port, decode_responses=True) for port in cluster.ports]


def _rules_on_every_node(cluster: LocalCluster, prefix: str) -> dict[int, str]:
    """One rule id per node, by the node's port."""
    rules: dict[int, str] = {}
    for i in range(1_000):
        rule_id = f"rule-{i}"
        rules.setdefault(cluster.node_of_key(f"{prefix}:{rule_id}"), rule_id)
        if len(rules) == len(cluster.ports):
            return rules
    msg = "no rule ids cover every node"
    raise RuntimeError(msg)


def test_the_shared_suites_spread_their_rules_over_every_node(
    redis_cluster: LocalCluster, spec: StoreSpec
) -> None:
    nodes = [redis_cluster.node_of_key(f"{spec.prefix}:{rule_id}") for rule_id in CLUSTER_RULES]
    nodes.append(redis_cluster.node_of_key(spec.prefix))  # the slot of {prefix}:killed
    assert sorted(nodes) == sorted(redis_cluster.ports)


def test_each_rules_keys_live_on_the_node_that_owns_its_slot(
    redis_cluster: LocalCluster, store: RedisStore, spec: StoreSpec
) -> None:
    rules = _rules_on_every_node(redis_cluster, spec.prefix)
    for rule_id in rules.values():
        assert store.reserve(request(counter("total", count=5), rule_id=rule_id)).status is GRANTED
    for client, port in zip(_node_clients(redis_cluster), redis_cluster.ports, strict=True):
        # Every slot also holds its epoch marker ({prefix:epoch:N}); the rules' keys are the others.
        keys = [key for key in client.keys(f"{{{spec.prefix}:*") if ":epoch:" not in key]
        assert keys, f"node {port} holds no key of this test"
        assert {key.split("}")[0] for key in keys} == {f"{{{spec.prefix}:{rules[port]}"}
        client.close()


def test_one_evalsha_per_claim_across_the_cluster(redis_cluster: LocalCluster, store: RedisStore) -> None:
    clients = _node_clients(redis_cluster)

    def evalsha_calls() -> int:
        stats = [client.info("commandstats").get("cmdstat_evalsha", {"calls": 0}) for client in clients]
        return sum(int(stat["calls"]) for stat in stats)

    for rule_id in CLUSTER_RULES:  # loads the script where needed
        store.reserve(request(counter("total"), rule_id=rule_id))
    before = evalsha_calls()
    for i in range(10):
        limits = (counter("total"), counter("per_account:u-1", 60))
        result = store.reserve(request(*limits, rule_id=CLUSTER_RULES[i % 2], alarm_amount=10**9))
        assert result.status is GRANTED
    assert evalsha_calls() - before == 10
    for client in clients:
        client.close()


def test_kill_switches_are_listed_across_nodes(
    redis_cluster: LocalCluster, store: RedisStore, spec: StoreSpec
) -> None:
    rules = _rules_on_every_node(redis_cluster, spec.prefix)
    for i, rule_id in enumerate(sorted(rules.values())):
        store.kill(rule_id, f"stop {i}", T0 + i)
    assert store.kill_switches() == {
        rule_id: KillSwitch(rule_id, f"stop {i}", T0 + i) for i, rule_id in enumerate(sorted(rules.values()))
    }
    revived = rules[redis_cluster.ports[0]]
    assert store.revive(revived) is True
    assert set(store.kill_switches()) == set(rules.values()) - {revived}
    for rule_id in set(rules.values()) - {revived}:
        assert store.reserve(request(rule_id=rule_id)).status is ReserveStatus.KILLED
    assert store.reserve(request(rule_id=revived)).status is GRANTED


def test_claims_and_releases_survive_a_script_flush_on_every_node(
    redis_cluster: LocalCluster, store: RedisStore, spec: StoreSpec
) -> None:
    rules = _rules_on_every_node(redis_cluster, spec.prefix)
    total = counter("total", count=2)
    for rule_id in rules.values():
        assert store.reserve(request(total, rule_id=rule_id, payment="p-1")).status is GRANTED
    clients = _node_clients(redis_cluster)
    for client in clients:
        assert client.script_flush()
    for rule_id in rules.values():  # each node answers NOSCRIPT once and caches the script again
        assert store.reserve(request(total, rule_id=rule_id, payment="p-2")).status is GRANTED
        assert store.reserve(request(total, rule_id=rule_id)).status is ReserveStatus.LIMIT_REACHED
    sha = store._scripts["reserve.lua"].sha
    assert all(client.script_exists(sha) == [True] for client in clients)
    for client in clients:
        client.script_flush()
    for rule_id in rules.values():
        assert store.release(rule_id, "p-1", T0) == ReleaseResult(True, 1_000)
        assert store.stats(rule_id) == RuleStats(1, 1_000)
    for client in clients:
        client.close()


def test_urls_name_a_cluster_and_are_checked_without_connecting(redis_cluster: LocalCluster) -> None:
    seeds = ",".join(f"127.0.0.1:{port}" for port in redis_cluster.ports)
    for url in (f"redis+cluster://{seeds}", f"REDIS+CLUSTER://{seeds}/0"):
        store = store_from_url(url)
        assert isinstance(store, RedisStore)
        store.initialise()
        assert store.reserve(request(rule_id="via-url")).status is GRANTED
        store.close()
    # cluster=True with a single seed in a plain redis:// URL: the client learns the other nodes.
    store = RedisStore(f"redis://127.0.0.1:{redis_cluster.ports[-1]}", cluster=True)
    assert all(store.stats(rule_id) is not None for rule_id in ("a", "b", "c", "d"))
    store.close()
    for unreachable in ("redis+cluster://127.0.0.1:1", "rediss+cluster://[::1]:1,localhost"):
        assert isinstance(store_from_url(unreachable), RedisStore)  # built, not connected


@pytest.mark.parametrize(
    "url",
    [
        "redis+cluster://",
        "redis+cluster://127.0.0.1:1/2",
        "redis+cluster://127.0.0.1:notaport",
        "redis+cluster://127.0.0.1:1,",
        "redis+cluster://[::1",
        "redis+cluster://127.0.0.1:70000",
    ],
)
def test_a_bad_cluster_url_is_a_value_error(url: str) -> None:
    with pytest.raises(ValueError, match="RedisStore: bad"):
        RedisStore(url)


def test_an_unreachable_cluster_fails_fast_with_store_error() -> None:
    store = RedisStore(f"redis+cluster://127.0.0.1:{free_port()},127.0.0.1:{free_port()}", timeout=0.25)
    assert_every_call_fails_fast(store, match=r"RedisStore\('redis\+cluster://")
    store.close()


def test_a_store_built_before_the_cluster_starts_works_once_it_is_up(private_cluster: LocalCluster) -> None:
    store = RedisStore(private_cluster.url, timeout=0.25)
    with pytest.raises(StoreError):
        store.reserve(request(counter("total", count=1)))
    private_cluster.start()
    with pytest.raises(StoreError, match="never initialised"):  # a new cluster: nothing granted yet
        store.reserve(request(counter("total", count=1)))
    RedisStore(private_cluster.url).initialise()  # the operator's explicit first setup
    assert store.reserve(request(counter("total", count=1), payment="p-1")).status is GRANTED
    assert store.reserve(request(counter("total", count=1))).status is ReserveStatus.LIMIT_REACHED
    store.close()


def test_a_frozen_node_stops_only_its_own_rules_and_leaves_no_stale_reply(
    private_cluster: LocalCluster,
) -> None:
    private_cluster.start()
    store = RedisStore(private_cluster.url, timeout=0.25, initialise=True)
    rules = _rules_on_every_node(private_cluster, "graylib")
    frozen_port = private_cluster.ports[1]
    for rule_id in rules.values():
        assert store.reserve(request(rule_id=rule_id, payment="before")).status is GRANTED
    pid = int(_node_clients(private_cluster)[1].info("server")["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="Timeout"):
            store.reserve(request(rule_id=rules[frozen_port]))
        elapsed = time.monotonic() - started
        for port, rule_id in rules.items():
            if port != frozen_port:
                assert store.reserve(request(rule_id=rule_id)).status is GRANTED
    finally:
        os.kill(pid, signal.SIGCONT)
    assert elapsed < 1.0, elapsed
    private_cluster.wait_ok()
    # The timed-out connection must not hand its late reply to the next call.
    frozen_rule = rules[frozen_port]
    assert store.reserve(request(rule_id=frozen_rule, payment="before")).status is ReserveStatus.REPLAYED
    # The claim that timed out was still waiting in the node's socket: it ran, once, when the node woke.
    assert store.stats(frozen_rule) == RuleStats(2, 2_000)
    store.close()
