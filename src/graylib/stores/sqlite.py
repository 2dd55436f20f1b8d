"""SQLiteStore: an embedded, durable store shared by the processes and threads of one machine.

Every call is one ``BEGIN IMMEDIATE`` transaction: the write lock is taken first, so two claims never
interleave their reads and writes, and a claim either committed entirely or left no trace. A process killed
mid-claim (even ``kill -9``) loses nothing that was acknowledged and counts nothing twice.

- WAL journal: readers never block the writer; ``synchronous=NORMAL`` survives process crashes. To survive
  power loss or an OS crash as well, pass ``durable=True`` (``synchronous=FULL``: one fsync per commit).
- One connection per thread (``threading.local``), opened again in a child after ``os.fork()``: the child
  never touches a connection it inherited (SQLite forbids carrying one across a fork).
- Windowed counters keep one row per window with its end in ``expires_at``; lifetime counters of a rule
  with an end carry ``ENDED_RETENTION`` after it. Rows whose window ended more than ``WINDOW_SLACK`` seconds
  ago, lifetime rows past that time and records older than ``record_ttl`` are purged by the claims
  themselves, ``PURGE_BATCH`` of each per claim at most (every claim while a backlog lasts, else once a
  second per process). The slack keeps an ended window for a claim stamped just
  before its end that reached the file late (it waited for the write lock): that claim must find the
  window's counts, not an empty row.
"""

from __future__ import annotations

import contextlib
import functools
import json
import os
import sqlite3
import threading
import urllib.parse
import weakref
from collections.abc import Callable, Mapping
from typing import TypeVar

import graylib.stores._sqlite_ledger as ledger
from graylib._errors import StoreError
from graylib.stores import _fork, _sqlite_fleet
from graylib.stores._common import (
    ALARM_LIMIT,
    DEFAULT_RECORD_TTL,
    GRANTED,
    KILLED,
    MISMATCH,
    PURGE_BATCH,
    WINDOW_SLACK,
    alarm_buckets,
    alarm_reason,
    check_exact,
    check_record_ttl,
    lifetime_expiry,
    lost_data,
    new_epoch,
    not_found,
    window_start,
)
from graylib.stores._protocol import (
    KillSwitch,
    LedgerOrigin,
    ReleaseResult,
    ReserveRequest,
    ReserveResult,
    ReserveStatus,
    RuleStats,
)
from graylib.stores._revisions import Instance, Revision, check_instance, check_revision
from graylib.stores._sqlite_sql import (
    ADD_COUNTER,
    ADD_STATS,
    GIVE_BACK,
    PURGE_COUNTERS,
    PURGE_RECORDS,
    SCHEMA,
    SCHEMA_VERSION,
    SELECT_COUNTER,
    SELECT_RECORD,
    SET_EXPIRY,
    SUM_ALARM,
    UPGRADE_TO_3,
)
from graylib.stores._sqlite_trust import TRUST_SCHEMA, SQLiteTrust

__all__ = ["SCHEMA_VERSION", "SQLiteStore"]

_T = TypeVar("_T")

_PURGE_INTERVAL = 1.0
"""Seconds between two looks for expired rows while the last look found fewer than a batch."""


class SQLiteStore(ledger.SQLiteLedger, SQLiteTrust):
    """Counters, records, kill switches and statistics in one SQLite file; safe across processes and threads.

    ``timeout`` is how long (seconds) a call waits for another writer before failing with ``StoreError``.
    ``durable=True`` makes every commit survive power loss (``synchronous=FULL``), at the cost of an fsync.
    ``create=False`` opens an existing store only: a missing file, or one graylib never initialised, raises
    ``StoreError`` instead of becoming a new empty store (a mistyped path must not look like a store).
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        *,
        timeout: float = 5.0,
        record_ttl: float = DEFAULT_RECORD_TTL,
        durable: bool = False,
        create: bool = True,
    ) -> None:
        self._path = os.fspath(path)
        if self._path in ("", ":memory:"):
            # Each connection (one per thread, one per process) would get a private, empty database.
            msg = (
                f"SQLiteStore: {self._path!r} opens a private database per connection, which no other"
                " thread or process sees; give a file path, or use MemoryStore for one process"
            )
            raise ValueError(msg)
        check_record_ttl(record_ttl, f"SQLiteStore({self._path!r})")
        self._timeout = timeout
        self._record_ttl = record_ttl
        self._synchronous = "FULL" if durable else "NORMAL"
        self._local = threading.local()
        self._lock = threading.Lock()
        self._lock_pid = os.getpid()
        self._connections: list[tuple[int, threading.Thread, sqlite3.Connection]] = []
        # A store dropped without close() still closes this process's connections when it is collected
        # (changed in place from here on: the finalizer holds this very list, never the store).
        weakref.finalize(self, _close_own, self._connections)
        self._next_purge = 0.0
        self._closed = False
        self._create = create
        if not create:
            # Looked at read-only first: a file graylib never initialised is left exactly as it was.
            if not os.path.isfile(self._path):
                msg = f"no such store: {self._path} (no such file; create=False opens an existing store only)"
                raise StoreError(msg)
            try:
                with contextlib.closing(sqlite3.connect(self._uri("ro"), uri=True, timeout=timeout)) as db:
                    initialised = db.execute("PRAGMA user_version").fetchone()[0] > 0
            except sqlite3.Error as exc:
                msg = f"SQLiteStore({self._path!r}): cannot open: {type(exc).__name__}: {exc}"
                raise StoreError(msg) from exc
            if not initialised:
                msg = f"no such store: {self._path} (a file graylib never initialised; create=False)"
                raise StoreError(msg)
        self._identity: tuple[int, int] | None = None
        """(device, inode) of the file this store opened, taken in its first transaction."""
        self._generation = 0
        """Bumped by ``initialise``: connections of an older generation are closed and opened again."""
        self._epoch: str | None = None
        """The file's epoch, read when the schema is checked; every later transaction must find it again."""
        self._in_flight = _fork.InFlight()
        self._origins: dict[LedgerOrigin, int] = {}
        """Ids of the ledger origins (``ledger_origins``) this store has written or read."""
        _fork.track(self)
        self._transaction(self._create_schema)

    def _uri(self, mode: str) -> str:
        """The file as an SQLite URI opened in ``mode`` (``ro``, ``rw``): neither ever creates the file."""
        return _uri_mode(self._path, mode)

    @property
    def path(self) -> str:
        """The database file."""
        return self._path

    def reserve(self, request: ReserveRequest) -> ReserveResult:
        """Check the record, kill switch, every counter and the rate alarm; then count all, or change nothing.

        Amounts and caps must be between 0 and ``MAX_AMOUNT`` (else ``StoreError``), as in RedisStore: past
        2**63 SQLite turns an integer sum into a rounded float.
        """
        check_exact(request, f"SQLiteStore({self._path!r})")
        origin = self._origins.get(request.origin)
        if origin is None:  # once per config version and client: in a transaction of its own
            origin = self._transaction(functools.partial(ledger.origin_id, origin=request.origin))
            self._origins[request.origin] = origin
        return self._transaction(lambda db: self._reserve(db, request, origin))

    def release(self, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        """Give back what the payment's reservation (real first, then shadow) took, and forget it."""
        return self._transaction(lambda db: self._release(db, rule_id, payment_id, now))

    def kill(self, rule_id: str, reason: str, now: float) -> None:
        """Set the rule's kill switch; an existing switch keeps its first reason and time."""
        sql = "INSERT OR IGNORE INTO kill_switches VALUES (?, ?, ?)"
        self._transaction(lambda db: db.execute(sql, (rule_id, reason, now)))

    def revive(self, rule_id: str) -> bool:
        """Clear the rule's kill switch; True when one was set."""
        sql = "DELETE FROM kill_switches WHERE rule_id = ?"
        return self._transaction(lambda db: db.execute(sql, (rule_id,)).rowcount > 0)

    def kill_switches(self) -> Mapping[str, KillSwitch]:
        """Every kill switch that is set, by rule id."""
        rows = self._transaction(
            lambda db: db.execute("SELECT rule_id, reason, at FROM kill_switches").fetchall(), write=False
        )
        return {rule_id: KillSwitch(rule_id, reason, at) for rule_id, reason, at in rows}

    def stats(self, rule_id: str) -> RuleStats:
        """Grant statistics of one rule, net of releases."""
        sql = "SELECT shadow, count, amount FROM stats WHERE rule_id = ?"
        rows = self._transaction(lambda db: db.execute(sql, (rule_id,)).fetchall(), write=False)
        by_shadow = {bool(shadow): (count, amount) for shadow, count, amount in rows}
        real, shadow = by_shadow.get(False, (0, 0)), by_shadow.get(True, (0, 0))
        return RuleStats(real[0], real[1], shadow[0], shadow[1])

    # -- published revisions and fleet records (``_sqlite_fleet``) ---------------------------------------

    def head_revision(self) -> int:
        """The current revision's number (0: none)."""
        return self._transaction(_sqlite_fleet.head, write=False)

    def revision(self, number: int) -> Revision | None:
        """The revision numbered ``number``, or None."""
        return self._transaction(lambda db: _sqlite_fleet.one(db, number), write=False)

    def revisions(self, limit: int = 100) -> list[Revision]:
        """The newest ``limit`` revisions, newest first."""
        return self._transaction(lambda db: _sqlite_fleet.listing(db, limit), write=False)

    def append_revision(self, revision: Revision, expected: int) -> Revision:
        """Publish ``revision`` as ``expected + 1`` in one write transaction, or raise ``ConflictError``."""
        check_revision(revision, expected, f"SQLiteStore({self._path!r}).append_revision")
        return self._transaction(lambda db: _sqlite_fleet.append(db, revision, expected))

    def report_instance(self, instance: Instance, ttl: float) -> None:
        """Write one follower's record, expiring ``ttl`` seconds after its ``last_seen``."""
        check_instance(instance, ttl, f"SQLiteStore({self._path!r}).report_instance")
        self._transaction(lambda db: _sqlite_fleet.report(db, instance, ttl))

    def remove_instance(self, key: str) -> None:
        """Forget one follower's record."""
        self._transaction(lambda db: _sqlite_fleet.remove(db, key))

    def instances(self, now: float) -> list[Instance]:
        """Every record not expired at ``now``."""
        return self._transaction(lambda db: _sqlite_fleet.instances(db, now), write=False)

    def initialise(self) -> str:
        """Create the schema and epoch if the file lacks them; adopt the file now at the path and its epoch.

        A new file gets its schema and epoch when a store first opens it, so this is needed only to accept
        the file now at the path after the old one was deleted or replaced (this instance then counts in
        it). Other processes that saw the old file keep refusing until they are restarted.
        """
        self._identity = None
        self._origins = {}  # ids of the file this store used until now
        self._generation += 1  # every thread opens the path again: the old file may be unlinked
        return self._transaction(self._create_schema, check=False)

    def close(self) -> None:
        """Close the connections this process opened; later calls raise ``StoreError``."""
        with self._guard():
            self._closed = True
            pid = os.getpid()
            mine = [entry for entry in self._connections if entry[0] == pid]
            # Connections inherited across a fork stay referenced and unclosed: closing them could disturb
            # the parent's locks and WAL.
            self._connections[:] = [entry for entry in self._connections if entry[0] != pid]
        for _, _, db in mine:
            db.close()

    # -- transactions and connections --------------------------------------------------------------------

    def _transaction(
        self, work: Callable[[sqlite3.Connection], _T], *, write: bool = True, check: bool = True
    ) -> _T:
        """Run ``work`` in one transaction; commit, or roll back and raise StoreError.

        Writes take the write lock first (``BEGIN IMMEDIATE``): no claim can read a counter that another
        claim is about to change. Reads take a snapshot and never wait for writers (WAL). Values SQLite
        cannot take (an integer past 64 bits raises OverflowError, text with a lone surrogate
        UnicodeEncodeError, a ValueError) are backend errors too. Each transaction first checks that the
        file and its epoch are still the ones this store opened (``check=False``: only to adopt new ones).
        """
        with self._in_flight:
            db = self._connection()
            try:
                db.execute("BEGIN IMMEDIATE" if write else "BEGIN")
                if check:
                    self._check_file()
                    self._check_epoch(db)
                result = work(db)
                db.execute("COMMIT")
            except (sqlite3.Error, OverflowError, ValueError) as exc:
                self._roll_back(db)
                msg = f"SQLiteStore({self._path!r}): {type(exc).__name__}: {exc}"
                raise StoreError(msg) from exc
            except BaseException:
                self._roll_back(db)
                raise
            return result

    def _check_file(self) -> None:
        """Raise StoreError unless the path still names the file this store opened (device and inode).

        A file deleted or replaced under a running process would take its counts with it, while the next
        worker starts on a fresh file at the path: each would grant the whole budget. One ``stat`` per
        transaction (about a microsecond) catches that, and the claim fails closed.
        """
        try:
            stat = os.stat(self._path)
            found: tuple[int, int] | None = (stat.st_dev, stat.st_ino)
        except OSError:
            found = None
        if self._identity is None and found is not None:
            self._identity = found
        elif found != self._identity:
            now = "no file" if found is None else "another file"
            msg = (
                f"SQLiteStore({self._path!r}): the database is no longer the file this store opened (the path"
                f" now holds {now}: deleted or replaced); refusing to count in a file no other process sees."
                " Restore the file, or re-initialise the store and restart the processes using it"
            )
            raise StoreError(msg)

    def _check_epoch(self, db: sqlite3.Connection) -> None:
        """Raise StoreError unless the file still holds the epoch this store read from it.

        The same inode with other content (another database copied over it in place, a file emptied) has
        lost the counts this store relied on. One primary-key read per transaction.
        """
        seen = self._epoch
        if seen is None:  # the first transaction, which reads it (``_create_schema``)
            return
        try:
            row = db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()
        except sqlite3.DatabaseError:  # no meta table: an empty or foreign file
            row = None
        found = None if row is None else str(row[0])
        if found != seen:
            raise lost_data(f"SQLiteStore({self._path!r})", seen, found)

    def _roll_back(self, db: sqlite3.Connection) -> None:
        """Undo an open transaction; a connection that cannot even do that is dropped and opened again."""
        try:
            if db.in_transaction:
                db.execute("ROLLBACK")
        except sqlite3.Error:
            self._local.db = None

    def _connection(self) -> sqlite3.Connection:
        local = self._local
        db: sqlite3.Connection | None = getattr(local, "db", None)
        if db is not None and local.pid == os.getpid():
            if local.generation == self._generation:
                return db
            self._forget(db)  # opened before ``initialise`` adopted the file now at the path
        if self._closed:
            msg = f"SQLiteStore({self._path!r}) is closed"
            raise StoreError(msg)
        # Once the store has opened its file, a new connection must find that file, never create one; with
        # create=False not even the first (mode=rw never makes a file, even one removed since the constructor
        # looked).
        if self._create and self._identity is None:
            target, uri = self._path, False
        else:
            target, uri = self._uri("rw"), True
        try:
            db = sqlite3.connect(
                target, timeout=self._timeout, isolation_level=None, check_same_thread=False, uri=uri
            )
        except sqlite3.Error as exc:
            msg = f"SQLiteStore({self._path!r}): cannot open: {type(exc).__name__}: {exc}"
            raise StoreError(msg) from exc
        try:
            if db.execute("PRAGMA journal_mode").fetchone()[0] != "wal":
                db.execute("PRAGMA journal_mode=WAL")
            db.execute(f"PRAGMA synchronous={self._synchronous}")
        except sqlite3.Error as exc:
            db.close()  # a file that is not a database (or is locked): do not leak the handle
            msg = f"SQLiteStore({self._path!r}): cannot open: {type(exc).__name__}: {exc}"
            raise StoreError(msg) from exc
        local.db, local.pid, local.generation = db, os.getpid(), self._generation
        self._track(db)
        return db

    def _before_fork(self) -> None:
        """Wait for this process's transactions to end (a thread inside SQLite holds its mutexes)."""
        self._in_flight.hold(self._timeout + 1.0)

    def _after_fork_in_parent(self) -> None:
        self._in_flight.resume()

    def _after_fork_in_child(self) -> None:
        """Fresh locks; the inherited connections stay unused (``_connection`` opens the child's own)."""
        self._in_flight = _fork.InFlight()
        self._lock, self._lock_pid = threading.Lock(), os.getpid()

    def _guard(self) -> threading.Lock:
        """The lock over the connection list, new in a forked child: the parent's may have been held by a
        thread that does not exist in the child, and would stay locked there forever."""
        pid = os.getpid()
        if self._lock_pid != pid:
            self._lock, self._lock_pid = threading.Lock(), pid
        return self._lock

    def _track(self, db: sqlite3.Connection) -> None:
        """Remember ``db`` for ``close``; close the connections of this process's threads that have ended."""
        pid = os.getpid()
        with self._guard():
            ended = [e for e in self._connections if e[0] == pid and not e[1].is_alive()]
            self._connections[:] = [e for e in self._connections if e not in ended]
            self._connections.append((pid, threading.current_thread(), db))
        for _, _, old in ended:
            old.close()

    def _forget(self, db: sqlite3.Connection) -> None:
        """Close this thread's own connection ``db`` and stop tracking it."""
        with self._guard():
            self._connections[:] = [entry for entry in self._connections if entry[2] is not db]
        with contextlib.suppress(sqlite3.Error):
            db.close()

    def _create_schema(self, db: sqlite3.Connection) -> str:
        """Create or upgrade the schema; the file's epoch (created with the schema) becomes this store's."""
        version = db.execute("PRAGMA user_version").fetchone()[0]
        if version > SCHEMA_VERSION:
            msg = (
                f"SQLiteStore({self._path!r}): schema version {version} is newer than this graylib"
                f" understands ({SCHEMA_VERSION}); upgrade graylib"
            )
            raise StoreError(msg)
        if version < SCHEMA_VERSION:
            # One statement at a time: executescript() would commit the transaction holding the write lock.
            for statement in SCHEMA.split(";"):
                if statement.strip():
                    db.execute(statement)
            if 0 < version < 3:  # a file from before the ledger: its reservations lack its column
                db.execute(UPGRADE_TO_3)
            db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
        for statement in (_sqlite_fleet.FLEET_SCHEMA + TRUST_SCHEMA).split(";"):
            if statement.strip():
                db.execute(statement)
        db.execute("INSERT OR IGNORE INTO meta VALUES ('epoch', ?)", (new_epoch(),))
        self._epoch = str(db.execute("SELECT value FROM meta WHERE key = 'epoch'").fetchone()[0])
        return self._epoch

    # -- the operations, inside a transaction ------------------------------------------------------------

    def _reserve(self, db: sqlite3.Connection, request: ReserveRequest, origin: int) -> ReserveResult:
        rule_id, now, amount, shadow = request.rule_id, request.now, request.amount, request.shadow
        row = db.execute(SELECT_RECORD, (rule_id, shadow, request.payment_id)).fetchone()
        if row is not None and row[4] > now - self._record_ttl:
            if row[0] == request.fingerprint:
                return ReserveResult(ReserveStatus.REPLAYED, row[1])
            return MISMATCH
        if not shadow and db.execute("SELECT 1 FROM kill_switches WHERE rule_id = ?", (rule_id,)).fetchone():
            return KILLED
        namespace = "shadow" if shadow else "real"
        taken = []
        ended = lifetime_expiry(request)
        for spec in request.counters:
            start = window_start(now, spec.window)
            key = (rule_id, namespace, spec.name, spec.window, start)
            count, used, expires_at = db.execute(SELECT_COUNTER, key).fetchone() or (0, 0, ended)
            if not spec.window and expires_at != ended:  # the rule's end moved: the latest end wins
                db.execute(SET_EXPIRY, (ended, *key))
            if (spec.max_count is not None and count + 1 > spec.max_count) or (
                spec.max_amount is not None and used + amount > spec.max_amount
            ):
                return ReserveResult(
                    ReserveStatus.LIMIT_REACHED, limit=spec.name, detail=f"{spec.name} is full"
                )
            taken.append(key)
        alarm_amount, alarm_window = request.alarm_amount, request.alarm_window
        alarm_row: tuple[object, ...] = ()
        if alarm_amount is not None and not shadow:
            width, bucket, oldest = alarm_buckets(now, alarm_window)
            scope = (rule_id, "alarm", ALARM_LIMIT, alarm_window)
            granted = db.execute(SUM_ALARM, (*scope, oldest)).fetchone()[0]
            if granted + amount > alarm_amount:
                reason = alarm_reason(amount, granted, alarm_amount, alarm_window)
                db.execute("INSERT OR IGNORE INTO kill_switches VALUES (?, ?, ?)", (rule_id, reason, now))
                return ReserveResult(ReserveStatus.ALARM_TRIPPED, limit=ALARM_LIMIT, detail=reason)
            # The bucket stops being summed once the window has passed its end.
            alarm_row = (*scope, bucket, amount, bucket + width + alarm_window if alarm_window else None)
        for key in taken:
            window, start = key[3], key[4]
            db.execute(ADD_COUNTER, (*key, amount, start + window if window else ended))
        if alarm_row:
            db.execute(ADD_COUNTER, alarm_row)
        if row is not None:  # an expired record of the same payment: the claim counts afresh
            db.execute(
                "DELETE FROM reservations WHERE rule_id = ? AND shadow = ? AND payment_id = ?",
                (rule_id, shadow, request.payment_id),
            )
        counted = json.dumps([key[2:] for key in taken])
        grant_seq = 0
        if not shadow:  # a real grant: its ledger entry, in this same transaction
            grant_seq = ledger.grant(
                db,
                rule_id,
                at=now,
                origin=origin,
                payment_id=request.payment_id,
                account=request.account,
                amount=request.payment_amount,
                discount=amount,
            )
        db.execute(
            "INSERT INTO reservations VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                rule_id,
                shadow,
                request.payment_id,
                request.fingerprint,
                request.payload,
                amount,
                counted,
                now,
                grant_seq,
            ),
        )
        db.execute(ADD_STATS, (rule_id, shadow, amount))
        if now >= self._next_purge:
            self._purge(db, now)
        return GRANTED

    def _release(self, db: sqlite3.Connection, rule_id: str, payment_id: str, now: float) -> ReleaseResult:
        for shadow in (False, True):
            row = db.execute(SELECT_RECORD, (rule_id, shadow, payment_id)).fetchone()
            if row is not None and row[4] > now - self._record_ttl:
                break
        else:
            return not_found(payment_id)
        amount = row[2]
        namespace = "shadow" if shadow else "real"
        for name, window, start in json.loads(row[3]):
            db.execute(GIVE_BACK, (amount, rule_id, namespace, name, window, start))
        db.execute(
            "DELETE FROM reservations WHERE rule_id = ? AND shadow = ? AND payment_id = ?",
            (rule_id, shadow, payment_id),
        )
        db.execute(
            "UPDATE stats SET count = max(count - 1, 0), amount = max(amount - ?, 0)"
            " WHERE rule_id = ? AND shadow = ?",
            (amount, rule_id, shadow),
        )
        if not shadow:  # the release's ledger entry repeats what its grant recorded
            ledger.release(db, rule_id, at=now, payment_id=payment_id, grant_seq=row[5], discount=amount)
        return ReleaseResult(True, amount)

    def _purge(self, db: sqlite3.Connection, now: float) -> None:
        """Delete up to ``PURGE_BATCH`` expired counters and as many records; look again at the next claim
        if there may be more, else in a second. A claim thus never pays for more than one small batch."""
        counters = db.execute(PURGE_COUNTERS, (now - WINDOW_SLACK, PURGE_BATCH)).rowcount
        records = db.execute(PURGE_RECORDS, (now - self._record_ttl, PURGE_BATCH)).rowcount
        more = max(counters, records) >= PURGE_BATCH
        self._next_purge = now if more else now + _PURGE_INTERVAL


def _uri_mode(path: str, mode: str) -> str:
    """A ``file:`` URI that opens ``path`` in ``mode`` (``ro``, ``rw``) and fails when it does not exist."""
    absolute = "/" + os.path.abspath(path).lstrip("/")  # POSIX keeps a leading '//', a URI would not
    return f"file://{urllib.parse.quote(absolute)}?mode={mode}"


def _close_own(connections: list[tuple[int, threading.Thread, sqlite3.Connection]]) -> None:
    """Close the connections this process opened (those inherited across a fork belong to the parent)."""
    pid = os.getpid()
    for owner, _, db in list(connections):
        if owner == pid:
            with contextlib.suppress(sqlite3.Error):
                db.close()
    connections[:] = [entry for entry in connections if entry[0] != pid]
