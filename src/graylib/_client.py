"""Client: the wiring of one process's rules, store, kill view, claims and follower, and the payment path.

Everything a client does is done by a part that knows no client (``graylib._runtime``): the kill view
(``_kills``), what is served (``_served``: the snapshot with the kill switches folded in), claims
(``_claims``), the follower of a rules file or of a store's published revision (``_wiring``: ``_follow``
over a ``_source`` or ``_store_source``, and ``_fleet``) and the status (``_status``). The client builds
them and passes each what it needs. What every client does with what it serves (``_swap``, the only
writer of it; ``evaluate``; the tallies) is ``_serving.Serving``, shared with ``AsyncClient``.

``evaluate`` is the hot path: it reads what is served once, looks the rule up and lets its entry decide (a
compiled rule, or a killed, stale or polling one: decided when it was served, not per payment). It never
raises on a payment's data: any fault becomes ``Reason.ERROR``.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Callable
from typing import Any

from typing_extensions import Self

from ._compile import Snapshot
from ._errors import StoreError
from ._redact import redact_url
from ._runtime._claims import AlertHook, Claims, ReleaseOutcome
from ._runtime._follow import Follower, ReloadErrorHook, ReloadHook
from ._runtime._kills import KillView
from ._runtime._metered import MeteredStore, Recorder
from ._runtime._source import FileSource
from ._runtime._store_source import StoreSource
from ._runtime._store_trust import STORE_TRUST, StoreTrust
from ._runtime._tallies import combined
from ._runtime._wiring import report
from ._serving import ConfigSource, Serving, check_identity, following, weak_reading
from ._status import Status, running_status
from ._trust import Trust, trust_in_force
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
        check_identity(cluster, node, "Client")
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
        self._leave: Callable[[], None] | None = None
        """Removes this process's fleet record (a client following a store)."""
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
        trust: str | os.PathLike[str] | Trust | None = None,
        **options: Any,
    ) -> Self:
        """A client serving the rules file at ``path`` (TOML, JSON, or YAML with the extra).

        With ``reload_interval`` (seconds) a daemon thread re-reads the file that often and swaps in a new
        version once it passes validation, its smoke cases and the change policy; otherwise the running
        snapshot stays and ``on_reload_error(exc)`` is called (``on_reload(snapshot)`` on success). With
        ``last_good_path`` the last good text is kept there, and served at start-up when ``path`` is broken.
        Other keywords (``kill_refresh``, ``kill_max_stale``, ``on_alert``, ``clock``) are the
        constructor's. See ``graylib._runtime._follow``.

        With ``trust`` (a trust file's path, read once here), approvals are signatures: the file's exact bytes
        and ``FILE.sig`` are read together, and a widening change needs the trust file's threshold of valid
        signatures from its approvers other than the author; ``[change].approved_by`` names count for
        nothing. A start with no usable last good copy needs that threshold whatever the file changes, so
        keep a ``last_good_path`` for unsigned narrowing changes to survive a restart. Needs the ``sign``
        extra (``cryptography``).
        """
        trusted = trust_in_force(trust, "Client.from_file")
        source = FileSource(path, signed=trusted is not None)
        _checked_store(store)
        return following(
            source,
            lambda snapshot: cls(snapshot, cluster=cluster, node=node, store=store, **options),
            name="Client",
            cluster=cluster,
            node=node,
            interval=reload_interval,
            hooks=(on_reload, on_reload_error),
            last_good_path=last_good_path,
            trust=trusted,
        )

    @classmethod
    def from_store(
        cls,
        store: Store,
        *,
        cluster: str = "",
        node: str = "",
        follow_interval: float = 1.0,
        on_reload: ReloadHook | None = None,
        on_reload_error: ReloadErrorHook | None = None,
        last_good_path: str | os.PathLike[str] | None = None,
        fleet_ttl: float = 300.0,
        trust: str | os.PathLike[str] | Trust | None = None,
        **options: Any,
    ) -> Self:
        """A client serving the revision currently published in ``store`` (``graylib.publish``), and
        following it: every ``follow_interval`` seconds it reads the current revision's number (one small
        read), fetches the text only when the number is new and higher, and swaps it in after the checks of a
        file reload (validation, smoke cases as this node, change policy, approvals). The store is also this
        client's store (kill switches, limits).

        While the store is unreachable the served revision stays and ``status()`` says so (unhealthy,
        ``last_read_age``). With ``last_good_path`` the served text is kept there, and served at start-up
        when the store cannot be read; without a usable copy, start-up raises ``StoreError`` (unreachable)
        or ``ConfigError`` (nothing published, or the revision is invalid here). Each process writes a fleet
        record (``graylib.fleet``) when what it serves changes and at least every ``max(5, follow_interval)``
        seconds; the store forgets it ``fleet_ttl`` seconds later.

        With ``trust`` (a trust file's path, read once here), approvals are the signatures published with
        each revision (``graylib publish --trust``), checked here over the revision's exact text as
        ``from_file`` checks ``FILE.sig``: a revision whose widening is not carried by the trust file's
        threshold of valid signatures is refused, however it got into the store. Needs the ``sign`` extra.

        With ``trust="store"`` (the string; a file named ``store`` is ``./store``) the trust file is the one
        published in the store (``graylib trust publish``): its chain is verified from the store's root of
        trust at start (``ConfigError`` when the store has none), and before each look at the revision the
        client reads the trust files published since, taking each one that the one in force approves (a
        higher version, signed by its threshold of approvers). A rotation is so taken without a restart; a
        trust file written past ``trust publish`` (unsigned, or of a lower version) is refused and reported
        (``status().last_reload_error``, ``on_reload_error``), and the trust file in force stays.
        """
        if not isinstance(store, Store):
            _checked_store(store if store is not None else object())
        source = StoreSource(store)
        view = StoreTrust.start(store, source.name) if trust == STORE_TRUST else None
        trusted = view.trust if view is not None else trust_in_force(trust, "Client.from_store")
        try:
            client = following(
                source,
                lambda snapshot: cls(snapshot, cluster=cluster, node=node, store=store, **options),
                name="Client",
                cluster=cluster,
                node=node,
                interval=follow_interval,
                hooks=(on_reload, on_reload_error),
                last_good_path=last_good_path,
                trust=trusted,
            )
        except StoreError as exc:
            where = (
                f"no last good copy at {os.fspath(last_good_path)}" if last_good_path else "no last_good_path"
            )
            msg = f"Client.from_store cannot start: {exc}; and {where} to serve meanwhile"
            raise StoreError(msg) from exc
        assert client._follower is not None
        client._follower.trust_view = view
        reporter = report(store, client._follower, client._kills, cluster=cluster, node=node, ttl=fleet_ttl)
        client._leave = reporter.leave
        return client

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
        """Stop background work (the kill-switch and reloader threads, joined) and remove this process's
        fleet record. The store is the caller's and stays open."""
        self._kills.close(join=True)
        if self._follower is not None:
            self._follower.stop()
        leave, self._leave = self._leave, None
        if leave is not None:
            leave()

    # -- reload and status -------------------------------------------------------------------------------

    def reload_now(self) -> bool:
        """Check the rules source now, as the follower thread would, and report any failure again.

        True when the source's current version is what this client serves afterwards (just swapped in, or
        unchanged); False when it was refused or unreadable (see ``status().last_reload_error``) or when the
        client was not built with ``from_file`` or ``from_store``.
        """
        follower = self._follower
        if follower is None:
            return False
        current = follower.check(force=True)
        if follower.on_check is not None:  # a following client's fleet record says what it serves now
            follower.on_check()
        return current

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

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        snap = self._snapshot
        return (
            f"<graylib.Client version={snap.config.version!r} rules={len(snap.rules)} "
            f"cluster={self._cluster!r} node={self._node!r}>"
        )
