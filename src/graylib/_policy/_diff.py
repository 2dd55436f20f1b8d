"""Field-by-field differences between two versions of a rule, each classified as widening or narrowing.

The classification follows one question: does the new value let the rule reach more payments or grant more
money than the old one? Looser eligibility, a later stage, a higher percentage, a bigger discount, more
allow-listed accounts, fewer deny-list entries, looser or removed limits all widen; the opposite narrows.
Cosmetic changes (description, smoke cases) are neutral; so is redrawing a later stage narrower, while
redrawing one wider widens (it is what the next advance will expose).

A limit change that restarts the limit's counters widens whatever it does to the caps: a store names a
counter by the rule, the limit kind and the window length (``_limits``, ``stores``), so a new window length
in either direction (1d -> 2d, 1h -> lifetime) counts from zero, and the budget already spent in the running
window is granted again. Which counters a rule uses is read from ``LimitPlan``, the object claims build
their counters from, so the policy follows any change to how counters are named.
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable
from fractions import Fraction

from .._config import LIMIT_SUBJECTS, Config, Discount, Limit, RateAlarm, Rule, Stage
from .._config._stages import label, probe_points
from .._limits import LimitPlan, describe_limit
from .._money import money
from ._model import Direction, FieldChange

__all__ = ["describe_added", "diff_config", "diff_rule", "fmt_percent", "stage_steps"]

W, N, Z = Direction.WIDENING, Direction.NARROWING, Direction.NEUTRAL
_ABSENT = "-"


def fmt_percent(value: Fraction | None) -> str:
    if value is None:
        return "0%"
    return f"{value.numerator}%" if value.denominator == 1 else f"{float(value):g}%"


def _fmt_discount(d: Discount) -> str:
    if d.amount is not None:
        return f"{_fmt_money(d.amount)} off"
    return f"{fmt_percent(d.percent)} up to {_fmt_money(d.max_off)}"


def _fmt_limit(limit: Limit | None) -> str:
    return _ABSENT if limit is None else describe_limit(limit, amount=_fmt_money)


def _fmt_alarm(alarm: RateAlarm | None) -> str:
    return _ABSENT if alarm is None else f"amount {_fmt_money(alarm.amount)} per {alarm.window_text}"


def _fmt_money(minor: int | None) -> str:
    """An amount of the config as the plan shows it: decimals and the minor units the config writes."""
    return _ABSENT if not minor else money(minor, exact=True)


def _fmt_set(values: Iterable[str] | None, *, none: str = "any") -> str:
    return none if values is None else (", ".join(sorted(values)) or "none")


def _fmt_time(value: dt.datetime | None) -> str:
    return _ABSENT if value is None else value.isoformat()


def _compare(
    field: str,
    old: float | Fraction,
    new: float | Fraction,
    old_text: str,
    new_text: str,
    *,
    more_widens: bool,
) -> list[FieldChange]:
    """One change when the values differ: widening when the value moved in the direction that exposes more."""
    if old == new:
        return []
    widens = (new > old) == more_widens
    return [FieldChange(field, old_text, new_text, W if widens else N)]


def _set_changes(
    field: str, old: frozenset[str], new: frozenset[str], *, adding_widens: bool
) -> list[FieldChange]:
    out = []
    added, removed = new - old, old - new
    if added:
        out.append(FieldChange(f"{field} added", _ABSENT, _fmt_set(added), W if adding_widens else N))
    if removed:
        out.append(FieldChange(f"{field} removed", _fmt_set(removed), _ABSENT, N if adding_widens else W))
    return out


def stage_steps(old: Rule, new: Rule) -> tuple[int, int]:
    """(where the old stage sits in the new plan, where the new stage sits), by name when it still exists."""
    names = [s.name for s in new.rollout.stages]
    old_index = names.index(old.rollout.stage) if old.rollout.stage in names else old.rollout.index
    return old_index, new.rollout.index


def _state(old: Rule, new: Rule) -> list[FieldChange]:
    if old.state == new.state:
        return []
    # Only "active" grants money: reaching it widens, leaving it narrows, killed <-> shadow is neutral.
    if new.state == "active":
        direction = W
    elif old.state == "active":
        direction = N
    else:
        direction = Z
    return [FieldChange("state", old.state, new.state, direction)]


def _percent_at(stage: Stage, cluster: str, node: str) -> Fraction:
    return stage.percent_at(cluster, node) or Fraction(0)


def _rollout(old: Rule, new: Rule) -> list[FieldChange]:
    out: list[FieldChange] = []
    old_index, new_index = stage_steps(old, new)
    if old.rollout.stage != new.rollout.stage or old_index != new_index:
        direction = W if new_index > old_index else N if new_index < old_index else Z
        out.append(FieldChange("rollout.stage", old.rollout.stage, new.rollout.stage, direction))
    before, after = old.rollout.current, new.rollout.current
    for cluster, node in probe_points((*old.rollout.stages, *new.rollout.stages)):
        was, now = _percent_at(before, cluster, node), _percent_at(after, cluster, node)
        out += _compare(
            f"percent at {label(cluster, node)}",
            was,
            now,
            fmt_percent(was),
            fmt_percent(now),
            more_widens=True,
        )
    if [s.name for s in old.rollout.stages] != [s.name for s in new.rollout.stages]:
        old_names = " > ".join(s.name for s in old.rollout.stages)
        new_names = " > ".join(s.name for s in new.rollout.stages)
        out.append(FieldChange("rollout.stages", old_names, new_names, Z))
    out += _future_stages(old, new, new_index)
    if old.bucket_salt != new.bucket_salt:
        # A new salt reshuffles every account: some leave, others are newly exposed.
        out.append(FieldChange("salt", old.bucket_salt, new.bucket_salt, W))
    return out


def _future_stages(old: Rule, new: Rule, new_index: int) -> list[FieldChange]:
    """Stages after the current one, compared position by position with the running plan.

    Redrawing a later stage wider widens: otherwise one unapproved change could draw the next stage as
    ``"*" = 100`` and the following one-step advance would look like the step everyone agreed to.
    """
    out: list[FieldChange] = []
    olds, news = old.rollout.stages, new.rollout.stages
    points = probe_points((*olds, *news))
    for i in range(new_index + 1, len(news)):
        now_stage = news[i]
        was_stage = olds[min(i, len(olds) - 1)]
        if dict(was_stage.targets) == dict(now_stage.targets):
            continue
        wider = [
            label(c, n) for c, n in points if _percent_at(now_stage, c, n) > _percent_at(was_stage, c, n)
        ]
        field = f"rollout.stages[{i}] ({now_stage.name!r}).targets"
        if wider:
            out.append(FieldChange(field, f"as {was_stage.name!r}", f"wider at {', '.join(wider)}", W))
        else:
            out.append(FieldChange(field, f"as {was_stage.name!r}", "redrawn, no wider anywhere", Z))
    return out


def _discount(old: Discount, new: Discount) -> list[FieldChange]:
    if old == new:
        return []
    if (old.amount is None) != (new.amount is None):
        # Percent <-> fixed amount: some payments get more off; treated as widening.
        return [FieldChange("discount", _fmt_discount(old), _fmt_discount(new), W)]
    if old.amount is not None and new.amount is not None:
        return _compare(
            "discount.amount",
            old.amount,
            new.amount,
            _fmt_money(old.amount),
            _fmt_money(new.amount),
            more_widens=True,
        )
    assert old.percent is not None and new.percent is not None
    out = _compare(
        "discount.percent",
        old.percent,
        new.percent,
        fmt_percent(old.percent),
        fmt_percent(new.percent),
        more_widens=True,
    )
    out += _compare(
        "discount.max_off",
        old.max_off or 0,
        new.max_off or 0,
        _fmt_money(old.max_off),
        _fmt_money(new.max_off),
        more_widens=True,
    )
    return out


def _eligibility(old: Rule, new: Rule) -> list[FieldChange]:
    out = _set_changes("payment_types", old.payment_types, new.payment_types, adding_widens=True)
    if old.regions != new.regions:
        if old.regions is None or new.regions is None:
            direction = W if new.regions is None else N
            out.append(FieldChange("regions", _fmt_set(old.regions), _fmt_set(new.regions), direction))
        else:
            out += _set_changes("regions", old.regions, new.regions, adding_widens=True)
    out += _compare(
        "min_amount",
        old.min_amount or 0,
        new.min_amount or 0,
        _fmt_money(old.min_amount),
        _fmt_money(new.min_amount),
        more_widens=False,
    )
    out += _compare(
        "max_amount",
        old.max_amount or math.inf,
        new.max_amount or math.inf,
        _fmt_money(old.max_amount),
        _fmt_money(new.max_amount),
        more_widens=True,
    )
    starts = (
        old.starts_at.timestamp() if old.starts_at else -math.inf,
        new.starts_at.timestamp() if new.starts_at else -math.inf,
    )
    ends = (
        old.ends_at.timestamp() if old.ends_at else math.inf,
        new.ends_at.timestamp() if new.ends_at else math.inf,
    )
    out += _compare(
        "starts_at", *starts, _fmt_time(old.starts_at), _fmt_time(new.starts_at), more_widens=False
    )
    out += _compare("ends_at", *ends, _fmt_time(old.ends_at), _fmt_time(new.ends_at), more_widens=True)
    return out


def _lists(old: Rule, new: Rule) -> list[FieldChange]:
    out = _set_changes("allow.accounts", old.allow.accounts, new.allow.accounts, adding_widens=True)
    for name in ("accounts", "devices", "merchants", "regions"):
        out += _set_changes(
            f"deny.{name}", getattr(old.deny, name), getattr(new.deny, name), adding_widens=False
        )
    out += _set_changes("deny.ips", frozenset(old.deny.ips), frozenset(new.deny.ips), adding_widens=False)
    return out


def _counters(rule: Rule) -> dict[str, tuple[str, int]]:
    """For each limit kind: the counter it names and its window length, as claims build them."""
    plan = LimitPlan(rule)
    out = {kind: (f"{kind}:<{field}>", window) for kind, field, window, _, _ in plan.subjects}
    out |= {spec.name: (spec.name, spec.window) for spec in plan.fixed}
    return out


def _window_text(window: int, text: str) -> str:
    return text or ("lifetime" if not window else f"{window}s")


def _restarted(old: Rule, new: Rule) -> list[FieldChange]:
    """Limits kept by the change whose counters it restarts empty: each one widens."""
    was, now = _counters(old), _counters(new)
    out = []
    for kind in LIMIT_SUBJECTS:  # the rate alarm's window is compared by _alarm
        if kind not in was or kind not in now or was[kind] == now[kind]:
            continue
        old_limit, new_limit = getattr(old.limits, kind), getattr(new.limits, kind)
        out.append(
            FieldChange(
                f"limits.{kind}.window",
                _window_text(old_limit.window, old_limit.window_text),
                f"{_window_text(new_limit.window, new_limit.window_text)} (counters restart empty)",
                W,
            )
        )
    return out


def _limit(kind: str, old: Limit | None, new: Limit | None) -> list[FieldChange]:
    field = f"limits.{kind}"
    if old == new:
        return []
    if old is None or new is None:
        return [FieldChange(field, _fmt_limit(old), _fmt_limit(new), W if new is None else N)]
    out = []
    for part in ("count", "amount"):
        was, now = getattr(old, part), getattr(new, part)
        out += _compare(
            f"{field}.{part}",
            math.inf if was is None else was,
            math.inf if now is None else now,
            "unlimited" if was is None else str(was) if part == "count" else _fmt_money(was),
            "unlimited" if now is None else str(now) if part == "count" else _fmt_money(now),
            more_widens=True,
        )
    # A window change is reported by _restarted: its counters start empty, so it widens either way.
    return out


def _alarm(old: RateAlarm | None, new: RateAlarm | None) -> list[FieldChange]:
    if old == new:
        return []
    if old is None or new is None:
        return [FieldChange("limits.rate_alarm", _fmt_alarm(old), _fmt_alarm(new), W if new is None else N)]
    # The alarm trips once its amount is granted within one window: a bigger amount lets a bigger burst
    # through before the kill even at the same rate (5_000_000 per 1m -> 300_000_000 per 1h), and a
    # higher rate lets more through over time. Either widens.
    was, now = Fraction(old.amount, old.window), Fraction(new.amount, new.window)
    if old.window != new.window:
        # The alarm counts per window length: a new length starts an empty window, so the amount already
        # granted no longer counts toward the kill, whatever the rate.
        direction = W
    elif new.amount > old.amount or now > was:
        direction = W
    else:
        direction = N if new.amount < old.amount or now < was else Z
    return [FieldChange("limits.rate_alarm", _fmt_alarm(old), _fmt_alarm(new), direction)]


def diff_rule(old: Rule, new: Rule) -> list[FieldChange]:
    """Every difference between two versions of one rule, in the order an operator reads a rule."""
    if old == new:  # most rules of a change are untouched: one comparison instead of a full diff
        return []
    out = _state(old, new) + _rollout(old, new) + _discount(old.discount, new.discount)
    out += _eligibility(old, new) + _lists(old, new)
    for kind in LIMIT_SUBJECTS:
        out += _limit(kind, getattr(old.limits, kind), getattr(new.limits, kind))
    out += _restarted(old, new)
    out += _alarm(old.limits.rate_alarm, new.limits.rate_alarm)
    if old.smoke != new.smoke:
        out.append(FieldChange("smoke", f"{len(old.smoke)} cases", f"{len(new.smoke)} cases", Z))
    if old.description != new.description:
        out.append(FieldChange("description", old.description or _ABSENT, new.description or _ABSENT, Z))
    return out


def describe_added(rule: Rule) -> list[FieldChange]:
    """What a new rule brings, as changes from nothing (all widening, except in shadow or killed)."""
    direction = W if rule.state == "active" else Z
    out = [
        FieldChange("state", _ABSENT, rule.state, direction),
        FieldChange(
            "rollout.stage",
            _ABSENT,
            f"{rule.rollout.stage} (step {rule.rollout.index + 1} of {len(rule.rollout.stages)})",
            direction,
        ),
        FieldChange("discount", _ABSENT, _fmt_discount(rule.discount), direction),
        FieldChange("payment_types", _ABSENT, _fmt_set(rule.payment_types), direction),
    ]
    for cluster, node in probe_points(rule.rollout.stages):
        pct = _percent_at(rule.rollout.current, cluster, node)
        if pct:
            out.append(FieldChange(f"percent at {label(cluster, node)}", "0%", fmt_percent(pct), direction))
    return out


def diff_config(old: Config, new: Config) -> list[FieldChange]:
    """Changes outside the rules: guardrail ceilings (loosening one widens) and traffic shares (neutral)."""
    g, h = old.guardrails, new.guardrails
    out = _compare(
        "guardrails.max_percent_off",
        g.max_percent_off,
        h.max_percent_off,
        fmt_percent(g.max_percent_off),
        fmt_percent(h.max_percent_off),
        more_widens=True,
    )
    out += _compare(
        "guardrails.max_amount_off",
        g.max_amount_off,
        h.max_amount_off,
        _fmt_money(g.max_amount_off),
        _fmt_money(h.max_amount_off),
        more_widens=True,
    )
    out += _set_changes(
        "guardrails.forbidden_payment_types",
        g.forbidden_payment_types,
        h.forbidden_payment_types,
        adding_widens=False,
    )
    out += _compare(
        "guardrails.min_approvals",
        g.min_approvals,
        h.min_approvals,
        str(g.min_approvals),
        str(h.min_approvals),
        more_widens=False,
    )
    for cluster in sorted(set(old.traffic) | set(new.traffic)):
        was, now = old.traffic.get(cluster), new.traffic.get(cluster)
        if was != now:
            old_text = _ABSENT if was is None else f"share {was.share:g}, {was.nodes} nodes"
            new_text = _ABSENT if now is None else f"share {now.share:g}, {now.nodes} nodes"
            out.append(FieldChange(f"traffic.clusters[{cluster!r}]", old_text, new_text, Z))
    return out
