"""The values a change plan is made of: field changes, per-rule changes, blast radius, violations.

All frozen attrs values: a plan is computed once from two configs and then only read (printed, turned into
JSON, or used by a reloading client to accept or refuse a new config).
"""

from __future__ import annotations

import enum
from typing import TYPE_CHECKING, Any

import attrs

if TYPE_CHECKING:
    from ._approvals import SignedApprovals

__all__ = [
    "BlastRadius",
    "Direction",
    "FieldChange",
    "Plan",
    "RuleChange",
    "Violation",
    "ViolationKind",
]


class Direction(str, enum.Enum):
    """Whether a change exposes more payments or money (widening), fewer (narrowing), or neither."""

    WIDENING = "widening"
    NARROWING = "narrowing"
    NEUTRAL = "neutral"

    def __str__(self) -> str:
        return self.value


class ViolationKind(str, enum.Enum):
    """Why a change is refused by policy."""

    NEW_RULE_NOT_AT_START = "new_rule_not_at_start"
    """A new rule must start at its first stage or in shadow."""
    STAGE_SKIPPED = "stage_skipped"
    """A stage may advance by one step per change (going back any distance is fine)."""
    MISSING_APPROVALS = "missing_approvals"
    """A widening change needs ``[guardrails].min_approvals`` approvers other than the author."""
    BEYOND_RUNNING_GUARDRAILS = "beyond_running_guardrails"
    """A rule passes a ceiling of the running config's guardrails: a loosened guardrail counts from the
    next change, so a change cannot raise a ceiling and use the raised one at once."""

    def __str__(self) -> str:
        return self.value


@attrs.frozen
class FieldChange:
    """One difference between the old and the new version of a rule (or of the config's own sections).

    ``field`` names what changed in config terms (``discount.percent``, ``limits.total.amount``,
    ``percent at node sh-small/sh-small-01``); ``old`` and ``new`` are display texts (``"-"`` when absent).
    """

    field: str
    old: str
    new: str
    direction: Direction

    def to_dict(self) -> dict[str, Any]:
        return {"field": self.field, "old": self.old, "new": self.new, "direction": self.direction.value}


@attrs.frozen
class BlastRadius:
    """What a widening rule change can cost.

    ``newly_exposed_share`` is the fraction of all payments (0..1) that the rule newly reaches, from the
    config's ``[traffic.clusters]`` or from a sample of recent payments (``share_source`` says which;
    ``None`` when neither is available). ``spend_per_minute`` is the most the rule's limits let it grant in
    any one minute, in minor units; ``None`` means nothing bounds it. ``bounded_by`` names the limit that
    sets the bound.
    """

    newly_exposed_share: float | None
    share_source: str
    spend_per_minute: int | None
    bounded_by: str
    sample_payments: int = 0
    sample_newly_applying: int = 0
    sample_new_discount: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return attrs.asdict(self, recurse=False) | {"notes": list(self.notes)}


@attrs.frozen
class RuleChange:
    """A rule added, removed or changed, with every field difference and its blast radius when it widens."""

    rule_id: str
    kind: str
    """``"added"``, ``"removed"`` or ``"changed"``."""
    changes: tuple[FieldChange, ...]
    old_state: str = ""
    new_state: str = ""
    old_stage: str = ""
    new_stage: str = ""
    blast: BlastRadius | None = None

    @property
    def widens(self) -> bool:
        return self.kind == "added" or any(c.direction is Direction.WIDENING for c in self.changes)

    @property
    def narrows(self) -> bool:
        return self.kind == "removed" or any(c.direction is Direction.NARROWING for c in self.changes)

    @property
    def direction(self) -> str:
        """``widening``, ``narrowing``, ``widening and narrowing`` or ``neutral``."""
        if self.widens and self.narrows:
            return "widening and narrowing"
        if self.widens:
            return Direction.WIDENING.value
        if self.narrows:
            return Direction.NARROWING.value
        return Direction.NEUTRAL.value

    def to_dict(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "kind": self.kind,
            "direction": self.direction,
            "old_state": self.old_state,
            "new_state": self.new_state,
            "old_stage": self.old_stage,
            "new_stage": self.new_stage,
            "changes": [c.to_dict() for c in self.changes],
            "blast_radius": self.blast.to_dict() if self.blast is not None else None,
        }


@attrs.frozen
class Violation:
    """One reason the change is refused; ``rule_id`` is empty for a config-wide violation."""

    kind: ViolationKind
    rule_id: str
    message: str

    def __str__(self) -> str:
        return f"{self.rule_id}: {self.message}" if self.rule_id else self.message

    def to_dict(self) -> dict[str, Any]:
        return {"kind": self.kind.value, "rule_id": self.rule_id, "message": self.message}


@attrs.frozen
class Plan:
    """Everything a reviewer needs to accept or refuse replacing ``old_version`` with ``new_version``.

    ``rules`` holds only rules that were added, removed or changed, in the new file's order (removed ones
    last). ``config_changes`` are changes outside the rules (guardrails, traffic). ``approvers`` are the
    distinct approvers other than the author whose approvals count; ``required_approvals`` is what a widening
    change needs. With ``approvals`` (signatures checked against a trust file) only valid signatures count,
    and the names of ``[change].approved_by`` are kept in ``claimed_approvers``, shown and never counted;
    without it, ``approvers`` are those names, unauthenticated.
    """

    old_version: str | None
    new_version: str
    rules: tuple[RuleChange, ...]
    config_changes: tuple[FieldChange, ...]
    violations: tuple[Violation, ...]
    warnings: tuple[str, ...]
    approvers: tuple[str, ...]
    required_approvals: int
    author: str = ""
    ticket: str = ""
    approvals: SignedApprovals | None = None
    claimed_approvers: tuple[str, ...] = ()

    @property
    def authenticated(self) -> bool:
        """True when approvals were counted from signatures checked against a trust file."""
        return self.approvals is not None

    @property
    def allowed(self) -> bool:
        """True when no policy refuses the change."""
        return not self.violations

    @property
    def widens(self) -> bool:
        return any(r.widens for r in self.rules) or any(
            c.direction is Direction.WIDENING for c in self.config_changes
        )

    @property
    def changed(self) -> bool:
        return bool(self.rules or self.config_changes)

    def rule(self, rule_id: str) -> RuleChange | None:
        for change in self.rules:
            if change.rule_id == rule_id:
                return change
        return None

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready mapping (plain types only), as ``graylib plan --json`` prints it."""
        return {
            "old_version": self.old_version,
            "new_version": self.new_version,
            "allowed": self.allowed,
            "widens": self.widens,
            "author": self.author,
            "ticket": self.ticket,
            "approvers": list(self.approvers),
            "required_approvals": self.required_approvals,
            "authenticated": self.authenticated,
            "claimed_approvers": list(self.claimed_approvers),
            "trust": self.approvals.trust_dict() if self.approvals is not None else None,
            "signatures": [c.to_dict() for c in self.approvals.checks]
            if self.approvals is not None
            else None,
            "rules": [r.to_dict() for r in self.rules],
            "config_changes": [c.to_dict() for c in self.config_changes],
            "violations": [v.to_dict() for v in self.violations],
            "warnings": list(self.warnings),
        }
