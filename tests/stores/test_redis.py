"""RedisStore specifics: one round trip and one hash slot per claim, key lifetimes, the kill index."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from graylib import StoreError
from graylib.stores import RedisStore, ReserveStatus
from graylib.stores.redis import WINDOW_SLACK_MS
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix
from tests.stores.support import T0, counter, request

pytestmark = pytest.mark.redis


@pytest.fixture
def client(redis_server: RedisServer) -> Iterator[Any]:
    import redis

    client = redis.Redis.from_url(redis_server.url, decode_responses=True)
    yield client
    client.close()


@pytest.fixture
def store(redis_server: RedisServer) -> Iterator[RedisStore]:
    store = RedisStore(redis_server.url, prefix=unique_prefix(), record_ttl=3_600, initialise=True)
    yield store
    store.close()


def test_every_key_of_a_claim_and_a_release_is_in_one_cluster_slot(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    from redis.crc import key_slot

    seen: list[list[str]] = []
    run = store._run

    def spy(name: str, keys: list[str], args: Any) -> Any:
        seen.append(keys)
        return run(name, keys, args)

    monkeypatch.setattr(store, "_run", spy)
    counters = (counter("per_account:u-1}{x", 60), counter("per_ip:{1.2.3.4}", 3600), counter("total"))
    assert (
        store.reserve(request(*counters, rule_id="r{1}", payment="p-1", alarm_amount=10**9)).status.value
        == "granted"
    )
    assert store.release("r{1}", "p-1", T0).released
    assert len(seen) == 2
    # record, stats, epoch marker, ledger and every counter, declared
    assert len(seen[1]) == 4 + len(counters)
    # On a single Redis the one epoch marker lives in the prefix's slot; on a cluster each rule's scripts
    # read the marker of the rule's own slot (test_redis_cluster).
    marker = f"{{{store._prefix}}}:epoch"
    assert all(marker in keys for keys in seen)
    assert len({key_slot(key.encode()) for keys in seen for key in keys if key != marker}) == 1


def test_one_round_trip_per_claim(store: RedisStore, client: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    from redis.connection import Connection

    store.reserve(request(counter("total")))  # loads the script if needed
    sent: list[bytes] = []
    send: Callable[[Connection, Any, bool], None] = Connection.send_packed_command

    def spy(self: Connection, command: Any, check_health: bool = True) -> None:
        sent.append(b"".join(command) if isinstance(command, list) else command)
        send(self, command, check_health)

    evalsha = client.info("commandstats")["cmdstat_evalsha"]["calls"]
    monkeypatch.setattr(Connection, "send_packed_command", spy)
    for _ in range(10):
        store.reserve(request(counter("total"), counter("per_account:u-1", 60), alarm_amount=10**9))
    monkeypatch.undo()
    assert len(sent) == 10
    assert all(command.startswith(b"*") and b"EVALSHA" in command[:20] for command in sent)
    assert client.info("commandstats")["cmdstat_evalsha"]["calls"] - evalsha == 10


def test_windowed_keys_expire_after_their_window_lifetime_keys_never(store: RedisStore, client: Any) -> None:
    now = T0 + 15  # 45 s left in the minute
    store.reserve(
        request(counter("per_account:u-1", 60), counter("total"), payment="p-1", now=now, alarm_amount=10**9)
    )
    tag = f"{{{store._prefix}:rule-1}}"
    window_ttl = client.pttl(f"{tag}:c:r:60:{int(T0)}:per_account:u-1")
    assert 45_000 + WINDOW_SLACK_MS - 2_000 <= window_ttl <= 45_000 + WINDOW_SLACK_MS
    assert client.pttl(f"{tag}:c:r:0:0:total") == -1
    # The alarm's buckets: kept until the newest (T0 + 15, 1 s wide) has left the 60 s window, plus slack.
    assert 61_000 + WINDOW_SLACK_MS - 2_000 <= client.pttl(f"{tag}:alarm:60") <= 61_000 + WINDOW_SLACK_MS
    assert 3_590_000 < client.pttl(f"{tag}:rec:r:p-1") <= 3_600_000
    assert client.pttl(f"{tag}:stats") == -1


def test_the_kill_index_repairs_itself(store: RedisStore, client: Any) -> None:
    store.kill("rule-1", "stop", T0)
    client.delete(f"{{{store._prefix}}}:killed")  # as if the process died before indexing the switch
    assert store.kill_switches() == {}
    store._index_repaired.clear()
    assert store.reserve(request()).status is ReserveStatus.KILLED
    assert set(store.kill_switches()) == {"rule-1"}


def test_a_rule_id_whose_keys_could_be_another_rules_is_refused(store: RedisStore) -> None:
    # Rule "a}:rec:r:x" would keep its kill switch at rule "a"'s record key of payment "x}:kill".
    assert store.reserve(request(rule_id="a", payment="x}:kill")).status is ReserveStatus.GRANTED
    operations: list[Callable[[], object]] = [
        lambda: store.reserve(request(rule_id="a}:rec:r:x")),
        lambda: store.kill("a}:rec:r:x", "stop", T0),
        lambda: store.revive("a}:rec:r:x"),
        lambda: store.release("a}:rec:r:x", "p-1", T0),
        lambda: store.stats("a}:rec:r:x"),
    ]
    for operation in operations:
        with pytest.raises(StoreError, match=r"rule id 'a}:rec:r:x' contains '}:'"):
            operation()
    assert store.reserve(request(rule_id="a", payment="x}:kill")).status is ReserveStatus.REPLAYED
    # Braces elsewhere in a rule id are fine.
    assert store.reserve(request(rule_id="r{1}", payment="p:{2}")).status is ReserveStatus.GRANTED
