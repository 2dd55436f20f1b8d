"""Every table of the rules format and its keys: what the validator accepts and the JSON Schema describes.

One table per kind of table, by the name the JSON Schema (``rules.schema.json``) gives it under ``$defs``;
the validator checks each table against ``KEYS`` and ``REQUIRED``, and a test checks the schema against them
both ways, so a key cannot be added to one without the other.
"""

from __future__ import annotations

from .._values import CONTEXT_FIELDS
from ._model import LIMIT_SUBJECTS

__all__ = ["CONTEXT_FIELDS", "KEYS", "REQUIRED"]

KEYS: dict[str, tuple[str, ...]] = {
    "config": ("version", "guardrails", "change", "traffic", "rules"),
    "guardrails": ("max_percent_off", "max_amount_off", "forbidden_payment_types", "min_approvals"),
    "change": ("author", "approved_by", "ticket"),
    "traffic": ("clusters",),
    "cluster": ("share", "nodes"),
    "rule": (
        "id",
        "description",
        "state",
        "payment_types",
        "regions",
        "min_amount",
        "max_amount",
        "starts_at",
        "ends_at",
        "salt",
        "discount",
        "allow",
        "deny",
        "rollout",
        "limits",
        "smoke",
    ),
    "discount": ("percent", "max_off", "amount"),
    "allow": ("accounts",),
    "deny": ("accounts", "ips", "devices", "merchants", "regions"),
    "rollout": ("stage", "stages"),
    "stage": ("name", "targets"),
    "limits": (*LIMIT_SUBJECTS, "rate_alarm"),
    "limit": ("count", "amount", "window"),
    "rate_alarm": ("amount", "window"),
    "smoke_case": ("name", "context", "expect", "at"),
    "context": CONTEXT_FIELDS,
    "expect": ("applies", "discount", "reason"),
}
"""The keys each table may hold; any other key is an error (a typo is never ignored)."""

REQUIRED: dict[str, tuple[str, ...]] = {
    "config": ("version", "guardrails", "rules"),
    "guardrails": ("max_percent_off", "max_amount_off"),
    "cluster": ("share", "nodes"),
    "rule": ("id", "payment_types", "discount", "rollout"),
    "rollout": ("stage", "stages"),
    "stage": ("name",),
    "rate_alarm": ("amount", "window"),
    "smoke_case": ("name", "context", "expect"),
}
"""The keys a table must hold (tables not named here have none required)."""
