"""Published revisions and fleet records of ``SQLiteStore``: their tables and the statements on them.

The tables are created with ``IF NOT EXISTS`` whenever a store opens its file, beside the counters' schema
(``_sqlite_sql``), so a file made by an earlier graylib gains them without a schema version of their own.
Each function runs inside the caller's transaction; ``append`` runs in a write transaction (``BEGIN
IMMEDIATE``), which makes its compare-and-set atomic against every other process.
"""

from __future__ import annotations

import sqlite3

import attrs

from graylib._errors import StoreError
from graylib.stores._common import PURGE_BATCH
from graylib.stores._revisions import (
    MAX_HISTORY,
    Instance,
    Revision,
    decode_instance,
    decode_revision,
    encode_instance,
    encode_record,
    meanwhile,
    version_taken,
)

__all__ = ["FLEET_SCHEMA", "append", "head", "instances", "listing", "one", "remove", "report"]

FLEET_SCHEMA = """
CREATE TABLE IF NOT EXISTS revisions (
    number INTEGER PRIMARY KEY,         -- 1, 2, 3...: the highest is the current revision
    version TEXT NOT NULL,
    digest TEXT NOT NULL,
    body TEXT NOT NULL                  -- the whole revision as JSON (text included)
);
CREATE INDEX IF NOT EXISTS revisions_version ON revisions (version);
CREATE TABLE IF NOT EXISTS instances (
    key TEXT PRIMARY KEY,               -- host:pid:cluster/node
    body TEXT NOT NULL,                 -- the record as JSON
    expires_at REAL NOT NULL            -- last_seen + ttl: not listed from then on, purged later
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS instances_expiry ON instances (expires_at);
"""


def head(db: sqlite3.Connection) -> int:
    return int(db.execute("SELECT coalesce(max(number), 0) FROM revisions").fetchone()[0])


def one(db: sqlite3.Connection, number: int) -> Revision | None:
    row = db.execute("SELECT body FROM revisions WHERE number = ?", (number,)).fetchone()
    return None if row is None else _decoded(row[0])


def listing(db: sqlite3.Connection, limit: int) -> list[Revision]:
    limit = max(0, min(int(limit), MAX_HISTORY))
    rows = db.execute("SELECT body FROM revisions ORDER BY number DESC LIMIT ?", (limit,)).fetchall()
    return [_decoded(row[0]) for row in rows]


def append(db: sqlite3.Connection, revision: Revision, expected: int) -> Revision:
    current = head(db)
    if current != expected:
        raise meanwhile(expected, current)
    row = db.execute(
        "SELECT number FROM revisions WHERE version = ? AND digest != ? ORDER BY number LIMIT 1",
        (revision.version, revision.digest),
    ).fetchone()
    if row is not None:
        raise version_taken(revision.version, int(row[0]))
    stored = attrs.evolve(revision, number=current + 1)
    db.execute(
        "INSERT INTO revisions VALUES (?, ?, ?, ?)",
        (stored.number, stored.version, stored.digest, encode_record(stored)),
    )
    return stored


def report(db: sqlite3.Connection, instance: Instance, ttl: float) -> None:
    db.execute(
        "INSERT OR REPLACE INTO instances VALUES (?, ?, ?)",
        (instance.key, encode_instance(instance), instance.last_seen + ttl),
    )
    db.execute(
        "DELETE FROM instances WHERE key IN (SELECT key FROM instances WHERE expires_at <= ? LIMIT ?)",
        (instance.last_seen, PURGE_BATCH),
    )


def remove(db: sqlite3.Connection, key: str) -> None:
    db.execute("DELETE FROM instances WHERE key = ?", (key,))


def instances(db: sqlite3.Connection, now: float) -> list[Instance]:
    rows = db.execute("SELECT body FROM instances WHERE expires_at > ?", (now,)).fetchall()
    found = [decode_instance(row[0]) for row in rows]
    return sorted(found, key=lambda i: (i.cluster, i.node, i.host, i.pid))


def _decoded(body: str) -> Revision:
    try:
        return decode_revision(body)
    except (ValueError, TypeError) as exc:
        msg = f"a stored revision cannot be read: {type(exc).__name__}: {exc}"
        raise StoreError(msg) from exc
