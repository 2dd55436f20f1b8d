"""A real ``redis-server`` for tests and benchmarks: started on a free loopback port in a temporary directory.

The one launcher of the repository: the tests use it, and so does ``benchmarks/run.py``, which runs from the
repository root with that root on ``sys.path`` and imports it as ``tests.redis_server``. It therefore needs
no test framework (no pytest import), and is not packaged: it is tooling of this repository, as
the tests and the benchmarks are. Any test module can use it::

    from tests.redis_server import RedisServer

    with RedisServer() as server:
        store = RedisStore(server.url)

The binary is taken from ``$REDIS_SERVER``, else ``redis-server`` on ``PATH``, else
``/usr/bin/redis-server``. A missing binary is an error (``RuntimeError``), not a skip: the Redis tests
must run in CI. The benchmark catches that error and reports its Redis cases as skipped instead.
"""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from types import TracebackType

from typing_extensions import Self

__all__ = ["RedisServer", "find_redis_server", "free_port"]


def find_redis_server() -> str:
    """Path of the redis-server binary; raises RuntimeError with install advice when there is none."""
    candidates = [os.environ.get("REDIS_SERVER"), shutil.which("redis-server"), "/usr/bin/redis-server"]
    for candidate in candidates:
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    msg = (
        "redis-server not found (looked at $REDIS_SERVER, PATH and /usr/bin/redis-server); "
        "install it (apt-get install redis-server) - the Redis store tests must not be skipped"
    )
    raise RuntimeError(msg)


def free_port() -> int:
    """A loopback TCP port that was free a moment ago (bind to port 0, read it, release it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class RedisServer:
    """One redis-server process without persistence; ``stop`` and ``start`` again keep the same port.

    ``extra_args`` go to redis-server after the defaults (a cluster node adds ``--cluster-enabled yes``).
    """

    def __init__(self, port: int | None = None, extra_args: Sequence[str] = ()) -> None:
        self.binary = find_redis_server()
        self.port = port or free_port()
        self.extra_args = tuple(extra_args)
        self._dir = Path(tempfile.mkdtemp(prefix="graylib-redis-"))
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self, timeout: float = 10.0) -> None:
        """Start the server and wait until it answers PING."""
        if self._process is not None:
            return
        log = (self._dir / "redis.log").open("ab")
        self._process = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self._dir),
                "--protected-mode",
                "no",
                *self.extra_args,
            ],
            stdout=log,
            stderr=subprocess.STDOUT,
            cwd=self._dir,
        )
        log.close()
        deadline = time.monotonic() + timeout
        while not self.ping():
            if self._process.poll() is not None or time.monotonic() > deadline:
                output = (self._dir / "redis.log").read_text(errors="replace")
                self.stop()
                msg = f"redis-server on port {self.port} did not start:\n{output}"
                raise RuntimeError(msg)
            time.sleep(0.02)

    def ping(self) -> bool:
        """True when the server answers PING (a raw RESP exchange, no client library needed)."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                # A server started with --requirepass answers NOAUTH: it is up all the same.
                return sock.recv(16).startswith((b"+PONG", b"-NOAUTH"))
        except OSError:
            return False

    def stop(self) -> None:
        """Terminate the server (SIGTERM, then SIGKILL) and wait for it."""
        process, self._process = self._process, None
        if process is None:
            return
        process.terminate()
        try:
            process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=5)

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self._dir, ignore_errors=True)

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


class PasswordRedisServer(RedisServer):
    """A redis-server with ``requirepass password``; its readiness probe authenticates first."""

    def __init__(self, password: str, port: int | None = None) -> None:
        super().__init__(port, extra_args=["--requirepass", password])
        self.password = password

    def ping(self) -> bool:
        """True when the server answers AUTH and then PING."""
        try:
            with socket.create_connection(("127.0.0.1", self.port), timeout=0.5) as sock:
                sock.sendall(f"AUTH {self.password}\r\nPING\r\n".encode())
                reply = b""
                while reply.count(b"\r\n") < 2:
                    chunk = sock.recv(64)
                    if not chunk:
                        return False
                    reply += chunk
                return reply == b"+OK\r\n+PONG\r\n"
        except OSError:
            return False
