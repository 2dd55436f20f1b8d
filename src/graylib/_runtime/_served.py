"""What a client serves: its compiled snapshot with the kill switches folded in.

``compose(snapshot, state, kills)`` builds a ``Served`` whenever either changes (a reload, a kill switch
set or cleared, the view going stale, polling starting or stopping). Each rule id maps to an entry that
answers for it:

- the ``CompiledRule`` itself, for a live rule (the common case: nothing wraps it, nothing is checked);
- ``SwitchKilled``: its kill switch is set; evaluation answers ``KILLED`` with the switch's reason;
- ``Unknown``: the kill switches are stale; evaluation answers ``ERROR`` (fail closed);
- ``Clocked`` around a rule with a schedule when the client has a clock of its own (``Client(clock=...)``):
  the schedule is judged by that clock (a rule without a schedule never reads a clock);
- ``Polling`` around any of these while no watcher thread runs here: each evaluation first lets the kill
  view refresh itself when it is due, then answers from the entry that is current afterwards.

Every entry has ``evaluate(ctx, now=None)`` (what ``Client.evaluate`` answers) and ``judge(ctx, now)`` for
a claim: ``(what the rule decides, the kill that overrides it or None)``. A claim of a switch-killed rule
needs both (a retry of a payment reserved before the kill gets its first answer from the store), and gets
them from one evaluation.

Decisions per payment are thus made without a flag or a clock check: everything about kills was decided
when the ``Served`` was built.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType
from typing import Protocol

from .._compile import Snapshot
from .._evaluate import CompiledRule
from .._redact import redact_url
from .._values import Context, Decision, Reason
from ._kills import KillState, KillView

__all__ = ["Clocked", "Entry", "Polling", "Served", "SwitchKilled", "Unknown", "compose"]


class Entry(Protocol):
    """What a served rule id maps to."""

    rule_id: str

    @property
    def compiled(self) -> CompiledRule:
        """The compiled rule underneath (its limit plan is what a claim reserves)."""
        ...

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision: ...

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]: ...


class SwitchKilled:
    """A rule whose kill switch is set in the store."""

    __slots__ = ("compiled", "decision", "rule_id")

    def __init__(self, rule: CompiledRule, reason: str) -> None:
        self.compiled = rule
        self.rule_id = rule.rule_id
        fallback = rule.d_killed
        self.decision = Decision(
            applies=False,
            reason=Reason.KILLED,
            rule_id=rule.rule_id,
            rule_version=fallback.rule_version,
            stage=fallback.stage,
            detail=redact_url(f"kill switch: {reason}")[:300],
        )

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        return self.decision

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]:
        return self.compiled.evaluate(ctx, now), self.decision


class Clocked:
    """A scheduled rule judged by the client's own clock instead of the real time."""

    __slots__ = ("_clock", "compiled", "rule_id")

    def __init__(self, rule: CompiledRule, clock: Callable[[], float]) -> None:
        self.compiled = rule
        self.rule_id = rule.rule_id
        self._clock = clock

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        return self.compiled.evaluate(ctx, self._clock() if now is None else now)

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]:
        return self.compiled.evaluate(ctx, now), None


class Unknown:
    """A rule whose kill switch cannot be known: the view is stale, every answer fails closed."""

    __slots__ = ("_kills", "compiled", "rule_id")

    def __init__(self, rule: CompiledRule, kills: KillView) -> None:
        self.compiled = rule
        self.rule_id = rule.rule_id
        self._kills = kills

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        fallback = self.compiled.d_killed
        return Decision(
            applies=False,
            reason=Reason.ERROR,
            rule_id=self.rule_id,
            rule_version=fallback.rule_version,
            stage=fallback.stage,
            detail=self._kills.stale_detail(),
        )

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]:
        return self.evaluate(ctx, now), None


class Polling:
    """Any entry while no watcher thread runs: refresh the kill view when due, then ask the current entry.

    The current entry is taken from what is served after the refresh, and only under the same snapshot:
    a reload landing meanwhile must not pair this payment with another version of the rule.
    """

    __slots__ = ("_base", "_current", "_kills", "_snapshot", "compiled", "rule_id")

    def __init__(
        self,
        entry: Entry,
        snapshot: Snapshot,
        kills: KillView,
        current: Callable[[str, Snapshot], Entry | None],
    ) -> None:
        self.compiled = entry.compiled
        self.rule_id = entry.rule_id
        self._base = entry
        self._snapshot = snapshot
        self._kills = kills
        self._current = current

    def _entry(self) -> Entry:
        self._kills.poll()
        entry = self._current(self.rule_id, self._snapshot)
        return entry if entry is not None else self._base

    def evaluate(self, ctx: Context, now: float | None = None) -> Decision:
        return self._entry().evaluate(ctx, now)

    def judge(self, ctx: Context, now: float) -> tuple[Decision, Decision | None]:
        return self._entry().judge(ctx, now)


class Served:
    """A snapshot as served: the entry of every rule id, and the entries by payment type.

    ``settled`` holds the entries without their ``Polling`` wrapper (what a polling entry answers from).
    """

    __slots__ = ("by_payment_type", "rules", "settled", "snapshot", "version")

    def __init__(
        self,
        snapshot: Snapshot,
        rules: Mapping[str, Entry],
        by_payment_type: Mapping[str, tuple[Entry, ...]],
        settled: Mapping[str, Entry],
    ) -> None:
        self.snapshot = snapshot
        self.version = snapshot.version
        self.rules = rules
        self.by_payment_type = by_payment_type
        self.settled = settled


def compose(
    snapshot: Snapshot,
    state: KillState,
    kills: KillView,
    current: Callable[[str, Snapshot], Entry | None],
    clock: Callable[[], float] | None = None,
) -> Served:
    """The ``Served`` of ``snapshot`` under the kill ``state``.

    ``current`` finds the settled entry of a rule id under a snapshot in what is served later, or None when
    another snapshot is served by then (for ``Polling``); ``clock``
    is the client's own clock, None for the real time.
    """
    compiled: Mapping[str, Entry] = snapshot.rules
    plain: Mapping[str, tuple[Entry, ...]] = snapshot.by_payment_type
    switches = state.switches
    clocked = clock is not None and any(rule.scheduled for rule in snapshot.rules.values())
    if not (state.stale or state.polling or clocked or any(rid in compiled for rid in switches)):
        return Served(snapshot, compiled, plain, compiled)  # nothing to fold in
    settled: dict[str, Entry] = {}
    for rule_id, rule in snapshot.rules.items():
        switch = switches.get(rule_id)
        if state.stale:
            settled[rule_id] = Unknown(rule, kills)
        elif switch is not None:
            settled[rule_id] = SwitchKilled(rule, switch.reason)
        elif clock is not None and rule.scheduled:
            settled[rule_id] = Clocked(rule, clock)
        else:
            settled[rule_id] = rule
    entries: dict[str, Entry] = (
        {rid: Polling(entry, snapshot, kills, current) for rid, entry in settled.items()}
        if state.polling
        else settled
    )
    by_type = {
        kind: tuple(entries[rule.rule_id] for rule in rules)
        for kind, rules in snapshot.by_payment_type.items()
    }
    return Served(snapshot, MappingProxyType(entries), MappingProxyType(by_type), MappingProxyType(settled))
