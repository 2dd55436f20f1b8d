"""Client: holds the running snapshot, answers per payment, and talks to the store for kill switches.

``evaluate`` is the hot path: it reads the current snapshot reference once, looks the rule up and lets the
compiled rule decide. It never raises on a payment's data: any fault becomes ``Reason.ERROR``. Kill switches
live in the store so that every client sharing it obeys them; the client keeps a local view refreshed at most
``kill_refresh`` seconds apart by a watcher thread (``_killwatch``, started by the first evaluation), so an
evaluation costs no store round trip and no clock read.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable, Container, Mapping
from typing import Any

from ._claims import AlertHook, Claims, ReleaseOutcome
from ._compile import Snapshot, compile_config
from ._config import Config
from ._config._dump import recheck
from ._errors import ConfigError
from ._killwatch import KillWatch
from ._load import load_config_with_digest
from ._redact import describe_error, redact_url
from ._reload import Reloader, ReloadErrorHook, ReloadHook, open_from_file
from ._smoke import check_smoke
from ._status import Status, Tallies, client_status, new_tallies
from ._values import Context, Decision, Reason
from .stores import KillSwitch, MemoryStore, Store

__all__ = ["Client"]

log = logging.getLogger("graylib")

ConfigSource = Config | Mapping[str, Any] | str | os.PathLike[str]


class _Everything:
    """The kill view while the kill switches are unknown: every rule id is in it (fails closed)."""

    __slots__ = ()

    def __contains__(self, rule_id: object) -> bool:
        return True

    def __repr__(self) -> str:
        return "<every rule: kill switches unknown>"


_UNKNOWN = _Everything()
_DEFAULT_MAX_STALE = 5.0


def _max_stale(value: float | None, refresh: float) -> float:
    """``kill_max_stale``: positive seconds; None picks 5 s, or 3 refresh intervals when that is longer."""
    if value is None:
        return max(_DEFAULT_MAX_STALE, 3 * refresh)
    if isinstance(value, bool) or not isinstance(value, int | float) or not value > 0:
        msg = f"Client(kill_max_stale=...) must be a positive number of seconds or None (got {value!r})"
        raise ValueError(msg)
    return float(value)


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


def _error(rule_id: str, exc: BaseException) -> Decision:
    detail = describe_error(exc)
    return Decision(applies=False, reason=Reason.ERROR, rule_id=rule_id, detail=detail[:300])


class Client:
    """Decides, per payment, whether a discount rule applies and for how much.

    ``config`` is a ``Config``, a mapping in the config format, or a path to a rules file; whichever it is,
    it passes every check of ``load_config`` (a ``Config`` built or changed in Python is written back to a
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
    claims, releases and kills go by (schedules, windows, record ages, kill times), ``time.time`` unless a
    test or a simulation drives it. ``evaluate`` always reads the real time for schedules.
    """

    def __init__(
        self,
        config: ConfigSource,
        *,
        cluster: str = "",
        node: str = "",
        store: Store | None = None,
        kill_refresh: float = 1.0,
        kill_max_stale: float | None = None,
        on_alert: AlertHook | None = None,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not isinstance(cluster, str) or not isinstance(node, str):
            msg = "Client(cluster=..., node=...) must be strings"
            raise TypeError(msg)
        self._store: Store = _checked_store(store)
        if isinstance(config, Config):
            config = recheck(config)  # built or changed in Python: the same checks as a file
            problems = check_smoke(config, cluster=cluster, node=node)
            if problems:
                raise ConfigError([f"smoke case {p}" for p in problems], source=config.source or None)
            digest = ""
        else:
            config, digest = load_config_with_digest(config, cluster=cluster, node=node)
        self._cluster = cluster
        self._node = node
        self._snapshot: Snapshot = compile_config(config, cluster=cluster, node=node, digest=digest)
        self._kill_refresh = float(kill_refresh)
        self._kill_max_stale = _max_stale(kill_max_stale, self._kill_refresh)
        self._kills_read_at = time.monotonic()  # the staleness budget counts from construction
        self._killed: Container[str] = frozenset()
        self._kill_info: Mapping[str, KillSwitch] = {}
        self._kills_due = 0.0
        self._kill_lock = threading.Lock()
        self._kill_error: str = ""
        self._kill_poll = True  # check the clock per call until the watcher thread runs (see _killwatch)
        self._kill_watch = (
            KillWatch(self._watch_tick, self._after_fork, interval=self._kill_refresh)
            if self._kill_refresh > 0
            else None
        )
        self._closed = False
        self._tallies: Tallies = new_tallies(self._snapshot.rules)  # decisions by reason, for status()
        self._reloader: Reloader | None = None
        self._claims = Claims(self, on_alert=on_alert, clock=clock)
        self._clock = clock

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
        constructor's. See ``graylib._reload``.
        """
        return open_from_file(
            cls,
            path,
            cluster=cluster,
            node=node,
            store=store,
            reload_interval=reload_interval,
            on_reload=on_reload,
            on_reload_error=on_reload_error,
            last_good_path=last_good_path,
            options=options,
        )

    # -- what is running ---------------------------------------------------------------------------------

    @property
    def snapshot(self) -> Snapshot:
        """The compiled rule set currently served (immutable; replaced whole on reload)."""
        return self._snapshot

    @property
    def config(self) -> Config:
        return self._snapshot.config

    @property
    def store(self) -> Store:
        return self._store

    @property
    def cluster(self) -> str:
        return self._cluster

    @property
    def node(self) -> str:
        return self._node

    # -- the payment path --------------------------------------------------------------------------------

    def evaluate(self, rule_id: str, ctx: Context) -> Decision:
        """Does rule ``rule_id`` apply to this payment, and for how much? Pure: no counter is touched.

        Never raises for a payment's data; a fault answers ``applies=False`` with ``Reason.ERROR``.
        """
        try:
            try:
                rule = self._snapshot.rules[rule_id]  # a subscript costs half a mapping proxy's .get
            except KeyError:
                return Decision(
                    applies=False,
                    reason=Reason.UNKNOWN_RULE,
                    rule_id=str(rule_id),
                    rule_version=self._snapshot.config.version,
                )
            if self._kill_poll and time.monotonic() >= self._kills_due:
                self._poll_kills()
            if rule_id in self._killed:
                decision = self._killed_decision(rule_id, rule.d_killed)
            else:
                decision = rule.evaluate(ctx)
            next(self._tallies[rule_id][decision.reason])  # decisions by reason, for status()
            return decision
        except Exception as exc:  # the payment path never raises: fail closed
            return _error(str(rule_id), exc)

    def _judge(self, snapshot: Snapshot, rule_id: str, ctx: Context, now: float) -> Decision:
        """``evaluate`` at time ``now`` (the client's clock) and without counting: the first half of a claim.

        The claim passes the snapshot it read once, so that the rule it is judged by and the limits it is
        reserved under come from the same config even when a reload swaps the snapshot meanwhile.
        ``evaluate`` keeps its own copy of these few lines: one more call frame there costs about a tenth of
        the whole evaluation. May raise; the claim turns that into ``Reason.ERROR``.
        """
        rule = snapshot.rules.get(rule_id)
        if rule is None:
            return Decision(
                applies=False,
                reason=Reason.UNKNOWN_RULE,
                rule_id=str(rule_id),
                rule_version=snapshot.config.version,
            )
        if self._kill_poll and time.monotonic() >= self._kills_due:
            self._poll_kills()
        if rule_id in self._killed:
            return self._killed_decision(rule_id, rule.d_killed)
        return rule.evaluate(ctx, now)

    def _tally(self, decision: Decision) -> None:
        """Count a decision by reason for ``status()`` (rules of the running config only)."""
        if decision.rule_id in self._snapshot.rules:
            next(self._tallies[decision.rule_id][decision.reason])

    def evaluate_all(self, ctx: Context) -> dict[str, Decision]:
        """Decisions of every rule that lists this payment's type (the others cannot apply).

        The cost grows with the rules indexed under the payment type, not with all rules.
        """
        try:
            candidates = self._snapshot.by_payment_type.get(ctx.payment_type, ())
            if not candidates:
                return {}
            if self._kill_poll and time.monotonic() >= self._kills_due:
                self._poll_kills()
            killed = self._killed
            out: dict[str, Decision] = {}
            for rule in candidates:
                rid = rule.rule_id
                try:
                    out[rid] = decision = (
                        self._killed_decision(rid, rule.d_killed) if rid in killed else rule.evaluate(ctx)
                    )
                    next(self._tallies[rid][decision.reason])
                except Exception as exc:  # one bad rule must not hide the others
                    out[rid] = _error(rid, exc)
            return out
        except Exception as exc:  # the payment path never raises: fail closed
            log.warning("evaluate_all failed closed: %r", exc)
            return {}

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
        self._store.kill(rule_id, reason, self._clock())
        self._refresh_kills(force=True)

    def revive(self, rule_id: str) -> bool:
        """Clear a rule's kill switch; True when one was set. The config's own ``state`` still applies."""
        was = self._store.revive(rule_id)
        self._refresh_kills(force=True)
        return was

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """The kill switches this client currently obeys, as last read from the store."""
        return self._kill_info

    @property
    def kill_switches_stale(self) -> bool:
        """True while the kill switches are older than ``kill_max_stale``: every rule fails closed."""
        return self._killed is _UNKNOWN

    def _killed_decision(self, rule_id: str, fallback: Decision) -> Decision:
        if self._killed is _UNKNOWN:
            age = time.monotonic() - self._kills_read_at
            detail = (
                f"kill switches unknown: not read from the store for {age:.1f} s "
                f"(kill_max_stale={self._kill_max_stale:g} s), failing closed; {self._kill_error}"
            )
            return Decision(
                applies=False,
                reason=Reason.ERROR,
                rule_id=rule_id,
                rule_version=fallback.rule_version,
                stage=fallback.stage,
                detail=detail[:300],
            )
        info = self._kill_info.get(rule_id)
        if info is None:
            return fallback
        return Decision(
            applies=False,
            reason=Reason.KILLED,
            rule_id=rule_id,
            rule_version=fallback.rule_version,
            stage=fallback.stage,
            detail=f"kill switch: {info.reason}",
        )

    def _poll_kills(self) -> None:
        """The payment path's refresh while no watcher thread runs here; then it hands over to one."""
        self._refresh_kills()
        watch = self._kill_watch
        if watch is not None and not self._closed:
            watch.start()
            self._kill_poll = not watch.running

    def _watch_tick(self) -> None:
        self._refresh_kills(force=True)

    def _after_fork(self) -> None:
        """In a forked child: no watcher thread, and the lock may have been held by one at the fork."""
        self._kill_lock = threading.Lock()
        self._kills_due = 0.0
        self._kill_poll = True

    def _refresh_kills(self, *, force: bool = False) -> None:
        """Re-read the store's kill switches; on a store failure keep the last known set and retry later."""
        if force:
            self._kill_lock.acquire()
        elif not self._kill_lock.acquire(blocking=False):
            return  # another thread is refreshing; use the current view meanwhile
        try:
            if not force and time.monotonic() < self._kills_due:
                return
            try:
                info = dict(self._store.kill_switches())
            except Exception as exc:
                self._stale_kills(describe_error(exc))
            else:
                if self._killed is _UNKNOWN:
                    log.warning("kill switches read from the store again: rules are served again")
                self._kill_info = info
                self._killed = frozenset(info)
                self._kill_error = ""
                self._kills_read_at = time.monotonic()
            self._kills_due = time.monotonic() + self._kill_refresh
        finally:
            self._kill_lock.release()

    def _stale_kills(self, error: str) -> None:
        """A read of the kill switches failed: keep the last view, or fail closed once it is too old."""
        self._kill_error = error
        age = time.monotonic() - self._kills_read_at
        if age < self._kill_max_stale:
            log.warning("could not read kill switches from the store; keeping the last known: %s", error)
        elif self._killed is not _UNKNOWN:
            self._killed = _UNKNOWN
            log.error(
                "kill switches not read from the store for %.1f s (kill_max_stale=%g s): every rule fails "
                "closed until the store answers: %s",
                age,
                self._kill_max_stale,
                error,
            )

    # -- lifecycle ---------------------------------------------------------------------------------------

    def close(self) -> None:
        """Stop background work (the reloader thread, joined). The store is the caller's and stays open."""
        self._closed = True
        self._kill_poll = True
        if self._kill_watch is not None:
            self._kill_watch.stop()
        if self._reloader is not None:
            self._reloader.stop()

    # -- reload and status -------------------------------------------------------------------------------

    def reload_now(self) -> bool:
        """Check the rules file now, as the reloader thread would, and report any failure again.

        True when the file's current content is what this client serves afterwards (just swapped in, or
        unchanged); False when it was refused or unreadable (see ``status().last_reload_error``) or when the
        client was not built with ``from_file``.
        """
        if self._reloader is None:
            return False
        return self._reloader.check(force=True)

    def status(self) -> Status:
        """Version and load time of the served config, reload errors, and per rule: state, stage, kill
        switch, decisions by reason since start, granted and shadow counts and amounts from the store."""
        return client_status(self)

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
