"""graylib: staged, budget-limited discount and subsidy rules for payment services.

Each payment asks "does discount rule R apply, and for how much?"; graylib answers from a local, immutable
snapshot of the rules with a reason, and fails closed whenever a guardrail says so.
"""

from . import typing as typing
from ._bucketing import bucket
from ._claims import Alert, ReleaseOutcome
from ._client import Client
from ._config import Config
from ._errors import ConfigError, GraylibError, PolicyError, StoreError
from ._load import load_config
from ._policy import Plan, plan_change
from ._status import RuleStatus, Status
from ._values import Context, Decision, Reason
from ._version import __version__ as __version__
from .stores import MemoryStore, RedisStore, SQLiteStore, Store

__all__ = [
    "Alert",
    "Client",
    "Config",
    "ConfigError",
    "Context",
    "Decision",
    "GraylibError",
    "MemoryStore",
    "Plan",
    "PolicyError",
    "Reason",
    "RedisStore",
    "ReleaseOutcome",
    "RuleStatus",
    "SQLiteStore",
    "Status",
    "Store",
    "StoreError",
    "bucket",
    "load_config",
    "plan_change",
]
