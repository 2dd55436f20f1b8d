"""A fleet of 20 following processes on a real redis-server: a publish reaches all of them (and how fast),
a refused publish reaches none, a rollback reaches all as a new revision, of two racing publishes exactly
one wins, and ``graylib fleet`` tells exactly which node serves what. Also measured: the store load that
following adds per process."""

from __future__ import annotations

import queue
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import IO

import pytest
import redis

import graylib
from graylib import PolicyError
from graylib.cli import main
from graylib.stores import RedisStore
from tests.fleet.support import rules_text, write
from tests.fleet.workers import publish_racer
from tests.redis_server import RedisServer
from tests.stores.support import race_in_processes

ROOT = Path(__file__).resolve().parents[2]
FOLLOWERS = 20
INTERVAL = 1.0
TARGET = 2.0
"""Seconds within which a publish must be served by every follower (DESIGN §11)."""

pytestmark = [pytest.mark.redis, pytest.mark.slow]


class Fleet:
    """Follower processes and the lines they print, gathered by one reader thread each."""

    def __init__(self, url: str, prefix: str) -> None:
        self.lines: queue.Queue[tuple[str, str]] = queue.Queue()
        self.processes: dict[str, subprocess.Popen[str]] = {}
        self.readers: list[threading.Thread] = []
        for i in range(FOLLOWERS):
            cluster = "sh-small" if i < FOLLOWERS // 2 else "bj-big"
            node = f"{cluster}-{i:02d}"
            argv = [sys.executable, "-m", "tests.fleet.workers", "follow", url, prefix, cluster, node, "1.0"]
            process = subprocess.Popen(
                argv, cwd=ROOT, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True
            )
            self.processes[node] = process
            assert process.stdout is not None
            reader = threading.Thread(target=self._read, args=(node, process.stdout), daemon=True)
            reader.start()
            self.readers.append(reader)

    def _read(self, node: str, out: IO[str]) -> None:
        for line in out:
            self.lines.put((node, line.strip()))

    def gather(self, prefix: str, count: int, timeout: float) -> dict[str, str]:
        """The first line starting with ``prefix`` from ``count`` distinct nodes, by node."""
        got: dict[str, str] = {}
        deadline = time.monotonic() + timeout
        while len(got) < count:
            try:
                node, line = self.lines.get(timeout=max(deadline - time.monotonic(), 0.01))
            except queue.Empty:
                missing = sorted(set(self.processes) - set(got))
                pytest.fail(f"no {prefix!r} line from {missing} within {timeout}s; got {got}")
            assert line.startswith(prefix), (node, line)
            got[node] = line
        return got

    def quiet(self, seconds: float) -> list[tuple[str, str]]:
        time.sleep(seconds)
        out = []
        while not self.lines.empty():
            out.append(self.lines.get())
        return out

    def close(self) -> None:
        for process in self.processes.values():
            if process.stdin is not None:
                process.stdin.close()
        for process in self.processes.values():
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        for thread in self.readers:
            thread.join(timeout=5)
        for process in self.processes.values():
            if process.stdout is not None:
                process.stdout.close()


@pytest.fixture
def server() -> Iterator[RedisServer]:
    """A redis-server of this test's own: the command line reaches the default key prefix only."""
    with RedisServer() as started:
        yield started


@pytest.fixture
def setup(server: RedisServer, tmp_path: Path) -> Iterator[tuple[RedisStore, str, Fleet]]:
    prefix = "graylib"
    store = RedisStore(server.url, prefix=prefix, initialise=True, timeout=2.0)
    graylib.publish(store, write(tmp_path, "v1.toml", rules_text("smoke", "v1")), by="li.wei")
    fleet = Fleet(server.url, prefix)
    try:
        ready = fleet.gather("ready", FOLLOWERS, timeout=120)
        assert set(ready.values()) == {"ready 1"}
        yield store, prefix, fleet
    finally:
        fleet.close()
        store.close()


def served_within(fleet: Fleet, revision: int, version: str, published_at: float) -> list[float]:
    lines = fleet.gather("served", FOLLOWERS, timeout=30)
    latencies = []
    for node, line in sorted(lines.items()):
        _, number, served_version, at = line.split()
        assert (int(number), served_version) == (revision, version), node
        latencies.append(float(at) - published_at)
    return latencies


def test_publishing_to_twenty_following_processes(
    setup: tuple[RedisStore, str, Fleet],
    server: RedisServer,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    store, prefix, fleet = setup
    url = server.url

    # The load following adds: commands per follower per second over a quiet window.
    admin = redis.Redis.from_url(url, decode_responses=True)
    before = admin.info("commandstats")
    quiet = 10.0
    assert fleet.quiet(quiet) == []
    after = admin.info("commandstats")
    calls = {
        name.removeprefix("cmdstat_"): after[name]["calls"] - before.get(name, {"calls": 0})["calls"]
        for name in after
    }
    per_follower = {k: round(v / FOLLOWERS / quiet, 2) for k, v in sorted(calls.items()) if v}
    admin.close()

    # A refused publish reaches nobody.
    unapproved = write(tmp_path, "v2-unapproved.toml", rules_text("canary-node", "v2", approved=False))
    with pytest.raises(PolicyError):
        graylib.publish(store, unapproved)
    assert fleet.quiet(2 * INTERVAL + 0.5) == []
    assert {(n.revision, n.behind) for n in graylib.fleet(store)} == {(1, False)}

    # A publish reaches all twenty, each within the target.
    published = graylib.publish(store, write(tmp_path, "v2.toml", rules_text("canary-node", "v2")))
    latencies = served_within(fleet, 2, "v2", published.published_at)
    # Each process writes its record right after the swap it just reported.
    deadline = time.monotonic() + 5
    while {n.revision for n in graylib.fleet(store)} != {2} and time.monotonic() < deadline:
        time.sleep(0.05)
    view = graylib.fleet(store)
    assert len(view) == FOLLOWERS
    assert sorted(n.node for n in view) == sorted(fleet.processes)
    assert {(n.revision, n.version, n.behind, n.silent, n.healthy) for n in view} == {
        (2, "v2", False, False, True)
    }
    assert {n.pid for n in view} == {p.pid for p in fleet.processes.values()}
    assert main(["fleet", "--store", url]) == 0
    out = capsys.readouterr().out
    assert f"current revision: 2; {FOLLOWERS} following clients" in out
    for node, process in fleet.processes.items():
        assert f":{process.pid}  revision 2 (version v2)" in next(
            line for line in out.splitlines() if node in line
        )

    # A rollback reaches all twenty as a new revision.
    back = graylib.rollback(store, by="oncall")
    assert (back.number, back.rollback_of) == (3, 1)
    rollback_latencies = served_within(fleet, 3, "v1", back.published_at)

    # Two publishes race from two processes, each checked against revision 3: exactly one wins.
    paths = [
        write(tmp_path, "race-a.toml", rules_text("canary-node", "v4-a")),
        write(tmp_path, "race-b.toml", rules_text("smoke", "v4-b", note="b")),
    ]
    outcomes = race_in_processes(
        publish_racer,
        lambda i, go, results: ((url, prefix, paths[i], go, results), {}),
        2,
    )
    won = [o for o in outcomes if o[0] == "won"]
    lost = [o for o in outcomes if o[0] == "lost"]
    assert len(won) == 1 and len(lost) == 1, outcomes
    assert won[0][1] == 4 and "revision 4 was published meanwhile" in lost[0][1]
    winner = "v4-a" if won[0][2] == paths[0] else "v4-b"
    served_within(fleet, 4, winner, store.revision(4).published_at)  # type: ignore[union-attr]
    assert store.head_revision() == 4

    worst, rollback_worst = max(latencies), max(rollback_latencies)
    print(
        f"\npublish -> served by {FOLLOWERS} processes (follow_interval={INTERVAL}): "
        f"median {sorted(latencies)[FOLLOWERS // 2]:.3f}s, max {worst:.3f}s;"
        f" rollback max {rollback_worst:.3f}s"
        f"\nredis commands per follower per second: {per_follower}"
    )
    assert worst <= TARGET, latencies
    assert rollback_worst <= TARGET, rollback_latencies
