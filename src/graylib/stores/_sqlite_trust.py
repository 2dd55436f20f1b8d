"""The trust files published into ``SQLiteStore`` (``_trust_records``): their table and methods.

The table is created with ``IF NOT EXISTS`` whenever a store opens its file (``TRUST_SCHEMA``, run with the
fleet's schema), so a file made by an earlier graylib gains it. ``append_trust`` runs in a write transaction
(``BEGIN IMMEDIATE``), which makes its compare-and-set of the current number atomic against every process.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from typing import TYPE_CHECKING, TypeVar

import attrs

from graylib._errors import StoreError
from graylib.stores._revisions import encode_record
from graylib.stores._trust_records import (
    TrustRecord,
    check_trust_record,
    decode_trust_record,
    trust_meanwhile,
)

__all__ = ["TRUST_SCHEMA", "SQLiteTrust"]

_T = TypeVar("_T")

TRUST_SCHEMA = """
CREATE TABLE IF NOT EXISTS trust_files (
    number INTEGER PRIMARY KEY,         -- 1 (the root of trust), 2, 3...: the highest is in force
    body TEXT NOT NULL                  -- the whole record as JSON (text and signatures included)
);
"""


def _head(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT coalesce(max(number), 0) FROM trust_files").fetchone()[0])


def _one(db: sqlite3.Connection, number: int) -> TrustRecord | None:
    row = db.execute("SELECT body FROM trust_files WHERE number = ?", (number,)).fetchone()
    if row is None:
        return None
    try:
        return decode_trust_record(row[0])
    except (ValueError, TypeError) as exc:
        msg = f"a stored trust file cannot be read: {type(exc).__name__}: {exc}"
        raise StoreError(msg) from exc


def _append(db: sqlite3.Connection, record: TrustRecord, expected: int) -> TrustRecord:
    current = _head(db)
    if current != expected:
        raise trust_meanwhile(expected, current)
    stored = attrs.evolve(record, number=current + 1)
    db.execute("INSERT INTO trust_files VALUES (?, ?)", (stored.number, encode_record(stored)))
    return stored


class SQLiteTrust:
    """The trust file methods of ``SQLiteStore``, each in a transaction of its own."""

    _path: str

    if TYPE_CHECKING:

        def _transaction(
            self, work: Callable[[sqlite3.Connection], _T], *, write: bool = True, check: bool = True
        ) -> _T:
            """``SQLiteStore._transaction``."""

    def head_trust(self) -> int:
        """The number of the trust file in force (0: none published)."""
        return self._transaction(_head, write=False)

    def trust_record(self, number: int) -> TrustRecord | None:
        """The trust file numbered ``number``, or None."""
        if isinstance(number, bool) or not isinstance(number, int):
            return None
        return self._transaction(lambda db: _one(db, number), write=False)

    def append_trust(self, record: TrustRecord, expected: int) -> TrustRecord:
        """Store ``record`` as ``expected + 1`` in one write transaction, or raise ``ConflictError``."""
        check_trust_record(record, expected, f"SQLiteStore({self._path!r}).append_trust")
        return self._transaction(lambda db: _append(db, record, expected))
