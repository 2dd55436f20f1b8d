"""A client cut off from its store must not obey an old kill view forever: past ``kill_max_stale`` it fails
closed, reports itself unhealthy, and recovers by itself once the store answers again."""

from __future__ import annotations

import math
import os
import signal
import time
from collections.abc import Callable, Iterator, Mapping

import pytest

from graylib import Client, Context, MemoryStore, Reason, RedisStore
from graylib.stores import KillSwitch
from tests.helpers import make_config
from tests.redis_server import RedisServer

CTX = Context(account="u-1", payment_type="online_purchase", amount=54_000)


def _wait_for(check: Callable[[], bool], timeout: float = 10.0) -> float:
    """Seconds until ``check()`` held; fails the test when it never does within ``timeout``."""
    start = time.monotonic()
    while not check():
        if time.monotonic() - start > timeout:
            pytest.fail(f"condition not met within {timeout} s")
        time.sleep(0.02)
    return time.monotonic() - start


class _Partitioned(MemoryStore):
    """A MemoryStore whose kill switches cannot be read while ``cut`` is set; everything else works."""

    def __init__(self) -> None:
        super().__init__()
        self.cut = False

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        if self.cut:
            msg = "connection refused"
            raise ConnectionError(msg)
        return super().kill_switches()


@pytest.fixture(name="server")
def server_fixture() -> Iterator[RedisServer]:
    # Persistent, so that a stopped server comes back with its data (an empty one is lost data: see stores).
    with RedisServer(extra_args=["--appendonly", "yes"]) as server:
        yield server


def _pid(server: RedisServer) -> int:
    process = server._process
    assert process is not None
    return process.pid


@pytest.mark.parametrize("how", ["frozen", "stopped"])
def test_a_client_cut_off_from_redis_fails_closed_then_recovers(server: RedisServer, how: str) -> None:
    store = RedisStore(server.url, initialise=True)
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.1, kill_max_stale=0.6)
    try:
        assert client.evaluate("subsidy", CTX).applies  # starts the watcher
        assert client.status().healthy
        cut_at = time.monotonic()
        if how == "frozen":
            os.kill(_pid(server), signal.SIGSTOP)
        else:
            server.stop()
        _wait_for(lambda: client.evaluate("subsidy", CTX).reason is Reason.ERROR)
        waited = time.monotonic() - cut_at
        assert waited >= 0.6  # the last view is kept for kill_max_stale...
        assert waited < 0.6 + 0.1 + 2.0  # ...and not much longer (one refresh, one store timeout, slack)
        decision = client.evaluate("subsidy", CTX)
        assert not decision.applies
        assert decision.detail.startswith("kill switches unknown: not read from the store for")
        assert "kill_max_stale=0.6" in decision.detail
        assert client.evaluate_all(CTX)["subsidy"].reason is Reason.ERROR
        assert client.claim("subsidy", CTX).reason is Reason.ERROR
        assert client.kill_switches_stale
        status = client.status()
        assert status.kill_switches_stale and not status.healthy and status.kill_switch_error
        assert status.to_dict()["healthy"] is False
        if how == "frozen":
            os.kill(_pid(server), signal.SIGCONT)
        else:
            server.start()
        _wait_for(lambda: client.evaluate("subsidy", CTX).applies)
        assert not client.kill_switches_stale
        assert client.status().healthy
    finally:
        if how == "frozen" and server._process is not None:
            os.kill(_pid(server), signal.SIGCONT)
        client.close()
        store.close()


def test_a_kill_set_during_a_partition_is_not_granted_past_the_bound() -> None:
    """The scenario that matters: another client kills the rule while this one cannot see the store."""
    store = _Partitioned()
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0.05, kill_max_stale=0.3)
    try:
        assert client.evaluate("subsidy", CTX).applies
        store.cut = True
        store.kill("subsidy", "bad discount", time.time())  # this client cannot read it
        waited = _wait_for(lambda: not client.evaluate("subsidy", CTX).applies)
        assert waited < 2.0
        for decision in (
            client.evaluate("subsidy", CTX),
            client.claim("subsidy", Context(account="u-1", payment_type="online_purchase", amount=54_000)),
            client.claim(
                "subsidy",
                Context(account="u-1", payment_type="online_purchase", amount=54_000, payment_id="p-1"),
            ),
        ):
            assert (decision.applies, decision.reason) == (False, Reason.ERROR)
            assert "kill switches unknown" in decision.detail
        assert store.stats("subsidy").granted_count == 0  # the reservation was never asked for
        store.cut = False
        _wait_for(lambda: client.evaluate("subsidy", CTX).reason is Reason.KILLED)
    finally:
        client.close()


def test_without_a_watcher_thread_staleness_is_judged_per_call() -> None:
    store = _Partitioned()
    client = Client(make_config(), cluster="sh-small", store=store, kill_refresh=0, kill_max_stale=0.2)
    assert client.evaluate("subsidy", CTX).applies
    store.cut = True
    assert client.evaluate("subsidy", CTX).applies  # within the bound: the last view still holds
    time.sleep(0.25)
    assert client.evaluate("subsidy", CTX).reason is Reason.ERROR
    store.cut = False
    assert client.evaluate("subsidy", CTX).applies
    client.close()


def test_the_default_bound_is_a_few_seconds_and_follows_a_slow_refresh() -> None:
    assert Client(make_config())._kills.max_stale == 5.0
    assert Client(make_config(), kill_refresh=10)._kills.max_stale == 30.0
    assert Client(make_config(), kill_max_stale=math.inf)._kills.max_stale == math.inf


@pytest.mark.parametrize("bad", [0, -1, "5", True, float("nan")])
def test_a_bad_bound_is_refused(bad: object) -> None:
    with pytest.raises(ValueError, match=r"kill_max_stale"):
        Client(make_config(), kill_max_stale=bad)  # type: ignore[arg-type]


def test_from_file_takes_the_bound(tmp_path: os.PathLike[str]) -> None:
    import json
    from pathlib import Path

    path = Path(tmp_path) / "rules.json"
    path.write_text(json.dumps(make_config()))
    store = _Partitioned()
    client = Client.from_file(path, cluster="sh-small", store=store, kill_refresh=0, kill_max_stale=0.1)
    assert client.evaluate("subsidy", CTX).applies
    store.cut = True
    time.sleep(0.15)
    assert client.evaluate("subsidy", CTX).reason is Reason.ERROR
    client.close()
