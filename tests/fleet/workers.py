"""Processes of the fleet tests: a following client that reports what it serves, and a racing publisher.

``python -m tests.fleet.workers follow URL PREFIX CLUSTER NODE INTERVAL`` prints ``ready N`` once serving
revision N, then ``served N VERSION T`` (T: time.time() at the swap) after every new revision, until its
standard input closes.
"""

from __future__ import annotations

import sys
from typing import Any

import graylib
from graylib._publish import commit, prepare
from graylib.stores import RedisStore


def follow(url: str, prefix: str, cluster: str, node: str, interval: float) -> None:
    import time

    store = RedisStore(url, prefix=prefix, timeout=2.0)
    holder: dict[str, graylib.Client] = {}

    def served(snapshot: object) -> None:
        now = time.time()
        client = holder["client"]
        follower = client._follower
        assert follower is not None
        print(f"served {follower.served_revision} {client.config.version} {now!r}", flush=True)

    client = graylib.Client.from_store(
        store, cluster=cluster, node=node, follow_interval=interval, on_reload=served
    )
    holder["client"] = client
    print(f"ready {client.status().revision}", flush=True)
    sys.stdin.read()  # until the test closes our standard input
    client.close()
    store.close()


def publish_racer(url: str, prefix: str, path: str, go: Any, results: Any) -> None:
    """Check ``path`` against the current revision, wait for ``go``, then try to publish it."""
    store = RedisStore(url, prefix=prefix, timeout=2.0)
    prepared = prepare(store, path)
    results.put(("ready",))
    go.wait(30)
    try:
        revision = commit(store, prepared, by=path)
        results.put((path, [("won", revision.number, path)]))
    except graylib.ConflictError as exc:
        results.put((path, [("lost", str(exc), path)]))
    store.close()


if __name__ == "__main__":
    command, *rest = sys.argv[1:]
    assert command == "follow"
    follow(rest[0], rest[1], rest[2], rest[3], float(rest[4]))
