"""Client: the wiring of one process's rules, store, kill view, claims and follower, and the payment path.

Everything a client does is done by a part that knows no client (``graylib._runtime``): the kill view
(``_kills``), what is served (``_served``: the snapshot with the kill switches folded in), claims
(``_claims``), the follower of a rules file (``_follow``) and the status (``_status``). The client builds
them and passes each what it needs. What every client does with what it serves (``_swap``, the only
writer of it; ``evaluate``; the tallies) is ``_serving.Serving``, shared with ``AsyncClient``.

``evaluate`` is the hot path: it reads what is served once, looks the rule up and lets its entry decide (a
compiled rule, or a killed, stale or polling one: decided when it was served, not per payment). It never
raises on a payment's data: any fault becomes ``Reason.ERROR``.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from typing import Any

from ._compile import Snapshot
from ._load import RulesText, build
from ._redact import redact_url
from ._runtime._claims import AlertHook, Claims, ReleaseOutcome
from ._runtime._follow import Follower, ReloadErrorHook, ReloadHook
from ._runtime._kills import KillView
from ._runtime._metered import MeteredStore, Reading, Recorder
from ._runtime._served import Entry, Served
from ._runtime._source import FileSource
from ._runtime._startup import start_from
from ._runtime._tallies import combined
from ._serving import ConfigSource, Serving, weak_notify, weak_reading
from ._status import Status, running_status
from ._values import Context, Decision
from .stores import MemoryStore, Store

__all__ = ["Client", "ConfigSource"]

log = logging.getLogger("graylib")


def _checked_store(store: object) -> Store:
    """``store``, or a new ``MemoryStore`` for None; anything that is not a ``Store`` is a ``TypeError``.

    A URL is not opened here: a store the client opened would be the client's to close, while a store
    passed in stays the caller's. ``graylib.stores.store_from_url`` opens one.
    """
    if store is None:
        return MemoryStore()
    if isinstance(store, Store):
        return store
    methods = "reserve, release, kill, revive, kill_switches, stats, close"
    if isinstance(store, str):
        found = f"a str {redact_url(store)[:80]!r}; open a URL with graylib.stores.store_from_url(url)"
    else:
        found = f"{type(store).__name__}, which lacks some of them"
    msg = f"Client(store=...) must be a graylib Store (methods {methods}), not {found}"
    raise TypeError(msg)


class Client(Serving):
    """Decides, per payment, whether a discount rule applies and for how much.

    ``config`` is a ``Config``, a mapping in the config format, a path to a rules file, or another client's
    ``snapshot`` (served as is when it was built for the same cluster and node); whichever it is, it passes
    every check of ``load_config`` (a ``Config`` built or changed in Python is written back to a
    document and checked again) and its smoke cases as this client, or ``ConfigError`` is raised.
    ``cluster`` and ``node`` are this process's identity, which the rollout stages target. ``store`` holds
    kill switches and limit counters (default: a new ``MemoryStore``, private to this client); anything
    that is not a ``Store`` (a URL string included: see ``graylib.stores.store_from_url``) is a
    ``TypeError``.
    ``kill_refresh`` is how often (seconds) the kill switches are re-read from the store (0: before every
    evaluation). ``kill_max_stale`` bounds how old that view may get while the store cannot be read: past
    it, every rule fails closed (``Reason.ERROR``, the detail says the kill switches are unknown) and
    ``status()`` is unhealthy, until a read succeeds again. Default: 5 seconds, or 3 x ``kill_refresh``
    when that is longer; ``math.inf`` keeps the last view forever (not advised).
    ``on_alert`` is called with an ``Alert`` when a claim trips a rule's rate alarm; ``clock`` is the time
    everything goes by (schedules, in ``evaluate`` too; limit windows, record ages, kill times),
    ``time.time`` unless a test or a simulation drives it.
    ``metrics`` is where measurements go (``graylib.otel.Metrics``); None (the default) measures nothing
    beyond ``status()``, and the payment path carries nothing for it.
    """

    def __init__(
        self,
        config: ConfigSource | Snapshot,
        *,
        cluster: str = "",
        node: str = "",
        store: Store | None = None,
        kill_refresh: float = 1.0,
        kill_max_stale: float | None = None,
        on_alert: AlertHook | None = None,
        clock: Callable[[], float] = time.time,
        metrics: Recorder | None = None,
    ) -> None:
        if not isinstance(cluster, str) or not isinstance(node, str):
            msg = "Client(cluster=..., node=...) must be strings"
            raise TypeError(msg)
        self._store: Store = _checked_store(store)
        self._begin(config, cluster=cluster, node=node, clock=clock, name="Client")
        # With metrics on, the claims and the kill view talk to the store through a recorder; without,
        # to the store itself (bound here, so the payment path checks nothing).
        talk_to: Store = self._store if metrics is None else MeteredStore(self._store, metrics)
        self._kills = KillView(
            talk_to.kill_switches,
            refresh=kill_refresh,
            max_stale=kill_max_stale,
            on_change=self._swap,
            on_fork=self._forked,
            on_health=self._notify,
        )
        self._serve_first()
        self._claims = Claims(
            talk_to,
            served=self._current,
            kills=self._kills,
            tally=self._tally,
            on_alert=on_alert,
            clock=clock,
        )
        self._follower: Follower | None = None
        self._talk_to = talk_to
        if metrics is not None:
            metrics.watch(weak_reading(self))

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        cluster: str = "",
        node: str = "",
        store: Store | None = None,
        reload_interval: float | None = None,
        on_reload: ReloadHook | None = None,
        on_reload_error: ReloadErrorHook | None = None,
        last_good_path: str | os.PathLike[str] | None = None,
        **options: Any,
    ) -> Client:
        """A client serving the rules file at ``path`` (TOML, JSON, or YAML with the extra).

        With ``reload_interval`` (seconds) a daemon thread re-reads the file that often and swaps in a new
        version once it passes validation, its smoke cases and the change policy; otherwise the running
        snapshot stays and ``on_reload_error(exc)`` is called (``on_reload(snapshot)`` on success). With
        ``last_good_path`` the last good text is kept there, and served at start-up when ``path`` is broken.
        Other keywords (``kill_refresh``, ``kill_max_stale``, ``on_alert``, ``clock``) are the
        constructor's. See ``graylib._runtime._follow``.
        """
        _checked_store(store)
        if not isinstance(cluster, str) or not isinstance(node, str):
            msg = "Client(cluster=..., node=...) must be strings"
            raise TypeError(msg)
        source = FileSource(path)

        def build_here(rules: RulesText) -> Snapshot:
            return build(rules, cluster=cluster, node=node)

        last_good = os.fspath(last_good_path) if last_good_path is not None else None
        startup = start_from(source, build_here, last_good)
        client = cls(startup.snapshot, cluster=cluster, node=node, store=store, **options)
        client._follower = Follower(
            source,
            build=build_here,
            served=client._current_snapshot,
            swap=client._swap,
            interval=reload_interval,
            on_reload=on_reload,
            on_reload_error=on_reload_error,
            last_good_path=last_good,
            on_change=weak_notify(client),
        )
        client._follower.begin(startup)
        return client

    def _current(self) -> Served:
        return self._served

    def _current_snapshot(self) -> Snapshot:
        return self._snapshot

    def _settled(self, rule_id: str, snapshot: Snapshot) -> Entry | None:
        served = self._served
        return served.settled.get(rule_id) if served.snapshot is snapshot else None

    def _forked(self) -> None:
        """In a forked child: a thread of the parent may have held the swap lock at the fork."""
        self._swap_lock = threading.Lock()

    def _tally(self, decision: Decision) -> None:
        """Count a claim's answer by reason for ``status()`` (rules of the running config only)."""
        if decision.rule_id in self._snapshot.rules:
            next(self._claim_tallies[decision.rule_id][decision.reason])

    def _reading(self) -> Reading:
        """What a metrics recorder reads when it is collected."""
        snapshot = self._snapshot
        return Reading(self._tallies, self._claim_tallies, snapshot.version, snapshot.loaded_at)

    # -- what is running ---------------------------------------------------------------------------------

    @property
    def store(self) -> Store:
        return self._store

    # -- the payment path --------------------------------------------------------------------------------

    def claim(self, rule_id: str, ctx: Context) -> Decision:
        """Evaluate, and when the rule applies reserve its limits atomically (all or none) in one store call.

        Idempotent per ``ctx.payment_id``: a repeated claim returns the first decision and counts nothing.
        Never raises: a limit that is full answers ``LIMIT_REACHED`` (the detail names it), a tripped rate
        alarm ``KILLED`` (and calls ``on_alert``), a reused payment id or a store fault ``ERROR``.
        """
        return self._claims.claim(rule_id, ctx)

    def release(self, rule_id: str, payment_id: str) -> ReleaseOutcome:
        """Give back what a claim reserved (the payment failed or was refunded), once. Never raises."""
        return self._claims.release(rule_id, payment_id)

    # -- kill switches -----------------------------------------------------------------------------------

    def kill(self, rule_id: str, *, reason: str) -> None:
        """Stop a rule everywhere: set its kill switch in the store (every client sharing it obeys)."""
        self._talk_to.kill(rule_id, reason, self._clock())
        self._kills.refresh(force=True)

    def revive(self, rule_id: str) -> bool:
        """Clear a rule's kill switch; True when one was set. The config's own ``state`` still applies."""
        was = self._talk_to.revive(rule_id)
        self._kills.refresh(force=True)
        return was

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop background work (the kill-switch and reloader threads, joined). The store is the caller's and
        stays open."""
        self._kills.close(join=True)
        if self._follower is not None:
            self._follower.stop()

    # -- reload and status -------------------------------------------------------------------------------

    def reload_now(self) -> bool:
        """Check the rules file now, as the reloader thread would, and report any failure again.

        True when the file's current content is what this client serves afterwards (just swapped in, or
        unchanged); False when it was refused or unreadable (see ``status().last_reload_error``) or when the
        client was not built with ``from_file``.
        """
        if self._follower is None:
            return False
        return self._follower.check(force=True)

    def status(self) -> Status:
        """Version and load time of the served config, reload errors, and per rule: state, stage, kill
        switch, decisions by reason since start, granted and shadow counts and amounts from the store."""
        follower = self._follower
        snapshot: Snapshot | None
        if follower is None:
            snapshot = self._snapshot
            fields: dict[str, Any] = {"source": snapshot.config.source, "served_from": "config"}
        else:
            snapshot, fields = follower.view()
        return running_status(
            snapshot or self._snapshot,
            store=self._store,
            switches=self._kills.switches,
            stale=self._kills.state.stale,
            tallies=combined(self._tallies, self._claim_tallies),
            reload_fields=fields,
        )

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        snap = self._snapshot
        return (
            f"<graylib.Client version={snap.config.version!r} rules={len(snap.rules)} "
            f"cluster={self._cluster!r} node={self._node!r}>"
        )
