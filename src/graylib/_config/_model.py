"""The validated configuration as frozen attrs values, built once per load and never mutated."""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from fractions import Fraction
from types import MappingProxyType
from typing import Any

import attrs

__all__ = [
    "LIMIT_SUBJECTS",
    "Allow",
    "Change",
    "ClusterTraffic",
    "Config",
    "Deny",
    "Discount",
    "Guardrails",
    "Limit",
    "Limits",
    "RateAlarm",
    "Rollout",
    "Rule",
    "SmokeCase",
    "Stage",
]

LIMIT_SUBJECTS = ("per_account", "per_ip", "per_device", "per_merchant", "per_region", "total")
"""Limit kinds in the order they are reserved; ``per_X`` counts by the context field ``X``."""


def _frozen_map(value: Mapping[str, Any]) -> Mapping[str, Any]:
    return MappingProxyType(dict(value))


@attrs.frozen
class Guardrails:
    """Ceilings no rule may pass; a rule beyond them makes the whole config invalid."""

    max_percent_off: Fraction
    max_amount_off: int
    forbidden_payment_types: frozenset[str] = frozenset()
    min_approvals: int = 0


@attrs.frozen
class Change:
    """Who made this version of the config and who approved it."""

    author: str = ""
    approved_by: tuple[str, ...] = ()
    ticket: str = ""


@attrs.frozen
class Discount:
    """Either ``percent`` of the amount capped at ``max_off``, or a fixed ``amount``; minor units."""

    percent: Fraction | None = None
    max_off: int | None = None
    amount: int | None = None

    def of(self, payment_amount: int) -> int:
        """The discount for a payment: rounded down, capped, never above the payment itself."""
        if self.amount is not None:
            off = self.amount
        else:
            assert self.percent is not None
            off = payment_amount * self.percent.numerator // (100 * self.percent.denominator)
            if self.max_off is not None:
                off = min(off, self.max_off)
        return min(off, payment_amount)

    @property
    def worst_case(self) -> int:
        """The most one payment can get off (the cap, or the fixed amount)."""
        if self.amount is not None:
            return self.amount
        return self.max_off if self.max_off is not None else 0


@attrs.frozen
class Allow:
    """Smoke-test accounts: past the stage and bucket gates, never past eligibility or limits."""

    accounts: frozenset[str] = frozenset()


@attrs.frozen
class Deny:
    """Refused outright. ``ips`` holds addresses and CIDR ranges as written (validated)."""

    accounts: frozenset[str] = frozenset()
    ips: tuple[str, ...] = ()
    devices: frozenset[str] = frozenset()
    merchants: frozenset[str] = frozenset()
    regions: frozenset[str] = frozenset()


@attrs.frozen
class Stage:
    """One rollout step. ``targets`` maps ``"cluster/node"``, ``"cluster"`` or ``"*"`` to a percentage."""

    name: str
    targets: Mapping[str, Fraction] = attrs.field(converter=_frozen_map, factory=dict)

    def percent_at(self, cluster: str, node: str) -> Fraction | None:
        """The most specific target's percentage at a node, or None when the node is not targeted."""
        targets = self.targets
        if node:
            hit = targets.get(f"{cluster}/{node}")
            if hit is not None:
                return hit
        hit = targets.get(cluster)
        if hit is not None:
            return hit
        return targets.get("*")


@attrs.frozen
class Rollout:
    stage: str
    stages: tuple[Stage, ...]

    @property
    def index(self) -> int:
        """Position of the current stage in the plan."""
        return [s.name for s in self.stages].index(self.stage)

    @property
    def current(self) -> Stage:
        return self.stages[self.index]


@attrs.frozen
class Limit:
    """A cap on count and/or amount granted, per fixed UTC-aligned window (seconds) or lifetime (0)."""

    count: int | None = None
    amount: int | None = None
    window: int = 0
    window_text: str = ""


@attrs.frozen
class RateAlarm:
    """Granting more than ``amount`` within ``window`` seconds kills the rule."""

    amount: int
    window: int
    window_text: str


@attrs.frozen
class Limits:
    per_account: Limit | None = None
    per_ip: Limit | None = None
    per_device: Limit | None = None
    per_merchant: Limit | None = None
    per_region: Limit | None = None
    total: Limit | None = None
    rate_alarm: RateAlarm | None = None

    def items(self) -> list[tuple[str, Limit]]:
        """The limits that are set, as ``(kind, limit)`` in reservation order."""
        pairs = [(kind, getattr(self, kind)) for kind in LIMIT_SUBJECTS]
        return [(kind, lim) for kind, lim in pairs if lim is not None]


@attrs.frozen
class SmokeCase:
    """A context and the decision it must get: any of ``applies``, ``discount``, ``reason``."""

    name: str
    context: Mapping[str, Any] = attrs.field(converter=_frozen_map)
    applies: bool | None = None
    discount: int | None = None
    reason: str | None = None
    at: dt.datetime | None = None


@attrs.frozen
class Rule:
    id: str
    state: str
    payment_types: frozenset[str]
    discount: Discount
    rollout: Rollout
    regions: frozenset[str] | None = None
    min_amount: int | None = None
    max_amount: int | None = None
    starts_at: dt.datetime | None = None
    ends_at: dt.datetime | None = None
    allow: Allow = Allow()
    deny: Deny = Deny()
    limits: Limits = Limits()
    smoke: tuple[SmokeCase, ...] = ()
    salt: str = ""
    description: str = ""

    @property
    def bucket_salt(self) -> str:
        return self.salt or self.id


@attrs.frozen
class ClusterTraffic:
    """A cluster's share of all payments (0..1) and how many nodes share it evenly."""

    share: float
    nodes: int


@attrs.frozen
class Config:
    version: str
    guardrails: Guardrails
    rules: tuple[Rule, ...]
    change: Change = Change()
    traffic: Mapping[str, ClusterTraffic] = attrs.field(converter=_frozen_map, factory=dict)
    source: str = attrs.field(default="", eq=False)

    def rule(self, rule_id: str) -> Rule | None:
        for rule in self.rules:
            if rule.id == rule_id:
                return rule
        return None

    @property
    def rule_ids(self) -> tuple[str, ...]:
        return tuple(r.id for r in self.rules)
