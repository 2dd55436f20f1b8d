"""graylib: staged, budget-limited discount and subsidy rules for payment services.

Each payment asks "does discount rule R apply, and for how much?"; graylib answers from a local, immutable
snapshot of the rules with a reason, and fails closed whenever a guardrail says so.
"""

import logging as _logging

from . import typing as typing
from ._bucketing import bucket
from ._client import Client
from ._config import Config
from ._errors import ConfigError, ConflictError, GraylibError, PolicyError, StoreError
from ._ledger import Reconciliation, read_ledger, reconcile
from ._load import load_config
from ._policy import Plan, plan_change
from ._publish import fleet, history, publish, rollback
from ._runtime._claims import Alert, ReleaseOutcome
from ._status import RuleStatus, Status
from ._trust import publish_trust, store_trust
from ._values import MAX_FIELD_LENGTH, Context, Decision, Reason
from ._version import __version__ as __version__
from .stores import (
    Instance,
    LedgerEntry,
    MemoryStore,
    RedisStore,
    Revision,
    SQLiteStore,
    Store,
    TrustRecord,
)

_logging.getLogger("graylib").addHandler(_logging.NullHandler())
"""A library configures no logging: without the application's own set-up, graylib's lines go nowhere
(rather than to the interpreter's last-resort handler on stderr)."""

__all__ = [  # noqa: RUF022 - plain sorted order (tests/test_public_api.py), constants included
    "Alert",
    "Client",
    "Config",
    "ConfigError",
    "ConflictError",
    "Context",
    "Decision",
    "GraylibError",
    "Instance",
    "LedgerEntry",
    "MAX_FIELD_LENGTH",
    "MemoryStore",
    "Plan",
    "PolicyError",
    "Reason",
    "Reconciliation",
    "RedisStore",
    "ReleaseOutcome",
    "Revision",
    "RuleStatus",
    "SQLiteStore",
    "Status",
    "Store",
    "StoreError",
    "TrustRecord",
    "bucket",
    "fleet",
    "history",
    "load_config",
    "plan_change",
    "publish",
    "publish_trust",
    "read_ledger",
    "reconcile",
    "rollback",
    "store_trust",
]
