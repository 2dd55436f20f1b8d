"""``Serving``: what every client does with what it serves, sync or async alike.

``Client`` and ``AsyncClient`` differ in how they talk to their store (a call, or an awaited call) and in
what runs their background work (threads, or tasks). Everything else is here, once: building the snapshot
for this identity, the one writer of what is served (``_swap``), the payment path's ``evaluate`` and
``evaluate_all`` (synchronous and pure in both: they never do I/O), the tallies of decisions, the
listeners told of changes, and the readings a metrics recorder takes.
"""

from __future__ import annotations

import logging
import os
import threading
import time
import weakref
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from ._compile import Snapshot
from ._config import Config
from ._load import build
from ._redact import describe_error
from ._runtime._follow import Follower, ReloadErrorHook, ReloadHook
from ._runtime._kills import KillView
from ._runtime._metered import Reading
from ._runtime._served import Entry, Served, compose
from ._runtime._source import Source
from ._runtime._tallies import new_tallies, prepare_tallies
from ._runtime._wiring import follow
from ._trust import Trust
from ._values import Context, Decision, Reason
from .stores import KillSwitch

__all__ = ["ConfigSource", "Serving", "check_identity", "following", "weak_notify", "weak_reading"]

log = logging.getLogger("graylib")

ConfigSource = Config | Mapping[str, Any] | str | os.PathLike[str]

_S = TypeVar("_S", bound="Serving")


def _error(rule_id: str, exc: BaseException) -> Decision:
    detail = describe_error(exc)
    return Decision(applies=False, reason=Reason.ERROR, rule_id=rule_id, detail=detail[:300])


def weak_reading(client: Serving) -> Callable[[], Reading | None]:
    """``client._reading`` through a weak reference: a recorder must not keep a client alive."""
    ref = weakref.ref(client)

    def read() -> Reading | None:
        target = ref()
        return None if target is None else target._reading()

    return read


def weak_notify(client: Serving) -> Callable[[object], None]:
    """``client._notify`` through a weak reference (for the follower, which must not keep it alive)."""
    ref = weakref.ref(client)

    def notify(_: object) -> None:
        target = ref()
        if target is not None:
            target._notify()

    return notify


def check_identity(cluster: object, node: object, name: str) -> None:
    """A ``TypeError`` naming ``name`` unless ``cluster`` and ``node`` are strings."""
    if not isinstance(cluster, str) or not isinstance(node, str):
        msg = f"{name}(cluster=..., node=...) must be strings"
        raise TypeError(msg)


def following(
    source: Source,
    make: Callable[[Snapshot], _S],
    *,
    name: str,
    cluster: str,
    node: str,
    interval: float | None,
    hooks: tuple[ReloadHook | None, ReloadErrorHook | None],
    last_good_path: str | os.PathLike[str] | None,
    trust: Trust | None,
) -> _S:
    """The client ``make`` builds from ``source`` (or its last good copy), following it
    (``_runtime._wiring.follow``); ``name`` is the client's class, for the error on a bad identity."""
    check_identity(cluster, node, name)
    client, follower = follow(
        source,
        cluster=cluster,
        node=node,
        make=make,
        wiring=lambda made: (made._current_snapshot, made._swap, weak_notify(made)),
        interval=interval,
        hooks=hooks,
        last_good_path=last_good_path,
        trust=trust,
    )
    client._follower = follower
    return client


class Serving:
    """The served snapshot of a client and its payment path; a subclass adds the store and the kill view."""

    _kills: KillView
    _served: Served
    _follower: Follower | None

    def _begin(
        self,
        config: ConfigSource | Snapshot,
        *,
        cluster: str,
        node: str,
        clock: Callable[[], float],
        name: str,
    ) -> Snapshot:
        """Check the identity, build (or take) the snapshot and set up what serving it needs; the subclass
        then builds its kill view and calls ``_serve_first``."""
        check_identity(cluster, node, name)
        if isinstance(config, Snapshot) and (config.cluster, config.node) == (cluster, node):
            snapshot = config  # built by ``build`` for this identity (``from_file``)
        else:
            snapshot = build(
                config.config if isinstance(config, Snapshot) else config, cluster=cluster, node=node
            )
        self._cluster = cluster
        self._node = node
        self._clock = clock
        self._own_clock = None if clock is time.time else clock
        self._swap_lock = threading.Lock()
        self._listeners: list[Callable[[], object]] = []
        self._tallies = new_tallies(snapshot.rules)  # evaluations by reason, for status() and metrics
        self._claim_tallies = new_tallies(snapshot.rules)  # claims' final answers by reason
        self._snapshot = snapshot
        return snapshot

    def _serve_first(self) -> None:
        kills = self._kills
        self._served = compose(self._snapshot, kills.state, kills, self._settled, self._own_clock)

    # -- what is served: one writer ----------------------------------------------------------------------

    def _swap(self, snapshot: Snapshot | None = None) -> None:
        """Serve ``snapshot`` (or the current one again under a changed kill view): the only writer of what
        is served. A reference assignment, so an evaluation sees the old or the new, never a mix."""
        with self._swap_lock:
            if snapshot is not None:
                prepare_tallies(self._tallies, snapshot.rules)  # counters exist before the rules go live
                prepare_tallies(self._claim_tallies, snapshot.rules)
                self._snapshot = snapshot
            kills = self._kills
            self._served = compose(self._snapshot, kills.state, kills, self._settled, self._own_clock)
        self._notify()

    # -- listeners: told that something a front end shows may have changed ----------------------------

    def _listen(self, listener: Callable[[], object]) -> Callable[[], None]:
        """Call ``listener()`` after every change of what is served, when kill-switch reads start failing or
        succeed again, and when a reload is refused or the refusal ends. It may be called on any thread,
        with graylib's locks held: it must only take note (e.g. put a token in a queue) and return.
        Returns the function that removes it."""
        self._listeners = [*self._listeners, listener]

        def remove() -> None:
            self._listeners = [known for known in self._listeners if known is not listener]

        return remove

    def _notify(self) -> None:
        for listener in self._listeners:
            try:
                listener()
            except Exception:  # a listener must never break a swap or a refresh
                log.exception("graylib listener failed")

    def _health(self) -> tuple[str, str]:
        """``("ready" | "stale" | "error", why)``: whether the served rules are current and obeyed.

        ``error``: the kill switches are unknown (every rule fails closed); ``stale``: the kill switches
        could not be read lately (the last ones read are obeyed), or the rules source holds a refused
        version (the last good one is served).
        """
        kills = self._kills
        if kills.state.stale:
            return "error", kills.stale_detail()
        if kills.error:
            return "stale", f"kill switches could not be read (the last ones read are obeyed): {kills.error}"
        follower = self._follower
        if follower is not None and follower.refusing:
            return "stale", f"serving the last good rules; the source was refused: {follower.last_error}"
        return "ready", ""

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
    def snapshot(self) -> Snapshot:
        """The compiled rule set currently served (immutable; replaced whole on reload)."""
        return self._snapshot

    @property
    def config(self) -> Config:
        return self._snapshot.config

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
            served = self._served
            try:
                rule = served.rules[rule_id]  # a subscript costs half a mapping proxy's .get
            except KeyError:
                return Decision(
                    applies=False,
                    reason=Reason.UNKNOWN_RULE,
                    rule_id=str(rule_id),
                    rule_version=served.version,
                )
            decision = rule.evaluate(ctx)
            next(self._tallies[rule_id][decision.reason])  # decisions by reason, for status()
            return decision
        except Exception as exc:  # the payment path never raises: fail closed
            return _error(str(rule_id), exc)

    def evaluate_all(self, ctx: Context) -> dict[str, Decision]:
        """Decisions of every rule that lists this payment's type (the others cannot apply).

        The cost grows with the rules indexed under the payment type, not with all rules.
        """
        try:
            tallies = self._tallies
            out: dict[str, Decision] = {}
            for rule in self._served.by_payment_type.get(ctx.payment_type, ()):
                rid = rule.rule_id
                try:
                    out[rid] = decision = rule.evaluate(ctx)
                    next(tallies[rid][decision.reason])
                except Exception as exc:  # one bad rule must not hide the others
                    out[rid] = _error(rid, exc)
            return out
        except Exception as exc:  # the payment path never raises: fail closed
            log.warning("evaluate_all failed closed: %s", describe_error(exc))
            return {}

    # -- kill switches -----------------------------------------------------------------------------------

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """The kill switches this client currently obeys, as last read from the store."""
        return self._kills.switches

    @property
    def kill_switches_stale(self) -> bool:
        """True while the kill switches are older than ``kill_max_stale``: every rule fails closed."""
        return self._kills.state.stale
