"""Smoke cases: contexts written next to a rule with the decision each must get.

They run before a config goes live (``load_config``, ``graylib validate``, ``graylib plan``, every
reloading client), without touching any store, so a rule that would misbehave on its own test accounts never
replaces a good one.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ._config import Config, Rule, SmokeCase
from ._evaluate import CompiledRule
from ._values import Context, Decision, Reason

__all__ = ["SmokeResult", "check_smoke", "run_smoke"]


@attrs.frozen
class SmokeResult:
    rule_id: str
    index: int
    case: SmokeCase
    decision: Decision
    mismatches: tuple[str, ...]
    rule_index: int = 0

    @property
    def passed(self) -> bool:
        return not self.mismatches

    @property
    def path(self) -> str:
        return f"rules[{self.rule_index}].smoke[{self.index}]"

    def describe(self) -> str:
        d = self.decision
        actual = f"applies={str(d.applies).lower()}, discount={d.discount}, reason={d.reason.value}"
        if d.detail:
            actual += f" ({d.detail})"
        return f"{self.path} {self.case.name!r}: expected {', '.join(self.mismatches)}; got {actual}"


def _context(case: SmokeCase) -> Context:
    return Context(**dict(case.context))


def _check(rule: CompiledRule, case: SmokeCase) -> tuple[Decision, tuple[str, ...]]:
    now = case.at.timestamp() if case.at is not None else None
    try:
        decision = rule.evaluate(_context(case), now)
    except Exception as exc:  # judged like the payment path: a fault is an ERROR decision, not a crash
        decision = Decision(applies=False, reason=Reason.ERROR, rule_id=rule.rule_id, detail=f"{exc!r}"[:300])
    wrong: list[str] = []
    if case.applies is not None and decision.applies != case.applies:
        wrong.append(f"applies={str(case.applies).lower()}")
    if case.discount is not None and decision.discount != case.discount:
        wrong.append(f"discount={case.discount}")
    if case.reason is not None and decision.reason.value != case.reason:
        wrong.append(f"reason={case.reason}")
    return decision, tuple(wrong)


def run_smoke(config: Config, *, cluster: str = "", node: str = "") -> list[SmokeResult]:
    """Every smoke case of every rule, evaluated as the client at ``cluster``/``node`` would."""
    results: list[SmokeResult] = []
    for rule_index, rule in enumerate(config.rules):
        results.extend(_run_rule(rule, rule_index, config.version, cluster, node))
    return results


def _run_rule(rule: Rule, rule_index: int, version: str, cluster: str, node: str) -> Sequence[SmokeResult]:
    if not rule.smoke:  # compiling a rule costs ~20 µs; a reload of 1,000 rules has no time for that twice
        return ()
    compiled = CompiledRule(rule, version=version, cluster=cluster, node=node)
    out = []
    for i, case in enumerate(rule.smoke):
        decision, wrong = _check(compiled, case)
        out.append(SmokeResult(rule.id, i, case, decision, wrong, rule_index))
    return out


def check_smoke(config: Config, *, cluster: str = "", node: str = "") -> list[str]:
    """Problems (``"path 'name': expected ...; got ..."``) of every failing smoke case."""
    return [r.describe() for r in run_smoke(config, cluster=cluster, node=node) if not r.passed]
