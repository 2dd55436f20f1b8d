"""SQLiteStore's grant ledger: the entry a claim or release appends in its own transaction, and reading.

``grant`` and ``release`` run inside the transaction that moves the counters (``SQLiteStore._reserve`` and
``_release``): the entry and the counts commit together or not at all. An entry row is short: the config
version, digest, cluster and node that decided are one row of ``ledger_origins``, which the entry names by
id (a store learns the id of each origin once, in a transaction of its own: ``origin_id``). A release's
entry is copied from its grant's (the reservation keeps the grant's seq). The other functions each run in
a transaction of their own, opened by the store.
"""

from __future__ import annotations

import functools
import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

from graylib.stores._ledger import GRANT, RELEASE, LedgerEntry, LedgerSummary, LedgerTrimmed
from graylib.stores._protocol import LedgerOrigin
from graylib.stores._sqlite_sql import ADD_ENTRY, COPY_ENTRY

__all__ = [
    "SQLiteLedger",
    "grant",
    "origin_id",
    "page",
    "release",
    "rules",
    "summary",
    "trim_batch",
    "trimmed",
]

_T = TypeVar("_T")
_TRIM_BATCH = 2000
"""Ledger entries one trim transaction looks at: short enough that claims hardly wait for it."""

_PAGE = (
    "SELECT l.seq, l.at, l.kind, l.rule_id, coalesce(o.rule_version, ''), coalesce(o.digest, ''),"
    " l.payment_id, l.account, l.amount, l.discount, coalesce(o.cluster, ''), coalesce(o.node, '')"
    " FROM ledger AS l LEFT JOIN ledger_origins AS o ON o.id = l.origin"
    " WHERE l.rule_id = ? AND l.seq > ? ORDER BY l.seq LIMIT ?"
)
_TRIMMED = (
    "SELECT trimmed_grants, trimmed_releases, trimmed_granted, trimmed_released FROM ledger_rules"
    " WHERE rule_id = ?"
)
_SUMS = "SELECT kind, count(*), coalesce(sum(discount), 0) FROM ledger WHERE rule_id = ? GROUP BY kind"
_BATCH = "SELECT seq, at, kind, discount FROM ledger WHERE rule_id = ? AND seq > ? ORDER BY seq LIMIT ?"
_FORGET = "DELETE FROM ledger WHERE rule_id = ? AND seq = ?"
_ADD_TRIMMED = (
    "INSERT INTO ledger_rules VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT DO UPDATE SET"
    " trimmed_seq = max(trimmed_seq, excluded.trimmed_seq),"
    " trimmed_grants = trimmed_grants + excluded.trimmed_grants,"
    " trimmed_releases = trimmed_releases + excluded.trimmed_releases,"
    " trimmed_granted = trimmed_granted + excluded.trimmed_granted,"
    " trimmed_released = trimmed_released + excluded.trimmed_released"
)
_NEXT_RULE = "SELECT min(rule_id) FROM ledger WHERE rule_id > ?"


def origin_id(db: sqlite3.Connection, origin: LedgerOrigin) -> int:
    """The id of ``origin`` in ``ledger_origins``, added if new."""
    values = (origin.rule_version, origin.digest, origin.cluster, origin.node)
    db.execute("INSERT OR IGNORE INTO ledger_origins VALUES (NULL, ?, ?, ?, ?)", values)
    row = db.execute(
        "SELECT id FROM ledger_origins WHERE rule_version = ? AND digest = ? AND cluster = ? AND node = ?",
        values,
    ).fetchone()
    return int(row[0])


def grant(
    db: sqlite3.Connection,
    rule_id: str,
    *,
    at: float,
    origin: int,
    payment_id: str,
    account: str,
    amount: int,
    discount: int,
) -> int:
    """Append a grant's entry with the rule's next seq (inside the caller's transaction); its seq."""
    row = db.execute(
        ADD_ENTRY, (rule_id, at, GRANT, origin, payment_id, account, amount, discount)
    ).fetchone()
    return int(row[0])


def release(
    db: sqlite3.Connection, rule_id: str, *, at: float, payment_id: str, grant_seq: int, discount: int
) -> None:
    """Append a release's entry, copied from its grant's; blank fields when that entry is gone (trimmed)."""
    if grant_seq and db.execute(COPY_ENTRY, (rule_id, at, RELEASE, discount, grant_seq)).rowcount:
        return
    db.execute(ADD_ENTRY, (rule_id, at, RELEASE, 0, payment_id, "", 0, discount)).fetchone()


def rules(db: sqlite3.Connection) -> list[str]:
    """Rules with entries (one index seek each) or with trimmed ones."""
    found = {row[0] for row in db.execute("SELECT rule_id FROM ledger_rules")}
    after = ""
    while True:
        row = db.execute(_NEXT_RULE, (after,)).fetchone()
        if row is None or row[0] is None:
            return sorted(found)
        after = row[0]
        found.add(after)


def page(db: sqlite3.Connection, rule_id: str, after: int, limit: int) -> list[LedgerEntry]:
    return [LedgerEntry(*row) for row in db.execute(_PAGE, (rule_id, after, limit))]


def trimmed(db: sqlite3.Connection, rule_id: str) -> LedgerTrimmed:
    row = db.execute(_TRIMMED, (rule_id,)).fetchone()
    return LedgerTrimmed() if row is None else LedgerTrimmed(*row)


def summary(db: sqlite3.Connection, rule_id: str) -> LedgerSummary:
    """Added up by SQLite itself (one pass over the rule's rows, nothing held in Python)."""
    base = trimmed(db, rule_id)
    sums = {kind: (count, amount) for kind, count, amount in db.execute(_SUMS, (rule_id,))}
    grants, granted = sums.get(GRANT, (0, 0))
    releases, released = sums.get(RELEASE, (0, 0))
    return LedgerSummary(
        grants + base.grants,
        releases + base.releases,
        granted + base.granted_amount,
        released + base.released_amount,
        base.grants + base.releases,
    )


def trim_batch(
    db: sqlite3.Connection, *, rule_id: str, before: float, after: int, limit: int
) -> tuple[int, int, bool]:
    """Look at up to ``limit`` entries past ``after``; remove those with ``at < before``, keep their totals.

    Returns (the last seq looked at, how many were removed, whether there may be more to look at). Small
    batches, each its own transaction, keep claims from waiting behind a long trim.
    """
    rows = db.execute(_BATCH, (rule_id, after, limit)).fetchall()
    doomed = [row for row in rows if row[1] < before]
    if doomed:
        grants = [row[3] for row in doomed if row[2] == GRANT]
        releases = [row[3] for row in doomed if row[2] != GRANT]
        db.executemany(_FORGET, [(rule_id, row[0]) for row in doomed])
        highest = max(row[0] for row in doomed)
        totals = (len(grants), len(releases), sum(grants), sum(releases))
        db.execute(_ADD_TRIMMED, (rule_id, highest, *totals))
    last = rows[-1][0] if rows else after
    return last, len(doomed), len(rows) == limit


class SQLiteLedger:
    """The ledger's reading and trimming methods of ``SQLiteStore``, each in a transaction of its own."""

    if TYPE_CHECKING:

        def _transaction(
            self, work: Callable[[sqlite3.Connection], _T], *, write: bool = True, check: bool = True
        ) -> _T:
            """``SQLiteStore._transaction``."""

    def ledger_rules(self) -> list[str]:
        """The ids of every rule with a ledger, sorted."""
        return self._transaction(rules, write=False)

    def ledger_page(self, rule_id: str, after: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` entries of the rule with ``seq > after``, in ``seq`` order."""
        return self._transaction(lambda db: page(db, rule_id, after, limit), write=False)

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        """The totals of the rule's entries removed by ``trim_ledger``."""
        return self._transaction(lambda db: trimmed(db, rule_id), write=False)

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        """The rule's whole ledger added up, trimmed entries included."""
        return self._transaction(lambda db: summary(db, rule_id), write=False)

    def trim_ledger(self, rule_id: str, before: float) -> int:
        """Remove the rule's entries older than ``before`` (keeping their totals), a batch per transaction."""
        after, removed, more = 0, 0, True
        while more:
            batch = functools.partial(
                trim_batch, rule_id=rule_id, before=before, after=after, limit=_TRIM_BATCH
            )
            after, gone, more = self._transaction(batch)
            removed += gone
        return removed
