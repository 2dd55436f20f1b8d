"""Running a Lua script on a redis-py connection with as little client work as possible.

A claim is one EVALSHA with some thirty arguments. redis-py's generic command path packs each argument
through its encoder (about 17 µs for such a call here) and adds pool, retry and observability bookkeeping
around it; packing the RESP array directly costs about 6 µs. Since a claim's cost in the client is what
bounds the claims per second of one process, ``ScriptRunner`` packs the command itself and uses redis-py
only for what it does well: the connection pool, sockets with timeouts, reconnecting and parsing replies.

Failure handling mirrors redis-py's: a connection that failed is disconnected (so a late reply can never
be read by the next command), one retry on a fresh connection when the failure was a broken connection
(e.g. a pooled socket that Redis closed when it restarted), no retry after a timeout. A script that Redis
does not know (restart, ``SCRIPT FLUSH``) is loaded and run again.

On a Redis Cluster the script must reach the primary that owns its keys' slot and follow redirections
when slots move: ``ClusterScriptRunner`` leaves that to redis-py's cluster client and its command path.
"""

from __future__ import annotations

import hashlib
import inspect
from collections.abc import Callable, Sequence
from typing import Any

__all__ = ["ClusterScriptRunner", "ScriptRunner", "pack"]


def pack(parts: Sequence[str | int | bytes]) -> bytes:
    """One command as a RESP array of bulk strings.

    A claim's command is all ASCII text and integers (its keys and arguments as graylib builds them), so
    it is assembled as one text and encoded once, about a third faster than encoding each part; a part
    that is not plain ASCII text, an ``int`` or ASCII bytes sends the whole command the general way.
    """
    out = [f"*{len(parts)}\r\n"]
    append = out.append
    for part in parts:
        if isinstance(part, str) and type(part) is str and part.isascii():
            append(f"${len(part)}\r\n{part}\r\n")
        elif isinstance(part, int) and type(part) is int:
            text = str(part)
            append(f"${len(text)}\r\n{text}\r\n")
        elif isinstance(part, bytes) and part.isascii():
            text = part.decode("ascii")
            append(f"${len(text)}\r\n{text}\r\n")
        else:
            return _pack_any(parts)
    return "".join(out).encode("ascii")


def _pack_any(parts: Sequence[str | int | bytes]) -> bytes:
    """``pack`` for any parts: each encoded as UTF-8 (a lone surrogate raises ``UnicodeEncodeError``)."""
    out = [b"*%d\r\n" % len(parts)]
    for part in parts:
        data = part if isinstance(part, bytes) else str(part).encode("utf-8")
        out.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(out)


class ScriptRunner:
    """EVALSHA of one script through a redis-py client's connection pool."""

    def __init__(self, client: Any, source: str) -> None:
        import redis  # noqa: PLC0415 - only reached from RedisStore, which checked the import

        self._client = client
        self._pool = client.connection_pool
        self._source = source
        self._sha = hashlib.sha1(source.encode("utf-8")).hexdigest()
        self._sha_bytes = self._sha.encode("ascii")
        self._broken: type[BaseException] = redis.ConnectionError
        self._clean: type[BaseException] = redis.ResponseError
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError
        # redis-py < 5.3 requires a command name; later versions deprecate passing one.
        parameter = inspect.signature(self._pool.get_connection).parameters.get("command_name")
        self._wants_name = parameter is not None and parameter.default is inspect.Parameter.empty

    @property
    def sha(self) -> str:
        return self._sha

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        command = pack([b"EVALSHA", self._sha_bytes, len(keys), *keys, *args])
        try:
            return self._send(command)
        except self._no_script:
            self._client.script_load(self._source)
            return self._send(command)

    def _send(self, command: bytes) -> Any:
        for attempt in (1, 2):
            connection = (
                self._pool.get_connection("EVALSHA") if self._wants_name else self._pool.get_connection()
            )
            try:
                connection.send_packed_command([command])
                return connection.read_response()
            except self._clean:
                raise  # Redis answered with an error: the connection is in step
            except self._broken:
                connection.disconnect()
                if attempt == 2:
                    raise
            except BaseException:
                connection.disconnect()  # timeout or interrupt: a reply may still be on its way
                raise
            finally:
                self._pool.release(connection)
        msg = "unreachable"
        raise AssertionError(msg)


class ClusterScriptRunner:
    """EVALSHA of one script through a redis-py ``RedisCluster``, which routes it by the first key's slot.

    Redis keeps scripts per node, so a node that never saw the script (a new primary after a failover, a
    ``SCRIPT FLUSH``, a restart) answers ``NOSCRIPT``; the call is then made once with ``EVAL``, which runs
    the script and leaves it cached on that node. ``connect`` returns the cluster client (it may build it).
    """

    def __init__(self, connect: Callable[[], Any], source: str) -> None:
        import redis  # noqa: PLC0415 - only reached from RedisStore, which checked the import

        self._connect = connect
        self._source = source
        self._sha = hashlib.sha1(source.encode("utf-8")).hexdigest()
        self._no_script: type[BaseException] = redis.exceptions.NoScriptError

    @property
    def sha(self) -> str:
        return self._sha

    def __call__(self, keys: Sequence[str], args: Sequence[str | int]) -> Any:
        client = self._connect()
        try:
            return client.execute_command("EVALSHA", self._sha, len(keys), *keys, *args)
        except self._no_script:
            return client.execute_command("EVAL", self._source, len(keys), *keys, *args)
