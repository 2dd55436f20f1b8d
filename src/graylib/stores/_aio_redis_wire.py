"""One pipelined asyncio connection to Redis for the claim script: many claims in flight, one socket.

``redis.asyncio`` takes a connection from its pool for each command and waits for the reply before the
connection serves another; its command path costs more client time than the script itself. A claim needs
none of that: ``ScriptPipe`` writes each ``EVALSHA`` (packed by ``_redis_wire.pack``, as the sync store
does) to one connection as soon as it is asked, and a reader task hands the replies, which Redis sends in
order, to the waiting claims in the same order. Claims from many tasks are thus pipelined: Redis sees a
stream of scripts, and the client pays no round trip per claim.

Faults: a reply that does not come within ``timeout`` seconds, a connection that breaks or closes, or a
reply that cannot be read puts the connection out of step, so it is closed and every claim waiting on it
fails (``redis.ConnectionError`` / ``redis.TimeoutError``: the store turns them into ``StoreError``, the
claims fail closed); the next claim opens a new connection. An error reply (``NOSCRIPT``, a script error)
fails only its own claim. Only plain ``redis://`` URLs over TCP are served this way (user, password and
database included); TLS and Unix sockets use ``redis.asyncio``. Like ``redis.asyncio`` connections, a
pipe belongs to the event loop that first used it.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
from typing import Any

from graylib.stores._redis_wire import pack

__all__ = ["ScriptPipe", "pipe_options"]


def pipe_options(url: str) -> dict[str, Any] | None:
    """``host``, ``port``, ``db``, ``username``, ``password`` of a plain ``redis://`` URL; None for others."""
    from redis import connection  # noqa: PLC0415 - the optional extra, checked by the store

    if not url.lower().startswith("redis://"):
        return None
    parse_url: Any = connection.parse_url  # untyped in redis-py
    options: dict[str, Any] = parse_url(url)
    if "path" in options or set(options) - {"host", "port", "db", "username", "password"}:
        return None
    return options


class _Reply:
    """An error reply of Redis, handed to the claim that sent the command."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text


class ScriptPipe:
    """Sends packed commands on one connection and awaits their replies in order (see the module)."""

    def __init__(self, options: dict[str, Any], timeout: float) -> None:
        import redis  # noqa: PLC0415 - the optional extra, checked by the store

        self._options = options
        self._timeout = timeout
        self._errors = redis.exceptions
        self._writer: asyncio.StreamWriter | None = None
        self._waiting: collections.deque[asyncio.Future[Any]] = collections.deque()
        self._reader_task: asyncio.Task[None] | None = None
        self._connecting: asyncio.Lock | None = None
        self._outgoing: list[bytes] = []
        """Commands asked for since the last flush: written together, once per turn of the loop."""

    async def call(self, parts: list[Any]) -> Any:
        """Send one command and return its reply (an error reply raises ``redis.ResponseError``)."""
        command = pack(parts)
        writer = self._writer
        if writer is None or writer.is_closing():
            writer = await self._connect()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[Any] = loop.create_future()
        waiting = self._waiting
        idle = not waiting
        waiting.append(future)
        if idle:  # nothing in flight: send at once, no batch to wait for
            writer.write(command)
            self._deadline(future)
        else:  # others are in flight: join this turn's batch, written in one go
            outgoing = self._outgoing
            if not outgoing:
                loop.call_soon(self._flush, writer)
            outgoing.append(command)
        reply = await future
        if isinstance(reply, _Reply):
            if reply.text.startswith("NOSCRIPT"):
                raise self._errors.NoScriptError(reply.text)
            raise self._errors.ResponseError(reply.text)
        return reply

    async def _connect(self) -> asyncio.StreamWriter:
        if self._connecting is None:
            self._connecting = asyncio.Lock()
        async with self._connecting:
            current = self._writer
            if current is not None and not current.is_closing():
                return current
            options = self._options
            try:
                reader, writer = await asyncio.wait_for(
                    asyncio.open_connection(options.get("host", "localhost"), options.get("port", 6379)),
                    self._timeout,
                )
            except asyncio.TimeoutError:
                msg = f"could not connect to Redis within {self._timeout:g} s"
                raise self._errors.TimeoutError(msg) from None
            except OSError as exc:
                raise self._errors.ConnectionError(f"could not connect to Redis: {exc}") from exc
            setup: list[list[Any]] = []
            if options.get("password") is not None:
                user = options.get("username")
                setup.append(["AUTH", *([user] if user else []), options["password"]])
            if options.get("db"):
                setup.append(["SELECT", options["db"]])
            try:
                for parts in setup:
                    writer.write(pack(parts))
                    reply = await asyncio.wait_for(_read(reader), self._timeout)
                    if isinstance(reply, _Reply):
                        raise self._errors.AuthenticationError(reply.text)
            except BaseException:
                writer.close()
                raise
            self._writer = connected = writer
            self._reader_task = asyncio.get_running_loop().create_task(
                self._read_replies(reader, connected), name="graylib-redis-replies"
            )
            return connected

    async def _read_replies(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        waiting = self._waiting
        try:
            while True:
                reply = await _read(reader)
                if not waiting:
                    raise self._errors.ConnectionError("a reply from Redis that no claim waits for")
                future = waiting.popleft()
                if not future.done():
                    future.set_result(reply)
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            error = (
                exc
                if isinstance(exc, self._errors.RedisError)
                else self._errors.ConnectionError(f"connection to Redis lost: {type(exc).__name__}: {exc}")
            )
            if self._writer is writer:
                self._broken(error)

    def _flush(self, writer: asyncio.StreamWriter) -> None:
        """Write every command asked for this turn in one go (one system call for many claims), and set
        the batch's deadline: its last reply comes last, so when that one is late, all of them are."""
        outgoing, self._outgoing = self._outgoing, []
        if outgoing and writer is self._writer:
            writer.write(b"".join(outgoing))
            self._deadline(self._waiting[-1])

    def _deadline(self, last: asyncio.Future[Any]) -> None:
        """Fail everything in flight when ``last`` (the latest command sent) has no reply in time."""
        timer = asyncio.get_running_loop().call_later(self._timeout, self._expire, last)
        # A reply (or a failure) ends the wait; a cancelled claim does not: the replies before its own
        # are still awaited by others, and the deadline stands for them.
        last.add_done_callback(lambda done: None if done.cancelled() else timer.cancel())

    def _expire(self, future: asyncio.Future[Any]) -> None:
        """A reply is late: the connection is out of step; every claim on it fails, this one too."""
        if future in self._waiting:  # its reply has not been read
            self._broken(self._errors.TimeoutError(f"no reply from Redis within {self._timeout:g} s"))

    def _broken(self, error: BaseException) -> None:
        """Close the connection (it is out of step) and fail every claim waiting on it."""
        writer, self._writer = self._writer, None
        task, self._reader_task = self._reader_task, None
        if writer is not None:
            writer.close()
        if task is not None and task is not asyncio.current_task():
            task.cancel()
        self._outgoing = []
        waiting, self._waiting = self._waiting, collections.deque()
        for future in waiting:
            if not future.done():
                future.set_exception(error)
                future.exception()  # retrieved here: a claim that timed out no longer awaits it

    async def close(self) -> None:
        writer = self._writer
        task = self._reader_task
        self._broken(self._errors.ConnectionError("the store was closed"))
        if task is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if writer is not None:
            with contextlib.suppress(Exception):
                await writer.wait_closed()


async def _read(reader: asyncio.StreamReader) -> Any:
    """One RESP2 reply, bulk strings decoded as UTF-8; an error reply as ``_Reply``."""
    line = await reader.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by Redis")
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        return (await reader.readexactly(size + 2))[:-2].decode("utf-8")
    if kind == b":":
        return int(rest)
    if kind == b"*":
        count = int(rest)
        if count < 0:
            return None
        return [await _read(reader) for _ in range(count)]
    if kind == b"+":
        return rest.decode("utf-8")
    if kind == b"-":
        return _Reply(rest.decode("utf-8", "replace"))
    raise ConnectionError(f"unreadable reply from Redis: {line[:40]!r}")
