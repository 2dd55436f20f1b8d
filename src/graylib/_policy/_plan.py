"""``plan_change``: compare the running config with a new one and decide whether policy allows the change.

The rules of change safety:

- a new rule starts at its first stage, or in shadow;
- a rule's stage advances by at most one step per change; going back any distance is fine; the step is
  counted by name and by exposure, so renamed or redrawn stages cannot reach past the running plan's next;
- a change that widens exposure anywhere (new rule, later stage, higher percentage or discount, looser
  eligibility, lists or limits, a limit window changed either way since its counters restart empty, a looser
  guardrail) needs ``[guardrails].min_approvals`` distinct approvers
  other than the author in the new file's ``[change]`` (names compared without case or extra whitespace,
  so one person cannot count twice); the stricter of the old and new ``min_approvals`` counts, so a change
  cannot lower the bar and use the lower bar at once. Narrowing needs no approval, so an emergency stop is
  never blocked; a change that both widens and narrows is a widening change;
- with a trust file (``approvals=``, built by ``signed_approvals``), only valid signatures over the new
  text's exact bytes count, from distinct approvers of the trust file other than the author, and the trust
  file's ``threshold`` replaces ``min_approvals``: ``[change].approved_by`` names are shown as claimed and
  never counted.

- the running config's guardrail ceilings still bind the new rules: a loosened guardrail counts from the
  next change, so a change cannot raise a ceiling (or unforbid a payment type) and use it at once.

Each config's own guardrail ceilings are checked when it is loaded (they make a config invalid).
"""

from __future__ import annotations

from collections.abc import Sequence
from fractions import Fraction

import attrs

from .._config import Config, Rule
from .._config._stages import label, probe_points
from .._trust import person
from .._values import Context
from ._approvals import SignedApprovals
from ._blast import blast_radius
from ._diff import describe_added, diff_config, diff_rule, fmt_percent, stage_steps
from ._model import Direction, FieldChange, Plan, RuleChange, Violation, ViolationKind

__all__ = ["plan_change"]

_ELIGIBILITY = (
    "payment_types",
    "regions",
    "min_amount",
    "max_amount",
    "starts_at",
    "ends_at",
    "allow.",
    "deny.",
)


def _eligibility_widened(changes: Sequence[FieldChange]) -> bool:
    return any(c.direction is Direction.WIDENING and c.field.startswith(_ELIGIBILITY) for c in changes)


def _approvers(author: str, approved_by: Sequence[str]) -> tuple[str, ...]:
    """Distinct approvers other than the author, compared by ``person`` and shown as first written."""
    seen = {person(author)}
    out = []
    for name in approved_by:
        key = person(name)
        if key and key not in seen:
            seen.add(key)
            out.append(" ".join(name.split()))
    return tuple(sorted(out))


def _added(rule: Rule, new: Config, sample: Sequence[Context] | None) -> tuple[RuleChange, list[Violation]]:
    violations = []
    first = rule.rollout.stages[0].name
    if rule.state != "shadow" and rule.rollout.index != 0:
        violations.append(
            Violation(
                ViolationKind.NEW_RULE_NOT_AT_START,
                rule.id,
                f"a new rule must start at its first stage {first!r} or in shadow; it starts at stage "
                f"{rule.rollout.stage!r} (step {rule.rollout.index + 1} of {len(rule.rollout.stages)}) "
                f"in state {rule.state}",
            )
        )
    blast = blast_radius(None, rule, new.traffic, sample, eligibility_widened=False)
    change = RuleChange(
        rule_id=rule.id,
        kind="added",
        changes=tuple(describe_added(rule)),
        new_state=rule.state,
        new_stage=rule.rollout.stage,
        blast=blast,
    )
    return change, violations


def _beyond_next_stage(old: Rule, rule: Rule) -> list[Violation]:
    """A stage skipped by redrawing rather than by name: the new current stage must not expose more, at any
    cluster or node, than the stage after the old one in the running plan (the old one when it was last).

    Stage names alone can be gamed: renaming stages, or editing the current stage's targets in place, moves
    exposure any distance while the step count by name stays at one or zero.
    """
    stages = old.rollout.stages
    ceiling = stages[min(old.rollout.index + 1, len(stages) - 1)]
    current = rule.rollout.current
    for cluster, node in probe_points((*stages, *rule.rollout.stages)):
        allowed = ceiling.percent_at(cluster, node) or 0
        now = current.percent_at(cluster, node) or 0
        if now > allowed:
            return [
                Violation(
                    ViolationKind.STAGE_SKIPPED,
                    rule.id,
                    f"stage {rule.rollout.stage!r} exposes {fmt_percent(Fraction(now))} at "
                    f"{label(cluster, node)}, more than the running plan's next stage {ceiling.name!r} "
                    f"({fmt_percent(Fraction(allowed))}); renamed or redrawn stages cannot skip a step: "
                    "advance one step of the running plan per change",
                )
            ]
    return []


def _changed(
    old: Rule, rule: Rule, traffic_config: Config, sample: Sequence[Context] | None
) -> tuple[RuleChange | None, list[Violation]]:
    changes = diff_rule(old, rule)
    if not changes:
        return None, []
    violations = []
    old_index, new_index = stage_steps(old, rule)
    if new_index - old_index > 1:
        names = [s.name for s in rule.rollout.stages]
        violations.append(
            Violation(
                ViolationKind.STAGE_SKIPPED,
                rule.id,
                f"stage advances {new_index - old_index} steps at once ({old.rollout.stage!r} -> "
                f"{rule.rollout.stage!r}); advance one step per change, next is {names[old_index + 1]!r}",
            )
        )
    else:
        violations += _beyond_next_stage(old, rule)
    change = RuleChange(
        rule_id=rule.id,
        kind="changed",
        changes=tuple(changes),
        old_state=old.state,
        new_state=rule.state,
        old_stage=old.rollout.stage,
        new_stage=rule.rollout.stage,
    )
    if change.widens:
        blast = blast_radius(
            old, rule, traffic_config.traffic, sample, eligibility_widened=_eligibility_widened(changes)
        )
        change = attrs.evolve(change, blast=blast)
    return change, violations


def _beyond_running_guardrails(old: Config, new: Config) -> list[Violation]:
    """Rules of ``new`` that pass a ceiling of ``old``'s guardrails (``new``'s own are checked at load)."""
    g = old.guardrails
    out = []
    for rule in new.rules:
        problems = []
        d = rule.discount
        if d.percent is not None and d.percent > g.max_percent_off:
            problems.append(
                f"discount.percent {fmt_percent(d.percent)} is above the running max_percent_off "
                f"{fmt_percent(g.max_percent_off)}"
            )
        off = d.amount if d.amount is not None else d.max_off
        if off is not None and off > g.max_amount_off:
            field = "discount.amount" if d.amount is not None else "discount.max_off"
            problems.append(f"{field} {off} is above the running max_amount_off {g.max_amount_off}")
        forbidden = sorted(rule.payment_types & g.forbidden_payment_types)
        if forbidden:
            problems.append(f"payment types {', '.join(forbidden)} are forbidden by the running guardrails")
        out += [
            Violation(
                ViolationKind.BEYOND_RUNNING_GUARDRAILS,
                rule.id,
                f"{problem}; loosen [guardrails] in one change and use the new ceiling in the next",
            )
            for problem in problems
        ]
    return out


def plan_change(
    old: Config | None,
    new: Config,
    *,
    traffic_sample: Sequence[Context] | None = None,
    approvals: SignedApprovals | None = None,
) -> Plan:
    """The plan of replacing ``old`` (None: nothing runs yet) with ``new``: every rule change, its direction,
    its blast radius when it widens, the policy violations and warnings.

    Both configs must already be valid (``load_config``). ``traffic_sample`` is a list of recent payments
    (``read_traffic_sample``); without it the share of payments newly exposed is estimated from the new
    config's ``[traffic.clusters]`` (or the old one's when the new has none). ``approvals`` (from
    ``signed_approvals``, under a trust file) makes only valid signatures count, against the trust file's
    threshold; without it the names in ``[change].approved_by`` count, as they always did.
    """
    rule_changes: list[RuleChange] = []
    violations: list[Violation] = []
    traffic_config = new if new.traffic or old is None else old
    old_rules = {r.id: r for r in old.rules} if old is not None else {}
    for rule in new.rules:
        before = old_rules.get(rule.id)
        if before is None:
            added, found = _added(rule, traffic_config, traffic_sample)
            rule_changes.append(added)
            violations += found
            continue
        changed, found = _changed(before, rule, traffic_config, traffic_sample)
        violations += found
        if changed is not None:
            rule_changes.append(changed)
    new_ids = set(new.rule_ids)
    for rule in old.rules if old is not None else ():
        if rule.id not in new_ids:
            removed = FieldChange("rule", "present", "-", Direction.NARROWING)
            rule_changes.append(
                RuleChange(rule.id, "removed", (removed,), old_state=rule.state, old_stage=rule.rollout.stage)
            )
    config_changes = tuple(diff_config(old, new)) if old is not None else ()
    if old is not None:
        violations += _beyond_running_guardrails(old, new)
    required = new.guardrails.min_approvals
    if old is not None:
        required = max(required, old.guardrails.min_approvals)
    author = " ".join(new.change.author.split())
    approvers = _approvers(author, new.change.approved_by)
    claimed: tuple[str, ...] = ()
    if approvals is not None:
        required, claimed, approvers = approvals.threshold, approvers, approvals.approvers
    plan = Plan(
        old_version=old.version if old is not None else None,
        new_version=new.version,
        rules=tuple(rule_changes),
        config_changes=config_changes,
        violations=(),
        warnings=(),
        approvers=approvers,
        required_approvals=required,
        author=author,
        ticket=new.change.ticket,
        approvals=approvals,
        claimed_approvers=claimed,
    )
    if plan.widens and len(approvers) < required:
        violations.append(_missing_approvals(plan))
    return attrs.evolve(plan, violations=tuple(violations), warnings=tuple(_warnings(old, new, plan)))


def _missing_approvals(plan: Plan) -> Violation:
    widening = [f"rule {r.rule_id!r} ({r.kind})" for r in plan.rules if r.widens]
    widening += [c.field for c in plan.config_changes if c.direction is Direction.WIDENING]
    author = plan.author or "(none named)"
    found = f"{len(plan.approvers)} ({', '.join(plan.approvers) or 'none'})"
    if plan.approvals is None:
        message = (
            f"this change widens exposure ({', '.join(widening)}) and needs {plan.required_approvals} "
            f"approvers other than the author {author!r}; [change].approved_by has {found}"
        )
    else:
        message = (
            f"this change widens exposure ({', '.join(widening)}) and needs {plan.required_approvals} valid "
            f"signatures from approvers of trust file version {plan.approvals.trust_version} other than the "
            f"author {author!r}; {found} count{plan.approvals.refusals()}"
            + ("; [change].approved_by names are not signatures" if plan.claimed_approvers else "")
        )
    return Violation(ViolationKind.MISSING_APPROVALS, "", message)


def _warnings(old: Config | None, new: Config, plan: Plan) -> list[str]:
    out = []
    if old is not None and plan.changed and old.version == new.version:
        out.append(
            f"the version stays {new.version!r} although the config changed: decisions cannot tell them apart"
        )
    for change in plan.rules:
        blast = change.blast
        if blast is not None and blast.spend_per_minute is None:
            out.append(
                f"rule {change.rule_id!r}: nothing bounds what it can spend per minute; set limits.total, "
                "limits.per_region over listed regions, or limits.rate_alarm"
            )
    return out
