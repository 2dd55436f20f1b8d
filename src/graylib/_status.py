"""What a client (or a store) can say about the rules it serves: ``Client.status()`` and ``graylib status``.

Everything here runs only when someone asks for a status; the per-rule decision counts it shows are kept
on the payment path by ``_runtime._tallies``. The functions take what they show as arguments (a snapshot,
the reload counters, the kill view's switches, a store, the tallies) and know no client.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._config import Config
from ._redact import describe_error
from ._runtime._tallies import read_tallies
from .stores import KillSwitch, LedgerStore, LedgerSummary, RuleStats, Store

if TYPE_CHECKING:
    from ._compile import Snapshot
    from ._runtime._tallies import Tallies

__all__ = ["RuleStatus", "Status", "is_healthy", "running_status", "store_status"]


@attrs.frozen
class RuleStatus:
    """One rule as configured and as running: state, stage, kill switch, decisions and grants."""

    rule_id: str
    state: str
    stage: str
    killed: bool
    kill_reason: str = ""
    killed_at: float | None = None
    decisions: Mapping[str, int] = attrs.field(factory=dict)
    """Evaluations by reason (``Reason`` values) since the client started; a claim counts its evaluation.
    Empty for ``graylib status`` (the counts live in each client process)."""
    granted_count: int = 0
    granted_amount: int = 0
    shadow_count: int = 0
    """Claims a shadow rule would have granted (counted in shadow counters only)."""
    shadow_amount: int = 0
    stats_error: str = ""
    ledger_grants: int | None = None
    """From the grant ledger (``graylib status`` only; None when not read): grants, releases, their net."""
    ledger_releases: int | None = None
    ledger_net_count: int | None = None
    ledger_net_amount: int | None = None
    ledger_agrees: bool | None = None
    """Whether the ledger's net equals the counters (``granted_count``, ``granted_amount``); None: unknown."""
    ledger_error: str = ""

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"decisions": dict(self.decisions)}


@attrs.frozen
class Status:
    """A client's (or a store's) view of the running config and its rules.

    ``served_from`` is ``"source"`` when the served config came from the source (a file, or a store's
    published revision: then ``revision`` is its number), ``"last_good"`` when the source was broken or
    unreachable at start-up and the last good copy is served instead, ``"config"`` when the
    client was built from a mapping or a ``Config``. ``last_reload_error`` stays set after a later success
    so that an operator sees what went wrong; compare its time with ``last_reload_at`` (also set when the
    file is put back to the served version after a failure).
    """

    version: str
    loaded_at: float
    source: str
    served_from: str
    cluster: str = ""
    node: str = ""
    digest: str = ""
    reloading: bool = False
    reload_interval: float | None = None
    reloads: int = 0
    last_reload_at: float | None = None
    last_reload_error: str = ""
    last_reload_error_at: float | None = None
    revision: int | None = None
    """The served revision's number (a client following a store; None otherwise, or when a last good copy
    of unknown number is served)."""
    last_read_at: float | None = None
    """When the source last answered (a file read, a store's current revision number read)."""
    last_read_age: float | None = None
    """Seconds since then, when the status was taken: a store out of reach shows here first."""
    kill_switch_error: str = ""
    kill_switches_stale: bool = False
    """The client could not read the kill switches for longer than its ``kill_max_stale``: every rule
    answers ``Reason.ERROR`` until the store can be read again."""
    rules: tuple[RuleStatus, ...] = ()

    @property
    def healthy(self) -> bool:
        """No reload error newer than the last successful load, the source itself is what is served, and the
        kill switches are fresh enough to serve by."""
        return is_healthy(
            self.served_from, self.kill_switches_stale, self.last_reload_at, self.last_reload_error_at
        )

    def rule(self, rule_id: str) -> RuleStatus | None:
        for rule in self.rules:
            if rule.rule_id == rule_id:
                return rule
        return None

    def to_dict(self) -> dict[str, Any]:
        out = attrs.asdict(self, recurse=False)
        out["rules"] = [r.to_dict() for r in self.rules]
        out["healthy"] = self.healthy
        return out


def is_healthy(
    served_from: str, stale: bool, last_reload_at: float | None, last_reload_error_at: float | None
) -> bool:
    """``Status.healthy`` from its parts (the fleet record of a following client says the same)."""
    if served_from == "last_good" or stale:
        return False
    if last_reload_error_at is None:
        return True
    return last_reload_at is not None and last_reload_at > last_reload_error_at


def _rules(
    config: Config,
    store: Store,
    switches: Mapping[str, KillSwitch],
    tallies: Tallies | None,
    *,
    ledger: bool = False,
) -> tuple[RuleStatus, ...]:
    out = []
    for rule in config.rules:
        switch = switches.get(rule.id)
        stats_error = ""
        try:
            stats = store.stats(rule.id)
        except Exception as exc:  # a status must still show the rest when the store is down
            stats, stats_error = RuleStats(), describe_error(exc)
        out.append(
            RuleStatus(
                rule_id=rule.id,
                state=rule.state,
                stage=rule.rollout.stage,
                killed=switch is not None or rule.state == "killed",
                kill_reason=switch.reason
                if switch is not None
                else ("state killed" if rule.state == "killed" else ""),
                killed_at=switch.at if switch is not None else None,
                decisions=read_tallies(tallies, rule.id) if tallies is not None else {},
                granted_count=stats.granted_count,
                granted_amount=stats.granted_amount,
                shadow_count=stats.shadow_count,
                shadow_amount=stats.shadow_amount,
                stats_error=stats_error,
                **(_audit(store, rule.id, stats, stats_error) if ledger else {}),
            )
        )
    return tuple(out)


def _audit(store: Store, rule_id: str, stats: RuleStats, stats_error: str) -> dict[str, Any]:
    """The ``RuleStatus`` fields of the ledger audit: the ledger added up, and whether the counters agree.

    Reads the rule's whole ledger (SQLite adds it up in place; the other stores page through it), so only
    ``graylib status`` asks for it, never a running client's ``status()``.
    """
    if not isinstance(store, LedgerStore):
        return {}
    try:
        summary: LedgerSummary = store.ledger_summary(rule_id)
    except Exception as exc:  # the status still shows the rest
        return {"ledger_error": describe_error(exc)}
    agrees = None
    if not stats_error:
        agrees = (summary.net_count, summary.net_amount) == (stats.granted_count, stats.granted_amount)
    return {
        "ledger_grants": summary.grants,
        "ledger_releases": summary.releases,
        "ledger_net_count": summary.net_count,
        "ledger_net_amount": summary.net_amount,
        "ledger_agrees": agrees,
    }


def _switches(store: Store, fallback: Mapping[str, KillSwitch]) -> tuple[Mapping[str, KillSwitch], str]:
    try:
        return dict(store.kill_switches()), ""
    except Exception as exc:  # keep the client's last known view
        return fallback, describe_error(exc)


def running_status(
    snapshot: Snapshot,
    *,
    store: Store,
    switches: Mapping[str, KillSwitch],
    stale: bool,
    tallies: Tallies,
    reload_fields: Mapping[str, Any],
) -> Status:
    """The status of a running client: its snapshot, reloads, kill switches, decisions and grants.

    ``switches`` is the client's own view, shown when the store cannot be read now; ``reload_fields`` are
    the ``Status`` fields of its reloader (read together with ``snapshot``, so they describe one moment).
    The store is asked here, outside any lock.
    """
    current, switch_error = _switches(store, switches)
    return Status(
        version=snapshot.version,
        loaded_at=snapshot.loaded_at,
        cluster=snapshot.cluster,
        node=snapshot.node,
        digest=snapshot.digest,
        kill_switch_error=switch_error,
        kill_switches_stale=stale,
        rules=_rules(snapshot.config, store, current, tallies),
        **reload_fields,
    )


def store_status(config: Config, store: Store, *, source: str = "") -> Status:
    """What ``graylib status FILE --store URL`` shows: the file's rules, the store's switches and grants,
    and each rule's grant ledger added up beside its counters."""
    switches, switch_error = _switches(store, {})
    return Status(
        version=config.version,
        loaded_at=time.time(),
        source=source or config.source,
        served_from="source",
        kill_switch_error=switch_error,
        rules=_rules(config, store, switches, None, ledger=True),
    )
