"""The grant ledger of ``MemoryStore``: a list of rows per rule, under the store's own lock.

A row is a tuple with the fields of ``LedgerEntry`` in their order: several times cheaper to build under the
lock on every grant than the entry object, which is made only when the ledger is read.
"""

from __future__ import annotations

import bisect
import threading

from graylib.stores._ledger import GRANT, LedgerEntry, LedgerSummary, LedgerTrimmed, summarise

__all__ = ["BLANK", "MemoryLedger", "Note", "Row"]

Row = tuple[int, float, str, str, str, str, str, str, int, int, str, str]
"""(seq, at, kind, rule id, rule version, digest, payment id, account, amount, discount, cluster, node)."""
Note = tuple[str, str, str, int, str, str]
"""(rule version, digest, account, payment amount, cluster, node): what a ledger entry records of a claim."""
BLANK: Note = ("", "", "", 0, "", "")


def _seq(row: Row) -> int:
    return row[0]


class MemoryLedger:
    """The rows by rule, each rule's last ``seq``, and the totals of trimmed rows."""

    _lock: threading.Lock

    def _init_ledger(self) -> None:
        self._ledger: dict[str, list[Row]] = {}
        self._ledger_seq: dict[str, int] = {}
        self._ledger_trimmed: dict[str, LedgerTrimmed] = {}

    def ledger_rules(self) -> list[str]:
        """The ids of every rule with a ledger, sorted."""
        with self._lock:
            return sorted(self._ledger_seq)

    def ledger_page(self, rule_id: str, after: int, limit: int) -> list[LedgerEntry]:
        """Up to ``limit`` entries of the rule with ``seq > after``, in ``seq`` order."""
        with self._lock:
            rows = self._ledger.get(rule_id, [])
            first = bisect.bisect_right(rows, after, key=_seq)
            return [LedgerEntry(*row) for row in rows[first : first + limit]]

    def ledger_trimmed(self, rule_id: str) -> LedgerTrimmed:
        """The totals of the rule's entries removed by ``trim_ledger``."""
        with self._lock:
            return self._ledger_trimmed.get(rule_id, LedgerTrimmed())

    def ledger_summary(self, rule_id: str) -> LedgerSummary:
        """The rule's whole ledger added up, trimmed entries included."""
        return summarise(self, rule_id)

    def trim_ledger(self, rule_id: str, before: float) -> int:
        """Remove the rule's entries older than ``before``, adding them to its trimmed totals."""
        with self._lock:
            rows = self._ledger.get(rule_id, [])
            doomed = [row for row in rows if row[1] < before]
            if not doomed:
                return 0
            self._ledger[rule_id] = [row for row in rows if row[1] >= before]
            old = self._ledger_trimmed.get(rule_id, LedgerTrimmed())
            grants = [row[9] for row in doomed if row[2] == GRANT]
            releases = [row[9] for row in doomed if row[2] != GRANT]
            self._ledger_trimmed[rule_id] = LedgerTrimmed(
                old.grants + len(grants),
                old.releases + len(releases),
                old.granted_amount + sum(grants),
                old.released_amount + sum(releases),
            )
            return len(doomed)

    # -- internals; the caller holds the lock ------------------------------------------------------------

    def _append(
        self, rule_id: str, kind: str, *, at: float, payment_id: str, note: Note, discount: int
    ) -> int:
        """Append one ledger entry with the rule's next ``seq``; that seq."""
        seq = self._ledger_seq[rule_id] = self._ledger_seq.get(rule_id, 0) + 1
        version, digest, account, amount, cluster, node = note
        row = (seq, at, kind, rule_id, version, digest, payment_id, account, amount, discount, cluster, node)
        rows = self._ledger.get(rule_id)
        if rows is None:
            rows = self._ledger[rule_id] = []
        rows.append(row)
        return seq

    def _note(self, rule_id: str, seq: int) -> Note:
        """What the entry ``seq`` of the rule recorded of its claim; blank when it is gone (trimmed)."""
        rows = self._ledger.get(rule_id, [])
        at = bisect.bisect_left(rows, seq, key=_seq)
        if not seq or at == len(rows) or rows[at][0] != seq:
            return BLANK
        row = rows[at]
        return (row[4], row[5], row[7], row[8], row[10], row[11])
