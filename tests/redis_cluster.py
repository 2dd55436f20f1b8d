"""A real three-node Redis Cluster for tests: ``redis-server`` processes on loopback, joined by ``redis-cli``.

Usage::

    from tests.redis_cluster import LocalCluster

    with LocalCluster() as cluster:
        store = RedisStore(cluster.url)  # redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3

Each node is a ``RedisServer`` (no persistence, its own temporary directory) started with
``--cluster-enabled yes``; ``redis-cli --cluster create`` then spreads the 16,384 slots over the three
primaries (no replicas), and the cluster is ready once every node reports ``cluster_state:ok``.

``redis-cli`` is taken from ``$REDIS_CLI``, else ``PATH``, else next to the redis-server binary, else
``/usr/bin/redis-cli``. A missing binary is an error, not a skip, as for ``RedisServer``.
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import time
from pathlib import Path
from types import TracebackType

from typing_extensions import Self

from tests.redis_server import RedisServer, find_redis_server

__all__ = ["LocalCluster", "cluster_port", "find_redis_cli", "slot_of"]

_BUS_OFFSET = 10_000
"""A cluster node also listens on its port + 10,000 for the cluster bus (gossip between nodes)."""

SLOTS = 16_384


def find_redis_cli() -> str:
    """Path of the redis-cli binary; raises RuntimeError with install advice when there is none."""
    beside = Path(find_redis_server()).with_name("redis-cli")
    candidates = [os.environ.get("REDIS_CLI"), shutil.which("redis-cli"), str(beside), "/usr/bin/redis-cli"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    msg = (
        "redis-cli not found (looked at $REDIS_CLI, PATH, beside redis-server and /usr/bin/redis-cli); "
        "install it (apt-get install redis-server ships it) - the Redis Cluster tests must not be skipped"
    )
    raise RuntimeError(msg)


def _bindable(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def cluster_port(taken: set[int]) -> int:
    """A loopback port that is free, and whose cluster-bus port (port + 10,000) is free too."""
    rng = random.Random()
    for _ in range(1_000):
        port = rng.randrange(20_000, 65_535 - _BUS_OFFSET)
        if {port, port + _BUS_OFFSET} & taken:
            continue
        if _bindable(port) and _bindable(port + _BUS_OFFSET):
            return port
    msg = "no free pair of loopback ports (port, port + 10000) for a cluster node"
    raise RuntimeError(msg)


def slot_of(key: str) -> int:
    """The cluster slot of ``key`` (CRC16 of its hash tag, or of the whole key), as Redis computes it."""
    from redis.crc import key_slot

    slot: int = key_slot(key.encode("utf-8"))
    return slot


def _cluster_info(port: int, timeout: float = 1.0) -> bytes:
    """``CLUSTER INFO`` of one node as raw text, over a plain socket (a bulk-string reply)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as sock:
        sock.sendall(b"*2\r\n$7\r\nCLUSTER\r\n$4\r\nINFO\r\n")
        reply = b""
        while b"\r\n" not in reply:
            chunk = sock.recv(65_536)
            if not chunk:
                return reply
            reply += chunk
        header, _, body = reply.partition(b"\r\n")
        if not header.startswith(b"$"):
            return reply  # an error such as -LOADING
        size = int(header[1:])
        while len(body) < size:
            chunk = sock.recv(65_536)
            if not chunk:
                break
            body += chunk
        return body[:size]


class LocalCluster:
    """Three cluster-enabled redis-server primaries on loopback, with the slots spread over them."""

    def __init__(self, nodes: int = 3, node_timeout_ms: int = 5_000) -> None:
        self.cli = find_redis_cli()
        ports: set[int] = set()
        for _ in range(nodes):
            ports.add(cluster_port(ports | {p + _BUS_OFFSET for p in ports}))
        self.servers = [
            RedisServer(
                port,
                extra_args=[
                    "--cluster-enabled",
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-node-timeout",
                    str(node_timeout_ms),
                ],
            )
            for port in sorted(ports)
        ]
        self._started = False
        self._slots: list[tuple[int, int, int]] = []

    @property
    def ports(self) -> list[int]:
        return [server.port for server in self.servers]

    @property
    def url(self) -> str:
        """The seed URL of the whole cluster, every node listed: ``redis+cluster://host:port,...``."""
        return "redis+cluster://" + ",".join(f"127.0.0.1:{port}" for port in self.ports)

    def start(self, timeout: float = 20.0) -> None:
        """Start every node, create the cluster, wait until every node says ``cluster_state:ok``."""
        if self._started:
            return
        try:
            for server in self.servers:
                server.start()
            created = subprocess.run(
                [
                    self.cli,
                    "--cluster",
                    "create",
                    *(f"127.0.0.1:{port}" for port in self.ports),
                    "--cluster-replicas",
                    "0",
                    "--cluster-yes",
                ],
                capture_output=True,
                text=True,
                timeout=timeout,
                check=False,
            )
            if created.returncode != 0:
                output = created.stdout + created.stderr
                msg = f"redis-cli --cluster create failed ({created.returncode}):\n{output}"
                raise RuntimeError(msg)
            self.wait_ok(timeout)
        except BaseException:
            self.close()
            raise
        self._started = True

    def wait_ok(self, timeout: float = 20.0) -> None:
        """Wait until every node reports ``cluster_state:ok`` (it may take a moment after a change)."""
        deadline = time.monotonic() + timeout
        while True:
            states = {port: self.info(port) for port in self.ports}
            if all(b"cluster_state:ok" in state for state in states.values()):
                return
            if time.monotonic() > deadline:
                msg = f"the cluster did not reach cluster_state:ok within {timeout} s: {states}"
                raise RuntimeError(msg)
            time.sleep(0.05)

    def info(self, port: int) -> bytes:
        """The raw ``CLUSTER INFO`` reply of one node (empty when it does not answer)."""
        try:
            return _cluster_info(port)
        except OSError:
            return b""

    def node_of_slot(self, slot: int) -> int:
        """The port of the primary that owns ``slot``, as the cluster itself reports (CLUSTER SLOTS)."""
        if not self._slots:
            import redis

            client = redis.Redis(port=self.ports[0], decode_responses=True)
            try:
                reply = client.cluster("SLOTS")  # CLUSTER SLOTS (typed, unlike execute_command)
            finally:
                client.close()
            self._slots = sorted((int(r[0]), int(r[1]), int(r[2][1])) for r in reply)
        for start, end, port in self._slots:
            if start <= slot <= end:
                return port
        msg = f"slot {slot} is not covered"
        raise RuntimeError(msg)

    def node_of_key(self, key: str) -> int:
        """The port of the primary that owns ``key``'s slot."""
        return self.node_of_slot(slot_of(key))

    def close(self) -> None:
        for server in self.servers:
            server.close()
        self._started = False

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.close()
