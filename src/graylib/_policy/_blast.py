"""Blast radius of a widening rule: the share of payments it newly reaches and what it can spend a minute.

The share comes from one of two sources:

- ``[traffic.clusters]``: each cluster's share of all payments and its node count. A node's share is its
  cluster's share divided by the node count; clusters the section does not list share what is left, and
  reach the rule through its ``"*"`` target. Only the rollout (stage percentages, state) is estimated this
  way: changes of eligibility need a sample.
- a sample of recent payments (``--traffic sample.csv``): each payment is evaluated by the old and the new
  version of the rule at its own cluster and node; those that newly get a discount are counted exactly.

Spend per minute is the most the rule's limits let it grant in any one minute. A fixed window of ``w``
seconds can be touched ``ceil(60 / w) + 1`` times by one minute (the end of one window and the start of the
next both fall in it), so a cap per window counts that many times; a lifetime cap counts once.
"""

from __future__ import annotations

import csv
import math
import os
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from .._compile import compile_rule
from .._config import CONTEXT_FIELDS, ClusterTraffic, Limit, Rule, Stage
from .._config._stages import _OTHER, label
from .._values import Context
from ._model import BlastRadius

__all__ = ["blast_radius", "read_traffic_sample", "spend_per_minute"]

_SAMPLE_REQUIRED = ("account", "payment_type", "amount")


def read_traffic_sample(path: str | os.PathLike[str]) -> list[Context]:
    """Payments from a CSV file with a header row: ``account``, ``payment_type``, ``amount`` (minor units)
    are required; ``cluster``, ``node``, ``region``, ``ip``, ``device``, ``merchant``, ``payment_id`` are
    read when present; other columns are ignored. Raises ``ValueError`` naming the line of a bad row."""
    name = os.fspath(path)
    with open(path, newline="", encoding="utf-8") as handle:
        reader = csv.DictReader(handle)
        columns = reader.fieldnames or []
        missing = [c for c in _SAMPLE_REQUIRED if c not in columns]
        if missing:
            need = ", ".join(_SAMPLE_REQUIRED)
            msg = f"{name}: traffic sample needs columns {need} (missing {', '.join(missing)})"
            raise ValueError(msg)
        out = []
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as exc:  # an oversized field, a bad quote: name the line like any bad row
                msg = f"{name}: after line {reader.line_num}: not a CSV row: {exc}"
                raise ValueError(msg) from None
            values: dict[str, Any] = {k: (row.get(k) or "").strip() for k in CONTEXT_FIELDS if k in columns}
            try:
                amount = int(values.pop("amount"))
            except ValueError:
                got = row["amount"]
                msg = (
                    f"{name}:{reader.line_num}: amount must be an integer number of minor units (got {got!r})"
                )
                raise ValueError(msg) from None
            out.append(Context(amount=amount, **values))
    return out


def _payments_per_minute_bound(limit: Limit, worst_case: int) -> int | None:
    """The most a cap lets through in one minute.

    Its amount (or count times the largest discount) for each window one minute can touch.
    """
    if limit.amount is not None:
        per_window = limit.amount
        if limit.count is not None:
            per_window = min(per_window, limit.count * worst_case)
    elif limit.count is not None:
        per_window = limit.count * worst_case
    else:
        return None
    windows = 1 if limit.window == 0 else math.ceil(60 / limit.window) + 1
    return per_window * windows


def spend_per_minute(rule: Rule) -> tuple[int | None, str, tuple[str, ...]]:
    """(the bound in minor units or None, which limit sets it, notes) for one rule as configured."""
    if rule.state != "active":
        return 0, f"state {rule.state}: grants nothing", ()
    limits = rule.limits
    worst = rule.discount.worst_case
    bounds: list[tuple[int, str]] = []
    notes: list[str] = []
    if limits.total is not None:
        bound = _payments_per_minute_bound(limits.total, worst)
        if bound is not None:
            bounds.append((bound, "limits.total"))
    if limits.per_region is not None:
        if rule.regions:
            bound = _payments_per_minute_bound(limits.per_region, worst)
            if bound is not None:
                bounds.append((bound * len(rule.regions), f"limits.per_region x {len(rule.regions)} regions"))
        else:
            notes.append("limits.per_region bounds spend only when the rule lists its regions")
    alarm = limits.rate_alarm
    if alarm is not None:
        bounds.append((alarm.amount * (math.ceil(60 / alarm.window) + 1), "limits.rate_alarm"))
    if not bounds:
        return (
            None,
            "nothing: no total limit, per_region limit over listed regions, or rate_alarm",
            tuple(notes),
        )
    amount, name = min(bounds)
    return amount, name, tuple(notes)


def _segments(
    traffic: Mapping[str, ClusterTraffic], stages: Sequence[Stage]
) -> tuple[list[tuple[str, str, float]], list[str]]:
    """(cluster, node, share of all payments) covering all traffic; nodes named by a target get their own."""
    named: dict[str, set[str]] = {}
    unknown: set[str] = set()
    for stage in stages:
        for key in stage.targets:
            if key == "*":
                continue
            cluster, _, node = key.partition("/")
            if cluster not in traffic:
                unknown.add(cluster)
            if node:
                named.setdefault(cluster, set()).add(node)
    segments: list[tuple[str, str, float]] = []
    for cluster, spec in traffic.items():
        per_node = spec.share / spec.nodes
        nodes = sorted(named.get(cluster, ()))[: spec.nodes]
        segments += [(cluster, node, per_node) for node in nodes]
        rest = spec.share - per_node * len(nodes)
        if rest > 0:
            segments.append((cluster, _OTHER, rest))
    remaining = 1.0 - sum(spec.share for spec in traffic.values())
    if remaining > 1e-9:
        segments.append((_OTHER, _OTHER, remaining))
    notes = [
        f"cluster {c!r} is named by a target but not in [traffic.clusters]: its share is unknown and "
        "counted with the unlisted clusters at the '*' percentage"
        for c in sorted(unknown)
    ]
    return segments, notes


def _reach(rule: Rule | None, cluster: str, node: str) -> Fraction:
    """The fraction of a node's payments (0..1) the rule's rollout reaches; nothing unless it is active."""
    if rule is None or rule.state != "active":
        return Fraction(0)
    return (rule.rollout.current.percent_at(cluster, node) or Fraction(0)) / 100


def _traffic_share(
    old: Rule | None, new: Rule, traffic: Mapping[str, ClusterTraffic]
) -> tuple[float, list[str]]:
    stages = (*new.rollout.stages, *(old.rollout.stages if old is not None else ()))
    segments, notes = _segments(traffic, stages)
    reshuffled = old is not None and old.bucket_salt != new.bucket_salt
    total = 0.0
    for cluster, node, share in segments:
        was, now = _reach(old, cluster, node), _reach(new, cluster, node)
        # Same salt: raising a percentage only adds accounts. New salt: the buckets are independent.
        newly = now * (1 - was) if reshuffled else max(now - was, Fraction(0))
        total += share * float(newly)
    if total > 0 and not notes:
        where = ", ".join(label(c, n) for c, n, _ in segments if _reach(new, c, n) > _reach(old, c, n))
        notes.append(f"newly reached: {where}")
    return total, notes


def _sample_share(old: Rule | None, new: Rule, sample: Sequence[Context]) -> tuple[int, int]:
    """(payments that newly get a discount, their discounts' sum) when each is evaluated by both versions."""
    before = compile_rule(old, version="old") if old is not None else None
    after = compile_rule(new, version="new")
    count = amount = 0
    for ctx in sample:
        try:
            now = after.evaluate(ctx)
            if not now.applies:
                continue
            if before is not None and before.evaluate(ctx).applies:
                continue
        except Exception:  # a malformed sample row simply does not count
            continue
        count += 1
        amount += now.discount
    return count, amount


def _more_per_payment(old: Rule, new: Rule) -> bool:
    a, b = old.discount, new.discount
    if (a.amount is None) != (b.amount is None):
        return True
    if a.amount is not None and b.amount is not None:
        return b.amount > a.amount
    return (b.percent or 0) > (a.percent or 0) or (b.max_off or 0) > (a.max_off or 0)


def blast_radius(
    old: Rule | None,
    new: Rule,
    traffic: Mapping[str, ClusterTraffic],
    sample: Sequence[Context] | None,
    *,
    eligibility_widened: bool,
) -> BlastRadius:
    """The blast radius of replacing ``old`` (None: a new rule) with ``new``."""
    spend, bounded_by, notes = spend_per_minute(new)
    all_notes = list(notes)
    if old is not None and new.state == "active" and _more_per_payment(old, new):
        all_notes.append("the discount per payment rises too, also for payments the rule already reached")
    share: float | None
    if sample is not None:
        newly, discount = _sample_share(old, new, sample)
        share = newly / len(sample) if sample else 0.0
        return BlastRadius(
            newly_exposed_share=share,
            share_source="sample",
            spend_per_minute=spend,
            bounded_by=bounded_by,
            sample_payments=len(sample),
            sample_newly_applying=newly,
            sample_new_discount=discount,
            notes=tuple(all_notes),
        )
    if traffic:
        share, traffic_notes = _traffic_share(old, new, traffic)
        all_notes += traffic_notes
        source = "traffic"
        if eligibility_widened:
            all_notes.append(
                "eligibility or lists widened too: the share counts the rollout only; use --traffic"
            )
    else:
        share, source = None, ""
        all_notes.append("no [traffic.clusters] in the config and no traffic sample: share unknown")
    return BlastRadius(
        newly_exposed_share=share,
        share_source=source,
        spend_per_minute=spend,
        bounded_by=bounded_by,
        notes=tuple(all_notes),
    )
