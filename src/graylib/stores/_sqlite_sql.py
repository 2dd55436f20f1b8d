"""The SQL of SQLiteStore: its schema (versioned in ``PRAGMA user_version``) and the statements it runs."""

from __future__ import annotations

__all__ = [
    "ADD_COUNTER",
    "ADD_ENTRY",
    "ADD_STATS",
    "COPY_ENTRY",
    "COUNTER_KEY",
    "GIVE_BACK",
    "NEXT_SEQ",
    "PURGE_COUNTERS",
    "PURGE_RECORDS",
    "SCHEMA",
    "SCHEMA_VERSION",
    "SELECT_COUNTER",
    "SELECT_RECORD",
    "SET_EXPIRY",
    "SUM_ALARM",
    "UPGRADE_TO_3",
]

UPGRADE_TO_3 = "ALTER TABLE reservations ADD COLUMN grant_seq INTEGER NOT NULL DEFAULT 0"
"""Run on a file of version 1 or 2 (their reservations table predates the column)."""

SCHEMA_VERSION = 3
"""Kept in ``PRAGMA user_version``; a file with a newer version is refused rather than misread.

Version 2 added the ``meta`` table and its epoch; a version 1 file gets both when first opened. Version 3
added the grant ledger (``ledger``, ``ledger_origins``, ``ledger_rules``) and the reservations'
``grant_seq`` column (``UPGRADE_TO_3`` adds it to an older file).
"""

SCHEMA = """
CREATE TABLE IF NOT EXISTS counters (
    rule_id TEXT NOT NULL,
    namespace TEXT NOT NULL,            -- 'real', 'shadow' or 'alarm' (granted per alarm bucket)
    name TEXT NOT NULL,
    window_seconds INTEGER NOT NULL,    -- 0: the rule's lifetime
    window_start INTEGER NOT NULL,      -- 0 for lifetime counters, the bucket start for 'alarm'
    count INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    expires_at REAL,                    -- window end (NULL: never)
    PRIMARY KEY (rule_id, namespace, name, window_seconds, window_start)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS counters_expiry ON counters (expires_at) WHERE expires_at IS NOT NULL;
CREATE TABLE IF NOT EXISTS reservations (
    rule_id TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    payment_id TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    payload TEXT NOT NULL,
    amount INTEGER NOT NULL,
    counters TEXT NOT NULL,             -- JSON [[name, window_seconds, window_start], ...] that were counted
    created_at REAL NOT NULL,
    grant_seq INTEGER NOT NULL DEFAULT 0, -- the ledger seq of the grant (0: none), copied by its release
    PRIMARY KEY (rule_id, shadow, payment_id)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS reservations_age ON reservations (created_at);
CREATE TABLE IF NOT EXISTS kill_switches (
    rule_id TEXT PRIMARY KEY,
    reason TEXT NOT NULL,
    at REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,               -- 'epoch': written once, when the schema is created
    value TEXT NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger (
    rule_id TEXT NOT NULL,
    seq INTEGER NOT NULL,               -- per rule: one more than the rule's last (trimmed or not)
    at REAL NOT NULL,
    kind TEXT NOT NULL,                 -- 'grant' or 'release'
    origin INTEGER NOT NULL,            -- ledger_origins.id: the version, digest, cluster and node
    payment_id TEXT NOT NULL,
    account TEXT NOT NULL,
    amount INTEGER NOT NULL,            -- the payment's
    discount INTEGER NOT NULL,          -- granted, or given back
    PRIMARY KEY (rule_id, seq)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS ledger_origins (
    id INTEGER PRIMARY KEY,             -- one row per config version and client: entries stay short
    rule_version TEXT NOT NULL,
    digest TEXT NOT NULL,
    cluster TEXT NOT NULL,
    node TEXT NOT NULL,
    UNIQUE (rule_version, digest, cluster, node)
);
CREATE TABLE IF NOT EXISTS ledger_rules (
    rule_id TEXT PRIMARY KEY,           -- written by trims only
    trimmed_seq INTEGER NOT NULL DEFAULT 0, -- the highest seq trimmed: seqs go on from there
    trimmed_grants INTEGER NOT NULL DEFAULT 0,
    trimmed_releases INTEGER NOT NULL DEFAULT 0,
    trimmed_granted INTEGER NOT NULL DEFAULT 0,
    trimmed_released INTEGER NOT NULL DEFAULT 0
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS stats (
    rule_id TEXT NOT NULL,
    shadow INTEGER NOT NULL,
    count INTEGER NOT NULL,
    amount INTEGER NOT NULL,
    PRIMARY KEY (rule_id, shadow)
) WITHOUT ROWID;
"""

COUNTER_KEY = "rule_id = ? AND namespace = ? AND name = ? AND window_seconds = ? AND window_start = ?"
SELECT_COUNTER = f"SELECT count, amount, expires_at FROM counters WHERE {COUNTER_KEY}"
SET_EXPIRY = f"UPDATE counters SET expires_at = ? WHERE {COUNTER_KEY}"
ADD_COUNTER = (
    "INSERT INTO counters VALUES (?, ?, ?, ?, ?, 1, ?, ?) ON CONFLICT DO UPDATE"
    " SET count = count + 1, amount = amount + excluded.amount, expires_at = excluded.expires_at"
)
GIVE_BACK = f"UPDATE counters SET count = max(count - 1, 0), amount = max(amount - ?, 0) WHERE {COUNTER_KEY}"
SELECT_RECORD = (
    "SELECT fingerprint, payload, amount, counters, created_at, grant_seq FROM reservations"
    " WHERE rule_id = ? AND shadow = ? AND payment_id = ?"
)
SUM_ALARM = (
    "SELECT coalesce(sum(amount), 0) FROM counters"
    " WHERE rule_id = ? AND namespace = ? AND name = ? AND window_seconds = ? AND window_start >= ?"
)
ADD_STATS = (
    "INSERT INTO stats VALUES (?, ?, 1, ?) ON CONFLICT DO UPDATE"
    " SET count = count + 1, amount = amount + excluded.amount"
)
PURGE_COUNTERS = (
    "DELETE FROM counters WHERE (rule_id, namespace, name, window_seconds, window_start) IN"
    " (SELECT rule_id, namespace, name, window_seconds, window_start FROM counters"
    " WHERE expires_at <= ? LIMIT ?)"
)
PURGE_RECORDS = (
    "DELETE FROM reservations WHERE (rule_id, shadow, payment_id) IN"
    " (SELECT rule_id, shadow, payment_id FROM reservations WHERE created_at <= ? LIMIT ?)"
)
NEXT_SEQ = (
    "max(coalesce((SELECT max(seq) FROM ledger WHERE rule_id = ?1), 0),"
    " coalesce((SELECT trimmed_seq FROM ledger_rules WHERE rule_id = ?1), 0)) + 1"
)
"""The rule's next seq: two index seeks, nothing written (a trim keeps the highest seq it removed)."""
ADD_ENTRY = f"INSERT INTO ledger VALUES (?1, {NEXT_SEQ}, ?2, ?3, ?4, ?5, ?6, ?7, ?8) RETURNING seq"
COPY_ENTRY = (
    f"INSERT INTO ledger SELECT ?1, {NEXT_SEQ}, ?2, ?3, origin, payment_id, account, amount, ?4"
    " FROM ledger WHERE rule_id = ?1 AND seq = ?5"
)
"""A release's entry: its grant's, with the release's own seq, time, kind and discount."""
