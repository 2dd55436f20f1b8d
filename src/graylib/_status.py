"""What a client (or a store) can say about the rules it serves: ``Client.status()`` and ``graylib status``.

Decisions by reason are counted on the payment path, so the counting has to cost next to nothing: each
rule gets one ``itertools.count`` per ``Reason`` when its config is installed, and ``Client.evaluate`` does
one ``next()`` on the right one (two dict lookups and a C call, atomic under the GIL, so threads never lose
a count). Everything else here runs only when someone asks for a status.
"""

from __future__ import annotations

import itertools
import time
from collections import defaultdict
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

import attrs

from ._config import Config
from ._redact import describe_error
from ._values import Reason
from .stores import KillSwitch, RuleStats, Store

if TYPE_CHECKING:
    from ._client import Client

__all__ = [
    "RuleStatus",
    "Status",
    "Tallies",
    "client_status",
    "new_tallies",
    "prepare_tallies",
    "store_status",
]

Tallies = defaultdict[str, dict[Reason, "itertools.count[int]"]]
"""Per rule id, one counter per reason: ``next(tallies[rule_id][decision.reason])`` counts a decision."""


def _rule_counters() -> dict[Reason, itertools.count[int]]:
    return {reason: itertools.count() for reason in Reason}


def new_tallies(rule_ids: Iterable[str] = ()) -> Tallies:
    """Counters for every rule id given; a rule id not prepared gets its counters on first use."""
    tallies: Tallies = defaultdict(_rule_counters)
    prepare_tallies(tallies, rule_ids)
    return tallies


def prepare_tallies(tallies: Tallies, rule_ids: Iterable[str]) -> None:
    """Create the counters of new rule ids before a snapshot that has them goes live (counts never reset)."""
    for rule_id in rule_ids:
        if rule_id not in tallies:
            tallies[rule_id] = _rule_counters()


def _value(counter: itertools.count[int]) -> int:
    # A count's repr is "count(N)": N is the next value, i.e. how many times next() was called.
    return int(repr(counter)[6:-1])


def read_tallies(tallies: Tallies, rule_id: str) -> dict[str, int]:
    """Decisions by reason for one rule, reasons that never happened left out."""
    counters = tallies.get(rule_id)
    if counters is None:
        return {}
    counts = {reason.value: _value(c) for reason, c in counters.items()}
    return {reason: n for reason, n in counts.items() if n}


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

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"decisions": dict(self.decisions)}


@attrs.frozen
class Status:
    """A client's (or a store's) view of the running config and its rules.

    ``served_from`` is ``"source"`` when the served config came from the source file, ``"last_good"`` when
    the source was broken at start-up and the last good copy is served instead, ``"config"`` when the
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
    kill_switch_error: str = ""
    kill_switches_stale: bool = False
    """The client could not read the kill switches for longer than its ``kill_max_stale``: every rule
    answers ``Reason.ERROR`` until the store can be read again."""
    rules: tuple[RuleStatus, ...] = ()

    @property
    def healthy(self) -> bool:
        """No reload error newer than the last successful load, the source itself is what is served, and the
        kill switches are fresh enough to serve by."""
        if self.served_from == "last_good" or self.kill_switches_stale:
            return False
        if self.last_reload_error_at is None:
            return True
        return self.last_reload_at is not None and self.last_reload_at > self.last_reload_error_at

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


def _rules(
    config: Config,
    store: Store,
    switches: Mapping[str, KillSwitch],
    tallies: Tallies | None,
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
            )
        )
    return tuple(out)


def _switches(store: Store, fallback: Mapping[str, KillSwitch]) -> tuple[Mapping[str, KillSwitch], str]:
    try:
        return dict(store.kill_switches()), ""
    except Exception as exc:  # keep the client's last known view
        return fallback, describe_error(exc)


def client_status(client: Client) -> Status:
    """The status of a running client: its snapshot, reloads, kill switches, decisions and grants.

    The snapshot and the reload counters are read together (``Reloader.view``), so they describe the same
    moment; the store is asked afterwards, outside any lock.
    """
    reloader = client._reloader
    if reloader is None:
        snapshot = client.snapshot
        reload_fields: dict[str, Any] = {"source": snapshot.config.source, "served_from": "config"}
    else:
        snapshot, reload_fields = reloader.view(client)
    switches, switch_error = _switches(client.store, client.kill_switches())
    return Status(
        version=snapshot.version,
        loaded_at=snapshot.loaded_at,
        cluster=snapshot.cluster,
        node=snapshot.node,
        digest=snapshot.digest,
        kill_switch_error=switch_error,
        kill_switches_stale=client.kill_switches_stale,
        rules=_rules(snapshot.config, client.store, switches, client._tallies),
        **reload_fields,
    )


def store_status(config: Config, store: Store, *, source: str = "") -> Status:
    """What ``graylib status FILE --store URL`` shows: the file's rules, the store's switches and grants."""
    switches, switch_error = _switches(store, {})
    return Status(
        version=config.version,
        loaded_at=time.time(),
        source=source or config.source,
        served_from="source",
        kill_switch_error=switch_error,
        rules=_rules(config, store, switches, None),
    )
