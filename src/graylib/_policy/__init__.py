"""Change safety between two configs: what changed, whether it widens or narrows, whether policy allows it.

``plan_change(old, new)`` is used by ``graylib plan OLD NEW`` and by every reloading client before it swaps
in a new snapshot, so the same checks guard a reviewed push and a file edited on a live machine.
"""

from ._approvals import SignedApprovals, missing_signatures, signed_approvals
from ._blast import blast_radius, read_traffic_sample, spend_per_minute
from ._model import BlastRadius, Direction, FieldChange, Plan, RuleChange, Violation, ViolationKind
from ._plan import plan_change

__all__ = [
    "BlastRadius",
    "Direction",
    "FieldChange",
    "Plan",
    "RuleChange",
    "SignedApprovals",
    "Violation",
    "ViolationKind",
    "blast_radius",
    "missing_signatures",
    "plan_change",
    "read_traffic_sample",
    "signed_approvals",
    "spend_per_minute",
]
