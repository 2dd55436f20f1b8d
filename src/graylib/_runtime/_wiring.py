"""Starting a client that follows a source: the start-up choice, the follower, and the fleet record.

``Client.from_file`` and ``Client.from_store`` differ only in their source; both go through ``follow``,
which builds the start-up snapshot (``start_from``), lets the caller make its client from it, and hands the
follower that client's ``served`` and ``swap``. ``report`` adds the fleet record of a following client.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TypeVar

from .._compile import Snapshot
from .._load import RulesText, build
from .._trust import Trust
from ..stores import Store
from ._fleet import FleetReporter
from ._follow import Follower, ReloadErrorHook, ReloadHook
from ._kills import KillView
from ._source import Source
from ._startup import start_from

__all__ = ["HEARTBEAT", "follow", "report"]

HEARTBEAT = 5.0
"""Seconds between two fleet records of an unchanged following client (at least its follow interval)."""

_C = TypeVar("_C")

Wiring = tuple[Callable[[], Snapshot], Callable[[Snapshot], object], Callable[[object], object] | None]
"""A client's ``served``, ``swap`` and ``on_change`` (None: nothing to tell), as a follower takes them."""


def follow(
    source: Source,
    *,
    cluster: str,
    node: str,
    make: Callable[[Snapshot], _C],
    wiring: Callable[[_C], Wiring],
    interval: float | None,
    hooks: tuple[ReloadHook | None, ReloadErrorHook | None],
    last_good_path: str | os.PathLike[str] | None,
    trust: Trust | None = None,
) -> tuple[_C, Follower]:
    """The client ``make`` builds from the start-up snapshot, and its started follower of ``source``.

    ``wiring(client)`` gives the client's ``served`` and ``swap`` (held weakly by the follower) and what
    to tell when a version is refused or served again (the follower's ``on_change``). With
    ``trust``, approvals are the valid signatures each sighting carries (``_startup.approvals_for``).
    """

    def build_here(rules: RulesText) -> Snapshot:
        return build(rules, cluster=cluster, node=node)

    last_good = os.fspath(last_good_path) if last_good_path is not None else None
    startup = start_from(source, build_here, last_good, trust=trust)
    client = make(startup.snapshot)
    served, swap, on_change = wiring(client)
    follower = Follower(
        source,
        build=build_here,
        served=served,
        swap=swap,
        interval=interval,
        on_reload=hooks[0],
        on_reload_error=hooks[1],
        last_good_path=last_good,
        on_change=on_change,
        trust=trust,
    )
    follower.begin(startup)
    return client, follower


def report(
    store: Store, follower: Follower, kills: KillView, *, cluster: str, node: str, ttl: float
) -> FleetReporter:
    """Write the fleet record after every poll of ``follower``, and once now."""
    interval = follower.interval or HEARTBEAT
    reporter = FleetReporter(
        store,
        cluster=cluster,
        node=node,
        view=follower.view,
        stale=lambda: kills.state.stale,
        heartbeat=max(HEARTBEAT, interval),
        ttl=ttl,
    )
    follower.on_check = reporter.beat
    reporter.beat(force=True)
    return reporter
