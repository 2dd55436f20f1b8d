"""``AsyncRedisStore``: the ``RedisStore`` scripts, sent through ``redis.asyncio``.

A claim is the same single ``EVALSHA`` of ``reserve.lua`` as ``RedisStore.reserve`` sends, with the same
keys and arguments (built by ``RedisStore._reserve_command``) and the same reading of the answer
(``RedisStore._reserve_result``); a release is the same pipelined read of the records and the epoch marker
followed by ``release.lua``. Only the round trips differ: the scripts go out on one pipelined connection
(``_aio_redis_wire.ScriptPipe``: the claims of many tasks in flight at once, replies matched in order)
for a plain ``redis://`` URL, or through ``redis.asyncio`` (TLS, Unix sockets); the release's reads
through ``redis.asyncio``. A script Redis does not know (a restart, a
``SCRIPT FLUSH``) is loaded and run again.

The calls that are rare and not on the payment path (``kill_switches``, read by the client's refresh
task every second or so; ``kill``, ``revive``, ``stats``, ``initialise``; the ledger's reads and the
published revisions) run the sync store's own code in a worker thread (``asyncio.to_thread``): the loop
never waits on them, and their logic (the kill index, the epoch markers of every slot) exists once.

A Redis Cluster is not supported here yet: ``redis+cluster://`` URLs and ``cluster=True`` are refused.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from graylib.stores._aio_ledger import AsyncLedgerRevisions
from graylib.stores._aio_redis_wire import ScriptPipe, pipe_options
from graylib.stores._protocol import KillSwitch, ReleaseResult, ReserveRequest, ReserveResult, RuleStats
from graylib.stores._redis_connect import CLUSTER_SCHEMES, bad_url
from graylib.stores.redis import _RELEASE_ATTEMPTS, RedisStore, _script

__all__ = ["AsyncRedisStore"]

T = TypeVar("T")


class AsyncRedisStore(AsyncLedgerRevisions):
    """Counters, records, kill switches and statistics in one Redis, awaited (``redis://``, ``rediss://``).

    ``timeout``, ``prefix`` and ``record_ttl`` mean what they mean for ``RedisStore``; the keys are the
    same, so an ``AsyncRedisStore`` and a ``RedisStore`` with one URL and prefix share every limit, record
    and kill switch. ``max_connections`` bounds the pool: claims beyond it wait for a connection, at most
    ``pool_timeout`` seconds (then ``StoreError``: the claim fails closed). Needs the ``graylib[redis]``
    extra.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 0.25,
        prefix: str = "graylib",
        record_ttl: float | None = None,
        max_connections: int = 64,
        pool_timeout: float = 1.0,
        initialise: bool = False,
    ) -> None:
        if url.partition(":")[0].lower() in CLUSTER_SCHEMES:
            msg = (
                "AsyncRedisStore: Redis Cluster is not supported; use RedisStore (in a thread) for a cluster"
            )
            raise ValueError(msg)
        options: dict[str, Any] = {} if record_ttl is None else {"record_ttl": record_ttl}
        self._sync = RedisStore(url, timeout=timeout, prefix=prefix, **options)
        from redis import asyncio as redis_asyncio  # noqa: PLC0415 - the optional extra, checked above
        from redis.exceptions import NoScriptError  # noqa: PLC0415

        try:
            # A blocking pool: a claim beyond ``max_connections`` in flight waits (up to ``pool_timeout``)
            # for a connection instead of failing.
            pool = redis_asyncio.BlockingConnectionPool.from_url(
                url,
                max_connections=max_connections,
                timeout=pool_timeout,
                socket_timeout=timeout,
                socket_connect_timeout=timeout,
                health_check_interval=0,
                decode_responses=True,
            )
        except ValueError as exc:
            raise bad_url(
                f"AsyncRedisStore: bad URL {self._sync._shown!r}", exc, self._sync._secrets
            ) from None
        self._redis: Any = redis_asyncio.Redis(connection_pool=pool)
        self._no_script: type[BaseException] = NoScriptError
        pipe_at = pipe_options(url)
        self._pipe = ScriptPipe(pipe_at, timeout) if pipe_at is not None else None
        self._scripts = {name: _script(name) for name in ("reserve.lua", "release.lua")}
        self._shas = {
            name: hashlib.sha1(text.encode("utf-8")).hexdigest() for name, text in self._scripts.items()
        }
        self._url = url  # shown redacted by log lines (``describe_store``)
        if initialise:
            self._sync.initialise()

    @property
    def sync(self) -> RedisStore:
        """The ``RedisStore`` of the same URL and prefix (its calls block: use it from a thread)."""
        return self._sync

    # -- the payment path: native round trips ---------------------------------------------------------

    async def reserve(self, request: ReserveRequest) -> ReserveResult:
        store = self._sync
        tag = store._tag(request.rule_id, "reserve")
        epoch = await self._epoch(store._marker(tag), "reserve")
        keys, args = store._reserve_command(request, tag, epoch)
        reply = await self._run("reserve.lua", keys, args)
        result, index = store._reserve_result(request, reply, epoch)
        if index is not None:
            await asyncio.to_thread(store._index, request.rule_id, force=index)
        return result

    async def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        store = self._sync
        tag = store._tag(rule_id, "release")
        marker = store._marker(tag)
        epoch = await self._epoch(marker, "release")
        records = store._release_records(tag, payment_id)
        for _ in range(_RELEASE_ATTEMPTS):
            try:
                pipe = self._redis.pipeline(transaction=False)
                for key in records:
                    pipe.hget(key, "keys")
                pipe.get(marker)
                found = store._release_found(await pipe.execute(), tag, payment_id, epoch, now)
            except store._errors as exc:
                raise store._store_error("release", exc) from exc
            if isinstance(found, ReleaseResult):
                return found
            result = store._release_result(await self._run("release.lua", *found), epoch)
            if result is not None:
                return result
        raise store._release_kept_changing(payment_id)

    # -- administrative calls: the sync store's code, in a worker thread ----------------------------

    async def kill(self, rule_id: str, reason: str, now: float) -> None:
        await self._in_thread(self._sync.kill, rule_id, reason, now)

    async def revive(self, rule_id: str) -> bool:
        return await self._in_thread(self._sync.revive, rule_id)

    async def kill_switches(self) -> Mapping[str, KillSwitch]:
        return await self._in_thread(self._sync.kill_switches)

    async def stats(self, rule_id: str) -> RuleStats:
        return await self._in_thread(self._sync.stats, rule_id)

    async def initialise(self) -> str:
        return await self._in_thread(self._sync.initialise)

    async def close(self) -> None:
        """Close both connection pools."""
        store = self._sync
        try:
            if self._pipe is not None:
                await self._pipe.close()
            await self._redis.aclose(close_connection_pool=True)
        except store._errors as exc:
            raise store._store_error("close", exc) from exc
        store.close()

    # -- internals ------------------------------------------------------------------------------------

    async def _in_thread(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(method, *args)

    def _sync_store(self) -> RedisStore:
        return self._sync

    async def _sync_call(self, method: Callable[..., T], *args: Any) -> T:
        return await asyncio.to_thread(method, *args)

    async def _epoch(self, marker: str, what: str) -> str:
        """The epoch this store works with: read once (as ``RedisStore`` does), then kept."""
        epoch = self._sync._epoch
        if epoch is not None:
            return epoch
        return await asyncio.to_thread(self._sync._seen_epoch, marker, what)

    async def _run(self, name: str, keys: list[str], args: list[Any]) -> Any:
        store = self._sync
        pipe = self._pipe
        try:
            if pipe is not None:
                try:
                    return await pipe.call(["EVALSHA", self._shas[name], len(keys), *keys, *args])
                except self._no_script:
                    return await pipe.call(["EVAL", self._scripts[name], len(keys), *keys, *args])
            try:
                return await self._redis.execute_command("EVALSHA", self._shas[name], len(keys), *keys, *args)
            except self._no_script:
                return await self._redis.execute_command("EVAL", self._scripts[name], len(keys), *keys, *args)
        except store._errors as exc:
            raise store._store_error(name, exc) from exc

    def __repr__(self) -> str:
        return f"AsyncRedisStore({self._sync._shown!r}, prefix={self._sync._prefix!r})"
