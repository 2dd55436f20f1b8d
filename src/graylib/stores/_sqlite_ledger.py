"""SQLiteStore's grant ledger: the entry a claim or release appends in its own transaction, and reading.

``append`` runs inside the transaction that moves the counters (``SQLiteStore._reserve`` and
``_release``): the entry and the counts commit together or not at all. The other functions each run in a
transaction of their own, opened by the store.
"""

from __future__ import annotations

import sqlite3

from graylib.stores._ledger import GRANT, LedgerEntry, LedgerSummary, LedgerTrimmed
from graylib.stores._sqlite_sql import ADD_ENTRY, NEXT_SEQ

__all__ = ["Note", "append", "page", "rules", "summary", "trim_batch", "trimmed"]

Note = tuple[str, str, str, int, str, str]
"""(rule version, digest, account, payment amount, cluster, node): what a grant's entry and its release's
entry share; kept with the reservation (its ``entry`` column) for the release."""
NO_NOTE: Note = ("", "", "", 0, "", "")

_COLUMNS = (
    "seq, at, kind, rule_id, rule_version, digest, payment_id, account, amount, discount, cluster, node"
)
_PAGE = f"SELECT {_COLUMNS} FROM ledger WHERE rule_id = ? AND seq > ? ORDER BY seq LIMIT ?"
_TRIMMED = (
    "SELECT trimmed_grants, trimmed_releases, trimmed_granted, trimmed_released FROM ledger_rules"
    " WHERE rule_id = ?"
)
_SUMS = "SELECT kind, count(*), coalesce(sum(discount), 0) FROM ledger WHERE rule_id = ? GROUP BY kind"
_BATCH = "SELECT seq, at, kind, discount FROM ledger WHERE rule_id = ? AND seq > ? ORDER BY seq LIMIT ?"
_FORGET = "DELETE FROM ledger WHERE rule_id = ? AND seq = ?"
_ADD_TRIMMED = (
    "UPDATE ledger_rules SET trimmed_grants = trimmed_grants + ?, trimmed_releases = trimmed_releases + ?,"
    " trimmed_granted = trimmed_granted + ?, trimmed_released = trimmed_released + ? WHERE rule_id = ?"
)


def append(
    db: sqlite3.Connection, rule_id: str, kind: str, *, at: float, payment_id: str, note: Note, discount: int
) -> None:
    """Append one entry with the rule's next ``seq`` (inside the caller's transaction)."""
    seq = db.execute(NEXT_SEQ, (rule_id,)).fetchone()[0]
    version, digest, account, amount, cluster, node = note
    db.execute(
        ADD_ENTRY,
        (rule_id, seq, at, kind, version, digest, payment_id, account, amount, discount, cluster, node),
    )


def rules(db: sqlite3.Connection) -> list[str]:
    return [row[0] for row in db.execute("SELECT rule_id FROM ledger_rules ORDER BY rule_id")]


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
    releases, released = sums.get("release", (0, 0))
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
        grants = [row for row in doomed if row[2] == GRANT]
        releases = [row for row in doomed if row[2] != GRANT]
        db.executemany(_FORGET, [(rule_id, row[0]) for row in doomed])
        db.execute(
            _ADD_TRIMMED,
            (
                len(grants),
                len(releases),
                sum(row[3] for row in grants),
                sum(row[3] for row in releases),
                rule_id,
            ),
        )
    last = rows[-1][0] if rows else after
    return last, len(doomed), len(rows) == limit
