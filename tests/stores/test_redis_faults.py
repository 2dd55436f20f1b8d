"""RedisStore when Redis misbehaves: absent, stopped, frozen, or without its scripts.

Each test that breaks the server gets a private one, so the session's server stays healthy.
"""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator

import pytest

from graylib import StoreError
from graylib.stores import RedisStore, ReserveStatus, RuleStats
from tests.redis_server import RedisServer, free_port
from tests.store_kinds import unique_prefix
from tests.stores.support import assert_every_call_fails_fast, counter, request

pytestmark = pytest.mark.redis


@pytest.fixture
def private_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


def test_unreachable_redis_fails_fast_with_store_error() -> None:
    store = RedisStore(f"redis://127.0.0.1:{free_port()}/0", timeout=0.25)
    assert_every_call_fails_fast(store)
    store.close()


def test_a_frozen_redis_times_out_and_leaves_no_stale_reply(private_server: RedisServer) -> None:
    store = RedisStore(private_server.url, timeout=0.25, prefix=unique_prefix(), initialise=True)
    assert store.reserve(request(counter("total"), payment="before")).status is ReserveStatus.GRANTED
    pid = _server_pid(private_server)
    os.kill(pid, signal.SIGSTOP)
    try:
        started = time.monotonic()
        with pytest.raises(StoreError, match="Timeout"):
            store.stats("rule-1")
        assert time.monotonic() - started < 1.0
    finally:
        os.kill(pid, signal.SIGCONT)
    # The timed-out connection must not hand its late reply to the next call.
    assert store.reserve(request(counter("total"), payment="before")).status is ReserveStatus.REPLAYED
    assert store.stats("rule-1") == RuleStats(1, 1_000)
    store.close()


def test_store_recovers_by_itself_when_redis_returns_with_its_data() -> None:
    with RedisServer(extra_args=["--appendonly", "yes", "--appendfsync", "always"]) as server:
        store = RedisStore(server.url, timeout=0.25, prefix=unique_prefix(), initialise=True)
        assert store.reserve(request(counter("total", count=2))).status is ReserveStatus.GRANTED
        server.stop()
        with pytest.raises(StoreError):
            store.reserve(request(counter("total", count=2)))
        server.start()  # same port, data back from the append-only file, scripts not loaded
        assert store.reserve(request(counter("total", count=2))).status is ReserveStatus.GRANTED
        assert store.reserve(request(counter("total", count=2))).status is ReserveStatus.LIMIT_REACHED
        assert store.stats("rule-1") == RuleStats(2, 2_000)
        store.close()


def test_script_flush_is_handled(private_server: RedisServer) -> None:
    import redis

    store = RedisStore(private_server.url, prefix=unique_prefix(), initialise=True)
    assert store.reserve(request(counter("total"), payment="p-1")).status is ReserveStatus.GRANTED
    admin = redis.Redis.from_url(private_server.url)
    admin.script_flush()
    assert store.reserve(request(counter("total"))).status is ReserveStatus.GRANTED
    admin.script_flush()
    assert store.release("rule-1", "p-1", 0.0).released
    admin.close()
    store.close()


def _server_pid(server: RedisServer) -> int:
    import redis

    client = redis.Redis.from_url(server.url)
    pid = int(client.info("server")["process_id"])
    client.close()
    return pid
