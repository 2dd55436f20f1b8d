"""Reading the grant ledger, reconciling it with settlements, and when it may be trimmed.

The stores write the ledger (``stores._ledger``); this package reads it back for people and tools:
``read_ledger`` (page by page, in order, bounded memory), ``reconcile`` (the ledger against the payment
system's settlements), ``trim_refusal`` (whether a rule's ledger may be trimmed before a time).
"""

from ._read import parse_time, read_ledger
from ._reconcile import (
    MalformedRow,
    Mismatch,
    Reconciliation,
    RuleReconciliation,
    reconcile,
)
from ._trim import trim_refusal

__all__ = [
    "MalformedRow",
    "Mismatch",
    "Reconciliation",
    "RuleReconciliation",
    "parse_time",
    "read_ledger",
    "reconcile",
    "trim_refusal",
]
