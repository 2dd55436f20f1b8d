"""Stores: where limit counters, claim records, kill switches and grant statistics live.

Every store implements the ``Store`` protocol with the same meaning (checked by one shared test suite):

- ``MemoryStore``: one process, the default and the test double;
- ``SQLiteStore``: one machine, many processes, durable across crashes;
- ``RedisStore``: many machines (needs the ``graylib[redis]`` extra, imported only when instantiated).

``store_from_url`` builds one from a URL such as ``sqlite:///var/lib/graylib.db`` (used by the CLI).
"""

from graylib.stores._ledger import (
    LEDGER_FIELDS,
    LedgerEntry,
    LedgerStore,
    LedgerSummary,
    LedgerTrimmed,
)
from graylib.stores._protocol import (
    NO_ORIGIN,
    CounterSpec,
    KillSwitch,
    LedgerOrigin,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
    RuleStats,
    Store,
)
from graylib.stores._revisions import Instance, Revision
from graylib.stores._trust_records import TrustRecord
from graylib.stores._url import store_from_url
from graylib.stores.memory import MemoryStore
from graylib.stores.redis import RedisStore
from graylib.stores.sqlite import SQLiteStore

__all__ = [  # noqa: RUF022 - plain sorted order (tests/stores/test_url.py), constants included
    "CounterSpec",
    "Instance",
    "KillSwitch",
    "LEDGER_FIELDS",
    "LedgerEntry",
    "LedgerOrigin",
    "LedgerStore",
    "LedgerSummary",
    "LedgerTrimmed",
    "MemoryStore",
    "NO_ORIGIN",
    "RedisStore",
    "ReleaseResult",
    "ReserveRequest",
    "ReserveResult",
    "ReserveStatus",
    "Revision",
    "RuleStats",
    "SQLiteStore",
    "Store",
    "TrustRecord",
    "store_from_url",
]
