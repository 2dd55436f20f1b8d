"""Clients following a store's published revision (SQLite files and a real redis-server): what they serve,
what they refuse, what they say when the store is gone, and what the fleet view shows."""

from __future__ import annotations

import contextlib
import logging
import sqlite3
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

import graylib
from graylib import Client, ConfigError, SQLiteStore, StoreError
from graylib.stores import RedisStore, Revision
from tests.fleet.support import rules_text, write
from tests.redis_server import RedisServer
from tests.store_kinds import unique_prefix

FAST = 0.05


def wait_for(condition: Callable[[], bool], timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.01)
    return condition()


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SQLiteStore]:
    opened = SQLiteStore(tmp_path / "graylib.db")
    yield opened
    opened.close()


def published(store: graylib.Store, tmp_path: Path, stage: str, version: str) -> Revision:
    return graylib.publish(store, write(tmp_path, f"{version}.toml", rules_text(stage, version)))


def test_a_following_client_serves_the_current_revision_and_says_so(
    store: SQLiteStore, tmp_path: Path
) -> None:
    published(store, tmp_path, "smoke", "v1")
    with Client.from_store(store, cluster="sh-small", node="sh-small-01", follow_interval=FAST) as client:
        status = client.status()
        assert (client.config.version, status.revision, status.served_from) == ("v1", 1, "source")
        assert status.source == f"sqlite:{store.path}"
        assert status.last_read_age is not None and status.last_read_age < 5
        assert status.healthy
        from graylib.cli._status import render_status

        assert f"revision 1 published in sqlite:{store.path}, store last read" in render_status(status)
        published(store, tmp_path, "canary-node", "v2")
        assert wait_for(lambda: client.config.version == "v2")
        assert client.status().revision == 2
        assert client.snapshot.digest == store.revision(2).digest  # type: ignore[union-attr]


def test_a_revision_the_policy_refuses_is_not_served(store: SQLiteStore, tmp_path: Path) -> None:
    """A revision written past ``publish`` (straight into the store) still meets every follower's checks."""
    one = published(store, tmp_path, "smoke", "v1")
    errors: list[Exception] = []
    with Client.from_store(
        store, cluster="sh-small", node="sh-small-01", follow_interval=FAST, on_reload_error=errors.append
    ) as client:
        skipping = rules_text("big-node", "v2")
        store.append_revision(Revision(0, "v2", graylib._compile.digest_text(skipping), skipping), one.number)
        assert wait_for(lambda: bool(errors))
        assert client.config.version == "v1"
        status = client.status()
        assert status.revision == 1 and not status.healthy
        assert "advances 3 steps" in status.last_reload_error


def test_a_rollback_reaches_the_follower_as_a_new_revision(store: SQLiteStore, tmp_path: Path) -> None:
    published(store, tmp_path, "smoke", "v1")
    published(store, tmp_path, "canary-node", "v2")
    with Client.from_store(store, cluster="sh-small", node="sh-small-01", follow_interval=FAST) as client:
        assert client.status().revision == 2
        graylib.rollback(store, by="oncall")
        assert wait_for(lambda: client.status().revision == 3)
        assert client.config.version == "v1"
        assert client.snapshot.digest == store.revision(1).digest  # type: ignore[union-attr]


def test_a_lower_revision_is_never_accepted(store: SQLiteStore, tmp_path: Path) -> None:
    published(store, tmp_path, "smoke", "v1")
    published(store, tmp_path, "canary-node", "v2")
    with Client.from_store(store, cluster="sh-small", node="sh-small-01", follow_interval=FAST) as client:
        # the store goes back to an older state (a restored copy); `db` commits, `closing` closes
        with contextlib.closing(sqlite3.connect(store.path)) as db, db:
            db.execute("DELETE FROM revisions WHERE number = 2")
        assert wait_for(lambda: "older than the served revision 2" in client.status().last_reload_error)
        assert client.config.version == "v2"
        assert client.status().revision == 2


def test_nothing_published_is_a_clear_start_up_error(store: SQLiteStore) -> None:
    with pytest.raises(ConfigError, match="nothing is published"):
        Client.from_store(store, cluster="sh-small", node="sh-small-01")


def test_from_store_refuses_what_is_not_a_store() -> None:
    with pytest.raises(TypeError, match="must be a graylib Store"):
        Client.from_store("redis://localhost:6379/0")  # type: ignore[arg-type]


def test_the_fleet_view_tells_which_node_serves_what(store: SQLiteStore, tmp_path: Path) -> None:
    published(store, tmp_path, "smoke", "v1")
    a = Client.from_store(store, cluster="sh-small", node="sh-small-01", follow_interval=FAST)
    b = Client.from_store(store, cluster="bj-big", node="bj-big-01", follow_interval=60)  # slow to follow
    view = graylib.fleet(store)
    assert [(i.cluster, i.node, i.revision, i.version, i.behind, i.healthy) for i in view] == [
        ("bj-big", "bj-big-01", 1, "v1", False, True),
        ("sh-small", "sh-small-01", 1, "v1", False, True),
    ]
    published(store, tmp_path, "canary-node", "v2")
    assert wait_for(lambda: [i.revision for i in graylib.fleet(store)] == [1, 2])
    view = graylib.fleet(store)
    assert [(i.node, i.behind, i.silent) for i in view] == [
        ("bj-big-01", True, False),
        ("sh-small-01", False, False),
    ]
    later = graylib.fleet(store, now=time.time() + 200)  # three heartbeats (5 s, 60 s) missed by both
    assert all(i.silent for i in later)
    b.close()  # a client that closes removes its record: a stopped process is not a silent one
    assert [i.node for i in graylib.fleet(store)] == ["sh-small-01"]
    a.close()
    assert graylib.fleet(store) == []


@pytest.mark.redis
def test_a_follower_that_loses_redis_keeps_its_version_and_says_so(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with RedisServer() as server:
        url, prefix = server.url, unique_prefix()
        admin = RedisStore(url, prefix=prefix, initialise=True)
        published(admin, tmp_path, "smoke", "v1")
        store = RedisStore(url, prefix=prefix, timeout=0.2)
        last_good = tmp_path / "last-good.toml"
        client = Client.from_store(
            store, cluster="sh-small", node="sh-small-01", follow_interval=FAST, last_good_path=last_good
        )
        assert last_good.read_text(encoding="utf-8") == rules_text("smoke", "v1")
        caplog.set_level(logging.WARNING, "graylib")
        server.stop()
        assert wait_for(lambda: not client.status().healthy)
        time.sleep(0.3)
        status = client.status()
        assert (status.version, status.revision) == ("v1", 1)
        assert "cannot read the current revision" in status.last_reload_error
        assert "RedisStore" in status.last_reload_error
        assert status.last_read_age is not None and status.last_read_age >= 0.3
        decision = client.evaluate(
            "appliance-subsidy",
            graylib.Context(
                account="qa-smoke-01", payment_type="online_purchase", amount=54_000, region="CN-31"
            ),
        )
        assert decision.rule_version == "v1"
        client.close()

        # A restart while the store is down serves the last good copy; without one, start-up says why.
        again = Client.from_store(
            RedisStore(url, prefix=prefix, timeout=0.2),
            cluster="sh-small",
            node="sh-small-01",
            follow_interval=FAST,
            last_good_path=last_good,
        )
        assert (again.config.version, again.status().served_from) == ("v1", "last_good")
        again.close()
        with pytest.raises(StoreError, match=r"cannot start.*no last good copy at"):
            Client.from_store(
                RedisStore(url, prefix=prefix, timeout=0.2),
                cluster="sh-small",
                node="sh-small-01",
                last_good_path=tmp_path / "none.toml",
            )


def test_a_fleet_record_that_cannot_be_written_is_retried_a_heartbeat_later(tmp_path: Path) -> None:
    from graylib._runtime._fleet import FleetReporter
    from graylib.stores import Instance, MemoryStore

    class Refusing(MemoryStore):
        attempts = 0

        def report_instance(self, instance: Instance, ttl: float) -> None:
            self.attempts += 1
            raise StoreError("RedisStore('redis://cache:6379/0').report_instance: ConnectionError")

    source = SQLiteStore(tmp_path / "graylib.db")
    published(source, tmp_path, "smoke", "v1")
    with Client.from_store(source, cluster="c", node="n", follow_interval=60) as client:
        assert client._follower is not None
        down = Refusing()
        reporter = FleetReporter(
            down,
            cluster="c",
            node="n",
            view=client._follower.view,
            stale=lambda: False,
            heartbeat=5.0,
            ttl=30,
        )
        assert reporter.beat() is False
        assert "ConnectionError" in reporter.last_error
        assert reporter.beat() is False  # not tried again within the heartbeat
        assert down.attempts == 1
        assert reporter.beat(force=True) is False  # a forced beat tries anyway
        assert down.attempts == 2
    source.close()
