"""AsyncClient: the client for asyncio services, awaiting its store where ``Client`` calls it.

The same parts as ``Client`` (``graylib._serving`` for what is served and the payment path, the claims'
judgement and request building in ``_runtime._claims``, the kill view, the follower), wired with an
``AsyncStore`` and tasks instead of threads:

- ``evaluate`` and ``evaluate_all`` are the very same synchronous, pure methods: no I/O, no await;
- ``await claim`` / ``await release`` run ``Claims.prepare`` (everything decided before the store),
  await the store's one call, and let ``Claims.answer`` make the decision of its reply;
- the kill switches are read by a task every ``kill_refresh`` seconds (and at once after a claim met a
  switch this client had not seen), never on the payment path: the kill view is "driven";
- a rules file is followed by a task that runs each check (a file read, a build, the change policy: CPU
  work of up to a few hundred milliseconds for large configs) in a worker thread, so the loop never waits.

An ``AsyncClient`` must be started (``await client.start()``, or ``async with``) before it serves: until
its first read of the kill switches, and after ``aclose``, every rule fails closed (``Reason.ERROR``, the
detail says the kill switches are unknown).
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import logging
import os
import time
from collections.abc import Callable, Coroutine, Mapping
from typing import Any, cast

from typing_extensions import Self

from ._compile import Snapshot
from ._redact import describe_error, redact_url
from ._runtime._claims import AlertHook, Claims, ReleaseOutcome
from ._runtime._follow import Follower, ReloadErrorHook, ReloadHook
from ._runtime._kills import KillView, max_stale_seconds
from ._runtime._metered import AsyncMeteredStore, Recorder
from ._runtime._source import FileSource
from ._runtime._tallies import combined
from ._serving import ConfigSource, Serving, check_identity, following, weak_reading
from ._status import Status, running_status
from ._trust import Trust, trust_in_force
from ._values import Context, Decision
from .stores import KillSwitch, RuleStats, Store
from .stores.aio import AsyncMemoryStore, AsyncStore

__all__ = ["AsyncClient"]

log = logging.getLogger("graylib")


def _checked_store(store: object) -> AsyncStore:
    if store is None:
        return AsyncMemoryStore()
    methods = ("reserve", "release", "kill", "revive", "kill_switches", "stats", "initialise", "close")
    if isinstance(store, AsyncStore) and all(
        inspect.iscoroutinefunction(getattr(store, name)) for name in methods
    ):
        return store
    found = (
        f"a str {redact_url(store)[:80]!r}"
        if isinstance(store, str)
        else f"{type(store).__name__}, whose methods are not all coroutines"
    )
    msg = (
        "AsyncClient(store=...) must be a graylib AsyncStore (AsyncMemoryStore, AsyncSQLiteStore, "
        f"AsyncRedisStore from graylib.stores.aio), not {found}"
    )
    raise TypeError(msg)


def _no_sync_read() -> Mapping[str, KillSwitch]:
    msg = "an AsyncClient reads its kill switches in its refresh task (await client.start())"
    raise RuntimeError(msg)


class _Answered:
    """The store calls ``running_status`` makes, answered from what was awaited before it runs."""

    def __init__(
        self,
        stats: Mapping[str, RuleStats | Exception],
        switches: Mapping[str, KillSwitch] | Exception,
    ) -> None:
        self._stats = stats
        self._switches = switches

    def stats(self, rule_id: str) -> RuleStats:
        found = self._stats.get(rule_id, RuleStats())
        if isinstance(found, Exception):
            raise found
        return found

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        if isinstance(self._switches, Exception):
            raise self._switches
        return self._switches


class AsyncClient(Serving):
    """Decides, per payment, whether a discount rule applies and for how much; awaits its store.

    The arguments mean what they mean for ``Client``, except: ``store`` is an ``AsyncStore`` (default: a
    new ``AsyncMemoryStore``); ``kill_refresh`` must be positive (the refresh is a task). Use it as
    ``async with AsyncClient(...) as client:``, or ``await client.start()`` and ``await client.aclose()``.
    """

    def __init__(
        self,
        config: ConfigSource | Snapshot,
        *,
        cluster: str = "",
        node: str = "",
        store: AsyncStore | None = None,
        kill_refresh: float = 1.0,
        kill_max_stale: float | None = None,
        on_alert: AlertHook | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Recorder | None = None,
    ) -> None:
        self._store = _checked_store(store)
        if (
            isinstance(kill_refresh, bool)
            or not isinstance(kill_refresh, int | float)
            or not kill_refresh > 0
        ):
            msg = f"AsyncClient(kill_refresh=...) must be a positive number of seconds (got {kill_refresh!r})"
            raise ValueError(msg)
        self._begin(config, cluster=cluster, node=node, clock=clock, name="AsyncClient")
        self._refresh_interval = float(kill_refresh)
        self._talk_to: AsyncStore = (
            self._store if metrics is None else AsyncMeteredStore(self._store, metrics)
        )
        self._kills = KillView(
            _no_sync_read,
            refresh=0,
            max_stale=max_stale_seconds(kill_max_stale, self._refresh_interval),
            on_change=self._swap,
            on_fork=self._forked,
            on_health=self._notify,
        )
        self._kills.driven(stale=True)  # fail closed until the first read (``start``)
        self._serve_first()
        self._claims = Claims(
            cast(Store, self._talk_to),  # only its pure parts are used: the store calls are awaited here
            served=self._current,
            kills=self._kills,
            tally=self._tally,
            on_alert=on_alert,
            clock=clock,
            refresh_kills=self._refresh_soon,
        )
        self._follower: Follower | None = None
        self._reload_interval: float | None = None
        self._tasks: list[asyncio.Task[None]] = []
        self._wake: asyncio.Event | None = None
        self._started = False
        if metrics is not None:
            metrics.watch(weak_reading(self))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        cluster: str = "",
        node: str = "",
        store: AsyncStore | None = None,
        reload_interval: float | None = None,
        on_reload: ReloadHook | None = None,
        on_reload_error: ReloadErrorHook | None = None,
        last_good_path: str | os.PathLike[str] | None = None,
        trust: str | os.PathLike[str] | Trust | None = None,
        **options: Any,
    ) -> Self:
        """A client serving the rules file at ``path``, as ``Client.from_file`` (``trust`` included); with
        ``reload_interval`` the file is followed by a task (started by ``start``). The file is read here,
        once."""
        _checked_store(store)
        check_identity(cluster, node, "AsyncClient")
        if reload_interval is not None and not reload_interval > 0:
            msg = f"reload_interval must be a positive number of seconds or None (got {reload_interval!r})"
            raise ValueError(msg)
        trusted = trust_in_force(trust, "AsyncClient.from_file")
        client = following(
            FileSource(path, signed=trusted is not None),
            lambda snapshot: cls(snapshot, cluster=cluster, node=node, store=store, **options),
            name="AsyncClient",
            cluster=cluster,
            node=node,
            interval=None,  # no thread: the reload task checks
            hooks=(on_reload, on_reload_error),
            last_good_path=last_good_path,
            trust=trusted,
        )
        client._reload_interval = reload_interval
        return client

    @property
    def store(self) -> AsyncStore:
        return self._store

    # -- lifecycle ---------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Read the kill switches (rules fail closed until they are read) and start the refresh and reload
        tasks. Idempotent."""
        if self._started:
            return
        self._started = True
        self._wake = asyncio.Event()
        await self._refresh_kills()
        self._spawn(self._refresh_loop(), "graylib-kill-switches")
        if self._follower is not None and self._reload_interval is not None:
            self._spawn(self._reload_loop(self._reload_interval), "graylib-reload")

    async def aclose(self) -> None:
        """Stop the tasks (awaited). Every rule fails closed from now on; the store stays open (yours)."""
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task
        if self._follower is not None:
            self._follower.stop()
        self._kills.driven(stale=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    def _spawn(self, coro: Coroutine[Any, Any, None], name: str) -> None:
        self._tasks.append(asyncio.get_running_loop().create_task(coro, name=name))

    # -- the payment path (evaluate and evaluate_all are Serving's) ---------------------------------------

    async def claim(self, rule_id: str, ctx: Context) -> Decision:
        """``Client.claim``, with the store's one call awaited. Never raises."""
        claims = self._claims
        pending = claims.prepare(rule_id, ctx)
        if isinstance(pending, Decision):
            return claims.counted(pending)
        try:
            result = await self._talk_to.reserve(pending[5])
        except Exception as exc:  # StoreError, or anything a custom store lets through
            return claims.counted(claims.unavailable(pending, exc))
        return claims.counted(claims.answer(pending, result))

    async def release(self, rule_id: str, payment_id: str) -> ReleaseOutcome:
        """``Client.release``, awaited. Never raises for a store fault."""
        claims = self._claims
        early = claims.release_check(rule_id, payment_id)
        if early is not None:
            return early
        try:
            result = await self._talk_to.release(rule_id, payment_id, claims.now())
        except Exception as exc:
            return claims.release_failed(rule_id, payment_id, exc)
        return claims.release_answer(rule_id, payment_id, result)

    # -- kill switches -----------------------------------------------------------------------------------

    async def kill(self, rule_id: str, *, reason: str) -> None:
        """Stop a rule everywhere: set its kill switch in the store, then read the switches again."""
        await self._talk_to.kill(rule_id, reason, self._clock())
        await self._refresh_kills()

    async def revive(self, rule_id: str) -> bool:
        """Clear a rule's kill switch; True when one was set."""
        was = await self._talk_to.revive(rule_id)
        await self._refresh_kills()
        return was

    async def _refresh_kills(self) -> None:
        try:
            switches = await self._talk_to.kill_switches()
        except Exception as exc:
            self._kills.reject(describe_error(exc))
        else:
            self._kills.accept(switches)

    def _refresh_soon(self) -> None:
        """A claim met a kill switch this client had not seen: wake the refresh task now."""
        if self._wake is not None:
            self._wake.set()

    async def _refresh_loop(self) -> None:
        wake = self._wake
        assert wake is not None
        while True:
            with contextlib.suppress(asyncio.TimeoutError):
                await asyncio.wait_for(wake.wait(), self._refresh_interval)
            wake.clear()
            try:
                await self._refresh_kills()
            except Exception:  # never let the task die: the next round reads again
                log.exception("kill-switch refresh failed")

    # -- reload and status -------------------------------------------------------------------------------

    async def _reload_loop(self, interval: float) -> None:
        follower = self._follower
        assert follower is not None
        while True:
            await asyncio.sleep(interval)
            try:
                await asyncio.to_thread(follower.check)
            except Exception:  # the follower reports its own failures; this is a bug guard
                log.exception("graylib reload check failed")

    async def reload_now(self) -> bool:
        """``Client.reload_now``, checked in a worker thread."""
        if self._follower is None:
            return False
        return await asyncio.to_thread(self._follower.check, force=True)

    async def status(self) -> Status:
        """``Client.status``: the store's statistics and switches are awaited first."""
        follower = self._follower
        if follower is None:
            snapshot = self._snapshot
            fields: dict[str, Any] = {"source": snapshot.config.source, "served_from": "config"}
        else:
            seen, fields = follower.view()
            snapshot = seen or self._snapshot
            fields["reloading"] = any(task.get_name() == "graylib-reload" for task in self._tasks)
        store = self._talk_to
        stats: dict[str, RuleStats | Exception] = {}
        for rule in snapshot.config.rules:
            try:
                stats[rule.id] = await store.stats(rule.id)
            except Exception as exc:
                stats[rule.id] = exc
        switches: Mapping[str, KillSwitch] | Exception
        try:
            switches = await store.kill_switches()
        except Exception as exc:
            switches = exc
        return running_status(
            snapshot,
            store=cast(Store, _Answered(stats, switches)),
            switches=self._kills.switches,
            stale=self._kills.state.stale,
            tallies=combined(self._tallies, self._claim_tallies),
            reload_fields=fields,
        )

    def __repr__(self) -> str:
        snap = self._snapshot
        return (
            f"<graylib.AsyncClient version={snap.config.version!r} rules={len(snap.rules)} "
            f"cluster={self._cluster!r} node={self._node!r}>"
        )
