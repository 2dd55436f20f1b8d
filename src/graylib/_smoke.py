"""Smoke cases: contexts written next to a rule with the decision each must get.

They run before a config goes live (``load_config``, ``graylib validate``, ``graylib plan``, every
reloading client), without touching any store, so a rule that would misbehave on its own test accounts never
replaces a good one. The build pipeline (``_load.build``) runs them on the snapshot it is about to serve
(``smoke_failures``), so each version is compiled once; ``run_smoke`` compiles just the rules that have
cases, for the CLI.
"""

from __future__ import annotations

from collections.abc import Sequence

import attrs

from ._compile import Snapshot, compile_rule
from ._config import Config, SmokeCase
from ._evaluate import CompiledRule
from ._values import Context, Decision, Reason

__all__ = ["SmokeResult", "check_smoke", "run_smoke", "smoke_failures"]


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
        if rule.smoke:  # compiling costs ~20 µs a rule: only the rules that have cases
            compiled = compile_rule(rule, version=config.version, cluster=cluster, node=node)
            results.extend(_run_rule(compiled, rule_index))
    return results


def _run_rule(compiled: CompiledRule, rule_index: int) -> Sequence[SmokeResult]:
    out = []
    for i, case in enumerate(compiled.rule.smoke):
        decision, wrong = _check(compiled, case)
        out.append(SmokeResult(compiled.rule_id, i, case, decision, wrong, rule_index))
    return out


def smoke_failures(snapshot: Snapshot) -> list[str]:
    """Problems of every failing smoke case, run on the rules ``snapshot`` compiled (as its client would)."""
    problems: list[str] = []
    for rule_index, rule in enumerate(snapshot.config.rules):
        if rule.smoke:
            results = _run_rule(snapshot.rules[rule.id], rule_index)
            problems.extend(r.describe() for r in results if not r.passed)
    return problems


def check_smoke(config: Config, *, cluster: str = "", node: str = "") -> list[str]:
    """Problems (``"path 'name': expected ...; got ..."``) of every failing smoke case."""
    return [r.describe() for r in run_smoke(config, cluster=cluster, node=node) if not r.passed]
